"""Starring sessions (a form post, nicer with JavaScript), the agenda page and its feed."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from confapp import urls
from confapp.agenda.cookie import agenda_from_cookie, remember_agenda
from confapp.agenda.service import (
    agenda_clashes,
    claim_agenda,
    create_agenda,
    set_star,
    starred_entries,
    starred_session_ids,
)
from confapp.calendar.ical import CalendarInfo, build_calendar
from confapp.calendar.publish import ICALENDAR_TYPE, last_modified
from confapp.content import localized
from confapp.http_cache import PRIVATE_HEADERS, conditional_response
from confapp.models import Agenda, Conference
from confapp.programme.queries import load_programme, public_session, require_conference
from confapp.request_body import read_form_fields
from confapp.request_context import database
from confapp.same_origin import sent_from_this_site
from confapp.templating import render
from confapp.translation import _, current_language, use_conference_language


def _safe_next(value: str | None, fallback: str) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return fallback


def _star(
    request: Request,
    conference_slug: str,
    session_slug: str,
    starred: bool,
    candidate_key: str | None,
) -> tuple[Conference, str, bool, int]:
    with database(request).transaction() as session:
        conference = require_conference(session, conference_slug)
        programme_session = public_session(session, conference, session_slug)
        agenda = agenda_from_cookie(request, session, conference)
        if agenda is None and candidate_key:
            agenda = claim_agenda(session, conference, candidate_key)
        if agenda is None:
            agenda = create_agenda(session, conference)
        set_star(session, agenda, programme_session, starred)
        stars = starred_session_ids(session, agenda)
        # As stored: a cancelled session refuses a new star.
        return conference, agenda.key, programme_session.id in stars, len(stars)


async def star_session(request: Request) -> Response:
    # Another site's page must not star into a visitor's agenda, nor give them a new one.
    if not sent_from_this_site(request):
        raise HTTPException(403, _("Stars can only be added from this site's own pages."))
    form = await read_form_fields(request, ("starred", "agenda", "next"))
    starred = form.get("starred", "yes") != "no"
    candidate_key = form.get("agenda") or None
    conference_slug = request.path_params["conference"]
    session_slug = request.path_params["session"]
    conference, key, starred, count = await run_in_threadpool(
        _star, request, conference_slug, session_slug, starred, candidate_key
    )
    if "application/json" in request.headers.get("accept", ""):
        response: Response = JSONResponse({"starred": starred, "count": count})
    else:
        fallback = urls.session_path(conference_slug, session_slug)
        response = RedirectResponse(_safe_next(str(form.get("next") or ""), fallback), 303)
    # The only place the cookie is set: it names this browser's own agenda, nothing else's.
    remember_agenda(request, response, conference, key)
    return response


def agenda_page(request: Request) -> Response:
    with database(request).read() as session:
        conference = require_conference(session, request.path_params["conference"])
        agenda = agenda_from_cookie(request, session, conference)
        starred = starred_session_ids(session, agenda)
        programme = load_programme(session, conference).in_language(current_language())
    entries = starred_entries(programme, starred)
    response = render(
        request,
        "agenda/agenda.html",
        {
            "conference": conference,
            "agenda": agenda,
            "entries": entries,
            "clashes": agenda_clashes(entries),
            "starred": starred,
            "nav": "agenda",
        },
    )
    response.headers.update(PRIVATE_HEADERS)
    return response


def agenda_feed(
    request: Request, agenda: Agenda, conference: Conference, feed_path: str
) -> Response:
    """An agenda's iCalendar feed of its starred sessions; `feed_path` is where it is served."""
    # Found by its key, not through require_conference: its words in one of the conference's
    # languages all the same.
    use_conference_language(conference.languages, conference.default_language)
    base_url = urls.site_origin(request)
    with database(request).read() as session:
        programme = load_programme(session, conference).in_language(current_language())
        entries = starred_entries(programme, starred_session_ids(session, agenda))
    calendar = CalendarInfo(
        name=_("%(conference)s: my agenda") % {"conference": localized(conference).name},
        source_url=urls.absolute(base_url, feed_path),
        description=(
            _("The sessions you starred at %(conference)s.")
            % {"conference": localized(conference).name}
            + " "
            + _("Times are %(zone)s time.") % {"zone": conference.timezone}
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
    with database(request).read() as session:
        agenda = session.get(Agenda, key) if len(key) <= 43 else None
        conference = session.get(Conference, agenda.conference_id) if agenda else None
    if agenda is None or conference is None:
        raise HTTPException(404, _("There is no agenda at this address."))
    return agenda_feed(request, agenda, conference, urls.agenda_key_feed_path(key))


routes = [
    Route("/{conference}/sessions/{session}/star", star_session, methods=["POST"]),
    Route("/{conference}/agenda", agenda_page),
    Route("/agenda/{key}.ics", agenda_key_feed),
]
