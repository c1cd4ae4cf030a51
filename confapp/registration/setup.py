"""Registration settings and ticket types as organisers change them in the back office: open or
close online registration, the conference's capacity, the second-factor rule, and ticket types
(create, edit, hide, show). Plain functions over the database; each change is audited.

A capacity is lowered with one conditional UPDATE (`... WHERE places_taken <= new capacity`), so
a registration arriving at the same moment can never leave more places taken than there are: the
change is refused instead, and the organiser is told how many places are already taken.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict

from babel.numbers import format_decimal
from sqlalchemy import func, true, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from confapp.accounts.audit import record
from confapp.accounts.service import Principal
from confapp.db import Database, rowcount
from confapp.models import Conference, TicketKind, TicketType
from confapp.money import format_money
from confapp.programme import records
from confapp.programme.queries import NotFound
from confapp.programme.records import MAX_PLACES
from confapp.registration.form import NotAnAmount, parse_amount
from confapp.request_body import character_problem
from confapp.times import utcnow
from confapp.translation import N_, _, babel_locale, ngettext

SETTINGS_FIELDS = ("registration", "capacity", "second_factor")
TICKET_TYPE_FIELDS = (
    "code",
    "name",
    "description",
    "kind",
    "price",
    "min_price",
    "suggested_price",
    "capacity",
    "from_solidarity_pool",
    "requires_voucher",
)
KIND_CHOICES = records.TICKET_KINDS
# The conference file's bound on a price ($1,000,000), which keeps cents within 32 bits.
MAX_PRICE_CENTS = records.MAX_PRICE * 100
MAX_DESCRIPTION_CHARS = records.MAX_TEXT
_CODE = re.compile(records.SLUG_PATTERN)
MAX_CODE_CHARS = records.longest(records.TicketTypeFields, "code")
MAX_NAME_CHARS = records.longest(records.TicketTypeFields, "name")
# Paths under a ticket type's address that a code must not shadow.
RESERVED_CODES = records.TAKEN_BY_PAGES
_YES = {"yes", "on", "true", "1"}


class CapacityTooLow(Exception):
    """The capacity asked for is below the places already taken."""

    def __init__(self, places_taken: int) -> None:
        super().__init__(f"{places_taken} places are already taken")
        self.places_taken = places_taken


class CodeTaken(Exception):
    """Another ticket type of this conference has the code."""


def capacity_too_low_message(places_taken: int) -> str:
    return ngettext(
        "%(count)d place is already taken: the capacity cannot be lower. "
        "Cancel registrations first, or choose a higher number.",
        "%(count)d places are already taken: the capacity cannot be lower. "
        "Cancel registrations first, or choose a higher number.",
        places_taken,
    ) % {"count": places_taken}


def _number(value: int) -> str:
    """A count as the reader's language writes it ("1,000,000" in English)."""
    return format_decimal(value, locale=babel_locale())


def _no_ticket_type(code: str) -> NotFound:
    return NotFound(_("This conference has no ticket type “%(code)s”.") % {"code": code})


# ---- reading the forms ------------------------------------------------------------------------


def _places(text: str, *, least: int) -> int | None:
    """A number of places from ASCII digits, within least..MAX_PLACES; None if it is not one."""
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 7):
        return None
    number = int(text)
    return number if least <= number <= MAX_PLACES else None


def _capacity(
    form: Mapping[str, str], errors: dict[str, str], *, least: int, places_taken: int
) -> int | None:
    """An optional capacity (blank: no limit), checked against the places already taken."""
    typed = form.get("capacity", "").strip()
    if not typed:
        return None
    capacity = _places(typed, least=least)
    if capacity is None:
        errors["capacity"] = _(
            "Enter a whole number of places from %(least)s to %(most)s, "
            "or leave it empty for no limit."
        ) % {"least": _number(least), "most": _number(MAX_PLACES)}
    elif capacity < places_taken:
        errors["capacity"] = capacity_too_low_message(places_taken)
    return capacity


@dataclass(frozen=True)
class RegistrationSettings:
    registration_open: bool
    capacity: int | None
    second_factor_required: bool


def settings_values(conference: Conference) -> dict[str, str]:
    """The settings form filled in from the conference."""
    return {
        "registration": "open" if conference.registration_open else "closed",
        "capacity": "" if conference.capacity is None else str(conference.capacity),
        "second_factor": "required" if conference.second_factor_required else "optional",
    }


def check_settings(
    form: Mapping[str, str], conference: Conference, actor: Principal
) -> tuple[RegistrationSettings | None, dict[str, str]]:
    errors: dict[str, str] = {}
    registration = form.get("registration", "")
    if registration not in ("open", "closed"):
        errors["registration"] = _("Choose whether online registration is open or closed.")
    capacity = _capacity(form, errors, least=1, places_taken=conference.places_taken)
    second_factor = form.get("second_factor", "")
    if second_factor not in ("required", "optional"):
        errors["second_factor"] = _("Choose whether a second factor is required or optional.")
    elif (
        second_factor == "required"
        and not conference.second_factor_required
        and actor.session_id_hash is not None
        and not actor.has_second_factor
    ):
        # Otherwise the rule would lock the organiser who set it out of this very page.
        errors["second_factor"] = _(
            "Set up a second factor for your own account first (under My account); "
            "then you can require one of everyone."
        )
    if errors:
        return None, errors
    return RegistrationSettings(registration == "open", capacity, second_factor == "required"), {}


class TicketTypeValues(TypedDict):
    """A ticket type's columns as a TicketTypeChoice sets them."""

    name: str
    description: str
    kind: str
    price_cents: int
    min_price_cents: int
    suggested_price_cents: int | None
    capacity: int | None
    from_solidarity_pool: bool
    requires_voucher: bool
    translations: records.Translations


# What the ticket type form calls the fields given per language.
TRANSLATED_LABELS = {"name": N_("Name attendees see"), "description": N_("Description")}


@dataclass(frozen=True)
class TicketTypeChoice:
    """A ticket type as the organiser wants it (all but its code)."""

    name: str
    description: str
    kind: str
    price_cents: int
    min_price_cents: int
    suggested_price_cents: int | None
    capacity: int | None
    from_solidarity_pool: bool
    requires_voucher: bool = False
    # Its name and description in the conference's other languages.
    translations: records.Translations = field(default_factory=dict)

    def as_values(self) -> TicketTypeValues:
        return {
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "price_cents": self.price_cents,
            "min_price_cents": self.min_price_cents,
            "suggested_price_cents": self.suggested_price_cents,
            "capacity": self.capacity,
            "from_solidarity_pool": self.from_solidarity_pool,
            "requires_voucher": self.requires_voucher,
            "translations": self.translations,
        }


def _amount_text(cents: int | None) -> str:
    if cents is None:
        return ""
    return f"{cents // 100}" if cents % 100 == 0 else f"{cents // 100}.{cents % 100:02d}"


def ticket_type_form_fields() -> records.FormFields:
    """The names the ticket type form may send, its per-language fields included."""
    return records.FormFields(TICKET_TYPE_FIELDS, TicketType.TRANSLATED)


def typed_ticket_type(form: Mapping[str, str], conference: Conference) -> dict[str, str]:
    """What was typed in the ticket type form, to show it again."""
    names = (
        *TICKET_TYPE_FIELDS,
        *records.translation_keys(TicketType.TRANSLATED, conference.other_languages()),
    )
    return {name: form.get(name, "") for name in names}


def ticket_type_values(ticket_type: TicketType | None, conference: Conference) -> dict[str, str]:
    """The ticket type form filled in from a ticket type (or empty, for a new one)."""
    languages = conference.other_languages()
    if ticket_type is None:
        keys = records.translation_keys(TicketType.TRANSLATED, languages)
        return {name: "" for name in (*TICKET_TYPE_FIELDS, *keys)} | {
            "kind": TicketKind.fixed.value
        }
    kind = ticket_type.kind
    return records.translation_values(ticket_type, languages) | {
        "code": ticket_type.code,
        "name": ticket_type.name,
        "description": ticket_type.description,
        "kind": kind,
        "price": _amount_text(ticket_type.price_cents) if kind == TicketKind.fixed else "",
        "min_price": _amount_text(ticket_type.min_price_cents)
        if kind == TicketKind.pay_what_you_can
        else "",
        "suggested_price": _amount_text(ticket_type.suggested_price_cents)
        if kind == TicketKind.pay_what_you_can
        else "",
        "capacity": "" if ticket_type.capacity is None else str(ticket_type.capacity),
        "from_solidarity_pool": "yes" if ticket_type.from_solidarity_pool else "",
        "requires_voucher": "yes" if ticket_type.requires_voucher else "",
    }


def _money(
    form: Mapping[str, str], field: str, errors: dict[str, str], *, required: str | None
) -> int | None:
    typed = form.get(field, "").strip()
    if not typed:
        if required:
            errors[field] = required
        return None
    try:
        cents = parse_amount(typed)
    except NotAnAmount as mistake:
        errors[field] = mistake.hint or _("Enter an amount like 40 or 42.50.")
        return None
    if cents > MAX_PRICE_CENTS:
        errors[field] = _("Enter at most %(amount)s.") % {"amount": format_money(MAX_PRICE_CENTS)}
        return None
    return cents


def check_code(typed: str, taken: set[str]) -> tuple[str, str | None]:
    """A new ticket type's code, and what is wrong with it (or None)."""
    code = typed.strip()
    if not code:
        return code, _("Give the ticket type a short code, like waged or concession.")
    if not _CODE.fullmatch(code) or len(code) > MAX_CODE_CHARS:
        return code, _(
            "Use lower-case letters, digits and hyphens only (up to 40), starting with a letter "
            "or digit, like pay-what-you-can."
        )
    if code in RESERVED_CODES:
        return code, _(
            "“%(code)s” is kept for the back office's own pages; choose another code."
        ) % {"code": code}
    if code in taken:
        return code, _("Another ticket type already has this code.")
    return code, None


def check_ticket_type(
    form: Mapping[str, str], conference: Conference, places_taken: int = 0
) -> tuple[TicketTypeChoice | None, dict[str, str]]:
    """A ticket type's fields (not its code) as the organiser typed them, or a message per
    field. `places_taken`: how many of this type are already sold, for its capacity."""
    errors: dict[str, str] = {}
    name = " ".join(form.get("name", "").split())
    if problem := character_problem(form.get("name", ""), allowed_controls=""):
        errors["name"] = problem
    elif not name:
        errors["name"] = _("Give the ticket type a name attendees will understand, like Waged.")
    elif len(name) > MAX_NAME_CHARS:
        errors["name"] = ngettext(
            "Keep the name under %(count)s character.",
            "Keep the name under %(count)s characters.",
            MAX_NAME_CHARS,
        ) % {"count": _number(MAX_NAME_CHARS)}
    description = form.get("description", "").replace("\r\n", "\n").strip()
    if len(description) > MAX_DESCRIPTION_CHARS:
        errors["description"] = ngettext(
            "Keep the description under %(count)s character.",
            "Keep the description under %(count)s characters.",
            MAX_DESCRIPTION_CHARS,
        ) % {"count": _number(MAX_DESCRIPTION_CHARS)}

    kind = form.get("kind", "")
    price = min_price = suggested = None
    if kind not in KIND_CHOICES:
        errors["kind"] = _("Choose fixed price, pay what you can, or free.")
    elif kind == TicketKind.fixed:
        price = _money(
            form, "price", errors, required=_("A fixed-price ticket type needs a price.")
        )
    elif kind == TicketKind.pay_what_you_can:
        min_price = _money(
            form,
            "min_price",
            errors,
            required=_("Give the least an attendee may pay (it may be 0)."),
        )
        suggested = _money(form, "suggested_price", errors, required=None)
        if min_price is not None and suggested is not None and suggested < min_price:
            errors["suggested_price"] = _("The suggested price cannot be below the minimum.")

    pool = form.get("from_solidarity_pool", "").strip().lower() in _YES
    if pool and kind != TicketKind.free:
        errors["from_solidarity_pool"] = _("Only a free ticket type can be paid for by the pool.")
    elif pool and not conference.solidarity_place_cents:
        errors["from_solidarity_pool"] = _(
            "This conference has no solidarity fund (it is set in the conference file)."
        )
    capacity = _capacity(form, errors, least=0, places_taken=places_taken)
    translations = _translations(form, conference, errors)
    if errors:
        return None, errors
    return (
        TicketTypeChoice(
            name=name,
            description=description,
            kind=kind,
            price_cents=price or 0,
            min_price_cents=min_price or 0,
            suggested_price_cents=suggested,
            capacity=capacity,
            from_solidarity_pool=pool,
            requires_voucher=form.get("requires_voucher", "").strip().lower() in _YES,
            translations=translations,
        ),
        {},
    )


def _translations(
    form: Mapping[str, str], conference: Conference, errors: dict[str, str]
) -> records.Translations:
    """The name and description in the conference's other languages, checked as the ticket
    type's own (records.TicketTypeFields); the form holds them all, so they replace the
    stored ones, an empty field taking its text away."""
    languages = conference.other_languages()
    typed = records.translations_in_form(
        {k: v.replace("\r\n", "\n") for k, v in form.items()},
        TicketType.TRANSLATED,
        languages,
    )
    sent, refused = records.check_translations(
        records.TicketTypeFields, TicketType.TRANSLATED, typed, languages
    )
    for key, reason in refused.items():
        label = records.translated_field_label(key, TRANSLATED_LABELS)
        errors[key] = records.field_and_reason(label, reason) + "."
    return records.merge_translations({}, sent)


# ---- changing the database ----------------------------------------------------------------


def _audit(
    session: Session, actor: Principal, conference: Conference, action: str, detail: str
) -> None:
    record(
        session,
        action,
        user_id=actor.user_id,
        actor=actor.email,
        conference_id=conference.id,
        detail=detail,
    )


def _shown(value: object) -> str:
    if isinstance(value, dict):  # translations: which languages have texts
        return ",".join(sorted(value)) or "none"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _changes(before: Mapping[str, object], after: Mapping[str, object]) -> list[str]:
    return [
        f"{name} {_shown(before[name])}→{_shown(value)}"
        for name, value in after.items()
        if before[name] != value
    ]


def save_settings(
    db: Database, conference: Conference, wanted: RegistrationSettings, actor: Principal
) -> list[str]:
    """Store the settings; returns what changed (as the audit log says it). Raises
    CapacityTooLow when places were taken past the new capacity since the form was checked."""
    after = {
        "registration_open": wanted.registration_open,
        "capacity": wanted.capacity,
        "second_factor_required": wanted.second_factor_required,
    }
    with db.transaction() as session:
        current = session.get(Conference, conference.id)
        if current is None:
            raise NotFound(_("This conference no longer exists."))
        changed = _changes({name: getattr(current, name) for name in after}, after)
        if not changed:
            return []
        within = (
            col(Conference.places_taken) <= wanted.capacity
            if wanted.capacity is not None
            else true()
        )
        saved = session.execute(
            update(Conference)
            .where(col(Conference.id) == conference.id, within)
            .values(**after, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if rowcount(saved) != 1:
            session.refresh(current)
            raise CapacityTooLow(current.places_taken)
        _audit(session, actor, conference, "changed registration settings", ", ".join(changed))
    return changed


def find_ticket_type(db: Database, conference: Conference, code: str) -> TicketType:
    with db.read() as session:
        found = session.exec(
            select(TicketType).where(
                TicketType.conference_id == conference.id, TicketType.code == code
            )
        ).first()
    if found is None:
        raise _no_ticket_type(code)
    return found


def ticket_type_codes(db: Database, conference: Conference) -> set[str]:
    with db.read() as session:
        return set(
            session.exec(select(TicketType.code).where(TicketType.conference_id == conference.id))
        )


def create_ticket_type(
    db: Database, conference: Conference, code: str, choice: TicketTypeChoice, actor: Principal
) -> TicketType:
    """Add a ticket type, on sale, after the others. Raises CodeTaken."""
    try:
        with db.transaction() as session:
            last = session.exec(
                select(func.max(TicketType.position)).where(
                    TicketType.conference_id == conference.id
                )
            ).one()
            ticket_type = TicketType(
                conference_id=conference.id or 0,
                code=code,
                position=(last if last is not None else -1) + 1,
                **choice.as_values(),
            )
            session.add(ticket_type)
            session.flush()
            _audit(session, actor, conference, "created ticket type", code)
    except IntegrityError as exc:  # someone made the same code a moment ago
        raise CodeTaken from exc
    return ticket_type


def edit_ticket_type(
    db: Database, conference: Conference, code: str, choice: TicketTypeChoice, actor: Principal
) -> list[str]:
    """Change a ticket type; returns what changed. Raises CapacityTooLow or NotFound."""
    after = choice.as_values()
    with db.transaction() as session:
        current = session.exec(
            select(TicketType).where(
                TicketType.conference_id == conference.id, TicketType.code == code
            )
        ).first()
        if current is None:
            raise _no_ticket_type(code)
        changed = _changes({name: getattr(current, name) for name in after}, after)
        if not changed:
            return []
        within = (
            col(TicketType.places_taken) <= choice.capacity
            if choice.capacity is not None
            else true()
        )
        saved = session.execute(
            update(TicketType)
            .where(col(TicketType.id) == current.id, within)
            .values(**after, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if rowcount(saved) != 1:
            session.refresh(current)
            raise CapacityTooLow(current.places_taken)
        # Descriptions can be long: the log says that it changed, not what it says now.
        shown = [c if not c.startswith("description ") else "description" for c in changed]
        _audit(session, actor, conference, "edited ticket type", f"{code}: " + ", ".join(shown))
    return changed


def set_on_sale(
    db: Database, conference: Conference, code: str, on_sale: bool, actor: Principal
) -> bool:
    """Hide a ticket type (no longer offered; its tickets stay valid) or show it again.
    False if it already was so."""
    with db.transaction() as session:
        ticket_type = session.exec(
            select(TicketType).where(
                TicketType.conference_id == conference.id, TicketType.code == code
            )
        ).first()
        if ticket_type is None:
            raise _no_ticket_type(code)
        if ticket_type.on_sale == on_sale:
            return False
        ticket_type.on_sale = on_sale
        ticket_type.updated_at = utcnow()
        session.add(ticket_type)
        action = "showed ticket type" if on_sale else "hid ticket type"
        _audit(session, actor, conference, action, code)
    return True
