"""Starring sessions (a form post, nicer with JavaScript), the agenda page and agenda feeds."""

from __future__ import annotations

from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from confapp import urls
from confapp.agenda.cookie import agenda_from_cookie, remember_agenda
from confapp.agenda.service import (
    create_agenda,
    registration_agenda,
    set_star,
    starred_entries,
    starred_session_ids,
)
from confapp.calendar.ical import CalendarInfo, build_calendar
from confapp.calendar.publish import ICALENDAR_TYPE, last_modified
from confapp.db import Database
from confapp.http_cache import conditional_response
from confapp.models import Agenda, Conference, ProgrammeSession
from confapp.programme.queries import load_programme, require_conference
from confapp.templating import render
from confapp.tickets.ticket import PRIVATE_HEADERS, ticket_for_token


def _db(request: Request) -> Database:
    return request.app.state.db


def _safe_next(value: str | None, fallback: str) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return fallback


def _star(
    request: Request, conference_slug: str, session_slug: str, starred: bool
) -> tuple[Conference, str, bool, int]:
    with _db(request).transaction() as session:
        conference = require_conference(session, conference_slug)
        programme_session = session.exec(
            select(ProgrammeSession).where(
                ProgrammeSession.conference_id == conference.id,
                ProgrammeSession.slug == session_slug,
            )
        ).first()
        if programme_session is None:
            raise HTTPException(404, "There is no session at this address.")
        agenda = agenda_from_cookie(request, session, conference)
        if agenda is None:
            agenda = create_agenda(session, conference)
        set_star(session, agenda, programme_session, starred)
        count = len(starred_session_ids(session, agenda))
        return conference, agenda.key, starred, count


async def star_session(request: Request) -> Response:
    form = await request.form()
    starred = form.get("starred", "yes") != "no"
    conference_slug = request.path_params["conference"]
    session_slug = request.path_params["session"]
    conference, key, starred, count = await run_in_threadpool(
        _star, request, conference_slug, session_slug, starred
    )
    if "application/json" in request.headers.get("accept", ""):
        response: Response = JSONResponse({"starred": starred, "count": count})
    else:
        fallback = urls.session_path(conference_slug, session_slug)
        response = RedirectResponse(_safe_next(str(form.get("next") or ""), fallback), 303)
    remember_agenda(request, response, conference, key)
    return response


def agenda_page(request: Request) -> Response:
    with _db(request).read() as session:
        conference = require_conference(session, request.path_params["conference"])
        agenda = agenda_from_cookie(request, session, conference)
        starred = starred_session_ids(session, agenda)
        programme = load_programme(session, conference)
    response = render(
        request,
        "agenda/agenda.html",
        {
            "conference": conference,
            "agenda": agenda,
            "entries": starred_entries(programme, starred),
            "starred": starred,
            "nav": "agenda",
        },
    )
    response.headers.update(PRIVATE_HEADERS)
    return response


def _agenda_feed(
    request: Request, agenda: Agenda, conference: Conference, feed_path: str
) -> Response:
    base_url = urls.site_origin(request)
    with _db(request).read() as session:
        programme = load_programme(session, conference)
        entries = starred_entries(programme, starred_session_ids(session, agenda))
    calendar = CalendarInfo(
        name=f"{conference.name}: my agenda",
        source_url=urls.absolute(base_url, feed_path),
        description=(
            f"The sessions you starred at {conference.name}. Times are {conference.timezone} time."
        ),
        transparent=False,
    )
    body = build_calendar(conference, entries, calendar, base_url)
    changed = max(last_modified(conference, entries), agenda.updated_at)
    # A personal feed: no shared cache may keep it, and its URL must not leak onwards.
    return conditional_response(
        request,
        body,
        ICALENDAR_TYPE,
        changed,
        cache_control="private, max-age=300",
        headers={"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"},
    )


def agenda_key_feed(request: Request) -> Response:
    key = request.path_params["key"]
    with _db(request).read() as session:
        agenda = session.get(Agenda, key) if len(key) <= 43 else None
        conference = session.get(Conference, agenda.conference_id) if agenda else None
    if agenda is None or conference is None:
        raise HTTPException(404, "There is no agenda at this address.")
    return _agenda_feed(request, agenda, conference, urls.agenda_key_feed_path(key))


def ticket_agenda_feed(request: Request) -> Response:
    token = request.path_params["token"]
    with _db(request).transaction() as session:
        ticket = ticket_for_token(session, token)
        if ticket is None:
            raise HTTPException(404, "This is not a valid ticket link.")
        agenda = registration_agenda(session, ticket.registration)
    return _agenda_feed(request, agenda, ticket.conference, urls.agenda_feed_path(token))


routes = [
    Route("/{conference}/sessions/{session}/star", star_session, methods=["POST"]),
    Route("/{conference}/agenda", agenda_page),
    Route("/agenda/{key}.ics", agenda_key_feed),
    Route("/tickets/{token}/agenda.ics", ticket_agenda_feed),
]
