"""Paying by card on Stripe's hosted page, against a local Stripe (tests/support/stripe_standin):
the person is sent to pay after the form, comes back to a paid ticket and a receipt; the way
back and the webhook confirm it once between them, whichever comes first or both at once, and
a webhook delivered twice, late or out of order changes nothing more; money that arrives after
the place has gone is refunded once, never both a refund and a ticket."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.db import Database
from confapp.models import (
    Order,
    OrderStatus,
    OutboxMail,
    Payment,
    PaymentState,
    Receipt,
    Refund,
    RefundSource,
    Registration,
    RegistrationStatus,
    TicketType,
)
from confapp.programme.conference_file import LoadReport
from confapp.programme.queries import get_conference
from confapp.registration.orders import save_payment_settings
from confapp.registration.payments import (
    confirm_return,
    handle_stripe_webhook,
    release_ended_holds,
)
from confapp.registration.service import expire_order
from confapp.registration.stripe_gateway import StripeAccount
from confapp.settings import Settings
from confapp.times import utcnow
from tests.conftest import app_clock
from tests.support import DEMO
from tests.support.stripe_standin import PaymentDeclined, StripeStandIn

DECLINED_CARD = "4000000000000002"


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[StripeStandIn]:
    with StripeStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def stripe(stripe_server: StripeStandIn) -> StripeStandIn:
    stripe_server.reset()
    stripe_server.hold_webhooks()  # each test delivers them when its story says
    return stripe_server


@pytest.fixture
def card_client(
    settings: Settings, demo: LoadReport, db: Database, stripe: StripeStandIn
) -> Iterator[TestClient]:
    """The demo conference taking cards (and transfers), its Stripe at the stand-in."""
    with db.transaction() as session:
        conference = get_conference(session, DEMO)
        assert conference is not None and conference.id is not None
        save_payment_settings(
            session,
            conference.id,
            methods=["stripe", "desk"],
            stripe_secret_key=stripe.api_key,
            stripe_webhook_secret=stripe.webhook_secret,
        )
    app = create_app(settings.with_overrides(stripe_api_base=stripe.api_base), clock=app_clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def webhook_to(client: TestClient) -> Any:
    def post(body: bytes, signature: str) -> Any:
        return client.post(
            "/payments/stripe/webhook",
            content=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )

    return post


def register_by_card(client: TestClient, name: str = "Nadia", ticket_type: str = "waged") -> str:
    """Fill in the form, choose card: the address of Stripe's page the form sends one to."""
    answer = client.post(
        f"/{DEMO}/register",
        data={
            "name": name,
            "email": f"{name.lower()}@example.org",
            "ticket_type": ticket_type,
            "payment_method": "stripe",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def checkout_id(stripe_page: str) -> str:
    return urlsplit(stripe_page).path.rsplit("/", 1)[1]


def come_back(client: TestClient, success_url: str) -> Any:
    parts = urlsplit(success_url)
    return client.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def mails(db: Database, kind: str) -> list[OutboxMail]:
    with db.read() as session:
        return list(session.exec(select(OutboxMail).where(OutboxMail.kind == kind)).all())


def the_payment(db: Database) -> Payment:
    with db.read() as session:
        return session.exec(select(Payment)).one()


def the_order(db: Database) -> Order:
    with db.read() as session:
        return session.exec(select(Order)).one()


def count(db: Database, model: Any) -> int:
    with db.read() as session:
        return len(session.exec(select(model)).all())


def test_a_person_pays_by_card_and_comes_back_to_a_paid_ticket_and_a_receipt(
    card_client: TestClient, db: Database, stripe: StripeStandIn
) -> None:
    stripe_page = register_by_card(card_client)
    assert stripe_page.startswith(stripe.api_base + "/checkout/cs_")
    order = the_order(db)
    assert order.status == OrderStatus.reserved.value
    assert order.total_cents == 9500
    assert mails(db, "ticket") == []  # nothing to show at the door until it is paid

    session = stripe.client().v1.checkout.sessions.retrieve(checkout_id(stripe_page))
    assert session.amount_total == 9500 and session.currency == "aud"
    assert session.customer_email == "nadia@example.org"
    # Stripe is never given the key to the ticket page: only the payment's number.
    assert "my-ticket" not in session.success_url

    back = come_back(card_client, stripe.pay(checkout_id(stripe_page)))
    assert back.status_code == 303
    ticket_page = card_client.get(back.headers["location"])
    assert "Thank you: your payment has arrived." in ticket_page.text
    assert "ticket-qr" in ticket_page.text
    assert "No. 1" in ticket_page.text  # the receipt
    assert the_payment(db).state == PaymentState.confirmed.value
    assert the_order(db).status == OrderStatus.paid.value
    assert len(mails(db, "ticket")) == 1

    # Stripe's webhook for it arrives after, twice: nothing more happens.
    answers = stripe.deliver_all(to=webhook_to(card_client))
    answers += stripe.deliver_all(to=webhook_to(card_client))
    assert all(a.status_code == 200 for a in answers)
    completed = stripe.events("checkout.session.completed")
    assert len(completed) == 1
    again = stripe.deliver(completed[0], times=2, to=webhook_to(card_client))
    assert [a.json()["detail"] for a in again] == ["duplicate", "duplicate"]
    assert len(mails(db, "ticket")) == 1
    assert count(db, Receipt) == 1


def test_the_webhook_first_then_the_way_back_confirm_once(
    card_client: TestClient, db: Database, stripe: StripeStandIn
) -> None:
    stripe_page = register_by_card(card_client)
    success_url = stripe.pay(checkout_id(stripe_page))
    answers = stripe.deliver_all(reverse=True, to=webhook_to(card_client))  # out of order
    assert all(a.status_code == 200 for a in answers)
    assert the_order(db).status == OrderStatus.paid.value
    back = come_back(card_client, success_url)
    assert back.status_code == 303 and "paid=1" in back.headers["location"]
    assert len(mails(db, "ticket")) == 1
    assert count(db, Receipt) == 1


def test_the_way_back_and_the_webhook_at_the_same_moment_confirm_once(
    card_client: TestClient, db: Database, stripe: StripeStandIn
) -> None:
    stripe_page = register_by_card(card_client)
    stripe.pay(checkout_id(stripe_page))
    completed = stripe.events("checkout.session.completed")[0]
    body, signature = stripe.signed(completed)
    payment = the_payment(db)
    assert payment.id is not None
    account = StripeAccount(stripe.api_key, stripe.api_base)
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def the_way_back() -> None:
        start.wait()
        outcomes.append(
            confirm_return(db, account, payment.id or 0, checkout_id(stripe_page)).outcome
        )

    def the_webhook() -> None:
        start.wait()
        for _ in range(20):  # Stripe retries a 503 until it has an answer
            answer = handle_stripe_webhook(db, stripe.api_base, body, signature)
            if answer.status_code != 503:
                outcomes.append(answer.detail)
                return

    threads = [threading.Thread(target=t) for t in (the_way_back, the_webhook) * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("paid") == 1, outcomes
    assert len(outcomes) == 4
    assert len(mails(db, "ticket")) == 1
    assert count(db, Receipt) == 1


def test_a_double_click_on_pay_goes_back_to_the_same_stripe_page(
    card_client: TestClient, db: Database, stripe: StripeStandIn
) -> None:
    stripe_page = register_by_card(card_client)
    with db.read() as session:
        registration = session.exec(select(Registration)).one()
    # The ticket page's button, pressed twice.
    ticket_page = card_client.get(
        "/payments/stripe/back/" + str(the_payment(db).id), follow_redirects=False
    ).headers["location"]
    assert registration.status == RegistrationStatus.reserved.value
    pay_path = ticket_page.split("?")[0] + "/pay"
    first = card_client.post(pay_path, follow_redirects=False)
    second = card_client.post(pay_path, follow_redirects=False)
    assert first.headers["location"] == second.headers["location"] == stripe_page
    assert count(db, Payment) == 1
    assert len(stripe.client().v1.checkout.sessions.list().data) == 1


def test_a_declined_card_leaves_the_place_held_and_another_card_pays(
    card_client: TestClient, db: Database, stripe: StripeStandIn
) -> None:
    stripe_page = register_by_card(card_client)
    with pytest.raises(PaymentDeclined):
        stripe.pay(checkout_id(stripe_page), card=DECLINED_CARD)
    assert the_order(db).status == OrderStatus.reserved.value
    come_back(card_client, stripe.pay(checkout_id(stripe_page)))
    assert the_order(db).status == OrderStatus.paid.value


def test_a_hold_that_ends_closes_stripes_page_and_gives_the_place_back(
    card_client: TestClient, db: Database, stripe: StripeStandIn
) -> None:
    stripe_page = register_by_card(card_client)
    with db.read() as session:
        waged = session.exec(select(TicketType).where(TicketType.code == "waged")).one()
        taken = waged.places_taken
    report = release_ended_holds(db, stripe.api_base, now=utcnow() + timedelta(minutes=31))
    assert report.expired == 1
    assert stripe.client().v1.checkout.sessions.retrieve(checkout_id(stripe_page)).status == (
        "expired"
    )
    with pytest.raises(Exception, match="(?i)expired|no longer"):
        stripe.pay(checkout_id(stripe_page))
    with db.read() as session:
        waged = session.exec(select(TicketType).where(TicketType.code == "waged")).one()
        assert waged.places_taken == taken - 1
    assert the_payment(db).state == PaymentState.cancelled.value
    assert len(mails(db, "hold_ended")) == 1
    # Its webhook, delivered late, changes nothing.
    stripe.deliver_all(to=webhook_to(card_client))
    assert the_order(db).status == OrderStatus.expired.value


def _fill_the_ticket_type(db: Database, code: str = "waged") -> None:
    with db.transaction() as session:
        ticket_type = session.exec(select(TicketType).where(TicketType.code == code)).one()
        ticket_type.capacity = ticket_type.places_taken
        session.add(ticket_type)


def test_money_after_the_hold_ended_with_no_place_left_is_refunded_exactly_once(
    card_client: TestClient, db: Database, stripe: StripeStandIn
) -> None:
    stripe_page = register_by_card(card_client)
    success_url = stripe.pay(checkout_id(stripe_page))
    # The hold ended just before the money arrived, and the place was taken by someone else.
    with db.transaction() as session:
        assert expire_order(session, the_order(db).id or 0, utcnow())
    _fill_the_ticket_type(db)

    answers = stripe.deliver_all(to=webhook_to(card_client))
    answers += stripe.deliver(
        stripe.events("checkout.session.completed")[0], times=2, to=webhook_to(card_client)
    )
    assert all(a.status_code == 200 for a in answers)
    back = come_back(card_client, success_url)
    assert "payment=refunded" in back.headers["location"]

    with db.read() as session:
        refunds = session.exec(select(Refund)).all()
        registration = session.exec(select(Registration)).one()
    assert len(refunds) == 1
    assert refunds[0].source == RefundSource.automatic.value
    assert refunds[0].amount_cents == 9500
    assert registration.status == RegistrationStatus.expired.value
    assert mails(db, "ticket") == []
    assert len(mails(db, "payment_refunded")) == 1
    at_stripe = stripe.client().v1.refunds.list(
        params={"payment_intent": the_payment(db).provider_payment_id or ""}
    )
    assert len(at_stripe.data) == 1 and at_stripe.data[0].amount == 9500


def test_money_after_the_hold_ended_takes_the_place_again_if_it_is_free(
    card_client: TestClient, db: Database, stripe: StripeStandIn
) -> None:
    stripe_page = register_by_card(card_client)
    stripe.pay(checkout_id(stripe_page))
    with db.transaction() as session:
        assert expire_order(session, the_order(db).id or 0, utcnow())
    stripe.deliver_all(to=webhook_to(card_client))
    with db.read() as session:
        registration = session.exec(select(Registration)).one()
    assert registration.status == RegistrationStatus.active.value
    assert the_order(db).status == OrderStatus.paid.value
    assert count(db, Refund) == 0
    assert len(mails(db, "ticket")) == 1


def test_a_refund_made_in_stripes_dashboard_is_recorded_as_external(
    card_client: TestClient, db: Database, stripe: StripeStandIn
) -> None:
    stripe_page = register_by_card(card_client)
    come_back(card_client, stripe.pay(checkout_id(stripe_page)))
    stripe.deliver_all(to=webhook_to(card_client))
    stripe.refund_in_dashboard(the_payment(db).provider_payment_id or "", amount=4500)
    answers = stripe.deliver_all(to=webhook_to(card_client))
    answers += stripe.deliver_all(to=webhook_to(card_client))
    assert all(a.status_code == 200 for a in answers)
    with db.read() as session:
        refunds = session.exec(select(Refund)).all()
    assert [(r.source, r.amount_cents) for r in refunds] == [(RefundSource.external.value, 4500)]
    payment = the_payment(db)
    assert payment.state == PaymentState.partially_refunded.value
    assert payment.refunded_cents == 4500


def test_a_webhook_with_a_bad_signature_is_refused_and_changes_nothing(
    card_client: TestClient, db: Database, stripe: StripeStandIn
) -> None:
    stripe_page = register_by_card(card_client)
    stripe.pay(checkout_id(stripe_page))
    body, _signature = stripe.signed(stripe.events("checkout.session.completed")[0])
    forged = card_client.post(
        "/payments/stripe/webhook",
        content=body,
        headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"},
    )
    assert forged.status_code == 400
    assert the_order(db).status == OrderStatus.reserved.value


def test_a_webhook_that_cannot_have_the_lock_answers_503_so_stripe_retries(
    card_client: TestClient, db: Database, stripe: StripeStandIn, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no row locks: its writers queue behind one another")
    stripe_page = register_by_card(card_client)
    stripe.pay(checkout_id(stripe_page))
    event = stripe.events("checkout.session.completed")[0]
    payment_id = the_payment(db).id
    with db.engine.connect() as holder:
        holder.execute(text("SELECT id FROM payment WHERE id = :id FOR UPDATE"), {"id": payment_id})
        busy = stripe.deliver(event, to=webhook_to(card_client))[0]
        assert busy.status_code == 503
        holder.rollback()
    assert the_order(db).status == OrderStatus.reserved.value
    retried = stripe.deliver(event, to=webhook_to(card_client))[0]
    assert retried.status_code == 200
    assert the_order(db).status == OrderStatus.paid.value


def test_an_organiser_refunds_part_of_a_card_payment_from_the_registration_page(
    card_client: TestClient, db: Database, stripe: StripeStandIn
) -> None:
    from tests.support.accounts import audit_actions, csrf_token, sign_in_organiser

    stripe_page = register_by_card(card_client)
    come_back(card_client, stripe.pay(checkout_id(stripe_page)))
    with db.read() as session:
        code = session.exec(select(Registration)).one().ticket_code
    sign_in_organiser(card_client, db)
    page_path = f"/admin/{DEMO}/registrations/{code}"
    page = card_client.get(page_path)
    assert "refund_amount" in page.text
    payment = the_payment(db)

    too_much = card_client.post(
        page_path,
        data={
            "csrf_token": csrf_token(card_client),
            "action": "refund",
            "payment_id": str(payment.id),
            "refund_amount": "200",
            "refund_reason": "Could only come one day",
        },
    )
    assert too_much.status_code == 422
    assert 'id="refund_amount-error"' in too_much.text
    assert "Could only come one day" in too_much.text  # what was typed stays

    done = card_client.post(
        page_path,
        data={
            "csrf_token": csrf_token(card_client),
            "action": "refund",
            "payment_id": str(payment.id),
            "refund_amount": "45",
            "refund_reason": "Could only come one day",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    payment = the_payment(db)
    assert payment.refunded_cents == 4500
    assert payment.state == PaymentState.partially_refunded.value
    at_stripe = stripe.client().v1.refunds.list(
        params={"payment_intent": payment.provider_payment_id or ""}
    )
    assert [r.amount for r in at_stripe.data] == [4500]
    assert "refunded" in audit_actions(db)
    # Stripe's webhooks about it add nothing: the refund is already ours.
    stripe.deliver_all(to=webhook_to(card_client))
    assert count(db, Refund) == 1


def _refund_policy(db: Database, **values: object) -> None:
    with db.transaction() as session:
        conference = get_conference(session, DEMO)
        assert conference is not None and conference.id is not None
        save_payment_settings(session, conference.id, **values)


def test_an_attendee_who_cancels_before_the_refund_date_gets_their_money_back(
    card_client: TestClient, db: Database, stripe: StripeStandIn
) -> None:
    from datetime import date

    _refund_policy(db, refund_policy="until", refund_until=date(2099, 1, 1))
    stripe_page = register_by_card(card_client)
    back = come_back(card_client, stripe.pay(checkout_id(stripe_page)))
    ticket_page = back.headers["location"].split("?")[0]
    cancel_page = card_client.get(ticket_page + "/cancel")
    assert "gives you back $95" in cancel_page.text
    card_client.post(ticket_page + "/cancel", data={}, follow_redirects=False)
    with db.read() as session:
        refunds = session.exec(select(Refund)).all()
        registration = session.exec(select(Registration)).one()
    assert [(r.source, r.amount_cents, r.state) for r in refunds] == [
        (RefundSource.attendee.value, 9500, "succeeded")
    ]
    assert registration.status == RegistrationStatus.cancelled.value
    assert registration.payment_status == "refunded"


def test_with_no_refund_policy_the_cancel_page_says_so_and_nothing_is_refunded(
    card_client: TestClient, db: Database, stripe: StripeStandIn
) -> None:
    stripe_page = register_by_card(card_client)
    back = come_back(card_client, stripe.pay(checkout_id(stripe_page)))
    ticket_page = back.headers["location"].split("?")[0]
    assert "cancelling gives no money back" in card_client.get(ticket_page + "/cancel").text
    card_client.post(ticket_page + "/cancel", data={}, follow_redirects=False)
    assert count(db, Refund) == 0
