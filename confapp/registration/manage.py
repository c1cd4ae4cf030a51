"""The attendee's own ticket page, reached by a secret link that only they hold.

The link is a random secret of its own, separate from the admission token in the QR code, so
whoever sees or photographs a ticket can do nothing with the attendee's record. Only a hash of
each secret is stored: a secret exists in the page shown right after registering and in each
mail, which gets a fresh one when it is built. Every secret of a registration keeps working
until the attendee's data is erased.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from confapp import urls
from confapp.content import localized
from confapp.models import (
    Conference,
    ManageLink,
    Registration,
    RegistrationStatus,
    TicketType,
)
from confapp.tickets.admission import admission_token
from confapp.tickets.tokens import display_code

SECRET_LENGTH = 43  # secrets.token_urlsafe(32)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_manage_secret(session: Session, registration_id: int) -> str:
    secret = secrets.token_urlsafe(32)
    session.add(ManageLink(registration_id=registration_id, secret_hash=_hash(secret)))
    session.flush()
    return secret


def forget_manage_secrets(session: Session, registration_id: int) -> None:
    session.execute(delete(ManageLink).where(col(ManageLink.registration_id) == registration_id))


def registration_for_secret(session: Session, secret: str) -> Registration | None:
    if len(secret) != SECRET_LENGTH:
        return None
    link = session.exec(select(ManageLink).where(ManageLink.secret_hash == _hash(secret))).first()
    if link is None:
        return None
    registration = session.get(Registration, link.registration_id)
    if registration is None or registration.erased_at is not None:
        return None
    return registration


@dataclass(frozen=True)
class Ticket:
    """A ticket as its holder sees it on their own page and in their mail."""

    registration: Registration
    ticket_type: TicketType
    conference: Conference
    token: str  # the admission token, for the QR code
    manage_secret: str

    @property
    def code(self) -> str:
        return display_code(self.registration.ticket_code)

    @property
    def cancelled(self) -> bool:
        return self.registration.status == RegistrationStatus.cancelled.value

    @property
    def reserved(self) -> bool:
        """A place held while it is paid for: no ticket to show at the door yet."""
        return self.registration.status == RegistrationStatus.reserved.value

    @property
    def expired(self) -> bool:
        """The hold ended unpaid: the place went back to the pool."""
        return self.registration.status == RegistrationStatus.expired.value

    @property
    def admits(self) -> bool:
        return self.registration.status == RegistrationStatus.active.value

    @property
    def path(self) -> str:
        """The holder's own page."""
        return urls.manage_path(self.manage_secret)

    @property
    def admission_path(self) -> str:
        """What the QR code holds."""
        return urls.ticket_path(self.token)


def load_ticket(session: Session, registration: Registration, manage_secret: str) -> Ticket:
    ticket_type = session.get(TicketType, registration.ticket_type_id)
    conference = session.get(Conference, registration.conference_id)
    assert ticket_type is not None and conference is not None
    token = admission_token(session, registration)
    # Shown to the attendee (page, mail): organisers' words in the language in force.
    return Ticket(registration, localized(ticket_type), localized(conference), token, manage_secret)


def ticket_for_secret(session: Session, secret: str) -> Ticket | None:
    registration = registration_for_secret(session, secret)
    if registration is None:
        return None
    return load_ticket(session, registration, secret)


def ticket_document(ticket: Ticket, origin: str) -> dict[str, Any]:
    """The ticket as JSON, for whoever just registered (the registration API's answer)."""
    registration = ticket.registration
    agenda_key = registration.agenda_key
    return {
        "code": ticket.code,
        "conference": ticket.conference.slug,
        "ticket_type": ticket.ticket_type.code,
        "amount_cents": registration.amount_cents,
        "solidarity_topup_cents": registration.solidarity_topup_cents,
        "currency": ticket.conference.currency,
        "payment_status": registration.payment_status,
        "status": registration.status,
        "url": urls.absolute(origin, ticket.admission_path),
        "manage_url": urls.absolute(origin, ticket.path),
        "qr_svg_url": urls.absolute(origin, urls.ticket_qr_path(ticket.token, "svg")),
        "qr_png_url": urls.absolute(origin, urls.ticket_qr_path(ticket.token, "png")),
        "agenda_feed_url": (
            urls.absolute(origin, urls.agenda_key_feed_path(agenda_key)) if agenda_key else None
        ),
    }
