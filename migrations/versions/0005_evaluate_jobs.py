"""evaluate jobs: a third job kind, and the model job an evaluation scores

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 12:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_job_id", sa.Uuid(), nullable=True))
        batch_op.create_index("ix_jobs_model_job", ["model_job_id", "created_at"])
        batch_op.drop_constraint(op.f("ck_jobs_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_jobs_kind"), "kind IN ('train', 'synthesize', 'evaluate')")


def downgrade() -> None:
    # Evaluations cannot be kept under the old constraint; they go with the column that ties them to their model.
    op.execute("DELETE FROM jobs WHERE kind = 'evaluate'")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_jobs_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_jobs_kind"), "kind IN ('train', 'synthesize')")
        batch_op.drop_index("ix_jobs_model_job")
        batch_op.drop_column("model_job_id")
