"""Paying an order by card on Stripe's hosted page, and everything that follows from it.

How one payment is confirmed exactly once: the return URL (the browser back from Stripe) and
the webhook (Stripe's server) both only *trigger* a confirmation. Each fetches the Checkout
Session from Stripe again (a webhook's body is never trusted for state), then, in one
transaction, locks the payment's row and moves it on only from a state that allows it
(created or pending to confirmed). Whichever comes second finds it confirmed and does nothing,
so one confirmation, one receipt and one ticket mail result, whichever arrives first or both at
once. A webhook also records its event id in that transaction: a second delivery of one event
is a no-op. A webhook that cannot have the lock at once answers 503, and Stripe retries.

Money that arrives for an order whose hold has ended takes its places again if they are still
free; otherwise it is refunded, automatically and once (the refund row is written in the same
transaction, its Stripe call carries the refund's idempotency key): never both a refund and a
ticket.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from confapp import urls
from confapp.content import localized
from confapp.db import Database, rowcount
from confapp.models import (
    PAID_STATES,
    Conference,
    Order,
    OrderStatus,
    Payment,
    PaymentMethod,
    PaymentSettings,
    PaymentState,
    PaymentStatus,
    Refund,
    RefundPolicy,
    RefundSource,
    RefundState,
    Registration,
    StripeEvent,
    TicketType,
)
from confapp.money import format_money
from confapp.outbox import queue_mail
from confapp.registration.mail import (
    HOLD_ENDED_MAIL,
    ORDER_PAID_MAIL,
    REFUNDED_MAIL,
    TICKET_MAIL,
)
from confapp.registration.orders import (
    is_group,
    order_for_registration,
    order_payments,
    order_registrations,
    payment_refunds,
    payment_settings,
    refundable_cents,
)
from confapp.registration.receipts import correct_receipt, issue_receipt
from confapp.registration.service import (
    expire_order,
    pay_order,
    retake_places,
    set_payment_status,
)
from confapp.registration.stripe_gateway import (
    CheckoutRequest,
    CheckoutState,
    PaymentProviderError,
    StripeAccount,
    create_checkout,
    create_refund,
    expire_checkout,
    refunds_of,
    retrieve_checkout,
    verified_event,
)
from confapp.times import local_today, utcnow
from confapp.translation import N_, _, in_language

log = logging.getLogger("confapp.payments")

# Stripe requires a Checkout Session to stay open 30 minutes at least; a minute more for the
# time between our clock and theirs.
STRIPE_SHORTEST_CHECKOUT = timedelta(minutes=31)
STRIPE_LONGEST_CHECKOUT = timedelta(hours=23, minutes=59)
AUTOMATIC_REFUND_REASON = N_("Paid after the hold on the place had ended, and no place was left.")
DUPLICATE_REFUND_REASON = N_("The order had already been paid.")


class LockUnavailable(Exception):
    """Another request holds the payment's row just now (a webhook then answers 503)."""


def stripe_account(settings: PaymentSettings, api_base: str) -> StripeAccount | None:
    if not settings.stripe_secret_key:
        return None
    return StripeAccount(settings.stripe_secret_key, api_base)


def _locked(session: Session, model: Any, row_id: int, *, wait: bool) -> Any:
    """The row, locked for the rest of the transaction (FOR UPDATE on PostgreSQL; SQLite's
    writes already run one at a time, BEGIN IMMEDIATE). Without `wait`, LockUnavailable at
    once when another transaction holds it."""
    statement = select(model).where(model.id == row_id).with_for_update(nowait=not wait)
    try:
        return session.exec(statement).first()
    except OperationalError as busy:
        raise LockUnavailable from busy


# --- starting a card payment ------------------------------------------------------------------


@dataclass(frozen=True)
class CardCheckout:
    payment_id: int
    url: str  # Stripe's hosted page


def _open_attempt(session: Session, order: Order, now: datetime) -> Payment | None:
    """A card payment of this order that can still be paid: a double click, or the Pay
    button pressed again, goes back to the same Stripe page instead of starting a second."""
    return (
        session.exec(
            select(Payment)
            .where(
                Payment.order_id == order.id,
                Payment.method == PaymentMethod.stripe.value,
                col(Payment.state).in_([PaymentState.created.value, PaymentState.pending.value]),
            )
            .order_by(col(Payment.id).desc())
        ).first()
        if order.id is not None
        else None
    )


def _still_open(payment: Payment, now: datetime) -> bool:
    expires = payment.checkout_expires_at
    return payment.state == PaymentState.created.value or (
        expires is not None and expires > now + timedelta(minutes=1)
    )


def _checkout_description(session: Session, order: Order) -> str:
    conference = session.get(Conference, order.conference_id)
    assert conference is not None
    names = []
    for registration in order_registrations(session, order.id or 0):
        ticket_type = session.get(TicketType, registration.ticket_type_id)
        if ticket_type is not None:
            names.append(localized(ticket_type).name)
    return f"{localized(conference).name}: {', '.join(names)}"[:250]


def start_card_payment(
    db: Database,
    account: StripeAccount,
    order_id: int,
    origin: str,
) -> CardCheckout | None:
    """The Stripe page to pay a reserved order on: the open one if there is one, else a new
    payment row and its Checkout Session. None if the order is not waiting for a card payment
    (paid already, ended, or paid another way). PaymentProviderError if Stripe cannot be had;
    the payment row then stays `created`, and the next try asks Stripe with the same key.
    """
    now = utcnow()
    with db.transaction() as session:
        order = _locked(session, Order, order_id, wait=True)
        if (
            order is None
            or order.status != OrderStatus.reserved.value
            or order.method != PaymentMethod.stripe.value
        ):
            return None
        payment = _open_attempt(session, order, now)
        if payment is not None and not _still_open(payment, now):
            payment = None  # its page is about to close: a fresh one
        if payment is not None and payment.state == PaymentState.pending.value:
            assert payment.id is not None
            return CardCheckout(payment.id, payment.checkout_url)
        if payment is None:
            payment = Payment(
                conference_id=order.conference_id,
                order_id=order_id,
                method=PaymentMethod.stripe.value,
                amount_cents=order.total_cents,
                currency=order.currency,
                created_at=now,
                updated_at=now,
            )
            session.add(payment)
            session.flush()
        assert payment.id is not None
        hold_until = order.hold_until or now
        expires_at = min(
            max(hold_until, now + STRIPE_SHORTEST_CHECKOUT), now + STRIPE_LONGEST_CHECKOUT
        )
        request = CheckoutRequest(
            payment_id=payment.id,
            order_reference=order.reference,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            description=_checkout_description(session, order),
            email=order.email,
            success_url=f"{origin}{urls.stripe_return_path(payment.id)}"
            + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=f"{origin}{urls.stripe_cancel_path(payment.id)}",
            expires_at=expires_at,
            language=order.language,
        )
        payment_id = payment.id
    try:
        checkout = create_checkout(account, request)
    except PaymentProviderError as refused:
        log.warning("stripe refused a checkout for payment %d: %s", payment_id, refused.code)
        with db.transaction() as session:
            session.execute(
                update(Payment)
                .where(col(Payment.id) == payment_id)
                .values(last_error=refused.code, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        raise
    with db.transaction() as session:
        session.execute(
            update(Payment)
            .where(col(Payment.id) == payment_id, col(Payment.state) == PaymentState.created.value)
            .values(
                state=PaymentState.pending.value,
                provider_checkout_id=checkout.id,
                checkout_url=checkout.url,
                checkout_expires_at=checkout.expires_at,
                last_error="",
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
    return CardCheckout(payment_id, checkout.url)


# --- confirming -------------------------------------------------------------------------------

Outcome = Literal["paid", "already", "unpaid", "cancelled", "refunding", "ignored", "duplicate"]


@dataclass
class Settled:
    """What one look at a Checkout Session changed."""

    outcome: Outcome
    mail_ids: list[int] = field(default_factory=list)
    refund_id: int | None = None  # an automatic refund written, for Stripe to be told after
    order_id: int | None = None


def _record_event(session: Session, event_id: str, event_type: str) -> bool:
    """Note a webhook event as acted on, in the transaction that acts on it; False if it was
    already (a second delivery, or one being acted on at this moment by another request)."""
    if session.get(StripeEvent, event_id) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(StripeEvent(event_id=event_id, type=event_type[:100]))
            session.flush()
    except IntegrityError:
        return False
    return True


def _refunded_automatically(session: Session, payment: Payment) -> bool:
    return (
        session.exec(
            select(Refund).where(
                Refund.payment_id == payment.id, Refund.source == RefundSource.automatic.value
            )
        ).first()
        is not None
    )


def _refund_whole(session: Session, payment: Payment, reason: str) -> Refund:
    refund = Refund(
        conference_id=payment.conference_id,
        payment_id=payment.id or 0,
        amount_cents=payment.amount_cents - payment.refunded_cents,
        currency=payment.currency,
        source=RefundSource.automatic.value,
        reason=reason,
    )
    session.add(refund)
    session.flush()
    return refund


def settle_checkout(
    db: Database,
    payment_id: int,
    checkout: CheckoutState,
    *,
    wait: bool,
    event: tuple[str, str] | None = None,
) -> Settled:
    """Bring a payment (and its order) in line with its Checkout Session as just fetched from
    Stripe. `event`: the webhook event (id, type) this acts on, recorded once."""
    now = utcnow()
    with db.transaction() as session:
        payment = _locked(session, Payment, payment_id, wait=wait)
        if payment is None or payment.provider_checkout_id not in (None, checkout.id):
            return Settled("ignored")
        if event is not None and not _record_event(session, *event):
            return Settled("duplicate")
        settled = _settle(session, payment, checkout, now)
        settled.order_id = payment.order_id
        return settled


def _settle(session: Session, payment: Payment, checkout: CheckoutState, now: datetime) -> Settled:
    open_states = (PaymentState.created.value, PaymentState.pending.value)
    if payment.state not in open_states:
        if payment.state not in PAID_STATES:
            return Settled("cancelled")
        order = session.get(Order, payment.order_id)
        paid = order is not None and order.status == OrderStatus.paid.value
        return Settled(
            "already" if paid and not _refunded_automatically(session, payment) else "refunding"
        )
    if checkout.status == "expired":
        payment.state = PaymentState.cancelled.value
        payment.updated_at = now
        session.add(payment)
        return Settled("cancelled")
    if not checkout.paid:
        return Settled("unpaid")
    if checkout.amount_cents != payment.amount_cents or checkout.currency != payment.currency:
        # Never the case for a session we made; left for a person to look at, not confirmed.
        log.error("payment %d: stripe's amount differs from ours", payment.id)
        payment.last_error = "amount_mismatch"
        session.add(payment)
        return Settled("unpaid")
    payment.state = PaymentState.confirmed.value
    payment.provider_checkout_id = checkout.id
    payment.provider_payment_id = checkout.payment_intent
    payment.confirmed_at = now
    payment.updated_at = now
    session.add(payment)
    order = _locked(session, Order, payment.order_id, wait=True)
    assert order is not None
    if order.status == OrderStatus.expired.value and not retake_places(session, order, now):
        refund = _refund_whole(session, payment, AUTOMATIC_REFUND_REASON)
        return Settled("refunding", refund_id=refund.id)
    if order.status != OrderStatus.reserved.value:
        # Paid already by another attempt, or cancelled meanwhile: this money goes back.
        reason = DUPLICATE_REFUND_REASON if order.status == OrderStatus.paid.value else ""
        refund = _refund_whole(session, payment, reason or AUTOMATIC_REFUND_REASON)
        return Settled("refunding", refund_id=refund.id)
    issued = pay_order(session, order, now)
    if not issued:  # every ticket of it was cancelled while the person paid
        refund = _refund_whole(session, payment, AUTOMATIC_REFUND_REASON)
        return Settled("refunding", refund_id=refund.id)
    issue_receipt(session, payment, order)
    return Settled("paid", mail_ids=mail_paid_order(session, order, issued))


def confirm_return(
    db: Database, account: StripeAccount, payment_id: int, checkout_id: str
) -> Settled:
    """The browser is back from Stripe's page: confirm it from Stripe's own record."""
    with db.read() as session:
        payment = session.get(Payment, payment_id)
        if payment is None or payment.provider_checkout_id != checkout_id:
            return Settled("ignored")
    checkout = retrieve_checkout(account, checkout_id)
    settled = settle_checkout(db, payment_id, checkout, wait=True)
    push_refund_if_any(db, account, settled)
    return settled


# --- refunds through Stripe -------------------------------------------------------------------


def push_refund_if_any(db: Database, account: StripeAccount, settled: Settled) -> None:
    if settled.refund_id is not None:
        mail_id = push_refund(db, account, settled.refund_id)
        if mail_id is not None:
            settled.mail_ids.append(mail_id)


def push_refund(db: Database, account: StripeAccount, refund_id: int) -> int | None:
    """Ask Stripe for a refund row's money (its idempotency key is the row's), and record the
    answer; an automatic refund then mails the person. Stripe unreachable: the row stays
    pending for housekeeping's next round. Returns the mail queued, if any."""
    with db.read() as session:
        refund = session.get(Refund, refund_id)
        payment = session.get(Payment, refund.payment_id) if refund else None
        if refund is None or payment is None or refund.state != RefundState.pending.value:
            return None
        if not payment.provider_payment_id:
            return None
    try:
        answer = create_refund(
            account, payment.provider_payment_id, refund.amount_cents, refund.currency, refund_id
        )
    except PaymentProviderError as refused:
        log.warning("stripe refused refund %d: %s", refund_id, refused.code)
        if refused.retryable:
            return None
        with db.transaction() as session:
            _finish_refund(session, refund_id, RefundState.failed.value, None)
        return None
    state = (
        RefundState.failed.value
        if answer.status in ("failed", "canceled")
        else (RefundState.succeeded.value)
    )
    with db.transaction() as session:
        return _finish_refund(session, refund_id, state, answer.id)


def _finish_refund(
    session: Session, refund_id: int, state: str, provider_refund_id: str | None
) -> int | None:
    done = session.execute(
        update(Refund)
        .where(col(Refund.id) == refund_id, col(Refund.state) == RefundState.pending.value)
        .values(state=state, provider_refund_id=provider_refund_id, done_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if rowcount(done) != 1 or state != RefundState.succeeded.value:
        return None
    refund = session.get(Refund, refund_id)
    assert refund is not None
    payment = session.get(Payment, refund.payment_id)
    assert payment is not None
    _count_refunded(session, payment, refund.amount_cents)
    if refund.source != RefundSource.automatic.value:
        return None
    order = session.get(Order, payment.order_id)
    assert order is not None
    return queue_payment_mail(session, REFUNDED_MAIL, order, refund_id)


def mail_paid_order(session: Session, order: Order, issued: list[Registration]) -> list[int]:
    """Once an order is paid: each new ticket to its holder, and to a group's payer the
    receipt with the order's page."""
    mail_ids = [queue_mail(session, TICKET_MAIL, r.id).id or 0 for r in issued if r.id]
    if order.id is not None and is_group(session, order.id):
        mail_ids.append(
            queue_mail(
                session, ORDER_PAID_MAIL, None, reference_id=order.id, language=order.language
            ).id
            or 0
        )
    return mail_ids


def receive_payment(
    session: Session, order: Order, method: PaymentMethod, now: datetime
) -> tuple[Payment, list[int]]:
    """Money for an order has come outside Stripe (a transfer, or cash or card at the desk):
    one confirmed payment row for the whole order, the order paid, its receipt and its mail.
    Inside the caller's transaction, with the order's row locked and its places held."""
    payment = Payment(
        conference_id=order.conference_id,
        order_id=order.id or 0,
        method=method.value,
        state=PaymentState.confirmed.value,
        amount_cents=order.total_cents,
        currency=order.currency,
        created_at=now,
        updated_at=now,
        confirmed_at=now,
    )
    session.add(payment)
    session.flush()
    issued = pay_order(session, order, now)
    issue_receipt(session, payment, order)
    return payment, mail_paid_order(session, order, issued)


def queue_payment_mail(session: Session, kind: str, order: Order, reference_id: int) -> int:
    """A mail about paying an order: to its one attendee, or to whoever pays for a group."""
    assert order.id is not None
    if is_group(session, order.id):
        mail = queue_mail(session, kind, None, reference_id=reference_id, language=order.language)
    else:
        registration = order_registrations(session, order.id)[0]
        mail = queue_mail(session, kind, registration.id, reference_id=reference_id)
    return mail.id or 0


def _count_refunded(session: Session, payment: Payment, amount_cents: int) -> None:
    payment.refunded_cents += amount_cents
    payment.state = (
        PaymentState.refunded.value
        if payment.refunded_cents >= payment.amount_cents
        else PaymentState.partially_refunded.value
    )
    payment.updated_at = utcnow()
    session.add(payment)
    correct_receipt(session, payment)  # a receipt is never changed: cancelled and made anew


def record_stripe_refunds(
    session: Session, payment: Payment, account_refunds: list[Any]
) -> list[int]:
    """Refunds Stripe has for a payment that confapp did not ask for (made in Stripe's
    dashboard): recorded as external. Our own are matched by id and left as they are."""
    known = set(
        session.exec(select(Refund.provider_refund_id).where(Refund.payment_id == payment.id)).all()
    )
    recorded = []
    for answer in account_refunds:
        if answer.id in known or answer.refund_id is not None or answer.status != "succeeded":
            continue
        refund = Refund(
            conference_id=payment.conference_id,
            payment_id=payment.id or 0,
            amount_cents=answer.amount_cents,
            currency=answer.currency,
            state=RefundState.succeeded.value,
            source=RefundSource.external.value,
            reason=_("Refunded in Stripe's dashboard."),
            provider_refund_id=answer.id,
            done_at=utcnow(),
        )
        session.add(refund)
        session.flush()
        _count_refunded(session, payment, answer.amount_cents)
        _mark_refunded_if_whole(session, payment)
        recorded.append(refund.id or 0)
    return recorded


# --- webhooks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookAnswer:
    status_code: int
    detail: str
    mail_ids: tuple[int, ...] = ()


_CHECKOUT_EVENTS = {
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
}
_REFUND_EVENTS = {"charge.refunded", "refund.created", "refund.updated", "charge.refund.updated"}


def _conference_for_signature(
    db: Database, payload: bytes, signature: str
) -> tuple[Mapping[str, Any], PaymentSettings] | None:
    """The event, and the settings of the conference whose webhook secret signed it."""
    with db.read() as session:
        candidates = session.exec(
            select(PaymentSettings).where(col(PaymentSettings.stripe_webhook_secret) != "")
        ).all()
    for settings in candidates:
        event = verified_event(payload, signature, settings.stripe_webhook_secret)
        if event is not None:
            return event, settings
    return None


def handle_stripe_webhook(
    db: Database, api_base: str, payload: bytes, signature: str
) -> WebhookAnswer:
    found = _conference_for_signature(db, payload, signature)
    if found is None:
        return WebhookAnswer(400, "signature")
    event, settings = found
    account = stripe_account(settings, api_base)
    event_id, event_type = str(event.get("id") or ""), str(event.get("type") or "")
    obj = (event.get("data") or {}).get("object") or {}
    log.info("stripe event %s (%s)", event_id, event_type)
    with db.read() as session:
        if session.get(StripeEvent, event_id) is not None:
            return WebhookAnswer(200, "duplicate")
    if account is None:
        return WebhookAnswer(200, "no stripe key")
    try:
        if event_type in _CHECKOUT_EVENTS:
            return _checkout_event(db, account, settings, event_id, event_type, obj)
        if event_type in _REFUND_EVENTS:
            return _refund_event(db, account, settings, event_id, event_type, obj)
    except LockUnavailable:
        return WebhookAnswer(503, "busy")
    except PaymentProviderError as unreachable:
        log.warning("stripe event %s: fetching failed: %s", event_id, unreachable.code)
        return WebhookAnswer(503, "stripe")
    with db.transaction() as session:
        _record_event(session, event_id, event_type)
    return WebhookAnswer(200, "ignored")


def _checkout_event(
    db: Database,
    account: StripeAccount,
    settings: PaymentSettings,
    event_id: str,
    event_type: str,
    obj: Mapping[str, Any],
) -> WebhookAnswer:
    checkout_id = str(obj.get("id") or "")
    with db.read() as session:
        payment = session.exec(
            select(Payment).where(
                Payment.provider_checkout_id == checkout_id,
                Payment.conference_id == settings.conference_id,
            )
        ).first()
    checkout = retrieve_checkout(account, checkout_id)  # the event only says where to look
    if payment is None and checkout.payment_id is not None:
        with db.read() as session:
            payment = session.get(Payment, checkout.payment_id)
        if payment is not None and payment.conference_id != settings.conference_id:
            payment = None
    if payment is None or payment.id is None:
        with db.transaction() as session:
            _record_event(session, event_id, event_type)
        return WebhookAnswer(200, "not ours")
    settled = settle_checkout(db, payment.id, checkout, wait=False, event=(event_id, event_type))
    push_refund_if_any(db, account, settled)
    return WebhookAnswer(200, settled.outcome, tuple(settled.mail_ids))


def _refund_event(
    db: Database,
    account: StripeAccount,
    settings: PaymentSettings,
    event_id: str,
    event_type: str,
    obj: Mapping[str, Any],
) -> WebhookAnswer:
    intent = obj.get("payment_intent")
    if isinstance(intent, Mapping):
        intent = intent.get("id")
    with db.read() as session:
        payment = session.exec(
            select(Payment).where(
                Payment.provider_payment_id == str(intent or ""),
                Payment.conference_id == settings.conference_id,
            )
        ).first()
    if payment is None or payment.id is None:
        with db.transaction() as session:
            _record_event(session, event_id, event_type)
        return WebhookAnswer(200, "not ours")
    answers = refunds_of(account, str(intent))
    with db.transaction() as session:
        locked = _locked(session, Payment, payment.id, wait=False)
        if not _record_event(session, event_id, event_type):
            return WebhookAnswer(200, "duplicate")
        recorded = record_stripe_refunds(session, locked, answers)
    return WebhookAnswer(200, f"{len(recorded)} recorded")


# --- holds that end ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HoldsReleased:
    expired: int
    paid_at_the_last_moment: int
    mail_ids: tuple[int, ...]


def release_ended_holds(db: Database, api_base: str, now: datetime | None = None) -> HoldsReleased:
    """End every reserved order whose hold is over: its places go back and the person is told.
    A card order's open Stripe page is closed first; one paid at the last moment is confirmed
    instead. Safe in several processes at once: each order ends once (a conditional UPDATE)."""
    now = now or utcnow()
    with db.read() as session:
        due = session.exec(
            select(Order)
            .where(
                Order.status == OrderStatus.reserved.value,
                col(Order.hold_until).is_not(None),
                col(Order.hold_until) <= now,
            )
            .order_by(col(Order.hold_until))
            .limit(500)
        ).all()
    expired = paid = 0
    mails: list[int] = []
    for order in due:
        assert order.id is not None
        if order.method == PaymentMethod.stripe.value:
            outcome = _close_card_checkouts(db, api_base, order)
            if outcome == "paid":
                paid += 1
                continue
            if outcome == "unreachable":
                continue  # Stripe could not say whether it was paid: the next round asks again
        with db.transaction() as session:
            if not expire_order(session, order.id, now):
                continue
            expired += 1
            mails.append(queue_payment_mail(session, HOLD_ENDED_MAIL, order, order.id))
    return HoldsReleased(expired, paid, tuple(mails))


def _close_card_checkouts(db: Database, api_base: str, order: Order) -> str:
    with db.read() as session:
        account = stripe_account(payment_settings(session, order.conference_id), api_base)
        attempts = session.exec(
            select(Payment).where(
                Payment.order_id == order.id,
                col(Payment.state).in_([PaymentState.created.value, PaymentState.pending.value]),
                col(Payment.provider_checkout_id).is_not(None),
            )
        ).all()
    if account is None:
        return "closed"
    for payment in attempts:
        assert payment.id is not None and payment.provider_checkout_id is not None
        try:
            checkout = expire_checkout(account, payment.provider_checkout_id, payment.id)
        except PaymentProviderError as unreachable:
            log.warning("closing payment %d's checkout failed: %s", payment.id, unreachable.code)
            return "unreachable"
        settled = settle_checkout(db, payment.id, checkout, wait=True)
        push_refund_if_any(db, account, settled)
        if settled.outcome == "paid":
            return "paid"
    return "closed"


def retry_pending_refunds(db: Database, api_base: str) -> int:
    """Refunds written but not yet accepted by Stripe (it could not be reached): ask again,
    with the same idempotency key."""
    with db.read() as session:
        pending = session.exec(
            select(Refund, PaymentSettings)
            .join(PaymentSettings, col(PaymentSettings.conference_id) == col(Refund.conference_id))
            .where(Refund.state == RefundState.pending.value, col(Refund.by_hand).is_(False))
            .limit(200)
        ).all()
    done = 0
    for refund, settings in pending:
        account = stripe_account(settings, api_base)
        if account is not None and refund.id is not None:
            push_refund(db, account, refund.id)
            done += 1
    return done


# --- refunds by organisers --------------------------------------------------------------------


class RefundRefused(Exception):
    """A refund that cannot be made as asked; `field` and the message say why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RefundDone:
    refund_id: int
    state: str  # a RefundState: succeeded, or pending while Stripe is asked again later


def refund_payment(
    db: Database,
    api_base: str,
    payment_id: int,
    amount_cents: int,
    reason: str,
    by: str,
    *,
    source: str = RefundSource.organiser.value,
    audit: Callable[[Session], None] | None = None,
) -> RefundDone:
    """Give back some or all of a payment: through Stripe for a card payment (with the refund
    row's idempotency key), or recorded as done by hand for a transfer or cash. A full refund
    marks its tickets refunded (their top-ups leave the solidarity fund); the tickets stay
    valid unless an organiser cancels them too."""
    with db.transaction() as session:
        payment = _locked(session, Payment, payment_id, wait=True)
        if payment is None or payment.state not in PAID_STATES:
            raise RefundRefused("payment", _("Only a payment that arrived can be refunded."))
        left = refundable_cents(payment, payment_refunds(session, payment))
        if amount_cents <= 0 or amount_cents > left:
            raise RefundRefused(
                "amount",
                _("Refund between %(least)s and %(most)s.")
                % {
                    "least": format_money(1, payment.currency),
                    "most": format_money(left, payment.currency),
                },
            )
        by_hand = payment.method != PaymentMethod.stripe.value
        refund = Refund(
            conference_id=payment.conference_id,
            payment_id=payment_id,
            amount_cents=amount_cents,
            currency=payment.currency,
            source=source,
            by_hand=by_hand,
            reason=reason[:500],
            by=by,
        )
        session.add(refund)
        session.flush()
        assert refund.id is not None
        refund_id = refund.id
        if audit is not None:
            audit(session)  # in this transaction: the entry exists exactly when the refund does
        settings = payment_settings(session, payment.conference_id)
        if by_hand:
            refund.state = RefundState.succeeded.value
            refund.done_at = utcnow()
            session.add(refund)
            _count_refunded(session, payment, amount_cents)
            _mark_refunded_if_whole(session, payment)
            return RefundDone(refund_id, refund.state)
    account = stripe_account(settings, api_base)
    if account is None:
        return RefundDone(refund_id, RefundState.pending.value)
    push_refund(db, account, refund_id)
    with db.transaction() as session:
        done = session.get(Refund, refund_id)
        assert done is not None
        if done.state == RefundState.failed.value:
            raise RefundRefused("amount", _("Stripe refused this refund; nothing was given back."))
        payment = session.get(Payment, payment_id)
        assert payment is not None
        _mark_refunded_if_whole(session, payment)
        return RefundDone(refund_id, done.state)


def _mark_refunded_if_whole(session: Session, payment: Payment) -> None:
    if payment.refunded_cents < payment.amount_cents:
        return
    for registration in order_registrations(session, payment.order_id):
        set_payment_status(session, registration, PaymentStatus.refunded)


# --- the refund policy, when an attendee cancels ------------------------------------------


@dataclass(frozen=True)
class CancellationRefund:
    """What cancelling a ticket gives back under the conference's refund policy."""

    policy: str  # a RefundPolicy
    refund_until: date | None
    payment_id: int | None  # the payment refunded on cancelling; None: nothing is given back
    amount_cents: int
    currency: str
    by_card: bool
    group: bool  # paid for with others: the payer asks the organisers


def cancellation_refund(
    session: Session, registration: Registration, now: datetime
) -> CancellationRefund | None:
    """None when the ticket was not paid online (nothing for the policy to say)."""
    if registration.id is None:
        return None
    order = order_for_registration(session, registration.id)
    if order is None or order.id is None or order.status != OrderStatus.paid.value:
        return None
    settings = payment_settings(session, order.conference_id)
    conference = session.get(Conference, order.conference_id)
    assert conference is not None
    group = is_group(session, order.id)
    payment = next((p for p in order_payments(session, order.id) if p.state in PAID_STATES), None)
    due = (
        settings.refund_policy == RefundPolicy.until.value
        and settings.refund_until is not None
        and local_today(conference.timezone, now) <= settings.refund_until
        and not group
        and payment is not None
    )
    left = (
        refundable_cents(payment, payment_refunds(session, payment)) if payment is not None else 0
    )
    return CancellationRefund(
        policy=settings.refund_policy,
        refund_until=settings.refund_until,
        payment_id=payment.id if due and payment is not None and left > 0 else None,
        amount_cents=left if due else 0,
        currency=order.currency,
        by_card=payment is not None and payment.method == PaymentMethod.stripe.value,
        group=group,
    )


CANCELLATION_REFUND_REASON = N_("Cancelled by the attendee, under the refund policy.")


def refund_on_cancelling(db: Database, api_base: str, registration_id: int) -> RefundDone | None:
    """After an attendee cancels: their payment back, in full, if the policy says so. A card
    refund Stripe cannot take now stays pending for housekeeping to ask again."""
    with db.read() as session:
        registration = session.get(Registration, registration_id)
        due = cancellation_refund(session, registration, utcnow()) if registration else None
    if due is None or due.payment_id is None or not due.by_card:
        # A transfer is given back by a person: the registration's page shows what is due.
        return None
    with in_language(None):
        reason = _(CANCELLATION_REFUND_REASON)
    try:
        return refund_payment(
            db,
            api_base,
            due.payment_id,
            due.amount_cents,
            reason,
            "the attendee",
            source=RefundSource.attendee.value,
        )
    except RefundRefused:
        return None
