"""Nobody gets in twice: twenty stewards scanning one ticket at the same instant, against a real
server on SQLite and on PostgreSQL, get exactly one "admitted"."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from confapp.accounts.service import Principal
from confapp.checkin import service
from confapp.db import Database
from confapp.models import Checkin, CheckinConflict
from confapp.programme.conference_file import load_conference_file
from confapp.programme.queries import get_conference
from confapp.resources import demo_seed_path
from confapp.times import utcnow
from tests.support import DEMO
from tests.support.accounts import api_token, make_user
from tests.support.databases import count
from tests.support.servers import LiveServer, all_at_once, live_settings, post_json

STEWARDS = 20


@pytest.fixture
def door_server(db: Database) -> Iterator[tuple[LiveServer, list[str], str]]:
    """A live server for the demo, a token for each of twenty stewards, and one ticket's URL."""
    load_conference_file(db, demo_seed_path())
    tokens = []
    for n in range(STEWARDS):
        email = f"steward-{n}@example.org"
        make_user(db, email, "steward", DEMO)
        tokens.append(api_token(db, email, "door"))
    with LiveServer(live_settings(db.url)) as server:
        status, answer = post_json(
            f"{server.url}/api/{DEMO}/registrations",
            {"name": "Rosa Luxemburg", "email": "rosa@example.org", "ticket_type": "waged"},
        )
        assert status == 201, answer
        yield server, tokens, answer["ticket"]["url"]


def test_twenty_stewards_scanning_one_ticket_at_once_admit_it_once(
    db: Database, door_server: tuple[LiveServer, list[str], str]
) -> None:
    server, tokens, ticket_url = door_server
    url = f"{server.url}/api/{DEMO}/checkins"
    answers = all_at_once(
        [
            lambda token=token, n=n: post_json(
                url, {"scan": ticket_url, "device": f"phone-{n}"}, token
            )
            for n, token in enumerate(tokens)
        ]
    )
    assert {status for status, _ in answers} == {200}, answers
    results = Counter(body["result"] for _, body in answers)
    assert results == {"admitted": 1, "already_admitted": STEWARDS - 1}
    [admitted] = [body for _, body in answers if body["result"] == "admitted"]
    for _, body in answers:  # every steward is told the same when and who
        assert (body["admitted_at"], body["by"]) == (admitted["admitted_at"], admitted["by"])
    assert count(db, Checkin) == 1


def test_devices_coming_back_online_together_keep_one_check_in_and_the_rest_as_conflicts(
    db: Database, door_server: tuple[LiveServer, list[str], str]
) -> None:
    server, tokens, ticket_url = door_server
    url = f"{server.url}/api/{DEMO}/checkins/sync"
    devices = 6
    moment = datetime.now(UTC) - timedelta(minutes=5)
    batches = [
        {
            "device": f"phone-{n}",
            "admissions": [
                {"scan": ticket_url, "admitted_at": (moment + timedelta(seconds=n)).isoformat()}
            ],
        }
        for n in range(devices)
    ]
    answers = all_at_once(
        [lambda b=b, t=t: post_json(url, b, t) for b, t in zip(batches, tokens, strict=False)]
    )
    assert {status for status, _ in answers} == {200}, answers
    results = Counter(body["results"][0]["result"] for _, body in answers)
    assert results == {"admitted": 1, "already_admitted": devices - 1}
    assert count(db, Checkin) == 1
    assert count(db, CheckinConflict) == devices - 1


def test_when_the_database_refuses_a_second_standing_check_in_the_steward_hears_already_in(
    db: Database, door_server: tuple[LiveServer, list[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the partial unique index settles, made certain: the check for a standing
    check-in misses one that another steward committed a moment ago, the INSERT is refused,
    and the same transaction goes on to answer from the row that won."""
    server, tokens, ticket_url = door_server
    status, first = post_json(f"{server.url}/api/{DEMO}/checkins", {"scan": ticket_url}, tokens[0])
    assert (status, first["result"]) == (200, "admitted")

    real = service.standing_checkin
    missed = []

    def misses_the_first_time(session: Any, registration_id: int) -> Checkin | None:
        if not missed:
            missed.append(registration_id)
            return None
        return real(session, registration_id)

    monkeypatch.setattr(service, "standing_checkin", misses_the_first_time)
    with db.transaction() as session:
        conference = get_conference(session, DEMO)
        assert conference is not None
        steward = Principal(user_id=0, email="late@example.org")
        answer = service.admit(session, conference, ticket_url, steward, now=utcnow())
    assert missed
    assert answer.result is service.Result.already_admitted
    assert answer.document(conference.timezone)["admitted_at"] == first["admitted_at"]
    assert answer.by == first["by"]
    assert count(db, Checkin) == 1
