"""How many places are left, per ticket type, counting the conference's overall capacity and
the solidarity fund."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from confapp.content import localized
from confapp.models import Conference, TicketType
from confapp.programme.queries import list_ticket_types
from confapp.times import local_today


@dataclass(frozen=True)
class TicketOffer:
    ticket_type: TicketType
    places_left: int | None  # None: no limit

    @property
    def code(self) -> str:
        return self.ticket_type.code

    @property
    def sold_out(self) -> bool:
        return self.places_left is not None and self.places_left <= 0


def registration_is_open(conference: Conference, now: datetime | None = None) -> bool:
    """Online registration is open while the organisers keep it open and the conference's last
    day is not over (in its own zone)."""
    return conference.registration_open and local_today(conference.timezone, now) <= (
        conference.end_date
    )


def funded_pool_places(conference: Conference) -> int:
    if not conference.solidarity_place_cents:
        return 0
    return conference.solidarity_fund_cents // conference.solidarity_place_cents


def places_left(conference: Conference, ticket_type: TicketType) -> int | None:
    limits: list[int] = []
    if ticket_type.capacity is not None:
        limits.append(ticket_type.capacity - ticket_type.places_taken)
    if conference.capacity is not None:
        limits.append(conference.capacity - conference.places_taken)
    if ticket_type.from_solidarity_pool:
        limits.append(funded_pool_places(conference) - ticket_type.places_taken)
    return max(0, min(limits)) if limits else None


def ticket_offers(db: Session, conference: Conference) -> list[TicketOffer]:
    """What may be bought now: every ticket type on sale, with its places left."""
    return [
        TicketOffer(localized(t), places_left(conference, t))
        for t in list_ticket_types(db, conference, on_sale_only=True)
    ]
