"""bank statements: statements uploaded and the credit lines they held, matched to orders

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import confapp.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    moment = confapp.db.UTCDateTime(timezone=True)
    op.create_table(
        "bank_statement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", moment, nullable=False),
        sa.Column("uploaded_by", text(length=254), nullable=False),
        sa.Column("file_sha256", text(length=64), nullable=False),
        sa.Column("filename", text(length=255), nullable=False),
        sa.Column("lines_total", sa.Integer(), nullable=False),
        sa.Column("lines_matched", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["conference_id"], ["conference.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conference_id", "file_sha256"),
    )
    op.create_index("ix_bank_statement_conference_id", "bank_statement", ["conference_id"])
    op.create_table(
        "bank_statement_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("line_hash", text(length=64), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", text(length=3), nullable=False),
        sa.Column("description", text(length=500), nullable=False),
        sa.Column("reference_found", text(length=12), nullable=True),
        sa.Column("state", text(length=10), nullable=False),
        sa.Column("note", text(length=30), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", text(length=254), nullable=False),
        sa.Column("decided_at", moment, nullable=True),
        sa.ForeignKeyConstraint(["conference_id"], ["conference.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["ticket_order.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payment.id"]),
        sa.ForeignKeyConstraint(["statement_id"], ["bank_statement.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conference_id", "line_hash"),
    )
    op.create_index(
        "ix_bank_statement_line_conference_state",
        "bank_statement_line",
        ["conference_id", "state"],
    )
    op.create_index("ix_bank_statement_line_order_id", "bank_statement_line", ["order_id"])
    op.create_index("ix_bank_statement_line_statement_id", "bank_statement_line", ["statement_id"])


def downgrade() -> None:
    op.drop_table("bank_statement_line")
    op.drop_table("bank_statement")
