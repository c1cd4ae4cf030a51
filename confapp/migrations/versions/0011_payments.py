"""payments: orders, their links and what they hold, payment attempts, refunds, receipts, Stripe events
acted on, each conference's payment settings

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import confapp.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    moment = confapp.db.UTCDateTime(timezone=True)
    op.create_table(
        "stripe_event",
        sa.Column("event_id", text(length=255), nullable=False),
        sa.Column("type", text(length=100), nullable=False),
        sa.Column("received_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_table(
        "payment_settings",
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("methods", sa.JSON(), nullable=False),
        sa.Column("stripe_secret_key", text(length=255), nullable=False),
        sa.Column("stripe_webhook_secret", text(length=255), nullable=False),
        sa.Column("payment_hold_minutes", sa.Integer(), nullable=False),
        sa.Column("bank_transfer_hold_days", sa.Integer(), nullable=False),
        sa.Column("bank_account_name", text(length=200), nullable=False),
        sa.Column("bank_bsb", text(length=20), nullable=False),
        sa.Column("bank_account_number", text(length=40), nullable=False),
        sa.Column("bank_iban", text(length=40), nullable=False),
        sa.Column("bank_bic", text(length=20), nullable=False),
        sa.Column("statement_preset", text(length=30), nullable=False),
        sa.Column("statement_columns", sa.JSON(), nullable=False),
        sa.Column("tax_mode", text(length=20), nullable=False),
        sa.Column("tax_rate_basis_points", sa.Integer(), nullable=False),
        sa.Column("receipt_issuer", sa.Text(), nullable=False),
        sa.Column("refund_policy", text(length=10), nullable=False),
        sa.Column("refund_until", sa.Date(), nullable=True),
        sa.Column("receipts_issued", sa.Integer(), nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.ForeignKeyConstraint(["conference_id"], ["conference.id"]),
        sa.PrimaryKeyConstraint("conference_id"),
    )
    op.create_table(
        "ticket_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("reference", text(length=12), nullable=False),
        sa.Column("method", text(length=20), nullable=False),
        sa.Column("status", text(length=10), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("currency", text(length=3), nullable=False),
        sa.Column("payer_name", text(length=200), nullable=False),
        sa.Column("email", text(length=254), nullable=False),
        sa.Column("language", text(length=20), nullable=False),
        sa.Column("hold_until", moment, nullable=True),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("paid_at", moment, nullable=True),
        sa.Column("ended_at", moment, nullable=True),
        sa.ForeignKeyConstraint(["conference_id"], ["conference.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index("ix_ticket_order_conference_id", "ticket_order", ["conference_id"])
    op.create_index("ix_ticket_order_hold_until", "ticket_order", ["hold_until"])
    op.create_table(
        "order_item",
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("solidarity_topup_cents", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["ticket_order.id"]),
        sa.ForeignKeyConstraint(["registration_id"], ["registration.id"]),
        sa.PrimaryKeyConstraint("registration_id"),
    )
    op.create_index("ix_order_item_order_id", "order_item", ["order_id"])
    op.create_table(
        "order_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("secret_hash", text(length=64), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["ticket_order.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
    )
    op.create_index("ix_order_link_order_id", "order_link", ["order_id"])
    op.create_table(
        "payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("method", text(length=20), nullable=False),
        sa.Column("state", text(length=20), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", text(length=3), nullable=False),
        sa.Column("refunded_cents", sa.Integer(), nullable=False),
        sa.Column("provider_checkout_id", text(length=255), nullable=True),
        sa.Column("provider_payment_id", text(length=255), nullable=True),
        sa.Column("checkout_url", text(length=2000), nullable=False),
        sa.Column("checkout_expires_at", moment, nullable=True),
        sa.Column("last_error", text(length=100), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.Column("confirmed_at", moment, nullable=True),
        sa.ForeignKeyConstraint(["conference_id"], ["conference.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["ticket_order.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider_checkout_id"),
    )
    op.create_index("ix_payment_conference_id", "payment", ["conference_id"])
    op.create_index("ix_payment_order_id", "payment", ["order_id"])
    op.create_index("ix_payment_provider_payment_id", "payment", ["provider_payment_id"])
    op.create_table(
        "receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", text(length=20), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("cancels_receipt_id", sa.Integer(), nullable=True),
        sa.Column("payer_name", text(length=200), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("tax_cents", sa.Integer(), nullable=False),
        sa.Column("tax_mode", text(length=20), nullable=False),
        sa.Column("currency", text(length=3), nullable=False),
        sa.Column("method", text(length=20), nullable=False),
        sa.Column("issued_at", moment, nullable=False),
        sa.ForeignKeyConstraint(["cancels_receipt_id"], ["receipt.id"]),
        sa.ForeignKeyConstraint(["conference_id"], ["conference.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payment.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conference_id", "number"),
    )
    op.create_index("ix_receipt_payment_id", "receipt", ["payment_id"])
    op.create_table(
        "refund",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", text(length=3), nullable=False),
        sa.Column("state", text(length=10), nullable=False),
        sa.Column("source", text(length=10), nullable=False),
        sa.Column("by_hand", sa.Boolean(), nullable=False),
        sa.Column("reason", text(length=500), nullable=False),
        sa.Column("provider_refund_id", text(length=255), nullable=True),
        sa.Column("by", text(length=254), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("done_at", moment, nullable=True),
        sa.ForeignKeyConstraint(["conference_id"], ["conference.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payment.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider_refund_id"),
    )
    op.create_index("ix_refund_conference_id", "refund", ["conference_id"])
    op.create_index("ix_refund_payment_id", "refund", ["payment_id"])


def downgrade() -> None:
    op.drop_table("refund")
    op.drop_table("receipt")
    op.drop_table("payment")
    op.drop_table("order_link")
    op.drop_table("order_item")
    op.drop_table("ticket_order")
    op.drop_table("payment_settings")
    op.drop_table("stripe_event")
