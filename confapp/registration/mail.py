"""The attendee's mail: the confirmation with the ticket, and the management link sent again.

Each message carries a management link made for it when it is built (only its hash is stored)
and the ticket's QR code inline; no more personal data than the name the person gave.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from html import escape as _escape

from sqlmodel import Session

from confapp import urls
from confapp.models import OutboxMail, Registration, RegistrationStatus
from confapp.money import format_money
from confapp.outbox import Undeliverable, mail_builder
from confapp.registration.manage import Ticket, load_ticket, new_manage_secret
from confapp.settings import Settings
from confapp.templating import day_range
from confapp.tickets.qr import qr_png
from confapp.tickets.tokens import InvalidTicketToken

TICKET_MAIL = "ticket"
LINK_MAIL = "manage_link"


def _one_line(text: str) -> str:
    """Header values must not carry line breaks (a conference name could)."""
    return " ".join(text.split())


def _mail_ticket(session: Session, mail: OutboxMail) -> Ticket | None:
    registration = session.get(Registration, mail.registration_id) if mail.registration_id else None
    if (
        registration is None
        or registration.id is None
        or registration.erased_at is not None
        or registration.status != RegistrationStatus.active.value
        or not registration.email
    ):
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
    conference = ticket.conference
    registration = ticket.registration
    manage_url = urls.absolute(origin, ticket.path)
    admission_url = urls.absolute(origin, ticket.admission_path)
    when = day_range(conference.start_date, conference.end_date)
    price = (
        format_money(registration.amount_cents, conference.currency)
        if registration.amount_cents
        else "free"
    )

    message = EmailMessage()
    subject = "Your ticket link" if again else "Your ticket"
    message["Subject"] = _one_line(f"{subject} for {conference.name}")
    message["From"] = sender
    message["To"] = registration.email
    message["Auto-Submitted"] = "auto-generated"
    qr_cid = make_msgid(domain="confapp.invalid")

    opening = (
        "Here is the link to your ticket again, as asked."
        if again
        else f"You are registered for {conference.name}, {when}, at {conference.venue}."
    )
    text = (
        f"Hello {registration.name},\n\n{opening}\n\n"
        f"Your ticket: {ticket.ticket_type.name} ({price}), code {ticket.code}.\n"
        "Show the QR code attached at the door (or the ticket page below).\n\n"
        f"Your ticket page, to see your ticket, your agenda, or cancel:\n{manage_url}\n\n"
        "Keep that link to yourself: it opens your details and lets you cancel. The QR code "
        "only gets you in; it shows nobody your name.\n\n"
        f"See you there,\nthe {conference.name} organisers\n"
    )
    message.set_content(text)
    html = (
        f"<p>Hello {_escape(registration.name)},</p>"
        f"<p>{_escape(opening)}</p>"
        f'<p><img src="cid:{qr_cid[1:-1]}" alt="Your ticket QR code" width="240" height="240"></p>'
        f"<p>{_escape(ticket.ticket_type.name)} ({price}), code <strong>{ticket.code}</strong>. "
        "Show the QR code at the door.</p>"
        f'<p><a href="{_escape(manage_url)}">Open your ticket page</a> to see your ticket and '
        "agenda, or to cancel.</p>"
        "<p>Keep that link to yourself: it opens your details and lets you cancel. The QR code "
        "only gets you in.</p>"
    )
    message.add_alternative(html, subtype="html")
    png = qr_png(admission_url)
    html_part = message.get_payload()[1]
    html_part.add_related(
        png,
        maintype="image",
        subtype="png",
        cid=qr_cid,
        filename="ticket.png",
        disposition="inline",
    )
    return message
