"""Recording changes to programme records, the one way every writer (loader, editor) applies them.

Only real changes touch a record: an unchanged reload leaves `updated_at` and `version` alone,
which is what lets calendar feeds and exports stay byte-identical between two fetches. Once a
programme is published, every change to a session's time, room, status or title (and every
session added) is also written to the public changelog (`ProgrammeChange`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from confapp.models import (
    Conference,
    ProgrammeChange,
    ProgrammeChangeKind,
    ProgrammeSession,
    Room,
    SessionPerson,
)
from confapp.times import utcnow

# A calendar app must be told (SEQUENCE) when one of these changes; see RFC 5545 3.8.7.4.
SEQUENCE_FIELDS = frozenset({"start", "end", "room_id", "status"})


def apply_changes(record: Any, values: Mapping[str, Any], now: datetime | None = None) -> set[str]:
    """Set the given fields on a record; returns the names of those that really changed."""
    changed = {name for name, value in values.items() if getattr(record, name) != value}
    for name in changed:
        setattr(record, name, values[name])
    if changed and hasattr(record, "updated_at"):
        record.updated_at = now or utcnow()
    if changed and getattr(record, "id", None) is not None and hasattr(record, "version"):
        record.version += 1
    return changed


def apply_session_changes(
    session: ProgrammeSession, values: Mapping[str, Any], now: datetime | None = None
) -> set[str]:
    changed = apply_changes(session, values, now)
    if changed & SEQUENCE_FIELDS and session.id is not None:
        session.sequence += 1
    return changed


def set_session_people(
    db: Session,
    session: ProgrammeSession,
    people: list[tuple[int, str]],
    now: datetime | None = None,
    current: list[SessionPerson] | None = None,
) -> bool:
    """Replace a session's people with (speaker_id, role) pairs in billing order.

    `current` may carry the session's existing rows when the caller has loaded them in bulk.
    """
    wanted = [(speaker_id, role, position) for position, (speaker_id, role) in enumerate(people)]
    if current is None:
        current = list(db.exec(select(SessionPerson).where(SessionPerson.session_id == session.id)))
    current = sorted(current, key=lambda p: p.position)
    if [(p.speaker_id, p.role, p.position) for p in current] == wanted:
        return False
    for person in current:
        db.delete(person)
    db.flush()
    session_id = session.id
    assert session_id is not None  # a session gets people once it is saved
    for speaker_id, role, position in wanted:
        db.add(
            SessionPerson(
                session_id=session_id, speaker_id=speaker_id, role=role, position=position
            )
        )
    session.updated_at = now or utcnow()
    if session.id is not None:
        session.version += 1
    return True


def bump_programme_version(conference: Conference, now: datetime | None = None) -> None:
    conference.programme_version += 1
    conference.updated_at = now or utcnow()


def change_session(
    db: Session,
    conference: Conference,
    session: ProgrammeSession,
    values: Mapping[str, Any],
    now: datetime | None = None,
) -> set[str]:
    """Apply changes to an existing session and, once the programme is public, log them."""
    now = now or utcnow()
    before = {name: getattr(session, name) for name in values}
    changed = apply_session_changes(session, values, now)
    if changed and conference.programme_published_at is not None:
        for change in _public_changes(db, session, before, changed, now):
            db.add(change)
    return changed


def record_session_added(
    db: Session, conference: Conference, session: ProgrammeSession, now: datetime | None = None
) -> None:
    """Log a new session in the changelog, if the programme is already public."""
    if conference.programme_published_at is not None:
        db.flush()  # the session needs its id
        assert session.id is not None and conference.id is not None
        db.add(
            ProgrammeChange(
                conference_id=conference.id,
                session_id=session.id,
                at=now or utcnow(),
                kind=ProgrammeChangeKind.added.value,
                after={"title": session.title, **_time_value(session.start, session.end)},
            )
        )


def _time_value(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


def _room_value(db: Session, room_id: int | None) -> dict[str, str] | None:
    room = db.get(Room, room_id) if room_id is not None else None
    return {"slug": room.slug, "name": room.name} if room is not None else None


def _public_changes(
    db: Session,
    session: ProgrammeSession,
    before: Mapping[str, Any],
    changed: set[str],
    now: datetime,
) -> list[ProgrammeChange]:
    assert session.id is not None
    entries: list[tuple[ProgrammeChangeKind, Any, Any]] = []
    if changed & {"start", "end"}:
        old_start, old_end = before.get("start", session.start), before.get("end", session.end)
        entries.append(
            (
                ProgrammeChangeKind.time,
                _time_value(old_start, old_end),
                _time_value(session.start, session.end),
            )
        )
    if "room_id" in changed:
        entries.append(
            (
                ProgrammeChangeKind.room,
                _room_value(db, before["room_id"]),
                _room_value(db, session.room_id),
            )
        )
    if "status" in changed:
        entries.append(
            (ProgrammeChangeKind.status, {"status": before["status"]}, {"status": session.status})
        )
    if "title" in changed:
        entries.append(
            (ProgrammeChangeKind.title, {"title": before["title"]}, {"title": session.title})
        )
    return [
        ProgrammeChange(
            conference_id=session.conference_id,
            session_id=session.id,
            at=now,
            kind=kind.value,
            before=old,
            after=new,
        )
        for kind, old, new in entries
    ]
