"""Check-in at the door: what a scan names, admitting a ticket once, undoing it, taking in the
admissions an offline device made, finding a ticket by name or code, and the door's counts.

Nobody gets in twice: a partial unique index allows one standing check-in per registration,
so when two stewards scan one ticket at the same instant the second INSERT is refused by the
database (caught in a SAVEPOINT), and that steward is told who let the person in, and when.

A scan that admits nobody (already in, cancelled, forged, another conference's) can be answered
from a read (`answer_without_admitting`), without a write transaction: on SQLite a write
transaction holds the one write lock, and at a busy door most of those waits would be for
nothing. Whatever the read says, only `admit`, in a write transaction, ever admits, re-checking
everything there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from confapp.accounts.audit import record
from confapp.accounts.service import Principal
from confapp.checkin import bodies
from confapp.checkin.unpaid_at_door import UnpaidAtDoor, unpaid_at_door
from confapp.models import (
    REFUSED_AT_DOOR,
    Checkin,
    CheckinConflict,
    Conference,
    Registration,
    RegistrationStatus,
    TicketType,
)
from confapp.tickets.admission import registration_by_code
from confapp.tickets.keys import accepted_public_keys
from confapp.tickets.tokens import (
    MAX_TOKEN_LENGTH,
    InvalidTicketToken,
    display_code,
    normalise_ticket_code,
    verify_ticket_token,
)
from confapp.times import iso

MAX_DEVICE_LENGTH = bodies.MAX_DEVICE_LENGTH
MAX_SEARCH_MATCHES = 20
MIN_SEARCH_LENGTH = 2
MAX_SEARCH_LENGTH = 100
METHODS = bodies.METHODS
OFFLINE = "offline"
_TOKEN_TEXT = re.compile(r"[A-Za-z0-9_-]+")
# A scan longer than this is no ticket of ours, whatever it holds: not worth parsing.
_MAX_SCAN_LENGTH = 2048


class Result(StrEnum):
    admitted = "admitted"
    already_admitted = "already_admitted"
    cancelled = "cancelled"
    invalid = "invalid"
    wrong_conference = "wrong_conference"


@dataclass(frozen=True)
class Scan:
    """What a scan holds: a signed token (from the QR code) or a ticket code typed by hand."""

    token: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class CheckinResult:
    result: Result
    name: str | None = None  # None when there is nobody to name (invalid, other conference, erased)
    ticket_type: str | None = None
    admitted_at: datetime | None = None
    by: str | None = None
    ticket_code: str | None = None  # the stored code; shown grouped
    payment_status: str | None = None  # None when there is no ticket of ours to name, or erased
    # The conference's word on unpaid tickets, so the device says what it would say offline.
    unpaid_at_door: str = UnpaidAtDoor.desk.value
    other_conference: str | None = None  # wrong_conference: whose ticket it is, when known

    def document(self, tz_name: str) -> dict[str, Any]:
        """The answer a door device gets, times in the conference's zone."""
        attendee = None
        if self.name is not None:
            attendee = {"name": self.name, "ticket_type": self.ticket_type}
        return {
            "result": self.result.value,
            "attendee": attendee,
            "admitted_at": iso(self.admitted_at, tz_name) if self.admitted_at else None,
            "by": self.by,
            "ticket_code": display_code(self.ticket_code) if self.ticket_code else None,
            "payment_status": self.payment_status,
            "unpaid_at_door": self.unpaid_at_door,
            "other_conference": self.other_conference,
        }


class NothingToUndo(LookupError):
    """The ticket exists but is not checked in."""


class UnknownTicket(LookupError):
    """No ticket of this conference has that code."""


# --- reading a scan ---------------------------------------------------------------------------


def parse_scan(text: str) -> Scan | None:
    """The token or code a scan holds: the ticket's absolute URL (any host; the last path
    segment after /tickets/), the bare token, or a ticket code as typed (any case, spaces,
    dashes). None for anything else."""
    text = text.strip()
    if not text or len(text) > _MAX_SCAN_LENGTH:
        return None
    if "/tickets/" in text:
        tail = text.rsplit("/tickets/", 1)[1]
        tail = re.split(r"[?#]", tail, maxsplit=1)[0].strip("/")
        return _token(tail.rsplit("/", 1)[-1]) if tail else None
    code = normalise_ticket_code(text)
    if code is not None:
        return Scan(code=code)
    return _token(text)


def _token(text: str) -> Scan | None:
    if len(text) <= MAX_TOKEN_LENGTH and _TOKEN_TEXT.fullmatch(text):
        return Scan(token=text)
    return None


@dataclass(frozen=True)
class _Found:
    registration: Registration | None
    refusal: Result | None  # invalid or wrong_conference; None when the ticket is ours
    standing: Checkin | None = None  # its standing check-in when it was read
    ticket_type_name: str | None = None
    other_conference_id: int | None = None  # wrong_conference: the ticket's own conference


def _ticket_at_door(
    session: Session, ticket_code: str
) -> tuple[Registration, str, Checkin | None] | None:
    """The registration with a code, its ticket type's name and its standing check-in, in
    one query: a door answer names all three."""
    row = session.exec(
        select(Registration, TicketType.name, Checkin)
        .outerjoin(TicketType, col(TicketType.id) == Registration.ticket_type_id)
        .outerjoin(
            Checkin,
            and_(col(Checkin.registration_id) == Registration.id, col(Checkin.undone_at).is_(None)),
        )
        .where(Registration.ticket_code == ticket_code)
    ).first()
    return (row[0], row[1] or "", row[2]) if row is not None else None


def _find(session: Session, conference: Conference, scan: Scan | None) -> _Found:
    """The registration a scan names at this conference, or why there is none."""
    if scan is None:
        return _Found(None, Result.invalid)
    if scan.token is not None:
        try:
            verified = verify_ticket_token(scan.token, accepted_public_keys(session))
        except InvalidTicketToken:
            return _Found(None, Result.invalid)
        if verified.conference_id is not None and verified.conference_id != conference.id:
            # Genuine, but not for this door.
            return _Found(None, Result.wrong_conference, other_conference_id=verified.conference_id)
        found = _ticket_at_door(session, verified.ticket_code)
        if found is None:
            return _Found(None, Result.invalid)
        if verified.conference_id not in (None, found[0].conference_id):
            return _Found(None, Result.invalid)
    else:
        assert scan.code is not None
        found = _ticket_at_door(session, scan.code)
        if found is None:
            return _Found(None, Result.invalid)
    registration, type_name, standing = found
    if registration.conference_id != conference.id:
        return _Found(None, Result.wrong_conference, other_conference_id=registration.conference_id)
    return _Found(registration, None, standing, type_name)


def _ticket_type_name(session: Session, registration: Registration) -> str:
    ticket_type = session.get(TicketType, registration.ticket_type_id)
    return ticket_type.name if ticket_type is not None else ""


def _answer(
    session: Session,
    registration: Registration,
    result: Result,
    checkin: Checkin | None = None,
    ticket_type_name: str | None = None,
) -> CheckinResult:
    erased = registration.erased_at is not None
    if ticket_type_name is None and not erased:
        ticket_type_name = _ticket_type_name(session, registration)
    return CheckinResult(
        result=result,
        name=None if erased else registration.name,
        ticket_type=None if erased else ticket_type_name,
        admitted_at=checkin.admitted_at if checkin else None,
        by=checkin.by if checkin else None,
        ticket_code=registration.ticket_code,
        payment_status=None if erased else registration.payment_status,
    )


def _not_ours(session: Session, found: _Found) -> CheckinResult:
    """The answer to a scan of no ticket of ours: invalid, or another conference's (named when
    this server holds that conference, so the steward can say where the ticket belongs)."""
    assert found.refusal is not None
    other = None
    if found.other_conference_id is not None:
        theirs = session.get(Conference, found.other_conference_id)
        other = theirs.name if theirs is not None else None
    return CheckinResult(found.refusal, other_conference=other)


def _for_door(conference: Conference, result: CheckinResult) -> CheckinResult:
    """The answer with the conference's word on unpaid tickets, as the door device needs it."""
    return replace(result, unpaid_at_door=unpaid_at_door(conference).value)


def _refused(registration: Registration) -> bool:
    return registration.status in REFUSED_AT_DOOR or registration.erased_at is not None


def standing_checkin(session: Session, registration_id: int) -> Checkin | None:
    return session.exec(
        select(Checkin).where(
            Checkin.registration_id == registration_id, col(Checkin.undone_at).is_(None)
        )
    ).first()


def _insert_once(session: Session, checkin: Checkin) -> Checkin | None:
    """Insert the check-in unless one already stands for its registration: then None, and
    the caller reads the standing one. The SAVEPOINT keeps the transaction usable after the
    unique index refuses the row (a concurrent admission that committed first)."""
    if standing_checkin(session, checkin.registration_id) is not None:
        return None
    try:
        with session.begin_nested():
            session.add(checkin)
    except IntegrityError:
        return None
    return checkin


# --- admitting --------------------------------------------------------------------------------


def admit(
    session: Session,
    conference: Conference,
    scan: str,
    by: Principal,
    *,
    device: str = "",
    method: str = "scan",
    now: datetime,
) -> CheckinResult:
    """Admit the ticket a scan names, once: "admitted" the first time, "already_admitted"
    (when, by whom) after; "cancelled", "invalid" or "wrong_conference" admit nobody."""
    assert conference.id is not None
    found = _find(session, conference, parse_scan(scan))
    refusal = _refusal(session, found)
    if refusal is not None:
        return _for_door(conference, refusal)
    registration = found.registration
    assert registration is not None and registration.id is not None
    checkin = _insert_once(
        session,
        Checkin(
            conference_id=conference.id,
            registration_id=registration.id,
            admitted_at=now,
            recorded_at=now,
            by_user_id=by.user_id,
            by=by.email,
            device=device[:MAX_DEVICE_LENGTH],
            method=method if method in METHODS else "scan",
        ),
    )
    if checkin is not None:
        answer = _answer(session, registration, Result.admitted, checkin, found.ticket_type_name)
    else:
        standing = standing_checkin(session, registration.id)
        answer = _answer(
            session, registration, Result.already_admitted, standing, found.ticket_type_name
        )
    return _for_door(conference, answer)


def _refusal(session: Session, found: _Found) -> CheckinResult | None:
    """The answer to a scan of no ticket of ours (invalid, another conference's) or of a
    cancelled one; None when the ticket is ours and standing."""
    if found.registration is None:
        return _not_ours(session, found)
    if _refused(found.registration):
        return _answer(session, found.registration, Result.cancelled, None, found.ticket_type_name)
    return None


def answer_without_admitting(
    session: Session, conference: Conference, scan: str
) -> CheckinResult | None:
    """The answer to a scan that admits nobody (invalid, another conference's, cancelled,
    already in), read in any session; None when the ticket may be let in, which only `admit`,
    in a write transaction, decides. The answer is as true as one given from inside the
    write transaction a moment later would have been."""
    found = _find(session, conference, parse_scan(scan))
    refusal = _refusal(session, found)
    if refusal is not None:
        return _for_door(conference, refusal)
    registration = found.registration
    assert registration is not None
    if found.standing is not None:
        answer = _answer(
            session,
            registration,
            Result.already_admitted,
            found.standing,
            found.ticket_type_name,
        )
        return _for_door(conference, answer)
    return None


@dataclass(frozen=True)
class OfflineAdmission:
    """One admission a door device made while it could not reach the server."""

    scan: str
    admitted_at: datetime


def sync_offline(
    session: Session,
    conference: Conference,
    device: str,
    admissions: list[OfflineAdmission],
    by: Principal,
    *,
    now: datetime,
) -> list[CheckinResult]:
    """Take in a device's offline admissions, in order, answering each as `admit` would.

    The first admission the server hears of stands, recorded at the device's time. One the
    server already had from another admission (another device, or this one letting the same
    ticket in twice) is kept as a CheckinConflict for organisers and answered
    "already_admitted"; so is a ticket cancelled before the device let its holder in. The
    same batch sent again (the device never heard the answer) changes nothing.
    """
    assert conference.id is not None
    device = device[:MAX_DEVICE_LENGTH]
    results = []
    for admission in admissions:
        found = _find(session, conference, parse_scan(admission.scan))
        if found.registration is None:
            results.append(_not_ours(session, found))
            continue
        registration = found.registration
        assert registration.id is not None
        standing = standing_checkin(session, registration.id)
        if standing is not None and _same_admission(standing, device, admission.admitted_at):
            results.append(_answer(session, registration, Result.admitted, standing))
            continue
        if _refused(registration):
            _keep_conflict(
                session, conference, registration, None, device, admission, by, Result.cancelled
            )
            results.append(_answer(session, registration, Result.cancelled))
            continue
        checkin = None
        if standing is None:
            checkin = _insert_once(
                session,
                Checkin(
                    conference_id=conference.id,
                    registration_id=registration.id,
                    admitted_at=admission.admitted_at,
                    recorded_at=now,
                    by_user_id=by.user_id,
                    by=by.email,
                    device=device,
                    method=OFFLINE,
                ),
            )
        if checkin is not None:
            results.append(_answer(session, registration, Result.admitted, checkin))
            continue
        standing = standing_checkin(session, registration.id)
        _keep_conflict(
            session,
            conference,
            registration,
            standing,
            device,
            admission,
            by,
            Result.already_admitted,
        )
        results.append(_answer(session, registration, Result.already_admitted, standing))
    return [_for_door(conference, result) for result in results]


def _same_admission(checkin: Checkin, device: str, admitted_at: datetime) -> bool:
    return bool(device) and checkin.device == device and checkin.admitted_at == admitted_at


def _keep_conflict(
    session: Session,
    conference: Conference,
    registration: Registration,
    standing: Checkin | None,
    device: str,
    admission: OfflineAdmission,
    by: Principal,
    result: Result,
) -> None:
    """Record a refused offline admission once, however often the device sends it."""
    already = session.exec(
        select(CheckinConflict.id).where(
            CheckinConflict.registration_id == registration.id,
            CheckinConflict.device == device,
            CheckinConflict.admitted_at == admission.admitted_at,
        )
    ).first()
    if already is not None:
        return
    assert conference.id is not None and registration.id is not None
    session.add(
        CheckinConflict(
            conference_id=conference.id,
            registration_id=registration.id,
            checkin_id=standing.id if standing else None,
            admitted_at=admission.admitted_at,
            by=by.email,
            device=device,
            result=result.value,
        )
    )


# --- undoing ----------------------------------------------------------------------------------


def undo(
    session: Session, conference: Conference, typed_code: str, by: Principal, *, now: datetime
) -> str:
    """Undo the ticket's standing check-in (organisers), audited by ticket code; returns the
    code. UnknownTicket if no ticket of this conference has the code, NothingToUndo if it is
    not checked in."""
    registration, standing = _standing_by_code(session, conference, typed_code)
    standing.undone_at = now
    standing.undone_by = by.email
    session.add(standing)
    record(
        session,
        "checkin_undone",
        user_id=by.user_id,
        actor=by.email,
        conference_id=conference.id,
        ticket_code=registration.ticket_code,
    )
    return registration.ticket_code


def _standing_by_code(
    session: Session, conference: Conference, typed_code: str
) -> tuple[Registration, Checkin]:
    code = normalise_ticket_code(typed_code) if len(typed_code) <= 64 else None
    registration = registration_by_code(session, code) if code else None
    if registration is None or registration.conference_id != conference.id:
        raise UnknownTicket(typed_code)
    assert registration.id is not None
    standing = standing_checkin(session, registration.id)
    if standing is None:
        raise NothingToUndo(code)
    return registration, standing


@dataclass(frozen=True)
class AdmissionToUndo:
    """The standing admission an organiser is asked about before undoing it."""

    ticket_code: str  # grouped, as the dashboard shows it (undo takes either spelling)
    name: str | None  # None once the holder's data is erased
    ticket_type: str | None
    admitted_at: datetime
    by: str


def admission_to_undo(session: Session, conference: Conference, typed_code: str) -> AdmissionToUndo:
    """What `undo` would undo, read without changing anything: UnknownTicket or NothingToUndo
    as `undo` would raise them."""
    registration, standing = _standing_by_code(session, conference, typed_code)
    erased = registration.erased_at is not None
    return AdmissionToUndo(
        ticket_code=display_code(registration.ticket_code),
        name=None if erased else registration.name,
        ticket_type=None if erased else _ticket_type_name(session, registration),
        admitted_at=standing.admitted_at,
        by=standing.by,
    )


# --- finding a ticket without the camera ------------------------------------------------------


@dataclass(frozen=True)
class Match:
    ticket_code: str
    name: str
    ticket_type: str
    status: str
    admitted_at: datetime | None

    def document(self, tz_name: str) -> dict[str, Any]:
        return {
            "ticket_code": display_code(self.ticket_code),
            "name": self.name,
            "ticket_type": self.ticket_type,
            "status": self.status,
            "admitted_at": iso(self.admitted_at, tz_name) if self.admitted_at else None,
        }


def search_registrations(session: Session, conference: Conference, q: str) -> list[Match]:
    """Up to 20 tickets whose holder's name contains `q` (any case) or whose code starts with
    it (dashes and spaces ignored), by name. Erased records have no name and are not found."""
    needle = q.strip().lower()
    code_prefix = "".join(q.split()).replace("-", "").upper()
    matches_code = (
        col(Registration.ticket_code).startswith(code_prefix, autoescape=True)
        if len(code_prefix) >= MIN_SEARCH_LENGTH and code_prefix.isalnum()
        else None
    )
    matches_name = func.lower(Registration.name).contains(needle, autoescape=True)
    rows = session.exec(
        select(Registration, TicketType.name, Checkin.admitted_at)
        .join(TicketType, col(TicketType.id) == Registration.ticket_type_id)
        .outerjoin(
            Checkin,
            and_(
                col(Checkin.registration_id) == Registration.id,
                col(Checkin.undone_at).is_(None),
            ),
        )
        .where(
            Registration.conference_id == conference.id,
            col(Registration.erased_at).is_(None),
            or_(matches_name, matches_code) if matches_code is not None else matches_name,
        )
        .order_by(Registration.name, Registration.ticket_code)
        .limit(MAX_SEARCH_MATCHES)
    ).all()
    return [
        Match(registration.ticket_code, registration.name, type_name, registration.status, at)
        for registration, type_name, at in rows
    ]


# --- counting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeCount:
    code: str
    name: str
    admitted: int
    expected: int


@dataclass(frozen=True)
class DoorStats:
    admitted: int
    expected: int
    ticket_types: list[TypeCount]
    conflicts: int  # offline admissions refused and not yet looked at
    updated_at: datetime

    def document(self, tz_name: str) -> dict[str, Any]:
        return {
            "admitted": self.admitted,
            "expected": self.expected,
            "ticket_types": [
                {"code": t.code, "name": t.name, "admitted": t.admitted, "expected": t.expected}
                for t in self.ticket_types
            ],
            "conflicts": self.conflicts,
            "updated_at": iso(self.updated_at, tz_name),
        }


def door_stats(session: Session, conference: Conference, *, now: datetime) -> DoorStats:
    """Admitted (standing check-ins) against expected (active, unerased tickets), in all and
    per ticket type."""
    # By ticket type id, typed `int | None` as TicketType.id is, so `t.id` looks one up.
    expected: dict[int | None, int] = dict(
        session.exec(
            select(Registration.ticket_type_id, func.count())
            .where(
                Registration.conference_id == conference.id,
                Registration.status == RegistrationStatus.active.value,
                col(Registration.erased_at).is_(None),
            )
            .group_by(col(Registration.ticket_type_id))
        ).all()
    )
    admitted: dict[int | None, int] = dict(
        session.exec(
            select(Registration.ticket_type_id, func.count())
            .join(Checkin, col(Checkin.registration_id) == Registration.id)
            .where(Checkin.conference_id == conference.id, col(Checkin.undone_at).is_(None))
            .group_by(col(Registration.ticket_type_id))
        ).all()
    )
    types = session.exec(
        select(TicketType)
        .where(TicketType.conference_id == conference.id)
        .order_by(col(TicketType.position), col(TicketType.id))
    ).all()
    conflicts = session.exec(
        select(func.count())
        .select_from(CheckinConflict)
        .where(
            CheckinConflict.conference_id == conference.id,
            col(CheckinConflict.resolved_at).is_(None),
        )
    ).one()
    counts = [
        TypeCount(t.code, t.name, admitted.get(t.id, 0), expected.get(t.id, 0)) for t in types
    ]
    return DoorStats(
        admitted=sum(admitted.values()),
        expected=sum(expected.values()),
        ticket_types=counts,
        conflicts=conflicts,
        updated_at=now,
    )
