"""The demo programme (confapp/seed/) as the tests name it, and editing one of its sessions the
way the editor and the loader do."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select

from confapp.db import Database
from confapp.models import ProgrammeSession, Room
from confapp.programme.changes import bump_programme_version, change_session
from confapp.programme.editing import conference_for_update
from confapp.programme.queries import require_conference
from confapp.programme.working_copy import Released, publish_changes, set_publish_each_save
from confapp.times import to_utc
from tests.support import DEMO

TZ = "Australia/Sydney"  # the demo conference's time zone
SATURDAY = "2027-07-10"
LENIN = "lenin-and-the-1903-congress"  # Sat 10 Jul 09:30–11:00, The Refectory, Liam Farrelly
STATE = "state-and-revolution"  # Sat 10 Jul 09:30–11:00, Great Hall
WAGES = "public-sector-fightback"


def sydney(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of July 2027 on the demo's clocks, in UTC."""
    return to_utc(datetime(2027, 7, day, hour, minute), TZ)


def edit_session(db: Database, slug: str, at: datetime | None = None, **values: Any) -> None:
    """Change a session as the editor and the loader do: one transaction, the programme's
    version bumped with it. `room` is a room slug (or None for no room)."""
    with db.transaction() as session:
        conference = require_conference(session, DEMO)
        record = session.exec(
            select(ProgrammeSession).where(
                ProgrammeSession.conference_id == conference.id, ProgrammeSession.slug == slug
            )
        ).one()
        if "room" in values:
            room_slug = values.pop("room")
            values["room_id"] = (
                session.exec(
                    select(Room.id).where(
                        Room.conference_id == conference.id, Room.slug == room_slug
                    )
                ).one()
                if room_slug
                else None
            )
        assert change_session(session, conference, record, values, at)
        bump_programme_version(conference, at)


def publish_pending(db: Database, conference_slug: str = DEMO, note: str = "") -> Released | None:
    """Publish the working copy's pending changes, as an organiser's "Publish changes" does."""
    with db.transaction() as session:
        conference = conference_for_update(session, conference_slug)
        return publish_changes(session, conference, note=note, by="organiser@example.org")


def make_every_save_public(db: Database, conference_slug: str = DEMO) -> None:
    """The conference's mode on the day itself: every save to the published programme is
    public at once, with no working copy."""
    with db.transaction() as session:
        set_publish_each_save(session, conference_for_update(session, conference_slug), True)
