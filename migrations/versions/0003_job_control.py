"""job control: upload jobs can be cancelled (and resumed), and know their total rows

Revision ID: 0003_job_control
Revises: 0002_admin
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_job_control"
down_revision: str | None = "0002_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = "state IN ('queued', 'running', 'succeeded', 'failed')"
_AFTER = "state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')"


def upgrade() -> None:
    with op.batch_alter_table("load_jobs") as batch:
        batch.add_column(sa.Column("total", sa.Integer(), nullable=True))
        batch.drop_constraint(op.f("ck_load_jobs_state"), type_="check")
        batch.create_check_constraint(op.f("ck_load_jobs_state"), _AFTER)


def downgrade() -> None:
    op.execute("UPDATE load_jobs SET state = 'failed' WHERE state = 'cancelled'")
    with op.batch_alter_table("load_jobs") as batch:
        batch.drop_constraint(op.f("ck_load_jobs_state"), type_="check")
        batch.create_check_constraint(op.f("ck_load_jobs_state"), _BEFORE)
        batch.drop_column("total")
