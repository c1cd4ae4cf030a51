"""The organisers' payment settings page: which payment methods are on, the Stripe keys (never
shown back), how long places are held, the bank account, the statement format, tax on receipts
and the refund policy; with the webhook address and events to give Stripe."""

from __future__ import annotations

from collections.abc import Callable, Collection

from babel.numbers import format_decimal
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from confapp.accounts.audit import record
from confapp.accounts.service import Principal
from confapp.admin.registrations.settings import settings_path
from confapp.admin.routes import admin_page, organiser_conference
from confapp.models import Conference, PaymentSettings
from confapp.registration.bank_statements import PRESET_NAMES
from confapp.registration.orders import payment_settings, save_payment_settings
from confapp.registration.payment_setup import (
    HOLD_MINUTES,
    MAX_RECEIPT_ISSUER_CHARS,
    PAYMENT_SETTINGS_FIELDS,
    check_payment_settings,
    describe_change,
    payment_settings_values,
    typed_payment_settings,
)
from confapp.request_body import CSRF_FIELD, BadRequestBody, read_form_fields
from confapp.request_context import database
from confapp.translation import N_, _, babel_locale
from confapp.urls import STRIPE_WEBHOOK_PATH, site_origin

# What Stripe must send to the webhook: the checkout's outcome, and refunds made either here or
# in Stripe's dashboard.
STRIPE_WEBHOOK_EVENTS = (
    "checkout.session.completed",
    "checkout.session.expired",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "charge.refunded",
    "refund.updated",
)
# Marked here, translated where they are shown (`_(...)`, in the reader's language).
DONE_MESSAGES = {
    "saved": N_("Payment settings saved: registrations from now on follow them."),
    "unchanged": N_("Nothing to save: the settings were already so."),
}


def payment_settings_path(conference: Conference) -> str:
    return f"{settings_path(conference)}/payments"


def _done_message(request: Request) -> str:
    message = DONE_MESSAGES.get(request.query_params.get("done", ""))
    return _(message) if message else ""


def _conference_id(conference: Conference) -> int:
    assert conference.id is not None  # read from the database
    return conference.id


def _current(session: Session, conference: Conference) -> PaymentSettings:
    return payment_settings(session, _conference_id(conference))


def _page(
    request: Request,
    conference: Conference,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    if values is None:
        with database(request).read() as session:
            values = payment_settings_values(_current(session, conference))
    return admin_page(
        request,
        "admin/payment_settings.html",
        {
            "conference": conference,
            "values": values,
            "errors": errors or {},
            "message": _done_message(request),
            "self_path": payment_settings_path(conference),
            "settings_path": settings_path(conference),
            "statement_presets": {code: _(label) for code, label in PRESET_NAMES.items()},
            "webhook_url": site_origin(request) + STRIPE_WEBHOOK_PATH,
            "webhook_events": STRIPE_WEBHOOK_EVENTS,
            "least_hold_minutes": format_decimal(HOLD_MINUTES[0], locale=babel_locale()),
            "most_hold_minutes": format_decimal(HOLD_MINUTES[1], locale=babel_locale()),
            "max_issuer_chars": MAX_RECEIPT_ISSUER_CHARS,
        },
        status_code=status_code,
    )


def payment_settings_page(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    return _page(request, conference)


def _audit(session: Session, actor: Principal, conference: Conference, detail: str) -> None:
    record(
        session,
        "payment_settings_changed",
        user_id=actor.user_id,
        actor=actor.email,
        conference_id=conference.id,
        detail=detail,
    )


def _save(request: Request, form: dict[str, str]) -> Response:
    conference, principal = organiser_conference(request)
    with database(request).transaction() as session:
        # Checked against the settings in this transaction: an empty secret field keeps the
        # key saved now, not the one the page was drawn with.
        current = _current(session, conference)
        wanted, errors = check_payment_settings(form, current)
        typed = typed_payment_settings(form, current)
        changed = ""
        if wanted is not None:
            after = PaymentSettings.model_validate(current.model_dump() | wanted)
            changed = describe_change(current, after)
            if changed:
                save_payment_settings(session, _conference_id(conference), **wanted)
                _audit(session, principal, conference, changed)
    if wanted is None:
        return _page(request, conference, values=typed, errors=errors, status_code=422)
    done = "saved" if changed else "unchanged"
    return RedirectResponse(f"{payment_settings_path(conference)}?done={done}", status_code=303)


def _refused(request: Request, refused: BadRequestBody) -> Response:
    conference, _principal = organiser_conference(request)
    with database(request).read() as session:
        typed = typed_payment_settings(refused.values, _current(session, conference))
    return _page(request, conference, values=typed, errors=refused.fields, status_code=422)


async def _read_form(
    request: Request,
    names: Collection[str],
    apply: Callable[[Request, dict[str, str]], Response],
    refused_view: Callable[[Request, BadRequestBody], Response],
) -> Response:
    """Read the form (CSRF token first), then apply it; a field that cannot be taken as it is
    shows the form again with the message beside it and everything else kept."""
    try:
        form = await read_form_fields(request, (CSRF_FIELD, *names))
    except BadRequestBody as refused:
        if not refused.fields:
            raise
        return await run_in_threadpool(refused_view, request, refused)
    return await run_in_threadpool(apply, request, form)


async def payment_settings_submit(request: Request) -> Response:
    return await _read_form(request, PAYMENT_SETTINGS_FIELDS, _save, _refused)


routes = [
    Route("/admin/{conference}/settings/payments", payment_settings_page, methods=["GET"]),
    Route("/admin/{conference}/settings/payments", payment_settings_submit, methods=["POST"]),
]
