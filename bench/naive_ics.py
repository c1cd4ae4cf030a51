"""The naive baseline: build the programme .ics with `icalendar` from the database on every request.

What a straightforward feed costs, with no cache: one query for the sessions with their room and
track, one for their speakers, an `icalendar` event per session. bench/run.py serves it beside
confapp on the same database (BENCH_DATABASE_URL, conference BENCH_CONFERENCE) and divides
confapp's figures by its.
"""

from __future__ import annotations

import os
from collections import defaultdict
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlalchemy import create_engine, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from confapp.models import Conference, ProgrammeSession, Room, SessionPerson, Speaker, Track

engine = create_engine(os.environ["BENCH_DATABASE_URL"])
conference_t = Conference.__table__
session_t = ProgrammeSession.__table__
room_t = Room.__table__
track_t = Track.__table__
person_t = SessionPerson.__table__
speaker_t = Speaker.__table__


def programme_ics(request: Request) -> Response:
    slug = request.path_params["conference"]
    with engine.connect() as connection:
        conference = connection.execute(
            select(conference_t).where(conference_t.c.slug == slug)
        ).one()
        sessions = connection.execute(
            select(
                session_t.c.id,
                session_t.c.uuid,
                session_t.c.slug,
                session_t.c.title,
                session_t.c.abstract,
                session_t.c.kind,
                session_t.c.status,
                session_t.c.start,
                session_t.c.end,
                session_t.c.updated_at,
                room_t.c.name.label("room"),
                track_t.c.name.label("track"),
            )
            .select_from(session_t.outerjoin(room_t).outerjoin(track_t))
            .where(session_t.c.conference_id == conference.id)
            .order_by(session_t.c.start, session_t.c.slug)
        ).all()
        people = connection.execute(
            select(person_t.c.session_id, speaker_t.c.name)
            .join(speaker_t, speaker_t.c.id == person_t.c.speaker_id)
            .where(speaker_t.c.conference_id == conference.id)
            .order_by(person_t.c.session_id, person_t.c.position)
        ).all()
    speakers: dict[int, list[str]] = defaultdict(list)
    for session_id, name in people:
        speakers[session_id].append(name)

    zone = ZoneInfo(conference.timezone)
    base = str(request.base_url).rstrip("/")
    calendar = Calendar()
    calendar.add("PRODID", "-//confapp bench//naive icalendar baseline//EN")
    calendar.add("VERSION", "2.0")
    calendar.add("X-WR-CALNAME", conference.name)
    calendar.add("X-WR-TIMEZONE", conference.timezone)
    for row in sessions:
        page = f"{base}/{slug}/sessions/{row.slug}"
        event = Event()
        event.add("UID", f"{row.uuid}@confapp")
        event.add("DTSTAMP", row.updated_at)
        event.add("DTSTART", row.start.astimezone(zone))
        event.add("DTEND", row.end.astimezone(zone))
        event.add("SUMMARY", row.title)
        event.add("LOCATION", ", ".join(p for p in (row.room, conference.venue) if p))
        names = speakers.get(row.id, [])
        description = [("Speakers: " + ", ".join(names)) if names else "", row.abstract, page]
        event.add("DESCRIPTION", "\n\n".join(part for part in description if part))
        event.add("URL", page)
        event.add("STATUS", "CANCELLED" if row.status == "cancelled" else "CONFIRMED")
        event.add("CATEGORIES", [c for c in (row.track, row.kind.capitalize()) if c])
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return Response(calendar.to_ical(), media_type="text/calendar; charset=utf-8")


app = Starlette(routes=[Route("/{conference}/programme.ics", programme_ics)])
