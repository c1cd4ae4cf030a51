"""The registration form, and the same through JSON."""

from __future__ import annotations

import json

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from confapp import urls
from confapp.db import Database
from confapp.models import Conference
from confapp.outbox import send_mail
from confapp.programme.queries import require_conference
from confapp.registration.form import check_registration, form_values, json_values
from confapp.registration.places import (
    TicketOffer,
    funded_pool_places,
    registration_is_open,
    ticket_offers,
)
from confapp.registration.service import RegisteredTicket, SoldOut, register
from confapp.templating import render
from confapp.tickets.ticket import Ticket
from confapp.tickets.ticket_json import ticket_document

SOLD_OUT_MESSAGE = "Sorry, the last place of this ticket type has just gone. Please choose another."
CLOSED_MESSAGE = "Registration has closed: the conference is over."


def _db(request: Request) -> Database:
    return request.app.state.db


def _conference_and_offers(request: Request) -> tuple[Conference, list[TicketOffer]]:
    with _db(request).read() as session:
        conference = require_conference(session, request.path_params["conference"])
        return conference, ticket_offers(session, conference)


def _send_confirmation(request: Request, registered: RegisteredTicket) -> BackgroundTask:
    # After the response: a slow or dead mail server never holds up the person registering.
    return BackgroundTask(
        send_mail, request.app.state.db, request.app.state.settings, registered.mail_id
    )


def _form_page(
    request: Request,
    conference: Conference,
    offers: list[TicketOffer],
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "registration/register.html",
        {
            "conference": conference,
            "offers": offers,
            "values": values,
            "errors": errors,
            "pool_places": funded_pool_places(conference),
            "is_open": registration_is_open(conference),
            "closed_message": CLOSED_MESSAGE,
            "nav": "register",
        },
        status_code=status_code,
    )


def register_form(request: Request) -> Response:
    conference, offers = _conference_and_offers(request)
    first_open = next((o.code for o in offers if not o.sold_out), "")
    values = form_values({"ticket_type": request.query_params.get("ticket_type") or first_open})
    return _form_page(request, conference, offers, values, {})


async def register_submit(request: Request) -> Response:
    form = await request.form()
    data = {key: form.get(key) for key in form}
    conference, offers = await run_in_threadpool(_conference_and_offers, request)
    if not registration_is_open(conference):
        return _form_page(request, conference, offers, form_values(data), {}, 409)
    clean, errors = check_registration(data, offers, conference)
    if clean is None:
        return _form_page(request, conference, offers, form_values(data), errors, 422)
    try:
        registered = await run_in_threadpool(register, _db(request), conference.id, clean)
    except SoldOut:
        _, offers = await run_in_threadpool(_conference_and_offers, request)
        values = form_values(data)
        return _form_page(
            request, conference, offers, values, {"ticket_type": SOLD_OUT_MESSAGE}, 409
        )
    return RedirectResponse(
        urls.ticket_path(registered.token),
        status_code=303,
        background=_send_confirmation(request, registered),
    )


async def registrations_api(request: Request) -> Response:
    try:
        body = json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return JSONResponse(
            {"error": "invalid_json", "detail": "The body must be a JSON object."}, 400
        )
    if not isinstance(body, dict):
        return JSONResponse(
            {"error": "invalid_json", "detail": "The body must be a JSON object."}, 400
        )
    conference, offers = await run_in_threadpool(_conference_and_offers, request)
    if not registration_is_open(conference):
        return JSONResponse({"error": "registration_closed", "detail": CLOSED_MESSAGE}, 409)
    clean, errors = check_registration(json_values(body), offers, conference)
    if clean is None:
        return JSONResponse({"error": "invalid", "fields": errors}, status_code=422)
    try:
        registered = await run_in_threadpool(register, _db(request), conference.id, clean)
    except SoldOut:
        return JSONResponse(
            {
                "error": "sold_out",
                "detail": SOLD_OUT_MESSAGE,
                "ticket_type": body.get("ticket_type"),
            },
            status_code=409,
        )
    ticket = Ticket(
        registered.registration, registered.ticket_type, registered.conference, registered.token
    )
    document = ticket_document(ticket, urls.site_origin(request))
    return JSONResponse(
        {"ticket": document},
        status_code=201,
        headers={"Location": document["url"]},
        background=_send_confirmation(request, registered),
    )


def ticket_types_api(request: Request) -> Response:
    conference, offers = _conference_and_offers(request)
    return JSONResponse(
        {
            "conference": conference.slug,
            "currency": conference.currency,
            "places_left": None
            if conference.capacity is None
            else conference.capacity - conference.places_taken,
            "solidarity_pool_places_funded": funded_pool_places(conference),
            "ticket_types": [
                {
                    "code": o.code,
                    "name": o.ticket_type.name,
                    "description": o.ticket_type.description,
                    "kind": o.ticket_type.kind,
                    "price_cents": o.ticket_type.price_cents,
                    "min_price_cents": o.ticket_type.min_price_cents,
                    "suggested_price_cents": o.ticket_type.suggested_price_cents,
                    "from_solidarity_pool": o.ticket_type.from_solidarity_pool,
                    "places_left": o.places_left,
                    "sold_out": o.sold_out,
                }
                for o in offers
            ],
        }
    )


routes = [
    Route("/api/{conference}/registrations", registrations_api, methods=["POST"]),
    Route("/api/{conference}/ticket-types", ticket_types_api),
    Route("/{conference}/register", register_form, methods=["GET"]),
    Route("/{conference}/register", register_submit, methods=["POST"]),
]
