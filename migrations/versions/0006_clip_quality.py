"""clip quality: per-clip QA measurements (peak, clipping, edge silence, activity)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = ("peak_dbfs", "clipping_ratio", "leading_silence_s", "trailing_silence_s", "activity_share")


def upgrade() -> None:
    # Nullable: clips stored before QA are measured from their files when /quality is first asked for.
    with op.batch_alter_table("clips", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("active_at_edge", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clips", schema=None) as batch_op:
        batch_op.drop_column("active_at_edge")
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
