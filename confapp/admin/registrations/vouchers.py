"""Vouchers, for organisers: make one, a number, or one per e-mail address (each mailed its own
code); list them by tag with their uses; export them as CSV; withdraw one."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from confapp.accounts.audit import record
from confapp.accounts.service import Principal
from confapp.admin.routes import admin_page, organiser_conference
from confapp.http_cache import private_csv
from confapp.models import Conference, VoucherEffect
from confapp.money import format_money
from confapp.programme.queries import list_ticket_types
from confapp.registration.service import SoldOut
from confapp.registration.voucher_setup import (
    VOUCHER_FORM_FIELDS,
    VoucherSetupRefused,
    check_voucher_form,
    create_vouchers,
    list_vouchers,
    voucher_tags,
    vouchers_csv,
    withdraw_voucher,
)
from confapp.request_body import CSRF_FIELD, BadRequestBody, read_form_fields
from confapp.request_context import database
from confapp.translation import _

BLANK_FORM = {name: "" for name in VOUCHER_FORM_FIELDS} | {"count": "1", "max_uses": "1"}


def vouchers_path(conference: Conference) -> str:
    return f"/admin/{conference.slug}/vouchers"


def _vouchers_view(
    request: Request,
    conference: Conference,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    tag = request.query_params.get("tag", "")
    with database(request).read() as session:
        ticket_types = list_ticket_types(session, conference, on_sale_only=True)
        vouchers = list_vouchers(session, conference.id or 0, tag)
        tags = voucher_tags(session, conference.id or 0)
    names = {t.id: t.name for t in ticket_types}
    return admin_page(
        request,
        "admin/vouchers.html",
        {
            "conference": conference,
            "values": values or BLANK_FORM,
            "errors": errors or {},
            "ticket_types": ticket_types,
            "type_names": names,
            "vouchers": vouchers,
            "tags": tags,
            "tag": tag,
            "made": request.query_params.get("made", ""),
            "effects": [e.value for e in VoucherEffect],
            "money": lambda cents: format_money(cents, conference.currency),
            "vouchers_path": vouchers_path(conference),
        },
        status_code=status_code,
    )


def vouchers_page(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    return _vouchers_view(request, conference)


def _create(request: Request, form: dict[str, str]) -> Response:
    conference, principal = organiser_conference(request)
    with database(request).read() as session:
        ticket_types = list_ticket_types(session, conference, on_sale_only=True)
    spec, errors = check_voucher_form(form, ticket_types, conference.timezone)
    if spec is None:
        return _vouchers_view(request, conference, values=form, errors=errors, status_code=422)
    try:
        made = create_vouchers(
            database(request), conference.id or 0, spec, _by(principal), principal.user_id
        )
    except VoucherSetupRefused as refused:
        errors = {refused.field: refused.message}
        return _vouchers_view(request, conference, values=form, errors=errors, status_code=422)
    except SoldOut:
        errors = {"max_uses": _("Fewer places than that are left of this ticket type.")}
        return _vouchers_view(request, conference, values=form, errors=errors, status_code=409)
    return RedirectResponse(
        f"{vouchers_path(conference)}?made={len(made)}&tag={spec.tag}", status_code=303
    )


def _by(principal: Principal) -> str:
    return principal.email or ""


async def vouchers_submit(request: Request) -> Response:
    try:
        form = await read_form_fields(request, (*VOUCHER_FORM_FIELDS, CSRF_FIELD))
    except BadRequestBody as refused:
        if not refused.fields:
            raise
        conference, _principal = organiser_conference(request)
        values = {**BLANK_FORM, **refused.values}
        return await run_in_threadpool(
            _vouchers_view,
            request,
            conference,
            values=values,
            errors=refused.fields,
            status_code=422,
        )
    values = {**BLANK_FORM, **form}
    return await run_in_threadpool(_create, request, values)


def _withdraw(request: Request) -> Response:
    conference, principal = organiser_conference(request)
    voucher_id = int(request.path_params["voucher_id"])
    withdraw_voucher(
        database(request), conference.id or 0, voucher_id, _by(principal), principal.user_id
    )
    return RedirectResponse(vouchers_path(conference), status_code=303)


async def voucher_withdraw(request: Request) -> Response:
    await read_form_fields(request, (CSRF_FIELD,))
    return await run_in_threadpool(_withdraw, request)


def vouchers_csv_download(request: Request) -> Response:
    conference, principal = organiser_conference(request)
    tag = request.query_params.get("tag", "")
    with database(request).transaction() as session:  # the addresses in it are personal data
        vouchers = list_vouchers(session, conference.id or 0, tag)
        body = vouchers_csv(session, vouchers)
        record(
            session,
            "exported vouchers",
            user_id=principal.user_id,
            actor=principal.email,
            conference_id=conference.id,
            detail=f"{len(vouchers)} voucher(s), tag {tag or 'any'}",
        )
    return private_csv(body, f"{conference.slug}-vouchers.csv")


routes = [
    Route("/admin/{conference}/vouchers", vouchers_page, methods=["GET"]),
    Route("/admin/{conference}/vouchers", vouchers_submit, methods=["POST"]),
    Route("/admin/{conference}/vouchers.csv", vouchers_csv_download, methods=["GET"]),
    Route(
        "/admin/{conference}/vouchers/{voucher_id:int}/withdraw",
        voucher_withdraw,
        methods=["POST"],
    ),
]
