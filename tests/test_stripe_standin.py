"""The Stripe stand-in the payment tests use (tests/support/stripe_standin.py), checked with the
official library as the client: Checkout Sessions and their hosted page, idempotency keys,
refunds, and webhooks that stripe.Webhook.construct_event accepts, held and reordered."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from tests.support.stripe_standin import (
    CARD_DECLINED,
    HostedPageError,
    PaymentDeclined,
    StripeStandIn,
    error_text,
)

SUCCESS_URL = "https://conference.example/paid?checkout={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://conference.example/cancelled"


class Receiver:
    """A tiny webhook endpoint on loopback: keeps each body and Stripe-Signature it is sent,
    and answers `status` after `delay` seconds."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str]] = []
        self.status = 200
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append((body, self.headers.get("Stripe-Signature", "")))
                time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stripe/webhook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self, secret: str) -> list[stripe.Event]:
        """What was received, each verified as the app verifies it."""
        return [stripe.Webhook.construct_event(body, sig, secret) for body, sig in self.received]


@pytest.fixture(scope="module")
def standin_server() -> Iterator[StripeStandIn]:
    with StripeStandIn() as standin:
        yield standin


@pytest.fixture
def standin(standin_server: StripeStandIn) -> StripeStandIn:
    standin_server.reset()
    return standin_server


@pytest.fixture
def client(standin: StripeStandIn) -> stripe.StripeClient:
    return standin.client()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def session_params(**overrides: Any) -> dict[str, Any]:
    """What confapp sends for one ticket: 42.50 AUD, payable for an hour."""
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "aud",
                    "unit_amount": 4250,
                    "product_data": {"name": "Socialism 2027: Waged ticket"},
                },
                "quantity": 1,
            }
        ],
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
        "expires_at": int(time.time()) + 3600,
        "client_reference_id": "ORDER-17",
        "customer_email": "rosa@example.org",
        "locale": "en",
        "metadata": {"payment_id": "17"},
        "payment_intent_data": {"metadata": {"payment_id": "17"}},
    }
    params.update(overrides)
    return params


def get_page(url: str, form: str | None = None) -> tuple[int, str]:
    """The hosted page as a browser gets it (GET, or POST of a form)."""
    request = urllib.request.Request(url, data=None if form is None else form.encode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def paid_session(standin: StripeStandIn, client: stripe.StripeClient, **overrides: Any) -> Any:
    session = client.v1.checkout.sessions.create(params=session_params(**overrides))
    standin.pay(session.id)
    return client.v1.checkout.sessions.retrieve(session.id)


def test_a_session_is_created_open_and_its_page_shows_what_to_pay(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    params = session_params()
    session = client.v1.checkout.sessions.create(params=params)

    assert session.object == "checkout.session"
    assert session.id.startswith("cs_test_")
    assert session.url == f"{standin.api_base}/checkout/{session.id}"
    assert (session.status, session.payment_status, session.payment_intent) == (
        "open",
        "unpaid",
        None,
    )
    assert (session.amount_total, session.amount_subtotal, session.currency) == (4250, 4250, "aud")
    assert session.client_reference_id == "ORDER-17"
    assert session.customer_email == "rosa@example.org"
    assert session.metadata.to_dict() == {"payment_id": "17"}
    assert session.expires_at == params["expires_at"]
    assert abs(session.created - time.time()) < 5
    assert (session.success_url, session.cancel_url, session.mode) == (
        SUCCESS_URL,
        CANCEL_URL,
        "payment",
    )
    assert session.livemode is False

    again = client.v1.checkout.sessions.retrieve(session.id)
    assert again.to_dict() == session.to_dict()
    items = client.v1.checkout.sessions.line_items.list(session.id)
    assert [(i.description, i.quantity, i.amount_total) for i in items.data] == [
        ("Socialism 2027: Waged ticket", 1, 4250)
    ]

    status, page = get_page(session.url)
    assert status == 200
    assert '<strong id="amount">42.50 AUD</strong>' in page
    assert '<span id="email">rosa@example.org</span>' in page
    assert 'id="card-number" name="card_number"' in page
    assert 'id="pay"' in page
    assert f'<a id="cancel" href="{CANCEL_URL}">' in page
    assert "<script" not in page
    assert error_text(page) is None


def test_paying_completes_the_session_and_the_signed_event_reaches_the_webhook(
    standin: StripeStandIn, client: stripe.StripeClient, receiver: Receiver
) -> None:
    standin.send_webhooks_to(receiver.url)
    session = client.v1.checkout.sessions.create(params=session_params())

    target = standin.pay(session.id, "4242 4242 4242 4242")

    assert target == f"https://conference.example/paid?checkout={session.id}"
    paid = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert (paid.status, paid.payment_status, paid.url) == ("complete", "paid", None)
    assert paid.customer_details.email == "rosa@example.org"
    intent = paid.payment_intent
    assert (intent.status, intent.amount, intent.amount_received, intent.currency) == (
        "succeeded",
        4250,
        4250,
        "aud",
    )
    assert intent.metadata.to_dict() == {"payment_id": "17"}
    assert client.v1.payment_intents.retrieve(intent.id).latest_charge == intent.latest_charge
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.status, charge.paid, charge.amount, charge.payment_intent) == (
        "succeeded",
        True,
        4250,
        intent.id,
    )
    listed = client.v1.checkout.sessions.list(params={"payment_intent": intent.id})
    assert [s.id for s in listed.data] == [session.id]

    deliveries = standin.deliveries(wait_for=3)
    assert [(d["type"], d["status"], d["url"]) for d in deliveries] == [
        ("charge.succeeded", 200, receiver.url),
        ("payment_intent.succeeded", 200, receiver.url),
        ("checkout.session.completed", 200, receiver.url),
    ]
    completed = receiver.events(standin.webhook_secret)[-1]
    assert completed.type == "checkout.session.completed"
    assert completed.object == "event" and completed.livemode is False
    assert completed.id == deliveries[-1]["event_id"]
    assert completed.data.object.id == session.id
    assert completed.data.object.payment_intent == intent.id
    assert completed.data.object.metadata["payment_id"] == "17"
    body, signature = receiver.received[-1]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, signature, "whsec_someone_else")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            body.replace(b"17", b"18"), signature, standin.webhook_secret
        )

    with pytest.raises(HostedPageError) as paid_twice:
        standin.pay(session.id)
    assert paid_twice.value.status == 409
    assert len(client.v1.payment_intents.list().data) == 1


def test_a_declined_card_leaves_the_session_open_and_the_page_says_why(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())

    with pytest.raises(PaymentDeclined) as declined:
        standin.pay(session.id, "4000 0000 0000 0002")
    assert declined.value.message == "Your card was declined."
    status, page = get_page(
        f"{standin.api_base}/checkout/{session.id}/pay", f"card_number={CARD_DECLINED}"
    )
    assert status == 402
    assert error_text(page) == "Your card was declined."
    assert 'id="card-number"' in page and 'id="pay"' in page

    still = client.v1.checkout.sessions.retrieve(session.id)
    assert (still.status, still.payment_status) == ("open", "unpaid")
    assert not standin.events("checkout.session.completed")
    assert [e["type"] for e in standin.events()] == ["payment_intent.payment_failed"] * 2

    standin.pay(session.id)  # another card then
    assert client.v1.checkout.sessions.retrieve(session.id).status == "complete"


def test_an_expired_session_cannot_be_paid(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())

    expired = client.v1.checkout.sessions.expire(session.id)

    assert (expired.status, expired.payment_status, expired.url) == ("expired", "unpaid", None)
    assert [e["data"]["object"]["id"] for e in standin.events("checkout.session.expired")] == [
        session.id
    ]
    status, page = get_page(f"{standin.api_base}/checkout/{session.id}")
    assert status == 410
    assert error_text(page) == "This Checkout Session has expired."
    assert 'id="pay"' not in page
    with pytest.raises(HostedPageError) as refused:
        standin.pay(session.id)
    assert refused.value.status == 410
    assert client.v1.payment_intents.list().data == []
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(session.id)


def test_expires_at_must_be_30_minutes_to_24_hours_away(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    now = int(time.time())
    for too_soon_or_late in (now + 29 * 60, now + 25 * 3600):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.checkout.sessions.create(params=session_params(expires_at=too_soon_or_late))
        assert refused.value.http_status == 400
        assert refused.value.param == "expires_at"
    earlier = client.v1.checkout.sessions.create(params=session_params(expires_at=now + 31 * 60))

    # Tests of the app run it on a fixed clock: Stripe's can be set to the same moment.
    app_time = datetime(2027, 7, 6, 9, 0, 15, tzinfo=UTC)
    standin.set_clock(app_time)
    session = client.v1.checkout.sessions.create(
        params=session_params(expires_at=int((app_time + timedelta(hours=1)).timestamp()))
    )
    assert session.created == int(app_time.timestamp())
    # Setting the clock past a session's expires_at expires it, with its event, as Stripe does.
    assert client.v1.checkout.sessions.retrieve(earlier.id).status == "expired"
    standin.set_clock(app_time + timedelta(hours=1, seconds=1))
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    expired = standin.events("checkout.session.expired")
    assert [e["data"]["object"]["id"] for e in expired] == [earlier.id, session.id]


def test_errors_come_in_stripes_shape(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.create(params=session_params(line_items=None))
    assert (missing.value.param, missing.value.code) == ("line_items", "parameter_missing")
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.checkout.sessions.create(params=session_params(colour="red"))
    assert (unknown.value.param, unknown.value.code) == ("colour", "parameter_unknown")
    with pytest.raises(stripe.InvalidRequestError) as absent:
        client.v1.checkout.sessions.retrieve("cs_test_nothing")
    assert (absent.value.http_status, absent.value.code) == (404, "resource_missing")
    assert absent.value.error.type == "invalid_request_error"
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient(
            "sk_test_wrong", base_addresses={"api": standin.api_base}, max_network_retries=0
        ).v1.checkout.sessions.retrieve("cs_test_nothing")


def test_an_idempotency_key_replays_the_first_answer(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    params, options = session_params(), {"idempotency_key": "confapp-payment-17-checkout"}
    first = client.v1.checkout.sessions.create(params=params, options=options)
    second = client.v1.checkout.sessions.create(params=params, options=options)

    assert second.id == first.id
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert [s.id for s in client.v1.checkout.sessions.list().data] == [first.id]

    # The first answer, even once the session has changed.
    client.v1.checkout.sessions.expire(first.id, options={"idempotency_key": "expire-17"})
    standin.reset()
    with pytest.raises(stripe.InvalidRequestError):  # a reset forgets the keys too
        client.v1.checkout.sessions.expire(first.id, options={"idempotency_key": "expire-17"})


def test_an_idempotency_key_with_other_parameters_is_refused(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    params, options = session_params(), {"idempotency_key": "confapp-payment-18-checkout"}
    client.v1.checkout.sessions.create(params=params, options=options)

    with pytest.raises(stripe.IdempotencyError) as refused:
        client.v1.checkout.sessions.create(
            params={**params, "client_reference_id": "ORDER-18"}, options=options
        )
    assert refused.value.http_status == 400
    assert refused.value.error.type == "idempotency_error"
    assert len(client.v1.checkout.sessions.list().data) == 1


def test_an_idempotency_key_in_use_gets_409(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    standin.slow_down(0.5)
    params, options = session_params(), {"idempotency_key": "double-click"}
    start = threading.Barrier(2)

    def create() -> Any:
        start.wait()
        try:
            return client.v1.checkout.sessions.create(params=params, options=options)
        except stripe.StripeError as error:
            return error

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: create(), range(2)))

    made = [a for a in answers if not isinstance(a, stripe.StripeError)]
    refused = [a for a in answers if isinstance(a, stripe.StripeError)]
    assert len(made) == 1 and len(refused) == 1
    assert refused[0].http_status == 409
    assert isinstance(refused[0], stripe.APIError)  # the library's class for a 409
    assert refused[0].error.code == "idempotency_key_in_use"
    assert refused[0].error.type == "idempotency_error"
    standin.slow_down(0)
    assert client.v1.checkout.sessions.create(params=params, options=options).id == made[0].id


def test_refunds_in_parts_then_the_rest_and_never_more(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    session = paid_session(standin, client)
    intent = session.payment_intent

    part = client.v1.refunds.create(
        params={
            "payment_intent": intent,
            "amount": 1000,
            "reason": "requested_by_customer",
            "metadata": {"refund_id": "3"},
        },
        options={"idempotency_key": "confapp-refund-3"},
    )
    assert (part.object, part.status, part.amount, part.currency) == (
        "refund",
        "succeeded",
        1000,
        "aud",
    )
    assert (part.payment_intent, part.reason, part.metadata.to_dict()) == (
        intent,
        "requested_by_customer",
        {"refund_id": "3"},
    )
    charge = client.v1.charges.retrieve(part.charge)
    assert (charge.amount_refunded, charge.refunded) == (1000, False)

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"payment_intent": intent, "amount": 3251})
    assert (too_much.value.param, too_much.value.code) == ("amount", "amount_too_large")

    rest = client.v1.refunds.create(params={"payment_intent": intent})
    assert rest.amount == 3250
    charge = client.v1.charges.retrieve(part.charge)
    assert (charge.amount_refunded, charge.refunded) == (4250, True)
    assert client.v1.refunds.retrieve(part.id).amount == 1000
    assert [r.id for r in client.v1.refunds.list(params={"payment_intent": intent}).data] == [
        rest.id,
        part.id,
    ]
    assert client.v1.payment_intents.retrieve(intent).latest_charge == charge.id

    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"charge": charge.id, "amount": 1})
    assert again.value.code == "charge_already_refunded"

    refunded = standin.events("charge.refunded")
    assert [e["data"]["object"]["amount_refunded"] for e in refunded] == [1000, 4250]
    assert [e["data"]["object"]["refunded"] for e in refunded] == [False, True]
    created = standin.events("refund.created")
    assert [e["data"]["object"]["id"] for e in created] == [part.id, rest.id]
    assert created[0]["request"]["idempotency_key"] == "confapp-refund-3"


def test_a_refund_made_in_the_dashboard(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    intent = paid_session(standin, client).payment_intent

    refund = standin.refund_in_dashboard(intent, 250)

    assert (refund["amount"], refund["payment_intent"], refund["metadata"]) == (250, intent, {})
    assert [r.id for r in client.v1.refunds.list(params={"payment_intent": intent}).data] == [
        refund["id"]
    ]
    [event] = standin.events("refund.created")
    assert event["data"]["object"]["id"] == refund["id"]
    assert event["request"] == {"id": None, "idempotency_key": None}
    assert standin.refund_in_dashboard(intent)["amount"] == 4000


def test_held_webhooks_are_delivered_when_and_as_often_as_the_test_says(
    standin: StripeStandIn, client: stripe.StripeClient, receiver: Receiver
) -> None:
    standin.send_webhooks_to(receiver.url)
    standin.hold_webhooks()
    session = paid_session(standin, client)

    time.sleep(0.2)
    assert receiver.received == [] and standin.deliveries() == []
    held = standin.held_events()
    assert [e["type"] for e in held] == [
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]

    assert standin.deliver(held[-1], times=2) == [200, 200]
    twice = receiver.events(standin.webhook_secret)
    assert [e.id for e in twice] == [held[-1]["id"]] * 2
    assert twice[0].data.object.id == session.id

    assert standin.deliver_all(reverse=True) == [200, 200, 200]
    in_reverse = receiver.events(standin.webhook_secret)[2:]
    assert [e.type for e in in_reverse] == [e["type"] for e in reversed(held)]
    assert standin.held_events() == []

    verified: list[str] = []

    def in_process(body: bytes, signature: str) -> int:
        verified.append(stripe.Webhook.construct_event(body, signature, standin.webhook_secret).id)
        return 204

    assert standin.deliver(held[0]["id"], to=in_process) == [204]
    assert verified == [held[0]["id"]]
    deliveries = standin.deliveries()
    assert [d["status"] for d in deliveries] == [200] * 5 + [204]
    assert [d["event_id"] for d in deliveries][:2] == [held[-1]["id"]] * 2


def test_each_delivery_records_what_the_receiver_answered_without_holding_up_the_request(
    standin: StripeStandIn, client: stripe.StripeClient, receiver: Receiver
) -> None:
    receiver.status, receiver.delay = 500, 1.0
    standin.send_webhooks_to(receiver.url)
    session = client.v1.checkout.sessions.create(params=session_params())

    started = time.monotonic()
    client.v1.checkout.sessions.expire(session.id)
    assert time.monotonic() - started < 0.5

    [delivery] = standin.deliveries(wait_for=1)
    assert (delivery["type"], delivery["status"]) == ("checkout.session.expired", 500)

    standin.send_webhooks_to("http://127.0.0.1:9/nobody")  # the discard port: nobody listens
    client.v1.checkout.sessions.expire(
        client.v1.checkout.sessions.create(params=session_params()).id
    )
    nobody = standin.deliveries(wait_for=2)[1]
    assert nobody["status"] is None and nobody["error"]

    standin.send_webhooks_to(None)
    client.v1.checkout.sessions.create(params=session_params())
    assert len(standin.events()) == 2


def test_a_zero_decimal_currency_passes_through_in_whole_units(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    yen: list[dict[str, Any]] = [
        {
            "price_data": {
                "currency": "jpy",
                "unit_amount": 5000,
                "product_data": {"name": "Solidarity ticket"},
            },
            "quantity": 2,
        }
    ]
    session = client.v1.checkout.sessions.create(params=session_params(line_items=yen))
    assert (session.amount_total, session.currency) == (10000, "jpy")
    assert '<strong id="amount">10000 JPY</strong>' in get_page(session.url)[1]

    standin.pay(session.id)

    intent = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(session.id).payment_intent
    )
    assert (intent.amount, intent.currency, intent.status) == (10000, "jpy", "succeeded")


def test_events_can_be_read_back_through_the_api(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())
    client.v1.checkout.sessions.expire(session.id, options={"idempotency_key": "expire-1"})
    [recorded] = standin.events()

    event = client.v1.events.retrieve(recorded["id"])
    assert (event.object, event.type, event.livemode) == (
        "event",
        "checkout.session.expired",
        False,
    )
    assert event.api_version == stripe.api_version
    assert event.data.object.id == session.id
    assert event.request.id.startswith("req_")
    assert event.request.idempotency_key == "expire-1"
    assert event.to_dict() == recorded

    paid_session(standin, client)
    listed = client.v1.events.list(params={"type": "checkout.session.completed"})
    assert [e.type for e in listed.data] == ["checkout.session.completed"]
    newest_first = [e.id for e in client.v1.events.list().data]
    assert newest_first == [e["id"] for e in reversed(standin.events())]


def test_two_stand_ins_at_once_share_nothing(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    mine = client.v1.checkout.sessions.create(params=session_params())

    with StripeStandIn(webhook_secret="whsec_other") as other:
        assert other.api_base != standin.api_base
        theirs = other.client()
        with pytest.raises(stripe.InvalidRequestError):
            theirs.v1.checkout.sessions.retrieve(mine.id)
        assert theirs.v1.checkout.sessions.list().data == []
        other_session = theirs.v1.checkout.sessions.create(params=session_params())
        other.pay(other_session.id)
        assert len(other.events()) == 3
        assert standin.events() == []
        other.reset()

    assert client.v1.checkout.sessions.retrieve(mine.id).status == "open"
    assert [s.id for s in client.v1.checkout.sessions.list().data] == [mine.id]


def test_a_session_without_an_email_asks_for_one(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    params = session_params()
    del params["customer_email"]
    session = client.v1.checkout.sessions.create(params=params)
    page = get_page(session.url)[1]
    assert '<input id="email" name="email" type="email"' in page

    standin.pay(session.id, email="clara@example.org")

    paid = client.v1.checkout.sessions.retrieve(session.id)
    assert (paid.customer_email, paid.customer_details.email) == (None, "clara@example.org")
