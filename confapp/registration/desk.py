"""The registrations desk's logic: finding, counting, changing and exporting registrations, and
registering someone at the desk. Plain functions over the database; no HTTP.

Every read of attendee data and every change writes an audit entry naming the ticket code (or,
for a list, the filters used), never the person: a search's text could be a name, so the log
says only that there was one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, or_
from sqlmodel import Session, col, select

from confapp.accounts.audit import record
from confapp.accounts.service import Principal
from confapp.db import Database
from confapp.models import (
    Conference,
    Order,
    OrderStatus,
    OutboxMail,
    PaymentMethod,
    PaymentStatus,
    Registration,
    RegistrationStatus,
    TicketType,
)
from confapp.outbox import queue_mail
from confapp.programme.queries import NotFound, list_ticket_types
from confapp.registration.bank_statements import (
    NOTE_ALREADY_PAID,
    NOTE_NO_PLACE,
    NOTE_NOTHING_TO_PAY,
    NOTE_ORDER_CANCELLED,
    refusal_message,
)
from confapp.registration.form import (
    FIELDS,
    MAX_EMAIL,
    MAX_NAME,
    CleanRegistration,
    check_registration,
)
from confapp.registration.mail import TICKET_MAIL
from confapp.registration.orders import (
    PaymentSummary,
    display_reference,
    is_group,
    order_for_registration,
    order_registrations,
    payment_summaries,
)
from confapp.registration.payments import receive_payment
from confapp.registration.places import TicketOffer, places_left
from confapp.registration.service import (
    RegisteredTicket,
    cancel_in,
    register,
    retake_places,
    set_payment_status,
)
from confapp.registration.vouchers import VoucherTerms
from confapp.request_body import character_problem, row_id
from confapp.spreadsheet import csv_bytes
from confapp.tickets.tokens import display_code, normalise_ticket_code
from confapp.times import to_local, utcnow
from confapp.translation import _, ngettext

PER_PAGE = 50
MAX_QUERY_CHARS = 200
PAYMENT_CHOICES = tuple(status.value for status in PaymentStatus)
STATUS_CHOICES = tuple(status.value for status in RegistrationStatus)
# A search this long or longer that looks like part of a ticket code also matches codes.
MIN_CODE_FRAGMENT = 4
_CODE_CHARACTERS = re.compile("[A-Z2-7]+")

# The fields an organiser may correct on a registration (the JSON API: name and email only).
DETAIL_FIELDS = ("name", "email", "access_needs", "childcare_children", "childcare_ages")
PaymentStatusName = Literal["unpaid", "paid", "waived", "refunded"]


class RegistrationChange(BaseModel):
    """Any of these fields, at least one; those left out stay as they are."""

    # The defaults (None) stand for "left out": the schema does not let a field be sent null.

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"minProperties": 1, "examples": [{"payment_status": "paid"}]},
    )

    payment_status: PaymentStatusName = Field(
        None,  # type: ignore[arg-type]
        description="A paid top-up joins the solidarity fund; a refunded one leaves.",
    )
    status: Literal["cancelled"] = Field(
        None,  # type: ignore[arg-type]
        description="Cancels; the place goes back. Cannot be undone.",
    )
    name: Annotated[str, Field(max_length=MAX_NAME)] = None  # type: ignore[assignment]
    email: Annotated[str, Field(max_length=MAX_EMAIL)] = Field(  # type: ignore[assignment]
        None, description="Checked as the form checks it; may be empty."
    )


PATCHABLE = tuple(RegistrationChange.model_fields)
assert get_args(PaymentStatusName) == PAYMENT_CHOICES  # the API's names are the table's
API_DETAIL_FIELDS = ("name", "email")
DESK_FIELDS = (*FIELDS, "payment_status")
DESK_PAYMENT_CHOICES = (PaymentStatus.paid, PaymentStatus.unpaid, PaymentStatus.waived)


class RegistrationErased(Exception):
    """The attendee's data has been erased: there is nothing left to change or send."""


class CannotResend(Exception):
    """The ticket mail cannot go out again; the message says why."""


class PaymentRefused(Exception):
    """The desk cannot record this payment; the message says why, beside the payment field."""


# Ways the desk records money received for an order waiting for it.
DESK_RECEIVED_METHODS = (PaymentMethod.desk, PaymentMethod.bank_transfer)


# ---- finding registrations ------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the organiser is looking for: a search text and filters, all optional."""

    q: str = ""
    ticket_type: str = ""  # a ticket type's code
    payment: str = ""  # a PaymentStatus value
    status: str = ""  # a RegistrationStatus value
    page: int = 1

    def audit_detail(self) -> str:
        """What the audit log says about this view: never the search text, which may be a name."""
        parts = ["search"] if self.q else []
        parts += [
            f"{name}={value}"
            for name, value in (
                ("ticket_type", self.ticket_type),
                ("payment", self.payment),
                ("status", self.status),
            )
            if value
        ]
        if self.page > 1:
            parts.append(f"page={self.page}")
        return ", ".join(parts) or "all"

    def query_string(self, page: int | None = None) -> str:
        """These filters as a query string (for the next page's link and the CSV link)."""
        page = self.page if page is None else page
        items = [
            (name, value)
            for name, value in (
                ("q", self.q),
                ("ticket_type", self.ticket_type),
                ("payment", self.payment),
                ("status", self.status),
                ("page", str(page) if page > 1 else ""),
            )
            if value
        ]
        return urlencode(items)


def parse_filters(
    params: Mapping[str, str], ticket_type_codes: Collection[str]
) -> tuple[Filters, dict[str, str]]:
    """Filters from a query string, and a message per value that cannot be used (left out)."""
    errors: dict[str, str] = {}
    q = params.get("q", "").strip()
    if len(q) > MAX_QUERY_CHARS:
        errors["q"] = ngettext(
            "Search for at most %(count)d character.",
            "Search for at most %(count)d characters.",
            MAX_QUERY_CHARS,
        ) % {"count": MAX_QUERY_CHARS}
    elif problem := character_problem(q, allowed_controls=""):
        errors["q"] = problem
    if "q" in errors:
        q = ""

    def choice(name: str, allowed: Collection[str], problem: str) -> str:
        value = params.get(name, "").strip()
        if value and value not in allowed:
            errors[name] = problem
            return ""
        return value

    def one_of(choices: Collection[str]) -> str:
        return _("Choose one of %(choices)s, or leave it empty.") % {"choices": ", ".join(choices)}

    ticket_type = choice(
        "ticket_type",
        ticket_type_codes,
        _("Choose one of the conference's ticket types, or leave it empty."),
    )
    payment = choice("payment", PAYMENT_CHOICES, one_of(PAYMENT_CHOICES))
    status = choice("status", STATUS_CHOICES, one_of(STATUS_CHOICES))
    page = 1
    typed_page = params.get("page", "").strip()
    if typed_page:
        parsed = row_id(typed_page)
        if parsed is not None and parsed <= 999_999:
            page = parsed
        else:
            errors["page"] = _("A page is a whole number from 1.")
    return Filters(q, ticket_type, payment, status, page), errors


@dataclass(frozen=True)
class Listed:
    registration: Registration
    ticket_type: TicketType
    payment: PaymentSummary | None = None  # paid online (an order), else None

    @property
    def code(self) -> str:
        return display_code(self.registration.ticket_code)

    @property
    def erased(self) -> bool:
        return self.registration.erased_at is not None


@dataclass(frozen=True)
class Listing:
    """One page of the registrations that match some filters, newest first."""

    rows: list[Listed]
    matching: int
    page: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.matching / self.per_page))


def _matching(conference: Conference, filters: Filters, types: list[TicketType]) -> list[Any]:
    conditions: list[Any] = [Registration.conference_id == conference.id]
    if filters.ticket_type:
        type_ids = [t.id for t in types if t.code == filters.ticket_type]
        conditions.append(col(Registration.ticket_type_id).in_(type_ids))
    if filters.payment:
        conditions.append(Registration.payment_status == filters.payment)
    # A payment filter alone asks about active registrations, as the counts do: a cancelled or
    # erased ticket's payment is nothing to collect. Asking for a status says otherwise.
    status = filters.status or (RegistrationStatus.active.value if filters.payment else "")
    if status:
        conditions.append(Registration.status == status)
    if status == RegistrationStatus.active.value:
        # Erased after the retention period, a registration is no one's any more.
        conditions.append(col(Registration.erased_at).is_(None))
    if filters.q:
        needle = filters.q.lower()
        searched = [
            func.lower(Registration.name).contains(needle, autoescape=True),
            func.lower(Registration.email).contains(needle, autoescape=True),
        ]
        # Codes are shown as ABCD-EFGH-IJKLM and read aloud: dashes, spaces and case don't count.
        fragment = "".join(filters.q.split()).replace("-", "").upper()
        if len(fragment) >= MIN_CODE_FRAGMENT and _CODE_CHARACTERS.fullmatch(fragment):
            searched.append(col(Registration.ticket_code).contains(fragment, autoescape=True))
        conditions.append(or_(*searched))
    return conditions


def find_registrations(
    session: Session, conference: Conference, filters: Filters, *, paginate: bool = True
) -> Listing:
    types = list_ticket_types(session, conference)
    by_id = {t.id: t for t in types}
    conditions = _matching(conference, filters, types)
    matching = session.exec(select(func.count()).select_from(Registration).where(*conditions)).one()
    statement = (
        select(Registration)
        .where(*conditions)
        .order_by(col(Registration.created_at).desc(), col(Registration.id).desc())
    )
    if paginate:
        statement = statement.offset((filters.page - 1) * PER_PAGE).limit(PER_PAGE)
    found = list(session.exec(statement))
    summaries = payment_summaries(session, [r.id for r in found if r.id is not None])
    rows = [Listed(r, by_id[r.ticket_type_id], summaries.get(r.id or 0)) for r in found]
    return Listing(rows, matching, filters.page if paginate else 1)


@dataclass(frozen=True)
class TypeCount:
    ticket_type: TicketType
    active: int = 0
    cancelled: int = 0
    paid: int = 0  # active and paid
    unpaid: int = 0  # active and not yet paid
    places_left: int | None = None  # None: no limit


@dataclass(frozen=True)
class Counts:
    per_type: list[TypeCount]
    places_left: int | None  # for the whole conference; None: no overall limit

    def total(self, name: str) -> int:
        return sum(getattr(count, name) for count in self.per_type)


def count_registrations(session: Session, conference: Conference) -> Counts:
    """Registrations per ticket type and status, with the places each type has left."""
    tallies: dict[tuple[int, str, str], int] = {}
    for type_id, status, payment, number in session.exec(
        select(
            Registration.ticket_type_id,
            Registration.status,
            Registration.payment_status,
            func.count(),
        )
        .where(Registration.conference_id == conference.id)
        .group_by(
            col(Registration.ticket_type_id),
            col(Registration.status),
            col(Registration.payment_status),
        )
    ):
        tallies[(type_id, status, payment)] = number

    def tally(type_id: int | None, status: str, payment: str | None = None) -> int:
        return sum(
            n
            for (t, s, p), n in tallies.items()
            if t == type_id and s == status and payment in (None, p)
        )

    active = RegistrationStatus.active.value
    per_type = [
        TypeCount(
            ticket_type=t,
            active=tally(t.id, active),
            cancelled=tally(t.id, RegistrationStatus.cancelled.value),
            paid=tally(t.id, active, PaymentStatus.paid.value),
            unpaid=tally(t.id, active, PaymentStatus.unpaid.value),
            places_left=places_left(conference, t),
        )
        for t in list_ticket_types(session, conference)
    ]
    overall = None if conference.capacity is None else conference.capacity - conference.places_taken
    return Counts(per_type, overall)


def view_registrations(
    db: Database, conference: Conference, filters: Filters, actor: Principal
) -> tuple[Listing, Counts]:
    """A page of registrations and the counts, as an organiser looks at them (audited)."""
    with db.read() as session:
        listing = find_registrations(session, conference, filters)
        counts = count_registrations(session, conference)
    with db.transaction() as session:
        _audit(session, actor, conference, "viewed registrations", detail=filters.audit_detail())
    return listing, counts


def find_registration(session: Session, conference: Conference, typed_code: str) -> Listed:
    """The registration with this code (as typed: any case, with or without dashes), or
    NotFound."""
    code = normalise_ticket_code(typed_code)
    registration = (
        session.exec(
            select(Registration).where(
                Registration.ticket_code == code, Registration.conference_id == conference.id
            )
        ).first()
        if code
        else None
    )
    if registration is None:
        raise NotFound(_("There is no registration with this code at this conference."))
    ticket_type = session.get(TicketType, registration.ticket_type_id)
    assert ticket_type is not None
    return Listed(registration, ticket_type)


def view_registration(
    db: Database, conference: Conference, typed_code: str, actor: Principal
) -> Listed:
    with db.read() as session:
        found = find_registration(session, conference, typed_code)
    with db.transaction() as session:
        _audit(session, actor, conference, "viewed registration", found.registration)
    return found


def registration_record(found: Listed, conference: Conference) -> dict[str, Any]:
    """A registration as the JSON API gives it: no access needs, no childcare."""
    registration = found.registration
    return {
        "code": found.code,
        "name": registration.name,
        "email": registration.email,
        "ticket_type": found.ticket_type.code,
        "amount_cents": registration.amount_cents,
        "solidarity_topup_cents": registration.solidarity_topup_cents,
        "currency": conference.currency,
        "payment_status": registration.payment_status,
        "status": registration.status,
        "erased": found.erased,
        "email_consent": registration.email_consent,
        "created_at": registration.created_at.isoformat(),
        "cancelled_at": (
            registration.cancelled_at.isoformat() if registration.cancelled_at else None
        ),
        "payment": payment_record(found.payment),
    }


def payment_record(summary: PaymentSummary | None) -> dict[str, Any] | None:
    """How a registration was paid online, for the JSON API; None with no order."""
    if summary is None:
        return None
    return {
        "method": summary.method,
        "reference": summary.reference,
        "paid_cents": summary.paid_cents,
        "refunded_cents": summary.refunded_cents,
        "receipt_numbers": list(summary.receipt_numbers),
    }


def counts_record(counts: Counts) -> dict[str, Any]:
    return {
        "places_left": counts.places_left,
        "active": counts.total("active"),
        "cancelled": counts.total("cancelled"),
        "paid": counts.total("paid"),
        "unpaid": counts.total("unpaid"),
        "ticket_types": [
            {
                "code": c.ticket_type.code,
                "name": c.ticket_type.name,
                "active": c.active,
                "cancelled": c.cancelled,
                "paid": c.paid,
                "unpaid": c.unpaid,
                "places_left": c.places_left,
            }
            for c in counts.per_type
        ],
    }


# ---- the CSV export -------------------------------------------------------------------------

CSV_COLUMNS = (
    "code",
    "name",
    "email",
    "ticket_type",
    "amount",
    "solidarity_topup",
    "payment",
    "status",
    "created",
    "email_consent",
    "payment_method",
    "paid",
    "refunded",
    "reference",
    "receipts",
)


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def csv_row(found: Listed, conference: Conference) -> list[str]:
    registration = found.registration
    status = "erased" if found.erased else registration.status
    created = to_local(registration.created_at, conference.timezone)
    return [
        found.code,
        registration.name,
        registration.email,
        found.ticket_type.code,
        _money(registration.amount_cents),
        _money(registration.solidarity_topup_cents),
        registration.payment_status,
        status,
        created.strftime("%Y-%m-%d %H:%M"),
        "yes" if registration.email_consent else "no",
        *_payment_columns(found.payment),
    ]


def _payment_columns(summary: PaymentSummary | None) -> list[str]:
    if summary is None:
        return ["", "", "", "", ""]
    return [
        summary.method,
        _money(summary.paid_cents),
        _money(summary.refunded_cents),
        summary.reference,
        " ".join(str(n) for n in summary.receipt_numbers),
    ]


def registrations_csv(rows: list[Listed], conference: Conference) -> bytes:
    """UTF-8 with a byte-order mark (so Excel reads it as UTF-8), a header row, CRLF lines."""
    return csv_bytes(CSV_COLUMNS, (csv_row(found, conference) for found in rows))


def export_registrations(
    db: Database, conference: Conference, filters: Filters, actor: Principal
) -> bytes:
    with db.read() as session:
        listing = find_registrations(session, conference, filters, paginate=False)
    with db.transaction() as session:
        detail = f"{listing.matching} rows; {filters.audit_detail()}"
        _audit(session, actor, conference, "exported registrations", detail=detail)
    return registrations_csv(listing.rows, conference)


# ---- checking what an organiser typed -------------------------------------------------------

# Only the detail fields are checked: the probe ticket type asks for no amount.
_PROBE_TICKET = "details-only"
_PROBE_EMAIL = "probe@example.org"


def check_details(
    data: Mapping[str, Any], conference: Conference, fields: Collection[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The named detail fields checked as the registration form checks them (an empty e-mail
    address is allowed: the desk hands the ticket over on screen). Returns the clean values
    by Registration attribute, and a message per field that needs fixing."""
    email_given = "email" in fields and isinstance(data.get("email"), str | None)
    no_email = email_given and not (data.get("email") or "").strip()
    probe = {name: data.get(name) for name in fields if name in DETAIL_FIELDS}
    probe.setdefault("name", "probe")
    probe["ticket_type"] = _PROBE_TICKET
    if "email" not in fields or no_email:
        probe["email"] = _PROBE_EMAIL
    details_only = TicketType(
        id=0, conference_id=conference.id or 0, code=_PROBE_TICKET, name="", kind="free"
    )
    clean, errors = check_registration(probe, [TicketOffer(details_only, None)], conference)
    errors = {name: message for name, message in errors.items() if name in fields}
    if clean is None or errors:
        return {}, errors or {"form": _("These details cannot be taken as they are.")}
    values: dict[str, Any] = {
        "name": clean.name,
        "email": "" if no_email else clean.email,
        "access_needs": clean.access_needs,
        "childcare_children": clean.childcare_children,
        "childcare_ages": clean.childcare_ages,
    }
    return {name: values[name] for name in DETAIL_FIELDS if name in fields}, {}


def check_desk_registration(
    data: Mapping[str, Any],
    offers: list[TicketOffer],
    conference: Conference,
    voucher: VoucherTerms | None = None,
) -> tuple[CleanRegistration | None, PaymentStatus, dict[str, str]]:
    """The public form's checks, but an e-mail address may be left out, and a payment choice
    (paid by default: cash on the day) is added. Nothing to pay is always "waived"."""
    email = data.get("email")
    no_email = email is None or (isinstance(email, str) and not email.strip())
    probe = {**data, "email": _PROBE_EMAIL} if no_email else data
    clean, errors = check_registration(probe, offers, conference, voucher=voucher)
    typed = (data.get("payment_status") or PaymentStatus.paid.value).strip()
    payment = next((p for p in DESK_PAYMENT_CHOICES if p.value == typed), None)
    if payment is None:
        errors["payment_status"] = _("Choose paid, not yet paid, or nothing to pay.")
        payment = PaymentStatus.paid
    if clean is None or errors:
        return None, payment, errors
    if no_email:
        clean = replace(clean, email="")
    if not clean.amount_cents + clean.solidarity_topup_cents:
        payment = PaymentStatus.waived
    return clean, payment, {}


# ---- changing registrations -----------------------------------------------------------------


@dataclass(frozen=True)
class Changes:
    """What an organiser asks to change on one registration; applied in this order."""

    details: Mapping[str, Any] = field(default_factory=dict)
    payment_status: PaymentStatus | None = None
    cancel: bool = False

    @property
    def empty(self) -> bool:
        return not self.details and self.payment_status is None and not self.cancel


@dataclass(frozen=True)
class Changed:
    listed: Listed  # the registration as it is afterwards
    mail_ids: list[int]  # queued by the change (tickets issued by a payment), to send now


def change_registration(
    db: Database, conference: Conference, typed_code: str, changes: Changes, actor: Principal
) -> Changed:
    """Apply the changes in one transaction, each with its audit entry. NotFound,
    RegistrationErased or PaymentRefused leave everything as it was."""
    with db.transaction() as session:
        found = find_registration(session, conference, typed_code)
        registration = found.registration
        if found.erased:
            raise RegistrationErased
        edited = [
            name for name, value in changes.details.items() if getattr(registration, name) != value
        ]
        if edited:
            for name in edited:
                setattr(registration, name, changes.details[name])
            session.add(registration)
            _audit(session, actor, conference, "edited details", registration, ", ".join(edited))
        mail_ids: list[int] = []
        held = registration.status in (
            RegistrationStatus.reserved.value,
            RegistrationStatus.expired.value,
        )
        if changes.payment_status is not None and held:
            mail_ids = _pay_held_place(
                session, conference, registration, changes.payment_status, actor
            )
        elif changes.payment_status is not None and set_payment_status(
            session, registration, changes.payment_status
        ):
            action = f"changed payment to {changes.payment_status.value}"
            _audit(session, actor, conference, action, registration)
        if changes.cancel and registration.id is not None and cancel_in(session, registration.id):
            _audit(session, actor, conference, "cancelled", registration)
        session.flush()
        session.refresh(registration)  # cancel_in updates the row behind the loaded object
        summaries = payment_summaries(session, [registration.id or 0])
        listed = Listed(registration, found.ticket_type, summaries.get(registration.id or 0))
        return Changed(listed, mail_ids)


def _pay_held_place(
    session: Session,
    conference: Conference,
    registration: Registration,
    status: PaymentStatus,
    actor: Principal,
) -> list[int]:
    """ "Paid" for a place held for an online payment (or whose hold ended) pays its order,
    with a payment row and a receipt, as if the money had come online. A group's order is
    paid as a whole, from the order's box; nothing else fits a held place."""
    order = order_for_registration(session, registration.id or 0)
    if order is None or order.id is None:
        return []
    reference = display_reference(order.reference)
    if status == PaymentStatus.unpaid:
        return []  # it is unpaid: nothing changes
    if status != PaymentStatus.paid:
        raise PaymentRefused(
            _(
                "This place waits for the payment of order %(reference)s: record the payment "
                "in the order's box, or cancel the registration."
            )
            % {"reference": reference}
        )
    if is_group(session, order.id):
        raise PaymentRefused(
            _(
                "This place is one of group order %(reference)s: record the group's payment "
                "in the order's box."
            )
            % {"reference": reference}
        )
    return _receive_for_order(session, conference, order.id, PaymentMethod.desk, actor)


def _receive_for_order(
    session: Session,
    conference: Conference,
    order_id: int,
    method: PaymentMethod,
    actor: Principal,
) -> list[int]:
    order = session.exec(select(Order).where(Order.id == order_id).with_for_update()).first()
    assert order is not None
    now = utcnow()
    refusal = None
    if order.status == OrderStatus.paid.value:
        refusal = NOTE_ALREADY_PAID
    elif order.status == OrderStatus.cancelled.value:
        refusal = NOTE_ORDER_CANCELLED
    elif order.status == OrderStatus.expired.value and not retake_places(session, order, now):
        refusal = NOTE_NO_PLACE
    held = [
        r
        for r in order_registrations(session, order_id)
        if r.status == RegistrationStatus.reserved.value
    ]
    if refusal is None and not held:
        refusal = NOTE_NOTHING_TO_PAY
    if refusal is not None:
        raise PaymentRefused(refusal_message(refusal, order))
    _payment, mail_ids = receive_payment(session, order, method, now)
    for registration in held:
        _audit(
            session,
            actor,
            conference,
            "recorded payment of order",
            registration,
            f"order {order.reference}, {method.value}",
        )
    return mail_ids


def pay_order_at_desk(
    db: Database,
    conference: Conference,
    typed_code: str,
    method: PaymentMethod,
    actor: Principal,
) -> list[int]:
    """The money for the registration's order (all its places) was taken at the desk or seen
    in the bank: the order is paid, its tickets issued, its receipt made. The mails queued."""
    with db.transaction() as session:
        found = find_registration(session, conference, typed_code)
        if found.erased:
            raise RegistrationErased
        order = order_for_registration(session, found.registration.id or 0)
        if order is None or order.id is None:
            raise PaymentRefused(_("This registration has no order to pay."))
        return _receive_for_order(session, conference, order.id, method, actor)


def resend_ticket_mail(
    db: Database, conference: Conference, typed_code: str, actor: Principal
) -> int:
    """Queue the ticket mail again (with a fresh management link); the mail's id."""
    with db.transaction() as session:
        registration = find_registration(session, conference, typed_code).registration
        if registration.erased_at is not None:
            raise CannotResend(_("This attendee's details were erased: there is no one to mail."))
        if registration.status != RegistrationStatus.active.value:
            raise CannotResend(_("This registration is cancelled: its ticket no longer admits."))
        if not registration.email:
            raise CannotResend(_("There is no e-mail address to send the ticket to."))
        assert registration.id is not None
        mail = queue_mail(session, TICKET_MAIL, registration.id)
        _audit(session, actor, conference, "resent ticket mail", registration)
        assert mail.id is not None
        return mail.id


def register_at_desk(
    db: Database,
    conference: Conference,
    clean: CleanRegistration,
    payment: PaymentStatus,
    actor: Principal,
) -> RegisteredTicket:
    """Register someone at the desk, even while online registration is closed, and record
    how they paid. Raises SoldOut as the public form does."""
    assert conference.id is not None
    registered = register(db, conference.id, clean)
    with db.transaction() as session:
        registration = session.get(Registration, registered.ticket.registration.id)
        assert registration is not None
        set_payment_status(session, registration, payment)
        mail_id = registered.mail_id
        if not registration.email:
            # Nobody to mail: the ticket is handed over on screen.
            session.execute(
                delete(OutboxMail).where(col(OutboxMail.registration_id) == registration.id)
            )
            mail_id = None
        _audit(
            session,
            actor,
            conference,
            "registered at the desk",
            registration,
            f"payment {payment.value}",
        )
    ticket = replace(registered.ticket, registration=registration)
    return RegisteredTicket(ticket, mail_id)


def _audit(
    session: Session,
    actor: Principal,
    conference: Conference,
    action: str,
    registration: Registration | None = None,
    detail: str = "",
) -> None:
    record(
        session,
        action,
        user_id=actor.user_id,
        actor=actor.email,
        conference_id=conference.id,
        ticket_code=registration.ticket_code if registration else "",
        detail=detail,
    )
