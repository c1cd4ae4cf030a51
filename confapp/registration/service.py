"""Registering, cancelling and erasing: every change to places goes through here.

How a place is never sold twice: taking a place is one conditional UPDATE per counter,
`places_taken = places_taken + 1 WHERE places_taken < capacity`, on the ticket type and on the
conference, inside the same transaction as the INSERT of the registration. The database
evaluates the condition and the increment atomically while holding the row's write lock
(PostgreSQL re-checks the condition after waiting for a concurrent writer; SQLite runs one
write transaction at a time, taken up front with BEGIN IMMEDIATE). An UPDATE that matches no
row means sold out, and the transaction is rolled back whole. A CHECK constraint
(places_taken <= capacity) backs this up in the schema itself. There is no
read-then-decide-then-write step for two requests to race through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import false, or_, true, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from confapp.agenda.service import registration_agenda
from confapp.db import Database, rowcount
from confapp.models import (
    HOLDING_PLACES,
    Conference,
    Order,
    OrderItem,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
    Registration,
    RegistrationStatus,
    TicketType,
)
from confapp.outbox import queue_mail
from confapp.registration.form import CleanRegistration
from confapp.registration.mail import TICKET_MAIL, TRANSFER_MAIL
from confapp.registration.manage import Ticket, load_ticket, new_manage_secret
from confapp.registration.orders import (
    ONLINE_METHODS,
    hold_ends,
    new_order_secret,
    new_reference,
    order_registrations,
    payment_settings,
)
from confapp.registration.places import places_left
from confapp.registration.vouchers import (
    VoucherUsedUp,
    give_use_back,
    holds_its_places,
    redeem,
)
from confapp.throttle import Limits, take
from confapp.tickets.keys import ensure_signing_key
from confapp.tickets.tokens import new_ticket_code
from confapp.times import utcnow
from confapp.translation import best_language, current_language


class SoldOut(Exception):
    """No place is left of this ticket type (or at the conference)."""


class Throttled(Exception):
    """Too many registrations from one address or for one e-mail address just now."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"throttled for {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class Requester:
    """Who is registering, as far as the throttles need to know."""

    client_address: str
    limits: Limits


def _count_attempt(session: Session, requester: Requester, email: str) -> bool:
    """Count this registration against the requester's throttles; raises Throttled when over.
    Returns whether the confirmation mail may be sent (mails per recipient)."""
    limits = requester.limits
    email = email.lower()  # email_validator lower-cases only the domain
    for limit, key in (
        (limits.registrations_per_address, requester.client_address),
        (limits.registrations_per_email, email),
    ):
        decision = take(session, limit, key)
        if not decision.allowed:
            raise Throttled(decision.retry_after_seconds)
    return take(session, limits.mails_per_recipient, email).allowed


@dataclass(frozen=True)
class RegisteredTicket:
    ticket: Ticket  # with its admission token and the first management secret
    mail_id: int | None  # None: too many mails to this address just now; the page shows the link
    # The order paying for it online (its place held until paid); None at the desk or if free.
    order: Order | None = None


def take_places(db: Session, conference_id: int, ticket_type_id: int, count: int = 1) -> None:
    """Take `count` places of a ticket type (and of the conference), all or none: SoldOut
    when fewer are left. Inside the caller's transaction."""
    pool_places = (
        # Floor division: only whole funded places count (SQLAlchemy "/" would divide exactly).
        sa_select(col(Conference.solidarity_fund_cents) // col(Conference.solidarity_place_cents))
        .where(col(Conference.id) == conference_id)
        .scalar_subquery()
    )
    taken = db.execute(
        update(TicketType)
        .where(
            col(TicketType.id) == ticket_type_id,
            col(TicketType.conference_id) == conference_id,
            col(TicketType.on_sale) == true(),
            or_(
                col(TicketType.capacity).is_(None),
                col(TicketType.places_taken) + count <= col(TicketType.capacity),
            ),
            or_(
                col(TicketType.from_solidarity_pool) == false(),
                TicketType.places_taken + count <= pool_places,
            ),
        )
        .values(places_taken=TicketType.places_taken + count)
        .execution_options(synchronize_session=False)
    )
    if rowcount(taken) != 1:
        raise SoldOut
    taken = db.execute(
        update(Conference)
        .where(
            col(Conference.id) == conference_id,
            or_(
                col(Conference.capacity).is_(None),
                col(Conference.places_taken) + count <= col(Conference.capacity),
            ),
        )
        .values(places_taken=Conference.places_taken + count)
        .execution_options(synchronize_session=False)
    )
    if rowcount(taken) != 1:
        raise SoldOut


def seen_sold_out(session: Session, conference_id: int, ticket_type_id: int) -> bool:
    """Whether a read, taking no lock, already shows no place left of this ticket type (or at
    the conference): then a registration can be refused without waiting its turn to try."""
    ticket_type = session.get(TicketType, ticket_type_id)
    conference = session.get(Conference, conference_id)
    if ticket_type is None or conference is None or ticket_type.conference_id != conference_id:
        return False  # not for this read to judge: the locked path refuses it
    return not ticket_type.on_sale or places_left(conference, ticket_type) == 0


def _registering_language(session: Session, conference_id: int) -> str:
    """The request's language, which a conference's pages have narrowed to one of its own;
    outside a request (the CLI, a script), the closest of the conference's languages."""
    conference = session.get(Conference, conference_id)
    if conference is None:
        return current_language()
    return best_language([current_language()], conference.languages, conference.default_language)


def register(
    db: Database,
    conference_id: int,
    clean: CleanRegistration,
    requester: Requester | None = None,
) -> RegisteredTicket:
    """Take a place and write the registration, its ticket and its confirmation mail at once.

    With a `requester`, the registration counts against the throttles in the same transaction:
    one refused (Throttled) or sold out (SoldOut) leaves nothing written and nothing counted.
    A ticket that costs something paid online holds its place as reserved, with an order; its
    ticket mail follows the payment (a transfer's instructions are mailed now).
    """
    with db.read() as session:
        # A voucher holding places has its place whatever the public bought.
        if not clean.voucher_holds_places and seen_sold_out(
            session, conference_id, clean.ticket_type_id
        ):
            raise SoldOut
    key = ensure_signing_key(db)
    with db.transaction() as session:
        may_mail = _count_attempt(session, requester, clean.email) if requester else True
        paying = clean.amount_cents + clean.solidarity_topup_cents
        online = bool(paying) and clean.payment_method in ONLINE_METHODS
        if clean.voucher_id is not None and not redeem(session, clean.voucher_id, utcnow()):
            raise VoucherUsedUp
        registration = _new_registration(session, conference_id, clean, key.key_id, online)
        assert registration.id is not None
        payer = Payer(clean.payer_name or clean.name, clean.email, clean.payment_method)
        order = _open_order(session, [registration], [clean], payer) if online else None
        if order is None:
            mail = queue_mail(session, TICKET_MAIL, registration.id) if may_mail else None
        elif order.method == PaymentMethod.bank_transfer.value and may_mail:
            # How to pay, with the link to come back to; the ticket follows once it is paid.
            mail = queue_mail(session, TRANSFER_MAIL, registration.id, reference_id=order.id)
        else:
            mail = None  # a card payment follows at once; the ticket is mailed when it is paid
        ticket = load_ticket(session, registration, new_manage_secret(session, registration.id))
        return RegisteredTicket(ticket, mail.id if mail else None, order)


@dataclass(frozen=True)
class Payer:
    """Who pays for an order: a person or an organisation (a union branch), as given for the
    receipt, the address its payment mail goes to, and how."""

    name: str
    email: str
    payment_method: str


@dataclass(frozen=True)
class RegisteredGroup:
    """Several tickets registered at once, paid by one order."""

    tickets: list[Ticket]
    order: Order
    order_secret: str  # the payer's link to the order's page
    mail_ids: list[int]


MOST_IN_A_GROUP = 20


def register_group(
    db: Database,
    conference_id: int,
    payer: Payer,
    attendees: list[CleanRegistration],
    requester: Requester | None = None,
) -> RegisteredGroup:
    """Take a place for each attendee (all or none: one sold out leaves nothing written) and
    write one order paying for them all. Each attendee gets their own ticket, QR code and
    management link, mailed to them once it is paid; the payer gets the order's page."""
    assert 0 < len(attendees) <= MOST_IN_A_GROUP
    key = ensure_signing_key(db)
    with db.transaction() as session:
        may_mail = _count_attempt(session, requester, payer.email) if requester else True
        paying = sum(a.amount_cents + a.solidarity_topup_cents for a in attendees)
        online = bool(paying) and payer.payment_method in ONLINE_METHODS
        registrations = [
            _new_registration(session, conference_id, clean, key.key_id, online)
            for clean in attendees
        ]
        # A group always has an order, its page the payer's: held while paid online, else
        # paid (nothing to pay) or waiting for the desk, with the tickets issued at once.
        order = _open_order(session, registrations, attendees, payer, held=online)
        if not paying:
            order.status = OrderStatus.paid.value
            order.paid_at = order.created_at
        assert order.id is not None
        secret = new_order_secret(session, order.id)
        mail_ids: list[int] = []
        if online and order.method == PaymentMethod.bank_transfer.value and may_mail:
            mail = queue_mail(
                session, TRANSFER_MAIL, None, reference_id=order.id, language=order.language
            )
            mail_ids.append(mail.id or 0)
        elif not online and may_mail:
            for registration in registrations:
                mail_ids.append(queue_mail(session, TICKET_MAIL, registration.id).id or 0)
        tickets = [
            load_ticket(session, r, new_manage_secret(session, r.id or 0)) for r in registrations
        ]
        return RegisteredGroup(tickets, order, secret, mail_ids)


def _new_registration(
    session: Session, conference_id: int, clean: CleanRegistration, key_id: int, online: bool
) -> Registration:
    if not clean.voucher_holds_places:  # else the voucher took it when it was made
        take_places(session, conference_id, clean.ticket_type_id)
    paying = clean.amount_cents + clean.solidarity_topup_cents
    registration = Registration(
        conference_id=conference_id,
        ticket_type_id=clean.ticket_type_id,
        ticket_code=new_ticket_code(),
        signing_key_id=key_id,
        name=clean.name,
        email=clean.email,
        access_needs=clean.access_needs,
        childcare_children=clean.childcare_children,
        childcare_ages=clean.childcare_ages,
        email_consent=clean.email_consent,
        voucher_id=clean.voucher_id,
        amount_cents=clean.amount_cents,
        solidarity_topup_cents=clean.solidarity_topup_cents,
        payment_status=(PaymentStatus.unpaid if paying else PaymentStatus.waived).value,
        # Paid online: the place is held, and the ticket issued once the money arrives.
        status=(RegistrationStatus.reserved if online else RegistrationStatus.active).value,
        # The language they registered in (one of the conference's): their mail's.
        language=_registering_language(session, conference_id),
    )
    session.add(registration)
    session.flush()
    registration_agenda(session, registration)  # ready for stars from the ticket page
    return registration


def _open_order(
    session: Session,
    registrations: list[Registration],
    attendees: list[CleanRegistration],
    payer: Payer,
    *,
    held: bool = True,
) -> Order:
    conference = session.get(Conference, registrations[0].conference_id)
    assert conference is not None and conference.id is not None
    now = utcnow()
    settings = payment_settings(session, conference.id)
    order = Order(
        conference_id=conference.id,
        reference=new_reference(),
        method=payer.payment_method,
        total_cents=sum(a.amount_cents + a.solidarity_topup_cents for a in attendees),
        currency=conference.currency,
        payer_name=payer.name,
        email=payer.email,
        language=registrations[0].language,
        hold_until=hold_ends(settings, payer.payment_method, now) if held else None,
        created_at=now,
    )
    session.add(order)
    session.flush()
    assert order.id is not None
    for registration, clean in zip(registrations, attendees, strict=True):
        assert registration.id is not None
        session.add(
            OrderItem(
                registration_id=registration.id,
                order_id=order.id,
                amount_cents=clean.amount_cents,
                solidarity_topup_cents=clean.solidarity_topup_cents,
            )
        )
    session.flush()
    return order


def pay_order(session: Session, order: Order, now: datetime) -> list[Registration]:
    """The money for a reserved order has arrived: the order is paid and each of its held
    places becomes a ticket (paid, its top-up in the fund). Inside the caller's transaction,
    with the order's row locked; returns the registrations that became tickets, to mail."""
    if order.status != OrderStatus.reserved.value:
        return []
    order.status = OrderStatus.paid.value
    order.paid_at = now
    session.add(order)
    issued = []
    for registration in order_registrations(session, order.id or 0):
        if registration.status != RegistrationStatus.reserved.value:
            continue
        registration.status = RegistrationStatus.active.value
        session.add(registration)
        set_payment_status(session, registration, PaymentStatus.paid)
        issued.append(registration)
    session.flush()
    return issued


def expire_order(session: Session, order_id: int, now: datetime) -> bool:
    """A reserved order's hold is over: it ends unpaid and its places go back to the pool.
    False if it was not reserved any more (paid, or ended by another process just now)."""
    ended = session.execute(
        update(Order)
        .where(col(Order.id) == order_id, col(Order.status) == OrderStatus.reserved.value)
        .values(status=OrderStatus.expired.value, ended_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(ended) != 1:
        return False
    for registration in order_registrations(session, order_id):
        released = session.execute(
            update(Registration)
            .where(
                col(Registration.id) == registration.id,
                col(Registration.status) == RegistrationStatus.reserved.value,
            )
            .values(status=RegistrationStatus.expired.value, cancelled_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(released) == 1:
            _give_place_back(session, registration)
    return True


def retake_places(session: Session, order: Order, now: datetime) -> bool:
    """Money arrived for an order whose hold had ended: take its places again if they are
    still free, all or none (a savepoint), and hold them as reserved again for pay_order.
    False when one is gone: the payment is then to be refunded."""
    registrations = [
        r
        for r in order_registrations(session, order.id or 0)
        if r.status == RegistrationStatus.expired.value
    ]
    try:
        with session.begin_nested():
            for registration in registrations:
                _take_place_again(session, registration, now)
                registration.status = RegistrationStatus.reserved.value
                registration.cancelled_at = None
                session.add(registration)
            order.status = OrderStatus.reserved.value
            order.ended_at = None
            session.add(order)
            session.flush()
    except SoldOut:
        for registration in registrations:
            session.refresh(registration)
        session.refresh(order)
        return False
    return True


def _take_place_again(session: Session, registration: Registration, now: datetime) -> None:
    """The place of a registration whose hold ended, and the use of its voucher, which went
    back with it. SoldOut when either has gone to someone else meanwhile."""
    voucher_id = registration.voucher_id
    if voucher_id is not None:
        if not redeem(session, voucher_id, now):
            raise SoldOut  # its voucher's last use (or its date) has gone
        if holds_its_places(session, voucher_id):
            return  # the place is one of the voucher's block
    take_places(session, registration.conference_id, registration.ticket_type_id)


def cancel_registration(db: Database, registration_id: int) -> bool:
    """Cancel a ticket and give its place back. False if it was already cancelled."""
    with db.transaction() as session:
        return cancel_in(session, registration_id)


def cancel_in(session: Session, registration_id: int) -> bool:
    """Cancelling, inside a caller's transaction."""
    cancelled = session.execute(
        update(Registration)
        .where(
            col(Registration.id) == registration_id,
            col(Registration.status).in_(HOLDING_PLACES),
        )
        .values(status=RegistrationStatus.cancelled.value, cancelled_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if rowcount(cancelled) != 1:
        return False
    registration = session.get(Registration, registration_id)
    assert registration is not None
    _give_place_back(session, registration)
    return True


def _give_place_back(session: Session, registration: Registration) -> None:
    _move_topup(session, registration, into_fund=False)
    if registration.voucher_id is not None and give_use_back(session, registration.voucher_id):
        return  # the place stays held, for the voucher's next holder
    give_places_back(session, registration.conference_id, registration.ticket_type_id)


def give_places_back(
    session: Session, conference_id: int, ticket_type_id: int, count: int = 1
) -> None:
    """`count` places of a ticket type go back to the pool, inside the caller's transaction."""
    session.execute(
        update(TicketType)
        .where(col(TicketType.id) == ticket_type_id)
        .values(places_taken=TicketType.places_taken - count)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Conference)
        .where(col(Conference.id) == conference_id)
        .values(places_taken=Conference.places_taken - count)
        .execution_options(synchronize_session=False)
    )


def _move_topup(session: Session, registration: Registration, *, into_fund: bool) -> None:
    """Put a registration's solidarity top-up into the fund, or take it out again.

    The fund (and so the free places it opens) counts only top-ups that were paid: a pledge
    nobody has paid opens no place. Idempotent: the registration remembers where its top-up is.
    """
    if registration.topup_in_fund == into_fund or not registration.solidarity_topup_cents:
        return
    change = registration.solidarity_topup_cents * (1 if into_fund else -1)
    session.execute(
        update(Conference)
        .where(col(Conference.id) == registration.conference_id)
        .values(solidarity_fund_cents=Conference.solidarity_fund_cents + change)
        .execution_options(synchronize_session=False)
    )
    registration.topup_in_fund = into_fund
    session.add(registration)


def set_payment_status(session: Session, registration: Registration, status: PaymentStatus) -> bool:
    """Record a payment decision (paid, waived, refunded, unpaid) inside the caller's
    transaction; a paid top-up joins the solidarity fund, a refunded one leaves it. False if
    nothing changed."""
    if registration.payment_status == status.value:
        return False
    registration.payment_status = status.value
    active = registration.status == RegistrationStatus.active.value
    _move_topup(session, registration, into_fund=active and status == PaymentStatus.paid)
    session.add(registration)
    return True
