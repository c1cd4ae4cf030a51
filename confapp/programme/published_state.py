"""The few values every public page, feed and export of a conference is built from, read with one
small query per request, so that a body built before can be served again when they are unchanged.

Every change to the programme bumps the conference's programme_version in its own transaction,
and a steward marking a room full changes the set of full session doors; reading both from the
database on every request is what keeps each app process's cached bodies right the instant
another process commits a change (see confapp.calendar.publish). The read goes straight to the
driver (`Database.read_straight`), without the ORM: it is the one query a 304 or a cached page
costs, and on SQLite the ORM's unit of work made it forty times dearer than the query.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import Request

from confapp.db import Database
from confapp.http_cache import BodyCache
from confapp.models import Conference
from confapp.programme.queries import NotFound, Programme, load_programme
from confapp.request_context import database
from confapp.translation import _, use_conference_language

FullDoors = tuple[tuple[int, int | None], ...]


@dataclass(frozen=True)
class PublishedState:
    conference_id: int
    programme_version: int
    published: bool
    # (session id, overflow room id) of every session whose door is marked full now: public
    # pages show it, feeds do not.
    full_doors: FullDoors = ()
    # The language the request is answered in: one of the conference's, the best for this
    # reader (confapp.translation). Part of every key built from this state.
    language: str = "en"


_CONFERENCE = (
    "SELECT id, programme_version, programme_published_at IS NOT NULL, languages,"
    " default_language FROM conference WHERE slug = {p}"
)
# The same with a row for each full door (or one row with NULLs when none is full): one round
# trip for a page.
_CONFERENCE_AND_FULL_DOORS = (
    "SELECT c.id, c.programme_version, c.programme_published_at IS NOT NULL, c.languages,"
    " c.default_language, d.session_id, d.overflow_room_id"
    " FROM conference c LEFT JOIN ("
    "  SELECT s.conference_id, d.session_id, d.overflow_room_id FROM session_door d"
    "  JOIN programme_session s ON s.id = d.session_id WHERE d.full_since IS NOT NULL"
    " ) d ON d.conference_id = c.id"
    " WHERE c.slug = {p} ORDER BY d.session_id"
)


def read_published_state(
    db: Database, conference_slug: str, *, with_doors: bool = False
) -> PublishedState:
    """The conference's published state; NotFound for a conference that does not exist."""
    sql = _CONFERENCE_AND_FULL_DOORS if with_doors else _CONFERENCE
    return _state(conference_slug, db.read_straight(sql, (conference_slug,)))


async def published_state(
    request: Request, conference_slug: str, *, with_doors: bool = False
) -> PublishedState:
    """read_published_state for a request, on the event loop."""
    db = database(request)
    sql = _CONFERENCE_AND_FULL_DOORS if with_doors else _CONFERENCE
    return _state(conference_slug, await db.read_straight_for_request(sql, (conference_slug,)))


def _state(conference_slug: str, rows: list[tuple[Any, ...]]) -> PublishedState:
    if not rows:
        raise NotFound(_("There is no conference called “%(slug)s”.") % {"slug": conference_slug})
    conference_id, version, published, languages, default_language = rows[0][:5]
    if isinstance(languages, str):  # SQLite hands JSON back as text, PostgreSQL parsed
        languages = json.loads(languages)
    language = use_conference_language(languages, default_language)
    full_doors: FullDoors = tuple((row[5], row[6]) for row in rows if len(row) > 5 and row[5])
    return PublishedState(int(conference_id), int(version), bool(published), full_doors, language)


def programme_cache() -> BodyCache[Programme]:
    """The programmes of the last few states, for building pages, feeds and ticket pages: after
    a change, the first of them loads the programme and the others build from the same one. The
    loaded rows are detached from their unit of work and only ever read."""
    return BodyCache(max_entries=8, size=lambda _: 0)


def published_programme(
    db: Database, cache: BodyCache[Programme], state: PublishedState
) -> Programme:
    """The public programme as of `state` (read first, so it is never older than its key)."""

    def load() -> Programme:
        with db.read() as session:
            conference = session.get(Conference, state.conference_id)
            if conference is None:  # deleted since the state was read
                raise NotFound(_("There is no conference at this address."))
            return load_programme(session, conference)

    # Loaded once per version, whatever the language; each language's copy is made from it.
    loaded = cache.get_or_build(replace(state, language=""), load)
    return cache.get_or_build(state, lambda: loaded.in_language(state.language))
