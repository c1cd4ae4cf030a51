"""The public changelog of a published programme: every session moved, given another room,
cancelled, restored, renamed or added, newest first, as a page and as an Atom feed.

Nothing here is kept between requests but built feed bodies, filed under the conference's
programme_version as read from the database on each request (see confapp.calendar.publish),
so every app process serves a change the moment it is committed. An unpublished programme has
no changelog: both addresses answer 404.
"""

from __future__ import annotations

import math
import re
import uuid as uuid_lib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from confapp import urls
from confapp.db import Database
from confapp.http_cache import BodyCache, BuiltBody, app_body_cache, built_body_response
from confapp.models import Conference, ProgrammeChange, ProgrammeRelease, ProgrammeSession
from confapp.programme.queries import NotFound, require_conference
from confapp.request_context import database
from confapp.templating import render, templates
from confapp.translation import _, current_language, ngettext

PER_PAGE = 100
# Feed readers poll the newest few; the page holds the whole history.
FEED_ENTRIES = 100
ATOM_TYPE = "application/atom+xml; charset=utf-8"
# Entry ids are urn:uuid: names of (conference slug, change id): the same for ever, whatever
# host name or base URL the feed is fetched under.
CHANGE_ID_NAMESPACE = uuid_lib.UUID("3d8f6a0e-5c1b-4f7e-9b0a-2e6c4d8f1a53")
# Characters XML 1.0 cannot carry at all, even escaped (data loaded long ago might hold one).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class ChangeView:
    """One change as pages, the feed and mail word it (templates/programme/_change.html).

    `before` and `after` are the stored values with their times as aware datetimes:
    {"start", "end"} for a time, {"slug", "name"} or None for a room, {"status"}, {"title"},
    and {"title", "start", "end"} after a session was added.
    """

    id: int
    at: datetime
    kind: str
    session_id: int
    session_slug: str
    session_title: str  # as it is now
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    # The release it was published in, and that release's public note ("" for none).
    release_id: int | None = None
    release_note: str = ""


def _readable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {
        name: datetime.fromisoformat(v).astimezone(UTC) if name in ("start", "end") else v
        for name, v in value.items()
    }


def change_view(
    change: ProgrammeChange, session: ProgrammeSession, release_note: str = ""
) -> ChangeView:
    assert change.id is not None
    return ChangeView(
        id=change.id,
        at=change.at,
        kind=change.kind,
        session_id=change.session_id,
        session_slug=session.slug,
        session_title=session.title,
        before=_readable(change.before),
        after=_readable(change.after),
        release_id=change.release_id,
        release_note=release_note,
    )


def entry_id(conference: Conference, change: ChangeView) -> str:
    return f"urn:uuid:{uuid_lib.uuid5(CHANGE_ID_NAMESPACE, f'{conference.slug}/{change.id}')}"


def feed_id(conference: Conference) -> str:
    return f"urn:uuid:{uuid_lib.uuid5(CHANGE_ID_NAMESPACE, conference.slug)}"


def require_published(db: Session, conference_slug: str) -> Conference:
    """The conference, if its programme is public; NotFound (a 404 page) otherwise."""
    conference = require_conference(db, conference_slug)
    if conference.programme_published_at is None:
        raise NotFound(
            _(
                "The programme of %(conference)s is not published yet, so it has no changes "
                "to show. Come back when it is."
            )
            % {"conference": conference.name}
        )
    return conference


def count_changes(db: Session, conference: Conference) -> int:
    return db.exec(
        select(func.count())
        .select_from(ProgrammeChange)
        .where(ProgrammeChange.conference_id == conference.id)
    ).one()


def read_changes(
    db: Session, conference: Conference, limit: int, offset: int = 0
) -> list[ChangeView]:
    """The conference's changes, newest first (changes saved together in their saved order)."""
    rows = db.exec(
        select(ProgrammeChange, ProgrammeSession, ProgrammeRelease.note)
        .join(ProgrammeSession, col(ProgrammeSession.id) == ProgrammeChange.session_id)
        .outerjoin(ProgrammeRelease, col(ProgrammeRelease.id) == ProgrammeChange.release_id)
        .where(ProgrammeChange.conference_id == conference.id)
        .order_by(col(ProgrammeChange.at).desc(), col(ProgrammeChange.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [change_view(change, session, note or "") for change, session, note in rows]


@dataclass(frozen=True)
class Changelog:
    conference: Conference
    changes: list[ChangeView]
    total: int
    page: int
    pages: int


def read_changelog(db: Database, conference_slug: str, page: int) -> Changelog:
    with db.read() as session:
        conference = require_published(session, conference_slug)
        total = count_changes(session, conference)
        pages = max(1, math.ceil(total / PER_PAGE))
        if page > pages:
            raise NotFound(
                ngettext(
                    "The changelog has %(count)d page.", "The changelog has %(count)d pages.", pages
                )
                % {"count": pages}
            )
        changes = read_changes(session, conference, PER_PAGE, (page - 1) * PER_PAGE)
    return Changelog(conference, changes, total, page, pages)


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def build_changes_feed(
    conference: Conference, changes: list[ChangeView], base_url: str
) -> BuiltBody:
    """The Atom document (RFC 4287). A Jinja template with autoescape, like the pages, so the
    words live in templates; the XML is checked by a second parser in the tests."""
    published = conference.programme_published_at
    assert published is not None
    # Entries name sessions by their current titles and rooms: anything in the programme that
    # moves the conference's updated_at may change the body, not only a new change.
    updated = max([published, conference.updated_at, *(c.at for c in changes)])
    body = templates.get_template("programme/changes.atom.xml").render(
        conference=conference,
        changes=changes,
        base_url=base_url,
        updated=_rfc3339(updated),
        feed_id=feed_id(conference),
        entry_id=entry_id,
        rfc3339=_rfc3339,
    )
    return BuiltBody.of(_NOT_XML.sub("", body).encode("utf-8"), ATOM_TYPE, updated)


def changes_feed(
    db: Database, conference_slug: str, base_url: str, cache: BodyCache[BuiltBody]
) -> BuiltBody:
    with db.read() as session:
        conference = require_published(session, conference_slug)

    def build() -> BuiltBody:
        with db.read() as session:
            changes = read_changes(session, conference, FEED_ENTRIES)
        return build_changes_feed(conference, changes, base_url)

    # The version is read before the changes, so a body is never older than its key; the
    # feed's words are in the request's language (narrowed to the conference's by
    # require_published).
    key = (
        "changes.atom",
        conference.id,
        conference.programme_version,
        conference.programme_published_at,
        base_url,
        current_language(),
    )
    return cache.get_or_build(key, build)


# ---- routes ---------------------------------------------------------------------------------


def _page_number(value: str | None) -> int:
    typed = (value or "1").strip() or "1"
    if not (typed.isascii() and typed.isdigit() and len(typed) <= 6) or int(typed) < 1:
        raise HTTPException(
            404, _("There is no page “%(page)s” of the changelog.") % {"page": typed[:20]}
        )
    return int(typed)


def changelog_page(request: Request) -> Response:
    page = _page_number(request.query_params.get("page"))
    log = read_changelog(database(request), request.path_params["conference"], page)
    slug = log.conference.slug
    return render(
        request,
        "programme/changes.html",
        {
            "conference": log.conference,
            "log": log,
            "feed_url": urls.absolute(urls.site_origin(request), urls.changes_feed_path(slug)),
            "newer_path": urls.changes_path(slug) + (f"?page={page - 1}" if page > 2 else ""),
            "older_path": f"{urls.changes_path(slug)}?page={page + 1}",
            "nav": "programme",
        },
    )


def changelog_feed(request: Request) -> Response:
    built = changes_feed(
        database(request),
        request.path_params["conference"],
        urls.site_origin(request),
        app_body_cache(request),
    )
    # Public data without credentials, like the calendar feeds: web-based readers may fetch it.
    return built_body_response(request, built, {"Access-Control-Allow-Origin": "*"})


routes = [
    Route("/{conference}/changes", changelog_page, name="programme_changes"),
    Route("/{conference}/changes.atom", changelog_feed, name="programme_changes_feed"),
]
