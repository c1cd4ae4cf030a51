"""The attendee's mail: the confirmation with the ticket, and the management link sent again.

Each message carries a management link made for it when it is built (only its hash is stored)
and the ticket's QR code inline; no more personal data than the name the person gave.
"""

from __future__ import annotations

from email.message import EmailMessage

from sqlmodel import Session

from confapp import urls
from confapp.mail_compose import InlineImage, compose_mail
from confapp.models import OutboxMail, Registration, may_still_get_mail
from confapp.outbox import Undeliverable, mail_builder
from confapp.registration.manage import Ticket, load_ticket, new_manage_secret
from confapp.settings import Settings
from confapp.tickets.qr import qr_png
from confapp.tickets.tokens import InvalidTicketToken

TICKET_MAIL = "ticket"
LINK_MAIL = "manage_link"


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
