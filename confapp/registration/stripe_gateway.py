"""Stripe, through its official library: hosted Checkout Sessions, and refunds.

Only what confapp needs, in its own terms: amounts in cents of the conference's currency, the
ids Stripe gives back, and an idempotency key on every call that creates or changes something,
made from our own row (the payment, the refund), so a retry or a second click reaches the same
object at Stripe instead of a second charge. Nothing about a card ever passes through here:
the card is typed on Stripe's page.

A failure is a PaymentProviderError carrying Stripe's error code only: Stripe's messages can
quote what a person typed, and these errors are logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe

# Currencies Stripe counts in whole units (https://docs.stripe.com/currencies#zero-decimal):
# 500 JPY is sent as 500, not 50000. confapp keeps every amount in hundredths.
ZERO_DECIMAL_CURRENCIES = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)


class PaymentProviderError(Exception):
    """Stripe refused or could not be reached; `code` is Stripe's error code (or ours)."""

    def __init__(self, code: str, *, retryable: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.retryable = retryable


def to_stripe_amount(cents: int, currency: str) -> int:
    if currency.upper() in ZERO_DECIMAL_CURRENCIES:
        if cents % 100:
            raise PaymentProviderError("amount_not_whole")
        return cents // 100
    return cents


def from_stripe_amount(amount: int, currency: str) -> int:
    return amount * 100 if currency.upper() in ZERO_DECIMAL_CURRENCIES else amount


@dataclass(frozen=True)
class StripeAccount:
    """A conference's Stripe account: its secret key, and where the API is."""

    secret_key: str
    api_base: str = "https://api.stripe.com"

    def __repr__(self) -> str:  # the key never reaches a log through a repr
        return f"StripeAccount(api_base={self.api_base!r})"

    def client(self) -> stripe.StripeClient:
        # Retries are safe: every call that writes carries an idempotency key.
        return stripe.StripeClient(
            self.secret_key, base_addresses={"api": self.api_base}, max_network_retries=2
        )


@dataclass(frozen=True)
class CheckoutState:
    """A Checkout Session as Stripe has it now."""

    id: str
    url: str
    status: str  # open, complete, expired
    payment_status: str  # unpaid, paid, no_payment_required
    payment_intent: str | None
    amount_cents: int
    currency: str
    expires_at: datetime | None
    payment_id: int | None  # ours, from its metadata

    @property
    def paid(self) -> bool:
        return self.status == "complete" and self.payment_status == "paid"


@dataclass(frozen=True)
class RefundState:
    id: str
    status: str  # pending, succeeded, failed, canceled, requires_action
    amount_cents: int
    currency: str
    payment_intent: str | None
    refund_id: int | None  # ours, from its metadata; None for one made in Stripe's dashboard


def _calling(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Stripe's answer as plain dicts and lists (its objects are not mappings)."""
    try:
        answer = call(*args, **kwargs)
        return answer.to_dict() if hasattr(answer, "to_dict") else answer
    except stripe.StripeError as error:
        code = error.code or type(error).__name__
        retryable = isinstance(
            error, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError
        )
        raise PaymentProviderError(str(code)[:100], retryable=retryable) from None


def _our_id(metadata: Mapping[str, Any] | None, key: str) -> int | None:
    value = (metadata or {}).get(key)
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _checkout_state(session: Any) -> CheckoutState:
    intent = session.get("payment_intent")
    if isinstance(intent, Mapping):
        intent = intent.get("id")
    currency = str(session.get("currency") or "").upper()
    expires = session.get("expires_at")
    return CheckoutState(
        id=str(session["id"]),
        url=str(session.get("url") or ""),
        status=str(session.get("status") or ""),
        payment_status=str(session.get("payment_status") or ""),
        payment_intent=str(intent) if intent else None,
        amount_cents=from_stripe_amount(int(session.get("amount_total") or 0), currency),
        currency=currency,
        expires_at=datetime.fromtimestamp(int(expires), UTC) if expires else None,
        payment_id=_our_id(session.get("metadata"), "payment_id"),
    )


def _refund_state(refund: Any) -> RefundState:
    intent = refund.get("payment_intent")
    if isinstance(intent, Mapping):
        intent = intent.get("id")
    currency = str(refund.get("currency") or "").upper()
    return RefundState(
        id=str(refund["id"]),
        status=str(refund.get("status") or ""),
        amount_cents=from_stripe_amount(int(refund.get("amount") or 0), currency),
        currency=currency,
        payment_intent=str(intent) if intent else None,
        refund_id=_our_id(refund.get("metadata"), "refund_id"),
    )


@dataclass(frozen=True)
class CheckoutRequest:
    payment_id: int
    order_reference: str
    amount_cents: int
    currency: str
    description: str  # what the line on Stripe's page says ("Socialism 2027: Waged ticket")
    email: str
    success_url: str
    cancel_url: str
    expires_at: datetime
    language: str  # Stripe's page in the attendee's language where it has it


# Languages Stripe's hosted page speaks (its `locale`); others get "auto".
_CHECKOUT_LOCALES = frozenset(
    [
        "bg",
        "cs",
        "da",
        "de",
        "el",
        "en",
        "es",
        "et",
        "fi",
        "fil",
        "fr",
        "hr",
        "hu",
        "id",
        "it",
        "ja",
        "ko",
        "lt",
        "lv",
        "ms",
        "mt",
        "nb",
        "nl",
        "pl",
        "pt",
        "ro",
        "ru",
        "sk",
        "sl",
        "sv",
        "th",
        "tr",
        "vi",
        "zh",
    ]
)


def create_checkout(account: StripeAccount, request: CheckoutRequest) -> CheckoutState:
    base_language = request.language.split("-")[0].lower()
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": request.currency.lower(),
                    "unit_amount": to_stripe_amount(request.amount_cents, request.currency),
                    "product_data": {"name": request.description},
                },
                "quantity": 1,
            }
        ],
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "expires_at": int(request.expires_at.timestamp()),
        "client_reference_id": request.order_reference,
        "customer_email": request.email,
        "locale": base_language if base_language in _CHECKOUT_LOCALES else "auto",
        "metadata": {"payment_id": str(request.payment_id)},
        "payment_intent_data": {"metadata": {"payment_id": str(request.payment_id)}},
    }
    session = _calling(
        account.client().v1.checkout.sessions.create,
        params=params,
        options={"idempotency_key": f"confapp-payment-{request.payment_id}-checkout"},
    )
    return _checkout_state(session)


def retrieve_checkout(account: StripeAccount, checkout_id: str) -> CheckoutState:
    return _checkout_state(_calling(account.client().v1.checkout.sessions.retrieve, checkout_id))


def expire_checkout(account: StripeAccount, checkout_id: str, payment_id: int) -> CheckoutState:
    """Close an open checkout so it can no longer be paid; a checkout that is already complete
    or expired is read back as it is."""
    try:
        session = _calling(
            account.client().v1.checkout.sessions.expire,
            checkout_id,
            options={"idempotency_key": f"confapp-payment-{payment_id}-expire"},
        )
    except PaymentProviderError as refused:
        if refused.retryable:
            raise
        return retrieve_checkout(account, checkout_id)
    return _checkout_state(session)


def create_refund(
    account: StripeAccount, payment_intent: str, amount_cents: int, currency: str, refund_id: int
) -> RefundState:
    refund = _calling(
        account.client().v1.refunds.create,
        params={
            "payment_intent": payment_intent,
            "amount": to_stripe_amount(amount_cents, currency),
            "metadata": {"refund_id": str(refund_id)},
        },
        options={"idempotency_key": f"confapp-refund-{refund_id}"},
    )
    return _refund_state(refund)


def refunds_of(account: StripeAccount, payment_intent: str) -> list[RefundState]:
    listed = _calling(
        account.client().v1.refunds.list, params={"payment_intent": payment_intent, "limit": 100}
    )
    return [_refund_state(refund) for refund in listed["data"]]


def verified_event(payload: bytes, signature: str, secret: str) -> Mapping[str, Any] | None:
    """The event a webhook carries, if its Stripe-Signature is good for this secret."""
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except (ValueError, stripe.SignatureVerificationError):
        return None
    found: dict[str, Any] = event.to_dict()
    return found
