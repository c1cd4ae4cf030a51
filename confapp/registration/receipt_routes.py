"""An attendee's receipts, reached from their ticket page: a printable page and its PDF."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from confapp import urls
from confapp.http_cache import PRIVATE_HEADERS
from confapp.models import Conference
from confapp.registration.manage import registration_for_secret
from confapp.registration.orders import (
    order_for_secret,
)
from confapp.registration.receipt_pdf import receipt_content
from confapp.registration.receipts import OrderReceipt, receipt_of_order, single_order_receipt
from confapp.request_context import database
from confapp.templating import render
from confapp.translation import N_, _, use_conference_language

# The site's policy has object-src 'none', under which Chrome's own PDF viewer (an <embed> of
# the file in a page it makes up, styled inline) shows "This content is blocked" instead of
# the receipt (crbug.com/271452). A PDF runs no script of ours: it gets a policy of its own.
PDF_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "object-src 'self'",
        "style-src 'unsafe-inline'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

NO_RECEIPT_HERE = N_(
    "There is no receipt at this address. Check that the whole link was copied, or open your "
    "receipts from your ticket's page."
)


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def _receipt_for_request(request: Request) -> OrderReceipt:
    number = _number(request.path_params["number"])
    secret = request.path_params["secret"]
    of_order = request.url.path.startswith("/my-order/")
    with database(request).read() as session:
        registration = None if of_order else registration_for_secret(session, secret)
        order = order_for_secret(session, secret) if of_order else None
        owner = registration or order
        conference = session.get(Conference, owner.conference_id) if owner else None
        found = None
        if conference is not None and number is not None:
            # Found by its secret, not through the conference's address: in one of the
            # conference's languages all the same, before its words are looked up.
            use_conference_language(conference.languages, conference.default_language)
            if registration is not None:
                found = single_order_receipt(session, registration, number)
            elif order is not None:
                found = receipt_of_order(session, order, number)
    if found is None:
        raise HTTPException(404, _(NO_RECEIPT_HERE), headers=PRIVATE_HEADERS)
    return found


def receipt_page(request: Request) -> Response:
    found = _receipt_for_request(request)
    secret = request.path_params["secret"]
    response = render(
        request,
        "registration/receipt.html",
        {
            "conference": found.conference,
            "receipt": found.receipt,
            "content": receipt_content(
                found.receipt,
                found.conference,
                found.order_reference,
                cancels_number=found.cancels_number,
            ),
            "pdf_path": request.url.path + ".pdf",
            "ticket_path": (
                urls.order_path(secret)
                if request.url.path.startswith("/my-order/")
                else urls.manage_path(secret)
            ),
        },
    )
    response.headers.update(PRIVATE_HEADERS)
    return response


def receipt_pdf_file(request: Request) -> Response:
    found = _receipt_for_request(request)
    return Response(
        found.pdf(),
        media_type="application/pdf",
        headers={
            **PRIVATE_HEADERS,
            "Content-Security-Policy": PDF_CONTENT_SECURITY_POLICY,
            "Content-Disposition": f'inline; filename="{found.filename}"',
        },
    )


# The PDF's route first: "17.pdf" would match the page's {number} as well.
routes = [
    Route("/my-ticket/{secret}/receipts/{number}.pdf", receipt_pdf_file, name="receipt_pdf"),
    Route("/my-ticket/{secret}/receipts/{number}", receipt_page, name="receipt_page"),
    Route("/my-order/{secret}/receipts/{number}.pdf", receipt_pdf_file),
    Route("/my-order/{secret}/receipts/{number}", receipt_page),
]
