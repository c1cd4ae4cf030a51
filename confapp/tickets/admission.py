"""Admission: which registration a scanned token or typed code stands for, and which tickets
no longer admit anyone (for door devices that go offline).

This is all a QR code unlocks: it proves a place at one conference. The attendee's own page
(name, agenda, cancel, erase) hangs off a separate secret, in confapp/registration/manage.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from confapp.models import REFUSED_AT_DOOR, Conference, Registration
from confapp.tickets.keys import accepted_public_keys, signing_key_by_id
from confapp.tickets.tokens import (
    InvalidTicketToken,
    normalise_ticket_code,
    sign_ticket,
    verify_ticket_token,
)


@dataclass(frozen=True)
class Admission:
    """What a valid admission token stands for."""

    registration: Registration
    conference: Conference
    token: str
    legacy: bool  # a version-1 token, issued before tokens named their conference

    @property
    def cancelled(self) -> bool:
        """Cancelled, or a place held for payment that was never paid: it admits nobody."""
        return self.registration.status in REFUSED_AT_DOOR


def registration_by_code(session: Session, ticket_code: str) -> Registration | None:
    return session.exec(select(Registration).where(Registration.ticket_code == ticket_code)).first()


def admission_token(session: Session, registration: Registration) -> str:
    """The token the ticket's QR code carries (the same every time: Ed25519 is deterministic)."""
    key = signing_key_by_id(session, registration.signing_key_id)
    if key is None:
        raise InvalidTicketToken("this ticket's signing key was retired; re-issue the ticket")
    return sign_ticket(
        registration.ticket_code, registration.conference_id, key.key_id, key.private_key
    )


def admission_for_token(session: Session, token: str) -> Admission | None:
    """The ticket a token names, or None when it is forged, unknown, erased or names a
    conference other than the registration's."""
    try:
        verified = verify_ticket_token(token, accepted_public_keys(session))
    except InvalidTicketToken:
        return None
    registration = registration_by_code(session, verified.ticket_code)
    if registration is None or registration.erased_at is not None:
        return None
    if verified.conference_id is not None and verified.conference_id != registration.conference_id:
        return None
    conference = session.get(Conference, registration.conference_id)
    assert conference is not None
    return Admission(registration, conference, token, legacy=verified.conference_id is None)


@dataclass(frozen=True)
class Revocations:
    codes: list[str]
    last_changed: datetime | None


def revoked_tickets(session: Session, conference_id: int) -> Revocations:
    """The conference's tickets that must not admit anyone: cancelled or erased."""
    rows = session.exec(
        select(Registration.ticket_code, Registration.cancelled_at, Registration.erased_at)
        .where(
            Registration.conference_id == conference_id,
            or_(
                col(Registration.status).in_(REFUSED_AT_DOOR),
                col(Registration.erased_at).is_not(None),
            ),
        )
        .order_by(Registration.ticket_code)
    ).all()
    changes = [moment for _, cancelled, erased in rows for moment in (cancelled, erased) if moment]
    # Tickets erased before codes were kept had theirs replaced by a random non-code: skip those.
    codes = [code for code, _, _ in rows if normalise_ticket_code(code) == code]
    return Revocations(codes, max(changes, default=None))
