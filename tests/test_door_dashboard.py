"""The organisers' door dashboard: admitted against expected, overall and per ticket type; the
latest admissions with undo; offline conflicts, marked resolved; and who may open it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import AuditEntry, Checkin, CheckinConflict
from confapp.times import utcnow
from tests.support import DEMO
from tests.support.accounts import (
    COORDINATOR,
    ORGANISER,
    STEWARD,
    make_team,
    signed_in_browser,
)
from tests.support.registrations import register

DASHBOARD = f"/admin/{DEMO}/door"


@pytest.fixture
def people(db: Database, demo: object) -> None:
    make_team(db)


def _scan(steward: TestClient, token: str, ticket: dict, device: str = "door-1") -> dict:
    answer = steward.post(
        f"/api/{DEMO}/checkins",
        json={"scan": ticket["url"], "device": device},
        headers={"x-csrf-token": token},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _stats(organiser: TestClient) -> dict:
    answer = organiser.get(f"{DASHBOARD}/stats.json", headers={"accept": "application/json"})
    assert answer.status_code == 200
    return answer.json()


def _type_row(stats: dict, code: str) -> dict:
    return next(row for row in stats["ticket_types"] if row["code"] == code)


def test_the_dashboard_counts_admissions_against_expected_per_ticket_type(
    client: TestClient, people: None
) -> None:
    tickets = [
        register(client, "Rosa", ticket_type="waged"),
        register(client, "Karl", ticket_type="waged"),
        register(client, "Clara", ticket_type="concession"),
    ]
    organiser, _ = signed_in_browser(client, ORGANISER)
    before = _stats(organiser)
    assert (before["admitted"], before["expected"]) == (0, 3)
    assert _type_row(before, "waged") == {
        "code": "waged",
        "name": _type_row(before, "waged")["name"],
        "admitted": 0,
        "expected": 2,
    }

    steward, token = signed_in_browser(client, STEWARD)
    assert _scan(steward, token, tickets[0])["result"] == "admitted"
    assert _scan(steward, token, tickets[2])["result"] == "admitted"
    assert _scan(steward, token, tickets[0])["result"] == "already_admitted"

    stats = _stats(organiser)
    assert (stats["admitted"], stats["expected"], stats["conflicts"]) == (2, 3, 0)
    assert _type_row(stats, "waged")["admitted"] == 1
    assert _type_row(stats, "concession")["admitted"] == 1
    # The same numbers as the check-in API's own stats route.
    api = organiser.get(f"/api/{DEMO}/door/stats").json()
    assert {k: v for k, v in api.items() if k != "updated_at"} == {
        k: v for k, v in stats.items() if k != "updated_at"
    }

    page = organiser.get(DASHBOARD)
    assert page.status_code == 200
    assert re.search(r'data-stat="admitted">2<', page.text)
    assert re.search(r'data-stat="expected">3<', page.text)
    assert tickets[0]["code"] in page.text and tickets[2]["code"] in page.text
    assert tickets[1]["code"] not in page.text  # not admitted, not listed
    assert "Rosa" not in page.text and "Clara" not in page.text  # no names needed
    assert STEWARD in page.text  # who admitted
    assert '<script src="/static/js/door-dashboard.js" defer>' in page.text
    assert f'data-stats-url="{DASHBOARD}/stats.json"' in page.text


def test_an_organiser_undoes_an_admission_from_the_dashboard(
    client: TestClient, db: Database, people: None
) -> None:
    ticket = register(client, "Rosa", ticket_type="waged")
    steward, token = signed_in_browser(client, STEWARD)
    _scan(steward, token, ticket)
    organiser, organiser_token = signed_in_browser(client, ORGANISER)
    asked = organiser.post(
        f"{DASHBOARD}/undo",
        data={"csrf_token": organiser_token, "ticket_code": ticket["code"]},
        follow_redirects=False,
    )
    assert asked.status_code == 200 and "Undo this admission?" in asked.text  # asks once
    assert _stats(organiser)["admitted"] == 1
    undone = organiser.post(
        f"{DASHBOARD}/undo",
        data={"csrf_token": organiser_token, "ticket_code": ticket["code"], "confirm": "undo"},
        follow_redirects=False,
    )
    assert undone.status_code == 303, undone.text
    assert _stats(organiser)["admitted"] == 0
    assert "undone" in organiser.get(DASHBOARD).text
    again = organiser.post(
        f"{DASHBOARD}/undo", data={"csrf_token": organiser_token, "ticket_code": ticket["code"]}
    )
    assert again.status_code == 409 and "not checked in" in again.text
    unknown = organiser.post(
        f"{DASHBOARD}/undo", data={"csrf_token": organiser_token, "ticket_code": "nonsense"}
    )
    assert unknown.status_code == 404
    with db.read() as session:
        actions = [e.action for e in session.exec(select(AuditEntry))]
    assert "checkin_undone" in actions
    assert _scan(steward, token, ticket)["result"] == "admitted"  # in again after an undo


def test_offline_conflicts_are_listed_and_resolved(
    client: TestClient, db: Database, people: None
) -> None:
    ticket = register(client, "Rosa", ticket_type="waged")
    steward, token = signed_in_browser(client, STEWARD)
    _scan(steward, token, ticket, device="door-online")
    earlier = (utcnow() - timedelta(minutes=5)).isoformat()
    synced = steward.post(
        f"/api/{DEMO}/checkins/sync",
        json={
            "device": "door-offline",
            "admissions": [{"scan": ticket["url"], "admitted_at": earlier}],
        },
        headers={"x-csrf-token": token},
    )
    assert synced.status_code == 200, synced.text
    assert synced.json()["results"][0]["result"] == "already_admitted"
    with db.read() as session:
        conflict = session.exec(select(CheckinConflict)).one()
        standing = session.exec(select(Checkin)).one()
    assert conflict.checkin_id == standing.id

    organiser, organiser_token = signed_in_browser(client, ORGANISER)
    assert _stats(organiser)["conflicts"] == 1
    page = organiser.get(DASHBOARD).text
    assert "door-offline" in page and "door-online" in page
    assert f"/door/conflicts/{conflict.id}/resolve" in page
    assert "Rosa" not in page

    assert (
        steward.post(
            f"{DASHBOARD}/conflicts/{conflict.id}/resolve", data={"csrf_token": token}
        ).status_code
        == 403
    )
    resolved = organiser.post(
        f"{DASHBOARD}/conflicts/{conflict.id}/resolve",
        data={"csrf_token": organiser_token},
        follow_redirects=False,
    )
    assert resolved.status_code == 303
    assert _stats(organiser)["conflicts"] == 0
    page = organiser.get(DASHBOARD).text
    assert f"/door/conflicts/{conflict.id}/resolve" not in page and "resolved" in page
    for missing in ("999999", "x", "9" * 30):
        answer = organiser.post(
            f"{DASHBOARD}/conflicts/{missing}/resolve", data={"csrf_token": organiser_token}
        )
        assert answer.status_code == 404, missing
    with db.read() as session:
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.action == "resolved a door conflict")
        ).one()
    assert entry.ticket_code == ticket["code"].replace("-", "")


def test_only_organisers_open_the_dashboard(client: TestClient, people: None) -> None:
    steward, _ = signed_in_browser(client, STEWARD)
    coordinator, _ = signed_in_browser(client, COORDINATOR)
    organiser, _ = signed_in_browser(client, ORGANISER)
    anonymous = TestClient(client.app, raise_server_exceptions=False)
    for path in (DASHBOARD, f"{DASHBOARD}/stats.json", f"{DASHBOARD}/headcounts.csv"):
        assert organiser.get(path).status_code == 200, path
        assert steward.get(path).status_code == 403, path
        assert coordinator.get(path).status_code == 403, path
        went = anonymous.get(path, follow_redirects=False)
        assert went.status_code == 303 and "/admin/login" in went.headers["location"], path
    assert (
        anonymous.get(f"{DASHBOARD}/stats.json", headers={"accept": "application/json"}).status_code
        == 401
    )
    home = organiser.get(f"/admin/{DEMO}/").text
    assert f'href="{DASHBOARD}"' in home and f'href="{DASHBOARD}/sessions"' in home
