"""The attendee's ticket: its page, QR images, cancelling; and the public keys for scanners."""

from __future__ import annotations

import base64

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from confapp import urls
from confapp.agenda.cookie import agenda_from_cookie, remember_agenda
from confapp.agenda.service import (
    merge_agenda_into,
    registration_agenda,
    starred_entries,
    starred_session_ids,
)
from confapp.db import Database
from confapp.models import Agenda, Registration
from confapp.outbox import mail_status
from confapp.programme.queries import load_programme, require_conference
from confapp.registration.privacy import erase_attendee
from confapp.registration.service import cancel_registration
from confapp.templating import render
from confapp.tickets.keys import accepted_public_keys
from confapp.tickets.qr import qr_png, qr_svg
from confapp.tickets.ticket import PRIVATE_HEADERS, Ticket, ticket_for_token

NOT_A_TICKET = (
    "This is not a valid ticket link. Check that the whole link was copied; if your ticket was "
    "erased at your request or after the conference, it no longer exists."
)


def _db(request: Request) -> Database:
    return request.app.state.db


def _ticket(request: Request) -> Ticket:
    with _db(request).read() as session:
        ticket = ticket_for_token(session, request.path_params["token"])
    if ticket is None:
        raise HTTPException(404, NOT_A_TICKET, headers=PRIVATE_HEADERS)
    return ticket


def _ticket_url(request: Request, ticket: Ticket) -> str:
    return urls.absolute(urls.site_origin(request), ticket.path)


def _ticket_agenda(request: Request, ticket: Ticket) -> Agenda:
    """The ticket's agenda, joined with this browser's. Writes only when there is something to
    write, so showing a ticket at the door never waits for a write lock."""
    db = _db(request)
    with db.read() as session:
        key = ticket.registration.agenda_key
        agenda = session.get(Agenda, key) if key else None
        in_browser = agenda_from_cookie(request, session, ticket.conference)
    if agenda is not None and (in_browser is None or in_browser.key == agenda.key):
        return agenda
    with db.transaction() as session:
        registration = session.get(Registration, ticket.registration.id)
        assert registration is not None
        agenda = registration_agenda(session, registration)
        merge_agenda_into(session, agenda_from_cookie(request, session, ticket.conference), agenda)
        return agenda


def ticket_page(request: Request) -> Response:
    ticket = _ticket(request)
    agenda = _ticket_agenda(request, ticket)
    with _db(request).read() as session:
        programme = load_programme(session, ticket.conference)
        starred = starred_session_ids(session, agenda)
    response = render(
        request,
        "tickets/ticket.html",
        {
            "conference": ticket.conference,
            "ticket": ticket,
            "ticket_url": _ticket_url(request, ticket),
            "mail": mail_status(_db(request), ticket.registration.id or 0),
            "agenda_entries": starred_entries(programme, starred),
            "programme_sessions": programme.sessions,
            "starred": starred,
        },
    )
    response.headers.update(PRIVATE_HEADERS)
    # Stars made on session pages in this browser now go to the ticket's own agenda.
    remember_agenda(request, response, ticket.conference, agenda.key)
    return response


def ticket_qr_svg(request: Request) -> Response:
    ticket = _ticket(request)
    return Response(
        qr_svg(_ticket_url(request, ticket)), media_type="image/svg+xml", headers=PRIVATE_HEADERS
    )


def ticket_qr_png(request: Request) -> Response:
    ticket = _ticket(request)
    return Response(
        qr_png(_ticket_url(request, ticket)), media_type="image/png", headers=PRIVATE_HEADERS
    )


def cancel_confirm(request: Request) -> Response:
    ticket = _ticket(request)
    response = render(
        request, "tickets/cancel.html", {"conference": ticket.conference, "ticket": ticket}
    )
    response.headers.update(PRIVATE_HEADERS)
    return response


async def cancel_submit(request: Request) -> Response:
    form = await request.form()
    ticket = await run_in_threadpool(_ticket, request)
    registration_id = ticket.registration.id or 0
    if form.get("erase") == "yes":
        await run_in_threadpool(erase_attendee, _db(request), registration_id)
        response = render(request, "tickets/erased.html", {"conference": ticket.conference})
    else:
        await run_in_threadpool(cancel_registration, _db(request), registration_id)
        response = RedirectResponse(ticket.path, status_code=303)
    response.headers.update(PRIVATE_HEADERS)
    return response


def ticket_keys_api(request: Request) -> Response:
    """The public keys a door scanner needs to check tickets offline (no secret here)."""
    with _db(request).read() as session:
        require_conference(session, request.path_params["conference"])
        keys = accepted_public_keys(session)
    return JSONResponse(
        {
            "algorithm": "Ed25519",
            "token_format": "base64url(version=1 | key_id | ticket code 8 bytes | signature 64)",
            "keys": [
                {"id": key_id, "public_key": base64.b64encode(raw).decode("ascii")}
                for key_id, raw in sorted(keys.items())
            ],
        }
    )


routes = [
    Route("/tickets/{token}", ticket_page),
    Route("/tickets/{token}/qr.svg", ticket_qr_svg),
    Route("/tickets/{token}/qr.png", ticket_qr_png),
    Route("/tickets/{token}/cancel", cancel_confirm, methods=["GET"]),
    Route("/tickets/{token}/cancel", cancel_submit, methods=["POST"]),
    Route("/api/{conference}/ticket-keys", ticket_keys_api),
]
