"""The programme editor's JSON API, for organisers' scripts and the editor's drag and drop:
sessions, speakers, rooms and tracks (list, read, create, change, delete) and publishing.

Routes only parse, authorise and answer. Every write goes through confapp.programme.editing in
one transaction that starts by locking the conference, so a refused change leaves nothing
half-written and two writers take turns. Each record carries a `version`, served as its ETag:
a write naming an older one (If-Match, or "version" in the body) gets 409 and the record as it
now stands, never a silent overwrite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from confapp.admin.auth import current_principal
from confapp.admin.programme.audit_trail import audit_programme_edit, session_action
from confapp.admin.programme.pending import read_review
from confapp.admin.routes import organiser_conference
from confapp.agenda.service import star_counts
from confapp.http_cache import PRIVATE_HEADERS
from confapp.models import Conference, Room, Speaker, Track
from confapp.programme import editing
from confapp.programme.as_json import (
    room_document,
    session_document,
    speaker_document,
    track_document,
)
from confapp.programme.editing import EditRefused, InUse, VersionConflict
from confapp.programme.queries import NotFound, SessionEntry, load_programme, require_conference
from confapp.programme.records import FieldReason
from confapp.programme.working_copy import (
    discard_changes,
    publish_changes,
    writes_to,
)
from confapp.request_body import BadRequestBody, read_json_object
from confapp.request_context import database
from confapp.times import iso
from confapp.translation import _

# The names editing uses for what changed, as the API spells the fields.
API_FIELD_NAMES = {"room_id": "room", "track_id": "track"}


def _json(body: dict[str, Any], status: int = 200, version: int | None = None) -> JSONResponse:
    headers = dict(PRIVATE_HEADERS)
    if version is not None:
        headers["ETag"] = f'"{version}"'
    return JSONResponse(body, status_code=status, headers=headers)


def _api_path(request: Request, name: str, **params: str) -> str:
    """The path of a route of this API, by its name."""
    return str(request.app.url_path_for(name, **params))


def _expected_version(request: Request, body: dict[str, Any] | None = None) -> int | None:
    """The version the writer started from: If-Match ("3"; * for any), else the body's
    "version"; None when neither is given. An If-Match naming no version of ours (a weak tag,
    "abc", garbage) can never match, so it is a failed precondition (412, RFC 9110 13.1.1)."""
    header = request.headers.get("if-match")
    if header is not None and header.strip() == "*":
        return None
    if header is not None and header.strip():
        tag = header.strip()
        digits = tag[1:-1] if len(tag) > 2 and tag[0] == tag[-1] == '"' else ""
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 9):
            raise BadRequestBody(
                412,
                "precondition_failed",
                _("If-Match names no version of this record; nothing was saved."),
                fields={"If-Match": _('must be one version, like "3", or *')},
            )
        return int(digits)
    return editing.read_version((body or {}).get("version"))


# --- documents ----------------------------------------------------------------------------


def session_record(conference: Conference, entry: SessionEntry) -> dict[str, Any]:
    """A session as organisers see it: the public document, its version and origin."""
    return {
        **session_document(conference.slug, entry),
        "translations": entry.record.translations or {},
        "version": entry.record.version,
        "made_on_web": entry.record.made_on_web,
    }


def speaker_record(conference: Conference, speaker: Speaker) -> dict[str, Any]:
    """A speaker as organisers see it: needs_step_free is never public."""
    return {
        **speaker_document(conference.slug, speaker),
        "needs_step_free": speaker.needs_step_free,
        "version": speaker.version,
    }


def room_record(conference: Conference, room: Room) -> dict[str, Any]:
    return {
        **room_document(room),
        "step_free": room.step_free,
        "position": room.position,
        "translations": room.translations or {},
        "version": room.version,
    }


def track_record(conference: Conference, track: Track) -> dict[str, Any]:
    return {
        **track_document(track),
        "position": track.position,
        "translations": track.translations or {},
        "version": track.version,
    }


def _session_entry(db: Session, conference: Conference, slug: str) -> SessionEntry:
    entry = load_programme(db, conference, slug, as_organiser=True).session(slug)
    if entry is None:
        raise NotFound(_("There is no session at this address."))
    return entry


def _session_answer(db: Session, conference: Conference, slug: str) -> dict[str, Any]:
    """{"session", "clashes"}: the session and every clash it takes part in, as it now stands
    (in the caller's transaction, so a change's answer shows the change)."""
    entry = _session_entry(db, conference, slug)
    clashes = editing.session_clashes(db, conference, slug, star_counts(db, conference.id or 0))
    return {
        "session": session_record(conference, entry),
        "clashes": [clash.as_json() for clash in clashes],
        "writes_to": writes_to(conference),
    }


# --- answering a write --------------------------------------------------------------------


def _invalid(refused: EditRefused) -> JSONResponse:
    return _json(
        {
            "error": "invalid",
            "detail": _("Nothing was saved: some fields need fixing."),
            "fields": refused.fields,
        },
        422,
    )


def _write(
    request: Request,
    change: Callable[[Session, Conference], JSONResponse],
    current: Callable[[], dict[str, Any]] | None = None,
) -> JSONResponse:
    """Run `change` in one transaction that first locks the conference; refusals become 422,
    version conflicts 409 with `current()` (read after the rollback), records in use 409."""
    try:
        with database(request).transaction() as db:
            conference = editing.conference_for_update(db, request.path_params["conference"])
            return change(db, conference)
    except EditRefused as refused:
        return _invalid(refused)
    except VersionConflict as conflict:
        body: dict[str, Any] = {"error": "conflict", "detail": str(conflict)}
        if current is not None:
            body["current"] = current()
        return _json(body, 409, conflict.current_version)
    except InUse as in_use:
        return _json({"error": "in_use", "detail": str(in_use)}, 409)


async def _authorised_body(request: Request) -> dict[str, Any]:
    """Who may (401/403, CSRF) before the body is read (400, 413, 422)."""
    await run_in_threadpool(organiser_conference, request)
    return await read_json_object(request)


# --- sessions -----------------------------------------------------------------------------


def sessions_list(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    with database(request).read() as db:
        programme = load_programme(db, conference, as_organiser=True)
        return _json(
            {
                "sessions": [session_record(conference, e) for e in programme.sessions],
                "writes_to": writes_to(conference),
            }
        )


def session_get(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    with database(request).read() as db:
        answer = _session_answer(db, conference, request.path_params["session"])
    return _json(answer, version=answer["session"]["version"])


def _current_session(request: Request, slug: str) -> Callable[[], dict[str, Any]]:
    def current() -> dict[str, Any]:
        with database(request).read() as db:
            conference = require_conference(db, request.path_params["conference"])
            return session_record(conference, _session_entry(db, conference, slug))

    return current


def _create_session(request: Request, body: dict[str, Any]) -> Response:
    def change(db: Session, conference: Conference) -> JSONResponse:
        principal = current_principal(request)
        record = editing.create_session(
            db, conference, body, by=principal.email if principal else ""
        )
        audit_programme_edit(db, principal, conference, "programme_session_added", record.slug)
        answer = _session_answer(db, conference, record.slug)
        response = _json(answer, 201, record.version)
        response.headers["Location"] = _api_path(
            request, "api_session", conference=conference.slug, session=record.slug
        )
        return response

    return _write(request, change)


async def session_create(request: Request) -> Response:
    body = await _authorised_body(request)
    return await run_in_threadpool(_create_session, request, body)


def _update_session(request: Request, body: dict[str, Any]) -> Response:
    slug = request.path_params["session"]

    def change(db: Session, conference: Conference) -> JSONResponse:
        expected = _expected_version(request, body)
        principal = current_principal(request)
        status_before = editing.find_working_session(db, conference, slug)[0].status
        record, changed = editing.update_session(
            db,
            conference,
            slug,
            body,
            expected_version=expected,
            by=principal.email if principal else "",
        )
        if changed:
            action = session_action(changed, status_before, record.status)
            audit_programme_edit(
                db, principal, conference, action, f"{slug}: {', '.join(sorted(changed))}"
            )
        answer = _session_answer(db, conference, record.slug)
        answer["changed"] = sorted(API_FIELD_NAMES.get(name, name) for name in changed)
        return _json(answer, version=record.version)

    return _write(request, change, _current_session(request, slug))


async def session_update(request: Request) -> Response:
    body = await _authorised_body(request)
    return await run_in_threadpool(_update_session, request, body)


def _delete_session(request: Request) -> Response:
    slug = request.path_params["session"]

    def change(db: Session, conference: Conference) -> JSONResponse:
        principal = current_principal(request)
        result = editing.delete_session(
            db,
            conference,
            slug,
            expected_version=_expected_version(request),
            by=principal.email if principal else "",
        )
        action = (
            "programme_session_deleted" if result == "deleted" else "programme_session_cancelled"
        )
        audit_programme_edit(db, principal, conference, action, slug)
        return _json({"result": result, "writes_to": writes_to(conference)})

    return _write(request, change, _current_session(request, slug))


async def session_delete(request: Request) -> Response:
    await run_in_threadpool(organiser_conference, request)
    return await run_in_threadpool(_delete_session, request)


# --- speakers, rooms, tracks --------------------------------------------------------------


@dataclass(frozen=True)
class RecordKind:
    """Speakers, rooms and tracks share one shape of routes; this is what differs."""

    model: type[Speaker] | type[Room] | type[Track]
    one: str  # "speaker": the path parameter and the answer's key
    many: str  # "speakers": the collection's path and the list's key
    document: Callable[[Conference, Any], dict[str, Any]]
    find: Callable[[Session, Conference, str], Any]  # NotFound (404) if there is none
    order: tuple[Any, ...]

    def all(self, db: Session, conference: Conference) -> list[Any]:
        model = self.model
        return list(
            db.exec(select(model).where(model.conference_id == conference.id).order_by(*self.order))
        )


SPEAKERS = RecordKind(
    Speaker,
    "speaker",
    "speakers",
    speaker_record,
    editing.find_speaker,
    (Speaker.name, Speaker.id),
)
ROOMS = RecordKind(Room, "room", "rooms", room_record, editing.find_room, (Room.position, Room.id))
TRACKS = RecordKind(
    Track, "track", "tracks", track_record, editing.find_track, (Track.position, Track.id)
)


def _record_routes(kind: RecordKind) -> list[Route]:
    """GET/POST /api/{conference}/{many} and GET/PATCH/DELETE /api/{conference}/{many}/{one}."""

    def listing(request: Request) -> Response:
        conference, _principal = organiser_conference(request)
        with database(request).read() as db:
            records = kind.all(db, conference)
        return _json({kind.many: [kind.document(conference, record) for record in records]})

    def get_one(request: Request) -> Response:
        conference, _principal = organiser_conference(request)
        with database(request).read() as db:
            record = kind.find(db, conference, request.path_params[kind.one])
        return _json({kind.one: kind.document(conference, record)}, version=record.version)

    def current(request: Request) -> Callable[[], dict[str, Any]]:
        def read() -> dict[str, Any]:
            with database(request).read() as db:
                conference = require_conference(db, request.path_params["conference"])
                record = kind.find(db, conference, request.path_params[kind.one])
                return kind.document(conference, record)

        return read

    def create(request: Request, body: dict[str, Any]) -> Response:
        def change(db: Session, conference: Conference) -> JSONResponse:
            record = editing.create_record(db, conference, kind.model, body)
            audit_programme_edit(
                db,
                current_principal(request),
                conference,
                "programme_record_added",
                f"{kind.one} {record.slug}",
            )
            response = _json({kind.one: kind.document(conference, record)}, 201, record.version)
            response.headers["Location"] = _api_path(
                request, f"api_{kind.one}", conference=conference.slug, **{kind.one: record.slug}
            )
            return response

        return _write(request, change)

    def update(request: Request, body: dict[str, Any]) -> Response:
        def change(db: Session, conference: Conference) -> JSONResponse:
            record, changed = editing.update_record(
                db,
                conference,
                kind.model,
                request.path_params[kind.one],
                body,
                expected_version=_expected_version(request, body),
            )
            if changed:
                audit_programme_edit(
                    db,
                    current_principal(request),
                    conference,
                    "programme_record_changed",
                    f"{kind.one} {record.slug}: {', '.join(sorted(changed))}",
                )
            answer = {kind.one: kind.document(conference, record), "changed": sorted(changed)}
            return _json(answer, version=record.version)

        return _write(request, change, current(request))

    def delete(request: Request) -> Response:
        def change(db: Session, conference: Conference) -> JSONResponse:
            editing.delete_record(
                db,
                conference,
                kind.model,
                request.path_params[kind.one],
                expected_version=_expected_version(request),
            )
            audit_programme_edit(
                db,
                current_principal(request),
                conference,
                "programme_record_deleted",
                f"{kind.one} {request.path_params[kind.one]}",
            )
            return _json({"result": "deleted"})

        return _write(request, change, current(request))

    async def post(request: Request) -> Response:
        body = await _authorised_body(request)
        return await run_in_threadpool(create, request, body)

    async def patch(request: Request) -> Response:
        body = await _authorised_body(request)
        return await run_in_threadpool(update, request, body)

    async def remove(request: Request) -> Response:
        await run_in_threadpool(organiser_conference, request)
        return await run_in_threadpool(delete, request)

    collection = f"/api/{{conference}}/{kind.many}"
    item = f"{collection}/{{{kind.one}}}"
    return [
        Route(collection, listing, methods=["GET"], name=f"api_{kind.many}"),
        Route(collection, post, methods=["POST"], name=f"api_{kind.many}_create"),
        Route(item, get_one, methods=["GET"], name=f"api_{kind.one}"),
        Route(item, patch, methods=["PATCH"], name=f"api_{kind.one}_update"),
        Route(item, remove, methods=["DELETE"], name=f"api_{kind.one}_delete"),
    ]


# --- publishing ---------------------------------------------------------------------------


PUBLISH_FIELDS = {"note", "with_clashes"}
NOTE_MAX = 2000


def _publish_options(body: dict[str, Any]) -> tuple[str, bool]:
    errors = {
        name: FieldReason(_("is not a field of a publish request"))
        for name in set(body) - PUBLISH_FIELDS
    }
    note, with_clashes = body.get("note", ""), body.get("with_clashes", False)
    if not isinstance(note, str) or len(note) > NOTE_MAX:
        errors["note"] = FieldReason(
            _("must be text of at most %(count)d characters") % {"count": NOTE_MAX}
        )
    if not isinstance(with_clashes, bool):
        errors["with_clashes"] = FieldReason(_("must be true or false"))
    if errors:
        raise EditRefused(errors)
    return str(note), bool(with_clashes)


def _publish(request: Request, body: dict[str, Any]) -> Response:
    """The first time, the programme goes public; after that, its pending changes do (one
    release, with the optional public note), asking first (409) if they make new clashes."""
    try:
        note, with_clashes = _publish_options(body)
    except EditRefused as refused:
        return _invalid(refused)
    conference_slug = request.path_params["conference"]
    review = read_review(database(request), conference_slug)
    published_before = review.conference.programme_published_at is not None
    if published_before and review.new_clashes and not with_clashes:
        return _json(
            {
                "error": "clashes",
                "detail": _(
                    "Publishing would make these clashes public; nothing was published. "
                    'Send "with_clashes": true to publish anyway.'
                ),
                "clashes": [clash.as_json() for clash in review.new_clashes],
            },
            409,
        )

    def change(db: Session, conference: Conference) -> JSONResponse:
        principal = current_principal(request)
        release: dict[str, Any] | None = None
        if conference.programme_published_at is None:
            if editing.publish_programme(db, conference):
                audit_programme_edit(db, principal, conference, "programme_published")
        else:
            released = publish_changes(
                db, conference, note=note, by=principal.email if principal else ""
            )
            if released is not None:
                release = {
                    "id": released.release_id,
                    "sessions": released.sessions,
                    "changes": released.changes,
                    "note": note.strip(),
                }
                audit_programme_edit(
                    db,
                    principal,
                    conference,
                    "programme_changes_published",
                    f"release {released.release_id}: {released.sessions} sessions",
                )
        assert conference.programme_published_at is not None
        return _json(
            {
                "published_at": iso(conference.programme_published_at, conference.timezone),
                "programme_version": conference.programme_version,
                "release": release,
            }
        )

    return _write(request, change)


async def programme_publish(request: Request) -> Response:
    await run_in_threadpool(organiser_conference, request)
    no_body = (
        request.headers.get("content-length", "0") == "0"
        and "transfer-encoding" not in request.headers
    )
    body = {} if no_body else await read_json_object(request)  # the body is optional
    return await run_in_threadpool(_publish, request, body)


def _pending(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    review = read_review(database(request), conference.slug)
    return _json(
        {
            "writes_to": writes_to(conference),
            "pending": [
                {
                    "session": change.slug,
                    "title": change.title,
                    "kind": change.kind,
                    "fields": sorted(API_FIELD_NAMES.get(name, name) for name in change.fields),
                    "by": change.by,
                    "at": iso(change.at, conference.timezone),
                }
                for change in review.changes
            ],
            "clashes": [clash.as_json() for clash in review.clashes],
            "new_clashes": [clash.as_json() for clash in review.new_clashes],
        }
    )


async def programme_pending(request: Request) -> Response:
    return await run_in_threadpool(_pending, request)


def _discard(request: Request) -> Response:
    def change(db: Session, conference: Conference) -> JSONResponse:
        count = discard_changes(db, conference)
        if count:
            audit_programme_edit(
                db,
                current_principal(request),
                conference,
                "programme_changes_discarded",
                f"{count} sessions",
            )
        return _json({"discarded": count, "writes_to": writes_to(conference)})

    return _write(request, change)


async def programme_discard(request: Request) -> Response:
    await run_in_threadpool(organiser_conference, request)
    return await run_in_threadpool(_discard, request)


routes = [
    Route("/api/{conference}/sessions", sessions_list, methods=["GET"], name="api_sessions"),
    Route(
        "/api/{conference}/sessions",
        session_create,
        methods=["POST"],
        name="api_sessions_create",
    ),
    Route("/api/{conference}/sessions/{session}", session_get, methods=["GET"], name="api_session"),
    Route(
        "/api/{conference}/sessions/{session}",
        session_update,
        methods=["PATCH"],
        name="api_session_update",
    ),
    Route(
        "/api/{conference}/sessions/{session}",
        session_delete,
        methods=["DELETE"],
        name="api_session_delete",
    ),
    *_record_routes(SPEAKERS),
    *_record_routes(ROOMS),
    *_record_routes(TRACKS),
    Route(
        "/api/{conference}/programme/publish",
        programme_publish,
        methods=["POST"],
        name="api_programme_publish",
    ),
    Route(
        "/api/{conference}/programme/pending",
        programme_pending,
        methods=["GET"],
        name="api_programme_pending",
    ),
    Route(
        "/api/{conference}/programme/pending",
        programme_discard,
        methods=["DELETE"],
        name="api_programme_discard",
    ),
]
