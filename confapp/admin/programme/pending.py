"""The editor's pending changes: what the working copy of a published programme holds that the
public programme does not, the clashes it would make public, "Publish changes" (with an optional
public note), "Discard", and the conference's choice to make every save public instead.

Publishing with new clashes and discarding each ask once, on a page of their own, so both work
without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from confapp.admin.programme.audit_trail import audit_programme_edit
from confapp.admin.programme.editor import (
    NOT_ASKED,
    editor_path,
    record_paths,
    session_form_path,
    working_copy_summary,
)
from confapp.admin.programme.session_form import kind_name, role_name
from confapp.admin.routes import admin_page, organiser_conference
from confapp.agenda.service import star_counts
from confapp.dates import day_and_time
from confapp.db import Database
from confapp.models import Conference, Room, SessionStatus, Speaker, Track
from confapp.programme.clashes import Clash, programme_clashes
from confapp.programme.editing import conference_for_update
from confapp.programme.queries import NotFound, load_programme, require_conference
from confapp.programme.working_copy import (
    PendingChange,
    PendingChangesFirst,
    discard_changes,
    pending_changes,
    publish_changes,
    set_publish_each_save,
    writes_to,
)
from confapp.request_body import CSRF_FIELD, read_form_fields
from confapp.request_context import database
from confapp.translation import N_, _

NOTE_MAX = 2000


def changes_path(conference_slug: str, action: str = "") -> str:
    return f"{editor_path(conference_slug)}/changes" + (f"/{action}" if action else "")


# ---- what is pending, in words ----------------------------------------------------------------


@dataclass(frozen=True)
class ShownField:
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class ShownPending:
    slug: str
    title: str
    kind: str  # added, changed, cancelled, restored
    fields: list[ShownField]
    by: str
    at: datetime
    form_path: str


FIELD_LABELS = {
    "title": N_("Title"),
    "start": N_("Starts"),
    "end": N_("Ends"),
    "room_id": N_("Room"),
    "track_id": N_("Track"),
    "status": N_("Status"),
    "kind": N_("Kind"),
    "abstract": N_("Abstract"),
    "language": N_("Language"),
    "people": N_("People"),
    "translations": N_("Title or abstract in another language"),
}
FIELD_ORDER = tuple(FIELD_LABELS)


def _words(session: Session, conference: Conference, name: str, value: Any) -> str:
    if value is None:
        return "—"
    if name in ("start", "end"):
        return day_and_time(value, conference.timezone)
    if name == "room_id":
        room = session.get(Room, value)
        return room.name if room else "—"
    if name == "track_id":
        track = session.get(Track, value)
        return track.name if track else "—"
    if name == "people":
        names = []
        for speaker_id, role in value:
            speaker = session.get(Speaker, speaker_id)
            if speaker is None:
                continue
            if role == "chair":
                # Translators: a person billed for a session and their role in it.
                names.append(
                    _("%(name)s (%(role)s)") % {"name": speaker.name, "role": role_name(role)}
                )
            else:
                names.append(speaker.name)
        return ", ".join(names) or _("nobody")
    if name in ("abstract", "translations"):
        return _("(changed)") if value else "—"
    if name == "kind":
        return kind_name(str(value))
    if name == "status":
        statuses = {"confirmed": _("confirmed"), "cancelled": _("cancelled")}
        return statuses.get(str(value), str(value))
    return str(value)


def _shown(session: Session, conference: Conference, change: PendingChange) -> ShownPending:
    fields = [
        ShownField(
            _(FIELD_LABELS[name]),
            _words(session, conference, name, change.fields[name][0]),
            _words(session, conference, name, change.fields[name][1]),
        )
        for name in FIELD_ORDER
        if name in change.fields
        and (change.kind != "added" or name not in ("status", "kind"))
        and change.fields[name] != (None, "")
    ]
    return ShownPending(
        change.slug,
        change.title,
        change.kind,
        fields,
        change.by,
        change.at,
        session_form_path(conference.slug, change.slug),
    )


def _clash_key(clash: Clash) -> tuple[str, str, str | None]:
    return (clash.kind, clash.session, clash.other_session)


@dataclass(frozen=True)
class Review:
    conference: Conference
    changes: list[PendingChange]  # what differs, in the records' own terms
    pending: list[ShownPending]  # the same in words
    clashes: list[Clash]  # every clash of the working copy
    new_clashes: list[Clash]  # those the pending changes would make public


def read_review(db: Database, conference_slug: str) -> Review:
    with db.read() as session:
        conference = require_conference(session, conference_slug)
        pending = pending_changes(session, conference)
        stars = star_counts(session, conference.id or 0)
        working = programme_clashes(load_programme(session, conference, as_organiser=True), stars)
        if conference.programme_published_at is None:
            public: list[Clash] = []
        else:
            public = programme_clashes(load_programme(session, conference), stars)
        shown = [_shown(session, conference, change) for change in pending]
    seen = {_clash_key(clash) for clash in public}
    new = [c for c in working if _clash_key(c) not in seen and c.kind not in NOT_ASKED]
    return Review(conference, pending, shown, working, new)


# ---- pages ------------------------------------------------------------------------------------

NOTICES = {
    "published": N_("Published: the changes are public now, in one changelog entry."),
    "nothing": N_("There was nothing to publish: the working copy is the public programme."),
    "discarded": N_(
        "Discarded the pending changes: the working copy is the public programme again."
    ),
    "every_save_public": N_("Every save is public from now on."),
    "working_copy": N_("Saves now go to the working copy until you publish them."),
}


def _review_page(
    request: Request,
    *,
    note: str = "",
    errors: dict[str, str] | None = None,
    asking: str = "",
    status_code: int = 200,
) -> Response:
    conference, principal = organiser_conference(request)
    if conference.programme_published_at is None:
        raise NotFound(_("The programme is not published yet: every save goes to the draft."))
    review = read_review(database(request), conference.slug)
    done = request.query_params.get("done", "")
    return admin_page(
        request,
        "admin/programme/changes.html",
        {
            "conference": conference,
            "review": review,
            "note": note,
            "note_max": NOTE_MAX,
            "errors": errors or {},
            "asking": asking,
            "notice": _(NOTICES[done]) if done in NOTICES else "",
            "writes_to": writes_to(conference),
            "publish_path": changes_path(conference.slug, "publish"),
            "discard_path": changes_path(conference.slug, "discard"),
            "mode_path": changes_path(conference.slug, "mode"),
            "editor_home": editor_path(conference.slug),
            "paths": record_paths(conference.slug),
            "working": working_copy_summary(database(request), conference),
            "cancelled": SessionStatus.cancelled.value,
            "csrf_token": principal.csrf_token or "",
        },
        status_code=status_code,
    )


def review_page(request: Request) -> Response:
    return _review_page(request)


def _done(conference: Conference, what: str) -> RedirectResponse:
    return RedirectResponse(
        f"{changes_path(conference.slug)}?{urlencode({'done': what})}", status_code=303
    )


def _publish(request: Request, fields: dict[str, str]) -> Response:
    conference, principal = organiser_conference(request)
    note = fields.get("note", "").strip()
    if len(note) > NOTE_MAX:
        return _review_page(
            request,
            note=note,
            errors={"note": _("At most %(n)d characters.") % {"n": NOTE_MAX}},
            status_code=422,
        )
    if (
        fields.get("confirm_clashes") != "1"
        and read_review(database(request), conference.slug).new_clashes
    ):
        return _review_page(request, note=note, asking="clashes")
    with database(request).transaction() as session:
        locked = conference_for_update(session, conference.slug)
        released = publish_changes(session, locked, note=note, by=principal.email)
        if released is not None:
            audit_programme_edit(
                session,
                principal,
                locked,
                "programme_changes_published",
                f"release {released.release_id}: {released.sessions} sessions",
            )
    return _done(conference, "published" if released else "nothing")


def _discard(request: Request, fields: dict[str, str]) -> Response:
    conference, principal = organiser_conference(request)
    if fields.get("confirm") != "1":
        return _review_page(request, asking="discard")
    with database(request).transaction() as session:
        locked = conference_for_update(session, conference.slug)
        count = discard_changes(session, locked)
        if count:
            audit_programme_edit(
                session, principal, locked, "programme_changes_discarded", f"{count} sessions"
            )
    return _done(conference, "discarded")


def _set_mode(request: Request, fields: dict[str, str]) -> Response:
    conference, principal = organiser_conference(request)
    every_save_public = fields.get("publish_each_save") == "1"
    try:
        with database(request).transaction() as session:
            locked = conference_for_update(session, conference.slug)
            if set_publish_each_save(session, locked, every_save_public):
                audit_programme_edit(
                    session,
                    principal,
                    locked,
                    "programme_mode_changed",
                    "every save public" if every_save_public else "working copy",
                )
    except PendingChangesFirst:
        return _review_page(
            request,
            errors={
                "publish_each_save": _(
                    "Publish or discard the pending changes first: otherwise they would "
                    "go public unasked."
                )
            },
            status_code=409,
        )
    return _done(conference, "every_save_public" if every_save_public else "working_copy")


async def _fields(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    return await read_form_fields(request, (CSRF_FIELD, *names))


async def publish_submit(request: Request) -> Response:
    fields = await _fields(request, ("note", "confirm_clashes"))
    return await run_in_threadpool(_publish, request, fields)


async def discard_submit(request: Request) -> Response:
    fields = await _fields(request, ("confirm",))
    return await run_in_threadpool(_discard, request, fields)


async def mode_submit(request: Request) -> Response:
    fields = await _fields(request, ("publish_each_save",))
    return await run_in_threadpool(_set_mode, request, fields)


routes = [
    Route("/admin/{conference}/programme/changes", review_page, methods=["GET"]),
    Route("/admin/{conference}/programme/changes/publish", publish_submit, methods=["POST"]),
    Route("/admin/{conference}/programme/changes/discard", discard_submit, methods=["POST"]),
    Route("/admin/{conference}/programme/changes/mode", mode_submit, methods=["POST"]),
]
