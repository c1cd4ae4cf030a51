"""The browser side of a personal agenda: its key in a cookie, one per conference.

The cookie always names the browser's own agenda. Only a star post sets it; opening a ticket's
page never points it at the ticket's agenda, so two tickets opened in one browser stay apart.
"""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from confapp.agenda.service import find_agenda
from confapp.models import Agenda, Conference
from confapp.programme.visitor_stars import agenda_cookie_name

COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie


def cookie_name(conference: Conference) -> str:
    return agenda_cookie_name(conference.id or 0)


def agenda_from_cookie(request: Request, session: Session, conference: Conference) -> Agenda | None:
    return find_agenda(session, request.cookies.get(cookie_name(conference)), conference)


def remember_agenda(request: Request, response: Response, conference: Conference, key: str) -> None:
    response.set_cookie(
        cookie_name(conference),
        key,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
