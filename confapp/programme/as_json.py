"""The programme as JSON: the contract that feeds, apps and the door build on (docs/api.md)."""

from __future__ import annotations

from typing import Any

from confapp import urls
from confapp.models import Room, Speaker, Track
from confapp.programme.queries import Programme, SessionEntry
from confapp.times import iso


def programme_document(programme: Programme) -> dict[str, Any]:
    conf = programme.conference
    return {
        "conference": {
            "slug": conf.slug,
            "name": conf.name,
            "timezone": conf.timezone,
            "venue": conf.venue,
            "venue_address": conf.venue_address,
            "start_date": conf.start_date.isoformat(),
            "end_date": conf.end_date.isoformat(),
            "days": [day.isoformat() for day in programme.days],
            "description": conf.description,
            "url": urls.conference_path(conf.slug),
            "website": conf.url,
            "programme_version": conf.programme_version,
        },
        "rooms": [room_document(room) for room in programme.rooms],
        "tracks": [track_document(track) for track in programme.tracks],
        "speakers": [speaker_document(conf.slug, speaker) for speaker in programme.speakers],
        "sessions": [session_document(conf.slug, entry) for entry in programme.sessions],
    }


def room_document(room: Room) -> dict[str, Any]:
    return {
        "id": room.id,
        "slug": room.slug,
        "name": room.name,
        "capacity": room.capacity,
        "access_notes": room.access_notes,
    }


def track_document(track: Track) -> dict[str, Any]:
    return {
        "id": track.id,
        "slug": track.slug,
        "name": track.name,
        "colour": track.colour,
        "description": track.description,
    }


def speaker_document(conference_slug: str, speaker: Speaker) -> dict[str, Any]:
    return {
        "id": speaker.id,
        "uuid": speaker.uuid,
        "slug": speaker.slug,
        "name": speaker.name,
        "bio": speaker.bio,
        "pronouns": speaker.pronouns,
        "affiliation": speaker.affiliation,
        "links": list(speaker.links),
        "url": urls.speaker_path(conference_slug, speaker.slug),
    }


def session_document(conference_slug: str, entry: SessionEntry) -> dict[str, Any]:
    record = entry.record
    return {
        "id": record.id,
        "uuid": record.uuid,
        "slug": record.slug,
        "title": record.title,
        "kind": record.kind,
        "abstract": record.abstract,
        "start": iso(record.start, entry.tz),
        "end": iso(record.end, entry.tz),
        "duration_minutes": entry.duration_minutes,
        "room": entry.room.slug if entry.room else None,
        "track": entry.track.slug if entry.track else None,
        "language": record.language,
        "status": record.status,
        "people": [
            {"speaker": p.speaker.slug, "name": p.speaker.name, "role": p.role}
            for p in entry.people
        ],
        "reading_list": list(record.reading_list),
        "recording_url": record.recording_url or None,
        "url": urls.session_path(conference_slug, record.slug),
        "sequence": record.sequence,
        "updated_at": record.updated_at.isoformat(),
    }
