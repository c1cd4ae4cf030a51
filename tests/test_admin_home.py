"""An organiser opens the conference's back-office home: its pages grouped (Programme,
Registrations, Door, Accounts), with the counts that matter at a glance: active registrations,
paid and unpaid, admitted at the door, programme problems."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from starlette.testclient import TestClient

from confapp.accounts.service import find_user, principal_for
from confapp.admin.routes import home_counts
from confapp.checkin.service import admit
from confapp.db import Database
from confapp.programme.queries import get_conference
from confapp.programme.synthetic import load_synthetic_conference
from confapp.registration.service import cancel_registration
from confapp.times import utcnow
from tests.support import DEMO
from tests.support.accounts import COORDINATOR, STEWARD, make_user, sign_in, sign_in_organiser
from tests.support.programme import edit_session
from tests.support.registrations import register, registration_id

HOME = f"/admin/{DEMO}/"


def count_shown(page: str, name: str) -> str:
    """The words of one count on the home ("" if it is not shown)."""
    found = re.search(rf'<p class="home-counts" data-count="{name}">(.*?)</p>', page, re.DOTALL)
    return re.sub(r"<[^>]+>", "", found.group(1)) if found else ""


def group_links(page: str) -> dict[str, list[str]]:
    """Each group's heading and the labels of the links listed under it."""
    groups = {}
    for heading, body in re.findall(
        r'<section class="home-group"[^>]*>\s*<h2[^>]*>([^<]+)</h2>(.*?)</section>', page, re.DOTALL
    ):
        groups[heading] = re.findall(r'<li><a href="[^"]+">([^<]+)</a>', body)
    return groups


def problems_in(words: str) -> int:
    return 0 if words == "No programme problems" else int(words.split()[0])


def problems_listed(client: TestClient) -> int:
    """How many problems the programme's problems page lists."""
    page = client.get(f"/admin/{DEMO}/programme/problems").text
    listed = re.search(r'<ul class="problems">(.*?)</ul>', page, re.DOTALL)
    return listed.group(1).count("<li>") if listed else 0


def admit_at_door(db: Database, ticket: dict[str, Any]) -> None:
    """A steward scans the ticket at the door."""
    make_user(db, STEWARD, "steward", DEMO)
    with db.transaction() as session:
        conference = get_conference(session, DEMO)
        user = find_user(session, STEWARD)
        assert conference is not None and user is not None
        steward = principal_for(session, user)
        answer = admit(session, conference, ticket["url"], steward, now=utcnow())
        assert answer.result.value == "admitted"


def test_the_home_groups_the_pages_and_counts_registrations_payment_door_and_problems(
    client: TestClient, db: Database
) -> None:
    rosa = register(client, "Rosa")
    register(client, "Clara", ticket_type="concession")
    register(client, "Lucy")
    emma = register(client, "Emma")["code"]
    cancel_registration(db, registration_id(db, emma))
    organiser = sign_in_organiser(client, db)
    paid = client.post(
        f"/admin/{DEMO}/registrations/{rosa['code']}",
        data={"csrf_token": organiser, "action": "payment", "payment_status": "paid"},
        follow_redirects=False,
    )
    assert paid.status_code == 303
    admit_at_door(db, rosa)

    page = client.get(HOME).text
    groups = group_links(page)
    assert list(groups) == ["Programme", "Registrations", "Door", "Accounts"]
    assert "Programme problems" in groups["Programme"]
    assert "Mail attendees" in groups["Registrations"]
    assert "Door scanner" in groups["Door"] and "Door dashboard" in groups["Door"]
    assert groups["Accounts"] == ["People and invitations", "Audit log"]
    assert sum(len(links) for links in groups.values()) >= 16  # every page still listed

    assert count_shown(page, "registrations") == "3 active registrations: 1 paid, 2 unpaid"
    assert count_shown(page, "admitted") == "1 admitted at the door, of 3 expected"
    assert problems_in(count_shown(page, "problems")) == problems_listed(client)

    # Two sessions put in one room at once are one more problem, counted once.
    before = problems_listed(client)
    edit_session(db, "aotearoa-maori-struggle", room="great-hall")
    after = count_shown(client.get(HOME).text, "problems")
    assert re.fullmatch(r"\d+ programme problems? to sort out", after), after
    assert problems_in(after) == problems_listed(client) == before + 1


def test_an_access_coordinator_sees_the_reports_but_no_payment_or_door_counts(
    client: TestClient, db: Database
) -> None:
    register(client, "Rosa")
    make_user(db, COORDINATOR, "access-coordinator", DEMO)
    sign_in(client, COORDINATOR)
    page = client.get(HOME).text
    assert group_links(page) == {"Registrations": ["Access needs report", "Childcare report"]}
    assert not count_shown(page, "registrations") and not count_shown(page, "admitted")
    assert "unpaid" not in page


@contextmanager
def statements_counted(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def note(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def test_the_counts_take_as_many_queries_for_a_big_programme_as_for_a_small_one(
    db: Database,
) -> None:
    load_synthetic_conference(db, slug="small", sessions=5, rooms=2, days=1)
    load_synthetic_conference(db, slug="big", sessions=600, rooms=12, days=3)
    asked = []
    for slug in ("small", "big"):
        with db.read() as session:
            conference = get_conference(session, slug)
            assert conference is not None
            with statements_counted(db) as statements:
                home_counts(session, conference, utcnow())
        asked.append(len(statements))
    assert asked[0] == asked[1] and asked[1] <= 20, asked
