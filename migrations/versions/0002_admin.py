"""admin: API tokens; upload jobs keep their files, checkpoint, attempts and heartbeat

Revision ID: 0002_admin
Revises: 0001_catalog
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_admin"
down_revision: str | None = "0001_catalog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admin_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_admin_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_admin_tokens_token_hash")),
    )
    with op.batch_alter_table("load_jobs") as batch:
        batch.add_column(sa.Column("catalog_file", sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column("images_file", sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column("checkpoint", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("load_jobs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("attempts")
        batch.drop_column("checkpoint")
        batch.drop_column("images_file")
        batch.drop_column("catalog_file")
    op.drop_table("admin_tokens")
