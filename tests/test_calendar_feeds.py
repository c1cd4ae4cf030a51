"""Calendar feeds: what a calendar app subscribed to the programme sees, read by two parsers
(Python's icalendar and Mozilla's ical.js, as in Thunderbird), over HTTP as apps fetch it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from icalendar import Calendar
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.calendar import publish
from confapp.db import Database
from confapp.http_cache import BodyCache
from confapp.migrate import upgrade_to_head
from confapp.programme.conference_file import (
    LoadReport,
    check_conference_data,
    load_conference_file,
    load_conference_spec,
    session_uuid,
)
from confapp.programme.queries import get_conference
from confapp.resources import demo_seed_path
from confapp.settings import Settings
from tests.support import DEMO
from tests.support.icaljs import icaljs_folder, parse_with_icaljs

FEED = f"/{DEMO}/programme.ics"
ICAL_TYPE = "text/calendar; charset=utf-8; method=PUBLISH"


# ---- helpers --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def icaljs() -> Path:
    return icaljs_folder()


def events_of(body: bytes) -> dict[str, Any]:
    """The feed's VEVENTs by UID, parsed by icalendar."""
    return {str(e["UID"]): e for e in Calendar.from_ical(body).walk("VEVENT")}


def api_sessions(client: TestClient) -> dict[str, dict[str, Any]]:
    """The programme JSON's sessions by their calendar UID."""
    sessions = client.get(f"/api/{DEMO}/programme").json()["sessions"]
    return {f"{s['uuid']}@confapp": s for s in sessions}


def unix(iso_time: str) -> int:
    return int(datetime.fromisoformat(iso_time).timestamp())


def as_ical_text(text: str) -> str:
    """What iCalendar TEXT can carry of a string: it has no CR and no other control
    characters, so any line break becomes LF and the rest are dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text)


def edited_seed(tmp_path: Path, *edits: Callable[[str], str]) -> Path:
    """A copy of the demo conference file with edits applied, as an organiser would save it."""
    text = demo_seed_path().read_text(encoding="utf-8")
    for edit in edits:
        text = edit(text)
    path = tmp_path / "socialism-2027.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _session_block(text: str, key: str) -> tuple[int, int]:
    start = text.index(f'[[sessions]]\nkey = "{key}"\n')
    end = text.find("\n[[", start + 1)
    return start, len(text) if end == -1 else end + 1


def set_session(key: str, **fields: str) -> Callable[[str], str]:
    """Change single-line fields of a session (values are TOML literals)."""

    def edit(text: str) -> str:
        start, end = _session_block(text, key)
        block = text[start:end]
        for name, value in fields.items():
            block, count = re.subn(rf"(?m)^{name} = .*$", f"{name} = {value}", block)
            assert count == 1, (key, name)
        return text[:start] + block + text[end:]

    return edit


def remove_session(key: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        start, end = _session_block(text, key)
        return text[:start] + text[end:]

    return edit


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The demo, a conference of hostile text and one across DST changes, on one SQLite file
    shared by the tests that only read (behaviour that does not depend on the database)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('feeds') / 'confapp.sqlite3'}"
    database = Database(url)
    upgrade_to_head(database.engine)
    load_conference_file(database, demo_seed_path())
    load_data(database, hostile_conference())
    load_data(database, dst_conference())
    database.dispose()
    settings = Settings(database_url=url, seed_file="", base_url="http://testserver")
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


# ---- the whole programme, read by both parsers ----------------------------------------------


def test_programme_feed_holds_every_session_at_the_right_instants(
    client: TestClient, icaljs: Path
) -> None:
    response = client.get(FEED)
    assert response.status_code == 200
    assert response.headers["content-type"] == ICAL_TYPE
    assert "set-cookie" not in response.headers
    expected = api_sessions(client)
    rooms = {r["slug"]: r["name"] for r in client.get(f"/api/{DEMO}/programme").json()["rooms"]}
    # The UID comes from the session's UUID alone, which the loader derives from the conference
    # and session keys: any host loading the demo file publishes the same UIDs.
    assert set(expected) == {f"{session_uuid(DEMO, s['slug'])}@confapp" for s in expected.values()}
    # Cancelled sessions stay in the feed, as cancelled (the demo has two).
    assert sum(s["status"] == "cancelled" for s in expected.values()) == 2

    events = events_of(response.content)
    assert set(events) == set(expected)
    js_events = {e["uid"]: e for e in parse_with_icaljs(response.content, icaljs)["events"]}
    assert set(js_events) == set(expected)

    for uid, session in expected.items():
        event, js = events[uid], js_events[uid]
        # Both parsers place the session at the instants the JSON API gives, in Sydney's zone.
        assert event["DTSTART"].params["TZID"] == "Australia/Sydney"
        assert event["DTSTART"].dt.timestamp() == unix(session["start"])
        assert event["DTEND"].dt.timestamp() == unix(session["end"])
        assert (js["start"], js["end"]) == (unix(session["start"]), unix(session["end"]))
        assert js["start_zone"] == js["end_zone"] == "Australia/Sydney"
        assert str(event["SUMMARY"]) == js["summary"] == session["title"]
        assert event["SEQUENCE"] == js["sequence"] == session["sequence"]
        assert str(event["STATUS"]) == js["status"] == session["status"].upper()
        page = f"http://testserver{session['url']}"
        assert str(event["URL"]) == js["url"] == page
        # When the session last changed, not when the feed was fetched.
        changed = int(datetime.fromisoformat(session["updated_at"]).timestamp())
        assert event["DTSTAMP"].dt.timestamp() == js["dtstamp"] == changed
        assert event["LAST-MODIFIED"].dt.timestamp() == js["last_modified"] == changed
        assert (
            str(event["LOCATION"])
            == js["location"]
            == (
                f"{rooms[session['room']]}, Ironbark Building, University of Sydney, "
                "Science Road, Camperdown NSW 2006"
            )
        )
        for person in session["people"]:
            assert person["name"] in js["description"]
        assert session["abstract"].strip() in str(event["DESCRIPTION"])
        assert page in js["description"]


def test_the_calendar_says_what_it_is_and_how_often_to_check(
    site: TestClient, icaljs: Path
) -> None:
    body = site.get(FEED).content
    lines = body.decode().split("\r\n")
    for line in (
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "METHOD:PUBLISH",
        "NAME:Socialism 2027",
        "X-WR-CALNAME:Socialism 2027",
        "X-WR-TIMEZONE:Australia/Sydney",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
        "BEGIN:VTIMEZONE",
        "TZID:Australia/Sydney",
    ):
        assert line in lines, line
    assert any(line.startswith("PRODID:-//confapp//") for line in lines)
    assert f"SOURCE;VALUE=URI:http://testserver{FEED}" in lines
    calendar = parse_with_icaljs(body, icaljs)["calendar"]
    assert calendar["name"] == "Socialism 2027"
    assert calendar["refresh-interval"] == "PT1H"
    # Never a floating time: every event's DTSTART and DTEND names its zone.
    events = body.decode().split("END:VTIMEZONE", 1)[1].split("\r\n")
    assert not [line for line in events if re.match(r"DT(START|END)[:;](?!TZID=)", line)]


# ---- subsets --------------------------------------------------------------------------------


def test_track_room_speaker_and_session_feeds_hold_just_their_sessions(
    site: TestClient,
) -> None:
    sessions = api_sessions(site)

    def feed_uids(path: str) -> set[str]:
        response = site.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == ICAL_TYPE
        return set(events_of(response.content))

    history = {uid for uid, s in sessions.items() if s["track"] == "history"}
    assert history and feed_uids(f"/{DEMO}/tracks/history.ics") == history
    great_hall = {uid for uid, s in sessions.items() if s["room"] == "great-hall"}
    assert great_hall and feed_uids(f"/{DEMO}/rooms/great-hall.ics") == great_hall
    zoe = {uid for uid, s in sessions.items() if "zoe-papas" in [p["speaker"] for p in s["people"]]}
    assert zoe and feed_uids(f"/{DEMO}/speakers/zoe-papas.ics") == zoe
    lenin = f"{session_uuid(DEMO, 'lenin-and-the-1903-congress')}@confapp"
    assert feed_uids(f"/{DEMO}/sessions/lenin-and-the-1903-congress.ics") == {lenin}

    track_feed = Calendar.from_ical(site.get(f"/{DEMO}/tracks/history.ics").content)
    assert str(track_feed["NAME"]) == "Socialism 2027: History of the movement"


def test_the_session_page_and_its_feed_live_side_by_side(site: TestClient) -> None:
    page = site.get(f"/{DEMO}/sessions/lenin-and-the-1903-congress")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    feed = site.get(f"/{DEMO}/sessions/lenin-and-the-1903-congress.ics")
    assert feed.status_code == 200 and feed.headers["content-type"] == ICAL_TYPE
    speaker = site.get(f"/{DEMO}/speakers/zoe-papas")
    assert speaker.status_code == 200 and speaker.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "path",
    [
        "/no-such-conference/programme.ics",
        f"/{DEMO}/sessions/no-such-session.ics",
        f"/{DEMO}/tracks/no-such-track.ics",
        f"/{DEMO}/rooms/no-such-room.ics",
        f"/{DEMO}/speakers/no-such-speaker.ics",
    ],
)
def test_a_feed_for_something_that_does_not_exist_is_a_404_page(
    site: TestClient, path: str
) -> None:
    response = site.get(path)
    assert response.status_code == 404
    assert "There is no" in response.text


# ---- byte-identical bodies and conditional GET ------------------------------------------------


def test_two_fetches_are_byte_identical_and_revalidate_with_304(client: TestClient) -> None:
    first, second = client.get(FEED), client.get(FEED)
    assert first.content == second.content
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    assert re.fullmatch(r'"[0-9a-f]{32}(-br|-gzip)?"', etag)  # strong and quoted, one per coding
    assert second.headers["etag"] == etag

    def status(**headers: str) -> int:
        response = client.get(FEED, headers=headers)
        if response.status_code == 304:
            assert response.content == b""
            assert response.headers["etag"] == etag
        return response.status_code

    assert status(**{"If-None-Match": etag}) == 304
    assert status(**{"If-None-Match": f"W/{etag}"}) == 304  # weak comparison for GET
    assert status(**{"If-None-Match": f'"stale", {etag}'}) == 304
    assert status(**{"If-None-Match": "*"}) == 304
    assert status(**{"If-None-Match": '"stale"'}) == 200
    assert status(**{"If-Modified-Since": last_modified}) == 304
    assert status(**{"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}) == 200
    assert status(**{"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}) == 304
    assert status(**{"If-Modified-Since": "not a date"}) == 200
    # If-None-Match decides when both are sent.
    assert status(**{"If-None-Match": '"stale"', "If-Modified-Since": last_modified}) == 200


def test_lines_end_in_crlf_and_fold_at_75_octets(site: TestClient) -> None:
    for path in (FEED, "/hostile/programme.ics"):
        body = site.get(path).content
        assert body.endswith(b"\r\n")
        assert b"\n" not in body.replace(b"\r\n", b"") and b"\r" not in body.replace(b"\r\n", b"")
        for line in body.split(b"\r\n"):
            assert len(line) <= 75, line
            line.decode("utf-8")  # no character split across a fold


# ---- the programme changes ------------------------------------------------------------------


def test_an_edited_programme_keeps_uids_bumps_sequence_and_cancels(
    client: TestClient, db: Database, tmp_path: Path, icaljs: Path
) -> None:
    before = client.get(FEED)
    old = events_of(before.content)
    moved = f"{session_uuid(DEMO, 'lenin-and-the-1903-congress')}@confapp"
    renamed = f"{session_uuid(DEMO, 'green-bans')}@confapp"
    dropped = f"{session_uuid(DEMO, 'state-and-revolution')}@confapp"

    load_conference_file(
        db,
        edited_seed(
            tmp_path,
            set_session(
                "lenin-and-the-1903-congress",
                start="2027-07-10T14:00:00",
                end="2027-07-10T15:30:00",
            ),
            set_session("green-bans", title='"Green bans: when builders saved a city"'),
            remove_session("state-and-revolution"),
        ),
    )

    after = client.get(FEED, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    new = events_of(after.content)
    assert set(new) == set(old)  # same UIDs: every calendar keeps its events

    assert new[moved]["SEQUENCE"] == old[moved]["SEQUENCE"] + 1
    assert new[moved]["DTSTART"].dt == datetime(2027, 7, 10, 4, 0, tzinfo=UTC)
    assert new[dropped]["STATUS"] == "CANCELLED"
    assert new[dropped]["SEQUENCE"] == old[dropped]["SEQUENCE"] + 1
    # A new title is not a reschedule (RFC 5545 SEQUENCE), but it is a change.
    assert str(new[renamed]["SUMMARY"]) == "Green bans: when builders saved a city"
    assert new[renamed]["SEQUENCE"] == old[renamed]["SEQUENCE"]
    updated_at = datetime.fromisoformat(api_sessions(client)[renamed]["updated_at"])
    assert new[renamed]["LAST-MODIFIED"].dt == updated_at.replace(microsecond=0)
    assert new[renamed]["LAST-MODIFIED"].dt >= old[renamed]["LAST-MODIFIED"].dt
    unchanged = set(old) - {moved, renamed, dropped}
    assert all(new[u]["LAST-MODIFIED"].dt == old[u]["LAST-MODIFIED"].dt for u in unchanged)

    js = {e["uid"]: e for e in parse_with_icaljs(after.content, icaljs)["events"]}
    assert js[dropped]["status"] == "CANCELLED"
    assert js[moved]["sequence"] == new[moved]["SEQUENCE"]
    assert js[moved]["start"] == int(datetime(2027, 7, 10, 4, 0, tzinfo=UTC).timestamp())

    # Loading the same file again changes nothing, so the feed stays byte-identical.
    load_conference_file(db, tmp_path / "socialism-2027.toml")
    again = client.get(FEED)
    assert again.content == after.content
    assert again.headers["etag"] == after.headers["etag"]


def test_every_change_to_a_session_moves_the_programme_version(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The feed cache files bodies under programme_version; any edit must move it."""
    db = Database(sqlite_url)
    upgrade_to_head(db.engine)
    load_conference_file(db, demo_seed_path())

    def version_after(*edits: Callable[[str], str]) -> int:
        load_conference_file(db, edited_seed(tmp_path, *edits))
        with db.read() as session:
            conference = get_conference(session, DEMO)
            assert conference is not None
            return conference.programme_version

    v1 = version_after()  # the same file again
    assert v1 == 1
    retitled = set_session("green-bans", title='"A new title"')
    v2 = version_after(retitled)
    v3 = version_after(retitled, set_session("green-bans", speakers='["zoe-papas"]'))
    v4 = version_after(
        retitled, set_session("green-bans", speakers='["zoe-papas"]', kind='"debate"')
    )
    v5 = version_after(
        retitled,
        set_session("green-bans", speakers='["zoe-papas"]', kind='"debate"'),
        remove_session("green-bans"),
    )
    v6 = version_after(  # only a room renamed: every LOCATION in the feed changes
        lambda text: text.replace('name = "Great Hall"', 'name = "The Great Hall"')
    )
    assert v1 < v2 < v3 < v4 < v5 < v6
    db.dispose()


def test_the_feed_is_built_once_per_programme_version_in_every_process(
    db: Database,
    demo: LoadReport,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builds: list[publish.Feed] = []
    real_build = publish.build_feed

    def counting_build(*args: Any, **kwargs: Any) -> Any:
        builds.append(args[1])
        return real_build(*args, **kwargs)

    monkeypatch.setattr(publish, "build_feed", counting_build)
    # Two app processes sharing one database, each with its own cache.
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        etags = {one.get(FEED).headers["etag"] for _ in range(5)}
        etags |= {two.get(FEED).headers["etag"] for _ in range(5)}
        assert len(etags) == 1
        assert len(builds) == 2  # once in each process

        load_conference_file(
            db, edited_seed(tmp_path, set_session("green-bans", title='"Renamed"'))
        )
        new_etags = {one.get(FEED).headers["etag"], two.get(FEED).headers["etag"]}
        assert len(new_etags) == 1 and new_etags != etags
        assert len(builds) == 4


def test_clients_polling_together_after_a_change_wait_for_one_build(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(sqlite_url)
    upgrade_to_head(db.engine)
    load_conference_file(db, demo_seed_path())
    builds: list[publish.Feed] = []
    real_build = publish.build_feed

    def slow_build(*args: Any, **kwargs: Any) -> Any:
        builds.append(args[1])
        time.sleep(0.2)  # long enough for every poller to arrive while it runs
        return real_build(*args, **kwargs)

    monkeypatch.setattr(publish, "build_feed", slow_build)
    cache = BodyCache()
    feed = publish.Feed("ics")
    with ThreadPoolExecutor(max_workers=16) as pool:
        bodies = list(
            pool.map(
                lambda _: publish.published(db, cache, DEMO, feed, "http://testserver").body,
                range(16),
            )
        )
    assert len(set(bodies)) == 1
    assert builds == [feed]
    db.dispose()


# ---- hostile text and time zones ------------------------------------------------------------

HOSTILE_TITLES = [
    "Evil\r\nBEGIN:VEVENT\r\nUID:forged@attacker\r\nEND:VEVENT",
    'Commas, semicolons; back\\slashes \\n \\N, "quotes" and C:\\New\\Folder',
    "Solidarność ✊🏽 連帯 تضامن 👩‍👩‍👧‍👦 " * 7 + "end",
    "Tab\there, bell\x07 and escape\x1b[31m gone",
]
HOSTILE_ABSTRACT = (
    "Line one\nLine two\r\nLine three\rEND:VCALENDAR\n\n"
    "Semicolon; comma, backslash \\ and \\, and \\; and a trailing backslash\\"
)
HOSTILE_ROOM = 'Hall "A"; level 2, east\\west'
HOSTILE_SPEAKER = 'Ana "Nana" López, Jr.; MP\\PhD 🌹'
HOSTILE_VENUE = "Trades Hall; Lygon St, Carlton\\Melbourne"


def load_data(db: Database, data: dict[str, Any]) -> None:
    spec = check_conference_data(data, source="<test>")
    with db.transaction() as session:
        load_conference_spec(session, spec)


def hostile_conference() -> dict[str, Any]:
    return {
        "conference": {
            "slug": "hostile",
            "name": 'Hostile; "Conf", 2027\\x',
            "timezone": "Australia/Melbourne",
            "start_date": datetime(2027, 7, 9).date(),
            "end_date": datetime(2027, 7, 9).date(),
            "venue": HOSTILE_VENUE,
        },
        "rooms": [{"key": "hall", "name": HOSTILE_ROOM}],
        "speakers": [{"key": "ana", "name": HOSTILE_SPEAKER}],
        "sessions": [
            {
                "key": f"session-{n}",
                "title": title,
                "kind": "talk",
                "start": datetime(2027, 7, 9, 9 + n),
                "end": datetime(2027, 7, 9, 10 + n),
                "room": "hall",
                "abstract": HOSTILE_ABSTRACT,
                "speakers": ["ana"],
            }
            for n, title in enumerate(HOSTILE_TITLES)
        ],
    }


def test_hostile_text_comes_out_escaped_and_means_the_same(site: TestClient, icaljs: Path) -> None:
    body = site.get("/hostile/programme.ics").content
    lines = body.split(b"\r\n")
    # No injected line: exactly one event per session, and no forged UID.
    assert lines.count(b"BEGIN:VEVENT") == len(HOSTILE_TITLES)
    assert not any(line.startswith((b"UID:forged", b"END:VCALENDAR ")) for line in lines)
    assert all(len(line) <= 75 for line in lines)

    calendar = Calendar.from_ical(body)
    js = parse_with_icaljs(body, icaljs)
    py_events = sorted(calendar.walk("VEVENT"), key=lambda e: e["DTSTART"].dt)
    js_events = sorted(js["events"], key=lambda e: e["start"])
    assert len(py_events) == len(js_events) == len(HOSTILE_TITLES)
    location = as_ical_text(f"{HOSTILE_ROOM}, {HOSTILE_VENUE}")
    for title, event, js_event in zip(HOSTILE_TITLES, py_events, js_events, strict=True):
        assert str(event["SUMMARY"]) == js_event["summary"] == as_ical_text(title)
        assert str(event["LOCATION"]) == js_event["location"] == location
        description = str(event["DESCRIPTION"])
        assert description == js_event["description"]
        assert f"Speaker: {HOSTILE_SPEAKER}" in description
        assert as_ical_text(HOSTILE_ABSTRACT) in description
    # NAME (RFC 7986) and X-WR-CALNAME are TEXT, so escaped like SUMMARY; neither parser
    # knows their type, so both hand them back as written.
    assert js["calendar"]["name"] == 'Hostile\\; "Conf"\\, 2027\\\\x'
    assert b'NAME:Hostile\\; "Conf"\\, 2027\\\\x' in lines
    assert b'X-WR-CALNAME:Hostile\\; "Conf"\\, 2027\\\\x' in lines


DST_SESSIONS = {
    # Sydney's clocks go forward from 02:00 to 03:00 on Sunday 3 October 2027.
    "across-the-spring-change": ("2027-10-03T01:30", "2027-10-03T03:30"),
    "just-after-the-spring-change": ("2027-10-03T03:15", "2027-10-03T04:00"),
    # ... and back from 03:00 to 02:00 on 4 April 2027: 02:30 happens twice, and a time in
    # the file means the first (RFC 5545 3.3.5, Python's fold=0).
    "in-the-repeated-hour": ("2027-04-04T02:30", "2027-04-04T03:30"),
}
DST_UTC = {
    "across-the-spring-change": ("2027-10-02T15:30:00+00:00", "2027-10-02T16:30:00+00:00"),
    "just-after-the-spring-change": ("2027-10-02T16:15:00+00:00", "2027-10-02T17:00:00+00:00"),
    "in-the-repeated-hour": ("2027-04-03T15:30:00+00:00", "2027-04-03T17:30:00+00:00"),
}


def dst_conference() -> dict[str, Any]:
    return {
        "conference": {
            "slug": "spring-forward",
            "name": "Spring forward",
            "timezone": "Australia/Sydney",
            "start_date": datetime(2027, 10, 2).date(),
            "end_date": datetime(2027, 10, 3).date(),
            "venue": "Trades Hall",
        },
        "rooms": [{"key": "hall", "name": "Hall"}],
        "sessions": [
            {
                "key": key,
                "title": key,
                "kind": "talk",
                "start": datetime.fromisoformat(start),
                "end": datetime.fromisoformat(end),
                "room": "hall",
            }
            for key, (start, end) in DST_SESSIONS.items()
        ],
    }


def test_sessions_across_daylight_saving_changes_keep_their_instants(
    site: TestClient, icaljs: Path
) -> None:
    body = site.get("/spring-forward/programme.ics").content
    expected = {key: (unix(start), unix(end)) for key, (start, end) in DST_UTC.items()}
    py = {
        str(e["SUMMARY"]): (int(e["DTSTART"].dt.timestamp()), int(e["DTEND"].dt.timestamp()))
        for e in Calendar.from_ical(body).walk("VEVENT")
    }
    js = {e["summary"]: (e["start"], e["end"]) for e in parse_with_icaljs(body, icaljs)["events"]}
    assert py == js == expected
    api = site.get("/api/spring-forward/programme").json()["sessions"]
    assert {s["slug"]: (unix(s["start"]), unix(s["end"])) for s in api} == expected
    # The published rules: clocks change at 02:00 local standard time in spring, and at 03:00
    # local daylight time in autumn (the clock reading before each change).
    text = body.decode()
    assert (
        "DTSTART:20271003T020000\r\nTZNAME:AEDT\r\nTZOFFSETFROM:+1000\r\nTZOFFSETTO:+1100" in text
    )
    assert (
        "DTSTART:20270404T030000\r\nTZNAME:AEST\r\nTZOFFSETFROM:+1100\r\nTZOFFSETTO:+1000" in text
    )


# ---- subscribe links on the pages -----------------------------------------------------------


def test_pages_offer_webcal_google_and_https_subscribe_links(site: TestClient) -> None:
    base = "http://testserver"
    pages = {
        f"/{DEMO}/programme?track=history": [FEED, f"/{DEMO}/tracks/history.ics"],
        f"/{DEMO}/sessions/green-bans": [f"/{DEMO}/sessions/green-bans.ics", FEED],
        f"/{DEMO}/speakers/zoe-papas": [f"/{DEMO}/speakers/zoe-papas.ics"],
        f"/{DEMO}/": [FEED],
    }
    for page, feeds in pages.items():
        html = site.get(page).text
        assert "<summary>Subscribe in your calendar</summary>" in html, page
        for feed in feeds:
            webcal = f"webcal://testserver{feed}"
            assert f'href="{webcal}"' in html, (page, feed)
            google = "https://calendar.google.com/calendar/r?cid=" + quote(webcal, safe="")
            assert f'href="{google}"' in html, (page, feed)
            assert f'href="{base}{feed}"' in html, (page, feed)
            assert site.get(feed).headers["content-type"] == ICAL_TYPE


def test_links_use_the_configured_public_address(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    upgrade_to_head(database.engine)
    load_conference_file(database, demo_seed_path())
    database.dispose()
    settings = Settings(
        database_url=sqlite_url,
        seed_file="",
        base_url="https://socialism.example.org",
        allowed_hosts=("testserver",),  # the test client's Host, standing in for a proxy's
    )
    with TestClient(create_app(settings)) as client:
        body = client.get(FEED).content
        html = client.get(f"/{DEMO}/programme").text
    event = next(iter(events_of(body).values()))
    assert str(event["URL"]).startswith(f"https://socialism.example.org/{DEMO}/sessions/")
    assert f'href="webcal://socialism.example.org{FEED}"' in html
