"""The working copy of a published programme: edits collect as pending changes that only
organisers see, and go public together when an organiser publishes them.

Once a programme is published, a saved session goes to a `StagedSession` row (the whole
record as it would be), not to the session itself, unless the conference keeps
`publish_each_save` (every save public at once, as on the day itself). Public pages, feeds and
exports read the sessions only, so they never show a staged change; the editor and the API
read them through `load_programme(as_organiser=True)`, which lays the staged rows over the
sessions. Publishing applies every staged row in one transaction: one release (with its
optional public note) in the changelog, one programme version, one change-mail batch.
Discarding deletes the staged rows; the public programme never changed.
"""

from __future__ import annotations

import uuid as uuid_lib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from confapp.db import rowcount
from confapp.models import (
    Conference,
    ProgrammeChange,
    ProgrammeRelease,
    ProgrammeSession,
    SessionPerson,
    SessionStatus,
    StagedSession,
)
from confapp.programme.change_mail import batch_release
from confapp.programme.changes import (
    bump_programme_version,
    change_session,
    record_session_added,
    set_session_people,
)
from confapp.programme.queries import STAGED_FIELDS, staged_values, stored_values
from confapp.times import utcnow

WritesTo = Literal["draft", "working-copy", "public"]


def writes_to(conference: Conference) -> WritesTo:
    """Where a save goes now: the unpublished draft, the working copy, or the public programme."""
    if conference.programme_published_at is None:
        return "draft"
    return "public" if conference.publish_each_save else "working-copy"


def staging(conference: Conference) -> bool:
    return writes_to(conference) == "working-copy"


def staged_sessions(db: Session, conference: Conference) -> list[StagedSession]:
    return list(
        db.exec(
            select(StagedSession)
            .where(StagedSession.conference_id == conference.id)
            .order_by(col(StagedSession.id))
        )
    )


def find_staged(db: Session, conference: Conference, slug: str) -> StagedSession | None:
    return db.exec(
        select(StagedSession).where(
            StagedSession.conference_id == conference.id, StagedSession.slug == slug
        )
    ).first()


def _people_of(db: Session, session_id: int) -> list[list[Any]]:
    rows = db.exec(
        select(SessionPerson)
        .where(SessionPerson.session_id == session_id)
        .order_by(col(SessionPerson.position))
    )
    return [[row.speaker_id, row.role] for row in rows]


def stage_new_session(
    db: Session,
    conference: Conference,
    slug: str,
    values: Mapping[str, Any],
    people: list[tuple[int, str]] | None,
    *,
    by: str = "",
    now: datetime | None = None,
) -> StagedSession:
    """A new session, in the working copy only."""
    assert conference.id is not None
    now = now or utcnow()
    staged = StagedSession(
        conference_id=conference.id,
        slug=slug,
        values={**stored_values(dict(values)), "uuid": str(uuid_lib.uuid4())},
        people=[[speaker_id, role] for speaker_id, role in people or []],
        version=1,
        created_at=now,
        updated_at=now,
        updated_by=by,
    )
    db.add(staged)
    db.flush()
    return staged


def stage_session_change(
    db: Session,
    conference: Conference,
    record: ProgrammeSession,
    staged: StagedSession | None,
    values: Mapping[str, Any],
    people: list[tuple[int, str]] | None,
    *,
    by: str = "",
    now: datetime | None = None,
) -> tuple[StagedSession | None, set[str]]:
    """Stage changes to a session as the working copy has it (`record`: public, or the
    transient working record when `staged` is given). Returns the staged row (None when a
    public session was saved unchanged) and the names of what changed in the working copy
    (the fields, and "people")."""
    assert conference.id is not None
    now = now or utcnow()
    current = {name: getattr(record, name) for name in STAGED_FIELDS}
    wanted = {**current, **values}
    changed = {name for name in STAGED_FIELDS if wanted[name] != current[name]}
    if staged is None:
        assert record.id is not None and record.id > 0
        current_people = _people_of(db, record.id)
    else:
        current_people = staged.people
    wanted_people = (
        current_people if people is None else [[speaker_id, role] for speaker_id, role in people]
    )
    if wanted_people != current_people:
        changed.add("people")
    if staged is None:
        if not changed:
            return None, changed
        assert record.id is not None
        staged = StagedSession(
            conference_id=conference.id,
            session_id=record.id,
            slug=record.slug,
            version=record.version,
            created_at=now,
        )
        db.add(staged)
    if changed:
        kept_uuid = {"uuid": staged.values["uuid"]} if "uuid" in staged.values else {}
        staged.values = {**stored_values(wanted), **kept_uuid}
        staged.people = wanted_people
        staged.version += 1
        staged.updated_at = now
        staged.updated_by = by
    db.flush()
    return staged, changed


def unstage_new_session(db: Session, staged: StagedSession) -> None:
    """A staged new session is simply dropped: the public never saw it."""
    db.delete(staged)
    db.flush()


def staged_room_or_track_users(
    db: Session, conference: Conference, field: Literal["room_id", "track_id"], record_id: int
) -> bool:
    """Whether any staged session uses this room or track (so it cannot be deleted yet)."""
    return any(row.values.get(field) == record_id for row in staged_sessions(db, conference))


def staged_speaker_users(db: Session, conference: Conference, speaker_id: int) -> bool:
    return any(
        speaker_id == person[0] for row in staged_sessions(db, conference) for person in row.people
    )


# ---- what is pending ----------------------------------------------------------------------


PendingKind = Literal["added", "changed", "cancelled", "restored"]


@dataclass(frozen=True)
class PendingChange:
    """One session whose working copy differs from the public programme."""

    slug: str
    title: str
    kind: PendingKind
    # Names of what differs ("title", "start", "end", "room_id", "people", ...) with the public
    # value and the working copy's, in the records' own terms (ids, aware datetimes).
    fields: dict[str, tuple[Any, Any]]
    by: str
    at: datetime


def pending_changes(
    db: Session, conference: Conference, rows: list[StagedSession] | None = None
) -> list[PendingChange]:
    """Every staged session (of `rows`, when the caller has them) that differs from the public
    programme, in the order staged."""
    found: list[PendingChange] = []
    for staged in staged_sessions(db, conference) if rows is None else rows:
        values = staged_values(staged)
        if staged.session_id is None:
            found.append(
                PendingChange(
                    staged.slug,
                    values["title"],
                    "added",
                    {name: (None, value) for name, value in values.items()},
                    staged.updated_by,
                    staged.updated_at,
                )
            )
            continue
        record = db.get(ProgrammeSession, staged.session_id)
        assert record is not None  # the staged row goes with it (ON DELETE CASCADE)
        differs: dict[str, tuple[Any, Any]] = {
            name: (getattr(record, name), value)
            for name, value in values.items()
            if getattr(record, name) != value
        }
        public_people = _people_of(db, staged.session_id)
        if public_people != staged.people:
            differs["people"] = (public_people, staged.people)
        if not differs:
            continue
        kind: PendingKind = "changed"
        if "status" in differs:
            if values["status"] == SessionStatus.cancelled.value:
                kind = "cancelled"
            elif record.status == SessionStatus.cancelled.value:
                kind = "restored"
        found.append(
            PendingChange(
                staged.slug, values["title"], kind, differs, staged.updated_by, staged.updated_at
            )
        )
    return found


# ---- publishing and discarding ------------------------------------------------------------


@dataclass(frozen=True)
class Released:
    release_id: int
    sessions: int  # how many sessions the release changed or added
    changes: int  # how many changelog entries it made


def publish_changes(
    db: Session,
    conference: Conference,
    *,
    note: str = "",
    by: str = "",
    now: datetime | None = None,
) -> Released | None:
    """Apply every staged session to the public programme in the caller's transaction (the
    conference locked by `conference_for_update`): one release, one programme version, one
    change-mail batch. None when nothing is pending."""
    assert conference.id is not None
    now = now or utcnow()
    rows = staged_sessions(db, conference)
    pending = pending_changes(db, conference, rows)
    if not pending:
        for staged in rows:  # saved back to what is public: nothing to release
            db.delete(staged)
        db.flush()
        return None
    newest_before = db.exec(
        select(func.max(ProgrammeChange.id)).where(ProgrammeChange.conference_id == conference.id)
    ).one()
    release = ProgrammeRelease(conference_id=conference.id, at=now, note=note.strip(), by=by)
    db.add(release)
    db.flush()
    assert release.id is not None
    for staged in rows:
        values = staged_values(staged)
        people = [(speaker_id, role) for speaker_id, role in staged.people]
        if staged.session_id is None:
            record = ProgrammeSession(
                conference_id=conference.id,
                uuid=staged.values.get("uuid") or str(uuid_lib.uuid4()),
                slug=staged.slug,
                made_on_web=True,
                created_at=now,
                updated_at=now,
                **values,
            )
            db.delete(staged)
            db.flush()  # the slug is free for the session now
            db.add(record)
            db.flush()
            set_session_people(db, record, people, now, current=[])
            record.version = staged.version
            record_session_added(db, conference, record, now)
        else:
            existing = db.get(ProgrammeSession, staged.session_id)
            assert existing is not None
            change_session(db, conference, existing, values, now)
            set_session_people(db, existing, people, now)
            existing.version = max(existing.version, staged.version)
            db.delete(staged)
    db.flush()
    stamped = db.execute(
        update(ProgrammeChange)
        .where(
            col(ProgrammeChange.conference_id) == conference.id,
            col(ProgrammeChange.id) > (newest_before or 0),
        )
        .values(release_id=release.id)
        .execution_options(synchronize_session=False)
    )
    bump_programme_version(conference, now)
    db.flush()
    batch_release(db, conference.id, release.id, now)
    return Released(release.id, len(pending), rowcount(stamped))


def discard_changes(db: Session, conference: Conference, slug: str | None = None) -> int:
    """Throw away the working copy's pending changes (all, or one session's): the public
    programme stays as it is. Returns how many sessions were reset."""
    rows = staged_sessions(db, conference)
    if slug is not None:
        rows = [row for row in rows if row.slug == slug]
    for row in rows:
        db.delete(row)
    db.flush()
    return len(rows)


class PendingChangesFirst(Exception):
    """Turning on "every save is public" with changes pending would publish them unasked."""


def set_publish_each_save(db: Session, conference: Conference, on: bool) -> bool:
    """Keep the working copy (False) or make every save public at once (True). Returns whether
    the setting changed; refuses to turn it on while changes are pending."""
    if conference.publish_each_save == on:
        return False
    if on and pending_changes(db, conference):
        raise PendingChangesFirst
    if on:
        discard_changes(db, conference)  # only rows saved back to what is public remain
    conference.publish_each_save = on
    db.flush()
    return True
