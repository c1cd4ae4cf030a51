"""Starring sessions into a personal agenda, and reading an agenda back.

An agenda is known only by its random key. A visitor's browser holds the key in a cookie; an
attendee's agenda key is stored with their registration, so opening the ticket page puts the
same agenda on that browser and its feed sits at /tickets/{token}/agenda.ics.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from confapp.models import Agenda, AgendaStar, Conference, ProgrammeSession, Registration
from confapp.programme.queries import Programme, SessionEntry
from confapp.times import utcnow


def new_agenda_key() -> str:
    return secrets.token_urlsafe(24)  # 32 characters, 192 random bits


def find_agenda(session: Session, key: str | None, conference: Conference) -> Agenda | None:
    if not key or len(key) > 43:
        return None
    agenda = session.get(Agenda, key)
    if agenda is None or agenda.conference_id != conference.id:
        return None
    return agenda


def create_agenda(session: Session, conference: Conference, now: datetime | None = None) -> Agenda:
    now = now or utcnow()
    agenda = Agenda(
        key=new_agenda_key(), conference_id=conference.id, created_at=now, updated_at=now
    )
    session.add(agenda)
    session.flush()
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


def merge_agenda_into(session: Session, source: Agenda | None, target: Agenda) -> None:
    """Move a browser's stars into the ticket's agenda when the two first meet."""
    if source is None or source.key == target.key:
        return
    already = starred_session_ids(session, target)
    for session_id in starred_session_ids(session, source) - already:
        session.add(AgendaStar(agenda_key=target.key, session_id=session_id))
        target.updated_at = utcnow()
    session.add(target)
    session.flush()
    delete_agenda(session, source.key)


def set_star(
    session: Session, agenda: Agenda, programme_session: ProgrammeSession, starred: bool
) -> bool:
    """Star or unstar a session; True if that changed anything."""
    existing = session.get(AgendaStar, (agenda.key, programme_session.id))
    if starred == (existing is not None):
        return False
    if starred:
        session.add(AgendaStar(agenda_key=agenda.key, session_id=programme_session.id))
    else:
        session.delete(existing)
    agenda.updated_at = utcnow()
    session.add(agenda)
    return True


def starred_session_ids(session: Session, agenda: Agenda | None) -> set[int]:
    if agenda is None:
        return set()
    return set(
        session.exec(select(AgendaStar.session_id).where(AgendaStar.agenda_key == agenda.key))
    )


def starred_entries(programme: Programme, starred: set[int]) -> list[SessionEntry]:
    return [entry for entry in programme.sessions if entry.record.id in starred]


def delete_agenda(session: Session, key: str | None) -> None:
    if key:
        session.execute(delete(AgendaStar).where(col(AgendaStar.agenda_key) == key))
        session.execute(delete(Agenda).where(col(Agenda.key) == key))


def delete_conference_agendas(session: Session, conference_id: int) -> int:
    keys = list(session.exec(select(Agenda.key).where(Agenda.conference_id == conference_id)))
    for key in keys:
        delete_agenda(session, key)
    return len(keys)
