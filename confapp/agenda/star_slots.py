"""Star buttons as slots of a page built once for every visitor (confapp.http_cache's
PersonalisedPage): the page marks where each session's star goes (`star_slots` in
templates/agenda/_star.html), and each visitor's stars fill the slots."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from confapp.models import Conference
from confapp.programme.queries import SessionEntry
from confapp.templating import templates


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
