"""What each public feed and export holds, built once per programme version and then kept.

A calendar app polling a 1,000-session feed from thousands of phones must not make the server
rebuild it each time. Built bodies are kept in a small in-process LRU (`BodyCache`) keyed by
(conference id, programme_version, feed, base URL). That is safe with several app processes
only because programme_version is read from the database on every request and every change to
the programme bumps it in the same transaction: a process can never serve a body for a version
the database has moved past, and no process needs to hear about another's cache. The version is
read before the programme, so a body is never older than the version it is filed under (at
worst newer, for a request already under way when a change commits). Requests that miss together
wait for one build.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from confapp import urls
from confapp.calendar.ical import CalendarInfo, build_calendar
from confapp.calendar.schedule_export import schedule_json, schedule_xml
from confapp.db import Database
from confapp.http_cache import BodyCache, BuiltBody
from confapp.models import Conference
from confapp.programme.published_state import (
    PublishedState,
    programme_cache,
    published_programme,
    read_published_state,
)
from confapp.programme.queries import (
    NotFound,
    Programme,
    SessionEntry,
)
from confapp.translation import _

ICALENDAR_TYPE = "text/calendar; charset=utf-8; method=PUBLISH"
XML_TYPE = "application/xml; charset=utf-8"
JSON_TYPE = "application/json"

Format = Literal["ics", "xml", "json"]
Scope = Literal["programme", "session", "track", "room", "speaker"]


@dataclass(frozen=True)
class Feed:
    """One published document: a format, and which part of the programme it covers."""

    format: Format
    scope: Scope = "programme"
    key: str = ""  # the slug of the session, track, room or speaker

    def filename(self, conference_slug: str) -> str:
        if self.format != "ics":
            return f"{conference_slug}-schedule.{self.format}"
        name = conference_slug if self.scope == "programme" else f"{conference_slug}-{self.key}"
        return f"{name}.ics"


def published(
    db: Database,
    cache: BodyCache[BuiltBody],
    conference_slug: str,
    feed: Feed,
    base_url: str,
    programmes: BodyCache[Programme] | None = None,
) -> BuiltBody:
    """The feed's body and validators, from the cache while the programme is unchanged."""
    state = read_published_state(db, conference_slug)
    programmes = programmes or programme_cache()
    key = feed_cache_key(state, feed, base_url)
    return cache.get_or_build(key, lambda: build_feed_for(db, programmes, state, feed, base_url))


def feed_cache_key(state: PublishedState, feed: Feed, base_url: str) -> Hashable:
    # A feed's own words (its description, "Room to be announced") are in the state's language.
    return (
        state.conference_id,
        state.programme_version,
        state.published,
        feed,
        base_url,
        state.language,
    )


def build_feed_for(
    db: Database,
    programmes: BodyCache[Programme],
    state: PublishedState,
    feed: Feed,
    base_url: str,
) -> BuiltBody:
    """The feed as of `state` (read first, so a body is never older than its key)."""
    return build_feed(published_programme(db, programmes, state), feed, base_url)


def build_feed(programme: Programme, feed: Feed, base_url: str) -> BuiltBody:
    conference = programme.conference
    if feed.format == "xml":
        body = schedule_xml(programme, base_url)
        return BuiltBody.of(body, XML_TYPE, last_modified(conference, programme.sessions))
    if feed.format == "json":
        body = schedule_json(programme, base_url)
        return BuiltBody.of(body, JSON_TYPE, last_modified(conference, programme.sessions))
    calendar, entries = feed_contents(programme, feed, base_url)
    body = build_calendar(conference, entries, calendar, base_url)
    return BuiltBody.of(body, ICALENDAR_TYPE, last_modified(conference, entries))


def feed_contents(
    programme: Programme, feed: Feed, base_url: str
) -> tuple[CalendarInfo, list[SessionEntry]]:
    """The calendar's name and sessions for a feed; cancelled sessions stay in every feed."""
    conf = programme.conference
    slug = conf.slug
    if feed.scope == "programme":
        path, name, entries = urls.programme_feed_path(slug), conf.name, programme.sessions
    elif feed.scope == "session":
        entry = programme.session(feed.key)
        if entry is None:
            raise NotFound(_("There is no session at this address."))
        path, name, entries = urls.session_feed_path(slug, feed.key), entry.title, [entry]
    elif feed.scope == "track":
        track = programme.track(feed.key)
        if track is None:
            raise NotFound(_("There is no track called “%(slug)s”.") % {"slug": feed.key})
        path, name = urls.track_feed_path(slug, feed.key), track.name
        entries = [e for e in programme.sessions if e.track is not None and e.track.id == track.id]
    elif feed.scope == "room":
        room = programme.room(feed.key)
        if room is None:
            raise NotFound(_("There is no room called “%(slug)s”.") % {"slug": feed.key})
        path, name = urls.room_feed_path(slug, feed.key), room.name
        entries = [e for e in programme.sessions if e.room is not None and e.room.id == room.id]
    else:
        speaker = programme.speaker(feed.key)
        if speaker is None:
            raise NotFound(_("There is no speaker at this address."))
        path, name = urls.speaker_feed_path(slug, feed.key), speaker.name
        entries = programme.sessions_by_speaker.get(speaker.id or 0, [])
    title = conf.name if feed.scope == "programme" else f"{conf.name}: {name}"
    times = _("Times are %(zone)s time.") % {"zone": conf.timezone}
    calendar = CalendarInfo(
        name=title,
        source_url=urls.absolute(base_url, path),
        description=f"{conf.name}, {conf.venue}. {times}",
        transparent=feed.scope != "session",
    )
    return calendar, list(entries)


def last_modified(conference: Conference, entries: Sequence[SessionEntry]) -> datetime:
    """The latest change to the conference or to the feed's sessions. Every change to the
    programme (a room renamed too) moves the conference's updated_at with its version."""
    stamps = [conference.updated_at, *(e.record.updated_at for e in entries)]
    return max(stamps).astimezone(UTC)
