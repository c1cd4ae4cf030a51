"""Receipts: one per payment, numbered from one sequence per conference without a gap.

The number is taken from the conference's counter (payment_settings.receipts_issued) by an
UPDATE in the same transaction that writes the receipt and confirms the payment: a transaction
that fails gives its number back with everything else, and two at once wait for each other on
the counter's row, so numbers never repeat and none is skipped. A receipt is never changed: a
correction is a cancellation (a document of its own, with its own number) naming the receipt
it cancels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from confapp.content import localized
from confapp.db import insert_on_conflict, table_of
from confapp.models import (
    Conference,
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
from confapp.registration.orders import (
    display_reference,
    is_group,
    order_for_registration,
    order_receipts,
    order_registrations,
    payment_settings,
)
from confapp.registration.receipt_pdf import receipt_pdf
from confapp.times import utcnow
from confapp.translation import N_, _, in_language

TICKET_LINE = N_("Ticket: %(ticket_type)s, %(name)s")
TOPUP_LINE = N_("Gift to the solidarity fund")
REFUNDED_LINE = N_("Refunded")


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


def tax_part(amount_cents: int, tax_mode: str, rate_basis_points: int) -> int:
    """The GST inside a GST-inclusive amount (a tenth of it at 10%: amount × rate / (1 + rate)),
    rounded to the cent; none when the conference shows no tax."""
    if tax_mode != TaxMode.gst_inclusive.value:
        return 0
    return round(amount_cents * rate_basis_points / (10_000 + rate_basis_points))


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
                {
                    "description": description,
                    "amount_cents": item.amount_cents,
                    "taxed": True,
                    # So erasing this attendee can take their name out of it.
                    "registration_id": registration.id,
                    "attendee": registration.name,
                }
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
    with in_language(order.language):  # the payer's words, whoever confirms it
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
        tax_cents=tax_part(taxed, settings.tax_mode, settings.tax_rate_basis_points),
        tax_mode=settings.tax_mode,
        currency=payment.currency,
        method=payment.method,
        issued_at=utcnow(),
    )
    session.add(receipt)
    session.flush()
    return receipt


def _payment_receipts(session: Session, payment_id: int) -> list[Receipt]:
    return list(
        session.exec(
            select(Receipt).where(Receipt.payment_id == payment_id).order_by(col(Receipt.number))
        ).all()
    )


def _document_after(session: Session, old: Receipt, now: datetime, **differences: Any) -> Receipt:
    """A new numbered document about the same payment as `old`: its payer, issuer, mode,
    currency and method, with the `differences` (kind, lines, amounts)."""
    document = Receipt(
        conference_id=old.conference_id,
        number=_next_number(session, old.conference_id),
        payment_id=old.payment_id,
        payer_name=old.payer_name,
        issuer=old.issuer,
        tax_mode=old.tax_mode,
        currency=old.currency,
        method=old.method,
        issued_at=now,
        **differences,
    )
    session.add(document)
    return document


def correct_receipt(session: Session, payment: Payment) -> list[Receipt]:
    """After money of a payment was given back, inside the caller's transaction: its receipt
    is cancelled by a document of its own (the same lines, negated), and when some money was
    kept a new receipt says what was (the first receipt's lines and one line for all that was
    refunded, which comes off the ticket's taxed price first: a refund is for not coming, the
    gift to the fund stays a gift while something is kept). The documents written; none when
    the payment had no receipt (money that came too late is refunded before one is made)."""
    assert payment.id is not None
    receipts = _payment_receipts(session, payment.id)
    cancelled = {r.cancels_receipt_id for r in receipts if r.cancels_receipt_id}
    standing = [
        r for r in receipts if r.kind == ReceiptKind.receipt.value and r.id not in cancelled
    ]
    if not standing:
        return []
    old, first = standing[-1], receipts[0]
    now = utcnow()
    cancellation = _document_after(
        session,
        old,
        now,
        kind=ReceiptKind.cancellation.value,
        cancels_receipt_id=old.id,
        lines=[{**line, "amount_cents": -int(line["amount_cents"])} for line in old.lines],
        amount_cents=-old.amount_cents,
        tax_cents=-old.tax_cents,
    )
    written = [cancellation]
    kept = payment.amount_cents - payment.refunded_cents
    if kept > 0:
        order = session.get(Order, payment.order_id)
        settings = payment_settings(session, old.conference_id)
        with in_language(order.language if order else ""):
            refunded_line = {
                "description": _(REFUNDED_LINE),
                "amount_cents": -payment.refunded_cents,
                "taxed": True,
            }
        lines = [*first.lines, refunded_line]
        taxed = max(0, sum(int(line["amount_cents"]) for line in lines if line.get("taxed")))
        corrected = _document_after(
            session,
            old,
            now,
            kind=ReceiptKind.receipt.value,
            lines=lines,
            amount_cents=kept,
            # The rate now, in the mode the money was taken in.
            tax_cents=tax_part(taxed, old.tax_mode, settings.tax_rate_basis_points),
        )
        written.append(corrected)
    session.flush()
    return written


@dataclass(frozen=True)
class OrderReceipt:
    """A receipt with what it is shown with: its conference, its order's reference and, for a
    cancellation, the number of the receipt it cancels."""

    receipt: Receipt
    conference: Conference
    order_reference: str  # as shown: "KX7Q-2MPD"
    cancels_number: int | None

    @property
    def filename(self) -> str:
        # No one's name in it: the file may be saved, forwarded, listed in a folder.
        return f"receipt-{self.receipt.number}.pdf"

    def pdf(self) -> bytes:
        return receipt_pdf(
            self.receipt,
            self.conference,
            self.order_reference,
            cancels_number=self.cancels_number,
        )


def single_order_receipt(
    session: Session, registration: Registration, number: int | None
) -> OrderReceipt | None:
    """The receipt numbered `number` (the newest if None) of the order paying for this
    registration alone; None if it has no such receipt. A group's receipt names every
    delegate: it is its payer's, on the order's page, not each delegate's."""
    order = order_for_registration(session, registration.id) if registration.id else None
    if order is None or order.id is None or is_group(session, order.id):
        return None
    return receipt_of_order(session, order, number)


def receipt_of_order(session: Session, order: Order, number: int | None) -> OrderReceipt | None:
    assert order.id is not None
    receipts = order_receipts(session, order.id)
    if number is not None:
        receipts = [r for r in receipts if r.number == number]
    if not receipts:
        return None
    receipt = receipts[-1]
    conference = session.get(Conference, order.conference_id)
    assert conference is not None
    cancelled = (
        session.get(Receipt, receipt.cancels_receipt_id) if receipt.cancels_receipt_id else None
    )
    return OrderReceipt(
        receipt,
        localized(conference),
        display_reference(order.reference),
        cancelled.number if cancelled else None,
    )


def receipt_attachment(session: Session, registration: Registration) -> tuple[str, bytes] | None:
    """The newest receipt of the order paying for this registration, as (file name, PDF) for
    the ticket mail to attach, in the language in force; None if there is no receipt."""
    found = single_order_receipt(session, registration, None)
    return (found.filename, found.pdf()) if found else None


def erase_names_from_receipts(session: Session, registration: Registration) -> None:
    """Erasure's exception to "never changed": the attendee's name leaves the receipts of
    their order (a group's payer too, once every attendee is erased); number, date and
    amounts stay for the books."""
    order = order_for_registration(session, registration.id) if registration.id else None
    if order is None or order.id is None:
        return
    everyone_erased = all(r.erased_at is not None for r in order_registrations(session, order.id))
    for receipt in order_receipts(session, order.id):
        lines = []
        for line in receipt.lines:
            line = dict(line)
            if line.get("registration_id") == registration.id and line.get("attendee"):
                line["description"] = (
                    str(line["description"]).replace(str(line["attendee"]), "").rstrip(", ")
                )
                line["attendee"] = ""
            lines.append(line)
        receipt.lines = lines  # a new list: the JSON column sees the change
        if everyone_erased:
            receipt.payer_name = ""
        session.add(receipt)
    if everyone_erased:
        order.payer_name = ""
        order.email = ""
        session.add(order)
