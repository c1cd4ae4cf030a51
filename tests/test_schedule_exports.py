"""schedule.xml and schedule.json: the programme as conference apps (Giggity, EventFahrplan)
and recording teams read it, checked against the C3VOC schemas kept in tests/specs/."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import xmlschema
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.db import Database
from confapp.migrate import upgrade_to_head
from confapp.models import Conference, ProgrammeSession, Speaker
from confapp.programme.conference_file import (
    check_conference_data,
    load_conference_file,
    load_conference_spec,
)
from confapp.resources import demo_seed_path
from confapp.settings import Settings
from tests.support import DEMO

SPECS = Path(__file__).resolve().parent / "specs"
XML_PATH = f"/{DEMO}/schedule.xml"
JSON_PATH = f"/{DEMO}/schedule.json"
TRACK_SLUG = re.compile(r"^[a-z][a-z0-9-]+$")  # the XSD's slug type


@pytest.fixture(scope="session")
def specs() -> Path:
    assert (SPECS / "schedule.xml.xsd").is_file() and (SPECS / "schema.json").is_file()
    return SPECS


@pytest.fixture(scope="session")
def xml_schema(specs: Path) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(specs / "schedule.xml.xsd"))


@pytest.fixture(scope="session")
def json_validator(specs: Path) -> jsonschema.Draft6Validator:
    schema = json.loads((specs / "schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft6Validator(
        schema, format_checker=jsonschema.Draft6Validator.FORMAT_CHECKER
    )


def valid_xml(schema: xmlschema.XMLSchema, body: bytes) -> ET.Element:
    root = ET.fromstring(body)
    errors = [f"{e.path}: {e.reason}" for e in schema.iter_errors(root)]
    assert not errors, errors[:5]
    return root


def valid_json(validator: jsonschema.Draft6Validator, body: bytes) -> dict[str, Any]:
    document = json.loads(body)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, errors[:5]
    return document


def xml_events(root: ET.Element) -> dict[str, ET.Element]:
    return {e.attrib["guid"]: e for e in root.iter("event")}


def json_events(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        event["guid"]: event
        for day in document["schedule"]["conference"]["days"]
        for events in day["rooms"].values()
        for event in events
    }


UNSAFE_LINKS = {
    "conference": "not a web address",
    "speaker": ["ftp://x"],
    "reading": {"title": "not a link", "url": "javascript:alert(1)"},
}


def load_data(db: Database, data: dict[str, Any]) -> None:
    spec = check_conference_data(data, source="<test>")
    with db.transaction() as session:
        load_conference_spec(session, spec)


def plant_unsafe_links(db: Database, slug: str) -> None:
    """Links the loader refuses today but older data may still hold: the exports must cope."""
    with db.transaction() as session:
        conference = session.exec(select(Conference).where(Conference.slug == slug)).one()
        conference.url = UNSAFE_LINKS["conference"]
        for speaker in session.exec(select(Speaker).where(Speaker.conference_id == conference.id)):
            speaker.links = UNSAFE_LINKS["speaker"]
        for entry in session.exec(
            select(ProgrammeSession).where(ProgrammeSession.conference_id == conference.id)
        ):
            entry.reading_list = [*entry.reading_list, UNSAFE_LINKS["reading"]]


def awkward_conference() -> dict[str, Any]:
    """Keys that are valid in confapp but not as frab identifiers, and hostile text."""
    return {
        "conference": {
            "slug": "ab",  # shorter than a frab acronym may be
            "name": '<Conf> & "friends" ]]> \x07',
            "timezone": "Etc/GMT-3",  # not a name schema.json's pattern accepts
            "start_date": date(2027, 7, 9),
            "end_date": date(2027, 7, 9),
            "venue": "Hall",
        },
        "rooms": [
            {"key": "a", "name": "Same name"},
            {"key": "b2-", "name": "Same name"},
        ],
        "tracks": [{"key": "1917", "name": "1917 & after", "colour": "#ABCDEF"}],
        "speakers": [{"key": "s", "name": '<b>Bold</b> & "brave"'}],
        "sessions": [
            {
                "key": key,
                "title": title,
                "kind": "talk",
                "start": datetime(2027, 7, 9, 9 + n),
                "end": datetime(2027, 7, 9, 10 + n),
                "room": room,
                "track": "1917",
                "abstract": "Line one\r\nLine two\x1b & <i>three</i> ]]>",
                "speakers": ["s"],
                "reading": [{"title": "ok", "url": "https://example.org/r"}],
            }
            for n, (key, title, room) in enumerate(
                [
                    ("x", "Evil\r\n</title><script>alert(1)</script>", "a"),
                    ("abcd-", "Tab\tbell\x07 & ampersand", "b2-"),
                    ("normal-key", "Solidarność ✊🏽 連帯", "a"),
                ]
            )
        ],
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The demo and an awkward conference on one SQLite file, for tests that only read."""
    url = f"sqlite:///{tmp_path_factory.mktemp('exports') / 'confapp.sqlite3'}"
    database = Database(url)
    upgrade_to_head(database.engine)
    load_conference_file(database, demo_seed_path())
    load_data(database, awkward_conference())
    plant_unsafe_links(database, "ab")
    database.dispose()
    settings = Settings(database_url=url, seed_file="", base_url="http://testserver")
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


# ---- the demo programme ---------------------------------------------------------------------


def test_both_exports_validate_and_hold_every_confirmed_session(
    client: TestClient,
    xml_schema: xmlschema.XMLSchema,
    json_validator: jsonschema.Draft6Validator,
) -> None:
    sessions = {s["uuid"]: s for s in client.get(f"/api/{DEMO}/programme").json()["sessions"]}
    confirmed = {uuid for uuid, s in sessions.items() if s["status"] == "confirmed"}
    assert len(confirmed) == len(sessions) - 2  # frab has no status: cancelled ones are left out

    xml_response = client.get(XML_PATH)
    assert xml_response.status_code == 200
    assert xml_response.headers["content-type"] == "application/xml; charset=utf-8"
    root = valid_xml(xml_schema, xml_response.content)
    json_response = client.get(JSON_PATH)
    assert json_response.headers["content-type"] == "application/json"
    document = valid_json(json_validator, json_response.content)

    in_xml, in_json = xml_events(root), json_events(document)
    assert set(in_xml) == set(in_json) == confirmed  # guid = the session's UUID
    for uuid in confirmed:
        session, xml_event, json_event = sessions[uuid], in_xml[uuid], in_json[uuid]
        assert xml_event.findtext("date") == json_event["date"] == session["start"]
        assert json_event["end"] == session["end"]
        minutes = session["duration_minutes"]
        assert (
            xml_event.findtext("duration")
            == json_event["duration"]
            == (f"{minutes // 60:02d}:{minutes % 60:02d}")
        )
        assert xml_event.findtext("start") == session["start"][11:16]
        assert xml_event.findtext("title") == json_event["title"] == session["title"]
        assert xml_event.findtext("url") == f"http://testserver{session['url']}"
        assert [p.text for p in xml_event.iter("person")] == [p["name"] for p in session["people"]]
        assert xml_event.find("feedback_url") is None  # never an empty one

    conference = root.find("conference")
    assert conference is not None
    assert conference.findtext("acronym") == "socialism_2027"
    assert conference.findtext("time_zone_name") == "Australia/Sydney"
    tracks = conference.findall("track")
    assert len(tracks) == 5
    assert all(TRACK_SLUG.match(t.attrib["slug"]) for t in tracks)
    assert [d.attrib["index"] for d in root.findall("day")] == ["1", "2", "3"]
    assert [d["date"] for d in document["schedule"]["conference"]["days"]] == [
        "2027-07-09",
        "2027-07-10",
        "2027-07-11",
    ]
    assert document["schedule"]["version"] == root.findtext("version") == "1"


def test_exports_are_byte_identical_and_revalidate_with_304(site: TestClient) -> None:
    for path in (XML_PATH, JSON_PATH):
        first, second = site.get(path), site.get(path)
        assert first.content == second.content
        etag = first.headers["etag"]
        assert site.get(path, headers={"If-None-Match": etag}).status_code == 304
        since = first.headers["last-modified"]
        assert site.get(path, headers={"If-Modified-Since": since}).status_code == 304
        assert site.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
        assert first.headers["access-control-allow-origin"] == "*"
        assert "set-cookie" not in first.headers


def test_an_edit_gives_new_exports_with_the_same_guids(
    client: TestClient, db: Database, tmp_path: Path, json_validator: jsonschema.Draft6Validator
) -> None:
    before = client.get(JSON_PATH)
    seed = demo_seed_path().read_text(encoding="utf-8")
    edited = seed.replace(
        'title = "Lenin and the 1903 congress: what was the split really about?"',
        'title = "Lenin in 1903"',
    )
    assert edited != seed
    (tmp_path / "edited.toml").write_text(edited, encoding="utf-8")
    load_conference_file(db, tmp_path / "edited.toml")

    after = client.get(JSON_PATH, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    old, new = (
        json_events(json.loads(before.content)),
        json_events(valid_json(json_validator, after.content)),
    )
    assert set(old) == set(new)
    assert json.loads(after.content)["schedule"]["version"] == "2"
    assert "Lenin in 1903" in {e["title"] for e in new.values()}


# ---- identifiers frab does not accept, and hostile text ---------------------------------------


def test_awkward_keys_and_hostile_text_still_validate(
    site: TestClient,
    xml_schema: xmlschema.XMLSchema,
    json_validator: jsonschema.Draft6Validator,
) -> None:
    data = awkward_conference()
    root = valid_xml(xml_schema, site.get("/ab/schedule.xml").content)
    document = valid_json(json_validator, site.get("/ab/schedule.json").content)
    conference = document["schedule"]["conference"]

    assert conference["acronym"] == root.findtext("conference/acronym") == "ab__"
    assert "time_zone_name" not in conference  # schema.json rejects "Etc/GMT-3"
    assert "url" not in conference  # not a web address
    assert conference["tracks"][0]["slug"] == "track-1917"
    assert [r["name"] for r in conference["rooms"]] == ["Same name (a)", "Same name (b2-)"]
    slugs = {e["title"]: e["slug"] for e in json_events(document).values()}
    assert sorted(slugs.values()) == sorted(
        [
            "ab__-normal-key",
            f"ab__-session_{_id(document, 'x')}",
            f"ab__-session_{_id(document, 'abcd-')}",
        ]
    )

    # JSON carries the text exactly; XML 1.0 cannot carry CR or control characters, so line
    # breaks arrive as LF (as any XML parser normalises them) and the rest are dropped.
    by_guid = json_events(document)
    titles = sorted(s["title"] for s in data["sessions"])
    assert sorted(e["title"] for e in by_guid.values()) == titles
    xml_titles = sorted(e.findtext("title") or "" for e in root.iter("event"))
    assert xml_titles == sorted(
        re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", t.replace("\r\n", "\n")) for t in titles
    )
    abstract = next(iter(root.iter("abstract"))).text
    assert abstract == "Line one\nLine two & <i>three</i> ]]>"
    assert root.findtext("conference/title") == '<Conf> & "friends" ]]> '
    for event in by_guid.values():
        assert [link["url"] for link in event["links"]] == ["https://example.org/r"]


def _id(document: dict[str, Any], session_key: str) -> int:
    """The numeric id behind a session (its page URL ends with the key)."""
    return next(
        e["id"]
        for e in json_events(document).values()
        if e["url"].endswith(f"/sessions/{session_key}")
    )


def test_pages_never_make_a_link_of_an_unsafe_address_from_older_data(site: TestClient) -> None:
    session_page = site.get("/ab/sessions/normal-key")
    speaker_page = site.get("/ab/speakers/s")
    assert session_page.status_code == speaker_page.status_code == 200
    for page in (session_page.text, speaker_page.text):
        assert 'href="javascript:' not in page and 'href="ftp://' not in page
    assert "not a link" in session_page.text  # the title is still shown, just not as a link
    assert 'href="https://example.org/r"' in session_page.text
