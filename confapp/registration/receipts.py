"""Receipts: one per payment, numbered from one sequence per conference without a gap.

The number is taken from the conference's counter (payment_settings.receipts_issued) by an
UPDATE in the same transaction that writes the receipt and confirms the payment: a transaction
that fails gives its number back with everything else, and two at once wait for each other on
the counter's row, so numbers never repeat and none is skipped. A receipt is never changed: a
correction is a cancellation (a document of its own, with its own number) naming the receipt
it cancels.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from confapp.content import localized
from confapp.db import insert_on_conflict, table_of
from confapp.models import (
    Order,
    OrderItem,
    Payment,
    PaymentSettings,
    Receipt,
    ReceiptKind,
    Registration,
    TaxMode,
    TicketType,
)
from confapp.registration.orders import payment_settings
from confapp.times import utcnow
from confapp.translation import N_, _

TICKET_LINE = N_("Ticket: %(ticket_type)s, %(name)s")
TOPUP_LINE = N_("Gift to the solidarity fund")


def _next_number(session: Session, conference_id: int) -> int:
    # The conference's row exists from its first receipt on; made here if it is the first.
    session.execute(
        insert_on_conflict(session, table_of(PaymentSettings))
        .values(**_default_settings_row(conference_id))
        .on_conflict_do_nothing(index_elements=["conference_id"])
    )
    return int(
        session.execute(
            update(PaymentSettings)
            .where(col(PaymentSettings.conference_id) == conference_id)
            .values(receipts_issued=PaymentSettings.receipts_issued + 1)
            .returning(col(PaymentSettings.receipts_issued))
        ).scalar_one()
    )


def _default_settings_row(conference_id: int) -> dict[str, Any]:
    defaults = PaymentSettings(conference_id=conference_id)
    return {column.name: getattr(defaults, column.name) for column in table_of(PaymentSettings).c}


def tax_part(amount_cents: int, settings: PaymentSettings) -> int:
    """The GST inside a GST-inclusive amount (a tenth of it at 10%: amount × rate / (1 + rate)),
    rounded to the cent; none when the conference shows no tax."""
    if settings.tax_mode != TaxMode.gst_inclusive.value:
        return 0
    rate = settings.tax_rate_basis_points
    return round(amount_cents * rate / (10_000 + rate))


def _lines(session: Session, order: Order) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    items = session.exec(
        select(OrderItem, Registration, TicketType)
        .join(Registration, col(Registration.id) == col(OrderItem.registration_id))
        .join(TicketType, col(TicketType.id) == col(Registration.ticket_type_id))
        .where(OrderItem.order_id == order.id)
        .order_by(col(Registration.id))
    ).all()
    for item, registration, ticket_type in items:
        if item.amount_cents:
            description = _(TICKET_LINE) % {
                "ticket_type": localized(ticket_type).name,
                "name": registration.name,
            }
            lines.append(
                {"description": description, "amount_cents": item.amount_cents, "taxed": True}
            )
        if item.solidarity_topup_cents:
            lines.append(
                {
                    "description": _(TOPUP_LINE),
                    "amount_cents": item.solidarity_topup_cents,
                    "taxed": False,  # a gift buys nothing: no GST in it
                }
            )
    return lines


def issue_receipt(session: Session, payment: Payment, order: Order) -> Receipt:
    """The receipt for a payment just confirmed, inside the caller's transaction."""
    assert payment.id is not None
    settings = payment_settings(session, order.conference_id)
    lines = _lines(session, order)
    taxed = sum(line["amount_cents"] for line in lines if line["taxed"])
    receipt = Receipt(
        conference_id=order.conference_id,
        number=_next_number(session, order.conference_id),
        kind=ReceiptKind.receipt.value,
        payment_id=payment.id,
        payer_name=order.payer_name,
        issuer=settings.receipt_issuer,
        lines=lines,
        amount_cents=payment.amount_cents,
        tax_cents=tax_part(taxed, settings),
        tax_mode=settings.tax_mode,
        currency=payment.currency,
        method=payment.method,
        issued_at=utcnow(),
    )
    session.add(receipt)
    session.flush()
    return receipt
