"""A ticket as the attendee sees it: its token, its URLs, and what it is for."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from confapp import urls
from confapp.models import Conference, Registration, RegistrationStatus, TicketType
from confapp.registration.service import find_registration
from confapp.tickets.keys import accepted_public_keys, signing_key_by_id
from confapp.tickets.tokens import (
    InvalidTicketToken,
    display_code,
    sign_ticket,
    verify_ticket_token,
)

# The token in the URL is the ticket: never leak it in a Referer header or to a search engine,
# and keep shared caches from storing the page.
PRIVATE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "private, no-cache",
}


@dataclass(frozen=True)
class Ticket:
    registration: Registration
    ticket_type: TicketType
    conference: Conference
    token: str

    @property
    def code(self) -> str:
        return display_code(self.registration.ticket_code)

    @property
    def cancelled(self) -> bool:
        return self.registration.status == RegistrationStatus.cancelled.value

    @property
    def path(self) -> str:
        return urls.ticket_path(self.token)


def ticket_token(session: Session, registration: Registration) -> str:
    key = signing_key_by_id(session, registration.signing_key_id)
    if key is None:
        raise InvalidTicketToken("this ticket's signing key was retired; re-issue the ticket")
    return sign_ticket(registration.ticket_code, key.key_id, key.private_key)


def load_ticket(session: Session, registration: Registration) -> Ticket:
    ticket_type = session.get(TicketType, registration.ticket_type_id)
    conference = session.get(Conference, registration.conference_id)
    assert ticket_type is not None and conference is not None
    return Ticket(registration, ticket_type, conference, ticket_token(session, registration))


def ticket_for_token(session: Session, token: str) -> Ticket | None:
    """The ticket a token names, or None when it is forged, unknown or erased."""
    try:
        verified = verify_ticket_token(token, accepted_public_keys(session))
    except InvalidTicketToken:
        return None
    registration = find_registration(session, verified.ticket_code)
    if registration is None or registration.erased_at is not None:
        return None
    return Ticket(
        registration,
        session.get(TicketType, registration.ticket_type_id),  # type: ignore[arg-type]
        session.get(Conference, registration.conference_id),  # type: ignore[arg-type]
        token,
    )
