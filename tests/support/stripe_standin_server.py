"""A local Stripe for the tests, as its own process: localstripe's API (payment intents, charges,
refunds, events) with what confapp needs and localstripe lacks, in Stripe's documented shapes.

- Checkout Sessions (`/v1/checkout/sessions`: create, retrieve, list, expire, line items) and
  their hosted pay page (`/checkout/{id}`: plain HTML, no script), which charges a card through
  localstripe's payment intents. Test cards: 4242 4242 4242 4242 pays; 4000 0000 0000 0002 is
  declined (and 9995, 0069, 0127 as Stripe's test cards are).
- Idempotency-Key on every POST /v1/*: the first response is replayed with
  `Idempotent-Replayed: true`; other parameters give 400 idempotency_error; a second request while
  the first runs gives 409 idempotency_key_in_use.
- Refunds that refuse more than is left, and send refund.created and charge.refunded.
- Events sent to one webhook URL as they happen (in order, by a background task, never blocking
  the request that caused them), signed as Stripe signs them; or held for the test to deliver.
- Nothing on disk: localstripe's /tmp/localstripe.pickle is never read or written, so two
  processes (pytest-xdist) each have their own stand-in.

    python -m tests.support.stripe_standin_server --port 0 --port-file FILE \
        --webhook-secret whsec_... [--webhook-url URL] [--api-key sk_test_...]

The test-side handle is tests/support/stripe_standin.py; it drives the private routes under
/_standin/ (no key needed), and its signing is the one used here.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import contextvars
import hashlib
import html
import json
import logging
import os
import re
import secrets
import socket
import time
import types
import urllib.parse
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import stripe
from aiohttp import web

from tests.support.stripe_standin import API_KEY, WEBHOOK_SECRET, event_payload, signature_header

with warnings.catch_warnings():  # its handlers are plain functions, which aiohttp deprecates
    warnings.simplefilter("ignore", DeprecationWarning)
    from localstripe import resources
    from localstripe import server as localstripe_server
    from localstripe.errors import UserError

# The version events say they were rendered in: the one the official library speaks.
API_VERSION = stripe.api_version
WEBHOOK_TIMEOUT_SECONDS = 10
# Stripe counts these in whole units (https://docs.stripe.com/currencies#zero-decimal) ...
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"}
    | {"pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
# ... and these in thousandths.
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
# Stripe's test cards that are declined when charged: (code, decline_code, message).
DECLINED_CARDS: dict[str, tuple[str, str, str]] = {
    "4000000000000002": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "4000000000000069": ("expired_card", "expired_card", "Your card has expired."),
    "4000000000000127": (
        "incorrect_cvc",
        "incorrect_cvc",
        "Your card's security code is incorrect.",
    ),
}
SESSION_MIN_SECONDS = 30 * 60
SESSION_MAX_SECONDS = 24 * 60 * 60

log = logging.getLogger("stripe_standin")


# --- Amounts ---------------------------------------------------------------------------------


def minor_digits(currency: str) -> int:
    currency = currency.lower()
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


def format_amount(amount: int, currency: str) -> str:
    """42.50 AUD for 4250 aud; 5000 JPY for 5000 jpy."""
    digits = minor_digits(currency)
    if digits == 0:
        return f"{amount} {currency.upper()}"
    major, minor = divmod(amount, 10**digits)
    return f"{major}.{minor:0{digits}d} {currency.upper()}"


# --- Errors in Stripe's shape ----------------------------------------------------------------


class StripeApiError(UserError):  # type: ignore[misc]  # localstripe has no types
    """An error answered as Stripe does: {"error": {"type", "message", "param", "code"}}. A
    localstripe UserError, so localstripe's own code treats it as one of its errors."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        **extra: Any,
    ) -> None:
        contents: dict[str, Any] = dict(extra)
        if param is not None:
            contents["param"] = param
        if code is not None:
            contents["code"] = code
        super().__init__(status, message, contents)
        self.body["error"]["type"] = type


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeApiError:
    return StripeApiError(400, message, param=param, code=code)


def unknown_parameter(param: str) -> StripeApiError:
    return invalid(f"Received unknown parameter: {param}", param, "parameter_unknown")


def missing_parameter(param: str) -> StripeApiError:
    return invalid(f"Missing required param: {param}.", param, "parameter_missing")


def error_response(error: UserError, request_id: str | None = None) -> web.Response:
    body = json.loads(json.dumps(error.body))
    details = body["error"]
    if error.code == 402 and details.get("type") == "invalid_request_error":
        details["type"] = "card_error"  # localstripe calls a declined card a request error
    if error.code == 404 and details.get("message") == "Not Found":
        details["code"] = "resource_missing"
    headers = {"Request-Id": request_id} if request_id else None
    return web.json_response(body, status=error.code, headers=headers, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2) + "\n"


def as_integer(value: Any, param: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"-?\d+", value))
    ):
        raise invalid(f"Invalid integer: {value}", param, "parameter_invalid_integer")
    number = int(value)
    if minimum is not None and number < minimum:
        raise invalid(
            f"This value must be greater than or equal to {minimum}.",
            param,
            "parameter_invalid_integer",
        )
    return number


def as_string(value: Any, param: str, max_length: int = 5000) -> str:
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {value!r}", param, "parameter_invalid_string")
    if len(value) > max_length:
        raise invalid(f"Invalid string: must be at most {max_length} characters", param)
    return value


def as_url(value: Any, param: str) -> str:
    url = as_string(value, param)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid("Not a valid URL", param, "url_invalid")
    return url


def as_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    """Stripe's metadata rules: up to 50 keys of at most 40 characters, values of at most 500;
    an empty string empties it."""
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid object", param, "parameter_invalid_object")
    if len(value) > 50:
        raise invalid("You can have at most 50 metadata keys.", param)
    metadata: dict[str, str] = {}
    for key, item in value.items():
        if len(key) > 40:
            raise invalid("Metadata keys can be at most 40 characters long.", f"{param}[{key}]")
        if not isinstance(item, str | int | float) or isinstance(item, bool):
            raise invalid("Metadata values must be strings.", f"{param}[{key}]")
        if len(str(item)) > 500:
            raise invalid("Metadata values can be at most 500 characters long.", f"{param}[{key}]")
        if item != "":
            metadata[key] = str(item)
    return metadata


def expand_paths(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise invalid("Invalid array", "expand")


# --- The stand-in's own state ----------------------------------------------------------------

# The API request being answered, for the `request` of the events it causes.
current_request: contextvars.ContextVar[dict[str, str | None] | None] = contextvars.ContextVar(
    "current_request", default=None
)


class Remembered:
    """What an idempotency key was first used for, and (once it has run) what it answered."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self.status: int | None = None  # None: still running
        self.body = b""
        self.request_id = ""


class StandIn:
    """Everything the stand-in keeps besides localstripe's store."""

    def __init__(
        self, api_key: str, webhook_secret: str, webhook_url: str | None, public_url: str
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.initial_webhook_url = webhook_url
        self.public_url = public_url
        self.webhook_url = webhook_url
        self.holding = False
        self.held: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self.remembered: dict[str, Remembered] = {}
        self.delay = 0.0
        self.fixed_now: float | None = None
        self.generation = 0
        self.queue: asyncio.Queue[tuple[int, dict[str, Any], str]] | None = None
        self.worker: asyncio.Task[None] | None = None

    def now(self) -> float:
        return time.time() if self.fixed_now is None else self.fixed_now

    # Events: every one is recorded; delivered at once in the background, or held.

    def emit(self, event: Any) -> None:
        """Replaces localstripe's schedule_webhook: `event` is a localstripe Event."""
        request = current_request.get()
        event.api_version = API_VERSION
        event.request = {
            "id": request["id"] if request else None,
            "idempotency_key": request["idempotency_key"] if request else None,
        }
        event.pending_webhooks = 1 if (self.holding or self.webhook_url) else 0
        exported = event._export()
        self.events.append(exported)
        if self.holding:
            self.held.append(exported)
        elif self.webhook_url and self.queue is not None:
            self.queue.put_nowait((self.generation, exported, self.webhook_url))

    async def start_worker(self) -> None:
        self.queue = asyncio.Queue()
        self.worker = asyncio.create_task(self._deliver_in_order(self.queue, self.generation))

    async def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.worker
            self.worker = None

    async def _deliver_in_order(
        self, queue: asyncio.Queue[tuple[int, dict[str, Any], str]], generation: int
    ) -> None:
        timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                event_generation, event, url = await queue.get()
                record = await self.post_event(session, event, url)
                if event_generation == self.generation == generation:
                    self.deliveries.append(record)

    async def post_event(
        self, session: aiohttp.ClientSession, event: dict[str, Any], url: str
    ) -> dict[str, Any]:
        payload = event_payload(event)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": signature_header(self.webhook_secret, payload),
        }
        record: dict[str, Any] = {
            "event_id": event.get("id"),
            "type": event.get("type"),
            "url": url,
            "status": None,
            "error": None,
            "at": time.time(),
            "by": "stand-in",
        }
        try:
            async with session.post(url, data=payload, headers=headers) as response:
                await response.read()
                record["status"] = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            record["error"] = f"{type(error).__name__}: {error}"
        return record

    async def reset(self) -> None:
        await self.stop_worker()
        self.generation += 1
        resources.store.clear()
        self.webhook_url = self.initial_webhook_url
        self.holding = False
        self.held.clear()
        self.events.clear()
        self.deliveries.clear()
        self.remembered.clear()
        self.delay = 0.0
        self.fixed_now = None
        await self.start_worker()


# --- Fixing localstripe where Stripe answers otherwise ---------------------------------------


def patch_localstripe(state: StandIn) -> None:
    """Once per process: localstripe's state lives in its module, as do these fixes."""
    store_class: Any = resources.Store
    store_class.dump_to_disk = _no_disk
    store_class.try_load_from_disk = _no_disk
    # One clock for every `created`: the stand-in's (a test may set it, as it sets the app's).
    resources.time = types.SimpleNamespace(time=state.now)
    resources.schedule_webhook = state.emit

    stripe_object: Any = resources.StripeObject
    stripe_object._api_retrieve = classmethod(_retrieve_or_404)
    list_all = stripe_object.__dict__["_api_list_all"].__func__

    def newest_first(cls: Any, /, url: str, *args: Any, **kwargs: Any) -> Any:
        listed = list_all(cls, url, *args, **kwargs)
        listed._list.reverse()  # Stripe lists newest first; localstripe in the order made
        return listed

    stripe_object._api_list_all = classmethod(newest_first)

    payment_intent: Any = resources.PaymentIntent
    original_pi_export = payment_intent._export
    original_on_success = payment_intent._on_success

    def pi_export(self: Any, expand: list[str] | None = None) -> dict[str, Any]:
        exported: dict[str, Any] = original_pi_export(self, expand=expand)
        paths = expand or []
        # Stripe gives the latest charge's id unless it is expanded; `charges` is long gone.
        if self.latest_charge is not None and not any(
            path == "latest_charge" or path.startswith("latest_charge.") for path in paths
        ):
            exported["latest_charge"] = self.latest_charge.id
        exported.pop("charges", None)
        exported["object"] = "payment_intent"
        exported["amount_received"] = self.amount if exported["status"] == "succeeded" else 0
        exported.setdefault("payment_method_types", ["card"])
        exported.setdefault("description", None)
        exported.setdefault("receipt_email", None)
        return exported

    def pi_on_success(self: Any) -> None:
        fire("charge.succeeded", self.latest_charge)
        original_on_success(self)

    payment_intent._export = pi_export
    payment_intent._on_success = pi_on_success

    charge: Any = resources.Charge
    original_charge_export = charge._export
    original_charge_list = charge._api_list_all

    def charge_export(self: Any, expand: list[str] | None = None) -> dict[str, Any]:
        exported: dict[str, Any] = original_charge_export(self, expand=expand)
        exported["amount_captured"] = (
            self.amount if self.captured and self.status == "succeeded" else 0
        )
        return exported

    def charge_list(cls: Any, /, url: str, payment_intent: str | None = None, **kwargs: Any) -> Any:
        listed = original_charge_list(url, **kwargs)
        if payment_intent is not None:
            listed._list = [c for c in listed._list if c.payment_intent == payment_intent]
        listed._list.sort(key=lambda c: c.created, reverse=True)
        return listed

    def charge_declined(self: Any) -> bool:
        return self.type == "card" and (
            self._card_number in DECLINED_CARDS
            or self._card_number in ("4000000000000341", "4000008260003178", "4000008400001629")
        )

    def set_auth_failure(self: Any) -> None:
        method = resources.PaymentMethod._api_retrieve(self.payment_method)
        code, decline_code, message = DECLINED_CARDS.get(
            getattr(method, "_card_number", ""),
            ("card_declined", "generic_decline", "Your card was declined."),
        )
        self.status = "failed"
        self.failure_code = code
        self.failure_message = message
        self.outcome = {"type": "issuer_declined", "reason": decline_code}

    def raise_failure(self: Any) -> None:
        raise StripeApiError(
            402,
            self.failure_message,
            type="card_error",
            code=self.failure_code,
            decline_code=(self.outcome or {}).get("reason"),
            charge=self.id,
        )

    charge._export = charge_export
    charge._api_list_all = classmethod(charge_list)
    charge._set_auth_failure = set_auth_failure
    charge._raise_failure = raise_failure
    charge.outcome = None
    payment_method: Any = resources.PaymentMethod
    payment_method._charging_is_declined = charge_declined

    refund: Any = resources.Refund
    refund._api_create = classmethod(_create_refund)
    original_refund_list = refund._api_list_all

    def refund_list(cls: Any, /, url: str, payment_intent: str | None = None, **kwargs: Any) -> Any:
        if payment_intent is not None:
            intent = resources.PaymentIntent._api_retrieve(payment_intent)
            if intent.latest_charge is None:  # never paid: no refunds (localstripe fails)
                return resources.List(url, kwargs.get("limit"))
        return original_refund_list(url, payment_intent=payment_intent, **kwargs)

    refund._api_list_all = classmethod(refund_list)


def _no_disk(self: Any) -> None:
    """localstripe keeps its store in /tmp/localstripe.pickle, shared by every process."""


def _retrieve_or_404(cls: Any, /, id: str) -> Any:
    found = resources.store.get(cls.object + ":" + id)
    if found is None:
        raise StripeApiError(
            404, f"No such {cls.object}: '{id}'", param="id", code="resource_missing"
        )
    return found


def fire(type: str, subject: Any) -> None:
    resources.schedule_webhook(resources.Event(type, subject))


REFUND_PARAMETERS = {
    "amount",
    "charge",
    "payment_intent",
    "reason",
    "metadata",
    "instructions_email",
    "refund_application_fee",
    "reverse_transfer",
}


def _create_refund(cls: Any, /, **data: Any) -> Any:
    """POST /v1/refunds as Stripe answers it: the rest of the charge unless an amount is given,
    never more than is left, and refund.created and charge.refunded sent."""
    for key in data:
        if key not in REFUND_PARAMETERS:
            raise unknown_parameter(key)
    reason = data.get("reason")
    if reason not in (None, "", "duplicate", "fraudulent", "requested_by_customer"):
        raise invalid(f"Invalid reason: {reason}", "reason", "parameter_invalid_string")
    metadata = as_metadata(data.get("metadata"))
    charge_id, intent_id = data.get("charge"), data.get("payment_intent")
    if not charge_id and not intent_id:
        raise invalid("One of the following params should be provided: charge, payment_intent.")
    if intent_id:
        intent = resources.PaymentIntent._api_retrieve(as_string(intent_id, "payment_intent"))
        if intent.latest_charge is None or intent.latest_charge.status != "succeeded":
            raise invalid(
                f"This PaymentIntent ({intent.id}) does not have a successful charge to refund.",
                "payment_intent",
                "charge_not_refundable",
            )
        if charge_id and charge_id != intent.latest_charge.id:
            raise invalid("The charge is not the PaymentIntent's.", "charge")
        charge_id = intent.latest_charge.id
    charge = resources.Charge._api_retrieve(as_string(charge_id, "charge"))
    if charge.status != "succeeded":
        raise invalid("Cannot refund a failed payment.", "charge", "charge_not_refundable")
    left = charge.amount - charge.amount_refunded
    if left <= 0:
        raise invalid(
            f"Charge {charge.id} has already been refunded.", code="charge_already_refunded"
        )
    amount = left if data.get("amount") in (None, "") else as_integer(data["amount"], "amount", 1)
    if amount > left:
        raise invalid(
            f"Refund amount ({format_amount(amount, charge.currency)}) is greater than "
            f"unrefunded amount on charge ({format_amount(left, charge.currency)})",
            "amount",
            "amount_too_large",
        )
    made = resources.Refund(charge=charge.id, amount=amount, metadata=metadata)
    made.payment_intent = charge.payment_intent
    made.reason = reason or None
    made.receipt_number = None
    made.destination_details = {"card": {"type": "refund"}, "type": "card"}
    fire("refund.created", made)
    fire("charge.refunded", charge)
    return made


# --- Checkout Sessions -----------------------------------------------------------------------

SESSION_PARAMETERS = {
    "mode",
    "line_items",
    "success_url",
    "cancel_url",
    "expires_at",
    "client_reference_id",
    "customer_email",
    "metadata",
    "payment_intent_data",
    "locale",
    "payment_method_types",
    "submit_type",
    "billing_address_collection",
    "allow_promotion_codes",
    "ui_mode",
}
PAYMENT_INTENT_DATA_PARAMETERS = {
    "metadata",
    "description",
    "receipt_email",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "capture_method",
}


class CheckoutSession(resources.StripeObject):  # type: ignore[misc]
    """A Checkout Session in payment mode (https://docs.stripe.com/api/checkout/sessions)."""

    object = "checkout.session"
    _id_prefix = "cs_test_"

    def __init__(self, state: StandIn, data: dict[str, Any]) -> None:
        for key in data:
            if key not in SESSION_PARAMETERS:
                raise unknown_parameter(key)
        mode = data.get("mode")
        if mode is None:
            raise missing_parameter("mode")
        if mode != "payment":
            raise invalid("The stand-in has Checkout Sessions in mode=payment only.", "mode")
        if data.get("ui_mode") not in (None, "hosted"):
            raise invalid("The stand-in has the hosted page only (ui_mode=hosted).", "ui_mode")
        if "success_url" not in data:
            raise missing_parameter("success_url")
        success_url = as_url(data["success_url"], "success_url")
        cancel_url = as_url(data["cancel_url"], "cancel_url") if data.get("cancel_url") else None
        items = self._line_items(data.get("line_items"))
        currencies = {item["currency"] for item in items}
        if len(currencies) > 1:
            raise invalid("All line items must have the same currency.", "line_items")
        now = int(state.now())
        expires_at = now + SESSION_MAX_SECONDS
        if data.get("expires_at") not in (None, ""):
            expires_at = as_integer(data["expires_at"], "expires_at")
            if expires_at < now + SESSION_MIN_SECONDS:
                raise invalid(
                    "The `expires_at` timestamp must be at least 30 minutes from Checkout "
                    f"Session creation (now {now}, given {expires_at}).",
                    "expires_at",
                )
            if expires_at > now + SESSION_MAX_SECONDS:
                raise invalid(
                    "The `expires_at` timestamp must be less than 24 hours from Checkout "
                    f"Session creation (now {now}, given {expires_at}).",
                    "expires_at",
                )
        intent_data = data.get("payment_intent_data") or {}
        if not isinstance(intent_data, dict):
            raise invalid("Invalid object", "payment_intent_data", "parameter_invalid_object")
        for key in intent_data:
            if key not in PAYMENT_INTENT_DATA_PARAMETERS:
                raise unknown_parameter(f"payment_intent_data[{key}]")
        intent_metadata = as_metadata(intent_data.get("metadata"), "payment_intent_data[metadata]")
        metadata = as_metadata(data.get("metadata"))
        reference = data.get("client_reference_id")
        if reference is not None:
            as_string(reference, "client_reference_id", 200)
        email = data.get("customer_email")
        if email is not None:
            as_string(email, "customer_email", 800)
        amount = sum(item["amount_total"] for item in items)
        if amount < 1:
            raise invalid("The Checkout Session's total amount due must be greater than 0.")

        super().__init__(id="cs_test_" + resources.random_id(58))
        self._state = state
        self._items = items
        self._intent_data: dict[str, Any] = {
            "metadata": intent_metadata,
            "description": intent_data.get("description"),
            "receipt_email": intent_data.get("receipt_email"),
        }
        self.mode = mode
        self.success_url = success_url
        self.cancel_url = cancel_url
        self.currency = items[0]["currency"]
        self.amount_subtotal = amount
        self.amount_total = amount
        self.expires_at = expires_at
        self.client_reference_id = reference
        self.customer_email = email
        self.customer_details: dict[str, Any] | None = None
        self.metadata = metadata
        self.locale = data.get("locale")
        self.status = "open"
        self.payment_status = "unpaid"
        self.payment_intent: str | None = None

    def _line_items(self, value: Any) -> list[dict[str, Any]]:
        if value is None:
            raise missing_parameter("line_items")
        if not isinstance(value, list) or not value:
            raise invalid("Invalid array", "line_items", "parameter_invalid_array")
        items = []
        for n, item in enumerate(value):
            where = f"line_items[{n}]"
            if not isinstance(item, dict):
                raise invalid("Invalid object", where, "parameter_invalid_object")
            for key in item:
                if key not in ("price_data", "quantity", "price"):
                    raise unknown_parameter(f"{where}[{key}]")
            if "price" in item:
                raise invalid("The stand-in knows no Prices: give price_data.", f"{where}[price]")
            price = item.get("price_data")
            if not isinstance(price, dict):
                raise missing_parameter(f"{where}[price_data]")
            for key in price:
                if key not in ("currency", "unit_amount", "product_data", "tax_behavior"):
                    raise unknown_parameter(f"{where}[price_data][{key}]")
            currency = price.get("currency")
            if currency is None:
                raise missing_parameter(f"{where}[price_data][currency]")
            if not isinstance(currency, str) or not re.fullmatch(r"[A-Za-z]{3}", currency):
                raise invalid(f"Invalid currency: {currency}", f"{where}[price_data][currency]")
            if "unit_amount" not in price:
                raise missing_parameter(f"{where}[price_data][unit_amount]")
            unit_amount = as_integer(price["unit_amount"], f"{where}[price_data][unit_amount]", 0)
            product = price.get("product_data")
            if not isinstance(product, dict) or not product.get("name"):
                raise missing_parameter(f"{where}[price_data][product_data][name]")
            name = as_string(product["name"], f"{where}[price_data][product_data][name]")
            if "quantity" not in item:
                raise missing_parameter(f"{where}[quantity]")
            quantity = as_integer(item["quantity"], f"{where}[quantity]", 1)
            items.append(
                {
                    "id": "li_" + resources.random_id(24),
                    "object": "item",
                    "amount_discount": 0,
                    "amount_subtotal": unit_amount * quantity,
                    "amount_tax": 0,
                    "amount_total": unit_amount * quantity,
                    "currency": currency.lower(),
                    "description": name,
                    "price": {
                        "id": "price_" + resources.random_id(24),
                        "object": "price",
                        "active": False,
                        "currency": currency.lower(),
                        "livemode": False,
                        "product": "prod_" + resources.random_id(14),
                        "type": "one_time",
                        "unit_amount": unit_amount,
                    },
                    "quantity": quantity,
                }
            )
        return items

    @property
    def url(self) -> str | None:  # Stripe gives the page's address only while it can be paid
        return f"{self._state.public_url}/checkout/{self.id}" if self.status == "open" else None

    def _export(self, expand: list[str] | None = None) -> dict[str, Any]:
        intent: Any = self.payment_intent
        paths = expand_paths(expand)
        for path in paths:
            if path.split(".")[0] not in ("payment_intent", "line_items"):
                raise invalid(f"This property cannot be expanded ({path}).", "expand")
        if intent is not None and "payment_intent" in [p.split(".")[0] for p in paths]:
            deeper = [p.split(".", 1)[1] for p in paths if p.startswith("payment_intent.")]
            intent = resources.PaymentIntent._api_retrieve(intent)._export(expand=deeper)
        exported: dict[str, Any] = {
            "id": self.id,
            "object": self.object,
            "amount_subtotal": self.amount_subtotal,
            "amount_total": self.amount_total,
            "cancel_url": self.cancel_url,
            "client_reference_id": self.client_reference_id,
            "created": self.created,
            "currency": self.currency,
            "customer": None,
            "customer_details": self.customer_details,
            "customer_email": self.customer_email,
            "expires_at": self.expires_at,
            "livemode": False,
            "locale": self.locale,
            "metadata": dict(self.metadata),
            "mode": self.mode,
            "payment_intent": intent,
            "payment_method_types": ["card"],
            "payment_status": self.payment_status,
            "status": self.status,
            "submit_type": None,
            "success_url": self.success_url,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted",
            "url": self.url,
        }
        if "line_items" in paths:
            exported["line_items"] = self._line_item_list()
        return exported

    def _line_item_list(self, limit: int = 10) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [json.loads(json.dumps(item)) for item in self._items[:limit]],
            "has_more": len(self._items) > limit,
            "url": f"/v1/checkout/sessions/{self.id}/line_items",
        }

    def _expire_if_due(self) -> None:
        if self.status == "open" and self.expires_at <= self._state.now():
            self._expire()

    def _expire(self) -> None:
        self.status = "expired"
        fire("checkout.session.expired", self)

    def _pay(self, card_number: str, email: str | None) -> str:
        """What the hosted page's Pay does; the address the payer is sent on to."""
        self._expire_if_due()
        if self.status == "expired":
            raise PageError(410, "This Checkout Session has expired.", form=False)
        if self.status == "complete":
            raise PageError(409, "This Checkout Session has already been paid.", form=False)
        email = self.customer_email or (email or "").strip()
        if not email or "@" not in email:
            raise PageError(400, "Enter your email address.")
        number = re.sub(r"[\s-]", "", card_number)
        if not number.isdigit() or len(number) != 16 or not luhn(number):
            raise PageError(400, "Your card number is invalid.")
        method = resources.PaymentMethod(
            type="card",
            card={"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"},
            billing_details={"email": email},
        )
        if self.payment_intent is None:
            intent = resources.PaymentIntent(
                amount=self.amount_total,
                currency=self.currency,
                payment_method=method.id,
                metadata=dict(self._intent_data["metadata"]),
            )
            intent.description = self._intent_data["description"]
            intent.receipt_email = self._intent_data["receipt_email"]
            intent.payment_method_types = ["card"]
            self.payment_intent = intent.id
        else:  # a second try after a decline: the same payment intent, another card
            intent = resources.PaymentIntent._api_retrieve(self.payment_intent)
            intent.payment_method = method.id
            intent.latest_charge = None
        try:
            intent._confirm(on_failure_now=intent._report_failure)
        except UserError as declined:
            raise PageError(402, str(declined.body["error"].get("message"))) from None
        if intent.status != "succeeded":
            raise PageError(402, f"The stand-in cannot complete this card ({intent.status}).")
        self.status = "complete"
        self.payment_status = "paid"
        self.customer_details = {
            "address": None,
            "email": email,
            "name": None,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        }
        fire("checkout.session.completed", self)
        return self.success_url.replace("{CHECKOUT_SESSION_ID}", self.id)


def luhn(number: str) -> bool:
    total = 0
    for n, digit in enumerate(reversed(number)):
        value = int(digit) * (2 if n % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def sessions() -> list[CheckoutSession]:
    return [value for value in resources.store.values() if isinstance(value, CheckoutSession)]


def expire_due_sessions() -> None:
    for session in sessions():
        session._expire_if_due()


def find_session(id: str) -> CheckoutSession:
    session = CheckoutSession._api_retrieve(id)
    assert isinstance(session, CheckoutSession)
    session._expire_if_due()
    return session


async def form_data(request: web.Request) -> dict[str, Any]:
    data = await localstripe_server.get_post_data(request)
    return dict(data) if data else {}


def query_data(request: web.Request) -> dict[str, Any]:
    return dict(localstripe_server.unflatten_data(request.query) or {})


def json_answer(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=_dumps)


STATE = web.AppKey("standin", StandIn)


async def create_session(request: web.Request) -> web.Response:
    data = await form_data(request)
    expand = data.pop("expand", None)
    session = CheckoutSession(request.app[STATE], data)
    return json_answer(session._export(expand=expand))


async def retrieve_session(request: web.Request) -> web.Response:
    data = query_data(request)
    session = find_session(request.match_info["id"])
    return json_answer(session._export(expand=data.get("expand")))


async def expire_session(request: web.Request) -> web.Response:
    data = await form_data(request)
    session = find_session(request.match_info["id"])
    if session.status != "open":
        raise invalid(
            'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
            f'Session has a status of "{session.status}".',
            code="checkout_session_not_open",
        )
    session._expire()
    return json_answer(session._export(expand=data.get("expand")))


async def session_line_items(request: web.Request) -> web.Response:
    data = query_data(request)
    session = find_session(request.match_info["id"])
    limit = as_integer(data.get("limit", 10), "limit", 1)
    return json_answer(session._line_item_list(limit))


async def list_sessions(request: web.Request) -> web.Response:
    data = query_data(request)
    expand = data.pop("expand", None)
    for key in data:
        if key not in (
            "payment_intent",
            "status",
            "client_reference_id",
            "limit",
            "starting_after",
        ):
            raise unknown_parameter(key)
    expire_due_sessions()
    found = sessions()[::-1]  # newest first, as Stripe lists them
    for key in ("payment_intent", "status", "client_reference_id"):
        if key in data:
            found = [s for s in found if getattr(s, key) == data[key]]
    after = data.get("starting_after")
    if after:
        found = found[next((n + 1 for n, s in enumerate(found) if s.id == after), 0) :]
    limit = as_integer(data.get("limit", 10), "limit", 1)
    paths = [path.removeprefix("data.") for path in expand_paths(expand)]
    return json_answer(
        {
            "object": "list",
            "data": [session._export(expand=paths) for session in found[:limit]],
            "has_more": len(found) > limit,
            "url": "/v1/checkout/sessions",
        }
    )


# --- The hosted pay page ---------------------------------------------------------------------


class PageError(Exception):
    """What the hosted page says instead of taking the payer on: with the form again (a declined
    card), or alone (a session that can no longer be paid)."""

    def __init__(self, status: int, message: str, *, form: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.form = form


PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}"
    "label,input,button{display:block;font-size:1rem;margin:.4rem 0}"
    "input{width:100%;padding:.5rem}button{padding:.6rem 1.2rem}"
    "#error{color:#a00;font-weight:bold}"
)


def page(session: CheckoutSession | None, error: str | None, form: bool) -> str:
    escape = html.escape
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Pay (Stripe stand-in)</title><style>{PAGE_STYLE}</style></head>",
        "<body><main><h1>Pay</h1>",
    ]
    if session is not None and form:
        total = format_amount(session.amount_total, session.currency)
        parts.append('<ul id="items">')
        for item in session._items:
            amount = format_amount(item["amount_total"], item["currency"])
            parts.append(
                f"<li>{escape(item['description'])} × {item['quantity']}: {escape(amount)}</li>"
            )
        parts.append(f'</ul><p>Total: <strong id="amount">{escape(total)}</strong></p>')
        if session.customer_email:
            parts.append(f'<p>Email: <span id="email">{escape(session.customer_email)}</span></p>')
    if error:
        parts.append(f'<p id="error" role="alert">{escape(error)}</p>')
    if session is not None and form:
        parts.append(f'<form method="post" action="/checkout/{escape(session.id)}/pay">')
        if not session.customer_email:
            parts.append(
                '<label for="email">Email</label>'
                '<input id="email" name="email" type="email" autocomplete="email" required>'
            )
        parts.append(
            '<label for="card-number">Card number</label>'
            '<input id="card-number" name="card_number" inputmode="numeric" '
            'autocomplete="cc-number" required>'
            f'<button id="pay" type="submit">Pay {escape(total)}</button></form>'
        )
    if session is not None and session.cancel_url:
        parts.append(f'<p><a id="cancel" href="{escape(session.cancel_url)}">Cancel</a></p>')
    parts.append("</main></body></html>")
    return "".join(parts)


def html_answer(text: str, status: int = 200) -> web.Response:
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "Cache-Control": "no-store",
        },
    )


def session_for_page(id: str) -> CheckoutSession:
    try:
        return find_session(id)
    except UserError:
        raise PageError(404, "This Checkout Session does not exist.", form=False) from None


async def show_page(request: web.Request) -> web.Response:
    session: CheckoutSession | None = None
    try:
        session = session_for_page(request.match_info["id"])
        if session.status == "expired":
            raise PageError(410, "This Checkout Session has expired.", form=False)
        if session.status == "complete":
            raise PageError(409, "This Checkout Session has already been paid.", form=False)
    except PageError as refused:
        return html_answer(page(session, refused.message, False), refused.status)
    return html_answer(page(session, None, True))


async def pay_page(request: web.Request) -> web.Response:
    form = await request.post()
    session: CheckoutSession | None = None
    try:
        session = session_for_page(request.match_info["id"])
        card = form.get("card_number")
        email = form.get("email")
        target = session._pay(
            card if isinstance(card, str) else "", email if isinstance(email, str) else None
        )
    except PageError as refused:
        return html_answer(page(session, refused.message, refused.form), refused.status)
    return web.Response(status=303, headers={"Location": target})


# --- Middlewares: Stripe's errors, keys and idempotency --------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/v1/")


@web.middleware
async def stripe_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_api(request):
        return await handler(request)
    request_id = "req_" + secrets.token_hex(7)
    token = current_request.set(
        {"id": request_id, "idempotency_key": request.headers.get("Idempotency-Key")}
    )
    try:
        response = await handler(request)
    except UserError as error:
        return error_response(error, request_id)
    except web.HTTPNotFound:
        message = f"Unrecognized request URL ({request.method}: {request.path})."
        return error_response(StripeApiError(404, message), request_id)
    except web.HTTPMethodNotAllowed:
        message = f"Unrecognized request URL ({request.method}: {request.path})."
        return error_response(StripeApiError(405, message), request_id)
    except Exception as error:  # a stand-in bug: say so in Stripe's shape, and in the log
        log.exception("%s %s", request.method, request.path)
        return error_response(
            StripeApiError(500, f"stand-in: {type(error).__name__}: {error}", type="api_error"),
            request_id,
        )
    finally:
        current_request.reset(token)
    response.headers.setdefault("Request-Id", request_id)
    return response


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_api(request):
        given = presented_key(request.headers.get("Authorization", ""))
        if given is None:
            raise StripeApiError(
                401, "You did not provide an API key. Provide it as a Bearer token."
            )
        if given != request.app[STATE].api_key:
            shown = given[:8] + "*" * max(len(given) - 12, 0) + given[-4:]
            raise StripeApiError(401, f"Invalid API Key provided: {shown}")
    return await handler(request)


def presented_key(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme == "Bearer" and value:
        return value
    if scheme == "Basic" and value:
        with contextlib.suppress(ValueError):
            return base64.b64decode(value).decode().split(":")[0] or None
    return None


def saved_for_replay(status: int, body: bytes) -> bool:
    """Stripe saves the answer once the endpoint began: not for parameters that fail validation
    (no code, or a parameter_* code), nor for a key already in use."""
    if status < 400 or status >= 500 or status == 402:
        return True
    if status != 400:
        return False
    with contextlib.suppress(ValueError, KeyError, TypeError):
        code = json.loads(body)["error"].get("code")
        return bool(code) and not str(code).startswith("parameter_")
    return False


@web.middleware
async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not is_api(request):
        return await handler(request)
    if not key:
        await slowly(state)
        return await handler(request)
    body = await request.read()
    fields = sorted(urllib.parse.parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
    fingerprint = hashlib.sha256(
        json.dumps([request.method, request.path, fields]).encode()
    ).hexdigest()
    first = state.remembered.get(key)
    if first is not None:
        if first.fingerprint != fingerprint:
            raise StripeApiError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
            )
        if first.status is None:
            raise StripeApiError(
                409,
                "There is currently another in-progress request using this Stripe token "
                "(probably the same Idempotency Key) — please try again later.",
                type="idempotency_error",
                code="idempotency_key_in_use",
            )
        return web.Response(
            body=first.body,
            status=first.status,
            content_type="application/json",
            headers={"Idempotent-Replayed": "true", "Original-Request": first.request_id},
        )
    remembered = state.remembered[key] = Remembered(fingerprint)
    try:
        await slowly(state)
        try:
            response = await handler(request)
        except UserError as error:
            response = error_response(error)
    except BaseException:
        state.remembered.pop(key, None)
        raise
    if (
        isinstance(response, web.Response)
        and isinstance(response.body, bytes)
        and saved_for_replay(response.status, response.body)
    ):
        remembered.status = response.status
        remembered.body = response.body
        request_info = current_request.get()
        remembered.request_id = str(request_info["id"]) if request_info else ""
    else:
        state.remembered.pop(key, None)
    return response


async def slowly(state: StandIn) -> None:
    if state.delay > 0:
        await asyncio.sleep(state.delay)


# --- The private routes the handle drives ----------------------------------------------------


async def control_health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def control_reset(request: web.Request) -> web.Response:
    await request.app[STATE].reset()
    return json_answer({"reset": True})


async def control_webhooks(request: web.Request) -> web.Response:
    state = request.app[STATE]
    data = await request.json()
    state.webhook_url = data.get("url")
    state.holding = False
    return json_answer({"url": state.webhook_url})


async def control_current_webhook(request: web.Request) -> web.Response:
    return json_answer(request.app[STATE].webhook_url)


async def control_hold(request: web.Request) -> web.Response:
    request.app[STATE].holding = True
    return json_answer({"holding": True})


async def control_held(request: web.Request) -> web.Response:
    return json_answer(request.app[STATE].held)


async def control_take_held(request: web.Request) -> web.Response:
    state = request.app[STATE]
    taken, state.held = state.held, []
    return json_answer(taken)


async def control_events(request: web.Request) -> web.Response:
    wanted = request.query.get("type")
    events = request.app[STATE].events
    return json_answer([e for e in events if wanted is None or e["type"] == wanted])


async def control_event(request: web.Request) -> web.Response:
    for event in request.app[STATE].events:
        if event["id"] == request.match_info["id"]:
            return json_answer(event)
    return json_answer({"error": "no such event"}, 404)


async def control_deliveries(request: web.Request) -> web.Response:
    return json_answer(request.app[STATE].deliveries)


async def control_record_deliveries(request: web.Request) -> web.Response:
    records = await request.json()
    request.app[STATE].deliveries.extend(records)
    return json_answer({"recorded": len(records)})


async def control_delay(request: web.Request) -> web.Response:
    data = await request.json()
    request.app[STATE].delay = float(data.get("seconds") or 0)
    return json_answer({"seconds": request.app[STATE].delay})


async def control_clock(request: web.Request) -> web.Response:
    data = await request.json()
    now = data.get("now")
    request.app[STATE].fixed_now = None if now is None else float(now)
    expire_due_sessions()
    return json_answer({"now": request.app[STATE].now()})


async def control_dashboard_refund(request: web.Request) -> web.Response:
    data = await request.json()
    params: dict[str, Any] = {"payment_intent": data["payment_intent"]}
    if data.get("amount") is not None:
        params["amount"] = data["amount"]
    try:
        made = resources.Refund._api_create(**params)
    except UserError as error:
        return error_response(error)
    return json_answer(made._export())


# --- The application -------------------------------------------------------------------------

_patched = False


def build_app(state: StandIn) -> web.Application:
    """localstripe's routes (its handlers, with its models fixed), Checkout, the hosted page and
    the private routes, behind Stripe's errors, keys and idempotency. Once per process."""
    global _patched
    if _patched:
        raise RuntimeError("one stand-in per process: localstripe keeps its state in its module")
    _patched = True
    patch_localstripe(state)
    app = web.Application(middlewares=[stripe_errors, authentication, idempotency])
    app[STATE] = state
    add = app.router.add_route
    add("POST", "/v1/checkout/sessions", create_session)
    add("GET", "/v1/checkout/sessions", list_sessions)
    add("GET", "/v1/checkout/sessions/{id}", retrieve_session)
    add("POST", "/v1/checkout/sessions/{id}/expire", expire_session)
    add("GET", "/v1/checkout/sessions/{id}/line_items", session_line_items)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for route in localstripe_server.app.router.routes():
            canonical = route.resource.canonical if route.resource is not None else ""
            if canonical.startswith("/v1/") and route.method != "HEAD":
                add(route.method, canonical, route.handler)
    add("GET", "/checkout/{id}", show_page)
    add("POST", "/checkout/{id}/pay", pay_page)
    add("GET", "/_standin/health", control_health)
    add("POST", "/_standin/reset", control_reset)
    add("POST", "/_standin/webhooks", control_webhooks)
    add("GET", "/_standin/webhooks", control_current_webhook)
    add("POST", "/_standin/hold", control_hold)
    add("GET", "/_standin/held", control_held)
    add("POST", "/_standin/held/take", control_take_held)
    add("GET", "/_standin/events", control_events)
    add("GET", "/_standin/events/{id}", control_event)
    add("GET", "/_standin/deliveries", control_deliveries)
    add("POST", "/_standin/deliveries", control_record_deliveries)
    add("POST", "/_standin/delay", control_delay)
    add("POST", "/_standin/clock", control_clock)
    add("POST", "/_standin/dashboard/refund", control_dashboard_refund)

    async def on_startup(app: web.Application) -> None:
        await state.start_worker()

    async def on_cleanup(app: web.Application) -> None:
        await state.stop_worker()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local Stripe for the tests")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--port-file", type=Path, help="where to write the port once bound")
    parser.add_argument("--webhook-secret", default=WEBHOOK_SECRET)
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--api-key", default=API_KEY)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    state = StandIn(args.api_key, args.webhook_secret, args.webhook_url, f"http://127.0.0.1:{port}")
    app = build_app(state)
    if args.port_file:
        partial = args.port_file.with_suffix(".partial")
        partial.write_text(str(port))
        os.replace(partial, args.port_file)
    log.info("Stripe stand-in on http://127.0.0.1:%d (cwd %s)", port, os.getcwd())
    web.run_app(app, sock=sock, print=None, access_log=None)


if __name__ == "__main__":
    main()
