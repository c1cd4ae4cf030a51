"""The registration form, and the same through JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from confapp import urls
from confapp.errors import error_response
from confapp.models import Conference, PaymentMethod
from confapp.outbox import send_mail
from confapp.programme.queries import require_conference
from confapp.registration.form import (
    FIELDS,
    METHOD_NAMES,
    check_registration,
    form_values,
    json_values,
    unknown_json_fields,
)
from confapp.registration.manage import ticket_document
from confapp.registration.orders import (
    offered_methods,
    payment_settings,
)
from confapp.registration.payment_routes import (
    allow_forms_to_checkout,
    begin_card_payment,
    order_payment_document,
    redirect_to_checkout,
)
from confapp.registration.places import (
    TicketOffer,
    funded_pool_places,
    registration_is_open,
    ticket_offers,
)
from confapp.registration.service import (
    RegisteredTicket,
    Requester,
    SoldOut,
    Throttled,
    register,
)
from confapp.registration.vouchers import (
    MAX_CODE_CHARS as MAX_VOUCHER_CHARS,
)
from confapp.registration.vouchers import (
    NO_SUCH_VOUCHER,
    VoucherTerms,
    VoucherUsedUp,
    describe_voucher,
    used_up_message,
    voucher_for_form,
)
from confapp.request_body import (
    BadRequestBody,
    bad_request_json,
    read_form_fields,
    read_json_object,
)
from confapp.request_context import app_settings, database
from confapp.templating import render
from confapp.times import local_today, utcnow
from confapp.translation import N_, _, ngettext

# Shown where they are used with _(...), in the reader's language.
SOLD_OUT_MESSAGE = N_(
    "Sorry, the last place of this ticket type has just gone. Please choose another."
)
CLOSED_MESSAGE = N_("Online registration is closed.")


@dataclass(frozen=True)
class Offered:
    """What the form offers: the conference, its tickets, and a voucher typed (or why the
    code cannot be used)."""

    conference: Conference
    offers: list[TicketOffer]
    voucher: VoucherTerms | None = None
    voucher_error: str = ""

    @property
    def errors(self) -> dict[str, str]:
        return {"voucher": self.voucher_error} if self.voucher_error else {}


def _offered(request: Request, typed_voucher: Any = "") -> Offered:
    with database(request).read() as session:
        conference = require_conference(session, request.path_params["conference"])
        if not isinstance(typed_voucher, str) or len(typed_voucher) > MAX_VOUCHER_CHARS:
            return Offered(
                conference,
                ticket_offers(session, conference),
                voucher_error=_(NO_SUCH_VOUCHER),
            )
        voucher, problem = voucher_for_form(session, conference.id or 0, typed_voucher, utcnow())
        return Offered(conference, ticket_offers(session, conference, voucher), voucher, problem)


def _payment_methods(request: Request, conference: Conference) -> tuple[str, ...]:
    assert conference.id is not None  # read from the database
    with database(request).read() as session:
        return offered_methods(payment_settings(session, conference.id))


def _send_confirmation(request: Request, registered: RegisteredTicket) -> BackgroundTask | None:
    # After the response: a slow or dead mail server never holds up the person registering.
    if registered.mail_id is None:
        return None
    return BackgroundTask(send_mail, database(request), app_settings(request), registered.mail_id)


def requester(request: Request) -> Requester:
    # Behind a reverse proxy this is the proxy's address unless uvicorn trusts its
    # X-Forwarded-For (--forwarded-allow-ips): see docs/privacy-and-security.md, "Throttles".
    address = request.client.host if request.client else "unknown"
    return Requester(address, request.app.state.throttle_limits)


def throttled_message(retry_after_seconds: int) -> str:
    minutes = max(1, round(retry_after_seconds / 60))
    return ngettext(
        "There have been a lot of registrations from this connection or for this e-mail address "
        "just now. Please try again in about %(count)d minute; "
        "if you are at the venue, the registration desk can help straight away.",
        "There have been a lot of registrations from this connection or for this e-mail address "
        "just now. Please try again in about %(count)d minutes; "
        "if you are at the venue, the registration desk can help straight away.",
        minutes,
    ) % {"count": minutes}


def throttled_json(throttled: Throttled) -> JSONResponse:
    """The JSON API's 429, with when to try again."""
    return JSONResponse(
        {
            "error": "throttled",
            "detail": throttled_message(throttled.retry_after_seconds),
            "retry_after_seconds": throttled.retry_after_seconds,
        },
        status_code=429,
        headers={"Retry-After": str(throttled.retry_after_seconds)},
    )


def _form_page(
    request: Request,
    offered: Offered,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    conference, offers = offered.conference, offered.offers
    methods = _payment_methods(request, conference)
    response = render(
        request,
        "registration/register.html",
        {
            "conference": conference,
            "offers": offers,
            "voucher": offered.voucher,
            "voucher_words": describe_voucher(offered.voucher, offers, conference.currency)
            if offered.voucher
            else "",
            "values": values,
            "errors": errors,
            "pool_places": funded_pool_places(conference),
            "is_open": registration_is_open(conference),
            "closed_message": _(CLOSED_MESSAGE),
            "conference_over": local_today(conference.timezone) > conference.end_date,
            "payment_methods": [(m, _(METHOD_NAMES[m])) for m in methods],
            "nav": "register",
        },
        status_code=status_code,
    )
    takes_cards = PaymentMethod.stripe.value in methods
    return allow_forms_to_checkout(response, app_settings(request), takes_cards)


def register_form(request: Request) -> Response:
    typed = request.query_params.get("voucher", "")
    offered = _offered(request, typed)
    first_open = next((o.code for o in offered.offers if not o.sold_out), "")
    if offered.voucher is not None:  # the first ticket the code is for
        first_open = next(
            (o.code for o in offered.offers if o.voucher_price_cents is not None), first_open
        )
    values = form_values(
        {"ticket_type": request.query_params.get("ticket_type") or first_open, "voucher": typed}
    )
    return _form_page(request, offered, values, offered.errors)


async def register_submit(request: Request) -> Response:
    try:
        data = await read_form_fields(request, FIELDS)
    except BadRequestBody as refused:
        if not refused.fields:
            return error_response(request, refused.status, refused.detail)
        offered = await run_in_threadpool(_offered, request)
        values = form_values(refused.values)
        return _form_page(request, offered, values, refused.fields, 422)
    offered = await run_in_threadpool(_offered, request, data.get("voucher", ""))
    conference = offered.conference
    if not registration_is_open(conference):
        return _form_page(request, offered, form_values(data), {}, 409)
    methods = await run_in_threadpool(_payment_methods, request, conference)
    clean, errors = check_registration(data, offered.offers, conference, methods, offered.voucher)
    if clean is None or offered.voucher_error:
        errors = offered.errors | errors
        return _form_page(request, offered, form_values(data), errors, 422)
    assert conference.id is not None  # read from the database
    try:
        registered = await run_in_threadpool(
            register, database(request), conference.id, clean, requester(request)
        )
    except SoldOut:
        offered = await run_in_threadpool(_offered, request, data.get("voucher", ""))
        values = form_values(data)
        return _form_page(request, offered, values, {"ticket_type": _(SOLD_OUT_MESSAGE)}, 409)
    except VoucherUsedUp:
        offered = await run_in_threadpool(_offered, request)
        values = form_values(data)
        return _form_page(request, offered, values, {"voucher": used_up_message()}, 409)
    except Throttled as throttled:
        response = _form_page(
            request,
            offered,
            form_values(data),
            {"form": throttled_message(throttled.retry_after_seconds)},
            429,
        )
        response.headers["Retry-After"] = str(throttled.retry_after_seconds)
        return response
    order = registered.order
    if order is not None and order.method == PaymentMethod.stripe.value:
        # Straight on to Stripe's page; the way back leads to the ticket page.
        started = await run_in_threadpool(
            begin_card_payment,
            database(request),
            app_settings(request),
            order,
            urls.site_origin(request),
        )
        if started.checkout is not None:
            return redirect_to_checkout(
                request, started.checkout, registered.ticket.path, started.hold_seconds
            )
        return RedirectResponse(
            registered.ticket.path + "?new=1&payment=unavailable", status_code=303
        )
    # Straight to the attendee's own page: the first place they see their management link.
    return RedirectResponse(
        registered.ticket.path + "?new=1",
        status_code=303,
        background=_send_confirmation(request, registered),
    )


async def registrations_api(request: Request) -> Response:
    try:
        body = await read_json_object(request)
    except BadRequestBody as refused:
        return bad_request_json(refused)
    offered = await run_in_threadpool(_offered, request, body.get("voucher") or "")
    conference = offered.conference
    if not registration_is_open(conference):
        return JSONResponse({"error": "registration_closed", "detail": _(CLOSED_MESSAGE)}, 409)
    methods = await run_in_threadpool(_payment_methods, request, conference)
    clean, errors = check_registration(
        json_values(body), offered.offers, conference, methods, offered.voucher
    )
    unknown = unknown_json_fields(body)
    if clean is None or unknown or offered.voucher_error:
        fields = {**offered.errors, **errors, **unknown}
        return JSONResponse({"error": "invalid", "fields": fields}, status_code=422)
    assert conference.id is not None  # read from the database
    try:
        registered = await run_in_threadpool(
            register, database(request), conference.id, clean, requester(request)
        )
    except Throttled as throttled:
        return throttled_json(throttled)
    except SoldOut:
        return JSONResponse(
            {
                "error": "sold_out",
                "detail": _(SOLD_OUT_MESSAGE),
                "ticket_type": body.get("ticket_type"),
            },
            status_code=409,
        )
    except VoucherUsedUp:
        return JSONResponse(
            {
                "error": "voucher_used_up",
                "detail": used_up_message(),
                "fields": {"voucher": used_up_message()},
            },
            status_code=409,
        )
    document = ticket_document(registered.ticket, urls.site_origin(request))
    answer: dict[str, Any] = {"ticket": document}
    if registered.order is not None:
        answer["order"] = await run_in_threadpool(order_payment_document, request, registered.order)
    return JSONResponse(
        answer,
        status_code=201,
        headers={"Location": document["url"]},
        background=_send_confirmation(request, registered),
    )


def ticket_types_api(request: Request) -> Response:
    offered = _offered(request, request.query_params.get("voucher", ""))
    if offered.voucher_error:
        return JSONResponse({"error": "invalid", "fields": offered.errors}, status_code=422)
    conference, offers = offered.conference, offered.offers
    return JSONResponse(
        {
            "conference": conference.slug,
            "currency": conference.currency,
            "payment_methods": list(_payment_methods(request, conference)),
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
                    "voucher_price_cents": o.voucher_price_cents,
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
