"""How many places are left, per ticket type, counting the conference's overall capacity and
the solidarity fund."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from confapp.content import localized
from confapp.models import Conference, TicketType
from confapp.programme.queries import list_ticket_types
from confapp.registration.vouchers import VoucherTerms
from confapp.times import local_today


@dataclass(frozen=True)
class TicketOffer:
    ticket_type: TicketType
    places_left: int | None  # None: no limit
    # With a voucher for this type: its price with the voucher (for pay-what-you-can, the
    # least one may pay); None without one.
    voucher_price_cents: int | None = None

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


def ticket_offers(
    db: Session,
    conference: Conference,
    voucher: VoucherTerms | None = None,
    *,
    every_type: bool = False,
) -> list[TicketOffer]:
    """What may be bought now: every ticket type on public sale, with its places left, and
    those a voucher unlocks, at its price. `every_type`: also those sold only with a voucher
    (the desk sells them)."""
    offers = []
    for ticket_type in list_ticket_types(db, conference, on_sale_only=True):
        covered = voucher is not None and voucher.applies_to(ticket_type)
        if ticket_type.requires_voucher and not (covered or every_type):
            continue
        left = places_left(conference, ticket_type)
        if covered and voucher is not None and voucher.holds_places:
            left = voucher.uses_left  # its places were taken for it when it was made
        price = voucher.price_cents(ticket_type) if covered and voucher is not None else None
        offers.append(TicketOffer(localized(ticket_type), left, price))
    return offers
