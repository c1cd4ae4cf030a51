"""Money for an online order that comes another way: a person pays their held place in cash at
the desk, a transfer shows up in the bank without a statement upload, a union branch hands over
a cheque for its delegates. The desk records it on the registration's page; the order is paid as
if the money had come online: one payment row, a receipt, the tickets issued and mailed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.db import Database
from confapp.models import (
    AuditEntry,
    Order,
    OrderStatus,
    OutboxMail,
    Payment,
    PaymentStatus,
    Receipt,
    Registration,
    RegistrationStatus,
    Voucher,
)
from confapp.programme.conference_file import LoadReport
from confapp.programme.queries import get_conference
from confapp.registration.group_form import check_group
from confapp.registration.orders import offered_methods, payment_settings, save_payment_settings
from confapp.registration.payments import release_ended_holds
from confapp.registration.places import ticket_offers
from confapp.registration.service import register_group
from confapp.registration.voucher_setup import VoucherSpec, create_vouchers
from confapp.settings import Settings
from confapp.times import utcnow
from tests.conftest import app_clock
from tests.support import DEMO
from tests.support.accounts import api_token, csrf_token, make_organiser, sign_in_organiser
from tests.support.registrations import register_person


@pytest.fixture
def desk(settings: Settings, demo: LoadReport, db: Database) -> Iterator[TestClient]:
    """An organiser signed in at the desk of a conference that takes transfers."""
    with db.transaction() as session:
        conference = get_conference(session, DEMO)
        assert conference is not None and conference.id is not None
        save_payment_settings(
            session,
            conference.id,
            methods=["bank_transfer", "desk"],
            bank_account_name="Socialism Conference",
            bank_bsb="062-000",
            bank_account_number="12345678",
        )
    with TestClient(create_app(settings, clock=app_clock), raise_server_exceptions=False) as c:
        sign_in_organiser(c, db)
        yield c


def held_by_transfer(db: Database, name: str = "Rosa") -> Registration:
    registered = register_person(
        db,
        name=name,
        email=f"{name.lower()}@example.org",
        ticket_type="waged",
        payment_method="bank_transfer",
    )
    return registered.ticket.registration


def group_by_transfer(db: Database) -> list[Registration]:
    with db.read() as session:
        conference = get_conference(session, DEMO)
        assert conference is not None and conference.id is not None
        offers = ticket_offers(session, conference)
        methods = offered_methods(payment_settings(session, conference.id))
    rows = [
        {"row": 1, "name": "Ana", "email": "ana@example.org", "ticket_type": "waged"},
        {"row": 2, "name": "Ben", "email": "ben@example.org", "ticket_type": "concession"},
    ]
    payer = {
        "payer_name": "CFMEU Victorian branch",
        "email": "branch@example.org",
        "payment_method": "bank_transfer",
    }
    clean, errors = check_group(payer, rows, offers, conference, methods)
    assert clean is not None, errors
    group = register_group(db, conference.id, clean.payer, clean.attendees)
    return [t.registration for t in group.tickets]


def page_of(registration: Registration) -> str:
    return f"/admin/{DEMO}/registrations/{registration.ticket_code}"


def now_of(db: Database, registration: Registration) -> Registration:
    with db.read() as session:
        found = session.get(Registration, registration.id)
    assert found is not None
    return found


def the_orders(db: Database) -> list[Order]:
    with db.read() as session:
        return list(session.exec(select(Order)).all())


def rows(db: Database, model: type) -> list:
    with db.read() as session:
        return list(session.exec(select(model)).all())


def test_marking_a_held_place_paid_at_the_desk_pays_its_order_with_a_receipt(
    desk: TestClient, db: Database
) -> None:
    rosa = held_by_transfer(db)
    page = desk.get(page_of(rosa))
    assert "Place held, waiting for payment" in page.text
    assert "Record payment of" in page.text

    paid = desk.post(
        page_of(rosa),
        data={"csrf_token": csrf_token(desk), "action": "payment", "payment_status": "paid"},
    )
    assert paid.status_code == 200  # followed to the page again
    rosa = now_of(db, rosa)
    assert (rosa.status, rosa.payment_status) == (
        RegistrationStatus.active.value,
        PaymentStatus.paid.value,
    )
    (order,) = the_orders(db)
    assert order.status == OrderStatus.paid.value
    (payment,) = rows(db, Payment)
    assert (payment.method, payment.state, payment.amount_cents) == ("desk", "confirmed", 9500)
    (receipt,) = rows(db, Receipt)
    assert receipt.amount_cents == 9500 and receipt.payer_name == "Rosa"
    assert [m.kind for m in rows(db, OutboxMail) if m.registration_id == rosa.id].count(
        "ticket"
    ) == 1
    assert "recorded payment of order" in [a.action for a in rows(db, AuditEntry)]
    # The hold ending later changes nothing: the place is paid for.
    assert release_ended_holds(db, "", utcnow() + timedelta(days=30)).expired == 0
    assert now_of(db, rosa).status == RegistrationStatus.active.value


def test_a_transfer_seen_in_the_bank_is_recorded_from_the_order_box_once(
    desk: TestClient, db: Database
) -> None:
    rosa = held_by_transfer(db)
    token = csrf_token(desk)
    form = {"csrf_token": token, "action": "order_payment", "received_by": "bank_transfer"}
    recorded = desk.post(page_of(rosa), data=form)
    assert recorded.status_code == 200
    assert "the order is paid and its tickets are on their way" in recorded.text
    (payment,) = rows(db, Payment)
    assert payment.method == "bank_transfer"

    assert "Record payment of" not in desk.get(page_of(rosa)).text
    stale = desk.post(page_of(rosa), data=form)  # a second click from a page left open
    assert stale.status_code == 409
    assert "is paid already" in stale.text
    assert len(rows(db, Payment)) == 1 and len(rows(db, Receipt)) == 1


def test_the_order_box_says_what_is_missing_and_keeps_the_page(
    desk: TestClient, db: Database
) -> None:
    rosa = held_by_transfer(db)
    refused = desk.post(
        page_of(rosa),
        data={"csrf_token": csrf_token(desk), "action": "order_payment", "received_by": "barter"},
    )
    assert refused.status_code == 409
    assert 'id="received_by-error"' in refused.text
    assert "at the desk, or by bank transfer" in refused.text
    assert rows(db, Payment) == []


def test_a_groups_place_is_paid_with_its_whole_order_not_one_delegate_at_a_time(
    desk: TestClient, db: Database
) -> None:
    ana, ben = group_by_transfer(db)
    page = desk.get(page_of(ana)).text
    assert "Places in this order: 2" in page
    code = ben.ticket_code
    assert f'href="/admin/{DEMO}/registrations/{code[:4]}-{code[4:8]}-{code[8:]}">Ben</a>' in page
    one = desk.post(
        page_of(ana),
        data={"csrf_token": csrf_token(desk), "action": "payment", "payment_status": "paid"},
    )
    assert one.status_code == 409
    assert 'id="payment_status-error"' in one.text
    assert "group order" in one.text
    assert now_of(db, ana).status == RegistrationStatus.reserved.value
    assert rows(db, Payment) == []

    whole = desk.post(
        page_of(ben),
        data={"csrf_token": csrf_token(desk), "action": "order_payment", "received_by": "desk"},
    )
    assert whole.status_code == 200
    assert [now_of(db, r).status for r in (ana, ben)] == [RegistrationStatus.active.value] * 2
    (payment,) = rows(db, Payment)
    assert payment.amount_cents == 9500 + 4500
    (receipt,) = rows(db, Receipt)
    assert receipt.payer_name == "CFMEU Victorian branch" and len(receipt.lines) == 2
    kinds = sorted(m.kind for m in rows(db, OutboxMail) if m.kind in ("ticket", "order_paid"))
    assert kinds == ["order_paid", "ticket", "ticket"]


def test_money_after_the_hold_ended_takes_the_place_again_if_it_is_free(
    desk: TestClient, db: Database
) -> None:
    rosa = held_by_transfer(db)
    assert release_ended_holds(db, "", utcnow() + timedelta(days=8)).expired == 1
    assert now_of(db, rosa).status == RegistrationStatus.expired.value
    assert "Hold ended unpaid" in desk.get(page_of(rosa)).text
    listed = desk.get(f"/admin/{DEMO}/registrations", params={"status": "expired"})
    assert "Rosa" in listed.text and "hold ended unpaid" in listed.text

    desk.post(
        page_of(rosa),
        data={"csrf_token": csrf_token(desk), "action": "order_payment", "received_by": "desk"},
    )
    assert now_of(db, rosa).status == RegistrationStatus.active.value
    assert the_orders(db)[0].status == OrderStatus.paid.value


def test_the_json_api_pays_a_held_place_and_refuses_a_groups_with_a_field_reason(
    desk: TestClient, db: Database
) -> None:
    make_organiser(db, DEMO, "script@example.org")
    headers = {"Authorization": f"Bearer {api_token(db, 'script@example.org')}"}
    rosa = held_by_transfer(db)
    paid = desk.patch(
        f"/api/{DEMO}/registrations/{rosa.ticket_code}",
        json={"payment_status": "paid"},
        headers=headers,
    )
    assert paid.status_code == 200, paid.text
    assert (paid.json()["status"], paid.json()["payment_status"]) == ("active", "paid")
    assert paid.json()["payment"]["receipt_numbers"] == [1]

    ana, _ben = group_by_transfer(db)
    refused = desk.patch(
        f"/api/{DEMO}/registrations/{ana.ticket_code}",
        json={"payment_status": "waived"},
        headers=headers,
    )
    assert refused.status_code == 409
    assert refused.json()["error"] == "payment_refused"
    assert "payment_status" in refused.json()["fields"]
    assert now_of(db, ana).payment_status == PaymentStatus.unpaid.value


def test_money_after_the_hold_ended_needs_the_voucher_use_back_too(
    desk: TestClient, db: Database
) -> None:
    with db.read() as session:
        conference = get_conference(session, DEMO)
        assert conference is not None and conference.id is not None
        conference_id = conference.id
    (voucher,) = create_vouchers(
        db, conference_id, VoucherSpec(effect="minus_percent", value=5000), "o@example.org", None
    )
    body = {"ticket_type": "waged", "payment_method": "bank_transfer", "voucher": voucher.code}
    rosa = desk.post(
        f"/api/{DEMO}/registrations", json={**body, "name": "Rosa", "email": "rosa@example.org"}
    )
    assert rosa.status_code == 201, rosa.text
    rosa_code = rosa.json()["ticket"]["code"].replace("-", "")
    assert release_ended_holds(db, "", utcnow() + timedelta(days=8)).expired == 1

    # Her hold ended, so the code was free again, and Clara used it.
    clara = desk.post(
        f"/api/{DEMO}/registrations", json={**body, "name": "Clara", "email": "clara@example.org"}
    )
    assert clara.status_code == 201, clara.text

    with db.read() as session:
        held = session.exec(select(Registration).where(Registration.ticket_code == rosa_code)).one()
    refused = desk.post(
        page_of(held),
        data={"csrf_token": csrf_token(desk), "action": "order_payment", "received_by": "desk"},
    )
    assert refused.status_code in (409, 422), refused.text
    assert now_of(db, held).status == RegistrationStatus.expired.value
    with db.read() as session:
        assert session.exec(select(Voucher.uses)).one() == 1
