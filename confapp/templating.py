"""Jinja2 set-up: the template folder, the filters every page shares, and `render`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from confapp import urls
from confapp.links import is_safe_link
from confapp.money import format_money
from confapp.resources import templates_dir
from confapp.times import to_local
from confapp.translation import translations


def _hm(value: datetime, tz: str) -> str:
    return to_local(value, tz).strftime("%H:%M")


def _day_name(value: date | datetime) -> str:
    return f"{value:%A} {value.day} {value:%B}"


def _short_day(value: date) -> str:
    return f"{value:%a} {value.day} {value:%b}"


def day_range(start: date, end: date) -> str:
    if start == end:
        return f"{start.day} {start:%B %Y}"
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{end.day} {end:%B %Y}"
    return f"{start.day} {start:%B} – {end.day} {end:%B %Y}"


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]


templates = Jinja2Templates(directory=str(templates_dir()))
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_translations(translations(), newstyle=True)  # type: ignore[attr-defined]
# Templates ship with the code and only change with it: checking their files on disk at every
# render (an include inside a loop of 300 sessions checks 300 times) cost a fifth of the
# programme page's time in bench/. CONFAPP_DEBUG turns the check back on (confapp/app.py).
templates.env.auto_reload = False
templates.env.globals["urls"] = urls
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
    response = templates.TemplateResponse(request, name, context or {}, status_code=status_code)
    # Pages show what this browser starred and carry a per-page agenda key in their star forms:
    # a shared cache must never hand one visitor's page to another.
    response.headers.setdefault("Cache-Control", "private, no-cache")
    return response
