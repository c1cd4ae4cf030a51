"""Registering as an attendee does, through the public API, and reading the ticket the API
gives back: its admission token, its code, the keys and conference id a door device checks it
with, and the registration's id in the database."""

from __future__ import annotations

import base64
from typing import Any

from starlette.testclient import TestClient

from confapp.db import Database
from confapp.programme.queries import get_conference
from confapp.registration import service
from confapp.registration.form import check_registration
from confapp.registration.orders import offered_methods, payment_settings
from confapp.registration.places import ticket_offers
from confapp.tickets.admission import registration_by_code
from confapp.tickets.tokens import normalise_ticket_code
from tests.support import DEMO

NAME = "Rosa Luxemburg"
EMAIL = "rosa.luxemburg@example.org"


def address_of(name: str) -> str:
    """The address the tests give a person: "Rosa Parks" -> rosa.parks@example.org."""
    return f"{name.lower().replace(' ', '.')}@example.org"


def name_of(address: str) -> str:
    """The name the tests give the owner of an address: rosa@example.org -> Rosa."""
    return address.split("@")[0].title()


def register(
    client: TestClient,
    name: str = NAME,
    email: str | None = None,
    ticket_type: str = "waged",
    conference: str = DEMO,
    **fields: Any,
) -> dict[str, Any]:
    """Register through the public API as an attendee does (at `address_of(name)` unless told
    otherwise); the ticket as the API gives it."""
    body = {"name": name, "email": email or address_of(name), "ticket_type": ticket_type, **fields}
    answer = client.post(f"/api/{conference}/registrations", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["ticket"]


def register_person(db: Database, slug: str = DEMO, **fields: Any) -> service.RegisteredTicket:
    """Register through the same checks and service the form uses, without HTTP."""
    with db.read() as session:
        conference = get_conference(session, slug)
        assert conference is not None
        offers = ticket_offers(session, conference)
        methods = offered_methods(payment_settings(session, conference.id or 0))
    clean, errors = check_registration(fields, offers, conference, methods)
    assert clean is not None, errors
    return service.register(db, conference.id or 0, clean)


def register_and_star(
    client: TestClient, name: str, consent: bool, starred: list[str]
) -> dict[str, Any]:
    """Register through the API and star sessions on the ticket's own page, as an attendee
    does; the ticket as the API gives it, with the path of its own page as `manage_path`."""
    ticket = register(client, name, email_consent=consent)
    ticket["manage_path"] = "/my-ticket/" + ticket["manage_url"].rsplit("/my-ticket/", 1)[1]
    for slug in starred:
        star = client.post(f"{ticket['manage_path']}/star/{slug}", data={"starred": "yes"})
        assert star.status_code in (200, 303), star.text
    return ticket


def token_of(ticket: dict[str, Any]) -> str:
    """The admission token the ticket's URL (and QR code) carries."""
    return ticket["url"].rsplit("/", 1)[1]


def code_of(ticket: dict[str, Any]) -> str:
    """The ticket code as stored (no dashes); JSON always spells it dashed."""
    return ticket["code"].replace("-", "")


def published_keys(client: TestClient, conference: str = DEMO) -> dict[int, bytes]:
    """What a door device downloads once, before the doors open: id -> raw public key."""
    response = client.get(f"/api/{conference}/ticket-keys")
    assert response.status_code == 200
    return {key["id"]: base64.b64decode(key["public_key"]) for key in response.json()["keys"]}


def conference_id_of(client: TestClient, conference: str = DEMO) -> int:
    return client.get(f"/api/{conference}/ticket-keys").json()["conference_id"]


def places_left(client: TestClient, ticket_type: str) -> int | None:
    """The places left of the demo's ticket type, as the public API says."""
    types = client.get(f"/api/{DEMO}/ticket-types").json()["ticket_types"]
    return next(t["places_left"] for t in types if t["code"] == ticket_type)


def registration_id(db: Database, ticket: dict[str, Any] | str) -> int:
    """The database id of the registration with this ticket (as the API gives it) or code."""
    code = ticket if isinstance(ticket, str) else ticket["code"]
    with db.read() as session:
        found = registration_by_code(session, normalise_ticket_code(code) or "")
    assert found is not None and found.id is not None
    return found.id
