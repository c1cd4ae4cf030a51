"""The door's check-in API, as stewards and organisers use it: scanning, typing a code,
searching, undoing, offline devices catching up, the counters, and who may do which."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.accounts.service import Principal
from confapp.checkin.service import Result, admit, parse_scan
from confapp.db import Database
from confapp.models import AuditEntry, Checkin, CheckinConflict
from confapp.programme.conference_file import check_conference_data, load_conference_spec
from confapp.programme.queries import get_conference
from confapp.programme.synthetic import synthetic_conference_data
from confapp.registration.privacy import erase_attendee
from confapp.registration.service import cancel_registration
from confapp.times import utcnow
from tests.support import DEMO
from tests.support.accounts import api_token, csrf_token, make_user, sign_in
from tests.support.databases import count
from tests.support.door_tokens import labelled_door_token_cases
from tests.support.openapi_contract import assert_matches_contract
from tests.support.registrations import register, registration_id, token_of

OTHER = "other-door"
CHECKINS = "/api/{conference}/checkins"
PEOPLE = {
    "steward": ("steward@example.org", "steward", DEMO),
    "organiser": ("organiser@example.org", "organiser", DEMO),
    "access": ("access@example.org", "access-coordinator", DEMO),
    "other-steward": ("other-steward@example.org", "steward", OTHER),
}


@dataclass
class Door:
    client: TestClient
    db: Database
    tokens: dict[str, str]  # person -> API token

    def post(self, who: str | None, path: str, body: object) -> object:
        headers = {"authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.post(path.format(conference=DEMO), json=body, headers=headers)

    def scan(self, who: str | None, scan: str, **fields: object) -> dict:
        answer = self.post(who, CHECKINS, {"scan": scan, **fields})
        assert answer.status_code == 200, answer.text
        assert_matches_contract("post", CHECKINS, answer)
        return answer.json()

    def get(self, who: str | None, path: str) -> object:
        headers = {"authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.get(path.format(conference=DEMO), headers=headers)

    def delete(self, who: str | None, path: str) -> object:
        headers = {"authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.delete(path.format(conference=DEMO), headers=headers)


def load_other_conference(db: Database) -> None:
    data = synthetic_conference_data(slug=OTHER, sessions=3, rooms=1, days=1)
    data["ticket_types"] = [{"code": "waged", "name": "Waged", "price": 50}]
    with db.transaction() as session:
        load_conference_spec(session, check_conference_data(data))


@pytest.fixture
def door(client: TestClient, db: Database) -> Iterator[Door]:
    load_other_conference(db)
    tokens = {}
    for person, (email, role, conference) in PEOPLE.items():
        make_user(db, email, role, conference)
        tokens[person] = api_token(db, email, "door")
    yield Door(client, db, tokens)


_addresses = itertools.count()


def register_at_door(
    door: Door, name: str = "Rosa Luxemburg", ticket_type: str = "waged", conference: str = DEMO
) -> dict:
    email = f"attendee-{next(_addresses)}@example.org"  # one each: mail is throttled per address
    return register(door.client, name, email, ticket_type, conference)


# --- every answer ---------------------------------------------------------------------------


def test_a_scanned_ticket_admits_its_holder_by_name_and_ticket_type(door: Door) -> None:
    ticket = register_at_door(door, "Rosa Luxemburg", "concession")
    answer = door.scan("steward", ticket["url"])
    assert answer["result"] == "admitted"
    assert answer["attendee"] == {"name": "Rosa Luxemburg", "ticket_type": "Concession"}
    assert answer["by"] == "steward@example.org"
    assert answer["ticket_code"] == ticket["code"]
    admitted_at = datetime.fromisoformat(answer["admitted_at"])
    assert abs(admitted_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_second_scan_of_a_ticket_says_already_admitted_when_and_by_whom(door: Door) -> None:
    ticket = register_at_door(door)
    first = door.scan("steward", ticket["url"])
    second = door.scan("organiser", ticket["url"])
    assert second["result"] == "already_admitted"
    assert second["admitted_at"] == first["admitted_at"]
    assert second["by"] == "steward@example.org"
    assert second["attendee"]["name"] == "Rosa Luxemburg"
    assert count(door.db, Checkin) == 1


def test_the_qr_url_on_any_host_the_bare_token_and_a_typed_code_all_name_the_ticket(
    door: Door,
) -> None:
    by_url, by_token, by_code = (
        register_at_door(door, "A"),
        register_at_door(door, "B"),
        register_at_door(door, "C"),
    )
    elsewhere = "https://door.example.net:8443/tickets/" + token_of(by_url)
    assert door.scan("steward", elsewhere)["result"] == "admitted"
    assert door.scan("steward", f"  {token_of(by_token)}\n")["result"] == "admitted"
    typed = " " + by_code["code"].lower().replace("-", " - ") + " "
    answer = door.scan("steward", typed, method="code")
    assert answer["result"] == "admitted"
    assert answer["attendee"]["name"] == "C"
    with door.db.read() as session:
        methods = sorted(session.exec(select(Checkin.method)).all())
    assert methods == ["code", "scan", "scan"]


def test_a_cancelled_ticket_is_refused_and_says_so(door: Door) -> None:
    ticket = register_at_door(door)
    assert cancel_registration(door.db, registration_id(door.db, ticket))
    answer = door.scan("steward", ticket["url"])
    assert answer["result"] == "cancelled"
    assert answer["attendee"]["name"] == "Rosa Luxemburg"
    assert answer["admitted_at"] is None
    assert count(door.db, Checkin) == 0


def test_an_erased_ticket_is_refused_as_cancelled_naming_nobody(door: Door) -> None:
    ticket = register_at_door(door)
    assert erase_attendee(door.db, registration_id(door.db, ticket))
    for scan in (ticket["url"], ticket["code"]):
        answer = door.scan("steward", scan)
        assert answer["result"] == "cancelled"
        assert answer["attendee"] is None
    assert count(door.db, Checkin) == 0


def test_a_genuine_ticket_of_another_conference_is_the_wrong_conference(door: Door) -> None:
    theirs = register_at_door(door, "Clara", conference=OTHER)
    for scan in (theirs["url"], token_of(theirs), theirs["code"]):
        answer = door.scan("steward", scan)
        assert answer == {
            "result": "wrong_conference",
            "attendee": None,
            "admitted_at": None,
            "by": None,
            "ticket_code": None,
            "payment_status": None,
            "unpaid_at_door": "desk",
            "other_conference": "Synthetic conference (3 sessions)",  # where it belongs
        }
    assert count(door.db, Checkin) == 0


def test_forged_tampered_and_truncated_tokens_are_invalid(door: Door) -> None:
    ticket = register_at_door(door)
    for label, token, valid in labelled_door_token_cases(door.db, token_of(ticket)):
        if not token or valid:
            continue
        answer = door.scan("steward", token)
        expected = "wrong_conference" if "another conference" in label else "invalid"
        assert answer["result"] == expected, label
    assert count(door.db, Checkin) == 0
    assert door.scan("steward", token_of(ticket))["result"] == "admitted"


NASTY_SCANS = [
    "x",
    "https://example.org/tickets/",
    "https://example.org/tickets/?token=1",
    "/tickets/../../etc/passwd",
    base64.urlsafe_b64encode(bytes(78)).decode().rstrip("="),
    base64.urlsafe_b64encode(b"\x02" * 78).decode(),
    "A" * 104,
    "A" * 10_000,
    "ABCD-EFGH-IJKL",  # a code one character short
    "AAAA-AAAA-AAAAA",  # well formed, but nobody's
    "Ünïcödé ✊ 🌹",
    "١٢٣٤٥٦٧٨٩٠١٢٣",
    "²²²²²²²²²²²²²",
    "' OR 1=1 --",
    "%00%ff",
    "https://example.org/tickets/" + "é" * 50,
]


def test_nasty_scans_are_invalid_never_a_server_error(door: Door) -> None:
    register_at_door(door)
    for scan in NASTY_SCANS:
        answer = door.scan("steward", scan)
        assert answer["result"] == "invalid", scan
        assert answer["attendee"] is None
    assert count(door.db, Checkin) == 0


@settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=st.text(max_size=300) | st.from_regex(r"[A-Za-z0-9_-]{90,110}", fullmatch=True))
def test_any_text_at_all_is_read_as_invalid_or_nothing(
    db: Database, demo: object, text: str
) -> None:
    """Straight to the service, without HTTP: no scan of random text admits anyone or raises."""
    parse_scan(text)
    with db.transaction() as session:
        conference = get_conference(session, DEMO)
        assert conference is not None
        nobody = Principal(user_id=0, email="fuzz@example.org")
        answer = admit(session, conference, text, nobody, now=utcnow())
        assert answer.result is Result.invalid
        session.rollback()


def test_scanning_needs_a_scan_and_sensible_fields(door: Door) -> None:
    refused = [
        ({}, "scan"),
        ({"scan": ""}, "scan"),
        ({"scan": 5}, "scan"),
        ({"scan": "ABCD", "method": "telepathy"}, "method"),
        ({"scan": "ABCD", "device": "d" * 65}, "device"),
        ({"scan": "ABCD", "device": 3}, "device"),
        ({"scan": "nul\x00byte"}, "scan"),
    ]
    for body, field in refused:
        answer = door.post("steward", CHECKINS, body)
        assert answer.status_code == 422, (body, answer.text)
        assert field in answer.json()["fields"], answer.json()
        assert_matches_contract("post", CHECKINS, answer)
    not_json = door.client.post(
        CHECKINS.format(conference=DEMO),
        content=b"{scan",
        headers={"authorization": f"Bearer {door.tokens['steward']}"},
    )
    assert not_json.status_code == 400
    assert_matches_contract("post", CHECKINS, not_json)


# --- undo -----------------------------------------------------------------------------------


def test_an_organiser_undoes_a_check_in_and_the_ticket_admits_again(door: Door) -> None:
    ticket = register_at_door(door)
    assert door.scan("steward", ticket["url"])["result"] == "admitted"
    path = "/api/{conference}/checkins/" + ticket["code"].lower()
    undone = door.delete("organiser", path)
    assert undone.status_code == 200, undone.text
    assert undone.json() == {"result": "undone"}
    assert_matches_contract("delete", "/api/{conference}/checkins/{ticket_code}", undone)
    again = door.scan("steward", ticket["url"])
    assert again["result"] == "admitted"
    assert door.scan("steward", ticket["url"])["result"] == "already_admitted"
    with door.db.read() as session:
        checkins = session.exec(select(Checkin).order_by(Checkin.id)).all()
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "checkin_undone")).all()
    assert [c.undone_by for c in checkins] == ["organiser@example.org", ""]
    assert len(audit) == 1
    assert audit[0].ticket_code == ticket["code"].replace("-", "")
    assert audit[0].actor == "organiser@example.org"
    assert "Rosa" not in audit[0].detail


def test_undoing_a_ticket_not_checked_in_or_unknown_changes_nothing(door: Door) -> None:
    ticket = register_at_door(door)
    template = "/api/{conference}/checkins/{ticket_code}"
    not_in = door.delete("organiser", "/api/{conference}/checkins/" + ticket["code"])
    assert not_in.status_code == 409
    assert_matches_contract("delete", template, not_in)
    for code in ("AAAA-AAAA-AAAAA", "not-a-code", "9" * 100):
        unknown = door.delete("organiser", "/api/{conference}/checkins/" + code)
        assert unknown.status_code == 404, code
        assert_matches_contract("delete", template, unknown)
    theirs = register_at_door(door, conference=OTHER)
    elsewhere = door.delete("organiser", "/api/{conference}/checkins/" + theirs["code"])
    assert elsewhere.status_code == 404


# --- who may ----------------------------------------------------------------------------------


def test_only_the_conferences_door_team_may_check_in(door: Door) -> None:
    ticket = register_at_door(door)
    anonymous = door.post(None, CHECKINS, {"scan": ticket["url"]})
    assert anonymous.status_code == 401
    assert_matches_contract("post", CHECKINS, anonymous)
    for person in ("access", "other-steward"):
        refused = door.post(person, CHECKINS, {"scan": ticket["url"]})
        assert refused.status_code == 403, person
        assert_matches_contract("post", CHECKINS, refused)
    assert count(door.db, Checkin) == 0
    assert door.scan("steward", ticket["url"])["result"] == "admitted"


def test_a_steward_may_not_undo_or_see_the_counts(door: Door) -> None:
    ticket = register_at_door(door)
    door.scan("steward", ticket["url"])
    undo = door.delete("steward", "/api/{conference}/checkins/" + ticket["code"])
    assert undo.status_code == 403
    assert door.get("steward", "/api/{conference}/door/stats").status_code == 403
    assert door.get("steward", "/api/{conference}/door/search?q=Rosa").status_code == 200
    assert door.get("access", "/api/{conference}/door/search?q=Rosa").status_code == 403
    assert door.get(None, "/api/{conference}/door/search?q=Rosa").status_code == 401


def test_a_signed_in_steward_checks_in_with_the_csrf_token(door: Door) -> None:
    ticket = register_at_door(door)
    sign_in(door.client, PEOPLE["steward"][0])
    url = CHECKINS.format(conference=DEMO)
    without = door.client.post(url, json={"scan": ticket["url"]})
    assert without.status_code == 403
    token = csrf_token(door.client)
    answer = door.client.post(url, json={"scan": ticket["url"]}, headers={"x-csrf-token": token})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == "admitted"


# --- offline devices catching up --------------------------------------------------------------

SYNC = "/api/{conference}/checkins/sync"


def test_two_devices_admitting_one_ticket_offline_make_one_check_in_and_one_conflict(
    door: Door,
) -> None:
    ticket, other = register_at_door(door, "Rosa"), register_at_door(door, "Clara")
    now = datetime.now(UTC).replace(microsecond=0)
    earlier = (now - timedelta(minutes=10)).isoformat()
    later = (
        (now - timedelta(minutes=4, milliseconds=750))
        .astimezone(timezone(timedelta(hours=10)))
        .isoformat(timespec="milliseconds")
    )
    first_batch = {
        "device": "door-a",
        "admissions": [{"scan": ticket["url"], "admitted_at": earlier}],
    }
    second_batch = {
        "device": "door-b",
        "admissions": [
            {"scan": token_of(ticket), "admitted_at": later},
            {"scan": other["url"], "admitted_at": later},
            {"scan": "forged", "admitted_at": later},
        ],
    }
    first = door.post("steward", SYNC, first_batch)
    assert first.status_code == 200, first.text
    assert_matches_contract("post", SYNC, first)
    assert [r["result"] for r in first.json()["results"]] == ["admitted"]
    said = first.json()["results"][0]["admitted_at"]
    assert datetime.fromisoformat(said) == datetime.fromisoformat(earlier)

    second = door.post("organiser", SYNC, second_batch)
    assert second.status_code == 200, second.text
    results = second.json()["results"]
    assert [r["result"] for r in results] == ["already_admitted", "admitted", "invalid"]
    assert results[0]["admitted_at"] == said and results[0]["by"] == "steward@example.org"

    with door.db.read() as session:
        checkins = session.exec(select(Checkin).order_by(Checkin.id)).all()
        conflicts = session.exec(select(CheckinConflict)).all()
    assert len(checkins) == 2
    assert {c.method for c in checkins} == {"offline"}
    assert checkins[0].admitted_at == datetime.fromisoformat(earlier)
    assert checkins[0].recorded_at > checkins[0].admitted_at
    assert len(conflicts) == 1
    assert conflicts[0].device == "door-b"
    assert conflicts[0].checkin_id == checkins[0].id
    assert conflicts[0].admitted_at == datetime.fromisoformat(later)

    # Neither device heard its answer and both send again: nothing changes, same answers.
    again_first = door.post("steward", SYNC, first_batch).json()
    again_second = door.post("organiser", SYNC, second_batch).json()
    assert again_first == first.json()
    assert again_second == second.json()
    assert count(door.db, Checkin) == 2
    assert count(door.db, CheckinConflict) == 1
    stats = door.get("organiser", "/api/{conference}/door/stats").json()
    assert stats["conflicts"] == 1 and stats["admitted"] == 2


def test_a_ticket_cancelled_before_an_offline_admission_is_kept_as_a_conflict(door: Door) -> None:
    ticket = register_at_door(door)
    assert cancel_registration(door.db, registration_id(door.db, ticket))
    batch = {
        "device": "door-a",
        "admissions": [{"scan": ticket["url"], "admitted_at": "2027-07-10T09:00:00Z"}],
    }
    for _ in range(2):
        answer = door.post("steward", SYNC, batch).json()
        assert [r["result"] for r in answer["results"]] == ["cancelled"]
    assert count(door.db, Checkin) == 0
    with door.db.read() as session:
        assert [c.result for c in session.exec(select(CheckinConflict)).all()] == ["cancelled"]


def test_a_sync_needs_a_device_and_times_with_their_offset(door: Door) -> None:
    ticket = register_at_door(door)
    refused = [
        ({"admissions": []}, "device"),
        ({"device": "d", "admissions": "no"}, "admissions"),
        ({"device": "d", "admissions": ["x"]}, "admissions[0]"),
        ({"device": "d", "admissions": [{"scan": ticket["url"]}]}, "admissions[0].admitted_at"),
        (
            {"device": "d", "admissions": [{"scan": 1, "admitted_at": "2027-07-10T09:00:00Z"}]},
            "admissions[0].scan",
        ),
        (
            {"device": "d", "admissions": [{"scan": "x", "admitted_at": "2027-07-10T09:00:00"}]},
            "admissions[0].admitted_at",
        ),
        (
            {"device": "d", "admissions": [{"scan": "x", "admitted_at": "yesterday"}]},
            "admissions[0].admitted_at",
        ),
    ]
    for body, field in refused:
        answer = door.post("steward", SYNC, body)
        assert answer.status_code == 422, (body, answer.text)
        assert field in answer.json()["fields"], answer.json()
        assert_matches_contract("post", SYNC, answer)
    assert count(door.db, Checkin) == 0
    assert door.post("other-steward", SYNC, {"device": "d", "admissions": []}).status_code == 403


# --- search and counts ------------------------------------------------------------------------

SEARCH = "/api/{conference}/door/search"


def test_a_steward_finds_a_ticket_by_part_of_a_name_or_the_start_of_its_code(door: Door) -> None:
    rosa = register_at_door(door, "Rosa Luxemburg")
    register_at_door(door, "Clara Zetkin", "concession")
    door.scan("steward", rosa["url"])
    by_name = door.get("steward", SEARCH + "?q=luxem")
    assert by_name.status_code == 200
    assert_matches_contract("get", SEARCH, by_name)
    [match] = by_name.json()["matches"]
    assert match["name"] == "Rosa Luxemburg" and match["ticket_code"] == rosa["code"]
    assert match["status"] == "active" and match["admitted_at"] is not None
    assert "email" not in match
    code_start = rosa["code"][:6].lower()
    by_code = door.get("steward", SEARCH + f"?q={code_start}").json()["matches"]
    assert rosa["code"] in [m["ticket_code"] for m in by_code]
    zetkin = door.get("steward", SEARCH + "?q=ZETKIN").json()["matches"]
    assert [(m["ticket_type"], m["admitted_at"]) for m in zetkin] == [("Concession", None)]
    assert door.get("steward", SEARCH + "?q=%25").status_code == 422
    assert door.get("steward", SEARCH + "?q=%25%25").json()["matches"] == []


def test_search_wants_two_characters_and_gives_at_most_twenty(door: Door) -> None:
    for n in range(22):
        register_at_door(door, f"Comrade {n:02}")
    for q in ("", "C", " C "):
        short = door.get("steward", SEARCH + f"?q={q}")
        assert short.status_code == 422
        assert_matches_contract("get", SEARCH, short)
    assert len(door.get("steward", SEARCH + "?q=comrade").json()["matches"]) == 20
    assert door.get("steward", SEARCH + "?q=" + "x" * 101).status_code == 422


def test_erased_attendees_are_not_found_by_search(door: Door) -> None:
    ticket = register_at_door(door, "Rosa Luxemburg")
    erase_attendee(door.db, registration_id(door.db, ticket))
    assert door.get("steward", SEARCH + "?q=rosa").json()["matches"] == []
    code = ticket["code"].replace("-", "")
    assert door.get("steward", SEARCH + f"?q={code}").json()["matches"] == []


def test_the_door_counts_admitted_against_expected_per_ticket_type(door: Door) -> None:
    waged = [register_at_door(door, f"W{n}") for n in range(3)]
    concession = [register_at_door(door, f"C{n}", "concession") for n in range(2)]
    cancelled = register_at_door(door, "Gone")
    assert cancel_registration(door.db, registration_id(door.db, cancelled))
    for ticket in (waged[0], waged[1], concession[0]):
        door.scan("steward", ticket["url"])
    door.scan("steward", waged[0]["url"])  # a second scan counts once
    answer = door.get("organiser", "/api/{conference}/door/stats")
    assert answer.status_code == 200
    assert_matches_contract("get", "/api/{conference}/door/stats", answer)
    stats = answer.json()
    assert (stats["admitted"], stats["expected"], stats["conflicts"]) == (3, 5, 0)
    by_type = {t["code"]: (t["admitted"], t["expected"]) for t in stats["ticket_types"]}
    assert by_type["waged"] == (2, 3)
    assert by_type["concession"] == (1, 2)
    assert by_type["free"] == (0, 0)
    door.delete("organiser", "/api/{conference}/checkins/" + waged[1]["code"])
    assert door.get("organiser", "/api/{conference}/door/stats").json()["admitted"] == 2
