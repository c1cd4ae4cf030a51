"""The registrations desk, for organisers: find and open registrations, record payment, cancel,
resend the ticket, correct details, register someone at the desk and hand them the ticket on
screen, export CSV; and the same list and changes as JSON for scripts."""

from __future__ import annotations

import base64
from typing import Any

from sqlmodel import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from confapp import urls
from confapp.accounts.audit import record
from confapp.accounts.service import Principal
from confapp.admin.routes import admin_conference, admin_page, organiser_conference
from confapp.errors import error_response
from confapp.http_cache import PRIVATE_HEADERS, private_csv
from confapp.models import Conference, PaymentStatus
from confapp.money import format_money
from confapp.outbox import mail_status, send_mail
from confapp.programme.queries import NotFound, list_ticket_types
from confapp.registration.desk import (
    API_DETAIL_FIELDS,
    DESK_FIELDS,
    DESK_PAYMENT_CHOICES,
    DESK_RECEIVED_METHODS,
    DETAIL_FIELDS,
    PATCHABLE,
    PAYMENT_CHOICES,
    PER_PAGE,
    CannotResend,
    Changes,
    Filters,
    PaymentRefused,
    RegistrationErased,
    change_registration,
    check_desk_registration,
    check_details,
    counts_record,
    export_registrations,
    find_registration,
    parse_filters,
    pay_order_at_desk,
    register_at_desk,
    registration_record,
    resend_ticket_mail,
    view_registration,
    view_registrations,
)
from confapp.registration.form import NotAnAmount, form_values, parse_amount
from confapp.registration.mail import TICKET_MAIL
from confapp.registration.manage import Ticket, load_ticket, new_manage_secret
from confapp.registration.orders import order_panel
from confapp.registration.payment_routes import mail_tasks
from confapp.registration.payments import RefundRefused, refund_payment
from confapp.registration.places import (
    TicketOffer,
    funded_pool_places,
    registration_is_open,
    ticket_offers,
)
from confapp.registration.routes import SOLD_OUT_MESSAGE
from confapp.registration.service import SoldOut
from confapp.registration.vouchers import (
    VoucherTerms,
    VoucherUsedUp,
    used_up_message,
    voucher_for_form,
)
from confapp.request_body import CSRF_FIELD, BadRequestBody, read_form_fields, read_json_object
from confapp.request_context import app_settings, database
from confapp.tickets.qr import qr_svg
from confapp.tickets.tokens import display_code, normalise_ticket_code
from confapp.times import utcnow
from confapp.translation import N_, _

# Marked here, translated where they are shown (`_(...)`, in the reader's language).
ERASED_MESSAGE = N_("This attendee's details were erased; nothing about them can be changed.")
ACTION_FIELDS = (
    CSRF_FIELD,
    "action",
    "payment_status",
    "payment_id",
    "refund_amount",
    "refund_reason",
    "received_by",
    *DETAIL_FIELDS,
)
DONE_MESSAGES = {
    "refund": N_("Refund made."),
    "payment": N_("Payment recorded."),
    "order_payment": N_("Payment recorded: the order is paid and its tickets are on their way."),
    "cancel": N_("Registration cancelled; its place is free again."),
    "resend": N_("The ticket mail is queued and on its way."),
    "edit": N_("Details saved."),
}


def registrations_path(conference: Conference, query: str = "") -> str:
    return f"/admin/{conference.slug}/registrations" + (f"?{query}" if query else "")


def registration_path(conference: Conference, code: str) -> str:
    """A registration's page, from its code as stored or as typed."""
    code = normalise_ticket_code(code) or code
    return f"/admin/{conference.slug}/registrations/{display_code(code)}"


def _filters(request: Request, conference: Conference) -> tuple[Filters, dict[str, str]]:
    with database(request).read() as session:
        codes = [t.code for t in list_ticket_types(session, conference)]
    return parse_filters(request.query_params, codes)


def _send_in_background(request: Request, mail_id: int | None) -> BackgroundTask | None:
    # After the response: a slow mail server never holds up the desk.
    if mail_id is None:
        return None
    return BackgroundTask(send_mail, database(request), app_settings(request), mail_id)


# ---- the list, the CSV and their JSON twin --------------------------------------------------


def registrations_page(request: Request) -> Response:
    conference, principal = organiser_conference(request)
    filters, errors = _filters(request, conference)
    listing, counts = view_registrations(database(request), conference, filters, principal)
    with database(request).read() as session:
        ticket_types = list_ticket_types(session, conference)
    return admin_page(
        request,
        "admin/registrations/list.html",
        {
            "conference": conference,
            "filters": filters,
            "errors": errors,
            "listing": listing,
            "counts": counts,
            "ticket_types": ticket_types,
            "payment_choices": PAYMENT_CHOICES,
            "registrations_path": registrations_path(conference),
            "csv_path": f"/admin/{conference.slug}/registrations.csv",
            "previous_query": filters.query_string(filters.page - 1),
            "next_query": filters.query_string(filters.page + 1),
        },
        status_code=422 if errors else 200,
    )


def registrations_csv(request: Request) -> Response:
    conference, principal = organiser_conference(request)
    filters, errors = _filters(request, conference)
    if errors:
        return error_response(request, 422, " ".join(errors.values()), {"fields": errors})
    body = export_registrations(database(request), conference, filters, principal)
    filename = f"{conference.slug}-registrations.csv"
    return private_csv(body, filename)


def registrations_api(request: Request) -> Response:
    conference, principal = organiser_conference(request)
    filters, errors = _filters(request, conference)
    if errors:
        return JSONResponse({"error": "invalid", "fields": errors}, 422, PRIVATE_HEADERS)
    listing, counts = view_registrations(database(request), conference, filters, principal)
    return JSONResponse(
        {
            "conference": conference.slug,
            "page": listing.page,
            "pages": listing.pages,
            "per_page": PER_PAGE,
            "matching": listing.matching,
            "registrations": [registration_record(row, conference) for row in listing.rows],
            "counts": counts_record(counts),
        },
        headers=PRIVATE_HEADERS,
    )


# ---- one registration -----------------------------------------------------------------------


def _registration_view(
    request: Request,
    conference: Conference,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    message: str = "",
    status_code: int = 200,
) -> Response:
    db = database(request)
    found = view_registration(db, conference, request.path_params["code"], principal)
    registration = found.registration
    done = DONE_MESSAGES.get(request.query_params.get("done", ""))
    shown = {
        "name": registration.name,
        "email": registration.email,
        "access_needs": registration.access_needs,
        "childcare_children": str(registration.childcare_children or ""),
        "childcare_ages": registration.childcare_ages,
        "payment_status": registration.payment_status,
    }
    with db.read() as session:
        panel = order_panel(session, registration.id or 0)
    return admin_page(
        request,
        "admin/registrations/detail.html",
        {
            "conference": conference,
            "found": found,
            "panel": panel,
            "r": registration,
            "mail": mail_status(db, registration.id or 0, TICKET_MAIL),
            "values": shown | (values or {}),
            "errors": errors or {},
            "message": message or (_(done) if done else ""),
            "payment_choices": PAYMENT_CHOICES,
            "self_path": registration_path(conference, registration.ticket_code),
            "registrations_path": registrations_path(conference),
        },
        status_code=status_code,
    )


def registration_page(request: Request) -> Response:
    conference, principal = organiser_conference(request)
    return _registration_view(request, conference, principal)


def _changes_from_form(
    form: dict[str, str], conference: Conference
) -> tuple[Changes, dict[str, str]]:
    action = form.get("action", "")
    if action == "payment":
        typed = form.get("payment_status", "")
        if typed not in PAYMENT_CHOICES:
            return Changes(), {"payment_status": _("Choose unpaid, paid, waived or refunded.")}
        return Changes(payment_status=PaymentStatus(typed)), {}
    if action == "cancel":
        return Changes(cancel=True), {}
    if action == "edit":
        details, errors = check_details(form, conference, DETAIL_FIELDS)
        return Changes(details=details), errors
    return Changes(), {"action": _("Choose what to do: payment, cancel, resend or edit.")}


def _apply_form(request: Request, form: dict[str, str]) -> Response:
    conference, principal = organiser_conference(request)
    code = request.path_params["code"]
    action = form.get("action", "")
    db = database(request)
    background = None
    try:
        if action == "refund":
            return _refund(request, conference, principal, form)
        if action == "order_payment":
            return _order_payment(request, conference, principal, form)
        if action == "resend":
            background = _send_in_background(
                request, resend_ticket_mail(db, conference, code, principal)
            )
        else:
            changes, errors = _changes_from_form(form, conference)
            if errors:
                return _registration_view(
                    request, conference, principal, errors=errors, values=form, status_code=422
                )
            changed = change_registration(db, conference, code, changes, principal)
            background = mail_tasks(request, changed.mail_ids)
    except PaymentRefused as refused:
        return _registration_view(
            request,
            conference,
            principal,
            errors={"payment_status": str(refused)},
            values=form,
            status_code=409,
        )
    except (RegistrationErased, CannotResend) as refused:
        message = str(refused) or _(ERASED_MESSAGE)
        return _registration_view(
            request, conference, principal, errors={"form": message}, status_code=409
        )
    return RedirectResponse(
        registration_path(conference, code) + f"?done={action}",
        status_code=303,
        background=background,
    )


def _order_payment(
    request: Request, conference: Conference, principal: Principal, form: dict[str, str]
) -> Response:
    """The money for the registration's order was taken at the desk or seen in the bank."""
    code = request.path_params["code"]
    methods = {m.value: m for m in DESK_RECEIVED_METHODS}
    method = methods.get(form.get("received_by", ""))
    try:
        if method is None:
            raise PaymentRefused(_("Say how the money came: at the desk, or by bank transfer."))
        mail_ids = pay_order_at_desk(database(request), conference, code, method, principal)
    except PaymentRefused as refused:
        return _registration_view(
            request,
            conference,
            principal,
            errors={"received_by": str(refused)},
            values=form,
            status_code=409,
        )
    return RedirectResponse(
        registration_path(conference, code) + "?done=order_payment",
        status_code=303,
        background=mail_tasks(request, mail_ids),
    )


def _refund(
    request: Request, conference: Conference, principal: Principal, form: dict[str, str]
) -> Response:
    """Give back some or all of one of the registration's payments, with a reason."""
    code = request.path_params["code"]
    db = database(request)
    found = view_registration(db, conference, code, principal)
    errors: dict[str, str] = {}
    payment_id = form.get("payment_id", "")
    with db.read() as session:
        panel = order_panel(session, found.registration.id or 0)
    ours = {str(line.payment.id) for line in panel.payments} if panel else set()
    if payment_id not in ours:
        errors["refund_amount"] = _("Choose a payment of this registration to refund.")
    try:
        amount = parse_amount(form.get("refund_amount", ""))
    except NotAnAmount as mistake:
        errors["refund_amount"] = mistake.hint or _("Enter an amount like 20 or 22.50.")
        amount = 0
    reason = form.get("refund_reason", "").strip()
    if not reason:
        errors["refund_reason"] = _("Say why, for the record (the attendee does not see it).")
    elif len(reason) > 500:
        errors["refund_reason"] = _("Please keep the reason under 500 characters.")
    if not errors:

        def audit(session: Session) -> None:
            record(
                session,
                "refunded",
                user_id=principal.user_id,
                actor=principal.email,
                conference_id=conference.id,
                ticket_code=found.registration.ticket_code,
                detail=format_money(amount, conference.currency, "en"),
            )

        try:
            refund_payment(
                db,
                app_settings(request).stripe_api_base,
                int(payment_id),
                amount,
                reason,
                principal.email,
                audit=audit,
            )
        except RefundRefused as refused:
            errors["refund_amount"] = refused.message
    if errors:
        return _registration_view(
            request, conference, principal, errors=errors, values=form, status_code=422
        )
    return RedirectResponse(registration_path(conference, code) + "?done=refund", status_code=303)


def _refused_form(request: Request, refused: BadRequestBody) -> Response:
    conference, principal = organiser_conference(request)
    return _registration_view(
        request,
        conference,
        principal,
        errors=refused.fields,
        values=refused.values,
        status_code=422,
    )


async def registration_action(request: Request) -> Response:
    try:
        form = await read_form_fields(request, ACTION_FIELDS)
    except BadRequestBody as refused:
        if not refused.fields:
            raise
        return await run_in_threadpool(_refused_form, request, refused)
    return await run_in_threadpool(_apply_form, request, form)


# ---- PATCH for scripts ----------------------------------------------------------------------


def changes_from_json(
    body: dict[str, Any], conference: Conference
) -> tuple[Changes, dict[str, str]]:
    errors: dict[str, str] = {}
    for name in body:
        if name not in PATCHABLE:
            errors[name] = _(
                "This cannot be changed here: only payment_status, status, name, email."
            )
    if not body:
        errors["body"] = _("Send at least one of payment_status, status, name and email.")
    payment = None
    if "payment_status" in body:
        typed = body["payment_status"]
        if isinstance(typed, str) and typed in PAYMENT_CHOICES:
            payment = PaymentStatus(typed)
        else:
            errors["payment_status"] = _("Must be one of %(choices)s.") % {
                "choices": ", ".join(PAYMENT_CHOICES)
            }
    if "status" in body and body["status"] != "cancelled":
        errors["status"] = _('Only "cancelled" can be set: a cancellation cannot be undone.')
    fields = [name for name in API_DETAIL_FIELDS if name in body]
    details: dict[str, Any] = {}
    if fields:
        details, detail_errors = check_details(body, conference, fields)
        errors |= detail_errors
    changes = Changes(details=details, payment_status=payment, cancel="status" in body)
    return changes, errors


def _patch(request: Request, body: dict[str, Any], principal: Principal) -> Response:
    conference = admin_conference(request)
    changes, errors = changes_from_json(body, conference)
    if errors:
        return JSONResponse(
            {"error": "invalid", "detail": _("Nothing was changed."), "fields": errors},
            422,
            PRIVATE_HEADERS,
        )
    try:
        changed = change_registration(
            database(request), conference, request.path_params["code"], changes, principal
        )
    except RegistrationErased:
        return JSONResponse({"error": "erased", "detail": _(ERASED_MESSAGE)}, 409, PRIVATE_HEADERS)
    except PaymentRefused as refused:
        return JSONResponse(
            {
                "error": "payment_refused",
                "detail": str(refused),
                "fields": {"payment_status": str(refused)},
            },
            409,
            PRIVATE_HEADERS,
        )
    return JSONResponse(
        registration_record(changed.listed, conference),
        headers=PRIVATE_HEADERS,
        background=mail_tasks(request, changed.mail_ids),
    )


async def registration_patch_api(request: Request) -> Response:
    _conference, principal = await run_in_threadpool(organiser_conference, request)
    body = await read_json_object(request)
    return await run_in_threadpool(_patch, request, body, principal)


# ---- the desk -------------------------------------------------------------------------------


def _desk_page(
    request: Request,
    conference: Conference,
    offers: list[TicketOffer],
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return admin_page(
        request,
        "admin/registrations/desk.html",
        {
            "conference": conference,
            "offers": offers,
            "values": values,
            "errors": errors,
            "payment_choices": DESK_PAYMENT_CHOICES,
            "pool_places": funded_pool_places(conference),
            "online_open": registration_is_open(conference),
            "desk_path": f"/admin/{conference.slug}/desk",
        },
        status_code=status_code,
    )


def _offers(
    request: Request, conference: Conference, voucher: VoucherTerms | None = None
) -> list[TicketOffer]:
    with database(request).read() as session:
        return ticket_offers(session, conference, voucher, every_type=True)


def _desk_voucher(
    request: Request, conference: Conference, typed: str
) -> tuple[VoucherTerms | None, str]:
    with database(request).read() as session:
        return voucher_for_form(session, conference.id or 0, typed, utcnow())


def _desk_values(data: dict[str, str]) -> dict[str, str]:
    return form_values(data) | {"payment_status": data.get("payment_status", "paid")}


def desk_form(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    offers = _offers(request, conference)
    first_open = next((o.code for o in offers if not o.sold_out), "")
    return _desk_page(request, conference, offers, _desk_values({"ticket_type": first_open}), {})


def _data_uri_svg(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def _desk_done(request: Request, conference: Conference, ticket: Ticket, mailed: bool) -> Response:
    origin = urls.site_origin(request)
    manage_url = urls.absolute(origin, ticket.path)
    return admin_page(
        request,
        "admin/registrations/desk_done.html",
        {
            "conference": conference,
            "ticket": ticket,
            "r": ticket.registration,
            "manage_url": manage_url,
            # Drawn into the page, so the management secret is never in a request of its own.
            "manage_qr": _data_uri_svg(qr_svg(manage_url)),
            "mailed": mailed,
            "desk_path": f"/admin/{conference.slug}/desk",
            "self_path": registration_path(conference, ticket.registration.ticket_code),
        },
    )


def handover_page(request: Request) -> Response:
    """The ticket handed over on screen, after registering at the desk. A page of its own
    (the desk form redirects here), so reloading it never registers the person again; each
    showing makes a fresh link to their own ticket page, since only hashes are kept."""
    conference, _principal = organiser_conference(request)
    db = database(request)
    with db.transaction() as session:
        registration = find_registration(
            session, conference, request.path_params["code"]
        ).registration
        if registration.erased_at is not None or registration.id is None:
            raise NotFound(_(ERASED_MESSAGE))
        ticket = load_ticket(session, registration, new_manage_secret(session, registration.id))
    mailed = mail_status(db, registration.id) is not None
    return _desk_done(request, conference, ticket, mailed)


def _register_at_desk(request: Request, data: dict[str, str]) -> Response:
    conference, principal = organiser_conference(request)
    voucher, voucher_problem = _desk_voucher(request, conference, data.get("voucher", ""))
    offers = _offers(request, conference, voucher)
    clean, payment, errors = check_desk_registration(data, offers, conference, voucher)
    if voucher_problem:
        errors["voucher"] = voucher_problem
    if clean is None or voucher_problem:
        return _desk_page(request, conference, offers, _desk_values(data), errors, 422)
    try:
        registered = register_at_desk(database(request), conference, clean, payment, principal)
    except VoucherUsedUp:
        errors = {"voucher": used_up_message()}
        return _desk_page(request, conference, offers, _desk_values(data), errors, 409)
    except SoldOut:
        offers = _offers(request, conference)
        errors = {"ticket_type": _(SOLD_OUT_MESSAGE)}
        return _desk_page(request, conference, offers, _desk_values(data), errors, 409)
    # Post, redirect, get: reloading the handed-over ticket must not register them twice.
    code = display_code(registered.ticket.registration.ticket_code)
    return RedirectResponse(
        f"/admin/{conference.slug}/registrations/{code}/handover",
        status_code=303,
        background=_send_in_background(request, registered.mail_id),
    )


async def desk_submit(request: Request) -> Response:
    try:
        data = await read_form_fields(request, (CSRF_FIELD, *DESK_FIELDS))
    except BadRequestBody as refused:
        if not refused.fields:
            raise
        conference, _principal = await run_in_threadpool(organiser_conference, request)
        offers = await run_in_threadpool(_offers, request, conference)
        values = _desk_values(refused.values)
        return _desk_page(request, conference, offers, values, refused.fields, 422)
    return await run_in_threadpool(_register_at_desk, request, data)


routes = [
    Route("/admin/{conference}/registrations", registrations_page, methods=["GET"]),
    Route("/admin/{conference}/registrations.csv", registrations_csv, methods=["GET"]),
    Route("/admin/{conference}/registrations/{code}", registration_page, methods=["GET"]),
    Route("/admin/{conference}/registrations/{code}", registration_action, methods=["POST"]),
    Route("/admin/{conference}/registrations/{code}/handover", handover_page, methods=["GET"]),
    Route("/admin/{conference}/desk", desk_form, methods=["GET"]),
    Route("/admin/{conference}/desk", desk_submit, methods=["POST"]),
    Route("/api/{conference}/registrations", registrations_api, methods=["GET"]),
    Route("/api/{conference}/registrations/{code}", registration_patch_api, methods=["PATCH"]),
]
