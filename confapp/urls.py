"""The one place that builds confapp's URLs, for pages, JSON, feeds and mail alike."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote, urlencode

# Conference slugs cannot take these: they are the app's own top-level paths.
RESERVED_SLUGS = frozenset({"api", "static", "tickets", "admin", "healthz", "favicon.ico"})


def conference_path(conference_slug: str) -> str:
    return f"/{quote(conference_slug)}/"


def programme_path(
    conference_slug: str,
    day: date | None = None,
    track: str | None = None,
    view: str | None = None,
) -> str:
    query = {
        key: value
        for key, value in (
            ("day", day.isoformat() if day else None),
            ("track", track),
            ("view", view),
        )
        if value
    }
    suffix = f"?{urlencode(query)}" if query else ""
    return f"/{quote(conference_slug)}/programme{suffix}"


def session_path(conference_slug: str, session_slug: str) -> str:
    return f"/{quote(conference_slug)}/sessions/{quote(session_slug)}"


def speakers_path(conference_slug: str) -> str:
    return f"/{quote(conference_slug)}/speakers"


def speaker_path(conference_slug: str, speaker_slug: str) -> str:
    return f"/{quote(conference_slug)}/speakers/{quote(speaker_slug)}"


def programme_api_path(conference_slug: str) -> str:
    return f"/api/{quote(conference_slug)}/programme"


def absolute(base_url: str, path: str) -> str:
    return f"{base_url.rstrip('/')}{path}"
