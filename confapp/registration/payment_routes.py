"""Paying by card: the ticket page's Pay button, the way back from Stripe's page, and
Stripe's webhook (`POST /payments/stripe/webhook`).

The way back from Stripe carries the payment's number and Stripe's session id, never the
ticket's secret: Stripe is not given the key to anyone's page. The browser that went to pay
keeps the secret in a cookie of our own (HttpOnly, only for /payments/stripe/, for as long as
the place is held) and comes back to its ticket page through it; another browser gets a page
saying the payment arrived and the ticket is on its way by mail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.background import BackgroundTasks
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from confapp import urls
from confapp.db import Database
from confapp.errors import error_response
from confapp.http_cache import PRIVATE_HEADERS
from confapp.models import Conference, Order, Payment, PaymentMethod
from confapp.outbox import send_mail
from confapp.registration.manage import SECRET_LENGTH, registration_for_secret
from confapp.registration.orders import (
    bank_details,
    display_reference,
    order_for_registration,
    payment_settings,
)
from confapp.registration.payments import (
    CardCheckout,
    Settled,
    confirm_return,
    handle_stripe_webhook,
    start_card_payment,
    stripe_account,
)
from confapp.registration.stripe_gateway import PaymentProviderError, StripeAccount
from confapp.request_context import app_settings, database
from confapp.same_origin import sent_from_this_site
from confapp.security_headers import policy_with_form_targets
from confapp.settings import Settings
from confapp.templating import render
from confapp.translation import N_, _, use_conference_language

COOKIE_PATH = "/payments/stripe/"
NOT_YOUR_PAYMENT = N_("There is no such payment.")


STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com"


def checkout_origins(settings: Settings) -> tuple[str, ...]:
    """Where a Pay button's form may lead: Stripe's checkout, or a stand-in's (tests)."""
    parts = urlsplit(settings.stripe_api_base)
    base = f"{parts.scheme}://{parts.netloc}"
    return (STRIPE_CHECKOUT_ORIGIN,) if base == "https://api.stripe.com" else (base,)


def allow_forms_to_checkout(response: Response, settings: Settings, offered: bool) -> Response:
    """A page whose form goes on to Stripe's page, when the conference takes cards."""
    if offered:
        response.headers["Content-Security-Policy"] = policy_with_form_targets(
            checkout_origins(settings)
        )
    return response


def _cookie_name(payment_id: int) -> str:
    return f"confapp_pay_{payment_id}"


def redirect_to_checkout(
    request: Request, checkout: CardCheckout, page_path: str, hold_seconds: int
) -> RedirectResponse:
    """On to Stripe's page, leaving the way back to this ticket's page (or this order's) in a
    cookie of our own."""
    response = RedirectResponse(checkout.url, status_code=303)
    response.set_cookie(
        _cookie_name(checkout.payment_id),
        page_path,
        max_age=max(hold_seconds, 0) + 3600,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",  # sent on the top-level navigation back from Stripe's site
    )
    response.headers.update(PRIVATE_HEADERS)
    return response


@dataclass(frozen=True)
class CardPaymentStart:
    checkout: CardCheckout | None
    hold_seconds: int
    unavailable: bool  # Stripe could not be reached or refused


def begin_card_payment(
    db: Database, settings: Settings, order: Order, origin: str
) -> CardPaymentStart:
    """Start (or resume) paying an order by card; for the registration form and the ticket page."""
    assert order.id is not None
    with db.read() as session:
        account = stripe_account(
            payment_settings(session, order.conference_id), settings.stripe_api_base
        )
    if account is None:
        return CardPaymentStart(None, 0, True)
    try:
        checkout = start_card_payment(db, account, order.id, origin)
    except PaymentProviderError:
        return CardPaymentStart(None, 0, True)
    hold = order.hold_until
    seconds = int((hold - order.created_at).total_seconds()) if hold else 0
    return CardPaymentStart(checkout, seconds, False)


def order_payment_document(
    request: Request, order: Order, order_url: str | None = None
) -> dict[str, Any]:
    """An order for the JSON API's answer: what it costs and, while it waits for its money,
    how to pay it (Stripe's page, or the bank details)."""
    document: dict[str, Any] = {
        "reference": display_reference(order.reference),
        "status": order.status,
        "payment_method": order.method,
        "total_cents": order.total_cents,
        "currency": order.currency,
        "hold_until": order.hold_until.isoformat() if order.hold_until else None,
    }
    if order_url is not None:
        document["url"] = order_url
    document["checkout_url"] = None
    document["bank_transfer"] = None
    if order.status != "reserved":
        return document
    if order.method == PaymentMethod.stripe.value:
        started = begin_card_payment(
            database(request), app_settings(request), order, urls.site_origin(request)
        )
        document["checkout_url"] = started.checkout.url if started.checkout else None
    elif order.method == PaymentMethod.bank_transfer.value:
        with database(request).read() as session:
            bank = bank_details(payment_settings(session, order.conference_id), order)
        document["bank_transfer"] = {
            "account_name": bank.account_name,
            "bsb": bank.bsb,
            "account_number": bank.account_number,
            "iban": bank.iban,
            "bic": bank.bic,
            "reference": bank.reference,
        }
    return document


def mail_tasks(request: Request, mail_ids: Iterable[int]) -> BackgroundTasks:
    """Send these queued mails after the response: a slow mail server holds up no one."""
    tasks = BackgroundTasks()
    for mail_id in mail_ids:
        tasks.add_task(send_mail, database(request), app_settings(request), mail_id)
    return tasks


def _ticket_order(db: Database, secret: str) -> Order | None:
    with db.read() as session:
        registration = registration_for_secret(session, secret)
        if registration is None or registration.id is None:
            return None
        return order_for_registration(session, registration.id)


async def pay_by_card(request: Request) -> Response:
    secret = request.path_params["secret"]
    if not sent_from_this_site(request):
        return error_response(request, 403, _("This form must be sent from this site."))
    db = database(request)
    order = await run_in_threadpool(_ticket_order, db, secret)
    ticket_page = urls.manage_path(secret)
    if order is None or order.method != PaymentMethod.stripe.value:
        return RedirectResponse(ticket_page, status_code=303)
    started = await run_in_threadpool(
        begin_card_payment, db, app_settings(request), order, urls.site_origin(request)
    )
    if started.checkout is None:
        suffix = "?payment=unavailable" if started.unavailable else ""
        return RedirectResponse(ticket_page + suffix, status_code=303)
    return redirect_to_checkout(request, started.checkout, ticket_page, started.hold_seconds)


def _payment_id(request: Request) -> int | None:
    text = request.path_params["payment"]
    return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else None


def _account_for_payment(
    request: Request, payment_id: int
) -> tuple[Payment | None, StripeAccount | None]:
    with database(request).read() as session:
        payment = session.get(Payment, payment_id)
        if payment is None:
            return None, None
        settings = payment_settings(session, payment.conference_id)
    return payment, stripe_account(settings, app_settings(request).stripe_api_base)


def _back_to_ticket(request: Request, payment_id: int, query: str) -> Response | None:
    page = request.cookies.get(_cookie_name(payment_id), "")
    secret = page.rsplit("/", 1)[-1]
    if page not in (urls.manage_path(secret), urls.order_path(secret)) or len(secret) != (
        SECRET_LENGTH
    ):
        return None
    response = RedirectResponse(page + query, status_code=303)
    response.headers.update(PRIVATE_HEADERS)
    return response


async def stripe_return(request: Request) -> Response:
    payment_id = _payment_id(request)
    checkout_id = request.query_params.get("session_id", "")
    payment, account = (
        await run_in_threadpool(_account_for_payment, request, payment_id)
        if payment_id is not None
        else (None, None)
    )
    if payment is None or account is None or payment_id is None or not checkout_id:
        return error_response(request, 404, _(NOT_YOUR_PAYMENT))
    try:
        settled = await run_in_threadpool(
            confirm_return, database(request), account, payment_id, checkout_id
        )
    except PaymentProviderError:
        settled = Settled("unpaid")
    if settled.outcome == "ignored":
        return error_response(request, 404, _(NOT_YOUR_PAYMENT))
    query = {"paid": "?paid=1", "already": "?paid=1", "refunding": "?payment=refunded"}.get(
        settled.outcome, "?payment=waiting"
    )
    response = _back_to_ticket(request, payment_id, query) or _payment_page(
        request, payment, settled.outcome
    )
    response.background = mail_tasks(request, settled.mail_ids)
    return response


def _payment_page(request: Request, payment: Payment, outcome: str) -> Response:
    with database(request).read() as session:
        conference = session.get(Conference, payment.conference_id)
    assert conference is not None
    use_conference_language(conference.languages, conference.default_language)
    response = render(
        request,
        "registration/payment_back.html",
        {"conference": conference, "outcome": outcome},
    )
    response.headers.update(PRIVATE_HEADERS)
    return response


async def stripe_back(request: Request) -> Response:
    """Back from Stripe's page without paying: to the ticket page, where the place is still
    held and the button still there."""
    payment_id = _payment_id(request)
    if payment_id is None:
        return error_response(request, 404, _(NOT_YOUR_PAYMENT))
    found = _back_to_ticket(request, payment_id, "?payment=cancelled")
    if found is not None:
        return found
    payment, _account = await run_in_threadpool(_account_for_payment, request, payment_id)
    if payment is None:
        return error_response(request, 404, _(NOT_YOUR_PAYMENT))
    return _payment_page(request, payment, "cancelled")


async def stripe_webhook(request: Request) -> Response:
    payload = await request.body()
    signature = request.headers.get("stripe-signature", "")
    answer = await run_in_threadpool(
        handle_stripe_webhook,
        database(request),
        app_settings(request).stripe_api_base,
        payload,
        signature,
    )
    headers = {"Retry-After": "5"} if answer.status_code == 503 else {}
    return JSONResponse(
        {"received": answer.status_code < 300, "detail": answer.detail},
        status_code=answer.status_code,
        headers=headers,
        background=mail_tasks(request, answer.mail_ids),
    )


routes = [
    Route("/my-ticket/{secret}/pay", pay_by_card, methods=["POST"]),
    Route("/payments/stripe/return/{payment}", stripe_return),
    Route("/payments/stripe/back/{payment}", stripe_back),
    Route(urls.STRIPE_WEBHOOK_PATH, stripe_webhook, methods=["POST"]),
]
