"""What a ticket's QR code opens (the admission page, with no personal data), the QR images,
and what door devices need to check tickets offline: public keys and the revocation list."""

from __future__ import annotations

import base64
import json

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from confapp import urls
from confapp.http_cache import PRIVATE_HEADERS, conditional_response
from confapp.programme.queries import require_conference
from confapp.request_context import database
from confapp.templating import render
from confapp.tickets.admission import (
    Admission,
    admission_for_token,
    revoked_tickets,
)
from confapp.tickets.keys import accepted_public_keys
from confapp.tickets.qr import qr_png, qr_svg
from confapp.tickets.tokens import display_code
from confapp.translation import N_, _

NOT_A_TICKET = N_(
    "This is not a valid ticket. Check that the whole link was copied; a ticket erased at its "
    "holder's request or after the conference no longer exists."
)


def _admission(request: Request) -> Admission:
    with database(request).read() as session:
        admission = admission_for_token(session, request.path_params["token"])
    if admission is None:
        raise HTTPException(404, _(NOT_A_TICKET), headers=PRIVATE_HEADERS)
    return admission


def _qr_content(request: Request, admission: Admission) -> str:
    return urls.absolute(urls.site_origin(request), urls.ticket_path(admission.token))


def admission_page(request: Request) -> Response:
    """Whoever opens a QR code learns only that it is a ticket for this conference."""
    admission = _admission(request)
    response = render(
        request,
        "tickets/admission.html",
        {
            "conference": admission.conference,
            "admission": admission,
            "link_sent": request.query_params.get("sent") == "1",
        },
    )
    response.headers.update(PRIVATE_HEADERS)
    return response


def ticket_qr_svg(request: Request) -> Response:
    admission = _admission(request)
    return Response(
        qr_svg(_qr_content(request, admission)),
        media_type="image/svg+xml",
        headers=PRIVATE_HEADERS,
    )


def ticket_qr_png(request: Request) -> Response:
    admission = _admission(request)
    return Response(
        qr_png(_qr_content(request, admission)), media_type="image/png", headers=PRIVATE_HEADERS
    )


def ticket_keys_api(request: Request) -> Response:
    """The public keys a door device needs to check tickets offline (no secret here)."""
    with database(request).read() as session:
        conference = require_conference(session, request.path_params["conference"])
        keys = accepted_public_keys(session)
    return JSONResponse(
        {
            "conference": conference.slug,
            "conference_id": conference.id,
            "algorithm": "Ed25519",
            "token_format": (
                "base64url(version=2 | key_id | conference_id 4 bytes big-endian | "
                "ticket code 8 bytes | signature 64 over the bytes before it)"
            ),
            "keys": [
                {"id": key_id, "public_key": base64.b64encode(raw).decode("ascii")}
                for key_id, raw in sorted(keys.items())
            ],
        }
    )


def ticket_revocations_api(request: Request) -> Response:
    """Codes of the conference's cancelled and erased tickets, for doors that go offline."""
    with database(request).read() as session:
        conference = require_conference(session, request.path_params["conference"])
        revocations = revoked_tickets(session, conference.id or 0)
    body = json.dumps(
        {
            "conference": conference.slug,
            "conference_id": conference.id,
            "revoked": [display_code(code) for code in revocations.codes],
        },
        separators=(",", ":"),
    ).encode()
    return conditional_response(
        request,
        body,
        "application/json",
        revocations.last_changed or conference.created_at,
        cache_control="no-cache",
    )


routes = [
    Route("/tickets/{token}", admission_page),
    Route("/tickets/{token}/qr.svg", ticket_qr_svg),
    Route("/tickets/{token}/qr.png", ticket_qr_png),
    Route("/api/{conference}/ticket-keys", ticket_keys_api),
    Route("/api/{conference}/ticket-revocations", ticket_revocations_api),
]
