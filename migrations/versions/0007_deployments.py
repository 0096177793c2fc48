"""deployments: named deployments of a job's model with their history, devices and their reports; clips gain
`review` and the source "device"

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 15:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import shared.db.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UTC = shared.db.base.UTCDateTime(timezone=True)
OLD_SOURCES = "source IN ('upload', 'recording', 'synthetic')"
NEW_SOURCES = "source IN ('upload', 'recording', 'synthetic', 'device')"
PRECISIONS = "precision IN ('fp32', 'int8')"


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("precision", sa.String(length=8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.CheckConstraint(PRECISIONS, name=op.f("ck_deployments_precision")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("name", name=op.f("uq_deployments_name")),
    )
    op.create_table(
        "deployment_history",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("precision", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.CheckConstraint(
            "action IN ('created', 'promoted', 'rolled_back', 'updated')", name=op.f("ck_deployment_history_action")
        ),
        sa.CheckConstraint(PRECISIONS, name=op.f("ck_deployment_history_precision")),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_history_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_history")),
        sa.UniqueConstraint("deployment_id", "version", name=op.f("uq_deployment_history_deployment_id_version")),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("token_hint", sa.String(length=8), nullable=False),
        sa.Column("report_audio", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("last_seen_at", UTC, nullable=True),
        sa.Column("running_version", sa.Integer(), nullable=True),
        sa.Column("running_sha256", sa.String(length=64), nullable=True),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.Column("detections", sa.Integer(), nullable=False),
        sa.Column("near_misses", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"], ["deployments.id"], name=op.f("fk_devices_deployment_id_deployments"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_devices_token_sha256")),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index("ix_devices_deployment", ["deployment_id", "created_at"], unique=False)

    op.create_table(
        "device_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("model_sha256", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("kind IN ('detection', 'near_miss')", name=op.f("ck_device_reports_kind")),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_reports_device_id_devices"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_reports")),
    )
    with op.batch_alter_table("device_reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_device_reports_device_kind_received", ["device_id", "kind", "received_at"], unique=False
        )

    # On SQLite the batch rebuilds the table: the only way to change a CHECK constraint there.
    with op.batch_alter_table("clips", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review", sa.String(length=16), nullable=True))
        batch_op.create_check_constraint(op.f("ck_clips_review"), "review IN ('unreviewed')")
        batch_op.drop_constraint(op.f("ck_clips_source"), type_="check")
        batch_op.create_check_constraint(op.f("ck_clips_source"), NEW_SOURCES)


def downgrade() -> None:
    # The old schema can hold neither state of a device's clip. One still waiting for review was never accepted by a
    # person and never trained on: its row goes (reconcile removes its file). One a person reviewed is their own
    # recording, kept as one.
    op.execute("DELETE FROM clips WHERE review = 'unreviewed'")
    op.execute("UPDATE clips SET source = 'recording' WHERE source = 'device'")
    with op.batch_alter_table("clips", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_clips_source"), type_="check")
        batch_op.create_check_constraint(op.f("ck_clips_source"), OLD_SOURCES)
        batch_op.drop_constraint(op.f("ck_clips_review"), type_="check")
        batch_op.drop_column("review")

    with op.batch_alter_table("device_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_device_reports_device_kind_received")
    op.drop_table("device_reports")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index("ix_devices_deployment")
    op.drop_table("devices")
    op.drop_table("deployment_history")
    op.drop_table("deployments")
