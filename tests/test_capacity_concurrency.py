"""Places are never sold twice, however many people register at the same moment."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import update
from sqlmodel import func, select

from confapp.db import Database
from confapp.models import Conference, OutboxMail, Registration, TicketType
from confapp.programme.conference_file import check_conference_data, load_conference_spec
from confapp.programme.queries import get_conference
from confapp.programme.synthetic import synthetic_conference_data
from confapp.registration.form import CleanRegistration, check_registration
from confapp.registration.places import ticket_offers
from confapp.registration.service import SoldOut, register
from tests.support.databases import count
from tests.support.servers import LiveServer, live_settings, post_json


def small_conference(db: Database, *, capacity: int | None, ticket_types: list[dict]) -> None:
    data = synthetic_conference_data(slug="rush", sessions=10, rooms=2, days=1)
    data["conference"]["capacity"] = capacity
    data["ticket_types"] = ticket_types
    spec = check_conference_data(data)
    with db.transaction() as session:
        load_conference_spec(session, spec)


def test_five_hundred_people_rush_one_hundred_and_fifty_places(db: Database) -> None:
    small_conference(
        db,
        capacity=None,
        ticket_types=[{"code": "waged", "name": "Waged", "price": 50, "capacity": 150}],
    )
    with LiveServer(live_settings(db.url)) as server:
        url = f"{server.url}/api/rush/registrations"
        bodies = [
            {"name": f"Person {n}", "email": f"p{n}@example.org", "ticket_type": "waged"}
            for n in range(500)
        ]
        with ThreadPoolExecutor(max_workers=48) as pool:
            answers = list(pool.map(lambda body: post_json(url, body), bodies))

    statuses = Counter(status for status, _ in answers)
    assert statuses == {201: 150, 409: 350}
    assert all(body["error"] == "sold_out" for status, body in answers if status == 409)
    codes = [body["ticket"]["code"] for status, body in answers if status == 201]
    assert len(set(codes)) == 150
    assert count(db, Registration) == 150
    assert count(db, OutboxMail) == 150  # one confirmation each, none for the refused
    with db.read() as session:
        assert session.exec(select(TicketType.places_taken)).one() == 150


def test_a_thousand_registrations_for_three_hundred_conference_places(db: Database) -> None:
    small_conference(
        db,
        capacity=300,
        ticket_types=[
            {"code": "waged", "name": "Waged", "price": 50},
            {"code": "concession", "name": "Concession", "price": 20},
        ],
    )
    with db.read() as session:
        conference = get_conference(session, "rush")
        assert conference is not None
        offers = ticket_offers(session, conference)

    def attempt(n: int) -> str:
        code = "waged" if n % 2 else "concession"
        clean, errors = check_registration(
            {"name": f"P{n}", "email": f"p{n}@example.org", "ticket_type": code},
            offers,
            conference,
        )
        assert clean is not None, errors
        try:
            register(db, conference.id or 0, clean)
        except SoldOut:
            return "sold out"
        return "registered"

    with ThreadPoolExecutor(max_workers=32) as pool:
        outcomes = Counter(pool.map(attempt, range(1000)))

    assert outcomes == {"registered": 300, "sold out": 700}
    assert count(db, Registration) == 300
    with db.read() as session:
        assert session.exec(select(Conference.places_taken)).one() == 300
        taken = session.exec(select(func.sum(TicketType.places_taken))).one()
    assert taken == 300


def test_once_the_last_place_is_gone_the_next_person_hears_so_without_queueing(
    db: Database,
) -> None:
    """Registration opening: every registration in flight holds the ticket type's row lock
    until it commits. Someone pressing "register" after the last place went is told "sold
    out" at once, not after waiting in that queue."""
    small_conference(
        db,
        capacity=None,
        ticket_types=[{"code": "waged", "name": "Waged", "price": 50, "capacity": 1}],
    )
    with db.read() as session:
        conference = get_conference(session, "rush")
        assert conference is not None and conference.id is not None
        offers = ticket_offers(session, conference)

    def person(n: int) -> CleanRegistration:
        clean, errors = check_registration(
            {"name": f"P{n}", "email": f"p{n}@example.org", "ticket_type": "waged"},
            offers,
            conference,
        )
        assert clean is not None, errors
        return clean

    register(db, conference.id, person(1))  # the last place goes

    lock_held, finish = threading.Event(), threading.Event()

    def registration_in_flight() -> None:
        # Takes the ticket type's row lock as a registration's UPDATE does (on SQLite, the
        # database's write lock), and keeps it until told to finish.
        with db.transaction() as session:
            session.execute(update(TicketType).values(places_taken=TicketType.places_taken))
            lock_held.set()
            finish.wait(60)

    holder = threading.Thread(target=registration_in_flight)
    holder.start()
    try:
        assert lock_held.wait(10)
        started = time.monotonic()
        with pytest.raises(SoldOut):
            register(db, conference.id, person(2))
        answered_in = time.monotonic() - started
    finally:
        finish.set()
        holder.join()

    assert answered_in < 5  # the registration in flight would have held it for a minute
    assert count(db, Registration) == 1
