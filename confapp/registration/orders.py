"""Orders and how a conference takes money: its payment settings, the methods a registrant can
choose, the short reference a bank transfer carries, and how long a place is held.

Changing places (holding, paying, releasing) is confapp.registration.service's; this module
only reads and names things.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from confapp.models import (
    PAID_STATES,
    Order,
    OrderItem,
    OrderLink,
    Payment,
    PaymentMethod,
    PaymentSettings,
    Receipt,
    Refund,
    RefundState,
    Registration,
)
from confapp.times import utcnow

# Methods paid online, for which a registration holds its place as reserved until the money
# arrives. At the desk, a ticket is issued at once and the desk takes the money.
ONLINE_METHODS = (PaymentMethod.stripe.value, PaymentMethod.bank_transfer.value)

# No 0/O, 1/I/L: a reference is read off a screen and typed into a banking app.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 8


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def normalise_reference(text: str) -> str:
    """What a reference typed by a person (or mangled by a bank: spaces, dashes, lower case,
    a prefix) most likely was: its letters and digits, upper-cased."""
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def display_reference(reference: str) -> str:
    """ "KX7Q2MPD" as "KX7Q-2MPD": easier to read out and type."""
    return f"{reference[:4]}-{reference[4:]}" if len(reference) == REFERENCE_LENGTH else reference


def payment_settings(session: Session, conference_id: int) -> PaymentSettings:
    """The conference's payment settings, or the defaults (pay at the desk only) if none were
    ever saved; the defaults are not written."""
    return session.get(PaymentSettings, conference_id) or PaymentSettings(
        conference_id=conference_id
    )


def offered_methods(settings: PaymentSettings) -> tuple[str, ...]:
    """The methods a registrant may choose, in a fixed order: those switched on that can work
    (Stripe needs its keys, a transfer needs an account to pay into)."""
    usable = {
        PaymentMethod.stripe.value: bool(settings.stripe_secret_key),
        PaymentMethod.bank_transfer.value: bool(
            settings.bank_account_name and (settings.bank_account_number or settings.bank_iban)
        ),
        PaymentMethod.desk.value: True,
    }
    return tuple(method for method, works in usable.items() if works and method in settings.methods)


def hold_ends(settings: PaymentSettings, method: str, now: datetime) -> datetime:
    if method == PaymentMethod.bank_transfer.value:
        return now + timedelta(days=settings.bank_transfer_hold_days)
    return now + timedelta(minutes=settings.payment_hold_minutes)


def order_for_registration(session: Session, registration_id: int) -> Order | None:
    item = session.get(OrderItem, registration_id)
    return session.get(Order, item.order_id) if item else None


def order_registrations(session: Session, order_id: int) -> list[Registration]:
    return list(
        session.exec(
            select(Registration)
            .join(OrderItem, col(OrderItem.registration_id) == col(Registration.id))
            .where(OrderItem.order_id == order_id)
            .order_by(col(Registration.id))
        ).all()
    )


def order_payments(session: Session, order_id: int) -> list[Payment]:
    return list(
        session.exec(
            select(Payment).where(Payment.order_id == order_id).order_by(col(Payment.id))
        ).all()
    )


def order_receipts(session: Session, order_id: int) -> list[Receipt]:
    return list(
        session.exec(
            select(Receipt)
            .join(Payment, col(Payment.id) == col(Receipt.payment_id))
            .where(Payment.order_id == order_id)
            .order_by(col(Receipt.number))
        ).all()
    )


@dataclass(frozen=True)
class BankDetails:
    """What a person needs to pay an order by transfer."""

    account_name: str
    bsb: str
    account_number: str
    iban: str
    bic: str
    reference: str  # as shown: "KX7Q-2MPD"
    amount_cents: int
    currency: str
    pay_by: datetime | None


def bank_details(settings: PaymentSettings, order: Order) -> BankDetails:
    return BankDetails(
        account_name=settings.bank_account_name,
        bsb=settings.bank_bsb,
        account_number=settings.bank_account_number,
        iban=settings.bank_iban,
        bic=settings.bank_bic,
        reference=display_reference(order.reference),
        amount_cents=order.total_cents,
        currency=order.currency,
        pay_by=order.hold_until,
    )


@dataclass(frozen=True)
class TicketPayment:
    """What a ticket's page shows about paying for it."""

    order: Order
    bank: BankDetails | None  # how to pay, while a transfer is awaited
    receipts: list[Receipt]
    refunded_cents: int


def ticket_payment(session: Session, registration: Registration) -> TicketPayment | None:
    if registration.id is None:
        return None
    order = order_for_registration(session, registration.id)
    if order is None or order.id is None:
        return None
    bank = None
    if order.method == PaymentMethod.bank_transfer.value and order.status == "reserved":
        bank = bank_details(payment_settings(session, order.conference_id), order)
    refunded = sum(p.refunded_cents for p in order_payments(session, order.id))
    # A group's receipts name every delegate: they are its payer's, on the order's page.
    receipts = [] if is_group(session, order.id) else order_receipts(session, order.id)
    return TicketPayment(order, bank, receipts, refunded)


def save_payment_settings(
    session: Session, conference_id: int, **values: object
) -> PaymentSettings:
    """Change some of a conference's payment settings (making its row if it has none), inside
    the caller's transaction. The values are checked by the caller (the settings form)."""
    settings = session.get(PaymentSettings, conference_id)
    if settings is None:
        settings = PaymentSettings(conference_id=conference_id)
    for name, value in values.items():
        if name not in PaymentSettings.model_fields or name in ("conference_id", "receipts_issued"):
            raise KeyError(name)
        setattr(settings, name, value)
    settings.updated_at = utcnow()
    session.add(settings)
    session.flush()
    return settings


@dataclass(frozen=True)
class PaymentSummary:
    """What the desk, the CSV and the API show about paying for one registration."""

    method: str  # a PaymentMethod, or "" for one with no order (free, or made at the desk)
    reference: str  # the order's, as shown ("KX7Q-2MPD")
    paid_cents: int
    refunded_cents: int
    receipt_numbers: tuple[int, ...]


def payment_summaries(session: Session, registration_ids: list[int]) -> dict[int, PaymentSummary]:
    """Per registration that has an order: its payment summary (a handful of queries for a
    whole page or export, not one per row)."""
    if not registration_ids:
        return {}
    items = session.exec(
        select(OrderItem.registration_id, Order)
        .join(Order, col(Order.id) == col(OrderItem.order_id))
        .where(col(OrderItem.registration_id).in_(registration_ids))
    ).all()
    order_ids = {order.id for _, order in items}
    payments = session.exec(select(Payment).where(col(Payment.order_id).in_(order_ids))).all()
    receipts = session.exec(
        select(Receipt.number, Payment.order_id)
        .join(Payment, col(Payment.id) == col(Receipt.payment_id))
        .where(col(Payment.order_id).in_(order_ids))
        .order_by(col(Receipt.number))
    ).all()
    summaries = {}
    for registration_id, order in items:
        mine = [p for p in payments if p.order_id == order.id]
        summaries[registration_id] = PaymentSummary(
            method=order.method,
            reference=display_reference(order.reference),
            paid_cents=sum(p.amount_cents for p in mine if p.state in PAID_STATES),
            refunded_cents=sum(p.refunded_cents for p in mine),
            receipt_numbers=tuple(number for number, oid in receipts if oid == order.id),
        )
    return summaries


def payment_refunds(session: Session, payment: Payment) -> list[Refund]:
    return list(
        session.exec(
            select(Refund).where(Refund.payment_id == payment.id).order_by(col(Refund.id))
        ).all()
    )


def refundable_cents(payment: Payment, refunds: list[Refund]) -> int:
    """What is left to give back from a payment: its amount less what was refunded and what
    is being refunded now."""
    pending = sum(r.amount_cents for r in refunds if r.state == RefundState.pending.value)
    return payment.amount_cents - payment.refunded_cents - pending


@dataclass(frozen=True)
class PaymentLine:
    payment: Payment
    refundable_cents: int  # what an organiser may still give back from it
    refunds: list[Refund]


@dataclass(frozen=True)
class OrderPanel:
    """A registration's order, as the organisers' page of it shows it."""

    order: Order
    payments: list[PaymentLine]
    receipts: list[Receipt]
    registrations: list[Registration]  # every place the order pays for (a group's several)


def order_panel(session: Session, registration_id: int) -> OrderPanel | None:
    order = order_for_registration(session, registration_id)
    if order is None or order.id is None:
        return None
    lines = []
    for payment in order_payments(session, order.id):
        refunds = payment_refunds(session, payment)
        left = refundable_cents(payment, refunds) if payment.state in PAID_STATES else 0
        lines.append(PaymentLine(payment, left, refunds))
    return OrderPanel(
        order, lines, order_receipts(session, order.id), order_registrations(session, order.id)
    )


ORDER_SECRET_LENGTH = 43  # secrets.token_urlsafe(32)


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_order_secret(session: Session, order_id: int) -> str:
    secret = secrets.token_urlsafe(32)
    session.add(OrderLink(order_id=order_id, secret_hash=_secret_hash(secret)))
    session.flush()
    return secret


def order_for_secret(session: Session, secret: str) -> Order | None:
    if len(secret) != ORDER_SECRET_LENGTH:
        return None
    link = session.exec(
        select(OrderLink).where(OrderLink.secret_hash == _secret_hash(secret))
    ).first()
    return session.get(Order, link.order_id) if link else None


def is_group(session: Session, order_id: int) -> bool:
    """An order for more than one ticket: its own page is where it is paid and followed."""
    return (
        len(
            session.exec(
                select(OrderItem.registration_id).where(OrderItem.order_id == order_id)
            ).all()
        )
        > 1
    )
