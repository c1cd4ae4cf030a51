"""The browser side of a personal agenda: its key in a cookie, one per conference.

The cookie always names the browser's own agenda. Only a star post sets it; opening a ticket's
page never points it at the ticket's agenda, so two tickets opened in one browser stay apart.
"""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from confapp.agenda.service import find_agenda
from confapp.db import Database
from confapp.models import Agenda, Conference

COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie


def cookie_name(conference: Conference) -> str:
    return cookie_name_for(conference.id or 0)


def cookie_name_for(conference_id: int) -> str:
    # One cookie per conference, sent site-wide: an attendee's own pages must see it too.
    return f"confapp_agenda_{conference_id}"


def agenda_from_cookie(request: Request, session: Session, conference: Conference) -> Agenda | None:
    return find_agenda(session, request.cookies.get(cookie_name(conference)), conference)


def has_agenda_cookie(request: Request, conference_id: int) -> bool:
    return bool(request.cookies.get(cookie_name_for(conference_id)))


_STARRED = (
    "SELECT s.session_id FROM agenda_star s JOIN agenda a ON a.key = s.agenda_key"
    " WHERE a.key = {p} AND a.conference_id = {p}"
)


async def starred_by_visitor(db: Database, request: Request, conference_id: int) -> set[int]:
    """The sessions this browser's agenda has starred, for a page built once for every
    visitor: one statement straight to the driver, so a visitor with stars costs little more
    than one without."""
    key = request.cookies.get(cookie_name_for(conference_id))
    if not key or len(key) > 43:
        return set()

    rows = await db.read_straight_for_request(_STARRED, (key, conference_id))
    return {row[0] for row in rows}


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
