"""The one place that turns instants into a conference's wall-clock time and back.

Every instant is stored and passed around as a timezone-aware UTC datetime; only templates and
feeds see local times, and they get them from here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_valid_zone(name: str) -> bool:
    if not name or name != name.strip():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    # Reject abbreviations such as "EST" or "AEST" that ZoneInfo may still accept as files.
    return "/" in name or name == "UTC" or name in available_timezones()


def to_utc(value: datetime, tz_name: str) -> datetime:
    """A wall-clock time in the conference's zone (or an aware time) as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz_name))
    return value.astimezone(UTC)


def to_local(value: datetime, tz_name: str) -> datetime:
    if value.tzinfo is None:  # stored instants are UTC; be forgiving with naive ones
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(tz_name))


def local_today(tz_name: str, now: datetime | None = None) -> date:
    """The calendar date it is now (or at `now`) in the given zone."""
    return to_local(now or utcnow(), tz_name).date()


def local_day_bounds(day: date, tz_name: str) -> tuple[datetime, datetime]:
    """The UTC instants at which a local calendar day starts and ends."""
    tz = ZoneInfo(tz_name)
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def iso(value: datetime, tz_name: str) -> str:
    """ISO 8601 with the conference's UTC offset, e.g. 2027-07-10T09:30:00+10:00."""
    return to_local(value, tz_name).isoformat()


def wall_clock_instant(day: date, clock: time, tz_name: str) -> datetime | None:
    """The instant a local wall-clock time names, or None when the clocks skip it (the hour
    lost when daylight saving starts). A time that happens twice (the hour repeated when it
    ends) is taken the first time."""
    tz = ZoneInfo(tz_name)
    local = datetime.combine(day, clock, tzinfo=tz)
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return local
