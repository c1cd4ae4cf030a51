"""The programme as frab-compatible schedule.xml and schedule.json, for conference apps
(Giggity, EventFahrplan, ...) and for recording teams (C3VOC tooling).

Both are rendered from one JSON-shaped document, checked against the C3VOC schemas
(schedule.xml.xsd and schema.json). Where a confapp key is not a valid frab identifier it is
mapped, never dropped, so every export validates whatever the conference file holds.
Cancelled sessions are left out: the frab format has no status, so apps drop them on refresh.
"""

from __future__ import annotations

import json
import re
import uuid as uuid_lib
import xml.etree.ElementTree as ET
from typing import Any

import confapp
from confapp import urls
from confapp.models import Room
from confapp.programme.queries import Programme, SessionEntry
from confapp.times import iso, local_day_bounds
from confapp.translation import N_, _

SCHEMA_URL = "https://c3voc.de/schedule/schema.json"
# Rooms have no UUID of their own; these are derived like session UUIDs, from the conference
# slug and the room key, so they are the same on every host that loads the same file.
ROOM_UUID_NAMESPACE = uuid_lib.UUID("0f2f1c52-4b87-4c1e-8f0a-9d8a52f5c3b7")
NO_ROOM = N_("Room to be announced")

_FRAB_SLUG = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")  # both schemas' slug patterns at once
_TIME_ZONE_NAME = re.compile(r"^([A-Z][a-z]+/[A-Z][a-z]+)|UTC$")  # schema.json's pattern
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def frab_acronym(conference_slug: str) -> str:
    """frab acronyms allow no hyphen after the first character: "socialism-2027" ->
    "socialism_2027" (underscores cannot occur in confapp keys, so this never collides)."""
    return conference_slug.replace("-", "_").ljust(4, "_")


def frab_slug(key: str, prefix: str) -> str:
    """A track or room key as a frab slug: a letter first, at least two characters, not ending
    in a hyphen. Keys like "1917" or "a" get a prefix ("track-1917")."""
    if _FRAB_SLUG.match(key):
        return key
    return f"{prefix}-{key.strip('-')}"


def event_slug(acronym: str, session_id: int, session_key: str) -> str:
    """ "{acronym}-{key}" as the C3VOC schema wants it; a key too short for it, or ending in a
    hyphen, becomes "session_{id}" (no key has an underscore, so no clash)."""
    tail = session_key if len(session_key) >= 4 and session_key[-1] != "-" else ""
    return f"{acronym}-{tail or f'session_{session_id}'}"


def room_uuid(conference_slug: str, room_key: str) -> str:
    return str(uuid_lib.uuid5(ROOM_UUID_NAMESPACE, f"{conference_slug}/{room_key}"))


def _hh_mm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _web_url(url: str) -> bool:
    return url.startswith(("https://", "http://"))


def _room_names(rooms: list[Room]) -> dict[int | None, str]:
    """Room names as frab uses them (the key of a day's rooms): made unique if two rooms
    share a name."""
    counts: dict[str, int] = {}
    for room in rooms:
        counts[room.name] = counts.get(room.name, 0) + 1
    names: dict[int | None, str] = {
        room.id: room.name if counts[room.name] == 1 else f"{room.name} ({room.slug})"
        for room in rooms
    }
    names[None] = _(NO_ROOM)
    return names


def schedule_document(programme: Programme, base_url: str) -> dict[str, Any]:
    """The frab JSON document (C3VOC schema.json); schedule.xml is rendered from it."""
    conf = programme.conference
    acronym = frab_acronym(conf.slug)
    room_names = _room_names(programme.rooms)
    confirmed = sorted(
        (e for e in programme.sessions if not e.cancelled),
        key=lambda e: (e.record.start, e.record.end, e.record.slug),
    )
    days = []
    for index, day in enumerate(programme.days, start=1):
        day_start, day_end = local_day_bounds(day, conf.timezone)
        by_room: dict[str, list[dict[str, Any]]] = {}
        for room_id in [room.id for room in programme.rooms] + [None]:
            events = [
                _event(programme, entry, acronym, room_names, base_url)
                for entry in confirmed
                if entry.day == day and (entry.room.id if entry.room else None) == room_id
            ]
            if events:
                by_room[room_names[room_id]] = events
        days.append(
            {
                "index": index,
                "date": day.isoformat(),
                "day_start": iso(day_start, conf.timezone),
                "day_end": iso(day_end, conf.timezone),
                "rooms": by_room,
            }
        )
    conference: dict[str, Any] = {
        "acronym": acronym,
        "title": conf.name,
        "description": conf.description,
        "start": conf.start_date.isoformat(),
        "end": conf.end_date.isoformat(),
        "daysCount": len(programme.days),
        "timeslot_duration": "00:05",
    }
    # schema.json only knows two-part names such as "Australia/Sydney"; other zones are left
    # out rather than failing validation (every time carries its UTC offset anyway).
    if _TIME_ZONE_NAME.match(conf.timezone):
        conference["time_zone_name"] = conf.timezone
    if _web_url(conf.url):
        conference["url"] = conf.url
    conference["tracks"] = [
        {"name": track.name, "slug": frab_slug(track.slug, "track"), "color": track.colour}
        for track in programme.tracks
    ]
    conference["rooms"] = [
        {
            "name": room_names[room.id],
            "slug": frab_slug(room.slug, "room"),
            "guid": room_uuid(conf.slug, room.slug),
            "description": room.access_notes,
            "capacity": room.capacity,
        }
        for room in programme.rooms
    ]
    conference["days"] = days
    return {
        "$schema": SCHEMA_URL,
        "generator": {"name": "confapp", "version": confapp.__version__},
        "schedule": {
            "url": urls.absolute(base_url, urls.schedule_json_path(conf.slug)),
            "version": str(conf.programme_version),
            "base_url": urls.absolute(base_url, "/"),
            "conference": conference,
        },
    }


def _event(
    programme: Programme,
    entry: SessionEntry,
    acronym: str,
    room_names: dict[int | None, str],
    base_url: str,
) -> dict[str, Any]:
    conf = programme.conference
    record = entry.record
    assert record.id is not None
    page = urls.absolute(base_url, urls.session_path(conf.slug, record.slug))
    links = [
        {"title": item.get("title", ""), "url": item["url"], "type": "related"}
        for item in record.reading_list
        if _web_url(item.get("url", ""))
    ]
    if _web_url(record.recording_url):
        links.append({"title": _("Recording"), "url": record.recording_url, "type": "media"})
    return {
        "guid": record.uuid,
        "id": record.id,
        "date": iso(record.start, entry.tz),
        "start": entry.local_start.strftime("%H:%M"),
        "end": iso(record.end, entry.tz),
        "duration": _hh_mm(entry.duration_minutes),
        "room": room_names[entry.room.id if entry.room else None],
        "slug": event_slug(acronym, record.id, record.slug),
        "url": page,
        "title": record.title,
        "subtitle": "",
        "track": entry.track.name if entry.track else None,
        "type": record.kind,
        "language": record.language,
        "abstract": record.abstract,
        "description": "",
        "persons": [
            {
                "id": person.speaker.id,
                "guid": person.speaker.uuid,
                "name": person.speaker.name,
                "biography": person.speaker.bio,
                "url": urls.absolute(base_url, urls.speaker_path(conf.slug, person.speaker.slug)),
            }
            for person in entry.people
        ],
        "links": links,
        "attachments": [],
    }


def schedule_json(programme: Programme, base_url: str) -> bytes:
    document = schedule_document(programme, base_url)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# ---- schedule.xml ---------------------------------------------------------------------------


def _xml_text(value: object) -> str:
    text = "" if value is None else str(value)
    return _NOT_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _child(parent: ET.Element, tag: str, text: object = "", **attributes: object) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _xml_text(v) for k, v in attributes.items()})
    element.text = _xml_text(text)
    return element


def schedule_xml(programme: Programme, base_url: str) -> bytes:
    """schedule.xml as pretalx renders it, minus what the current XSD rejects: track slugs
    start with a letter, no <color> without its primary attribute, no empty feedback_url."""
    document = schedule_document(programme, base_url)
    schedule = document["schedule"]
    conf = schedule["conference"]
    root = ET.Element("schedule")
    _child(root, "generator", name="confapp", version=confapp.__version__)
    _child(root, "url", urls.absolute(base_url, urls.schedule_xml_path(programme.conference.slug)))
    _child(root, "version", schedule["version"])
    conference = _child(root, "conference")
    for key in ("acronym", "title", "start", "end"):
        _child(conference, key, conf[key])
    _child(conference, "days", conf["daysCount"])
    _child(conference, "timeslot_duration", conf["timeslot_duration"])
    _child(conference, "base_url", schedule["base_url"])
    if "url" in conf:
        _child(conference, "url", conf["url"])
    _child(conference, "time_zone_name", programme.conference.timezone)
    for track in conf["tracks"]:
        element = _child(conference, "track", name=track["name"], slug=track["slug"])
        element.set("color", track["color"])
        element.text = track["name"]
    room_guids = {room["name"]: room["guid"] for room in conf["rooms"]}
    for day in conf["days"]:
        day_element = _child(
            root,
            "day",
            index=day["index"],
            date=day["date"],
            start=day["day_start"],
            end=day["day_end"],
        )
        for room_name, events in day["rooms"].items():
            room_element = _child(day_element, "room", name=room_name)
            if room_name in room_guids:
                room_element.set("guid", room_guids[room_name])
            for event in events:
                _xml_event(room_element, event)
    ET.indent(root, space="  ")
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def _xml_event(parent: ET.Element, event: dict[str, Any]) -> None:
    element = _child(parent, "event", guid=event["guid"], id=event["id"])
    for key in ("date", "start", "duration", "room", "slug", "url", "title", "subtitle"):
        _child(element, key, event[key])
    _child(element, "track", event["track"] or "")
    for key in ("type", "language", "abstract", "description"):
        _child(element, key, event[key])
    persons = _child(element, "persons")
    for person in event["persons"]:
        _child(persons, "person", person["name"], id=person["id"], guid=person["guid"])
    links = _child(element, "links")
    for link in event["links"]:
        _child(links, "link", link["title"], href=link["url"], type=link["type"])
    _child(element, "attachments")
