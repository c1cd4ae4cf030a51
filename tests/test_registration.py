"""Registering for a conference through the form and through JSON, and everything that can go
wrong on the way."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import (
    Conference,
    ManageLink,
    OutboxMail,
    PaymentStatus,
    Registration,
    TicketType,
)
from confapp.registration.service import set_payment_status
from tests.support import DEMO
from tests.support.databases import count
from tests.support.pages import field_error, input_value
from tests.support.qr import read_qr_codes
from tests.support.registrations import places_left

GOOD = {"name": "Rosa", "email": "rosa@example.org", "ticket_type": "waged"}


def set_capacity(db: Database, code: str, capacity: int) -> None:
    with db.transaction() as session:
        ticket_type = session.exec(select(TicketType).where(TicketType.code == code)).one()
        ticket_type.capacity = capacity


def test_registering_through_the_form_lands_on_the_attendees_own_ticket_page(
    client: TestClient, db: Database
) -> None:
    form = client.get(f"/{DEMO}/register")
    assert form.status_code == 200
    assert 'name="ticket_type"' in form.text and "What we keep, and why" in form.text

    response = client.post(
        f"/{DEMO}/register",
        data={**GOOD, "access_needs": "Step-free seating", "email_consent": "yes"},
        follow_redirects=False,
    )

    # Straight to the management link (not the admission URL the QR code holds) ...
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/my-ticket/[A-Za-z0-9_-]{43}\?new=1", location), location
    ticket = client.get(location)
    assert ticket.status_code == 200
    assert "Rosa" in ticket.text and "Waged" in ticket.text
    # ... which says they are registered and shows them the link to keep.
    assert "You are registered" in ticket.text
    manage_url = "http://testserver" + location.removesuffix("?new=1")
    assert f'<code class="manage-link">{manage_url}</code>' in ticket.text
    assert ticket.headers["cache-control"] == "no-store"
    # Opened again later, the link shows the ticket without the welcome.
    again = client.get(location.removesuffix("?new=1"))
    assert again.status_code == 200 and "Rosa" in again.text
    assert "You are registered" not in again.text
    with db.read() as session:
        registration = session.exec(select(Registration)).one()
        links = session.exec(select(ManageLink)).all()
    assert registration.email == "rosa@example.org"
    assert registration.access_needs == "Step-free seating"
    assert registration.email_consent is True
    assert registration.amount_cents == 9500
    assert registration.payment_status == "unpaid"
    assert count(db, OutboxMail) == 1
    # Only a hash of the link's secret is kept.
    secret = location.removesuffix("?new=1").rsplit("/", 1)[1]
    assert [link.registration_id for link in links] == [registration.id]
    assert links[0].secret_hash == hashlib.sha256(secret.encode()).hexdigest()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "Please give a name"),
        ({"name": "x" * 101}, "name", "under 100 characters"),
        ({"email": ""}, "email", "Please give an e-mail address"),
        ({"email": "rosa-at-example.org"}, "email", "does not look like an e-mail address"),
        ({"ticket_type": ""}, "ticket_type", "Please choose a ticket type"),
        ({"ticket_type": "vip"}, "ticket_type", "There is no such ticket type"),
        ({"ticket_type": "pay-what-you-can"}, "amount", "Enter what you will pay, $10 or more"),
        ({"ticket_type": "pay-what-you-can", "amount": "5"}, "amount", "The least for this"),
        ({"ticket_type": "pay-what-you-can", "amount": "lots"}, "amount", "Enter what you will"),
        ({"solidarity_topup": "-3"}, "solidarity_topup", "Enter an amount like 20"),
        ({"access_needs": "a" * 2001}, "access_needs", "under 2,000 characters"),
        ({"childcare_children": "two"}, "childcare_children", "from 0 to 10"),
        ({"childcare_children": "11"}, "childcare_children", "from 0 to 10"),
        ({"childcare_children": "2"}, "childcare_ages", "Tell us the children's ages"),
    ],
)
def test_a_mistake_is_shown_beside_its_field_and_nothing_typed_is_lost(
    client: TestClient, db: Database, changes: dict[str, str], field: str, message: str
) -> None:
    sent = {
        **GOOD,
        "access_needs": "Hearing loop, please",
        "childcare_ages": "",
        "solidarity_topup": "",
        **changes,
    }

    response = client.post(f"/{DEMO}/register", data=sent)

    assert response.status_code == 422
    page = response.text
    error = field_error(page, field)
    assert error is not None and message in error, error
    assert 'class="error-summary"' in page
    for name in ("name", "email", "childcare_children", "childcare_ages"):
        if name in sent:
            assert input_value(page, name) == sent[name].strip(), name
    assert f">{sent['access_needs']}</textarea>" in page
    if sent["ticket_type"] in {"waged", "pay-what-you-can"}:
        assert re.search(rf'value="{sent["ticket_type"]}" checked', page)
    assert count(db, Registration) == 0 and count(db, OutboxMail) == 0


def test_json_registration_returns_the_admission_url_and_the_management_link(
    client: TestClient, db: Database
) -> None:
    response = client.post(
        f"/api/{DEMO}/registrations",
        json={
            "name": "Clara",
            "email": "Clara@Example.org",
            "ticket_type": "pay-what-you-can",
            "amount": "25.50",
            "childcare": {"children": 1, "ages": "4"},
        },
    )

    assert response.status_code == 201
    ticket = response.json()["ticket"]
    assert re.fullmatch(r"[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{5}", ticket["code"])
    # `url` is what the QR code holds: the admission page.
    assert re.fullmatch(r"http://testserver/tickets/[A-Za-z0-9_-]{104}", ticket["url"])
    assert ticket["qr_svg_url"] == ticket["url"] + "/qr.svg"
    assert ticket["qr_png_url"] == ticket["url"] + "/qr.png"
    # `manage_url` is the attendee's own page; the agenda feed has a key of its own.
    assert re.fullmatch(r"http://testserver/my-ticket/[A-Za-z0-9_-]{43}", ticket["manage_url"])
    assert re.fullmatch(r"http://testserver/agenda/[A-Za-z0-9_-]+\.ics", ticket["agenda_feed_url"])
    assert ticket["amount_cents"] == 2550
    assert ticket["payment_status"] == "unpaid"
    assert response.headers["location"] == ticket["url"]
    admission = client.get(ticket["url"])
    assert admission.status_code == 200 and "Clara" not in admission.text
    manage = client.get(ticket["manage_url"])
    assert manage.status_code == 200 and "Clara" in manage.text
    assert client.get(ticket["agenda_feed_url"]).status_code == 200
    with db.read() as session:
        registration = session.exec(select(Registration)).one()
    assert (registration.childcare_children, registration.childcare_ages) == (1, "4")


def test_json_errors_name_each_field(client: TestClient, db: Database) -> None:
    response = client.post(
        f"/api/{DEMO}/registrations", json={"name": " ", "email": "x", "ticket_type": "nope"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid"
    assert set(body["fields"]) == {"name", "email", "ticket_type"}
    for bad in (b"{not json", b"[1, 2]", "\u00e9".encode("latin-1")):
        answer = client.post(
            f"/api/{DEMO}/registrations", content=bad, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_json"
    unknown = client.post("/api/no-such-conference/registrations", json=GOOD)
    assert unknown.status_code == 404 and "error" in unknown.json()
    assert count(db, Registration) == 0


def test_a_sold_out_type_is_shown_and_refused(client: TestClient, db: Database) -> None:
    set_capacity(db, "concession", 1)
    first = client.post(f"/api/{DEMO}/registrations", json={**GOOD, "ticket_type": "concession"})
    assert first.status_code == 201

    second = client.post(f"/api/{DEMO}/registrations", json={**GOOD, "ticket_type": "concession"})
    assert second.status_code == 409
    assert second.json()["error"] == "sold_out"

    form = client.get(f"/{DEMO}/register").text
    assert re.search(r'id="ticket-concession" value="concession"[^>]* disabled', form)
    assert "Sold out" in form
    by_form = client.post(f"/{DEMO}/register", data={**GOOD, "ticket_type": "concession"})
    assert by_form.status_code == 409
    assert "has just gone" in (field_error(by_form.text, "ticket_type") or "")
    assert input_value(by_form.text, "name") == "Rosa"
    assert places_left(client, "concession") == 0
    assert count(db, Registration) == 1 and count(db, OutboxMail) == 1


def test_ticket_types_list_prices_and_places_left(client: TestClient) -> None:
    before = places_left(client, "waged")
    client.post(f"/api/{DEMO}/registrations", json=GOOD)
    body: dict[str, Any] = client.get(f"/api/{DEMO}/ticket-types").json()
    waged = next(t for t in body["ticket_types"] if t["code"] == "waged")
    assert waged["price_cents"] == 9500 and waged["kind"] == "fixed"
    assert waged["places_left"] == (before or 0) - 1
    pwyc = next(t for t in body["ticket_types"] if t["kind"] == "pay_what_you_can")
    assert pwyc["min_price_cents"] == 1000 and pwyc["suggested_price_cents"] == 4000


def test_solidarity_top_ups_fund_free_places_others_can_claim(
    client: TestClient, db: Database
) -> None:
    assert places_left(client, "solidarity-place") == 0
    claim = {"name": "Ana", "email": "ana@example.org", "ticket_type": "solidarity-place"}
    assert client.post(f"/api/{DEMO}/registrations", json=claim).status_code == 409

    # $100 of top-ups at $45 a place funds two places, once paid: a pledge alone opens none.
    funder = client.post(f"/api/{DEMO}/registrations", json={**GOOD, "solidarity_topup": "100"})
    assert funder.status_code == 201
    assert funder.json()["ticket"]["solidarity_topup_cents"] == 10000
    assert places_left(client, "solidarity-place") == 0
    with db.transaction() as session:
        registration = session.exec(select(Registration)).one()
        set_payment_status(session, registration, PaymentStatus.paid)
    assert places_left(client, "solidarity-place") == 2
    assert "paid for 2 places" in client.get(f"/{DEMO}/register").text

    claimed = [client.post(f"/api/{DEMO}/registrations", json=claim) for _ in range(3)]
    assert [r.status_code for r in claimed] == [201, 201, 409]
    assert claimed[0].json()["ticket"]["payment_status"] == "waived"
    assert places_left(client, "solidarity-place") == 0


def test_cancelling_gives_the_place_back(client: TestClient, db: Database) -> None:
    ticket = client.post(f"/api/{DEMO}/registrations", json=GOOD).json()["ticket"]
    taken = places_left(client, "waged")

    cancelled = client.post(ticket["manage_url"] + "/cancel", data={}, follow_redirects=False)

    assert cancelled.status_code == 303
    assert places_left(client, "waged") == (taken or 0) + 1
    with db.read() as session:
        assert session.exec(select(Conference.places_taken)).one() == 0
        assert session.exec(select(Registration.status)).one() == "cancelled"
    # Cancelling twice does not give the place back twice.
    client.post(ticket["manage_url"] + "/cancel", data={})
    assert places_left(client, "waged") == (taken or 0) + 1


def test_registration_closes_when_the_conference_is_over(client: TestClient, db: Database) -> None:
    from datetime import date

    from confapp.programme.conference_file import check_conference_data, load_conference_spec
    from confapp.programme.synthetic import synthetic_conference_data

    data = synthetic_conference_data(slug="over", sessions=4, rooms=1, days=1)
    data["conference"]["start_date"] = data["conference"]["end_date"] = date(2020, 3, 2)
    for session in data["sessions"]:
        session["start"] = session["start"].replace(year=2020, month=3, day=2)
        session["end"] = session["end"].replace(year=2020, month=3, day=2)
    data["ticket_types"] = [{"code": "waged", "name": "Waged", "price": 10}]
    with db.transaction() as session:
        load_conference_spec(session, check_conference_data(data))

    form = client.get("/over/register").text
    assert "Online registration is closed" in form and "Thank you to everyone who came" in form
    assert "<form" not in form.split("<main", 1)[1]
    api = client.post("/api/over/registrations", json=GOOD)
    assert api.status_code == 409 and api.json()["error"] == "registration_closed"
    assert client.post("/over/register", data=GOOD).status_code == 409
    assert count(db, Registration) == 0


def test_without_a_base_url_links_follow_the_address_the_person_used(
    settings: Any, demo: Any
) -> None:
    # An organiser trying the demo from a phone on the LAN must get a QR code that opens there.

    from confapp.app import create_app

    lan = "http://192.168.1.20:8000"
    # (Served with `confapp serve --host 192.168.1.20`, which lets that address through.)
    app = create_app(settings.with_overrides(base_url="", host="192.168.1.20"))
    with TestClient(app, base_url=lan) as phone_client:
        ticket = phone_client.post(f"/api/{DEMO}/registrations", json=GOOD).json()["ticket"]
        page = phone_client.get(ticket["manage_url"]).text
        png = phone_client.get(ticket["qr_png_url"]).content
        registered = phone_client.post(f"/{DEMO}/register", data=GOOD, follow_redirects=False)
        welcome = phone_client.get(registered.headers["location"]).text
    assert ticket["url"].startswith(f"{lan}/tickets/")
    assert ticket["manage_url"].startswith(f"{lan}/my-ticket/")
    assert ticket["agenda_feed_url"].startswith(f"{lan}/agenda/")
    assert f"{lan}/" in page
    [scanned] = read_qr_codes(png)
    assert scanned == ticket["url"]
    # The link shown right after registering is the one that opens on this phone.
    assert f'<code class="manage-link">{lan}/my-ticket/' in welcome
