"""Public programme pages and the programme JSON."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from confapp import urls
from confapp.content import localized
from confapp.http_cache import (
    BuiltBody,
    PersonalisedPage,
    app_body_cache,
    built_body_response,
    personalised_response,
)
from confapp.programme.as_json import programme_document
from confapp.programme.grid import build_day_grid
from confapp.programme.published_state import (
    PublishedState,
    published_programme,
    published_state,
    read_published_state,
)
from confapp.programme.queries import (
    Programme,
    SessionEntry,
    list_conferences,
    list_ticket_types,
)
from confapp.programme.visitor_stars import (
    has_agenda_cookie,
    slots_of,
    star_buttons,
    starred_by_visitor,
)
from confapp.request_context import database
from confapp.templating import render, templates
from confapp.translation import _

HTML_TYPE = "text/html; charset=utf-8"

VIEWS = ("grid", "list")


def _published_programme(request: Request, state: PublishedState) -> Programme:
    return published_programme(database(request), request.app.state.programme_cache, state)


def _render(request: Request, name: str, context: dict[str, Any]) -> str:
    # Only `urls.site_origin(request)` reads the request, and the base URL is in every key.
    return templates.get_template(name).render({"request": request, **context})


def _built_page(request: Request, name: str, context: dict[str, Any]) -> BuiltBody:
    programme: Programme = context["programme"]
    html = _render(request, name, context)
    return BuiltBody.of(html.encode("utf-8"), HTML_TYPE, programme.conference.updated_at)


def _page_with_stars(
    request: Request, name: str, context: dict[str, Any], entries: list[SessionEntry]
) -> PersonalisedPage:
    programme: Programme = context["programme"]
    marked = _render(request, name, {**context, "star_slots": True})
    plain, starred = star_buttons(programme.conference, entries, context["next_path"])
    return PersonalisedPage.of(marked, plain, starred, HTML_TYPE, programme.conference.updated_at)


async def _personalised(
    request: Request, state: PublishedState, page: PersonalisedPage
) -> Response:
    starred: set[int] = set()
    if has_agenda_cookie(request, state.conference_id):  # most visitors have none: no query
        starred = await starred_by_visitor(database(request), request, state.conference_id)
    return personalised_response(request, page, slots_of(starred))


def conference_list(request: Request) -> Response:
    with database(request).read() as db:
        conferences = list_conferences(db)
    if len(conferences) == 1:
        return RedirectResponse(urls.conference_path(conferences[0].slug), status_code=302)
    return render(request, "programme/conferences.html", {"conferences": conferences})


def conference_home(request: Request) -> Response:
    # Ticket types go on and off sale without a programme version: read them each time.
    state = read_published_state(database(request), request.path_params["conference"])
    programme = _published_programme(request, state)
    with database(request).read() as db:
        ticket_types = [
            localized(t) for t in list_ticket_types(db, programme.conference, on_sale_only=True)
        ]
    plenaries = [s for s in programme.sessions if s.record.kind == "plenary"]
    return render(
        request,
        "programme/home.html",
        {
            "conference": programme.conference,
            "programme": programme,
            "plenaries": plenaries,
            "ticket_types": ticket_types,
        },
    )


def _parse_day(value: str | None, programme: Programme) -> date:
    days = programme.days
    if not value:
        return days[0]
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise HTTPException(
            404, _("“%(value)s” is not a date (use YYYY-MM-DD).") % {"value": value}
        ) from None
    if day not in days:
        raise HTTPException(404, _("The programme has no sessions on %(day)s.") % {"day": value})
    return day


async def programme_page(request: Request) -> Response:
    """One day of the programme. Built once per programme version, full doors and choice of
    day, track and layout; each visitor's stars are put into the built page."""
    query = request.query_params
    day_text, track_slug, view = query.get("day") or "", query.get("track") or "", query.get("view")
    if view is not None and view not in VIEWS:
        raise HTTPException(404, _("Unknown view “%(view)s”: use grid or list.") % {"view": view})
    state = await published_state(request, request.path_params["conference"], with_doors=True)
    base_url = urls.site_origin(request)

    def build() -> PersonalisedPage:
        programme = _published_programme(request, state)
        day = _parse_day(day_text, programme)
        track = programme.track(track_slug) if track_slug else None
        if track_slug and track is None:
            raise HTTPException(
                404, _("There is no track called “%(slug)s”.") % {"slug": track_slug}
            )
        entries = [
            e
            for e in programme.sessions
            if e.day == day and (track is None or (e.track is not None and e.track.id == track.id))
        ]
        next_path = urls.programme_path(
            programme.conference.slug, day=day, track=track.slug if track else None, view=view
        )
        context = {
            "conference": programme.conference,
            "programme": programme,
            "day": day,
            "track": track,
            "view": view,
            "entries": entries,
            "starred": set(),
            "next_path": next_path,
            "grid": build_day_grid(entries, programme.rooms) if view != "list" else None,
        }
        with_stars = entries if view != "grid" else []
        return _page_with_stars(request, "programme/programme.html", context, with_stars)

    key = ("programme page", state, base_url, day_text, track_slug, view)
    page = await app_body_cache(request).get_or_build_in_thread(key, build)
    return await _personalised(request, state, page)


async def session_page(request: Request) -> Response:
    slug = request.path_params["session"]
    state = await published_state(request, request.path_params["conference"], with_doors=True)

    def build() -> PersonalisedPage:
        programme = _published_programme(request, state)
        entry = programme.session(slug)
        if entry is None:
            raise HTTPException(404, _("There is no session at this address."))
        context = {
            "conference": programme.conference,
            "programme": programme,
            "entry": entry,
            "starred": set(),
            "next_path": urls.session_path(programme.conference.slug, entry.slug),
        }
        return _page_with_stars(request, "programme/session.html", context, [entry])

    key = ("session page", state, urls.site_origin(request), slug)
    page = await app_body_cache(request).get_or_build_in_thread(key, build)
    return await _personalised(request, state, page)


async def speaker_list(request: Request) -> Response:
    state = await published_state(request, request.path_params["conference"])

    def build() -> BuiltBody:
        programme = _published_programme(request, state)
        context = {"conference": programme.conference, "programme": programme}
        return _built_page(request, "programme/speakers.html", context)

    key = ("speaker list", state, urls.site_origin(request))
    built = await app_body_cache(request).get_or_build_in_thread(key, build)
    return built_body_response(request, built, cache_control="public, no-cache")


async def speaker_page(request: Request) -> Response:
    slug = request.path_params["speaker"]
    # Full doors show on the speaker's sessions, as on every list of sessions.
    state = await published_state(request, request.path_params["conference"], with_doors=True)

    def build() -> BuiltBody:
        programme = _published_programme(request, state)
        speaker = programme.speaker(slug)
        if speaker is None:
            raise HTTPException(404, _("There is no speaker at this address."))
        context = {
            "conference": programme.conference,
            "programme": programme,
            "speaker": speaker,
            "entries": programme.sessions_by_speaker.get(speaker.id or 0, []),
        }
        return _built_page(request, "programme/speaker.html", context)

    key = ("speaker page", state, urls.site_origin(request), slug)
    built = await app_body_cache(request).get_or_build_in_thread(key, build)
    return built_body_response(request, built, cache_control="public, no-cache")


async def programme_json(request: Request) -> Response:
    state = await published_state(request, request.path_params["conference"])

    def build() -> BuiltBody:
        programme = _published_programme(request, state)
        body = json.dumps(programme_document(programme), ensure_ascii=False, separators=(",", ":"))
        return BuiltBody.of(
            body.encode("utf-8"), "application/json", programme.conference.updated_at
        )

    # The document holds no base URL (its links are paths), so one body serves every host.
    built = await app_body_cache(request).get_or_build_in_thread(("programme json", state), build)
    return built_body_response(request, built, cache_control="public, no-cache")


routes = [
    Route("/", conference_list, name="conferences"),
    Route("/api/{conference}/programme", programme_json, name="programme_json"),
    Route("/{conference}/", conference_home, name="conference"),
    Route("/{conference}/programme", programme_page, name="programme"),
    Route("/{conference}/sessions/{session}", session_page, name="session"),
    Route("/{conference}/speakers", speaker_list, name="speakers"),
    Route("/{conference}/speakers/{speaker}", speaker_page, name="speaker"),
]
