"""Vouchers: codes that unlock tickets not on public sale (speakers, volunteers, press), change
what a ticket costs, or hold a block of places (a union branch's fifty delegates).

How a voucher is never used more often than it may be: redeeming is one conditional UPDATE,
`uses = uses + 1 WHERE uses < max_uses AND not withdrawn AND not past valid_until`, in the
same transaction as the registration it is for (as places are taken: confapp.registration.
service). One that matches no row means used up, and the registration is rolled back whole.

A voucher that holds places took them all when it was made (the same race-proof counters
places use), so its holders find their places whatever the public buys; each use turns one
held place into a ticket. A registration made with it that is cancelled gives its place back
to the voucher while the voucher runs; once the voucher ends (withdrawn, or past its date),
its unused places go back to the pool, once across processes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from babel.numbers import format_decimal
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from confapp.db import rowcount
from confapp.models import TicketKind, TicketType, Voucher, VoucherEffect
from confapp.money import format_money
from confapp.translation import N_, _, babel_locale

if TYPE_CHECKING:
    from confapp.registration.places import TicketOffer

# No 0/O, 1/I/L: a code is read off a screen or a printed sheet and typed in.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
MAX_CODE_CHARS = 40
MOST_AT_ONCE = 500  # vouchers made in one go
NO_SUCH_VOUCHER = N_("There is no such voucher code. Check it, or leave the field empty.")


def new_voucher_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_voucher_code(typed: str) -> str:
    """As typed, read aloud or pasted ("  cfmeu-2027 "): upper case, no spaces."""
    return "".join(typed.split()).upper()


@dataclass(frozen=True)
class VoucherTerms:
    """What a voucher does, as the registration form applies it (no database needed)."""

    voucher_id: int
    code: str
    ticket_type_ids: frozenset[int]  # empty: any ticket type on public sale
    effect: str  # a VoucherEffect
    value: int  # cents for set_price and minus_amount; basis points for minus_percent
    holds_places: bool
    uses_left: int

    def applies_to(self, ticket_type: TicketType) -> bool:
        if self.ticket_type_ids:
            return ticket_type.id in self.ticket_type_ids
        return not ticket_type.requires_voucher

    def price_cents(self, ticket_type: TicketType) -> int:
        """The fixed price with the voucher (or, for pay-what-you-can, the least one may
        pay)."""
        base = (
            ticket_type.price_cents
            if ticket_type.kind == TicketKind.fixed.value
            else ticket_type.min_price_cents
        )
        if ticket_type.kind == TicketKind.free.value:
            return 0
        if self.effect == VoucherEffect.free.value:
            return 0
        if self.effect == VoucherEffect.set_price.value:
            return self.value
        if self.effect == VoucherEffect.minus_amount.value:
            return max(0, base - self.value)
        if self.effect == VoucherEffect.minus_percent.value:
            return max(0, base - round(base * self.value / 10_000))
        return base


def terms_of(voucher: Voucher) -> VoucherTerms:
    assert voucher.id is not None
    return VoucherTerms(
        voucher_id=voucher.id,
        code=voucher.code,
        ticket_type_ids=frozenset(voucher.ticket_type_ids),
        effect=voucher.effect,
        value=voucher.value,
        holds_places=voucher.holds_places,
        uses_left=voucher.max_uses - voucher.uses,
    )


class VoucherUsedUp(Exception):
    """The voucher was used up (or ended) between the form's check and the registration."""


class VoucherRefused(Exception):
    """The code cannot be used now; the message says why, for the voucher field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def voucher_is_running(voucher: Voucher, now: datetime) -> bool:
    return voucher.withdrawn_at is None and (
        voucher.valid_until is None or voucher.valid_until > now
    )


def find_voucher(session: Session, conference_id: int, typed: str) -> Voucher | None:
    code = normalise_voucher_code(typed)
    if not code or len(code) > MAX_CODE_CHARS:
        return None
    return session.exec(
        select(Voucher).where(Voucher.conference_id == conference_id, Voucher.code == code)
    ).first()


def redeem(session: Session, voucher_id: int, now: datetime) -> bool:
    """Use the voucher once, inside the registration's transaction; False when it is used up,
    withdrawn or past its date (the caller rolls the registration back)."""
    used = session.execute(
        update(Voucher)
        .where(
            col(Voucher.id) == voucher_id,
            col(Voucher.uses) < col(Voucher.max_uses),
            col(Voucher.withdrawn_at).is_(None),
            or_(col(Voucher.valid_until).is_(None), col(Voucher.valid_until) > now),
        )
        .values(uses=Voucher.uses + 1)
        .execution_options(synchronize_session=False)
    )
    return rowcount(used) == 1


def give_use_back(session: Session, voucher_id: int) -> bool:
    """A registration made with the voucher was cancelled (or its payment hold ended): the
    use is given back. True when the voucher holds places not yet released: then the place
    stays taken, for the voucher's next holder; else it goes back to the pool."""
    session.execute(
        update(Voucher)
        .where(col(Voucher.id) == voucher_id, col(Voucher.uses) > 0)
        .values(uses=Voucher.uses - 1)
        .execution_options(synchronize_session=False)
    )
    return holds_its_places(session, voucher_id)


def holds_its_places(session: Session, voucher_id: int) -> bool:
    """Whether the voucher's unused places are still counted as taken. Until they are
    released (withdrawn, or past its date and released by housekeeping), a use given back
    keeps its place in the block, and a use taken needs no place of the pool."""
    voucher = session.get(Voucher, voucher_id)
    if voucher is None:
        return False
    session.refresh(voucher)
    return voucher.holds_places and voucher.places_released_at is None


def voucher_for_form(
    session: Session, conference_id: int, typed: str, now: datetime
) -> tuple[VoucherTerms | None, str]:
    """The voucher a person typed, or why it cannot be used (for the voucher field): ("", no
    voucher) when the field is empty. Whether a use is left is checked again, race-proof,
    when registering."""
    if not typed.strip():
        return None, ""
    voucher = find_voucher(session, conference_id, typed)
    if voucher is None or voucher.withdrawn_at is not None:
        return None, _(NO_SUCH_VOUCHER)
    if voucher.valid_until is not None and voucher.valid_until <= now:
        return None, _("This voucher code has expired.")
    if voucher.uses >= voucher.max_uses:
        return None, _("This voucher code has been used up.")
    return terms_of(voucher), ""


def used_up_message() -> str:
    return _("This voucher code was used up just now.")


def describe_voucher(voucher: VoucherTerms, offers: list[TicketOffer], currency: str) -> str:
    """What the code does, in words, for the form: "With this code, Delegate is free."."""
    names = ", ".join(o.ticket_type.name for o in offers if o.voucher_price_cents is not None)
    if not names:
        return _("This code is for no ticket on sale now.")
    words = {
        VoucherEffect.free.value: _("With this code, %(tickets)s is free."),
        VoucherEffect.set_price.value: _("With this code, %(tickets)s costs %(price)s."),
        VoucherEffect.minus_amount.value: _("With this code, %(amount)s off %(tickets)s."),
        VoucherEffect.minus_percent.value: _("With this code, %(percent)s%% off %(tickets)s."),
    }.get(voucher.effect, _("This code opens %(tickets)s."))
    sentence = words % {
        "tickets": names,
        "price": format_money(voucher.value, currency),
        "amount": format_money(voucher.value, currency),
        "percent": format_decimal(voucher.value / 100, locale=babel_locale()),
    }
    if voucher.holds_places:
        sentence += " " + _("A place is kept for it.")
    return sentence
