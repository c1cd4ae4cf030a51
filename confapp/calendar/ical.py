"""iCalendar feeds (RFC 5545 with RFC 7986 calendar properties) of programme sessions.

`build_calendar` takes plain values (the conference, the sessions, what to call the calendar)
and returns the bytes of a whole feed. Everything in it comes from stored data, never from the
clock or the host, so two builds from the same data are byte-identical and a calendar app sees a
session as the same event (same UID) for ever.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard
from icalendar.prop import vCategory, vDuration, vText

from confapp import urls
from confapp.models import Conference
from confapp.programme.queries import SessionEntry, kind_name
from confapp.times import to_local
from confapp.translation import _, current_language, in_language, ngettext

PRODID = "-//confapp//Programme feed//EN"
UID_DOMAIN = "confapp"
# How often calendar apps should check the feed (RFC 7986 REFRESH-INTERVAL, and Outlook's and
# Apple's X-PUBLISHED-TTL). A programme changes in the days before and during a conference
# (rooms move, sessions are cancelled) and an hour is short enough for that; shorter would
# multiply the polling of thousands of phones for little gain, and every poll of an unchanged
# feed costs one small query and a 304. Google ignores it and polls every 8 to 24 hours.
REFRESH_INTERVAL = timedelta(hours=1)

# Control characters cannot appear in iCalendar TEXT (RFC 5545 3.3.11), only as the \n escape.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class CalendarInfo:
    """What a feed is: its name in the calendar app and where it is published."""

    name: str
    source_url: str  # the feed's own absolute URL (RFC 7986 SOURCE)
    description: str = ""
    # A feed of many parallel sessions must not mark someone busy all weekend; a feed of
    # sessions they chose (one session, a personal agenda) may.
    transparent: bool = True


def session_uid(session_uuid: str) -> str:
    """The event's UID: from the session's UUID only, so it survives any edit or host."""
    return f"{session_uuid}@{UID_DOMAIN}"


def calendar_text(value: str) -> str:
    """Text as iCalendar can carry it: line breaks as \\n, no other control characters."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", value)


class _Text(vText):
    """TEXT escaped per RFC 5545 3.3.11.

    icalendar's own escaping turns a literal backslash followed by "N" into a line break, so
    "C:\\New" would change meaning; here every backslash is escaped first.
    """

    def to_ical(self) -> bytes:
        text = calendar_text(str(self))
        text = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
        return text.replace("\n", "\\n").encode("utf-8")


def _categories(names: list[str]) -> vCategory:
    value = vCategory(names)
    value.cats = [_Text(name) for name in names]
    return value


def build_calendar(
    conference: Conference,
    entries: Sequence[SessionEntry],
    calendar: CalendarInfo,
    base_url: str,
) -> bytes:
    """The feed as bytes: CRLF line ends, lines folded at 75 octets, UTF-8."""
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("METHOD", "PUBLISH")
    cal.add("NAME", _Text(calendar.name))
    cal.add("X-WR-CALNAME", _Text(calendar.name))
    if calendar.description:
        cal.add("DESCRIPTION", _Text(calendar.description))
        cal.add("X-WR-CALDESC", _Text(calendar.description))
    cal.add("X-WR-TIMEZONE", conference.timezone)
    cal.add("SOURCE", calendar.source_url, parameters={"VALUE": "URI"})
    cal.add("URL", urls.absolute(base_url, urls.conference_path(conference.slug)))
    cal.add("REFRESH-INTERVAL", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
    cal.add("X-PUBLISHED-TTL", vDuration(REFRESH_INTERVAL))

    ordered = sorted(entries, key=lambda e: (e.record.start, e.record.end, e.record.slug))
    first, last = _date_span(conference, ordered)
    # The calendar's own lines, then its components: icalendar writes a VCALENDAR that way, so
    # putting in components made (and kept) one by one gives the same bytes as adding them.
    # Always a VTIMEZONE, even in an empty feed: a calendar must hold at least one component.
    head: bytes = cal.to_ical()
    assert head.endswith(_END_CALENDAR)
    components = [_vtimezone_bytes(conference.timezone, first, last)]
    components += [
        _event_bytes(_EventInputs.of(conference, entry, calendar, base_url)) for entry in ordered
    ]
    return head[: -len(_END_CALENDAR)] + b"".join(components) + _END_CALENDAR


_END_CALENDAR = b"END:VCALENDAR\r\n"


@dataclass(frozen=True)
class _EventInputs:
    """Every value one session's VEVENT is made of, and nothing else: equal inputs make equal
    bytes, so a built event can be kept under its inputs and used again in every later build.
    After a change only the sessions it touched are written again (bench/: the first build
    after a change was icalendar writing 300 unchanged events)."""

    uuid: str
    created_at: datetime
    updated_at: datetime
    sequence: int
    start: datetime
    end: datetime
    tz: str
    title: str
    slug: str
    kind: str
    abstract: str
    cancelled: bool
    room: str | None
    track: str | None
    speakers: tuple[str, ...]
    chairs: tuple[str, ...]
    conference_slug: str
    venue: str
    venue_address: str
    transparent: bool
    base_url: str
    # The language of the event's own words (its description's labels, a room not yet known).
    language: str

    @classmethod
    def of(
        cls, conference: Conference, entry: SessionEntry, calendar: CalendarInfo, base_url: str
    ) -> _EventInputs:
        record = entry.record
        return cls(
            uuid=record.uuid,
            created_at=record.created_at,
            updated_at=record.updated_at,
            sequence=record.sequence,
            start=record.start,
            end=record.end,
            tz=entry.tz,
            title=record.title,
            slug=record.slug,
            kind=record.kind,
            abstract=record.abstract,
            cancelled=entry.cancelled,
            room=entry.room.name if entry.room else None,
            track=entry.track.name if entry.track else None,
            speakers=tuple(s.name for s in entry.speakers),
            chairs=tuple(s.name for s in entry.chairs),
            conference_slug=conference.slug,
            venue=conference.venue,
            venue_address=conference.venue_address,
            transparent=calendar.transparent,
            base_url=base_url,
            language=current_language(),
        )


# Kept per process, like functools' own caches: what they hold is a pure function of the key.
@functools.lru_cache(maxsize=20_000)
def _event_bytes(inputs: _EventInputs) -> bytes:
    with in_language(inputs.language):
        ical: bytes = _event(inputs).to_ical()
    return ical


@functools.lru_cache(maxsize=64)
def _vtimezone_bytes(tz_name: str, first: date, last: date) -> bytes:
    ical: bytes = vtimezone(tz_name, first, last).to_ical()
    return ical


def _event(inputs: _EventInputs) -> Event:
    page = urls.absolute(inputs.base_url, urls.session_path(inputs.conference_slug, inputs.slug))
    event = Event()
    event.add("UID", session_uid(inputs.uuid))
    # DTSTAMP and LAST-MODIFIED are when the session last really changed, never when the feed
    # was fetched, so an unchanged programme gives a byte-identical feed. (Renaming its room
    # changes LOCATION but not these: apps re-read a subscribed feed whole, and the feed's
    # ETag and Last-Modified do move.)
    modified = inputs.updated_at.astimezone(UTC)
    event.add("DTSTAMP", modified)
    event.add("LAST-MODIFIED", modified)
    event.add("CREATED", inputs.created_at.astimezone(UTC))
    event.add("SEQUENCE", inputs.sequence)
    event.add("DTSTART", _event_time(inputs.start, inputs.tz))
    event.add("DTEND", _event_time(inputs.end, inputs.tz))
    event.add("SUMMARY", _Text(inputs.title))
    event.add("LOCATION", _Text(_location(inputs)))
    event.add("DESCRIPTION", _Text(_description(inputs, page)))
    event.add("URL", page)
    event.add("STATUS", "CANCELLED" if inputs.cancelled else "CONFIRMED")
    event.add("TRANSP", "TRANSPARENT" if inputs.transparent else "OPAQUE")
    categories = [inputs.track] if inputs.track else []
    event.add("CATEGORIES", _categories([*categories, kind_name(inputs.kind)]))
    return event


def _event_time(instant: datetime, tz_name: str) -> datetime:
    local = to_local(instant, tz_name)
    # A wall-clock time in the hour repeated when clocks go back is ambiguous. RFC 5545 3.3.5
    # says it means the first occurrence, but clients differ (ical.js takes the second), so
    # such an instant is written in UTC, which every client reads the same way.
    if local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset():
        return instant.astimezone(UTC)
    return local


def _location(inputs: _EventInputs) -> str:
    room = inputs.room or _("Room to be announced")
    return ", ".join(part for part in (room, inputs.venue, inputs.venue_address) if part)


def _description(inputs: _EventInputs, page_url: str) -> str:
    people = []
    if inputs.speakers:
        names = ", ".join(inputs.speakers)
        people.append(
            ngettext("Speaker: %(names)s", "Speakers: %(names)s", len(inputs.speakers))
            % {"names": names}
        )
    if inputs.chairs:
        people.append(_("Chair: %(names)s") % {"names": ", ".join(inputs.chairs)})
    blocks = [
        _("This session is cancelled.") if inputs.cancelled else "",
        "\n".join(people),
        inputs.abstract.strip(),
        page_url,
    ]
    return "\n\n".join(block for block in blocks if block)


def _date_span(conference: Conference, entries: Sequence[SessionEntry]) -> tuple[date, date]:
    days = [conference.start_date, conference.end_date]
    for entry in entries:
        days += [entry.local_start.date(), entry.local_end.date()]
    return min(days) - timedelta(days=7), max(days) + timedelta(days=7)


# ---- VTIMEZONE ------------------------------------------------------------------------------


def vtimezone(tz_name: str, first: date, last: date) -> Timezone:
    """A VTIMEZONE for the zone's rules between two dates, from the zoneinfo database.

    Each change of offset becomes an observance whose DTSTART is the local time of the change
    as read on the clock before it (RFC 5545 3.6.5, with TZOFFSETFROM): 02:00 when Sydney's
    clocks go forward, 03:00 when they go back. icalendar's generator writes the time after the
    change, which makes other clients misplace sessions in the repeated hour.
    """
    zone = ZoneInfo(tz_name)
    start = datetime.combine(first, time.min, tzinfo=zone)
    end = datetime.combine(last, time.min, tzinfo=zone)
    component = Timezone()
    component.add("TZID", tz_name)
    offset = start.utcoffset() or timedelta()
    component.add_component(_observance(start, start.replace(tzinfo=None), offset))
    for change in _changes(zone, start.astimezone(UTC), end.astimezone(UTC)):
        before = (change - timedelta(seconds=1)).astimezone(zone).utcoffset() or timedelta()
        onset = (change + before).replace(tzinfo=None)
        component.add_component(_observance(change.astimezone(zone), onset, before))
    return component


def _observance(
    local: datetime, onset: datetime, offset_from: timedelta
) -> TimezoneStandard | TimezoneDaylight:
    observance = TimezoneDaylight() if local.dst() else TimezoneStandard()
    observance.add("DTSTART", onset)
    observance.add("TZOFFSETFROM", offset_from)
    observance.add("TZOFFSETTO", local.utcoffset() or timedelta())
    observance.add("TZNAME", local.tzname() or "")
    return observance


def _state(zone: ZoneInfo, instant: datetime) -> tuple[object, ...]:
    local = instant.astimezone(zone)
    return (local.utcoffset(), local.dst(), local.tzname())


def _changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The UTC instants at which the zone's offset, DST or name changes, to the second."""
    changes = []
    step = timedelta(hours=6)  # no zone changes twice within six hours
    low = start
    while low < end:
        high = min(low + step, end)
        if _state(zone, low) != _state(zone, high):
            a, b = low, high
            while b - a > timedelta(seconds=1):
                middle = a + (b - a) / 2
                middle = middle.replace(microsecond=0)
                if _state(zone, middle) == _state(zone, a):
                    a = middle
                else:
                    b = middle
            changes.append(b)
        low = high
    return changes
