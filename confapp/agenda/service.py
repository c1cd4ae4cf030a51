"""Starring sessions into a personal agenda, and reading an agenda back.

An agenda is known only by its random key. A visitor's browser holds the key in a cookie; an
attendee's registration holds a key of its own. Nothing joins the two by itself: stars move
from one agenda to another only when the owner asks (`copy_stars`), and never leave the source.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, SQLModel, col, func, select

from confapp.db import insert_on_conflict, rowcount, table_of
from confapp.models import (
    Agenda,
    AgendaStar,
    Conference,
    ProgrammeSession,
    Registration,
    SessionStatus,
)
from confapp.programme.queries import Programme, SessionEntry
from confapp.times import utcnow

# Exactly what new_agenda_key makes: 24 random bytes as unpadded url-safe base64.
_AGENDA_KEY = re.compile(r"[A-Za-z0-9_-]{32}")


def new_agenda_key() -> str:
    return secrets.token_urlsafe(24)  # 32 characters, 192 random bits


def is_agenda_key(value: str | None) -> bool:
    """Whether `value` has the shape of a key new_agenda_key makes (not whether it exists)."""
    return value is not None and _AGENDA_KEY.fullmatch(value) is not None


def _insert(session: Session, model: type[SQLModel]) -> Any:
    # Into the table itself (a Core insert, not the ORM's bulk insert), so rowcount is kept.
    return insert_on_conflict(session, table_of(model))


def find_agenda(session: Session, key: str | None, conference: Conference) -> Agenda | None:
    return find_agenda_of(session, key, conference.id or 0)


def find_agenda_of(session: Session, key: str | None, conference_id: int) -> Agenda | None:
    if not key or len(key) > 43:
        return None
    agenda = session.get(Agenda, key)
    if agenda is None or agenda.conference_id != conference_id:
        return None
    return agenda


def create_agenda(session: Session, conference: Conference, now: datetime | None = None) -> Agenda:
    assert conference.id is not None
    now = now or utcnow()
    agenda = Agenda(
        key=new_agenda_key(), conference_id=conference.id, created_at=now, updated_at=now
    )
    session.add(agenda)
    session.flush()
    return agenda


def claim_agenda(
    session: Session, conference: Conference, key: str, now: datetime | None = None
) -> Agenda:
    """The agenda under `key`, made if it does not exist yet: every star form on a page carries
    the same candidate key, so requests racing from one page all end up in one agenda. A key
    that belongs to another conference is not shared: a fresh agenda is made instead."""
    if not is_agenda_key(key):
        return create_agenda(session, conference, now)
    now = now or utcnow()
    session.execute(
        _insert(session, Agenda)
        .values(key=key, conference_id=conference.id, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    agenda = session.get(Agenda, key, populate_existing=True)
    if agenda is None or agenda.conference_id != conference.id:
        return create_agenda(session, conference, now)
    return agenda


def registration_agenda(session: Session, registration: Registration) -> Agenda:
    """The attendee's agenda, made on first use."""
    if registration.agenda_key:
        agenda = session.get(Agenda, registration.agenda_key)
        if agenda is not None:
            return agenda
    conference = session.get(Conference, registration.conference_id)
    assert conference is not None
    agenda = create_agenda(session, conference)
    registration.agenda_key = agenda.key
    session.add(registration)
    return agenda


def copy_stars(session: Session, source: Agenda | None, target: Agenda) -> int:
    """Add the source's stars to the target's, when the owner asks; how many were new.
    The source keeps its stars, and the target keeps the ones it had."""
    if source is None or source.key == target.key:
        return 0
    wanted = starred_session_ids(session, source) - starred_session_ids(session, target)
    added = 0
    for session_id in sorted(wanted):
        added += _add_star(session, target.key, session_id)
    if added:
        target.updated_at = utcnow()
        session.add(target)
        session.flush()
    return added


def _add_star(session: Session, agenda_key: str, session_id: int) -> int:
    # Two requests may star the same session at once: the second one finds it there.
    result = session.execute(
        _insert(session, AgendaStar)
        .values(agenda_key=agenda_key, session_id=session_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["agenda_key", "session_id"])
        .execution_options(preserve_rowcount=True)  # 0 when it was already there
    )
    return rowcount(result)


def set_star(
    session: Session, agenda: Agenda, programme_session: ProgrammeSession, starred: bool
) -> bool:
    """Star or unstar a session; True if that changed anything. A cancelled session takes no
    new star (a page opened before it was cancelled may still offer one); a star it already
    has can still be taken off."""
    if starred and programme_session.status == SessionStatus.cancelled.value:
        return False
    if starred:
        changed = _add_star(session, agenda.key, programme_session.id or 0)
    else:
        changed = rowcount(
            session.execute(
                delete(AgendaStar).where(
                    col(AgendaStar.agenda_key) == agenda.key,
                    col(AgendaStar.session_id) == programme_session.id,
                )
            )
        )
    if not changed:
        return False
    agenda.updated_at = utcnow()
    session.add(agenda)
    session.flush()
    return True


def starred_session_ids(session: Session, agenda: Agenda | None) -> set[int]:
    if agenda is None:
        return set()
    return set(
        session.exec(select(AgendaStar.session_id).where(AgendaStar.agenda_key == agenda.key))
    )


def starred_entries(programme: Programme, starred: set[int]) -> list[SessionEntry]:
    return [entry for entry in programme.sessions if entry.record.id in starred]


def agenda_clashes(entries: Sequence[SessionEntry]) -> dict[int, list[SessionEntry]]:
    """For each starred session, the other starred sessions at the same time (their times
    overlap; one ending as the next starts is no clash), keyed by session id. Cancelled
    sessions clash with nothing: nobody will be in them."""
    running = sorted(
        (entry for entry in entries if not entry.cancelled), key=lambda e: e.record.start
    )
    clashes: dict[int, list[SessionEntry]] = {}
    for i, entry in enumerate(running):
        for later in running[i + 1 :]:
            if later.record.start >= entry.record.end:
                break  # sorted by start: the rest start later still
            clashes.setdefault(entry.record.id or 0, []).append(later)
            clashes.setdefault(later.record.id or 0, []).append(entry)
    for found in clashes.values():
        found.sort(key=lambda e: (e.record.start, e.title))
    return clashes


def delete_agenda(session: Session, key: str | None) -> None:
    if key:
        session.execute(delete(AgendaStar).where(col(AgendaStar.agenda_key) == key))
        session.execute(delete(Agenda).where(col(Agenda.key) == key))


def delete_conference_agendas(session: Session, conference_id: int) -> int:
    keys = list(session.exec(select(Agenda.key).where(Agenda.conference_id == conference_id)))
    for key in keys:
        delete_agenda(session, key)
    return len(keys)


def star_counts(session: Session, conference_id: int) -> dict[int, int]:
    """How many agendas starred each of the conference's sessions (only counts, no agendas)."""
    rows = session.exec(
        select(AgendaStar.session_id, func.count())
        .join(Agenda, col(Agenda.key) == col(AgendaStar.agenda_key))
        .where(Agenda.conference_id == conference_id)
        .group_by(col(AgendaStar.session_id))
    )
    return {session_id: count for session_id, count in rows}
