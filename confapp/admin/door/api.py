"""The door's JSON API: admit a scanned or typed ticket, take in an offline device's
admissions, find a ticket by name or code, list the unpaid tickets an offline device keeps
(stewards and organisers); undo a check-in and the door's counts (organisers). Routes parse,
authorise and answer; confapp.checkin.service decides.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import anyio
from pydantic import BaseModel
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from confapp.accounts.service import Principal
from confapp.admin.auth import door_conference_for, door_device_on, require_door_role
from confapp.admin.menu import ORGANISER, ORGANISERS, STEWARD
from confapp.checkin import bodies, service
from confapp.checkin.unpaid_at_door import unpaid_tickets
from confapp.http_cache import PRIVATE_HEADERS
from confapp.models import Conference
from confapp.programme.queries import require_conference
from confapp.request_body import BadRequestBody, character_problem, read_json_object
from confapp.request_context import database
from confapp.times import utcnow
from confapp.translation import _, ngettext

# Who works the door: stewards, and organisers, who may do anything a steward may.
DOOR_TEAM = (ORGANISER, STEWARD)
MAX_SYNC_ADMISSIONS = bodies.MAX_SYNC_ADMISSIONS
# Scans run in at most this many threads per process, not the thread pool's 40: scans are
# CPU-bound Python, and 40 threads fighting over the GIL and a small connection pool made each
# slower (measured: p99 at 64 connections fell from 1.2 s to 0.2 s, throughput rose half again).
DOOR_THREADS = anyio.CapacityLimiter(4)


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=PRIVATE_HEADERS)


def _authorised(request: Request, roles: tuple[str, ...]) -> tuple[Conference, Principal]:
    """The conference in the path (404 if none) and the caller, if they hold a role (401/403):
    a person's sign-in, a Bearer token, or the conference's door device."""
    return door_conference_for(request, *roles)


def _authorised_in(
    session: Session, request: Request, roles: tuple[str, ...]
) -> tuple[Conference, Principal]:
    """`_authorised`, read in the caller's session."""
    conference = require_conference(session, request.path_params["conference"])
    return conference, require_door_role(request, conference, *roles, session=session)


def _recorded_device(request: Request, sent: str) -> str:
    """What a check-in records as its device: the door device the request came from (so the
    dashboard can name it), else the id the page sent."""
    device = door_device_on(request)
    return device.label if device is not None else sent


def _invalid(fields: dict[str, str]) -> BadRequestBody:
    return BadRequestBody(422, "invalid", _("Some fields need fixing."), fields=fields)


def _refuse_unknown(body: dict[str, Any], model: type[BaseModel], where: str = "") -> None:
    """A field the body's model (confapp.checkin.bodies) does not take is named, not ignored."""
    unknown = sorted(set(body) - set(model.model_fields))
    if unknown:
        raise _invalid(
            {f"{where}{name}": _("This is not a field the door takes.") for name in unknown}
        )


def _text(body: dict[str, Any], name: str, *, required: bool, max_length: int) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _invalid({name: _("This must be text.")})
    if required and not value.strip():
        raise _invalid({name: _("This is required.")})
    if len(value) > max_length:
        raise _invalid(
            {
                name: ngettext(
                    "This must be at most %(count)d character.",
                    "This must be at most %(count)d characters.",
                    max_length,
                )
                % {"count": max_length}
            }
        )
    return value


# --- admitting --------------------------------------------------------------------------------


def _scan_fields(body: dict[str, Any]) -> tuple[str, str, str]:
    """The scan, the device and the method a scan's body holds, or 422 saying which is wrong."""
    _refuse_unknown(body, bodies.Checkin)
    scan = body.get("scan")
    if not isinstance(scan, str) or not scan.strip():
        raise _invalid(
            {"scan": _("The text read from the QR code, or a ticket code, is required.")}
        )
    device = _text(body, "device", required=False, max_length=service.MAX_DEVICE_LENGTH)
    method = body.get("method", "scan")
    if method not in service.METHODS:
        raise _invalid(
            {
                "method": _("This must be one of: %(choices)s.")
                % {"choices": ", ".join(service.METHODS)}
            }
        )
    return scan, device, method


def _admit(request: Request, body: dict[str, Any] | BadRequestBody) -> Response:
    # A scan is read in one database session (conference, token, roles, keys, ticket): each
    # session costs a pool checkout and, on PostgreSQL, round trips of its own. Only a scan
    # that may admit someone goes on to a write transaction.
    db = database(request)
    with db.read() as session:
        conference, by = _authorised_in(session, request, DOOR_TEAM)
        if isinstance(body, BadRequestBody):
            raise body  # after authorising, so a stranger learns nothing from the body's checks
        scan, device, method = _scan_fields(body)
        device = _recorded_device(request, device)
        result = service.answer_without_admitting(session, conference, scan)
    if result is None:
        with db.transaction() as session:
            result = service.admit(
                session, conference, scan, by, device=device, method=method, now=utcnow()
            )
    return _json(result.document(conference.timezone))


async def checkin_create(request: Request) -> Response:
    # One trip to the thread pool per scan, not two: the body is read first, and a body
    # that cannot be read is answered only once the caller is known to be on the door team.
    body: dict[str, Any] | BadRequestBody
    try:
        body = await read_json_object(request)
    except BadRequestBody as refused:
        body = refused
    return await anyio.to_thread.run_sync(_admit, request, body, limiter=DOOR_THREADS)


def _admitted_at(value: Any, where: str) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise _invalid({where: _("This must be a time like 2027-07-10T09:30:00+10:00.")})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid({where: _("This must be a time like 2027-07-10T09:30:00+10:00.")}) from None
    if moment.tzinfo is None:
        raise _invalid({where: _("This time needs its UTC offset, like +10:00 or Z.")})
    return moment


def _offline_admissions(body: dict[str, Any]) -> list[service.OfflineAdmission]:
    _refuse_unknown(body, bodies.CheckinSync)
    items = body.get("admissions")
    if not isinstance(items, list):
        raise _invalid({"admissions": _("This must be a list of admissions.")})
    if len(items) > MAX_SYNC_ADMISSIONS:
        raise _invalid(
            {"admissions": _("Send at most %(count)d at a time.") % {"count": MAX_SYNC_ADMISSIONS}}
        )
    admissions = []
    for number, item in enumerate(items):
        where = f"admissions[{number}]"
        if not isinstance(item, dict):
            raise _invalid({where: _("Each admission is an object with scan and admitted_at.")})
        _refuse_unknown(item, bodies.OfflineAdmission, f"{where}.")
        scan = item.get("scan")
        if not isinstance(scan, str):
            raise _invalid({f"{where}.scan": _("This must be text.")})
        admitted_at = _admitted_at(item.get("admitted_at"), f"{where}.admitted_at")
        admissions.append(service.OfflineAdmission(scan, admitted_at))
    return admissions


def _sync(
    request: Request, conference: Conference, by: Principal, body: dict[str, Any]
) -> Response:
    _refuse_unknown(body, bodies.CheckinSync)
    device = _recorded_device(
        request, _text(body, "device", required=True, max_length=service.MAX_DEVICE_LENGTH)
    )
    admissions = _offline_admissions(body)
    with database(request).transaction() as session:
        results = service.sync_offline(session, conference, device, admissions, by, now=utcnow())
    return _json({"results": [result.document(conference.timezone) for result in results]})


async def checkin_sync(request: Request) -> Response:
    conference, by = await run_in_threadpool(_authorised, request, DOOR_TEAM)
    body = await read_json_object(request)
    return await run_in_threadpool(_sync, request, conference, by, body)


# --- undoing (organisers) ---------------------------------------------------------------------


def checkin_delete(request: Request) -> Response:
    conference, by = _authorised(request, ORGANISERS)
    typed = request.path_params["ticket_code"]
    try:
        with database(request).transaction() as session:
            service.undo(session, conference, typed, by, now=utcnow())
    except service.UnknownTicket:
        return _json(
            {"error": "not found", "detail": _("This conference has no ticket with that code.")},
            404,
        )
    except service.NothingToUndo:
        return _json(
            {
                "error": "not_admitted",
                "detail": _("This ticket is not checked in; nothing changed."),
            },
            409,
        )
    return _json({"result": "undone"})


# --- finding and counting ---------------------------------------------------------------------


def door_search(request: Request) -> Response:
    conference, _principal = _authorised(request, DOOR_TEAM)
    q = request.query_params.get("q", "")
    if len(q.strip()) < service.MIN_SEARCH_LENGTH:
        raise _invalid({"q": _characters(service.MIN_SEARCH_LENGTH, at_least=True)})
    if len(q) > service.MAX_SEARCH_LENGTH:
        raise _invalid({"q": _characters(service.MAX_SEARCH_LENGTH, at_least=False)})
    problem = character_problem(q)
    if problem:
        raise _invalid({"q": problem})
    with database(request).read() as session:
        matches = service.search_registrations(session, conference, q)
    return _json({"matches": [match.document(conference.timezone) for match in matches]})


def _characters(count: int, *, at_least: bool) -> str:
    if at_least:
        text = ngettext(
            "Type at least %(count)d character.", "Type at least %(count)d characters.", count
        )
    else:
        text = ngettext(
            "Type at most %(count)d character.", "Type at most %(count)d characters.", count
        )
    return text % {"count": count}


def door_stats(request: Request) -> Response:
    conference, _principal = _authorised(request, ORGANISERS)
    with database(request).read() as session:
        stats = service.door_stats(session, conference, now=utcnow())
    return _json(stats.document(conference.timezone))


def door_unpaid_tickets(request: Request) -> Response:
    """The unpaid tickets a door device keeps, so it says the same about payment offline."""
    conference, _principal = _authorised(request, DOOR_TEAM)
    with database(request).read() as session:
        unpaid = unpaid_tickets(session, conference)
    return _json(unpaid.document())


routes = [
    Route("/api/{conference}/checkins", checkin_create, methods=["POST"], name="api_checkin"),
    Route(
        "/api/{conference}/checkins/sync", checkin_sync, methods=["POST"], name="api_checkin_sync"
    ),
    Route(
        "/api/{conference}/checkins/{ticket_code}",
        checkin_delete,
        methods=["DELETE"],
        name="api_checkin_undo",
    ),
    Route("/api/{conference}/door/search", door_search, methods=["GET"], name="api_door_search"),
    Route("/api/{conference}/door/stats", door_stats, methods=["GET"], name="api_door_stats"),
    Route(
        "/api/{conference}/door/unpaid-tickets",
        door_unpaid_tickets,
        methods=["GET"],
        name="api_door_unpaid_tickets",
    ),
]
