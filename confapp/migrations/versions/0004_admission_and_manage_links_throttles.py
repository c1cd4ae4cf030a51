"""admission tokens and manage links, throttles, ticket types off sale

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

import confapp.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "manage_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("secret_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", confapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["registration_id"], ["registration.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
    )
    with op.batch_alter_table("manage_link", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_manage_link_registration_id"), ["registration_id"], unique=False
        )

    op.create_table(
        "throttle_count",
        sa.Column("bucket", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("window_start", confapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "key_hash", "window_start"),
    )

    # Plain ADD COLUMN, not batch mode: on SQLite a batch rebuild drops and re-creates the
    # table, which registrations' foreign keys forbid once there is data.
    op.add_column(
        "ticket_type", sa.Column("on_sale", sa.Boolean(), nullable=False, server_default=sa.true())
    )


def downgrade() -> None:
    with op.batch_alter_table("ticket_type", schema=None) as batch_op:
        batch_op.drop_column("on_sale")
    op.drop_table("throttle_count")
    with op.batch_alter_table("manage_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manage_link_registration_id"))
    op.drop_table("manage_link")
