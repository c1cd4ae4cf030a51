"""The programme editor's JSON API, as an organiser's script uses it: building a programme from
an empty conference, moving sessions and being told of every kind of clash, version conflicts,
refusals with reasons, who may do what, and the public programme and calendars following each
change. Every answer is held to the OpenAPI document. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from icalendar import Calendar
from sqlmodel import select
from starlette.testclient import TestClient

from confapp import urls
from confapp.app import create_app
from confapp.db import Database
from confapp.models import ProgrammeSession, Room
from confapp.programme.conference_file import load_conference_spec, parse_conference_text
from confapp.settings import Settings
from tests.support import DEMO
from tests.support.accounts import ORGANISER, STEWARD, api_token, csrf_token, make_user, sign_in
from tests.support.openapi_contract import assert_matches_contract

SLUG = "teach-in"
# An empty conference whose programme is a draft, as an organiser starts one. London in May
# is on summer time (+01:00).
EMPTY_CONFERENCE = """
[conference]
slug = "teach-in"
name = "Teach-in 2027"
timezone = "Europe/London"
start_date = 2027-05-01
end_date = 2027-05-02
venue = "Conway Hall"
day_starts = "09:00"
day_ends = "18:00"
draft = true
"""
DEMO_ORGANISER = "demo-organiser@example.org"

SESSIONS = "/api/{conference}/sessions"
SESSION = "/api/{conference}/sessions/{session}"
PUBLISH = "/api/{conference}/programme/publish"


def at(clock: str, day: int = 1) -> str:
    return f"2027-05-0{day}T{clock}:00+01:00"


class Script:
    """An organiser's script: an HTTP client with a Bearer token, checking every answer
    against the OpenAPI document."""

    def __init__(self, client: TestClient, token: str | None) -> None:
        self.client = client
        self.headers = {"authorization": f"Bearer {token}"} if token else {}

    def call(
        self,
        method: str,
        template: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        **names: str,
    ) -> Any:
        path = template.format(conference=names.pop("conference", SLUG), **names)
        answer = self.client.request(
            method,
            path,
            json=body,
            headers={**self.headers, **(headers or {})},
            follow_redirects=False,
        )
        assert answer.status_code < 500, answer.text
        assert_matches_contract(method.lower(), template, answer)
        return answer

    def get(self, template: str, **names: str) -> Any:
        return self.call("GET", template, **names)

    def post(self, template: str, body: Any, **names: str) -> Any:
        return self.call("POST", template, body, **names)

    def patch(self, slug: str, body: Any, if_match: str | None = None) -> Any:
        headers = {"if-match": if_match} if if_match is not None else {}
        return self.call("PATCH", SESSION, body, headers, session=slug)

    def made(self, template: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.post(template, body)
        assert answer.status_code == 201, answer.text
        return answer.json()


@pytest.fixture
def teach_in(db: Database, demo: object) -> Database:
    """The demo conference, and an empty draft one with its organiser and steward."""
    with db.transaction() as session:
        load_conference_spec(session, parse_conference_text(EMPTY_CONFERENCE))
    make_user(db, ORGANISER, "organiser", SLUG)
    make_user(db, STEWARD, "steward", SLUG)
    make_user(db, DEMO_ORGANISER, "organiser", DEMO)
    return db


@pytest.fixture
def script(client: TestClient, teach_in: Database) -> Script:
    return Script(client, api_token(teach_in, ORGANISER))


def build_programme(script: Script) -> None:
    """Rooms, a track, speakers and two sessions, all through the API."""
    for room in (
        {"name": "Main Hall", "capacity": 300, "step_free": True},
        {"name": "Back Room", "capacity": 2, "step_free": False},
        {"name": "Library", "step_free": True},
        {"name": "Annex", "access_notes": "Up a flight of stairs, we think."},
    ):
        script.made("/api/{conference}/rooms", room)
    script.made("/api/{conference}/tracks", {"name": "Climate", "colour": "#2E7D32"})
    for speaker in (
        {"name": "Rosa Luxemburg", "slug": "rosa", "needs_step_free": True},
        {"name": "Karl Liebknecht", "slug": "karl", "pronouns": "he/him"},
        {"name": "Clara Zetkin", "slug": "clara"},
    ):
        script.made("/api/{conference}/speakers", speaker)
    script.made(
        SESSIONS,
        {
            "title": "Opening rally",
            "slug": "opening",
            "kind": "plenary",
            "start": at("10:00"),
            "end": at("11:00"),
            "room": "main-hall",
            "people": [{"speaker": "rosa", "role": "speaker"}],
        },
    )
    script.made(
        SESSIONS,
        {
            "title": "The mass strike",
            "start": at("12:00"),
            "end": at("13:00"),
            "room": "main-hall",
            "track": "climate",
            "people": ["karl", {"speaker": "clara", "role": "chair"}],
        },
    )


@pytest.fixture
def built(script: Script) -> Script:
    build_programme(script)
    return script


def _publish(script: Script) -> None:
    answer = script.post(PUBLISH, None)
    assert answer.status_code == 200, answer.text


def _ics(client: TestClient, path: str) -> Any:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    return Calendar.from_ical(answer.content).walk("VEVENT")


# --- building a programme -----------------------------------------------------------------


def test_a_script_builds_a_programme_from_an_empty_conference(
    script: Script, client: TestClient
) -> None:
    assert script.get(SESSIONS).json() == {"sessions": [], "writes_to": "draft"}
    build_programme(script)

    rooms = script.get("/api/{conference}/rooms").json()["rooms"]
    assert [(r["slug"], r["capacity"], r["step_free"]) for r in rooms] == [
        ("main-hall", 300, True),
        ("back-room", 2, False),
        ("library", None, True),
        ("annex", None, None),
    ]
    assert all(r["version"] == 1 for r in rooms)
    (track,) = script.get("/api/{conference}/tracks").json()["tracks"]
    assert (track["slug"], track["colour"]) == ("climate", "#2e7d32")
    speakers = script.get("/api/{conference}/speakers").json()["speakers"]
    assert [(s["slug"], s["needs_step_free"]) for s in speakers] == [
        ("clara", False),
        ("karl", False),
        ("rosa", True),
    ]
    sessions = script.get(SESSIONS).json()["sessions"]
    assert [s["slug"] for s in sessions] == ["opening", "the-mass-strike"]
    strike = sessions[1]
    assert strike["start"] == "2027-05-01T12:00:00+01:00"
    assert strike["room"] == "main-hall" and strike["track"] == "climate"
    assert [(p["speaker"], p["role"]) for p in strike["people"]] == [
        ("karl", "speaker"),
        ("clara", "chair"),
    ]
    assert strike["made_on_web"] is True and strike["version"] == 1

    # A draft: the public sees nothing yet, and Rosa's access need is never public.
    public = client.get(f"/api/{SLUG}/programme").json()
    assert public["sessions"] == [] and public["speakers"] == []
    _publish(script)
    public = client.get(f"/api/{SLUG}/programme").json()
    assert [s["slug"] for s in public["sessions"]] == ["opening", "the-mass-strike"]
    assert all("needs_step_free" not in s for s in public["speakers"])
    assert "needs_step_free" not in client.get(f"/api/{SLUG}/programme").text


def test_a_new_session_answers_201_with_its_address_and_clashes(built: Script) -> None:
    answer = built.post(SESSIONS, {"title": "Unplaced", "start": at("14:00"), "end": at("15:00")})
    assert answer.status_code == 201
    assert answer.headers["location"] == f"/api/{SLUG}/sessions/unplaced"
    assert answer.headers["etag"] == '"1"'
    kinds = {c["kind"] for c in answer.json()["clashes"]}
    assert kinds == {"no_room", "no_speaker"}
    again = built.get(SESSION, session="unplaced")
    assert again.status_code == 200 and again.json()["session"]["title"] == "Unplaced"


# --- moving sessions and every kind of clash ------------------------------------------------


CLASH_CASES = [
    # (the change to "the-mass-strike", the clash it makes, the other session it names)
    ({"start": at("10:30"), "end": at("11:30")}, "room_double_booked", "opening"),
    (
        {"start": at("10:30"), "end": at("11:30"), "room": "library", "people": ["rosa"]},
        "person_double_booked",
        "opening",
    ),
    ({"start": at("10:00", day=3), "end": at("11:00", day=3)}, "outside_conference_days", None),
    ({"start": at("17:30"), "end": at("18:30")}, "outside_conference_hours", None),
    ({"room": None}, "no_room", None),
    ({"people": [{"speaker": "clara", "role": "chair"}]}, "no_speaker", None),
    ({"room": "back-room", "people": ["rosa"]}, "not_step_free", None),
    ({"room": "annex", "people": ["rosa"]}, "not_step_free", None),
]


@pytest.mark.parametrize(("change", "kind", "other"), CLASH_CASES)
def test_a_moved_session_comes_back_with_its_new_times_and_each_kind_of_clash(
    built: Script, change: dict[str, Any], kind: str, other: str | None
) -> None:
    answer = built.patch("the-mass-strike", change)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    session = body["session"]
    if "start" in change:
        assert (session["start"], session["end"]) == (change["start"], change["end"])
    assert session["version"] == 2 and answer.headers["etag"] == '"2"'
    clashes = [(c["kind"], c["session"], c["other_session"]) for c in body["clashes"]]
    assert clashes == [(kind, "the-mass-strike", other)], body["clashes"]
    assert body["clashes"][0]["message"]
    if other is not None:
        # The other side is told too, naming this one.
        theirs = built.get(SESSION, session=other).json()["clashes"]
        assert [(c["kind"], c["other_session"]) for c in theirs] == [(kind, "the-mass-strike")]


def test_more_people_starred_than_the_room_holds_is_a_clash(
    built: Script, client: TestClient
) -> None:
    _publish(built)
    assert built.patch("the-mass-strike", {"room": "back-room"}).json()["clashes"] == []
    for _ in range(3):  # three people, each in their own browser
        browser = TestClient(client.app)
        starred = browser.post(
            f"/{SLUG}/sessions/the-mass-strike/star",
            data={"starred": "yes"},
            headers={"accept": "application/json"},
        )
        assert starred.status_code == 200, starred.text
    (clash,) = built.get(SESSION, session="the-mass-strike").json()["clashes"]
    assert clash["kind"] == "room_too_small"
    assert clash["message"] == "3 people starred it; Back Room holds 2."


def test_an_unchanged_patch_saves_nothing_and_keeps_the_version(built: Script) -> None:
    answer = built.patch("the-mass-strike", {"start": "2027-05-01T11:00:00Z", "room": "main-hall"})
    assert answer.status_code == 200
    assert answer.json()["changed"] == [] and answer.headers["etag"] == '"1"'
    moved = built.patch("the-mass-strike", {"room": "library", "start": at("12:30")})
    assert moved.json()["changed"] == ["room", "start"]


# --- versions -----------------------------------------------------------------------------


def test_the_second_of_two_changes_from_the_same_version_gets_409_with_the_current_one(
    built: Script,
) -> None:
    opened = built.get(SESSION, session="the-mass-strike")
    etag = opened.headers["etag"]
    assert etag == '"1"'
    first = built.patch("the-mass-strike", {"room": "library"}, if_match=etag)
    assert first.status_code == 200 and first.headers["etag"] == '"2"'
    second = built.patch("the-mass-strike", {"title": "Overwritten?"}, if_match=etag)
    assert second.status_code == 409
    body = second.json()
    assert body["error"] == "conflict" and "Nothing was saved" in body["detail"]
    assert body["current"]["room"] == "library" and body["current"]["version"] == 2
    assert body["current"]["title"] == "The mass strike"
    assert second.headers["etag"] == '"2"'
    # The version in the body counts the same; a weak ETag never matches (412); * is any.
    stale = built.patch("the-mass-strike", {"title": "Overwritten?", "version": 1})
    assert stale.status_code == 409
    weak = built.patch("the-mass-strike", {"title": "Retitled"}, if_match='W/"2"')
    assert weak.status_code == 412
    strong = built.patch("the-mass-strike", {"title": "Retitled"}, if_match='"2"')
    assert strong.status_code == 200
    anything = built.patch("the-mass-strike", {"title": "Again"}, if_match="*")
    assert anything.status_code == 200 and anything.json()["session"]["version"] == 4


def _at_once(scripts: list[Script], titles: list[str], etag: str) -> list[int]:
    """Each script retitles the session from the same version, all let go at one moment."""
    start = threading.Barrier(len(scripts))
    statuses: list[int] = []

    def change(script: Script, title: str) -> None:
        start.wait(10)
        statuses.append(script.patch("the-mass-strike", {"title": title}, etag).status_code)

    threads = [
        threading.Thread(target=change, args=pair) for pair in zip(scripts, titles, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses


def test_two_scripts_changing_one_session_at_once_cannot_both_win(
    built: Script, settings: Settings, teach_in: Database
) -> None:
    """Two app processes (their own engines and pools), the same version, at the same time:
    one saves, the other is refused; every round."""
    token = api_token(teach_in, ORGANISER)
    with (
        TestClient(create_app(settings), raise_server_exceptions=False) as one,
        TestClient(create_app(settings), raise_server_exceptions=False) as two,
    ):
        scripts = [Script(one, token), Script(two, token)]
        for round_ in range(5):
            etag = built.get(SESSION, session="the-mass-strike").headers["etag"]
            titles = [f"Round {round_} by {n}" for n in range(2)]
            assert sorted(_at_once(scripts, titles, etag)) == [200, 409]
    final = built.get(SESSION, session="the-mass-strike").json()["session"]
    assert final["version"] == 6 and final["title"].startswith("Round 4 by ")


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"start": "2027-05-01T12:30"}, "start", "needs a UTC offset"),
        ({"start": "soon"}, "start", "not a date and time"),
        ({"start": at("14:00"), "end": at("13:00")}, "end", "must be after the start"),
        ({"end": at("11:00")}, "end", "must be after the start"),
        ({"room": "the-moon"}, "room", "there is no room “the-moon”"),
        ({"track": "history"}, "track", "there is no track"),
        ({"speakers": ["karl"]}, "speakers", "is not a field of a session"),
        ({"title": 42}, "title", "must be text"),
        ({"title": ""}, "title", "must not be empty"),
        ({"start": 1_800_000_000}, "start", "ISO 8601"),
        ({"room": ["main-hall"]}, "room", "slug or null"),
        ({"people": {"karl": "speaker"}}, "people", "must be a list"),
        ({"people": ["engels"]}, "people", "no speaker called “engels”"),
        ({"status": "postponed"}, "status", "must be one of"),
        ({"kind": None}, "kind", "must be one of"),
        ({"version": "latest"}, "version", "whole number"),
    ],
)
def test_a_refused_change_answers_422_with_a_reason_per_field_and_saves_nothing(
    built: Script, change: dict[str, Any], field: str, reason: str
) -> None:
    answer = built.patch("the-mass-strike", {**change, "abstract": "Changed?"})
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "invalid"
    assert reason in body["fields"][field], body["fields"]
    after = built.get(SESSION, session="the-mass-strike").json()["session"]
    assert after["version"] == 1 and after["abstract"] == ""


def test_an_unreadable_if_match_or_body_is_refused(built: Script) -> None:
    # An If-Match naming no version can never match: a failed precondition (RFC 9110).
    for if_match in ("yesterday", '"abc"', 'W/"1"', "1", '"1", "2"'):
        refused = built.patch("the-mass-strike", {"title": "X"}, if_match=if_match)
        assert refused.status_code == 412, (if_match, refused.text)
        assert "If-Match" in refused.json()["fields"]
    deleting = built.call(
        "DELETE", SESSION, headers={"if-match": 'W/"1"'}, session="the-mass-strike"
    )
    assert deleting.status_code == 412
    # A well-formed but stale version is a conflict, with the record as it now stands.
    stale = built.patch("the-mass-strike", {"title": "X"}, if_match='"7"')
    assert stale.status_code == 409 and stale.json()["current"]["version"] == 1
    after = built.get(SESSION, session="the-mass-strike").json()["session"]
    assert after["title"] != "X" and after["version"] == 1
    not_an_object = built.patch("the-mass-strike", ["title", "X"])
    assert not_an_object.status_code == 400
    assert not_an_object.json()["error"] == "invalid_json"


def test_a_new_session_without_its_times_or_with_a_taken_slug_is_refused_whole(
    built: Script,
) -> None:
    missing = built.post(SESSIONS, {"title": "No times", "room": "library"})
    assert missing.status_code == 422
    assert set(missing.json()["fields"]) == {"start", "end"}
    taken = built.post(
        SESSIONS,
        {"title": "Twice", "slug": "opening", "start": at("14:00"), "end": at("15:00")},
    )
    assert taken.status_code == 422 and "taken" in taken.json()["fields"]["slug"]
    assert len(built.get(SESSIONS).json()["sessions"]) == 2


@pytest.mark.parametrize(
    ("template", "body", "field"),
    [
        ("/api/{conference}/rooms", {"name": "Hall", "capacity": "lots"}, "capacity"),
        ("/api/{conference}/rooms", {"capacity": 20}, "name"),
        ("/api/{conference}/tracks", {"name": "Red", "colour": "red"}, "colour"),
        ("/api/{conference}/speakers", {"name": "Eve", "links": ["ftp://x"]}, "links"),
        ("/api/{conference}/speakers", {"name": "Eve", "email": "eve@example.org"}, "email"),
    ],
)
def test_a_refused_room_track_or_speaker_answers_422(
    built: Script, template: str, body: dict[str, Any], field: str
) -> None:
    answer = built.post(template, body)
    assert answer.status_code == 422 and field in answer.json()["fields"], answer.text


def test_rooms_speakers_and_tracks_are_changed_with_versions(built: Script) -> None:
    room = "/api/{conference}/rooms/{room}"
    opened = built.get(room, room="annex")
    assert opened.headers["etag"] == '"1"'
    assert opened.json()["room"]["step_free"] is None
    changed = built.call("PATCH", room, {"step_free": True}, {"if-match": '"1"'}, room="annex")
    assert changed.status_code == 200, changed.text
    assert changed.json()["room"]["step_free"] is True and changed.json()["changed"] == [
        "step_free"
    ]
    stale = built.call("PATCH", room, {"capacity": 10}, {"if-match": '"1"'}, room="annex")
    assert stale.status_code == 409 and stale.json()["current"]["version"] == 2
    speaker = "/api/{conference}/speakers/{speaker}"
    karl = built.call("PATCH", speaker, {"needs_step_free": True}, speaker="karl")
    assert karl.json()["speaker"]["needs_step_free"] is True
    renamed = built.call("PATCH", speaker, {"slug": "karl-l"}, speaker="karl")
    assert renamed.status_code == 422 and "slug" in renamed.json()["fields"]
    # Karl now needs step-free access too: his session's room had better have it.
    clashes = built.patch("the-mass-strike", {"room": "back-room"}).json()["clashes"]
    assert [c["kind"] for c in clashes] == ["not_step_free"]


# --- who may ------------------------------------------------------------------------------


def test_who_may_use_the_editor_api(built: Script, client: TestClient, teach_in: Database) -> None:
    anonymous = Script(client, None)
    for method, template, names in [
        ("GET", SESSIONS, {}),
        ("GET", SESSION, {"session": "opening"}),
        ("PATCH", SESSION, {"session": "opening"}),
        ("DELETE", SESSION, {"session": "opening"}),
        ("POST", PUBLISH, {}),
    ]:
        body = {"title": "Hijacked"} if method == "PATCH" else None
        answer = anonymous.call(method, template, body, **names)
        assert answer.status_code == 401, (method, template)
        assert answer.headers["www-authenticate"] == "Bearer"
        for email in (STEWARD, DEMO_ORGANISER):
            other = Script(client, api_token(teach_in, email))
            assert other.call(method, template, body, **names).status_code == 403, email
    assert built.get(SESSION, session="opening").json()["session"]["title"] == "Opening rally"
    assert built.get(SESSIONS, conference="no-such-conference").status_code == 404
    missing = built.get(SESSION, session="no-such-session")
    assert missing.status_code == 404 and missing.json()["error"] == "not found"
    assert built.patch("no-such-session", {"title": "X"}).status_code == 404
    assert built.call("DELETE", SESSION, session="no-such-session").status_code == 404
    assert built.get("/api/{conference}/rooms/{room}", room="no-such-room").status_code == 404


def test_a_signed_in_browser_must_send_its_csrf_token_to_change_anything(
    built: Script, settings: Settings
) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as browser:
        sign_in(browser, ORGANISER)
        token = csrf_token(browser)
        cookie = Script(browser, None)
        assert cookie.get(SESSION, session="opening").status_code == 200  # reading needs none
        refused = cookie.patch("opening", {"start": at("09:30"), "end": at("10:30")})
        assert refused.status_code == 403
        forged = cookie.call(
            "PATCH", SESSION, {"title": "X"}, {"x-csrf-token": "not-the-token"}, session="opening"
        )
        assert forged.status_code == 403
        saved = cookie.call(
            "PATCH",
            SESSION,
            {"start": at("09:30"), "end": at("10:30")},
            {"x-csrf-token": token},
            session="opening",
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["session"]["start"] == at("09:30")
        assert cookie.post(PUBLISH, None).status_code == 403


# --- what the public and the calendars see ------------------------------------------------


def test_a_change_to_a_published_programme_reaches_the_json_and_every_calendar(
    built: Script, client: TestClient
) -> None:
    _publish(built)
    feed = client.get(urls.programme_feed_path(SLUG))
    assert feed.status_code == 200
    (event,) = _ics(client, urls.session_feed_path(SLUG, "the-mass-strike"))
    sequence = int(event["SEQUENCE"])

    moved = built.patch("the-mass-strike", {"start": at("14:00"), "end": at("15:30")})
    assert moved.status_code == 200
    assert moved.json()["writes_to"] == "working-copy"
    assert moved.json()["session"]["start"] == "2027-05-01T14:00:00+01:00"
    # Saved to the working copy: the public programme and calendars are as they were...
    public = client.get(f"/api/{SLUG}/programme").json()
    strike = next(s for s in public["sessions"] if s["slug"] == "the-mass-strike")
    assert strike["start"] != "2027-05-01T14:00:00+01:00"
    (event,) = _ics(client, urls.session_feed_path(SLUG, "the-mass-strike"))
    assert int(event["SEQUENCE"]) == sequence
    pending = built.get("/api/{conference}/programme/pending").json()
    assert [(p["session"], p["kind"], p["fields"]) for p in pending["pending"]] == [
        ("the-mass-strike", "changed", ["end", "start"])
    ]
    # ...until the organiser publishes the changes.
    released = built.post(PUBLISH, {"note": "The strike talk moves to the afternoon."})
    assert released.status_code == 200, released.text
    assert released.json()["release"]["sessions"] == 1
    assert built.get("/api/{conference}/programme/pending").json()["pending"] == []

    public = client.get(f"/api/{SLUG}/programme").json()
    strike = next(s for s in public["sessions"] if s["slug"] == "the-mass-strike")
    assert (strike["start"], strike["end"]) == (
        "2027-05-01T14:00:00+01:00",
        "2027-05-01T15:30:00+01:00",
    )
    (event,) = _ics(client, urls.session_feed_path(SLUG, "the-mass-strike"))
    assert int(event["SEQUENCE"]) == sequence + 1
    assert event.decoded("DTSTART").isoformat() == "2027-05-01T14:00:00+01:00"
    again = client.get(
        urls.programme_feed_path(SLUG), headers={"if-none-match": feed.headers["etag"]}
    )
    assert again.status_code == 200 and again.headers["etag"] != feed.headers["etag"]
    changes = client.get(f"/{SLUG}/changes")
    assert changes.status_code == 200 and "The mass strike" in changes.text


def test_a_draft_shows_nothing_in_public_until_it_is_published(
    built: Script, client: TestClient
) -> None:
    assert client.get(f"/api/{SLUG}/programme").json()["sessions"] == []
    assert _ics(client, urls.programme_feed_path(SLUG)) == []
    assert client.get(urls.session_feed_path(SLUG, "opening")).status_code == 404
    xml = client.get(urls.schedule_xml_path(SLUG))
    assert xml.status_code == 200 and b"Opening rally" not in xml.content

    published = built.post(PUBLISH, None)
    assert published.status_code == 200
    assert published.json()["published_at"].endswith(("+01:00", "+00:00"))
    assert built.post(PUBLISH, None).json() == published.json()  # once is enough

    titles = [s["title"] for s in client.get(f"/api/{SLUG}/programme").json()["sessions"]]
    assert titles == ["Opening rally", "The mass strike"]
    assert len(_ics(client, urls.programme_feed_path(SLUG))) == 2
    assert b"Opening rally" in client.get(urls.schedule_xml_path(SLUG)).content


def test_deleting_a_draft_session_removes_it(built: Script, teach_in: Database) -> None:
    answer = built.call("DELETE", SESSION, session="the-mass-strike")
    assert answer.status_code == 200 and answer.json() == {
        "result": "deleted",
        "writes_to": "draft",
    }
    assert built.get(SESSION, session="the-mass-strike").status_code == 404
    with teach_in.read() as session:
        slugs = session.exec(select(ProgrammeSession.slug)).all()
    assert "the-mass-strike" not in slugs


def test_deleting_a_published_session_cancels_it_and_calendars_are_told(
    built: Script, client: TestClient
) -> None:
    _publish(built)
    stale = built.call("DELETE", SESSION, headers={"if-match": '"7"'}, session="the-mass-strike")
    assert stale.status_code == 409 and stale.json()["current"]["status"] == "confirmed"
    answer = built.call("DELETE", SESSION, headers={"if-match": '"1"'}, session="the-mass-strike")
    assert answer.status_code == 200
    assert answer.json() == {"result": "cancelled", "writes_to": "working-copy"}
    assert built.post(PUBLISH, None).json()["release"]["changes"] == 1
    (event,) = _ics(client, urls.session_feed_path(SLUG, "the-mass-strike"))
    assert event["STATUS"] == "CANCELLED"
    listed = built.get(SESSIONS).json()["sessions"]
    assert [s["status"] for s in listed] == ["confirmed", "cancelled"]
    # Restored by setting its status again.
    restored = built.patch("the-mass-strike", {"status": "confirmed"})
    assert restored.json()["session"]["status"] == "confirmed"


def test_a_room_track_or_speaker_in_use_cannot_be_deleted(
    built: Script, teach_in: Database
) -> None:
    for template, names in [
        ("/api/{conference}/rooms/{room}", {"room": "main-hall"}),
        ("/api/{conference}/tracks/{track}", {"track": "climate"}),
        ("/api/{conference}/speakers/{speaker}", {"speaker": "karl"}),
    ]:
        answer = built.call("DELETE", template, **names)
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"] == "in_use"
    with teach_in.read() as session:
        assert session.exec(select(Room).where(Room.slug == "main-hall")).first() is not None
    unused = built.call("DELETE", "/api/{conference}/rooms/{room}", room="annex")
    assert unused.status_code == 200 and unused.json() == {"result": "deleted"}
    assert [r["slug"] for r in built.get("/api/{conference}/rooms").json()["rooms"]] == [
        "main-hall",
        "back-room",
        "library",
    ]


@pytest.fixture
def demo_script(client: TestClient, teach_in: Database) -> Script:
    return Script(client, api_token(teach_in, DEMO_ORGANISER))


def test_the_demo_conference_lists_every_session_with_its_version(demo_script: Script) -> None:
    sessions = demo_script.get(SESSIONS, conference=DEMO).json()["sessions"]
    assert len(sessions) > 20
    assert all(s["version"] >= 1 and s["made_on_web"] is False for s in sessions)
    starts = [s["start"] for s in sessions]
    assert starts == sorted(starts)
