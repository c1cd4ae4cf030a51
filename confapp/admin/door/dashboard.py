"""The door in the back office: the organisers' dashboard (admitted against expected, the
latest admissions, offline conflicts) and session doors (a steward's "full" and headcount,
the organisers' overflow room and headcount export).

The dashboard polls its own `/admin/{conference}/door/stats.json` (organisers, cookie or Bearer),
built by the check-in service's `door_stats`, so it has the same shape and numbers as
`GET /api/{conference}/door/stats` while living with the page it serves.
"""

from __future__ import annotations

from datetime import date

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from confapp.accounts.audit import record
from confapp.accounts.service import Principal
from confapp.admin.auth import door_conference_for, door_device_on, login_path_for
from confapp.admin.door.devices import sign_out_path
from confapp.admin.menu import ORGANISER, STEWARD
from confapp.admin.routes import admin_page, organiser_conference
from confapp.checkin.devices import device_names
from confapp.checkin.service import (
    NothingToUndo,
    UnknownTicket,
    admission_to_undo,
    door_stats,
    undo,
)
from confapp.checkin.session_doors import (
    DoorChange,
    DoorProblem,
    change_door,
    conference_rooms,
    conference_session,
    conflicts,
    door_sessions,
    door_state,
    latest_admissions,
    resolve_conflict,
    set_overflow_room,
)
from confapp.errors import error_response
from confapp.http_cache import PRIVATE_HEADERS, private_csv
from confapp.models import Conference
from confapp.programme.queries import load_programme
from confapp.request_body import CSRF_FIELD, read_form_fields, read_json_object, row_id
from confapp.request_context import database
from confapp.spreadsheet import csv_bytes
from confapp.times import local_today, to_local, utcnow
from confapp.translation import N_, _

DOOR_TEAM = (ORGANISER, STEWARD)
POLL_SECONDS = 5
# An undo is asked about once: the form is sent again with this, from the confirmation page or
# from the dashboard's second tap (door-dashboard.js).
CONFIRM_UNDO = "undo"
DONE_MESSAGES = {"undone": N_("Admission undone: the ticket lets its holder in again.")}


def dashboard_path(conference: Conference) -> str:
    return f"/admin/{conference.slug}/door"


def sessions_path(conference: Conference) -> str:
    return f"/admin/{conference.slug}/door/sessions"


def session_door_path(conference: Conference, session_id: int) -> str:
    return f"/admin/{conference.slug}/door/sessions/{session_id}"


# ---- the organisers' dashboard -----------------------------------------------------------------


def dashboard_page(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    with database(request).read() as session:
        stats = door_stats(session, conference, now=utcnow()).document(conference.timezone)
        admissions = latest_admissions(session, conference)
        found = conflicts(session, conference)
        names = device_names(session, conference)
    return admin_page(
        request,
        "admin/door/dashboard.html",
        {
            "conference": conference,
            "stats": stats,
            "admissions": admissions,
            "conflicts": found,
            # Check-ins from a door device record its label; older ones the page's random id.
            "device_names": names,
            "devices_path": dashboard_path(conference) + "/devices",
            "stats_path": dashboard_path(conference) + "/stats.json",
            "poll_seconds": POLL_SECONDS,
            "confirm_undo": CONFIRM_UNDO,
            "message": _done_message(request.query_params.get("done", "")),
        },
    )


def _done_message(done: str) -> str:
    message = DONE_MESSAGES.get(done)
    return _(message) if message else ""


def dashboard_stats(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    with database(request).read() as session:
        stats = door_stats(session, conference, now=utcnow())
    return JSONResponse(stats.document(conference.timezone), headers=PRIVATE_HEADERS)


async def resolve_conflict_submit(request: Request) -> Response:
    await read_form_fields(request, (CSRF_FIELD,))  # notes the CSRF token for the check
    return await run_in_threadpool(_resolve, request)


def _resolve(request: Request) -> Response:
    conference, principal = organiser_conference(request)
    conflict_id = row_id(request.path_params["conflict"])
    code = None
    if conflict_id is not None:
        with database(request).transaction() as session:
            code = resolve_conflict(session, conference, conflict_id)
            if code is not None:
                record(
                    session,
                    "resolved a door conflict",
                    user_id=principal.user_id,
                    actor=principal.email,
                    conference_id=conference.id,
                    ticket_code=code,
                )
    if code is None:
        return error_response(request, 404, _("There is no such conflict at this conference."))
    return RedirectResponse(dashboard_path(conference) + "#conflicts", status_code=303)


async def undo_submit(request: Request) -> Response:
    form = await read_form_fields(request, (CSRF_FIELD, "ticket_code", "confirm"))
    return await run_in_threadpool(
        _undo, request, form.get("ticket_code", ""), form.get("confirm", "") == CONFIRM_UNDO
    )


def _undo(request: Request, typed_code: str, confirmed: bool) -> Response:
    """Undo a standing admission with the check-in service's own undo (audited there), once
    the organiser has said yes; until then, the page that asks."""
    conference, principal = organiser_conference(request)
    try:
        if not confirmed:
            with database(request).read() as session:
                admission = admission_to_undo(session, conference, typed_code)
            return admin_page(
                request,
                "admin/door/undo_confirm.html",
                {
                    "conference": conference,
                    "admission": admission,
                    "undo_path": dashboard_path(conference) + "/undo",
                    "dashboard_path": dashboard_path(conference),
                    "confirm_undo": CONFIRM_UNDO,
                },
            )
        with database(request).transaction() as session:
            undo(session, conference, typed_code, principal, now=utcnow())
    except UnknownTicket:
        return error_response(request, 404, _("This conference has no ticket with that code."))
    except NothingToUndo:
        return error_response(request, 409, _("This ticket is not checked in; nothing changed."))
    return RedirectResponse(dashboard_path(conference) + "?done=undone#admissions", status_code=303)


# ---- session doors ------------------------------------------------------------------------------


def _chosen_day(request: Request, conference: Conference) -> tuple[date | None, list[date]]:
    """The day asked for (?day=YYYY-MM-DD, or ?day=all), else today if it is a conference
    day, else the first day."""
    with database(request).read() as session:
        days = load_programme(session, conference, as_organiser=True).days
    asked = request.query_params.get("day", "")
    if asked == "all":
        return None, days
    try:
        day = date.fromisoformat(asked) if asked else None
    except ValueError:
        day = None
    if day not in days:
        today = local_today(conference.timezone)
        day = today if today in days else (days[0] if days else None)
    return day, days


def sessions_page(request: Request) -> Response:
    conference, principal = door_conference_for(request, *DOOR_TEAM)
    day, days = _chosen_day(request, conference)
    with database(request).read() as session:
        rows = door_sessions(session, conference, day)
    return admin_page(
        request,
        "admin/door/session_doors.html",
        {
            "conference": conference,
            "rows": rows,
            "day": day,
            "days": days,
            "is_organiser": principal.has_role(conference.id, ORGANISER),
            "sessions_path": sessions_path(conference),
        },
    )


def _door_view(
    request: Request,
    conference: Conference,
    principal: Principal,
    session_id: int | None,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    with database(request).read() as session:
        record_ = conference_session(session, conference, session_id) if session_id else None
        if record_ is None or session_id is None:
            return error_response(request, 404, _("There is no such session at this conference."))
        state = door_state(session, session_id)
        rooms = conference_rooms(session, conference)
    room = next((r for r in rooms if r.id == record_.room_id), None)
    return admin_page(
        request,
        "door/session_door.html",
        {
            "conference": conference,
            "record": record_,
            "room": room,
            "state": state,
            "rooms": rooms,
            "errors": errors or {},
            "is_organiser": principal.has_role(conference.id, ORGANISER),
            "door_path": session_door_path(conference, session_id),
            "api_path": f"/api/{conference.slug}/sessions/{session_id}/door",
            "sessions_path": sessions_path(conference),
            "local_start": to_local(record_.start, conference.timezone),
            "device": door_device_on(request),
            "sign_in_path": login_path_for(request),
            "sign_out_path": sign_out_path(conference.slug),
        },
        status_code=status_code,
    )


def session_door_page(request: Request) -> Response:
    conference, principal = door_conference_for(request, *DOOR_TEAM)
    return _door_view(request, conference, principal, row_id(request.path_params["session"]))


DOOR_FORM_FIELDS = ("full", "headcount_change", "headcount", "overflow_room")


def _form_change(form: dict[str, str]) -> DoorChange:
    full = {"yes": True, "no": False}.get(form.get("full", ""))
    if form.get("full") and full is None:
        raise DoorProblem("full", _("Choose full or not full."))
    numbers: dict[str, int | None] = {}
    for name in ("headcount_change", "headcount"):
        text = form.get(name, "").strip()
        if not text:
            numbers[name] = None
            continue
        signed = text.replace("−", "-")
        digits = signed.removeprefix("-").removeprefix("+")
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 7:
            raise DoorProblem(name, _("Give a whole number."))
        numbers[name] = int(signed)
    return DoorChange(full, numbers["headcount_change"], numbers["headcount"])


async def session_door_submit(request: Request) -> Response:
    form = await read_form_fields(request, (CSRF_FIELD, *DOOR_FORM_FIELDS))
    return await run_in_threadpool(_door_submit, request, form)


def _door_submit(request: Request, form: dict[str, str]) -> Response:
    conference, principal = door_conference_for(request, *DOOR_TEAM)
    session_id = row_id(request.path_params["session"])
    db = database(request)
    try:
        if "overflow_room" in form:
            if not principal.has_role(conference.id, ORGANISER):
                return error_response(request, 403, _("Only organisers choose the overflow room."))
            state = (
                set_overflow_room(
                    db, conference, session_id, form["overflow_room"], principal.email
                )
                if session_id
                else None
            )
        else:
            change = _form_change(form)
            state = (
                change_door(db, conference, session_id, change, principal.email)
                if session_id
                else None
            )
    except DoorProblem as problem:
        return _door_view(
            request,
            conference,
            principal,
            session_id,
            errors={problem.field: str(problem)},
            status_code=422,
        )
    if state is None or session_id is None:
        return error_response(request, 404, _("There is no such session at this conference."))
    return RedirectResponse(session_door_path(conference, session_id), status_code=303)


def _json_change(body: dict[str, object]) -> DoorChange:
    unknown = set(body) - {"full", "headcount_change", "headcount"}
    if unknown:
        raise DoorProblem(
            sorted(unknown)[0], _("This API takes full, headcount_change, headcount.")
        )
    full = body.get("full")
    if full is not None and not isinstance(full, bool):
        raise DoorProblem("full", _("Use true or false."))
    numbers: dict[str, int | None] = {}
    for name in ("headcount_change", "headcount"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise DoorProblem(name, _("Use a whole number."))
        numbers[name] = value
    return DoorChange(full, numbers["headcount_change"], numbers["headcount"])


async def session_door_api(request: Request) -> Response:
    body = await read_json_object(request)
    return await run_in_threadpool(_door_api, request, body)


def _door_api(request: Request, body: dict[str, object]) -> Response:
    conference, principal = door_conference_for(request, *DOOR_TEAM)
    session_id = row_id(request.path_params["session"])
    try:
        change = _json_change(body)
        state = (
            change_door(database(request), conference, session_id, change, principal.email)
            if session_id
            else None
        )
    except DoorProblem as problem:
        return JSONResponse(
            {"error": "invalid", "detail": str(problem), "fields": {problem.field: str(problem)}},
            status_code=422,
            headers=PRIVATE_HEADERS,
        )
    if state is None:
        return JSONResponse(
            {"error": "not found", "detail": _("There is no such session at this conference.")},
            status_code=404,
            headers=PRIVATE_HEADERS,
        )
    return JSONResponse(state.as_json(conference.timezone), headers=PRIVATE_HEADERS)


HEADCOUNT_COLUMNS = ("day", "start", "end", "session", "room", "headcount", "full_since")


def headcounts_csv(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    with database(request).read() as session:
        rows = door_sessions(session, conference)
    tz = conference.timezone
    lines = []
    for row in rows:
        start, end = to_local(row.record.start, tz), to_local(row.record.end, tz)
        full_since = row.state.full_since
        cells = [
            start.date().isoformat(),
            start.strftime("%H:%M"),
            end.strftime("%H:%M"),
            row.record.title,
            row.room.name if row.room else "",
            str(row.state.headcount),
            to_local(full_since, tz).strftime("%Y-%m-%d %H:%M") if full_since else "",
        ]
        lines.append(cells)
    filename = f"{conference.slug}-headcounts.csv"
    return private_csv(csv_bytes(HEADCOUNT_COLUMNS, lines), filename)


routes = [
    Route("/admin/{conference}/door", dashboard_page, methods=["GET"]),
    Route("/admin/{conference}/door/stats.json", dashboard_stats, methods=["GET"]),
    Route(
        "/admin/{conference}/door/conflicts/{conflict}/resolve",
        resolve_conflict_submit,
        methods=["POST"],
    ),
    Route("/admin/{conference}/door/undo", undo_submit, methods=["POST"]),
    Route("/admin/{conference}/door/headcounts.csv", headcounts_csv, methods=["GET"]),
    Route("/admin/{conference}/door/sessions", sessions_page, methods=["GET"]),
    Route("/admin/{conference}/door/sessions/{session}", session_door_page, methods=["GET"]),
    Route("/admin/{conference}/door/sessions/{session}", session_door_submit, methods=["POST"]),
    Route("/api/{conference}/sessions/{session}/door", session_door_api, methods=["POST"]),
]
