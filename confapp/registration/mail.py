"""The attendee's mail: the confirmation with the ticket, the management link sent again, and
what paying brings: how to pay by transfer, a hold that ended unpaid, money given back.

Each message carries a management link made for it when it is built (only its hash is stored)
and the ticket's QR code inline; no more personal data than the name the person gave.
"""

from __future__ import annotations

from email.message import EmailMessage

from sqlmodel import Session

from confapp import urls
from confapp.mail_compose import InlineImage, compose_mail
from confapp.models import Order, OutboxMail, Refund, Registration, may_still_get_mail
from confapp.outbox import Undeliverable, mail_builder
from confapp.registration.manage import Ticket, load_ticket, new_manage_secret
from confapp.registration.orders import bank_details, payment_settings
from confapp.settings import Settings
from confapp.tickets.qr import qr_png
from confapp.tickets.tokens import InvalidTicketToken

TICKET_MAIL = "ticket"
LINK_MAIL = "manage_link"
TRANSFER_MAIL = "transfer_details"  # how to pay an order by bank transfer
HOLD_ENDED_MAIL = "hold_ended"  # a place held for payment went back, unpaid
REFUNDED_MAIL = "payment_refunded"  # a payment came after its place had gone: money back


def _mail_ticket(session: Session, mail: OutboxMail) -> Ticket | None:
    registration = session.get(Registration, mail.registration_id) if mail.registration_id else None
    if not may_still_get_mail(registration, programme_mail=False) or registration.id is None:
        return None
    try:
        return load_ticket(session, registration, new_manage_secret(session, registration.id))
    except InvalidTicketToken as exc:
        raise Undeliverable(f"the ticket cannot be shown: {exc}") from exc


@mail_builder(TICKET_MAIL)
def build_ticket_mail(
    session: Session, mail: OutboxMail, settings: Settings
) -> EmailMessage | None:
    ticket = _mail_ticket(session, mail)
    if ticket is None:
        return None
    return ticket_message(ticket, settings.public_origin, settings.mail_from)


@mail_builder(LINK_MAIL)
def build_link_mail(session: Session, mail: OutboxMail, settings: Settings) -> EmailMessage | None:
    ticket = _mail_ticket(session, mail)
    if ticket is None:
        return None
    return ticket_message(ticket, settings.public_origin, settings.mail_from, again=True)


def ticket_message(
    ticket: Ticket, origin: str, sender: str, *, again: bool = False
) -> EmailMessage:
    """The ticket mail (templates/mail/ticket.*), or with `again` the link sent again
    (templates/mail/manage_link.*): text and HTML, the QR code inline in the HTML."""
    qr = InlineImage("qr", qr_png(urls.absolute(origin, ticket.admission_path)), "ticket.png")
    return compose_mail(
        sender=sender,
        to=ticket.registration.email,
        kind=LINK_MAIL if again else TICKET_MAIL,
        context={
            "conference": ticket.conference,
            "registration": ticket.registration,
            "ticket": ticket,
            "manage_url": urls.absolute(origin, ticket.path),
        },
        images=[qr],
    )


def _order_mail_ticket(session: Session, mail: OutboxMail) -> Ticket | None:
    """The ticket a payment mail is about, whatever its state now (reserved, expired): the
    person is told about it. None once erased or with no address."""
    registration = session.get(Registration, mail.registration_id) if mail.registration_id else None
    if registration is None or registration.erased_at is not None or not registration.email:
        return None
    assert registration.id is not None
    try:
        return load_ticket(session, registration, new_manage_secret(session, registration.id))
    except InvalidTicketToken as exc:
        raise Undeliverable(f"the ticket cannot be shown: {exc}") from exc


@mail_builder(TRANSFER_MAIL)
def build_transfer_mail(
    session: Session, mail: OutboxMail, settings: Settings
) -> EmailMessage | None:
    ticket = _order_mail_ticket(session, mail)
    order = session.get(Order, mail.reference_id) if mail.reference_id else None
    if ticket is None or order is None or order.status != "reserved":
        return None  # paid or ended before this went out: nothing to ask for any more
    details = bank_details(payment_settings(session, order.conference_id), order)
    return compose_mail(
        sender=settings.mail_from,
        to=ticket.registration.email,
        kind=TRANSFER_MAIL,
        context={
            "conference": ticket.conference,
            "registration": ticket.registration,
            "ticket": ticket,
            "bank": details,
            "manage_url": urls.absolute(settings.public_origin, ticket.path),
        },
    )


@mail_builder(HOLD_ENDED_MAIL)
def build_hold_ended_mail(
    session: Session, mail: OutboxMail, settings: Settings
) -> EmailMessage | None:
    ticket = _order_mail_ticket(session, mail)
    if ticket is None or ticket.registration.status != "expired":
        return None  # paid at the last moment after all
    return compose_mail(
        sender=settings.mail_from,
        to=ticket.registration.email,
        kind=HOLD_ENDED_MAIL,
        context={
            "conference": ticket.conference,
            "registration": ticket.registration,
            "register_url": urls.absolute(
                settings.public_origin, urls.register_path(ticket.conference.slug)
            ),
        },
    )


@mail_builder(REFUNDED_MAIL)
def build_refunded_mail(
    session: Session, mail: OutboxMail, settings: Settings
) -> EmailMessage | None:
    ticket = _order_mail_ticket(session, mail)
    refund = session.get(Refund, mail.reference_id) if mail.reference_id else None
    if ticket is None or refund is None:
        return None
    return compose_mail(
        sender=settings.mail_from,
        to=ticket.registration.email,
        kind=REFUNDED_MAIL,
        context={
            "conference": ticket.conference,
            "registration": ticket.registration,
            "refund": refund,
            "register_url": urls.absolute(
                settings.public_origin, urls.register_path(ticket.conference.slug)
            ),
        },
    )
