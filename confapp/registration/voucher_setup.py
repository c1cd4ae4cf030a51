"""Organisers' side of vouchers: making one or many (a count, or one per e-mail address, each
mailed its own code through the outbox), listing them by tag, exporting them, withdrawing them,
and giving back the places of a holding voucher that has ended. Plain functions over the
database; the pages are confapp.admin.registrations.vouchers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from confapp import urls
from confapp.accounts.audit import record
from confapp.content import localized
from confapp.db import Database, rowcount
from confapp.mail_compose import compose_mail
from confapp.models import Conference, OutboxMail, TicketType, Voucher, VoucherEffect
from confapp.outbox import mail_builder, queue_mail
from confapp.registration.form import NotAnAmount, parse_amount
from confapp.registration.service import give_places_back, take_places
from confapp.registration.vouchers import (
    MAX_CODE_CHARS,
    MOST_AT_ONCE,
    new_voucher_code,
    normalise_voucher_code,
    voucher_is_running,
)
from confapp.settings import Settings
from confapp.spreadsheet import csv_bytes
from confapp.times import utcnow
from confapp.translation import _

VOUCHER_MAIL = "voucher"  # one person's code, with the link that fills it in


class VoucherSetupRefused(Exception):
    """The vouchers cannot be made as asked; `field` is the form field to show it beside."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class VoucherSpec:
    """What an organiser asked for, checked (confapp.admin.registrations.vouchers reads the
    form). `code` is for one voucher; empty, codes are made. One voucher per address in
    `emails`, else `count` of them."""

    max_uses: int = 1
    valid_until: datetime | None = None
    ticket_type_ids: tuple[int, ...] = ()
    effect: str = VoucherEffect.none.value
    value: int = 0
    holds_places: bool = False
    tag: str = ""
    comment: str = ""
    code: str = ""
    count: int = 1
    emails: tuple[str, ...] = field(default_factory=tuple)


VOUCHER_FORM_FIELDS = (
    "code",
    "count",
    "emails",
    "max_uses",
    "valid_until",
    "ticket_type",
    "effect",
    "value",
    "holds_places",
    "tag",
    "comment",
)
MOST_USES = 10_000
_CODE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _whole_number(text: str, least: int, most: int) -> int | None:
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if least <= number <= most else None


def check_voucher_form(
    form: dict[str, str], ticket_types: Sequence[TicketType], timezone: str
) -> tuple[VoucherSpec | None, dict[str, str]]:
    """An organiser's voucher form, read into a VoucherSpec, or each field's problem."""
    errors: dict[str, str] = {}
    code = normalise_voucher_code(form.get("code", ""))
    if code and (len(code) > MAX_CODE_CHARS or not set(code) <= _CODE_CHARS):
        errors["code"] = _("Up to 40 letters, digits, dashes and underscores.")
    emails: list[str] = []
    for line in form.get("emails", "").replace(",", "\n").splitlines():
        if not line.strip():
            continue
        try:
            emails.append(validate_email(line.strip(), check_deliverability=False).normalized)
        except EmailNotValidError:
            errors["emails"] = _("“%(line)s” does not look like an e-mail address.") % {
                "line": line.strip()[:80]
            }
            break
    if len(emails) > MOST_AT_ONCE:
        errors["emails"] = _("At most %(most)d addresses at once.") % {"most": MOST_AT_ONCE}
    count = _whole_number(form.get("count", "") or "1", 1, MOST_AT_ONCE)
    if count is None:
        errors["count"] = _("A whole number from 1 to %(most)d.") % {"most": MOST_AT_ONCE}
    if code and (emails or (count or 1) > 1):
        errors["code"] = _("A chosen code is for one voucher: leave it empty to make several.")
    max_uses = _whole_number(form.get("max_uses", "") or "1", 1, MOST_USES)
    if max_uses is None:
        errors["max_uses"] = _("A whole number from 1 to %(most)d.") % {"most": MOST_USES}
    valid_until = None
    if form.get("valid_until", "").strip():
        try:
            typed = datetime.fromisoformat(form["valid_until"].strip())
            valid_until = (
                typed.replace(tzinfo=ZoneInfo(timezone)) if typed.tzinfo is None else typed
            ).astimezone(UTC)
        except ValueError:
            errors["valid_until"] = _("A date and time, like 2027-07-01 18:00.")
    type_ids: tuple[int, ...] = ()
    if form.get("ticket_type", ""):
        chosen = next((t for t in ticket_types if t.code == form["ticket_type"]), None)
        if chosen is None or chosen.id is None:
            errors["ticket_type"] = _("Choose one of the ticket types.")
        else:
            type_ids = (chosen.id,)
    effect = form.get("effect", "") or VoucherEffect.none.value
    value = 0
    if effect not in {e.value for e in VoucherEffect}:
        errors["effect"] = _("Choose what the voucher does to the price.")
    elif effect in (VoucherEffect.set_price.value, VoucherEffect.minus_amount.value):
        try:
            value = parse_amount(form.get("value", ""))
        except NotAnAmount as wrong:
            errors["value"] = wrong.hint or _("An amount, like 20 or 12.50.")
    elif effect == VoucherEffect.minus_percent.value:
        percent = _whole_number(form.get("value", ""), 1, 100)
        if percent is None:
            errors["value"] = _("A whole percentage from 1 to 100.")
        value = (percent or 0) * 100
    holds_places = form.get("holds_places", "") == "yes"
    if holds_places and not type_ids:
        errors["ticket_type"] = _("A voucher that keeps places is for one ticket type: choose it.")
    tag = form.get("tag", "").strip()
    if len(tag) > 100:
        errors["tag"] = _("At most 100 characters.")
    comment = form.get("comment", "").strip()
    if len(comment) > 2000:
        errors["comment"] = _("At most 2000 characters.")
    if errors:
        return None, errors
    return (
        VoucherSpec(
            max_uses=max_uses or 1,
            valid_until=valid_until,
            ticket_type_ids=type_ids,
            effect=effect,
            value=value,
            holds_places=holds_places,
            tag=tag,
            comment=comment,
            code=code,
            count=count or 1,
            emails=tuple(emails),
        ),
        {},
    )


def _code_taken(session: Session, conference_id: int, code: str) -> bool:
    return (
        session.exec(
            select(Voucher.id).where(Voucher.conference_id == conference_id, Voucher.code == code)
        ).first()
        is not None
    )


def _fresh_code(session: Session, conference_id: int) -> str:
    while True:  # 31**10 codes: a clash is all but impossible, and checked anyway
        code = new_voucher_code()
        if not _code_taken(session, conference_id, code):
            return code


def create_vouchers(
    db: Database, conference_id: int, spec: VoucherSpec, by: str, user_id: int | None
) -> list[Voucher]:
    """Make the vouchers in one transaction, all or none. A holding voucher takes its places
    now (VoucherSetupRefused when fewer are left). Mailed ones are queued."""
    addresses: Sequence[str] = spec.emails or [""] * spec.count
    if not 1 <= len(addresses) <= MOST_AT_ONCE:
        raise VoucherSetupRefused(
            "count", _("A whole number from 1 to %(most)d.") % {"most": MOST_AT_ONCE}
        )
    with db.transaction() as session:
        made = []
        for address in addresses:
            code = normalise_voucher_code(spec.code) if spec.code else ""
            if code and _code_taken(session, conference_id, code):
                raise VoucherSetupRefused("code", _("Another voucher has this code already."))
            voucher = Voucher(
                conference_id=conference_id,
                code=code or _fresh_code(session, conference_id),
                max_uses=spec.max_uses,
                valid_until=spec.valid_until,
                ticket_type_ids=list(spec.ticket_type_ids),
                effect=spec.effect,
                value=spec.value,
                holds_places=spec.holds_places,
                tag=spec.tag,
                comment=spec.comment,
                sent_to=address,
                created_by=by,
            )
            session.add(voucher)
            session.flush()
            if spec.holds_places:
                (type_id,) = spec.ticket_type_ids
                take_places(session, conference_id, type_id, spec.max_uses)  # SoldOut if not
            if address:
                queue_mail(session, VOUCHER_MAIL, None, reference_id=voucher.id)
            made.append(voucher)
        record(
            session,
            "created vouchers",
            user_id=user_id,
            actor=by,
            conference_id=conference_id,
            detail=f"{len(made)} × {spec.max_uses} use(s), tag {spec.tag or 'none'}",
        )
        return made


def _release_places(session: Session, voucher: Voucher, now: datetime) -> int:
    """Give a holding voucher's unused places back to the pool, once across processes: the
    conditional UPDATE of places_released_at lets one transaction do it. How many."""
    released = session.execute(
        update(Voucher)
        .where(
            col(Voucher.id) == voucher.id,
            col(Voucher.holds_places).is_(True),
            col(Voucher.places_released_at).is_(None),
        )
        .values(places_released_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(released) != 1:
        return 0
    session.refresh(voucher)
    unused = voucher.max_uses - voucher.uses
    if unused > 0 and voucher.ticket_type_ids:
        give_places_back(session, voucher.conference_id, voucher.ticket_type_ids[0], unused)
    return unused


def withdraw_voucher(
    db: Database, conference_id: int, voucher_id: int, by: str, user_id: int | None
) -> bool:
    """No one can use it any more; tickets already issued with it stay valid. A holding
    voucher's unused places go back at once. False if it was withdrawn already."""
    now = utcnow()
    with db.transaction() as session:
        withdrawn = session.execute(
            update(Voucher)
            .where(
                col(Voucher.id) == voucher_id,
                col(Voucher.conference_id) == conference_id,
                col(Voucher.withdrawn_at).is_(None),
            )
            .values(withdrawn_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(withdrawn) != 1:
            return False
        voucher = session.get(Voucher, voucher_id)
        assert voucher is not None
        session.refresh(voucher)
        _release_places(session, voucher, now)
        record(
            session,
            "withdrew voucher",
            user_id=user_id,
            actor=by,
            conference_id=conference_id,
            detail=voucher.code,
        )
        return True


def release_ended_vouchers(db: Database, now: datetime | None = None) -> int:
    """Housekeeping: the unused places of holding vouchers past their date go back to the
    pool. How many places."""
    now = now or utcnow()
    with db.transaction() as session:
        ended = session.exec(
            select(Voucher).where(
                col(Voucher.holds_places).is_(True),
                col(Voucher.places_released_at).is_(None),
                or_(col(Voucher.withdrawn_at).is_not(None), col(Voucher.valid_until) <= now),
            )
        ).all()
        return sum(_release_places(session, voucher, now) for voucher in ended)


def list_vouchers(session: Session, conference_id: int, tag: str = "") -> list[Voucher]:
    conditions = [Voucher.conference_id == conference_id]
    if tag:
        conditions.append(Voucher.tag == tag)
    return list(
        session.exec(select(Voucher).where(*conditions).order_by(col(Voucher.id).desc())).all()
    )


def voucher_tags(session: Session, conference_id: int) -> list[str]:
    return sorted(
        {
            tag
            for tag in session.exec(
                select(Voucher.tag).where(Voucher.conference_id == conference_id)
            ).all()
            if tag
        }
    )


CSV_HEADER = [
    "code",
    "tag",
    "uses",
    "max_uses",
    "valid_until",
    "ticket_types",
    "effect",
    "value",
    "holds_places",
    "sent_to",
    "withdrawn",
    "comment",
]


def vouchers_csv(session: Session, vouchers: list[Voucher]) -> bytes:
    codes = {t.id: t.code for t in session.exec(select(TicketType)).all()}
    rows = [
        [
            v.code,
            v.tag,
            str(v.uses),
            str(v.max_uses),
            v.valid_until.isoformat() if v.valid_until else "",
            " ".join(codes.get(i, "") for i in v.ticket_type_ids),
            v.effect,
            str(v.value),
            "yes" if v.holds_places else "",
            v.sent_to,
            v.withdrawn_at.isoformat() if v.withdrawn_at else "",
            v.comment,
        ]
        for v in vouchers
    ]
    return csv_bytes(CSV_HEADER, rows)


@mail_builder(VOUCHER_MAIL)
def build_voucher_mail(
    session: Session, mail: OutboxMail, settings: Settings
) -> EmailMessage | None:
    voucher = session.get(Voucher, mail.reference_id) if mail.reference_id else None
    if voucher is None or not voucher.sent_to or not voucher_is_running(voucher, utcnow()):
        return None  # withdrawn or ended before this went out, or the address erased
    conference = session.get(Conference, voucher.conference_id)
    assert conference is not None
    register_url = urls.absolute(
        settings.public_origin,
        urls.register_path(conference.slug) + "?" + urlencode({"voucher": voucher.code}),
    )
    return compose_mail(
        sender=settings.mail_from,
        to=voucher.sent_to,
        kind=VOUCHER_MAIL,
        context={
            "conference": localized(conference),
            "voucher": voucher,
            "register_url": register_url,
        },
    )
