"""The visitor's stars on programme pages: which sessions this browser's agenda has starred
(read from its agenda cookie), and the slots of a page built once for every visitor
(confapp.http_cache's PersonalisedPage) where each session's star button goes
(`star_slots` in templates/agenda/_star.html).

This is the piece of the personal agenda that the programme's own pages need; it lives here,
below confapp.agenda, so that the programme never imports the agenda (the agenda, which keeps
the cookie's writing and the stars themselves, imports the programme).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.requests import Request

from confapp.db import Database
from confapp.models import Conference
from confapp.programme.queries import SessionEntry
from confapp.templating import templates


def agenda_cookie_name(conference_id: int) -> str:
    # One cookie per conference, sent site-wide: an attendee's own pages must see it too.
    return f"confapp_agenda_{conference_id}"


def has_agenda_cookie(request: Request, conference_id: int) -> bool:
    return bool(request.cookies.get(agenda_cookie_name(conference_id)))


_STARRED = (
    "SELECT s.session_id FROM agenda_star s JOIN agenda a ON a.key = s.agenda_key"
    " WHERE a.key = {p} AND a.conference_id = {p}"
)


async def starred_by_visitor(db: Database, request: Request, conference_id: int) -> set[int]:
    """The sessions this browser's agenda has starred, for a page built once for every
    visitor: one statement straight to the driver, so a visitor with stars costs little more
    than one without."""
    key = request.cookies.get(agenda_cookie_name(conference_id))
    if not key or len(key) > 43:
        return set()

    rows = await db.read_straight_for_request(_STARRED, (key, conference_id))
    return {row[0] for row in rows}


def star_slot(session_id: int) -> str:
    return f"star-{session_id}"


def slots_of(starred: set[int]) -> set[str]:
    return {star_slot(session_id) for session_id in starred}


def star_buttons(
    conference: Conference,
    entries: Sequence[SessionEntry],
    next_path: str,
    star_action: Callable[[SessionEntry], str] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Each entry's star button as a visitor without and with it starred sees it."""
    star = templates.get_template("agenda/_star.html")
    plain, starred = {}, {}
    for entry in entries:
        slot = star_slot(entry.record.id or 0)
        context = {
            "conference": conference,
            "entry": entry,
            "next_path": next_path,
            "star_action": star_action(entry) if star_action else None,
        }
        plain[slot] = star.render({**context, "starred": set()})
        starred[slot] = star.render({**context, "starred": {entry.record.id}})
    return plain, starred
