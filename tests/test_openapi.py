"""The OpenAPI document at /api/openapi.json is valid, complete, and what the API really does:
registration, paid at the desk or online, for one person or a group, the organisers' view of
it, and Stripe's webhook."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.db import Database
from confapp.openapi import OPENAPI
from confapp.programme.conference_file import LoadReport
from confapp.programme.queries import get_conference
from confapp.registration.orders import save_payment_settings
from confapp.settings import Settings
from confapp.urls import STRIPE_WEBHOOK_PATH
from tests.conftest import app_clock
from tests.support import DEMO
from tests.support.accounts import api_token, make_organiser
from tests.support.openapi_contract import AnyResponse, assert_matches_contract
from tests.support.servers import free_port
from tests.support.stripe_standin import (
    WEBHOOK_SECRET,
    StripeStandIn,
    event_payload,
    signature_header,
)

# Starlette answers HEAD wherever it answers GET; the document describes the GET.
IMPLIED_METHODS = {"HEAD"}
# Described though not under /api/: what another service calls (for Stripe only).
OUTSIDE_API = {STRIPE_WEBHOOK_PATH}


def api_operations(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route under /api/ (and OUTSIDE_API), walking into mounts."""
    for route in routes:
        if isinstance(route, Mount):
            yield from api_operations(route.routes, prefix + route.path)
        elif isinstance(route, Route) and (
            (prefix + route.path).startswith("/api/") or prefix + route.path in OUTSIDE_API
        ):
            for method in sorted((route.methods or set()) - IMPLIED_METHODS):
                yield method.lower(), prefix + route.path


def documented_operations() -> set[tuple[str, str]]:
    http_methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return {
        (method, path)
        for path, item in OPENAPI["paths"].items()
        for method in item
        if method in http_methods
    }


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(OPENAPI, cls=OpenAPIV31SpecValidator)
    assert OPENAPI["openapi"].startswith("3.1.")


def test_every_api_route_is_described_and_nothing_else(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        seed_file="",
        housekeeping_seconds=0,
    )
    served = set(api_operations(create_app(settings).routes))
    documented = documented_operations()
    assert served - documented == set(), "served under /api/ but not in the document"
    assert documented - served == set(), "in the document but not served"


def test_the_document_is_served_as_it_is_written(client: TestClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json() == OPENAPI
    assert_matches_contract("get", "/api/openapi.json", response)


def get_paths(*, secured: bool | None = None) -> list[str]:
    """Paths with a GET; `secured` picks those that need an account (True) or not (False)."""
    return sorted(
        path
        for path, item in OPENAPI["paths"].items()
        if "get" in item and secured in (None, "security" in item["get"])
    )


@pytest.mark.parametrize("path", get_paths(secured=False))
def test_each_get_answers_the_demo_conference_as_documented(client: TestClient, path: str) -> None:
    response = client.get(path.replace("{conference}", DEMO))
    assert response.status_code == 200, response.text[:300]
    assert_matches_contract("get", path, response)


@pytest.mark.parametrize("path", [p for p in get_paths() if "{conference}" in p])
def test_each_get_answers_an_unknown_conference_with_the_documented_404(
    client: TestClient, path: str
) -> None:
    response = client.get(path.replace("{conference}", "no-such-conference"))
    assert response.status_code == 404
    assert_matches_contract("get", path, response)
    assert response.json()["error"] == "not found"


@pytest.mark.parametrize("path", get_paths(secured=True))
def test_each_get_for_organisers_answers_anonymous_requests_with_the_documented_401(
    client: TestClient, path: str
) -> None:
    response = client.get(path.replace("{conference}", DEMO))
    assert response.status_code == 401, response.text[:300]
    assert_matches_contract("get", path, response)


def test_revocations_answer_304_to_the_etag_they_gave(client: TestClient) -> None:
    path = "/api/{conference}/ticket-revocations"
    first = client.get(path.replace("{conference}", DEMO))
    assert_matches_contract("get", path, first)
    again = client.get(
        path.replace("{conference}", DEMO), headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    assert_matches_contract("get", path, again)


REGISTRATIONS = "/api/{conference}/registrations"


def test_a_registration_answers_201_with_the_documented_ticket(client: TestClient) -> None:
    example = OPENAPI["components"]["schemas"]["Registration"]["examples"][0]
    response = client.post(REGISTRATIONS.replace("{conference}", DEMO), json=example)
    assert response.status_code == 201, response.text[:300]
    assert_matches_contract("post", REGISTRATIONS, response)
    ticket = response.json()["ticket"]
    assert ticket["url"] != ticket["manage_url"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "", "email": "not an address", "ticket_type": "waged"}, 422),
        ({"name": "Rosa", "email": "rosa@example.org", "ticket_type": "no-such-type"}, 422),
        (["not", "an", "object"], 400),
        ("{not json", 400),
    ],
)
def test_a_refused_registration_answers_as_documented(
    client: TestClient, body: object, status: int
) -> None:
    url = REGISTRATIONS.replace("{conference}", DEMO)
    if isinstance(body, str):
        response = client.post(url, content=body, headers={"content-type": "application/json"})
    else:
        response = client.post(url, json=body)
    assert response.status_code == status, response.text[:300]
    assert_matches_contract("post", REGISTRATIONS, response)


def test_a_sold_out_ticket_type_answers_the_documented_409(client: TestClient) -> None:
    # The solidarity places exist only as far as top-ups have paid for them: none yet.
    body = {"name": "Rosa", "email": "rosa@example.org", "ticket_type": "solidarity-place"}
    response = client.post(REGISTRATIONS.replace("{conference}", DEMO), json=body)
    assert response.status_code == 409, response.text[:300]
    assert_matches_contract("post", REGISTRATIONS, response)
    assert response.json()["error"] == "sold_out"


def test_a_body_too_large_answers_the_documented_413(client: TestClient) -> None:
    body = {"name": "Rosa", "email": "rosa@example.org", "access_needs": "x" * 100_000}
    response = client.post(REGISTRATIONS.replace("{conference}", DEMO), json=body)
    assert response.status_code == 413, response.text[:300]
    assert_matches_contract("post", REGISTRATIONS, response)


def test_too_many_registrations_answer_the_documented_429(client: TestClient) -> None:
    example = OPENAPI["components"]["schemas"]["Registration"]["examples"][0]
    url = REGISTRATIONS.replace("{conference}", DEMO)
    for _ in range(client.app.state.settings.throttle_registrations_per_email_per_hour):
        assert client.post(url, json=example).status_code == 201
    response = client.post(url, json=example)
    assert response.status_code == 429, response.text[:300]
    assert_matches_contract("post", REGISTRATIONS, response)
    assert int(response.headers["Retry-After"]) >= 1


def test_a_registration_for_an_unknown_conference_answers_404(client: TestClient) -> None:
    example = OPENAPI["components"]["schemas"]["Registration"]["examples"][0]
    response = client.post(
        REGISTRATIONS.replace("{conference}", "no-such-conference"), json=example
    )
    assert response.status_code == 404
    assert_matches_contract("post", REGISTRATIONS, response)


def test_a_forged_host_header_answers_the_documented_400(client: TestClient) -> None:
    path = "/api/{conference}/programme"
    response = client.get(path.replace("{conference}", DEMO), headers={"Host": "evil.example"})
    assert response.status_code == 400, response.text[:300]
    assert_matches_contract("get", path, response)


# --- paying: online, by transfer; a group's order; the organisers' view; Stripe's webhook ----

BANK = {
    "methods": ["bank_transfer", "desk"],
    "bank_account_name": "Socialist Alternative Conference Account",
    "bank_bsb": "062-000",
    "bank_account_number": "1234 5678",
}
ORDERS = "/api/{conference}/orders"
TICKET_TYPES = "/api/{conference}/ticket-types"


def offer_bank_transfer(db: Database, **more: object) -> None:
    """The demo conference takes bank transfers as well as payment at the desk."""
    with db.transaction() as session:
        conference = get_conference(session, DEMO)
        assert conference is not None and conference.id is not None
        save_payment_settings(session, conference.id, **(BANK | more))


def test_ticket_types_list_the_payment_methods_as_documented(
    client: TestClient, db: Database
) -> None:
    offer_bank_transfer(db)
    response = client.get(TICKET_TYPES.replace("{conference}", DEMO))
    assert_matches_contract("get", TICKET_TYPES, response)
    assert response.json()["payment_methods"] == ["bank_transfer", "desk"]


def test_a_registration_paid_by_transfer_answers_its_documented_order(
    client: TestClient, db: Database
) -> None:
    offer_bank_transfer(db)
    example = OPENAPI["components"]["schemas"]["Registration"]["examples"][1]
    assert example["payment_method"] == "bank_transfer"
    response = client.post(REGISTRATIONS.replace("{conference}", DEMO), json=example)
    assert response.status_code == 201, response.text[:300]
    assert_matches_contract("post", REGISTRATIONS, response)
    ticket, order = response.json()["ticket"], response.json()["order"]
    assert ticket["status"] == "reserved"
    assert order["status"] == "reserved" and order["payment_method"] == "bank_transfer"
    assert order["hold_until"] is not None and order["checkout_url"] is None
    assert order["bank_transfer"]["reference"] == order["reference"]
    assert order["bank_transfer"]["bsb"] == "062-000"


def test_a_registration_paid_at_the_desk_answers_no_order(client: TestClient, db: Database) -> None:
    offer_bank_transfer(db)
    body = {"name": "Rosa", "email": "rosa@example.org", "ticket_type": "waged"}
    response = client.post(
        REGISTRATIONS.replace("{conference}", DEMO), json=body | {"payment_method": "desk"}
    )
    assert response.status_code == 201, response.text[:300]
    assert_matches_contract("post", REGISTRATIONS, response)
    assert "order" not in response.json()
    assert response.json()["ticket"]["status"] == "active"


def test_a_payment_method_the_conference_does_not_take_answers_the_documented_422(
    client: TestClient,
) -> None:
    example = OPENAPI["components"]["schemas"]["Registration"]["examples"][1]
    response = client.post(REGISTRATIONS.replace("{conference}", DEMO), json=example)
    assert response.status_code == 422, response.text[:300]
    assert_matches_contract("post", REGISTRATIONS, response)
    assert set(response.json()["fields"]) == {"payment_method"}


def test_the_organisers_list_shows_a_held_place_and_its_payment_as_documented(
    client: TestClient, db: Database
) -> None:
    offer_bank_transfer(db)
    example = OPENAPI["components"]["schemas"]["Registration"]["examples"][1]
    assert client.post(REGISTRATIONS.replace("{conference}", DEMO), json=example).status_code == 201
    token = api_token(db, make_organiser(db))
    response = client.get(
        REGISTRATIONS.replace("{conference}", DEMO),
        params={"status": "reserved"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text[:300]
    assert_matches_contract("get", REGISTRATIONS, response)
    [record] = response.json()["registrations"]
    assert record["status"] == "reserved"
    assert record["payment"]["method"] == "bank_transfer"
    assert record["payment"]["paid_cents"] == 0 and record["payment"]["receipt_numbers"] == []


def test_a_group_paid_by_transfer_answers_its_documented_order_and_tickets(
    client: TestClient, db: Database
) -> None:
    offer_bank_transfer(db)
    body = OPENAPI["components"]["schemas"]["GroupRegistration"]["examples"][0]
    response = client.post(
        ORDERS.replace("{conference}", DEMO), json=body | {"payment_method": "bank_transfer"}
    )
    assert response.status_code == 201, response.text[:300]
    assert_matches_contract("post", ORDERS, response)
    order, tickets = response.json()["order"], response.json()["tickets"]
    assert response.headers["Location"] == order["url"]
    assert order["total_cents"] == 9500 + 3000
    assert order["bank_transfer"]["reference"] == order["reference"]
    assert [t["status"] for t in tickets] == ["reserved", "reserved"]


def test_a_group_paid_at_the_desk_answers_active_tickets_as_documented(
    client: TestClient,
) -> None:
    body = OPENAPI["components"]["schemas"]["GroupRegistration"]["examples"][0]
    response = client.post(ORDERS.replace("{conference}", DEMO), json=body)
    assert response.status_code == 201, response.text[:300]
    assert_matches_contract("post", ORDERS, response)
    order = response.json()["order"]
    assert order["payment_method"] == "desk" and order["hold_until"] is None
    assert order["bank_transfer"] is None and order["checkout_url"] is None
    assert [t["status"] for t in response.json()["tickets"]] == ["active", "active"]


def test_a_group_with_mistakes_answers_the_documented_422_with_field_paths(
    client: TestClient,
) -> None:
    body = {
        "email": "branch@example.org",
        "attendees": [
            {"name": "Ana", "ticket_type": "waged"},
            {"name": "Ben", "email": "not an address", "ticket_type": "waged"},
        ],
    }
    response = client.post(ORDERS.replace("{conference}", DEMO), json=body)
    assert response.status_code == 422, response.text[:300]
    assert_matches_contract("post", ORDERS, response)
    assert set(response.json()["fields"]) == {"attendees.2.email"}


def test_a_group_over_the_documented_limit_answers_422(client: TestClient) -> None:
    most = OPENAPI["components"]["schemas"]["GroupRegistration"]["properties"]["attendees"]
    attendees = [{"name": f"Delegate {n}", "ticket_type": "free"} for n in range(most["maxItems"])]
    url = ORDERS.replace("{conference}", DEMO)
    body = {"email": "branch@example.org", "attendees": attendees}
    assert client.post(url, json=body).status_code == 201
    response = client.post(url, json=body | {"attendees": [*attendees, attendees[0]]})
    assert response.status_code == 422, response.text[:300]
    assert_matches_contract("post", ORDERS, response)
    assert "attendees" in response.json()["fields"]


def test_an_attendee_field_the_api_does_not_take_is_named_never_a_500(
    client: TestClient,
) -> None:
    body = {"email": "branch@example.org", "attendees": [{"row": "x", "ticket_type": "waged"}]}
    response = client.post(ORDERS.replace("{conference}", DEMO), json=body)
    assert response.status_code == 422, response.text[:300]
    assert_matches_contract("post", ORDERS, response)
    assert "attendees.1.row" in response.json()["fields"]


def test_a_group_asking_for_a_sold_out_type_answers_the_documented_409(client: TestClient) -> None:
    body = {
        "email": "branch@example.org",
        "attendees": [
            {"name": "Ana", "ticket_type": "free"},
            {"name": "Ben", "ticket_type": "solidarity-place"},
        ],
    }
    response = client.post(ORDERS.replace("{conference}", DEMO), json=body)
    assert response.status_code == 409, response.text[:300]
    assert_matches_contract("post", ORDERS, response)
    assert response.json()["error"] == "sold_out"


def test_too_many_group_orders_answer_the_documented_429(client: TestClient) -> None:
    body = OPENAPI["components"]["schemas"]["GroupRegistration"]["examples"][0]
    url = ORDERS.replace("{conference}", DEMO)
    for _ in range(client.app.state.settings.throttle_registrations_per_email_per_hour):
        assert client.post(url, json=body).status_code == 201
    response = client.post(url, json=body)
    assert response.status_code == 429, response.text[:300]
    assert_matches_contract("post", ORDERS, response)
    assert int(response.headers["Retry-After"]) >= 1


def test_a_group_order_for_an_unknown_conference_answers_404(client: TestClient) -> None:
    body = OPENAPI["components"]["schemas"]["GroupRegistration"]["examples"][0]
    response = client.post(ORDERS.replace("{conference}", "no-such-conference"), json=body)
    assert response.status_code == 404
    assert_matches_contract("post", ORDERS, response)


def stripe_event(event_type: str, checkout_id: str = "cs_test_1") -> bytes:
    return event_payload(
        {
            "id": f"evt_{event_type}",
            "object": "event",
            "type": event_type,
            "data": {"object": {"id": checkout_id, "object": "checkout.session"}},
        }
    )


def post_to_webhook(client: TestClient, payload: bytes, secret: str) -> AnyResponse:
    """What Stripe sends: the event, signed with the webhook's secret."""
    return client.post(
        STRIPE_WEBHOOK_PATH,
        content=payload,
        headers={
            "Stripe-Signature": signature_header(secret, payload),
            "Content-Type": "application/json",
        },
    )


def offer_stripe(db: Database) -> None:
    offer_bank_transfer(
        db,
        methods=["stripe", "desk"],
        stripe_secret_key="sk_test_openapi",
        stripe_webhook_secret=WEBHOOK_SECRET,
    )


def test_a_webhook_call_signed_by_no_conference_answers_the_documented_400(
    client: TestClient, db: Database
) -> None:
    offer_stripe(db)
    payload = stripe_event("checkout.session.completed")
    response = post_to_webhook(client, payload, "whsec_someone_else")
    assert response.status_code == 400, response.text[:300]
    assert_matches_contract("post", STRIPE_WEBHOOK_PATH, response)
    assert response.json() == {"received": False, "detail": "signature"}


def test_a_signed_webhook_event_answers_the_documented_200(
    client: TestClient, db: Database
) -> None:
    offer_stripe(db)
    payload = stripe_event("customer.created")
    response = post_to_webhook(client, payload, WEBHOOK_SECRET)
    assert response.status_code == 200, response.text[:300]
    assert_matches_contract("post", STRIPE_WEBHOOK_PATH, response)
    assert response.json()["received"] is True


def test_a_webhook_event_stripe_cannot_be_asked_about_answers_the_documented_503(
    settings: Settings, db: Database, client: TestClient
) -> None:
    offer_stripe(db)
    # Stripe's API is nowhere to be reached: the event is to be delivered again later.
    unreachable = settings.with_overrides(stripe_api_base=f"http://127.0.0.1:{free_port()}")
    payload = stripe_event("checkout.session.completed")
    with TestClient(
        create_app(unreachable, clock=app_clock), raise_server_exceptions=False
    ) as stripe_down:
        response = post_to_webhook(stripe_down, payload, WEBHOOK_SECRET)
    assert response.status_code == 503, response.text[:300]
    assert_matches_contract("post", STRIPE_WEBHOOK_PATH, response)
    assert response.json() == {"received": False, "detail": "stripe"}
    assert int(response.headers["Retry-After"]) >= 1


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[StripeStandIn]:
    with StripeStandIn() as stand_in:
        yield stand_in


def test_a_card_payment_answers_stripes_page_and_its_webhook_as_documented(
    settings: Settings, db: Database, demo: LoadReport, stripe_server: StripeStandIn
) -> None:
    stripe_server.reset()
    stripe_server.hold_webhooks()
    offer_bank_transfer(
        db,
        methods=["stripe", "desk"],
        stripe_secret_key=stripe_server.api_key,
        stripe_webhook_secret=stripe_server.webhook_secret,
    )
    app = create_app(
        settings.with_overrides(stripe_api_base=stripe_server.api_base), clock=app_clock
    )
    body = {"name": "Rosa", "email": "rosa@example.org", "ticket_type": "waged"}
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(
            REGISTRATIONS.replace("{conference}", DEMO), json=body | {"payment_method": "stripe"}
        )
        assert response.status_code == 201, response.text[:300]
        assert_matches_contract("post", REGISTRATIONS, response)
        order = response.json()["order"]
        assert order["payment_method"] == "stripe" and order["bank_transfer"] is None
        stripe_server.pay(urlsplit(order["checkout_url"]).path.rsplit("/", 1)[1])
        replies = stripe_server.deliver_all(
            to=lambda payload, signature: client.post(
                STRIPE_WEBHOOK_PATH,
                content=payload,
                headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
            )
        )
    assert replies
    for reply in replies:
        assert reply.status_code == 200, reply.text[:300]
        assert_matches_contract("post", STRIPE_WEBHOOK_PATH, reply)
    assert {"received": True, "detail": "paid"} in [reply.json() for reply in replies]


def test_a_webhook_body_too_large_answers_the_documented_413(client: TestClient) -> None:
    payload = json.dumps({"id": "evt_big", "padding": "x" * 100_000}).encode()
    for accept in ("application/json", "*/*"):
        response = client.post(
            STRIPE_WEBHOOK_PATH,
            content=payload,
            headers={"Stripe-Signature": "t=1,v1=0", "Accept": accept},
        )
        assert response.status_code == 413, response.text[:300]
        assert_matches_contract("post", STRIPE_WEBHOOK_PATH, response)


def test_a_webhook_call_with_a_forged_host_header_answers_the_documented_400(
    client: TestClient,
) -> None:
    response = client.post(STRIPE_WEBHOOK_PATH, content=b"{}", headers={"Host": "evil.example"})
    assert response.status_code == 400, response.text[:300]
    assert_matches_contract("post", STRIPE_WEBHOOK_PATH, response)
