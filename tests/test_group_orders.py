"""A group pays once for several tickets: a union branch for its delegates, a comrade for
friends. One order, one payment and one receipt; each attendee their own ticket, QR code and
management link, mailed to them once it is paid; the payer follows it all on the order's page."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.db import Database
from confapp.models import (
    ManageLink,
    Order,
    OrderItem,
    OrderStatus,
    OutboxMail,
    Receipt,
    Registration,
    RegistrationStatus,
    TicketType,
)
from confapp.programme.conference_file import LoadReport
from confapp.programme.queries import get_conference
from confapp.registration.orders import save_payment_settings
from confapp.settings import Settings
from tests.conftest import app_clock
from tests.support import DEMO
from tests.support.stripe_standin import StripeStandIn


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[StripeStandIn]:
    with StripeStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def group_client(
    settings: Settings, demo: LoadReport, db: Database, stripe_server: StripeStandIn
) -> Iterator[TestClient]:
    stripe_server.reset()
    stripe_server.hold_webhooks()
    with db.transaction() as session:
        conference = get_conference(session, DEMO)
        assert conference is not None and conference.id is not None
        save_payment_settings(
            session,
            conference.id,
            methods=["stripe", "bank_transfer", "desk"],
            stripe_secret_key=stripe_server.api_key,
            stripe_webhook_secret=stripe_server.webhook_secret,
            bank_account_name="Socialism Conference",
            bank_bsb="062-000",
            bank_account_number="12345678",
        )
    app = create_app(
        settings.with_overrides(stripe_api_base=stripe_server.api_base), clock=app_clock
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


DELEGATES = [
    {"name": "Ana", "email": "ana@example.org", "ticket_type": "waged"},
    {"name": "Ben", "email": "ben@example.org", "ticket_type": "concession"},
    {"name": "Chen", "ticket_type": "pay-what-you-can", "amount": "30"},
]


def mails(db: Database) -> list[OutboxMail]:
    with db.read() as session:
        return list(session.exec(select(OutboxMail)).all())


def test_a_union_branch_pays_by_card_for_three_delegates_each_with_their_own_ticket(
    group_client: TestClient, db: Database, stripe_server: StripeStandIn
) -> None:
    answer = group_client.post(
        f"/api/{DEMO}/orders",
        json={
            "payer_name": "CFMEU Victorian branch",
            "email": "branch@example.org",
            "payment_method": "stripe",
            "attendees": DELEGATES,
        },
    )
    assert answer.status_code == 201, answer.text
    order, tickets = answer.json()["order"], answer.json()["tickets"]
    assert order["total_cents"] == 9500 + 4500 + 3000
    assert [t["status"] for t in tickets] == ["reserved"] * 3
    assert len({t["code"] for t in tickets}) == 3
    assert len({t["manage_url"] for t in tickets}) == 3
    checkout = urlsplit(order["checkout_url"]).path.rsplit("/", 1)[1]
    at_stripe = stripe_server.client().v1.checkout.sessions.retrieve(checkout)
    assert at_stripe.amount_total == 17000

    stripe_server.pay(checkout)
    replies = stripe_server.deliver_all(
        to=lambda body, signature: group_client.post(
            "/payments/stripe/webhook",
            content=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
    )
    assert all(r.status_code == 200 for r in replies)
    with db.read() as session:
        registrations = session.exec(select(Registration).order_by(Registration.id)).all()
        receipts = session.exec(select(Receipt)).all()
    assert [r.status for r in registrations] == [RegistrationStatus.active.value] * 3
    # Chen gave no address: the ticket goes to the branch.
    assert [r.email for r in registrations] == [
        "ana@example.org",
        "ben@example.org",
        "branch@example.org",
    ]
    assert [(m.kind, m.registration_id) for m in mails(db) if m.kind == "order_paid"] == [
        ("order_paid", None)
    ]
    ticket_mails = [m for m in mails(db) if m.kind == "ticket"]
    assert sorted(m.registration_id or 0 for m in ticket_mails) == sorted(
        r.id or 0 for r in registrations
    )
    assert len(receipts) == 1
    assert receipts[0].payer_name == "CFMEU Victorian branch"
    assert receipts[0].amount_cents == 17000
    assert len(receipts[0].lines) == 3

    page = group_client.get(urlsplit(order["url"]).path)
    assert page.status_code == 200
    assert "CFMEU Victorian branch" in page.text
    assert all(t["code"] in page.text for t in tickets)
    assert "No. 1" in page.text


def test_a_group_paying_by_transfer_mails_the_payer_how_to_pay(
    group_client: TestClient, db: Database
) -> None:
    answer = group_client.post(
        f"/api/{DEMO}/orders",
        json={
            "email": "ana@example.org",
            "payment_method": "bank_transfer",
            "attendees": DELEGATES,
        },
    )
    assert answer.status_code == 201, answer.text
    order = answer.json()["order"]
    assert order["bank_transfer"]["reference"] == order["reference"]
    sent = mails(db)
    assert [(m.kind, m.registration_id) for m in sent] == [("transfer_details", None)]
    with db.read() as session:
        stored = session.exec(select(Order)).one()
    assert stored.payer_name == "Ana"  # no organisation given: the first attendee
    assert stored.status == OrderStatus.reserved.value


def test_one_place_short_for_a_group_writes_nothing(group_client: TestClient, db: Database) -> None:
    with db.transaction() as session:
        concession = session.exec(select(TicketType).where(TicketType.code == "concession")).one()
        concession.capacity = concession.places_taken
        session.add(concession)
    answer = group_client.post(
        f"/api/{DEMO}/orders",
        json={
            "email": "ana@example.org",
            "payment_method": "bank_transfer",
            "attendees": DELEGATES,
        },
    )
    assert answer.status_code == 409
    with db.read() as session:
        assert session.exec(select(Registration)).all() == []
        assert session.exec(select(Order)).all() == []
        assert session.exec(select(OrderItem)).all() == []
        assert session.exec(select(ManageLink)).all() == []


def test_the_group_form_shows_each_mistake_beside_its_field_and_keeps_what_was_typed(
    group_client: TestClient, db: Database
) -> None:
    form = group_client.get(f"/{DEMO}/register/group")
    assert form.status_code == 200
    refused = group_client.post(
        f"/{DEMO}/register/group",
        data={
            "payer_name": "Friends of Ana",
            "email": "ana@example.org",
            "payment_method": "bank_transfer",
            "attendee1_name": "Ana",
            "attendee1_ticket_type": "waged",
            "attendee2_name": "Ben",
            "attendee2_email": "not an address",
            "attendee2_ticket_type": "waged",
        },
    )
    assert refused.status_code == 422
    assert 'id="attendee2_email-error"' in refused.text
    assert 'value="not an address"' in refused.text
    assert 'value="Friends of Ana"' in refused.text
    with db.read() as session:
        assert session.exec(select(Registration)).all() == []

    done = group_client.post(
        f"/{DEMO}/register/group",
        data={
            "payer_name": "Friends of Ana",
            "email": "ana@example.org",
            "payment_method": "bank_transfer",
            "attendee1_name": "Ana",
            "attendee1_ticket_type": "waged",
            "attendee2_name": "Ben",
            "attendee2_email": "ben@example.org",
            "attendee2_ticket_type": "free",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = group_client.get(done.headers["location"])
    assert "The group is registered." in page.text
    assert "12345678" in page.text


def test_a_group_of_free_tickets_is_issued_at_once(group_client: TestClient, db: Database) -> None:
    answer = group_client.post(
        f"/api/{DEMO}/orders",
        json={
            "email": "ana@example.org",
            "attendees": [
                {"name": "Ana", "ticket_type": "free"},
                {"name": "Ben", "email": "ben@example.org", "ticket_type": "free"},
            ],
        },
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["order"]["status"] == "paid"
    assert [t["status"] for t in answer.json()["tickets"]] == ["active", "active"]
    assert sorted(m.kind for m in mails(db)) == ["ticket", "ticket"]


def test_an_order_body_names_each_mistake_by_its_path(group_client: TestClient) -> None:
    answer = group_client.post(
        f"/api/{DEMO}/orders",
        json={
            "email": "ana@example.org",
            "attendees": [{"name": "Ana", "ticket_type": "nope", "shoe_size": 42}],
            "colour": "red",
        },
    )
    assert answer.status_code == 422
    fields = answer.json()["fields"]
    assert set(fields) == {"colour", "attendees.1.shoe_size", "attendees.1.ticket_type"}


def test_erasing_the_group_takes_names_out_of_its_receipt_and_order(
    group_client: TestClient, db: Database, stripe_server: StripeStandIn
) -> None:
    from confapp.registration.privacy import erase_attendee, purge_expired_personal_data
    from confapp.times import utcnow

    answer = group_client.post(
        f"/api/{DEMO}/orders",
        json={
            "payer_name": "CFMEU Victorian branch",
            "email": "branch@example.org",
            "payment_method": "stripe",
            "attendees": DELEGATES[:2],
        },
    )
    checkout = urlsplit(answer.json()["order"]["checkout_url"]).path.rsplit("/", 1)[1]
    stripe_server.pay(checkout)
    stripe_server.deliver_all(
        to=lambda body, signature: group_client.post(
            "/payments/stripe/webhook",
            content=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
    )
    with db.read() as session:
        ana = session.exec(select(Registration).where(Registration.name == "Ana")).one()
    assert erase_attendee(db, ana.id or 0)
    with db.read() as session:
        receipt = session.exec(select(Receipt)).one()
    descriptions = " ".join(line["description"] for line in receipt.lines)
    assert "Ana" not in descriptions and "Ben" in descriptions
    assert receipt.payer_name == "CFMEU Victorian branch"  # one delegate still there

    purge_expired_personal_data(db, now=utcnow().replace(year=utcnow().year + 3))
    with db.read() as session:
        receipt = session.exec(select(Receipt)).one()
        order = session.exec(select(Order)).one()
    assert "Ben" not in " ".join(line["description"] for line in receipt.lines)
    assert (receipt.payer_name, order.payer_name, order.email) == ("", "", "")
    assert receipt.amount_cents == 14000 and receipt.number == 1  # the books keep the money
    assert group_client.get(urlsplit(answer.json()["order"]["url"]).path).status_code == 404


def test_a_payer_cannot_sign_a_group_up_to_programme_mail(
    group_client: TestClient, db: Database
) -> None:
    answer = group_client.post(
        f"/api/{DEMO}/orders",
        json={
            "email": "branch@example.org",
            "payment_method": "desk",
            "email_consent": True,
            "attendees": DELEGATES[:1],
        },
    )
    assert answer.status_code == 422
    assert "email_consent" in answer.json()["fields"]
    with db.read() as session:
        assert session.exec(select(Registration)).all() == []

    form = group_client.get(f"/{DEMO}/register/group")
    assert "email_consent" not in form.text
    registered = group_client.post(
        f"/api/{DEMO}/orders",
        json={"email": "branch@example.org", "payment_method": "desk", "attendees": DELEGATES[:1]},
    )
    assert registered.status_code == 201
    with db.read() as session:
        assert [r.email_consent for r in session.exec(select(Registration)).all()] == [False]
