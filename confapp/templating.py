"""Jinja2 set-up: the template folder, the filters every page shares, and `render`."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime, format_skeleton
from jinja2 import Undefined
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from confapp import urls
from confapp.content import localized_values
from confapp.links import is_safe_link
from confapp.money import format_money
from confapp.resources import templates_dir
from confapp.times import to_local
from confapp.translation import (
    as_shown,
    babel_locale,
    current_language,
    language_name,
    script_messages,
    shipped_languages,
    text_direction,
    translations,
)


def _hm(value: datetime, tz: str) -> str:
    """A time of day, 24-hour, as the reader's language writes it."""
    locale = babel_locale()
    pattern = _time_pattern(str(locale))
    if pattern == "HH:mm":  # most languages: strftime is many times faster than Babel
        return to_local(value, tz).strftime("%H:%M")
    return format_datetime(to_local(value, tz), pattern, locale=locale)


@functools.lru_cache(maxsize=64)
def _time_pattern(locale_name: str) -> str:
    return str(Locale.parse(locale_name).datetime_skeletons["Hm"].pattern)


def _day_name(value: date | datetime) -> str:
    """ "Saturday 11 July" (en-AU), "Saturday, July 11" (en), "Sábado, 11 de julio" (es)."""
    pattern = re.sub("E+", "EEEE", _skeleton_pattern("MMMMEd"))
    return as_shown(_capitalised(format_date(_as_date(value), pattern, locale=babel_locale())))


def _short_day(value: date) -> str:
    """ "Sat 11 Jul" (en-AU), "sáb, 11 jul" (es)."""
    return as_shown(format_skeleton("MMMEd", value, locale=babel_locale()))


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


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]


@dataclass(frozen=True)
class LanguageChoice:
    tag: str
    name: str
    current: bool


def _language_choices(conference: Any = None) -> list[LanguageChoice]:
    """The switcher's languages: the conference's, or every shipped one off a conference."""
    on_conference = conference is not None and not isinstance(conference, Undefined)
    offered = list((conference.languages if on_conference else None) or shipped_languages())
    now = current_language()
    return [LanguageChoice(tag, language_name(tag), tag == now) for tag in offered]


def _script_text() -> Markup:
    """The scripts' catalogue for the page's language, safe inside <script type=...json>."""
    text = json.dumps(script_messages(), ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e"))


templates = Jinja2Templates(directory=str(templates_dir()))
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_translations(translations(), newstyle=True)  # type: ignore[attr-defined]
# Templates ship with the code and only change with it: checking their files on disk at every
# render (an include inside a loop of 300 sessions checks 300 times) cost a fifth of the
# programme page's time in bench/. CONFAPP_DEBUG turns the check back on (confapp/app.py).
templates.env.auto_reload = False
templates.env.globals["urls"] = urls
templates.env.globals["page_language"] = current_language
templates.env.globals["page_direction"] = text_direction
templates.env.globals["script_text"] = _script_text
templates.env.globals["language_choices"] = _language_choices
templates.env.filters["hm"] = _hm
templates.env.filters["day_name"] = _day_name
templates.env.filters["short_day"] = _short_day
templates.env.filters["date_range"] = day_range
templates.env.filters["money"] = format_money
templates.env.filters["paragraphs"] = _paragraphs
templates.env.filters["local"] = to_local
# Data loaded before links were checked may hold javascript: and the like: never an href then.
templates.env.tests["safe_link"] = is_safe_link


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    context = context or {}
    if not name.startswith("admin/"):
        # Public pages show organisers' words in the reader's language; the back office shows
        # what is stored (its forms edit it), with each language in a field of its own.
        context = localized_values(context)
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    # Pages show what this browser starred and carry a per-page agenda key in their star forms:
    # a shared cache must never hand one visitor's page to another.
    response.headers.setdefault("Cache-Control", "private, no-cache")
    return response
