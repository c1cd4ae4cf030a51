"""Several processes, one database: two real `confapp serve` processes on different ports share
one PostgreSQL database. A change made through one is seen through the other at once, and
neither a place nor an admission is given twice when both are asked at the same moment."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import func, select

from confapp.db import Database
from confapp.migrate import upgrade_to_head
from confapp.models import Checkin, Registration, TicketType
from confapp.programme.conference_file import load_conference_file
from confapp.resources import demo_seed_path
from tests.support import DEMO
from tests.support.accounts import api_token, make_user
from tests.support.databases import count, fresh_postgres_database
from tests.support.servers import (
    ServeProcess,
    all_at_once,
    start_serve,
    stop_serve,
    wait_until_healthy,
)

SMALL_QUOTA_TYPE = "waged"
SMALL_QUOTA = 10
MOVED_SESSION = "state-and-revolution"


@dataclass
class TwoProcesses:
    db: Database
    a: ServeProcess
    b: ServeProcess
    organiser_token: str
    steward_tokens: tuple[str, str]


def user_with_token(db: Database, email: str, role: str) -> str:
    """A new user with this role on the demo; an API token of theirs named after the role."""
    make_user(db, email, role, DEMO)
    return api_token(db, email, role)


@pytest.fixture(scope="module")
def two_processes(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TwoProcesses]:
    """The demo conference, with only ten waged places, in a fresh PostgreSQL database served
    by two `confapp serve` processes started together; both are stopped at the end."""
    folder = tmp_path_factory.mktemp("several-processes")
    with fresh_postgres_database(postgres_server_url) as url:
        db = Database(url)
        upgrade_to_head(db.engine)
        load_conference_file(db, demo_seed_path())
        with db.transaction() as session:
            waged = session.exec(
                select(TicketType).where(TicketType.code == SMALL_QUOTA_TYPE)
            ).one()
            waged.capacity = SMALL_QUOTA
        organiser = user_with_token(db, "organiser@example.org", "organiser")
        stewards = (
            user_with_token(db, "steward-a@example.org", "steward"),
            user_with_token(db, "steward-b@example.org", "steward"),
        )
        servers: list[ServeProcess] = []
        try:
            # Started at the same moment: they take turns at the migration lock and race to make
            # the first signing key.
            for name in ("a", "b"):
                servers.append(start_serve(name, url, folder))
            for server in servers:
                wait_until_healthy(server)
            a, b = servers
            yield TwoProcesses(db, a, b, organiser, stewards)
        finally:
            for server in servers:
                stop_serve(server)
            db.dispose()


def call(
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body; an HTTP error status is an answer too."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, _lower(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers), error.read()


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sequence(ics: bytes) -> int:
    found = re.findall(rb"^SEQUENCE:(\d+)\r?$", ics, flags=re.MULTILINE)
    assert len(found) == 1, ics
    return int(found[0])


def test_a_session_moved_through_one_process_is_moved_at_once_in_the_others_feeds(
    two_processes: TwoProcesses,
) -> None:
    a, b = two_processes.a, two_processes.b
    feed = f"{b.url}/{DEMO}/programme.ics"
    session_feed = f"{b.url}/{DEMO}/sessions/{MOVED_SESSION}.ics"

    # B has built both feeds, the day's page and the programme JSON (and cached them) before.
    day_page = f"{b.url}/{DEMO}/programme?day=2027-07-10&view=list"
    session_page = f"{b.url}/{DEMO}/sessions/{MOVED_SESSION}"
    programme_json = f"{b.url}/api/{DEMO}/programme"
    status, _, page_before = call("GET", day_page)
    assert status == 200 and b"14:05" not in page_before
    status, _, session_page_before = call("GET", session_page)
    assert status == 200 and b"14:05" not in session_page_before
    status, headers, _ = call("GET", programme_json)
    old_json_etag = headers["etag"]
    assert call("GET", programme_json, headers={"If-None-Match": old_json_etag})[0] == 304
    status, headers, before = call("GET", feed)
    assert status == 200
    old_etag = headers["etag"]
    assert call("GET", feed, headers={"If-None-Match": old_etag})[0] == 304
    status, headers, session_before = call("GET", session_feed)
    assert status == 200
    old_session_etag = headers["etag"]
    assert b"DTSTART;TZID=Australia/Sydney:20270710T093000" in session_before
    new_start = b"DTSTART;TZID=Australia/Sydney:20270710T140500"
    assert new_start not in before

    status, _, answer = call(
        "PATCH",
        f"{a.url}/api/{DEMO}/sessions/{MOVED_SESSION}",
        {"start": "2027-07-10T14:05+10:00", "end": "2027-07-10T15:35+10:00"},
        bearer(two_processes.organiser_token),
    )
    assert status == 200, answer
    assert json.loads(answer)["session"]["start"].startswith("2027-07-10T14:05")
    # Saved to the working copy; "Publish changes", through the same process, makes it public.
    status, _, released = call(
        "POST",
        f"{a.url}/api/{DEMO}/programme/publish",
        {"with_clashes": True},
        bearer(two_processes.organiser_token),
    )
    assert status == 200 and json.loads(released)["release"] is not None, released

    status, headers, after = call("GET", feed, headers={"If-None-Match": old_etag})
    assert status == 200, "B must not answer 304 for the feed as it was before the change"
    assert headers["etag"] != old_etag
    assert new_start in after
    assert call("GET", feed, headers={"If-None-Match": headers["etag"]})[0] == 304

    status, headers, session_after = call(
        "GET", session_feed, headers={"If-None-Match": old_session_etag}
    )
    assert status == 200
    assert headers["etag"] != old_session_etag
    assert new_start in session_after
    assert b"DTEND;TZID=Australia/Sydney:20270710T153500" in session_after
    assert sequence(session_after) == sequence(session_before) + 1

    # The pages and the JSON, cached in B as well, show the move at once too.
    assert b"14:05" in call("GET", session_page)[2]
    assert b"14:05" in call("GET", day_page)[2]
    status, headers, document = call(
        "GET", programme_json, headers={"If-None-Match": old_json_etag}
    )
    assert status == 200 and headers["etag"] != old_json_etag
    [moved] = [s for s in json.loads(document)["sessions"] if s["slug"] == MOVED_SESSION]
    assert moved["start"].startswith("2027-07-10T14:05")


def test_registrations_through_both_processes_at_once_never_oversell_a_small_quota(
    two_processes: TwoProcesses,
) -> None:
    a, b = two_processes.a, two_processes.b
    people = 60

    def register(n: int) -> tuple[int, dict[str, Any]]:
        server = (a, b)[n % 2]
        status, _, body = call(
            "POST",
            f"{server.url}/api/{DEMO}/registrations",
            {"name": f"Person {n}", "email": f"p{n}@example.org", "ticket_type": SMALL_QUOTA_TYPE},
        )
        return status, json.loads(body)

    answers = all_at_once([lambda n=n: register(n) for n in range(people)])

    assert Counter(status for status, _ in answers) == {201: SMALL_QUOTA, 409: people - SMALL_QUOTA}
    assert {body["error"] for status, body in answers if status == 409} == {"sold_out"}
    codes = {body["ticket"]["code"] for status, body in answers if status == 201}
    assert len(codes) == SMALL_QUOTA
    with two_processes.db.read() as session:
        waged = session.exec(select(TicketType).where(TicketType.code == SMALL_QUOTA_TYPE)).one()
        assert waged.places_taken == SMALL_QUOTA
        registered = session.exec(
            select(func.count())
            .select_from(Registration)
            .where(Registration.ticket_type_id == waged.id)
        ).one()
    assert registered == SMALL_QUOTA
    for server in (a, b):  # both processes now say so
        status, _, body = call("GET", f"{server.url}/api/{DEMO}/ticket-types")
        assert status == 200
        [offer] = [t for t in json.loads(body)["ticket_types"] if t["code"] == SMALL_QUOTA_TYPE]
        assert (offer["places_left"], offer["sold_out"]) == (0, True)


def test_one_ticket_scanned_at_both_processes_at_once_is_admitted_once(
    two_processes: TwoProcesses,
) -> None:
    a, b = two_processes.a, two_processes.b
    status, _, body = call(
        "POST",
        f"{a.url}/api/{DEMO}/registrations",
        {"name": "Rosa Luxemburg", "email": "rosa@example.org", "ticket_type": "concession"},
    )
    assert status == 201, body
    ticket_url = json.loads(body)["ticket"]["url"]
    checkins_before = count(two_processes.db, Checkin)

    def scan(n: int) -> tuple[int, dict[str, Any]]:
        door = n % 2
        status, _, body = call(
            "POST",
            f"{(a, b)[door].url}/api/{DEMO}/checkins",
            {"scan": ticket_url, "device": f"door-{door}-{n}"},
            bearer(two_processes.steward_tokens[door]),
        )
        return status, json.loads(body)

    answers = all_at_once([lambda n=n: scan(n) for n in range(10)])

    assert {status for status, _ in answers} == {200}, answers
    assert Counter(body["result"] for _, body in answers) == {"admitted": 1, "already_admitted": 9}
    [admitted] = [body for _, body in answers if body["result"] == "admitted"]
    for _, body in answers:  # both doors tell the same when and who
        assert (body["admitted_at"], body["by"]) == (admitted["admitted_at"], admitted["by"])
    assert count(two_processes.db, Checkin) == checkins_before + 1
