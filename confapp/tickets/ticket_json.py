"""A ticket as JSON, for the registration API."""

from __future__ import annotations

from typing import Any

from confapp import urls
from confapp.tickets.ticket import Ticket


def ticket_document(ticket: Ticket, origin: str) -> dict[str, Any]:
    registration = ticket.registration
    return {
        "code": ticket.code,
        "conference": ticket.conference.slug,
        "ticket_type": ticket.ticket_type.code,
        "amount_cents": registration.amount_cents,
        "solidarity_topup_cents": registration.solidarity_topup_cents,
        "currency": ticket.conference.currency,
        "payment_status": registration.payment_status,
        "status": registration.status,
        "url": urls.absolute(origin, urls.ticket_path(ticket.token)),
        "qr_svg_url": urls.absolute(origin, urls.ticket_qr_path(ticket.token, "svg")),
        "qr_png_url": urls.absolute(origin, urls.ticket_qr_path(ticket.token, "png")),
        "agenda_feed_url": urls.absolute(origin, urls.agenda_feed_path(ticket.token)),
    }
