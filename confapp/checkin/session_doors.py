"""Session doors and the organisers' door dashboard: a steward marks a room full and keeps a
headcount; organisers set the overflow room, see the latest admissions and settle offline
conflicts (the counts themselves come from the check-in service's `door_stats`).

A SessionDoor row lives beside its session, never in it, so nothing here moves the
programme's version, a session's version or any feed's ETag. Headcount changes are one
UPDATE each (`headcount = headcount + n`, floored at 0) after an insert-if-missing, so taps
from several phones at once all count and none is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from babel.numbers import format_decimal
from sqlalchemy import case, func, literal, update
from sqlmodel import Session, col, select

from confapp.checkin import bodies
from confapp.db import Database, UTCDateTime, insert_on_conflict, table_of
from confapp.models import (
    Checkin,
    CheckinConflict,
    Conference,
    ProgrammeSession,
    Registration,
    Room,
    SessionDoor,
    SessionStatus,
    TicketType,
)
from confapp.tickets.tokens import display_code
from confapp.times import iso, local_day_bounds, utcnow
from confapp.translation import _, babel_locale

MAX_HEADCOUNT = bodies.MAX_HEADCOUNT
MAX_HEADCOUNT_CHANGE = bodies.MAX_HEADCOUNT_CHANGE
LATEST_ADMISSIONS = 50


class DoorProblem(ValueError):
    """A change that cannot be made, with the field it is about: shown beside it, or a 4xx."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class DoorChange:
    full: bool | None = None
    headcount_change: int | None = None
    headcount: int | None = None


@dataclass(frozen=True)
class DoorState:
    session_id: int
    full_since: datetime | None
    headcount: int
    overflow_room: Room | None
    updated_at: datetime | None
    updated_by: str

    @property
    def full(self) -> bool:
        return self.full_since is not None

    def as_json(self, tz: str) -> dict[str, object]:
        return {
            "full": self.full,
            "full_since": iso(self.full_since, tz) if self.full_since else None,
            "headcount": self.headcount,
            "overflow_room": (
                {"slug": self.overflow_room.slug, "name": self.overflow_room.name}
                if self.overflow_room
                else None
            ),
        }


@dataclass(frozen=True)
class DoorSession:
    """A session as the door list shows it."""

    record: ProgrammeSession
    room: Room | None
    state: DoorState

    @property
    def cancelled(self) -> bool:
        return self.record.status == SessionStatus.cancelled.value


# ---- reading --------------------------------------------------------------------------------


def _state(session: Session, session_id: int, door: SessionDoor | None) -> DoorState:
    if door is None:
        return DoorState(session_id, None, 0, None, None, "")
    room = session.get(Room, door.overflow_room_id) if door.overflow_room_id else None
    return DoorState(
        session_id, door.full_since, door.headcount, room, door.updated_at, door.updated_by
    )


def conference_session(
    session: Session, conference: Conference, session_id: int
) -> ProgrammeSession | None:
    record = session.get(ProgrammeSession, session_id)
    if record is None or record.conference_id != conference.id:
        return None
    return record


def door_state(session: Session, session_id: int) -> DoorState:
    return _state(session, session_id, session.get(SessionDoor, session_id))


def door_sessions(
    session: Session, conference: Conference, day: date | None = None
) -> list[DoorSession]:
    """The conference's sessions (on `day`, local date, if given) with their doors, by time."""
    where = [col(ProgrammeSession.conference_id) == conference.id]
    if day is not None:
        start, end = local_day_bounds(day, conference.timezone)
        where += [col(ProgrammeSession.start) >= start, col(ProgrammeSession.start) < end]
    records = list(
        session.exec(
            select(ProgrammeSession)
            .where(*where)
            .order_by(col(ProgrammeSession.start), col(ProgrammeSession.title))
        )
    )
    rooms = {
        room.id: room
        for room in session.exec(select(Room).where(Room.conference_id == conference.id))
    }
    ids = [r.id for r in records]
    doors = {
        door.session_id: door
        for door in session.exec(select(SessionDoor).where(col(SessionDoor.session_id).in_(ids)))
    }
    found = []
    for record in records:
        door = doors.get(record.id or 0)
        overflow = rooms.get(door.overflow_room_id) if door and door.overflow_room_id else None
        state = (
            DoorState(
                record.id or 0,
                door.full_since,
                door.headcount,
                overflow,
                door.updated_at,
                door.updated_by,
            )
            if door
            else DoorState(record.id or 0, None, 0, None, None, "")
        )
        found.append(DoorSession(record, rooms.get(record.room_id), state))
    return found


def conference_rooms(session: Session, conference: Conference) -> list[Room]:
    return list(
        session.exec(
            select(Room)
            .where(col(Room.conference_id) == conference.id)
            .order_by(col(Room.position), col(Room.id))
        )
    )


# ---- changing -------------------------------------------------------------------------------


def check_door_change(change: DoorChange) -> None:
    if change.full is None and change.headcount_change is None and change.headcount is None:
        raise DoorProblem("full", _("Say what changed: full, headcount_change or headcount."))
    if change.headcount_change is not None and abs(change.headcount_change) > MAX_HEADCOUNT_CHANGE:
        raise DoorProblem(
            "headcount_change",
            _("Change the headcount by at most %(count)s at once.")
            % {"count": _number(MAX_HEADCOUNT_CHANGE)},
        )
    if change.headcount is not None and not 0 <= change.headcount <= MAX_HEADCOUNT:
        raise DoorProblem(
            "headcount",
            _("A headcount is a number from 0 to %(most)s.") % {"most": _number(MAX_HEADCOUNT)},
        )


def _number(value: int) -> str:
    """A count as the reader's language writes it (100,000 in English)."""
    return format_decimal(value, locale=babel_locale())


def _ensure_door(session: Session, session_id: int, by: str) -> None:
    statement = insert_on_conflict(session, table_of(SessionDoor))
    session.execute(
        statement.values(
            session_id=session_id, headcount=0, updated_at=utcnow(), updated_by=by
        ).on_conflict_do_nothing(index_elements=["session_id"])
    )


def change_door(
    db: Database, conference: Conference, session_id: int, change: DoorChange, by: str
) -> DoorState | None:
    """Apply a steward's change to one session's door; None if the session is not the
    conference's. Each part is a single UPDATE, so concurrent taps add up exactly."""
    check_door_change(change)
    table = table_of(SessionDoor)
    now = utcnow()
    with db.transaction() as session:
        if conference_session(session, conference, session_id) is None:
            return None
        _ensure_door(session, session_id, by)
        values: dict[str, object] = {"updated_at": now, "updated_by": by[:254]}
        if change.full is True:
            values["full_since"] = func.coalesce(
                table.c.full_since, literal(now, type_=UTCDateTime())
            )
        elif change.full is False:
            values["full_since"] = None
        if change.headcount is not None:
            values["headcount"] = change.headcount
        elif change.headcount_change:
            added = table.c.headcount + change.headcount_change
            values["headcount"] = case(
                (added < 0, 0), (added > MAX_HEADCOUNT, MAX_HEADCOUNT), else_=added
            )
        session.execute(update(table).where(table.c.session_id == session_id).values(**values))
        session.expire_all()
        return door_state(session, session_id)


def set_overflow_room(
    db: Database, conference: Conference, session_id: int, room_slug: str, by: str
) -> DoorState | None:
    """Organisers: where to send people when this session is full ('' for nowhere)."""
    with db.transaction() as session:
        if conference_session(session, conference, session_id) is None:
            return None
        room_id: int | None = None
        if room_slug:
            room = session.exec(
                select(Room).where(Room.conference_id == conference.id, Room.slug == room_slug)
            ).first()
            if room is None:
                raise DoorProblem("overflow_room", _("Choose one of this conference's rooms."))
            room_id = room.id
        _ensure_door(session, session_id, by)
        table = table_of(SessionDoor)
        session.execute(
            update(table)
            .where(table.c.session_id == session_id)
            .values(overflow_room_id=room_id, updated_at=utcnow(), updated_by=by[:254])
        )
        session.expire_all()
        return door_state(session, session_id)


# ---- the organisers' dashboard ----------------------------------------------------------------


@dataclass(frozen=True)
class Admission:
    checkin_id: int
    admitted_at: datetime
    ticket_code: str  # display form
    ticket_type: str
    by: str
    device: str
    method: str
    undone_at: datetime | None


@dataclass(frozen=True)
class Conflict:
    id: int
    admitted_at: datetime  # when the offline device let them in
    recorded_at: datetime
    device: str
    by: str
    result: str
    ticket_code: str
    standing_at: datetime | None  # the admission the server kept
    standing_by: str
    standing_device: str
    resolved_at: datetime | None


def latest_admissions(
    session: Session, conference: Conference, limit: int = LATEST_ADMISSIONS
) -> list[Admission]:
    found = session.exec(
        select(Checkin, Registration.ticket_code, TicketType.name)
        .join(Registration, col(Registration.id) == Checkin.registration_id)
        .join(TicketType, col(TicketType.id) == Registration.ticket_type_id)
        .where(Checkin.conference_id == conference.id)
        .order_by(col(Checkin.admitted_at).desc(), col(Checkin.id).desc())
        .limit(limit)
    ).all()
    return [
        Admission(
            checkin.id or 0,
            checkin.admitted_at,
            display_code(code),
            type_name,
            checkin.by,
            checkin.device,
            checkin.method,
            checkin.undone_at,
        )
        for checkin, code, type_name in found
    ]


def conflicts(session: Session, conference: Conference, limit: int = 100) -> list[Conflict]:
    """Unresolved conflicts first, then the most recent resolved ones."""
    found = session.exec(
        select(CheckinConflict, Registration.ticket_code)
        .join(Registration, col(Registration.id) == CheckinConflict.registration_id)
        .where(CheckinConflict.conference_id == conference.id)
        .order_by(
            col(CheckinConflict.resolved_at).is_not(None),
            col(CheckinConflict.recorded_at).desc(),
        )
        .limit(limit)
    ).all()
    standing_ids = [c.checkin_id for c, _code in found if c.checkin_id]
    standing = {
        c.id: c for c in session.exec(select(Checkin).where(col(Checkin.id).in_(standing_ids)))
    }
    rows = []
    for conflict, code in found:
        kept = standing.get(conflict.checkin_id) if conflict.checkin_id else None
        rows.append(
            Conflict(
                conflict.id or 0,
                conflict.admitted_at,
                conflict.recorded_at,
                conflict.device,
                conflict.by,
                conflict.result,
                display_code(code),
                kept.admitted_at if kept else None,
                kept.by if kept else "",
                kept.device if kept else "",
                conflict.resolved_at,
            )
        )
    return rows


def resolve_conflict(session: Session, conference: Conference, conflict_id: int) -> str | None:
    """Mark one conflict resolved; its ticket code (stored form), or None if not found."""
    conflict = session.get(CheckinConflict, conflict_id)
    if conflict is None or conflict.conference_id != conference.id:
        return None
    if conflict.resolved_at is None:
        conflict.resolved_at = utcnow()
        session.add(conflict)
    registration = session.get(Registration, conflict.registration_id)
    return registration.ticket_code if registration else ""


def headcount_rows(session: Session, conference: Conference) -> list[DoorSession]:
    return door_sessions(session, conference)
