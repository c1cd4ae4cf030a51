"""Public programme pages and the programme JSON."""

from __future__ import annotations

from datetime import date

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from confapp import urls
from confapp.agenda.cookie import starred_in_browser
from confapp.db import Database
from confapp.programme.as_json import programme_document
from confapp.programme.grid import build_day_grid
from confapp.programme.queries import (
    Programme,
    list_conferences,
    list_ticket_types,
    load_programme,
    require_conference,
)
from confapp.templating import render

VIEWS = ("grid", "list")


def _db(request: Request) -> Database:
    return request.app.state.db


def _programme(request: Request) -> Programme:
    with _db(request).read() as db:
        return load_programme(db, require_conference(db, request.path_params["conference"]))


def _programme_and_stars(
    request: Request, only_session: str | None = None
) -> tuple[Programme, set[int]]:
    """The programme, and the sessions this browser's personal agenda has starred."""
    with _db(request).read() as db:
        conference = require_conference(db, request.path_params["conference"])
        programme = load_programme(db, conference, only_session)
        return programme, starred_in_browser(request, db, conference)


def conference_list(request: Request) -> Response:
    with _db(request).read() as db:
        conferences = list_conferences(db)
    if len(conferences) == 1:
        return RedirectResponse(urls.conference_path(conferences[0].slug), status_code=302)
    return render(request, "programme/conferences.html", {"conferences": conferences})


def conference_home(request: Request) -> Response:
    with _db(request).read() as db:
        conference = require_conference(db, request.path_params["conference"])
        programme = load_programme(db, conference)
        ticket_types = list_ticket_types(db, conference, on_sale_only=True)
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
        raise HTTPException(404, f"“{value}” is not a date (use YYYY-MM-DD).") from None
    if day not in days:
        raise HTTPException(404, f"The programme has no sessions on {value}.")
    return day


def programme_page(request: Request) -> Response:
    programme, starred = _programme_and_stars(request)
    day = _parse_day(request.query_params.get("day"), programme)
    track_slug = request.query_params.get("track") or None
    track = programme.track(track_slug) if track_slug else None
    if track_slug and track is None:
        raise HTTPException(404, f"There is no track called “{track_slug}”.")
    view = request.query_params.get("view") or None
    if view is not None and view not in VIEWS:
        raise HTTPException(404, f"Unknown view “{view}”: use grid or list.")

    entries = [
        e
        for e in programme.sessions
        if e.day == day and (track is None or (e.track is not None and e.track.id == track.id))
    ]
    return render(
        request,
        "programme/programme.html",
        {
            "conference": programme.conference,
            "programme": programme,
            "day": day,
            "track": track,
            "view": view,
            "entries": entries,
            "starred": starred,
            "grid": build_day_grid(entries, programme.rooms) if view != "list" else None,
        },
    )


def session_page(request: Request) -> Response:
    slug = request.path_params["session"]
    programme, starred = _programme_and_stars(request, only_session=slug)
    entry = programme.session(slug)
    if entry is None:
        raise HTTPException(404, "There is no session at this address.")
    return render(
        request,
        "programme/session.html",
        {
            "conference": programme.conference,
            "programme": programme,
            "entry": entry,
            "starred": starred,
        },
    )


def speaker_list(request: Request) -> Response:
    programme = _programme(request)
    return render(
        request,
        "programme/speakers.html",
        {"conference": programme.conference, "programme": programme},
    )


def speaker_page(request: Request) -> Response:
    programme = _programme(request)
    speaker = programme.speaker(request.path_params["speaker"])
    if speaker is None:
        raise HTTPException(404, "There is no speaker at this address.")
    return render(
        request,
        "programme/speaker.html",
        {
            "conference": programme.conference,
            "programme": programme,
            "speaker": speaker,
            "entries": programme.sessions_by_speaker.get(speaker.id or 0, []),
        },
    )


def programme_json(request: Request) -> Response:
    return JSONResponse(programme_document(_programme(request)))


routes = [
    Route("/", conference_list, name="conferences"),
    Route("/api/{conference}/programme", programme_json, name="programme_json"),
    Route("/{conference}/", conference_home, name="conference"),
    Route("/{conference}/programme", programme_page, name="programme"),
    Route("/{conference}/sessions/{session}", session_page, name="session"),
    Route("/{conference}/speakers", speaker_list, name="speakers"),
    Route("/{conference}/speakers/{speaker}", speaker_page, name="speaker"),
]
