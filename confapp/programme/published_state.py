"""The few values every public page, feed and export of a conference is built from, read with one
small query per request, so that a body built before can be served again when they are unchanged.

Every change to the programme bumps the conference's programme_version in its own transaction,
and a steward marking a room full changes the set of full session doors; reading both from the
database on every request is what keeps each app process's cached bodies right the instant
another process commits a change (see confapp.calendar.publish). The read goes straight to the
driver (`Database.read_straight`), without the ORM: it is the one query a 304 or a cached page
costs, and the ORM's unit of work made it forty times dearer than the query itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from confapp.db import Database
from confapp.http_cache import BodyCache
from confapp.models import Conference
from confapp.programme.queries import NotFound, Programme, load_programme

FullDoors = tuple[tuple[int, int | None], ...]


@dataclass(frozen=True)
class PublishedState:
    conference_id: int
    programme_version: int
    published: bool
    # (session id, overflow room id) of every session whose door is marked full now: public
    # pages show it, feeds do not.
    full_doors: FullDoors = ()


_CONFERENCE = (
    "SELECT id, programme_version, programme_published_at IS NOT NULL"
    " FROM conference WHERE slug = {p}"
)
_FULL_DOORS = (
    "SELECT d.session_id, d.overflow_room_id FROM session_door d"
    " JOIN programme_session s ON s.id = d.session_id"
    " WHERE s.conference_id = {p} AND d.full_since IS NOT NULL ORDER BY d.session_id"
)


def read_published_state(
    db: Database, conference_slug: str, *, with_doors: bool = False
) -> PublishedState:
    """The conference's published state; NotFound for a conference that does not exist."""
    return db.read_straight(_reader(conference_slug, with_doors))


async def published_state(
    request: Request, conference_slug: str, *, with_doors: bool = False
) -> PublishedState:
    """read_published_state for a request (on the event loop for SQLite)."""
    db: Database = request.app.state.db
    return await db.read_straight_for_request(_reader(conference_slug, with_doors))


def _reader(conference_slug: str, with_doors: bool) -> Callable[[Any, str], PublishedState]:
    def read(cursor: Any, placeholder: str) -> PublishedState:
        cursor.execute(_CONFERENCE.format(p=placeholder), (conference_slug,))
        row = cursor.fetchone()
        if row is None:
            raise NotFound(f"There is no conference called “{conference_slug}”.")
        full_doors: FullDoors = ()
        if with_doors:
            cursor.execute(_FULL_DOORS.format(p=placeholder), (row[0],))
            full_doors = tuple((door[0], door[1]) for door in cursor.fetchall())
        return PublishedState(int(row[0]), int(row[1]), bool(row[2]), full_doors)

    return read


def programme_cache() -> BodyCache[Programme]:
    """The programmes of the last few states, for building pages, feeds and ticket pages: after
    a change, the first of them loads the programme and the others build from the same one. The
    loaded rows are detached from their unit of work and only ever read."""
    return BodyCache(max_entries=4, size=lambda _: 0)


def published_programme(
    db: Database, cache: BodyCache[Programme], state: PublishedState
) -> Programme:
    """The public programme as of `state` (read first, so it is never older than its key)."""

    def load() -> Programme:
        with db.read() as session:
            conference = session.get(Conference, state.conference_id)
            if conference is None:  # deleted since the state was read
                raise NotFound("There is no conference at this address.")
            return load_programme(session, conference)

    return cache.get_or_build(state, load)
