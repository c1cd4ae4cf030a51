"""Jinja2 set-up: the template folder, the filters every page shares, and `render`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jinja2 import Undefined
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from confapp import urls
from confapp.content import localized_values
from confapp.dates import day_name, day_range, short_day, time_of_day
from confapp.links import is_safe_link
from confapp.money import format_money
from confapp.resources import templates_dir
from confapp.times import to_local
from confapp.translation import (
    current_language,
    language_name,
    language_name_for_reader,
    script_messages,
    shipped_languages,
    text_direction,
    translations,
)


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
templates.env.globals["language_label"] = language_name_for_reader
templates.env.filters["hm"] = time_of_day
templates.env.filters["day_name"] = day_name
templates.env.filters["short_day"] = short_day
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
