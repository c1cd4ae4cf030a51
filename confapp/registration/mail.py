"""The attendee's mail: the confirmation with the ticket, the management link sent again, and
what paying brings: how to pay by transfer, a hold that ended unpaid, money given back.

Each message carries a management link made for it when it is built (only its hash is stored)
and the ticket's QR code inline; no more personal data than the name the person gave.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

from sqlmodel import Session

from confapp import urls
from confapp.content import localized
from confapp.mail_compose import InlineImage, compose_mail
from confapp.models import (
    Conference,
    Order,
    OrderStatus,
    OutboxMail,
    Payment,
    Refund,
    Registration,
    may_still_get_mail,
)
from confapp.outbox import Undeliverable, mail_builder
from confapp.registration.manage import Ticket, load_ticket, new_manage_secret
from confapp.registration.orders import (
    bank_details,
    display_reference,
    new_order_secret,
    payment_settings,
)
from confapp.registration.receipts import receipt_attachment, receipt_of_order
from confapp.settings import Settings
from confapp.tickets.qr import qr_png
from confapp.tickets.tokens import InvalidTicketToken

TICKET_MAIL = "ticket"
LINK_MAIL = "manage_link"
TRANSFER_MAIL = "transfer_details"  # how to pay an order by bank transfer
HOLD_ENDED_MAIL = "hold_ended"  # a place held for payment went back, unpaid
REFUNDED_MAIL = "payment_refunded"  # a payment came after its place had gone: money back
ORDER_PAID_MAIL = "order_paid"  # to a group's payer: paid, with the receipt and the order's page
# Mail about an order that may go to a group's payer (no registration), naming the order.
ORDER_MAIL_KINDS = (TRANSFER_MAIL, HOLD_ENDED_MAIL, ORDER_PAID_MAIL)


def _mail_ticket(
    session: Session, mail: OutboxMail, *, whatever_its_state: bool = False
) -> Ticket | None:
    """The ticket a mail is about; None once it may not get mail. With `whatever_its_state`
    (a payment mail) also a reserved or expired one: the person is told about it; None only
    once erased or with no address."""
    registration = session.get(Registration, mail.registration_id) if mail.registration_id else None
    if whatever_its_state:
        if registration is None or registration.erased_at is not None or not registration.email:
            return None
    elif not may_still_get_mail(registration, programme_mail=False):
        return None
    assert registration is not None and registration.id is not None
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
    message = ticket_message(ticket, settings.public_origin, settings.mail_from)
    receipt = receipt_attachment(session, ticket.registration)
    if receipt is not None:  # paid online: its receipt comes with the ticket
        _attach_pdf(message, *receipt)
    return message


def _attach_pdf(message: EmailMessage, filename: str, pdf: bytes) -> None:
    language = message["Content-Language"]
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
    # Attaching makes the message multipart/mixed and moves its headers down a level:
    # the language is the whole message's.
    del message["Content-Language"]
    message["Content-Language"] = language


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


@dataclass(frozen=True)
class _PaymentMailTo:
    """Whom a payment mail goes to: one attendee (their ticket's page), or a group's payer
    (the order's page)."""

    to: str
    name: str
    page_path: str
    conference: Conference
    status: str  # the registration's, or the order's


def _payment_mail_to(
    session: Session, mail: OutboxMail, order: Order | None
) -> _PaymentMailTo | None:
    if mail.registration_id is not None:
        ticket = _mail_ticket(session, mail, whatever_its_state=True)
        if ticket is None:
            return None
        registration = ticket.registration
        return _PaymentMailTo(
            registration.email,
            registration.name,
            ticket.path,
            ticket.conference,
            registration.status,
        )
    if order is None or order.id is None or not order.email:
        return None
    conference = session.get(Conference, order.conference_id)
    assert conference is not None
    path = urls.order_path(new_order_secret(session, order.id))
    return _PaymentMailTo(order.email, order.payer_name, path, localized(conference), order.status)


def _order_of_refund(session: Session, refund: Refund | None) -> Order | None:
    payment = session.get(Payment, refund.payment_id) if refund else None
    return session.get(Order, payment.order_id) if payment else None


@mail_builder(TRANSFER_MAIL)
def build_transfer_mail(
    session: Session, mail: OutboxMail, settings: Settings
) -> EmailMessage | None:
    order = session.get(Order, mail.reference_id) if mail.reference_id else None
    to = _payment_mail_to(session, mail, order)
    if to is None or order is None or order.status != OrderStatus.reserved.value:
        return None  # paid or ended before this went out: nothing to ask for any more
    details = bank_details(payment_settings(session, order.conference_id), order)
    return compose_mail(
        sender=settings.mail_from,
        to=to.to,
        kind=TRANSFER_MAIL,
        context={
            "conference": to.conference,
            "name": to.name,
            "bank": details,
            "manage_url": urls.absolute(settings.public_origin, to.page_path),
        },
    )


@mail_builder(HOLD_ENDED_MAIL)
def build_hold_ended_mail(
    session: Session, mail: OutboxMail, settings: Settings
) -> EmailMessage | None:
    order = session.get(Order, mail.reference_id) if mail.reference_id else None
    to = _payment_mail_to(session, mail, order)
    if to is None or to.status not in ("expired",):
        return None  # paid at the last moment after all
    return compose_mail(
        sender=settings.mail_from,
        to=to.to,
        kind=HOLD_ENDED_MAIL,
        context={
            "conference": to.conference,
            "name": to.name,
            "register_url": urls.absolute(
                settings.public_origin, urls.register_path(to.conference.slug)
            ),
        },
    )


@mail_builder(REFUNDED_MAIL)
def build_refunded_mail(
    session: Session, mail: OutboxMail, settings: Settings
) -> EmailMessage | None:
    refund = session.get(Refund, mail.reference_id) if mail.reference_id else None
    to = _payment_mail_to(session, mail, _order_of_refund(session, refund))
    if to is None or refund is None:
        return None
    return compose_mail(
        sender=settings.mail_from,
        to=to.to,
        kind=REFUNDED_MAIL,
        context={
            "conference": to.conference,
            "name": to.name,
            "refund": refund,
            "register_url": urls.absolute(
                settings.public_origin, urls.register_path(to.conference.slug)
            ),
        },
    )


@mail_builder(ORDER_PAID_MAIL)
def build_order_paid_mail(
    session: Session, mail: OutboxMail, settings: Settings
) -> EmailMessage | None:
    order = session.get(Order, mail.reference_id) if mail.reference_id else None
    to = _payment_mail_to(session, mail, order)
    if to is None or order is None or order.id is None:
        return None
    message = compose_mail(
        sender=settings.mail_from,
        to=to.to,
        kind=ORDER_PAID_MAIL,
        context={
            "conference": to.conference,
            "name": to.name,
            "order": order,
            "reference": display_reference(order.reference),
            "order_url": urls.absolute(settings.public_origin, to.page_path),
        },
    )
    receipt = receipt_of_order(session, order, None)
    if receipt is not None:
        _attach_pdf(message, receipt.filename, receipt.pdf())
    return message
