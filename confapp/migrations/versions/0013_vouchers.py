"""vouchers: codes that unlock ticket types not on public sale, change a price or hold places

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import confapp.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    moment = confapp.db.UTCDateTime(timezone=True)
    op.create_table(
        "voucher",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("code", text(length=40), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("valid_until", moment, nullable=True),
        sa.Column("ticket_type_ids", sa.JSON(), nullable=False),
        sa.Column("effect", text(length=20), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("holds_places", sa.Boolean(), nullable=False),
        sa.Column("places_released_at", moment, nullable=True),
        sa.Column("tag", text(length=100), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("sent_to", text(length=254), nullable=False),
        sa.Column("created_by", text(length=254), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("withdrawn_at", moment, nullable=True),
        sa.CheckConstraint("uses >= 0 AND uses <= max_uses", name="voucher_within_uses"),
        sa.ForeignKeyConstraint(["conference_id"], ["conference.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conference_id", "code"),
    )
    op.create_index("ix_voucher_conference_id", "voucher", ["conference_id"])
    op.create_index("ix_voucher_tag", "voucher", ["tag"])
    # Plain ADD COLUMN (SQLite has it): a batch copy of ticket_type or registration would trip
    # the foreign keys that point at them. So registration.voucher_id has no foreign key.
    op.add_column(
        "ticket_type",
        sa.Column("requires_voucher", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "registration",
        sa.Column("voucher_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_registration_voucher_id", "registration", ["voucher_id"])


def downgrade() -> None:
    op.drop_index("ix_registration_voucher_id", table_name="registration")
    op.drop_column("registration", "voucher_id")
    op.drop_column("ticket_type", "requires_voucher")
    op.drop_index("ix_voucher_tag", table_name="voucher")
    op.drop_index("ix_voucher_conference_id", table_name="voucher")
    op.drop_table("voucher")
