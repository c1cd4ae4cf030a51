"""Registering several people at once, paid by one order: the group form at
/{conference}/register/group, the same as JSON at POST /api/{conference}/orders, and the
order's own page at /my-order/{secret} for whoever pays (a union branch, a comrade paying for
friends): its payment, its receipts and its tickets. Each attendee gets their own ticket, QR
code and management link by mail."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from confapp import urls
from confapp.content import localized
from confapp.errors import error_response
from confapp.http_cache import PRIVATE_HEADERS
from confapp.models import Conference, Order, PaymentMethod, TicketType
from confapp.programme.queries import require_conference
from confapp.registration.form import METHOD_NAMES, form_values
from confapp.registration.group_form import (
    FORM_ROWS,
    GROUP_FIELDS,
    check_group,
    row_field,
    rows_from_form,
)
from confapp.registration.manage import ticket_document
from confapp.registration.orders import (
    bank_details,
    display_reference,
    offered_methods,
    order_for_secret,
    order_receipts,
    order_registrations,
    payment_settings,
)
from confapp.registration.payment_routes import (
    allow_forms_to_checkout,
    begin_card_payment,
    mail_tasks,
    order_payment_document,
    redirect_to_checkout,
)
from confapp.registration.places import TicketOffer, registration_is_open, ticket_offers
from confapp.registration.routes import (
    CLOSED_MESSAGE,
    SOLD_OUT_MESSAGE,
    requester,
    throttled_json,
    throttled_message,
)
from confapp.registration.service import (
    MOST_IN_A_GROUP,
    RegisteredGroup,
    SoldOut,
    Throttled,
    register_group,
)
from confapp.request_body import (
    BadRequestBody,
    bad_request_json,
    read_form_fields,
    read_json_object,
)
from confapp.request_context import app_settings, database
from confapp.same_origin import sent_from_this_site
from confapp.templating import render
from confapp.tickets.tokens import display_code
from confapp.translation import N_, _, use_conference_language

NOT_YOUR_ORDER = N_(
    "This is not a valid order link. Check that the whole link was copied from the e-mail."
)


def _setup(request: Request) -> tuple[Conference, list[TicketOffer], tuple[str, ...]]:
    with database(request).read() as session:
        conference = require_conference(session, request.path_params["conference"])
        offers = ticket_offers(session, conference)
        methods = offered_methods(payment_settings(session, conference.id or 0))
        return conference, offers, methods


def _form_page(
    request: Request,
    setup: tuple[Conference, list[TicketOffer], tuple[str, ...]],
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    conference, offers, methods = setup
    response = render(
        request,
        "registration/register_group.html",
        {
            "conference": conference,
            "offers": offers,
            "values": values,
            "errors": errors,
            "rows": range(1, FORM_ROWS + 1),
            "row_field": row_field,
            "payment_methods": [(m, _(METHOD_NAMES[m])) for m in methods],
            "is_open": registration_is_open(conference),
            "closed_message": _(CLOSED_MESSAGE),
            "nav": "register",
        },
        status_code=status_code,
    )
    offered = PaymentMethod.stripe.value in methods
    return allow_forms_to_checkout(response, app_settings(request), offered)


def form_values_any(data: dict[str, Any]) -> dict[str, str]:
    """What was typed, as text, to fill the form in again."""
    shown = form_values(data)
    for name in GROUP_FIELDS:
        value = data.get(name)
        shown[name] = value.strip() if isinstance(value, str) else ""
    return shown


def group_form(request: Request) -> Response:
    return _form_page(request, _setup(request), {}, {})


def _paid_or_onward(request: Request, group: RegisteredGroup) -> Response:
    order = group.order
    page = urls.order_path(group.order_secret)
    tasks = mail_tasks(request, group.mail_ids)
    if order.method == PaymentMethod.stripe.value and order.status == "reserved":
        started = begin_card_payment(
            database(request), app_settings(request), order, urls.site_origin(request)
        )
        if started.checkout is not None:
            return redirect_to_checkout(request, started.checkout, page, started.hold_seconds)
        return RedirectResponse(page + "?new=1&payment=unavailable", status_code=303)
    return RedirectResponse(page + "?new=1", status_code=303, background=tasks)


async def group_submit(request: Request) -> Response:
    try:
        data = await read_form_fields(request, GROUP_FIELDS)
    except BadRequestBody as refused:
        if not refused.fields:
            return error_response(request, refused.status, refused.detail)
        setup = await run_in_threadpool(_setup, request)
        return _form_page(request, setup, form_values_any(refused.values), refused.fields, 422)
    setup = await run_in_threadpool(_setup, request)
    conference, offers, methods = setup
    values = form_values_any(data)
    if not registration_is_open(conference):
        return _form_page(request, setup, values, {"form": _(CLOSED_MESSAGE)}, 409)
    clean, errors = check_group(data, rows_from_form(data), offers, conference, methods)
    if clean is None:
        return _form_page(request, setup, values, errors, 422)
    try:
        group = await run_in_threadpool(
            register_group,
            database(request),
            conference.id or 0,
            clean.payer,
            clean.attendees,
            requester(request),
        )
    except SoldOut:
        setup = await run_in_threadpool(_setup, request)
        return _form_page(request, setup, values, {"form": _(SOLD_OUT_MESSAGE)}, 409)
    except Throttled as throttled:
        message = throttled_message(throttled.retry_after_seconds)
        response = _form_page(request, setup, values, {"form": message}, 429)
        response.headers["Retry-After"] = str(throttled.retry_after_seconds)
        return response
    return await run_in_threadpool(_paid_or_onward, request, group)


# ---- JSON ------------------------------------------------------------------------------------


ORDER_BODY_FIELDS = {"payer_name", "email", "payment_method", "attendees"}
ATTENDEE_BODY_FIELDS = {"name", "email", "ticket_type", "amount"}


def _json_rows(body: dict[str, Any], errors: dict[str, str]) -> list[dict[str, Any]]:
    attendees = body.get("attendees")
    if not isinstance(attendees, list) or not attendees:
        errors["attendees"] = _("Give a list of attendees, each with a name and a ticket type.")
        return []
    if len(attendees) > MOST_IN_A_GROUP:
        errors["attendees"] = _("At most %(count)d attendees at once.") % {"count": MOST_IN_A_GROUP}
        return []
    rows = []
    for number, attendee in enumerate(attendees, start=1):
        if not isinstance(attendee, dict):
            errors[f"attendees.{number}"] = _("Each attendee is an object.")
            continue
        for name in attendee:
            if name not in ATTENDEE_BODY_FIELDS:
                errors[f"attendees.{number}.{name}"] = _("is not a field of an attendee")
        rows.append({**attendee, "row": number})
    return rows


async def orders_api(request: Request) -> Response:
    try:
        body = await read_json_object(request)
    except BadRequestBody as refused:
        return bad_request_json(refused)
    setup = await run_in_threadpool(_setup, request)
    conference, offers, methods = setup
    if not registration_is_open(conference):
        return JSONResponse({"error": "registration_closed", "detail": _(CLOSED_MESSAGE)}, 409)
    errors: dict[str, str] = {
        name: _("is not a field of an order") for name in body if name not in ORDER_BODY_FIELDS
    }
    rows = _json_rows(body, errors)
    clean, checked = check_group(body, rows, offers, conference, methods)
    # The form's keys (attendee2_name) as the JSON's paths (attendees.2.name).
    for key, message in checked.items():
        if key == "attendee1_name" and "attendees" in errors and not rows:
            continue  # the list itself was refused: said once, under `attendees`
        if key.startswith("attendee") and "_" in key:
            number, field = key[len("attendee") :].split("_", 1)
            errors[f"attendees.{number}.{field}"] = message
        else:
            errors[key] = message
    if clean is None or errors:
        return JSONResponse({"error": "invalid", "fields": errors}, status_code=422)
    try:
        group = await run_in_threadpool(
            register_group,
            database(request),
            conference.id or 0,
            clean.payer,
            clean.attendees,
            requester(request),
        )
    except SoldOut:
        return JSONResponse({"error": "sold_out", "detail": _(SOLD_OUT_MESSAGE)}, 409)
    except Throttled as throttled:
        return throttled_json(throttled)
    origin = urls.site_origin(request)
    document = await run_in_threadpool(
        order_payment_document,
        request,
        group.order,
        urls.absolute(origin, urls.order_path(group.order_secret)),
    )
    return JSONResponse(
        {"order": document, "tickets": [ticket_document(t, origin) for t in group.tickets]},
        status_code=201,
        headers={"Location": document["url"]},
        background=mail_tasks(request, group.mail_ids),
    )


# ---- the order's page ------------------------------------------------------------------------


def _order(request: Request) -> tuple[Order, Conference]:
    with database(request).read() as session:
        order = order_for_secret(session, request.path_params["secret"])
        conference = session.get(Conference, order.conference_id) if order else None
    if order is None or conference is None:
        raise HTTPException(404, _(NOT_YOUR_ORDER), headers=PRIVATE_HEADERS)
    use_conference_language(conference.languages, conference.default_language)
    return order, localized(conference)


def order_page(request: Request) -> Response:
    order, conference = _order(request)
    db = database(request)
    with db.read() as session:
        registrations = order_registrations(session, order.id or 0)
        types = {
            t.id: localized(t)
            for t in (session.get(TicketType, r.ticket_type_id) for r in registrations)
            if t is not None
        }
        bank = (
            bank_details(payment_settings(session, order.conference_id), order)
            if order.method == PaymentMethod.bank_transfer.value
            else None
        )
        receipts = order_receipts(session, order.id or 0)
    response = render(
        request,
        "registration/my_order.html",
        {
            "conference": conference,
            "order": order,
            "reference": display_reference(order.reference),
            "secret": request.path_params["secret"],
            "attendees": [
                (r, types.get(r.ticket_type_id), display_code(r.ticket_code)) for r in registrations
            ],
            "bank": bank,
            "receipts": receipts,
            "just_registered": request.query_params.get("new") == "1",
            "payment_news": request.query_params.get("payment", "")
            or ("paid" if request.query_params.get("paid") == "1" else ""),
        },
    )
    response.headers.update(PRIVATE_HEADERS)
    paying_by_card = order.method == PaymentMethod.stripe.value and order.status == "reserved"
    return allow_forms_to_checkout(response, app_settings(request), paying_by_card)


async def order_pay(request: Request) -> Response:
    if not sent_from_this_site(request):
        return error_response(request, 403, _("This form must be sent from this site."))
    order, _conference = await run_in_threadpool(_order, request)
    page = urls.order_path(request.path_params["secret"])
    if order.method != PaymentMethod.stripe.value or order.status != "reserved":
        return RedirectResponse(page, status_code=303)
    started = await run_in_threadpool(
        begin_card_payment,
        database(request),
        app_settings(request),
        order,
        urls.site_origin(request),
    )
    if started.checkout is None:
        return RedirectResponse(page + "?payment=unavailable", status_code=303)
    return redirect_to_checkout(request, started.checkout, page, started.hold_seconds)


routes = [
    Route("/api/{conference}/orders", orders_api, methods=["POST"]),
    Route("/{conference}/register/group", group_form, methods=["GET"]),
    Route("/{conference}/register/group", group_submit, methods=["POST"]),
    Route("/my-order/{secret}", order_page),
    Route("/my-order/{secret}/pay", order_pay, methods=["POST"]),
]
