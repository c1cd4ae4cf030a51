"""Writing a conference as it now stands as a conference file, the TOML that `confapp load` reads.

The file is the one the loader would need to arrive at the same data: loading it into a fresh
database and exporting again gives the same bytes, and loading it into the database it came from
changes nothing. So values equal to the loader's defaults are left out, records come in a fixed
order, and the text is checked by the loader's own parser before it is handed back. Attendee
data is never part of it: the format has no place for it. It does hold what only organisers may
read (which speakers need step-free access), so it is a file for organisers, not for publishing.

What the file says about the programme's state: `draft = true` while the programme is
unpublished (a new database that loads the file starts it unpublished too), and the daily hours.
Whether a session was made on the web is not written: in the database it came from the session
keeps that mark, and a new database gets the session from a file like any other.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time
from decimal import Decimal
from typing import Any

import tomli_w
from sqlalchemy import true
from sqlmodel import Session, col, select

from confapp.content import Translatable
from confapp.models import (
    Conference,
    PersonRole,
    ProgrammeSession,
    Room,
    SessionPerson,
    SessionStatus,
    Speaker,
    TicketKind,
    TicketType,
    Track,
)
from confapp.programme.conference_file import (
    ConferenceFileError,
    parse_conference_text,
    session_uuid,
)
from confapp.programme.queries import get_conference
from confapp.times import to_local, to_utc

HEADER = (
    "# A conference file written by `confapp export`; the format is docs/conference-file.md.\n"
    "# Times are local wall-clock times in the conference's timezone.\n\n"
)


class ConferenceExportError(Exception):
    """A conference that cannot be exported: there is none by that slug, or it holds something
    the file format cannot say."""


def export_conference(db: Session, slug: str) -> str:
    """The conference file (TOML text) of the conference called `slug`, as it now stands."""
    conference = get_conference(db, slug)
    if conference is None:
        raise ConferenceExportError(f"there is no conference called {slug!r}")
    data = conference_file_data(db, conference)
    # tomli-w writes line breaks in multi-line strings as bare newlines, which would turn a
    # stored "\r\n" into "\n"; such text is written with escapes instead, on one line.
    multiline = not any("\r" in text for text in _strings(data))
    text = HEADER + tomli_w.dumps(data, multiline_strings=multiline)
    try:
        parse_conference_text(text, source=f"the export of {slug}")
    except ConferenceFileError as exc:
        raise ConferenceExportError(
            f"{slug} holds something a conference file cannot say:\n" + "\n".join(exc.problems)
        ) from exc
    return text


def conference_file_data(db: Session, conference: Conference) -> dict[str, Any]:
    """The conference as the plain data of a conference file (before it is written as TOML)."""
    assert conference.id is not None
    rooms = list(
        db.exec(
            select(Room)
            .where(Room.conference_id == conference.id)
            .order_by(col(Room.position), col(Room.id))
        )
    )
    tracks = list(
        db.exec(
            select(Track)
            .where(Track.conference_id == conference.id)
            .order_by(col(Track.position), col(Track.id))
        )
    )
    # Speakers have no order of their own: the order they were first loaded or added in.
    speakers = list(
        db.exec(
            select(Speaker).where(Speaker.conference_id == conference.id).order_by(col(Speaker.id))
        )
    )
    ticket_types = list(
        db.exec(
            select(TicketType)
            .where(TicketType.conference_id == conference.id, TicketType.on_sale == true())
            .order_by(col(TicketType.position), col(TicketType.id))
        )
    )
    return {
        "conference": _conference(conference),
        "rooms": [_room(room) for room in rooms],
        "tracks": [_track(track) for track in tracks],
        "speakers": [_speaker(speaker) for speaker in speakers],
        "sessions": _sessions(db, conference, rooms, tracks, speakers),
        "ticket_types": [_ticket_type(ticket_type) for ticket_type in ticket_types],
    }


def _with(table: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """`table` plus the optional values that say something: empty text, empty lists and None
    are what the loader assumes when a key is left out."""
    table.update({key: value for key, value in optional.items() if value not in ("", [], None)})
    return table


def _money(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(cents).scaleb(-2)  # 4500 -> 45.00


def _conference(conference: Conference) -> dict[str, Any]:
    table = {
        "slug": conference.slug,
        "name": conference.name,
        "timezone": conference.timezone,
        "start_date": conference.start_date,
        "end_date": conference.end_date,
        "venue": conference.venue,
    }
    _with(
        table,
        venue_address=conference.venue_address,
        description=conference.description,
        url=conference.url,
        capacity=conference.capacity,
    )
    table["currency"] = conference.currency
    _with(table, solidarity_place_price=_money(conference.solidarity_place_cents))
    table["erase_after_days"] = conference.erase_after_days
    _with(
        table,
        day_starts=_clock_time(conference.day_starts),
        day_ends=_clock_time(conference.day_ends),
    )
    if conference.programme_published_at is None:
        table["draft"] = True
    if conference.languages != ["en"]:
        table["languages"] = list(conference.languages)
    if conference.default_language != conference.languages[0]:
        table["default_language"] = conference.default_language
    return _with_translations(table, conference)


def _with_translations(table: dict[str, Any], row: Translatable) -> dict[str, Any]:
    """The record's texts in other languages, as its `translations` table (written last)."""
    texts = {
        language: dict(sorted(fields.items()))
        for language, fields in sorted((row.translations or {}).items())
        if fields
    }
    if texts:
        table["translations"] = texts
    return table


def _clock_time(value: time | None) -> str | None:
    """The daily hours as the file writes them, "09:30" (with seconds only if there are any)."""
    if value is None:
        return None
    return value.isoformat(timespec="minutes" if value.second == 0 else "seconds")


def _room(room: Room) -> dict[str, Any]:
    # step_free is left out while nobody has said (None), and written when it is true or false.
    table = _with(
        {"key": room.slug, "name": room.name},
        capacity=room.capacity,
        step_free=room.step_free,
        access_notes=room.access_notes,
    )
    return _with_translations(table, room)


def _track(track: Track) -> dict[str, Any]:
    table = _with(
        {"key": track.slug, "name": track.name, "colour": track.colour},
        description=track.description,
    )
    return _with_translations(table, track)


def _speaker(speaker: Speaker) -> dict[str, Any]:
    table = _with(
        {"key": speaker.slug, "name": speaker.name},
        bio=speaker.bio,
        pronouns=speaker.pronouns,
        affiliation=speaker.affiliation,
        links=list(speaker.links),
    )
    if speaker.needs_step_free:
        table["needs_step_free"] = True
    return table


def _local_time(instant: datetime, tz_name: str) -> datetime:
    """The wall-clock time in the conference's zone; with its UTC offset only when the wall
    clock alone would name another instant (the repeated hour when the clocks go back)."""
    local = to_local(instant, tz_name)
    # A file cannot say `fold` (which of the two 02:30s): the loader reads every time as fold 0.
    wall_clock = local.replace(tzinfo=None, fold=0)
    return wall_clock if to_utc(wall_clock, tz_name) == instant else local


def _sessions(
    db: Session,
    conference: Conference,
    rooms: list[Room],
    tracks: list[Track],
    speakers: list[Speaker],
) -> list[dict[str, Any]]:
    room_by_id = {room.id: room for room in rooms}
    track_key = {track.id: track.slug for track in tracks}
    speaker_key = {speaker.id: speaker.slug for speaker in speakers}
    people: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for person in db.exec(
        select(SessionPerson)
        .join(ProgrammeSession, col(SessionPerson.session_id) == ProgrammeSession.id)
        .where(ProgrammeSession.conference_id == conference.id)
        .order_by(col(SessionPerson.session_id), col(SessionPerson.position))
    ):
        people[person.session_id][person.role].append(speaker_key[person.speaker_id])

    sessions = list(
        db.exec(select(ProgrammeSession).where(ProgrammeSession.conference_id == conference.id))
    )
    # In programme order, so that the file reads like the timetable.
    sessions.sort(
        key=lambda s: (
            s.start,
            s.end,
            room_by_id[s.room_id].position if s.room_id in room_by_id else -1,
            s.slug,
        )
    )
    tz = conference.timezone
    exported = []
    for session in sessions:
        room = room_by_id.get(session.room_id)
        table: dict[str, Any] = {
            "key": session.slug,
            "title": session.title,
            "kind": session.kind,
            "start": _local_time(session.start, tz),
            "end": _local_time(session.end, tz),
        }
        billed = people.get(session.id or 0, {})
        _with(
            table,
            room=room.slug if room is not None else None,  # not placed yet
            track=track_key.get(session.track_id),
            abstract=session.abstract,
            speakers=billed.get(PersonRole.speaker.value, []),
            chairs=billed.get(PersonRole.chair.value, []),
        )
        if session.language != "en":
            table["language"] = session.language
        if session.status != SessionStatus.confirmed.value:
            table["status"] = session.status
        _with(
            table,
            reading=[{"title": item["title"], "url": item["url"]} for item in session.reading_list],
            recording_url=session.recording_url,
        )
        # Left out when it is the one the loader derives from the slugs anyway.
        if session.uuid != session_uuid(conference.slug, session.slug):
            table["uuid"] = session.uuid
        exported.append(_with_translations(table, session))
    return exported


def _ticket_type(ticket_type: TicketType) -> dict[str, Any]:
    table: dict[str, Any] = {"code": ticket_type.code, "name": ticket_type.name}
    if ticket_type.kind != TicketKind.fixed.value:
        table["kind"] = ticket_type.kind
    # A price the kind does not use is still written when it is not 0, so nothing is lost.
    if ticket_type.kind == TicketKind.fixed.value or ticket_type.price_cents:
        table["price"] = _money(ticket_type.price_cents)
    if ticket_type.kind == TicketKind.pay_what_you_can.value or ticket_type.min_price_cents:
        table["min_price"] = _money(ticket_type.min_price_cents)
    _with(
        table,
        suggested_price=_money(ticket_type.suggested_price_cents),
        capacity=ticket_type.capacity,
        description=ticket_type.description,
    )
    if ticket_type.from_solidarity_pool:
        table["from_solidarity_pool"] = True
    if ticket_type.requires_voucher:
        table["requires_voucher"] = True
    return _with_translations(table, ticket_type)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []
