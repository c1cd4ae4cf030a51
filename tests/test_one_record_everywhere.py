"""One record, accepted everywhere: a room, track, speaker and session filled to the limits of
their model (confapp.programme.records) load from a conference file, open in the editor and
save unchanged, go back unchanged through the JSON API, and export and load again as they were.
The limits are read from the models, so a limit changed in one place is tested in all."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.db import Database
from confapp.migrate import upgrade_to_head
from confapp.openapi import OPENAPI, REF_TEMPLATE, tidy_schema
from confapp.programme import documents
from confapp.programme.conference_file import (
    ConferenceFileError,
    load_conference_file,
    parse_conference_text,
)
from confapp.programme.export import export_conference
from confapp.programme.records import (
    MAX_LINKS,
    MAX_PLACES,
    RoomFields,
    SessionFields,
    SpeakerFields,
    TicketTypeFields,
    TrackFields,
    longest,
)
from confapp.settings import Settings
from tests.support.accounts import ORGANISER, csrf_token, make_organiser, sign_in

SLUG = "limits-2027"
BASE = f"/admin/{SLUG}/programme"


def text_of(length: int, seed: str) -> str:
    """`length` characters of text with a line break in it, as a pasted paragraph has."""
    body = (seed + " and more words\n") * (length // (len(seed) + 16) + 1)
    return body[: length - 1].strip() + "."


LINKS = [f"https://example.org/{n}" for n in range(MAX_LINKS - 1)] + ["mailto:rosa@example.org"]
CONFERENCE_FILE: dict[str, Any] = {
    "conference": {
        "slug": SLUG,
        "name": "Limits 2027",
        "timezone": "Australia/Sydney",
        "start_date": "2027-07-09",
        "end_date": "2027-07-10",
        "venue": "Trades Hall",
    },
    "rooms": [
        {
            "key": "hall",
            "name": "H" * longest(RoomFields, "name"),
            "capacity": MAX_PLACES,
            "step_free": True,
            "access_notes": text_of(longest(RoomFields, "access_notes"), "Lift at the back"),
        }
    ],
    "tracks": [
        {
            "key": "labour",
            "name": "T" * longest(TrackFields, "name"),
            "colour": "#c0392b",
            "description": text_of(longest(TrackFields, "description"), "Unions"),
        }
    ],
    "speakers": [
        {
            "key": "rosa",
            "name": "R" * longest(SpeakerFields, "name"),
            "bio": text_of(longest(SpeakerFields, "bio"), "Organiser"),
            "pronouns": "p" * longest(SpeakerFields, "pronouns"),
            "affiliation": "A" * longest(SpeakerFields, "affiliation"),
            "links": LINKS,
        }
    ],
    "ticket_types": [
        {
            "code": "c" * longest(TicketTypeFields, "code"),
            "name": "W" * longest(TicketTypeFields, "name"),
            "kind": "fixed",
            "price": 1_000_000,
            "capacity": MAX_PLACES,
            "description": text_of(longest(TicketTypeFields, "description"), "For the waged"),
        }
    ],
    "sessions": [
        {
            "key": "the-mass-strike",
            "title": "S" * longest(SessionFields, "title"),
            "kind": "workshop",
            "start": "2027-07-09T10:00:00+10:00",
            "end": "2027-07-09T11:30:00+10:00",
            "room": "hall",
            "track": "labour",
            "speakers": ["rosa"],
            "abstract": text_of(longest(SessionFields, "abstract"), "Strikes"),
            "language": "l" * longest(SessionFields, "language"),
        }
    ],
}


def file_text(file: dict[str, Any] = CONFERENCE_FILE) -> str:
    """The file as TOML, which wants real dates and times."""
    data = {**file, "conference": dict(file["conference"])}
    for name in ("start_date", "end_date"):
        data["conference"][name] = date.fromisoformat(data["conference"][name])
    data["sessions"] = [
        {**s, "start": datetime.fromisoformat(s["start"]), "end": datetime.fromisoformat(s["end"])}
        for s in file["sessions"]
    ]
    return tomli_w.dumps(data)


@pytest.fixture
def organiser(db: Database, settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    path = tmp_path / "limits.toml"
    path.write_text(file_text(), encoding="utf-8")
    load_conference_file(db, path)
    make_organiser(db, SLUG)
    with TestClient(create_app(settings), raise_server_exceptions=False) as browser:
        sign_in(browser, ORGANISER)
        browser.headers["accept"] = "text/html"
        yield browser


class EditForm(HTMLParser):
    """The fields of a page's form whose action is `action`, as a browser would send them."""

    def __init__(self, action: str) -> None:
        super().__init__(convert_charrefs=True)
        self.action = action
        self.inside = False
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action and a.get("method", "").lower() == "post"
        if not self.inside or "name" not in a:
            if self.inside and tag == "option" and self._select and "selected" in a:
                self.fields[self._select] = a.get("value", "")
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind == "submit" or (kind in {"checkbox", "radio"} and "checked" not in a):
                return
            self.fields.setdefault(a["name"], a.get("value", ""))
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields[a["name"]] = ""
        elif tag == "select":
            self._select = a["name"]

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self._textarea is not None:
            # A browser drops the one line break that may follow <textarea>.
            value = self.fields[self._textarea]
            self.fields[self._textarea] = value[1:] if value.startswith("\n") else value
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "form":
            self.inside = False


def form_on(page: str, action: str) -> dict[str, str]:
    parser = EditForm(action)
    parser.feed(page)
    assert parser.fields, f"no form posting to {action}"
    return parser.fields


def version_of(browser: TestClient, many: str, one: str) -> int:
    answer = browser.get(f"/api/{SLUG}/{many}/{one}", headers={"accept": "application/json"})
    assert answer.status_code == 200, answer.text
    return int(answer.json()[many[:-1]]["version"])


@pytest.mark.parametrize(
    ("many", "one"),
    [
        ("rooms", "hall"),
        ("tracks", "labour"),
        ("speakers", "rosa"),
        ("sessions", "the-mass-strike"),
    ],
    ids=["room", "track", "speaker", "session"],
)
def test_a_record_loaded_from_a_file_saves_unchanged_in_the_editor(
    organiser: TestClient, many: str, one: str
) -> None:
    path = f"{BASE}/{many}/{one}"
    before = version_of(organiser, many, one)
    fields = form_on(organiser.get(path).text, path)

    saved = organiser.post(path, data=fields, follow_redirects=False)

    assert saved.status_code == 303, saved.text
    assert version_of(organiser, many, one) == before  # nothing changed, nothing refused


def test_a_ticket_type_loaded_from_a_file_saves_unchanged_in_the_back_office(
    organiser: TestClient, db: Database
) -> None:
    code = CONFERENCE_FILE["ticket_types"][0]["code"]
    path = f"/admin/{SLUG}/settings/ticket-types/{code}"
    fields = form_on(organiser.get(path).text, path)

    saved = organiser.post(path, data=fields, follow_redirects=False)

    assert saved.status_code == 303, saved.text
    with db.read() as session:
        exported = export_conference(session, SLUG)
    assert CONFERENCE_FILE["ticket_types"][0]["description"][:100] in exported


@pytest.mark.parametrize("table", ["rooms", "tracks", "speakers", "sessions", "ticket_types"])
def test_no_record_may_take_the_address_of_a_back_office_page(table: str) -> None:
    record = dict(CONFERENCE_FILE[table][0])
    record["code" if table == "ticket_types" else "key"] = "new"
    with pytest.raises(ConferenceFileError, match="address of a back-office page"):
        parse_conference_text(file_text({**CONFERENCE_FILE, table: [record]}))


@pytest.mark.parametrize(
    ("many", "one", "editable"),
    [
        ("rooms", "hall", set(RoomFields.model_fields) | {"position"}),
        ("tracks", "labour", set(TrackFields.model_fields) | {"position"}),
        ("speakers", "rosa", set(SpeakerFields.model_fields)),
        ("sessions", "the-mass-strike", set(SessionFields.model_fields) | {"start", "end"}),
    ],
    ids=["room", "track", "speaker", "session"],
)
def test_a_record_loaded_from_a_file_goes_back_unchanged_through_the_api(
    organiser: TestClient, many: str, one: str, editable: set[str]
) -> None:
    headers = {"accept": "application/json", "x-csrf-token": csrf_token(organiser)}
    path = f"/api/{SLUG}/{many}/{one}"
    record = organiser.get(path, headers=headers).json()[many[:-1]]

    answer = organiser.patch(path, json={name: record[name] for name in editable}, headers=headers)

    assert answer.status_code == 200, answer.text
    assert answer.json()["changed"] == []


def test_an_exported_conference_loads_again_as_it_was(
    organiser: TestClient, db: Database, tmp_path: Path
) -> None:
    with db.read() as session:
        exported = export_conference(session, SLUG)
    path = tmp_path / "exported.toml"
    path.write_text(exported, encoding="utf-8")
    elsewhere = Database(f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}")
    upgrade_to_head(elsewhere.engine)
    try:
        load_conference_file(elsewhere, path)
        with elsewhere.read() as session:
            assert export_conference(session, SLUG) == exported
    finally:
        elsewhere.dispose()
    assert "mailto:rosa@example.org" in exported


def test_one_character_over_a_limit_is_refused_by_the_file_and_the_api_alike(
    organiser: TestClient, tmp_path: Path
) -> None:
    too_long = "x" * (longest(TrackFields, "description") + 1)
    headers = {"accept": "application/json", "x-csrf-token": csrf_token(organiser)}
    answer = organiser.patch(
        f"/api/{SLUG}/tracks/labour", json={"description": too_long}, headers=headers
    )
    assert answer.status_code == 422
    assert "at most 20000 characters" in answer.json()["fields"]["description"]

    track = CONFERENCE_FILE["tracks"][0]
    parse_conference_text(file_text())  # at the limit: fine
    with pytest.raises(ConferenceFileError, match="description"):
        parse_conference_text(
            file_text({**CONFERENCE_FILE, "tracks": [{**track, "description": too_long}]})
        )


def test_the_documents_sent_hold_exactly_the_fields_their_models_describe(
    organiser: TestClient,
) -> None:
    public = organiser.get(f"/api/{SLUG}/programme", headers={"accept": "application/json"})
    programme = public.json()
    for key, model in [
        ("rooms", documents.Room),
        ("tracks", documents.Track),
        ("speakers", documents.Speaker),
        ("sessions", documents.Session),
    ]:
        assert set(programme[key][0]) == set(model.model_fields), key
    headers = {"accept": "application/json"}
    for many, one, model in [
        ("rooms", "hall", documents.OrganiserRoom),
        ("tracks", "labour", documents.OrganiserTrack),
        ("speakers", "rosa", documents.OrganiserSpeaker),
        ("sessions", "the-mass-strike", documents.OrganiserSession),
    ]:
        sent = organiser.get(f"/api/{SLUG}/{many}/{one}", headers=headers).json()[many[:-1]]
        assert set(sent) == set(model.model_fields), many


def test_the_api_contract_states_the_limits_of_the_models() -> None:
    schemas = OPENAPI["components"]["schemas"]
    track = schemas["TrackInput"]["properties"]
    assert track["description"]["maxLength"] == longest(TrackFields, "description")
    assert schemas["SpeakerInput"]["properties"]["links"]["maxItems"] == MAX_LINKS
    assert schemas["NewSession"]["properties"]["title"]["maxLength"] == longest(
        SessionFields, "title"
    )
    assert schemas["Room"] == tidy_schema(
        documents.Room.model_json_schema(ref_template=REF_TEMPLATE, mode="serialization")
    )


def test_a_conference_longer_than_the_editor_allows_is_refused_by_the_file_too() -> None:
    long = {**CONFERENCE_FILE, "conference": {**CONFERENCE_FILE["conference"]}}
    long["conference"]["end_date"] = "2027-08-10"
    with pytest.raises(ConferenceFileError, match="at most a month"):
        parse_conference_text(file_text(long))
