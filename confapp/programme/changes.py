"""Recording changes to programme records, the one way every writer (loader, editor) applies them.

Only real changes touch a record: an unchanged reload leaves `updated_at` alone, which is what
lets calendar feeds and exports stay byte-identical between two fetches.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from confapp.models import Conference, ProgrammeSession, SessionPerson
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
    for speaker_id, role, position in wanted:
        db.add(
            SessionPerson(
                session_id=session.id, speaker_id=speaker_id, role=role, position=position
            )
        )
    session.updated_at = now or utcnow()
    return True


def bump_programme_version(conference: Conference, now: datetime | None = None) -> None:
    conference.programme_version += 1
    conference.updated_at = now or utcnow()
