"""Days and times in words, as the reader's language writes them: the one place pages, mail and
messages built in code ("Great Hall is also booked (Sat 10:00–11:00)") get a date's words from.

Built on CLDR's skeletons through Babel for the language in force (`babel_locale()`), in the
conference's time zone (`confapp.times`), and passed through `as_shown()` so that the
pseudo-language shows them too. Times are 24-hour in every language. English (en-AU):
"Saturday 10 July", "Sat 10 Jul", "Sat 10 Jul 14:00", "Sat 14:00–15:00", "9–11 July 2027";
Spanish: "Sábado, 10 de julio", "sáb, 10 jul", "sáb, 10 jul 14:00", "sáb, 14:00–15:00",
"9–11 de julio de 2027". Machine-read values (CSV columns, ISO dates) do not come from here.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime

from babel import Locale
from babel.dates import format_date, format_datetime

from confapp.times import to_local
from confapp.translation import as_shown, babel_locale


def time_of_day(value: datetime, tz: str) -> str:
    """A time of day, 24-hour: "14:00" (en-AU), "9:30" (es)."""
    locale = babel_locale()
    pattern = _pattern(str(locale), "Hm")
    if pattern == "HH:mm":  # most languages: strftime is many times faster than Babel
        return to_local(value, tz).strftime("%H:%M")
    return format_datetime(to_local(value, tz), pattern, locale=locale)


def day_name(value: date | datetime, *, year: bool = False, in_sentence: bool = False) -> str:
    """A day with its weekday and month in full: "Saturday 10 July" (en-AU), "Saturday, July
    10" (en), "Sábado, 10 de julio" (es); with `year`, "Sunday 3 October 2027". A heading's
    first letter is a capital; `in_sentence` keeps the language's own case ("el domingo, 3 de
    octubre de 2027")."""
    skeleton = "yMMMMEd" if year else "MMMMEd"
    pattern = re.sub("E+", "EEEE", _skeleton_pattern(skeleton))
    text = format_date(_as_date(value), pattern, locale=babel_locale())
    return as_shown(text if in_sentence else _capitalised(text))


def short_date(value: date | datetime, *, weekday: bool = False, year: bool = False) -> str:
    """A day with its month abbreviated: "10 Jul" (en-AU), "10 jul" (es); with `weekday`
    "Sat 10 Jul" ("sáb, 10 jul"), with `year` "10 Jul 2027"."""
    skeleton = ("y" if year else "") + "MMM" + ("Ed" if weekday else "d")
    return as_shown(format_date(_as_date(value), _skeleton_pattern(skeleton), babel_locale()))


def short_day(value: date | datetime) -> str:
    """ "Sat 10 Jul" (en-AU), "sáb, 10 jul" (es): a day tab, a slot's day."""
    return short_date(value, weekday=True)


def day_and_time(value: datetime, tz: str) -> str:
    """A moment in the conference's zone: "Sat 10 Jul 14:00" (en-AU), "sáb, 10 jul 14:00" (es),
    written as the changelog writes a slot's start."""
    return f"{short_day(to_local(value, tz))} {time_of_day(value, tz)}"


def weekday_and_times(start: datetime, end: datetime, tz: str) -> str:
    """When a session runs, by weekday: "Sat 14:00–15:00" (en-AU), "sáb, 14:00–15:00" (es)."""
    locale = babel_locale()
    starts = format_datetime(to_local(start, tz), _pattern(str(locale), "EHm"), locale=locale)
    return as_shown(f"{starts}–{time_of_day(end, tz)}")


def day_range(start: date, end: date) -> str:
    """ "9–11 July 2027" (en-AU), "9–11 de julio de 2027" (es): a range of days, months in
    full, as the reader's language writes it (CLDR's interval formats)."""
    locale = babel_locale()
    if start == end:
        return as_shown(format_date(start, _skeleton_pattern("yMMMMd"), locale=locale))
    formats = locale.interval_formats
    halves = formats.get("yMMMMd") or {
        field: [_full_months(p) for p in patterns] for field, patterns in formats["yMMMd"].items()
    }
    differs = "y" if start.year != end.year else "M" if start.month != end.month else "d"
    first, second = halves[differs]
    return as_shown(format_date(start, first, locale=locale) + format_date(end, second, locale))


@functools.lru_cache(maxsize=256)
def _pattern(locale_name: str, skeleton: str) -> str:
    """A skeleton's pattern in a language (looked up once: the same for the life of the
    process)."""
    return str(Locale.parse(locale_name).datetime_skeletons[skeleton].pattern)


def _full_months(pattern: str) -> str:
    return re.sub(r"(?<!M)MMM(?!M)", "MMMM", str(pattern))


def _skeleton_pattern(skeleton: str) -> str:
    """The reader's language's pattern for a skeleton; months in full where a language has
    only the abbreviated form (en-AU's yMMMd for yMMMMd)."""
    skeletons = babel_locale().datetime_skeletons
    if skeleton in skeletons:
        return str(skeletons[skeleton].pattern)
    return _full_months(str(skeletons[skeleton.replace("MMMM", "MMM")].pattern))


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
