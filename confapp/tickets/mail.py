"""The confirmation mail: the ticket link and the QR code inline, no more personal data than
the name the person gave."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from html import escape as _escape

from confapp import urls
from confapp.money import format_money
from confapp.templating import day_range
from confapp.tickets.qr import qr_png
from confapp.tickets.ticket import Ticket


def ticket_message(ticket: Ticket, origin: str, sender: str) -> EmailMessage:
    conference = ticket.conference
    registration = ticket.registration
    ticket_url = urls.absolute(origin, ticket.path)
    when = day_range(conference.start_date, conference.end_date)
    price = (
        format_money(registration.amount_cents, conference.currency)
        if registration.amount_cents
        else "free"
    )

    message = EmailMessage()
    message["Subject"] = f"Your ticket for {conference.name}"
    message["From"] = sender
    message["To"] = registration.email
    message["Auto-Submitted"] = "auto-generated"
    qr_cid = make_msgid(domain="confapp.invalid")

    text = (
        f"Hello {registration.name},\n\n"
        f"You are registered for {conference.name}, {when}, at {conference.venue}.\n\n"
        f"Your ticket: {ticket.ticket_type.name} ({price}), code {ticket.code}.\n"
        f"Show this page (or the QR code attached) at the door:\n{ticket_url}\n\n"
        "Keep the link to yourself: anyone with it can use or cancel your ticket. "
        "You can cancel from that page too, and your place goes to someone else.\n\n"
        f"See you there,\nthe {conference.name} organisers\n"
    )
    message.set_content(text)
    html = (
        f"<p>Hello {_escape(registration.name)},</p>"
        f"<p>You are registered for <strong>{_escape(conference.name)}</strong>, {when}, at "
        f"{_escape(conference.venue)}.</p>"
        f'<p><img src="cid:{qr_cid[1:-1]}" alt="Your ticket QR code" width="240" height="240"></p>'
        f"<p>{_escape(ticket.ticket_type.name)} ({price}), code <strong>{ticket.code}</strong>.<br>"
        f'<a href="{_escape(ticket_url)}">Open your ticket</a> and show it at the door.</p>'
        "<p>Keep the link to yourself: anyone with it can use or cancel your ticket.</p>"
    )
    message.add_alternative(html, subtype="html")
    png = qr_png(ticket_url)
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
