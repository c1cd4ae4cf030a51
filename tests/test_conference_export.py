"""`confapp export`: a conference written back as the conference file `confapp load` reads."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import time
from pathlib import Path

import pytest
from sqlmodel import select

from confapp.cli import main
from confapp.db import Database
from confapp.migrate import upgrade_to_head
from confapp.models import Conference, ProgrammeSession, Room, Speaker
from confapp.programme.conference_file import (
    LoadReport,
    load_conference_file,
    parse_conference_text,
    read_conference_file,
)
from confapp.programme.export import ConferenceExportError, export_conference
from confapp.programme.queries import get_conference
from confapp.registration.form import check_registration
from confapp.registration.places import ticket_offers
from confapp.registration.service import register
from confapp.resources import demo_seed_path
from tests.support import DEMO
from tests.support.databases import fresh_postgres_database

# Everything a careless writer gets wrong: quotes of both kinds, triple quotes, backslashes,
# tabs, line breaks (leading, trailing, blank lines), non-Latin scripts and emoji, a chair, a
# cancelled session, a reading list, a fixed uuid, another language, and a session in the hour
# that happens twice when the clocks go back (02:30 on 4 April 2027 in Sydney, the second time).
# And every key the programme editor added: a draft programme, daily hours (one as a string, one
# as a TOML time), rooms that are and are not step-free, a speaker who needs step-free access and
# a session not placed in a room yet.
AWKWARD = r'''
[conference]
slug = "awkward-2027"
name = "\"Awkward\" 2027 – ‘¡Sí, se puede!’"
timezone = "Australia/Sydney"
start_date = 2027-04-03
end_date = 2027-04-04
venue = "Trades Hall \\ Room \"B\""
description = """

Starts with a blank line; has "quotes", a \u0027\u0027\u0027 and a \"\"\" or two,
	a tab, a backslash \\ and ✊🏽 solidarity – 团结 – تضامن.
Ends with a line break.
"""
currency = "EUR"
solidarity_place_price = 12.5
erase_after_days = 0
draft = true
day_starts = "09:00"
day_ends = 22:30:00

[[rooms]]
key = "hall"
name = "Hall ‘A’"
step_free = true
access_notes = "Step-free.\nHearing loop: ask at the \"desk\"."

[[rooms]]
key = "annex"
name = "Annex"
capacity = 12
step_free = false

[[rooms]]
key = "garden"
name = "Garden"

[[tracks]]
key = "theory"
name = "Theory"
colour = "#1f4e79"

[[speakers]]
key = "rosa"
name = "Róża \"Rosa\" Luksemburg"
bio = """Line one.
Line two, with a trailing space """
pronouns = "she/her"
links = ["https://example.org/rosa?a=1&b=\"2\"", "mailto:rosa@example.org"]
needs_step_free = true

[[speakers]]
key = "karl"
name = "Karl O'Neill"

[[sessions]]
key = "reform-or-revolution"
title = "Reform or revolution? \"Both\", said nobody"
kind = "debate"
start = 2027-04-03T10:00:00
end = 2027-04-03T11:30:00
room = "hall"
track = "theory"
abstract = "First paragraph.\n\nSecond paragraph, with a \\ and a \"quote\"."
speakers = ["rosa", "karl"]
chairs = []
reading = [{ title = "Reform or Revolution – \"the\" pamphlet", url = "https://example.org/r" }]
recording_url = "https://example.org/recordings/reform"
language = "de"

[[sessions]]
key = "not-placed-yet"
title = "Not placed yet"
kind = "workshop"
start = 2027-04-03T14:00:00
end = 2027-04-03T15:00:00
speakers = ["rosa"]

[[sessions]]
key = "small-hours"
title = "The small hours"
kind = "social"
start = 2027-04-04T02:30:00+10:00
end = 2027-04-04T03:30:00
room = "annex"
speakers = ["karl"]
chairs = ["rosa"]
status = "cancelled"
uuid = "0f6a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"

[[ticket_types]]
code = "waged"
name = "Waged – \"full\""
price = 20.05

[[ticket_types]]
code = "pwyc"
name = "Pay what you can"
kind = "pay_what_you_can"
min_price = 0
suggested_price = 7.5
capacity = 0

[[ticket_types]]
code = "pool"
name = "Solidarity place"
kind = "free"
from_solidarity_pool = true
'''

# The same conference with a Windows line break kept in a text.
AWKWARD_WITH_CRLF = AWKWARD.replace('pronouns = "she/her"', 'pronouns = "she/her\\r\\nthey"')


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Database]]:
    """Two new, empty databases of the same engine, for one round trip from one to the other."""
    urls: list[str] = []
    if request.param == "sqlite":
        urls = [f"sqlite:///{tmp_path / f'confapp-{n}.sqlite3'}" for n in (1, 2)]
        yield from _migrated(urls)
        return
    server = request.getfixturevalue("postgres_server_url")
    with fresh_postgres_database(server) as first, fresh_postgres_database(server) as second:
        yield from _migrated([first, second])


def _migrated(urls: list[str]) -> Iterator[list[Database]]:
    databases = [Database(url) for url in urls]
    for database in databases:
        upgrade_to_head(database.engine)
    yield databases
    for database in databases:
        database.dispose()


def export(db: Database, slug: str) -> str:
    with db.read() as session:
        return export_conference(session, slug)


def programme_version(db: Database, slug: str) -> int:
    with db.read() as session:
        conference = get_conference(session, slug)
        assert conference is not None
        return conference.programme_version


def write(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def without_block(text: str, starting: str) -> str:
    """The conference file text without the [[...]] block that starts so."""
    blocks = text.split("\n\n[[")
    kept = [block for block in blocks if not ("[[" + block).startswith(starting)]
    assert len(kept) == len(blocks) - 1
    return "\n\n[[".join(kept)


def assert_round_trip(
    databases: list[Database], source: Path, slug: str, tmp_path: Path
) -> tuple[str, LoadReport]:
    """Load `source` into the first database, export it, load the export into the second and
    export again: the same text. Then load the export into the first: nothing changes."""
    first, second = databases
    load_conference_file(first, source)
    exported = export(first, slug)
    exported_file = write(tmp_path, exported, "exported.toml")

    load_conference_file(second, exported_file)
    assert export(second, slug) == exported

    version = programme_version(first, slug)
    reloaded = load_conference_file(first, exported_file)
    assert not reloaded.changed, reloaded.summary()
    assert reloaded.summary() == f"{slug}: created nothing; updated nothing"
    assert programme_version(first, slug) == version
    assert export(first, slug) == exported
    return exported, reloaded


def test_the_demo_conference_round_trips_through_an_export(
    fresh_databases: list[Database], tmp_path: Path
) -> None:
    exported, _ = assert_round_trip(fresh_databases, demo_seed_path(), DEMO, tmp_path)

    again = parse_conference_text(exported)
    seed = read_conference_file(demo_seed_path())
    assert again.conference == seed.conference
    assert "draft" not in tomllib.loads(exported)["conference"]  # the demo is published
    assert {room.step_free for room in again.rooms} == {True, False}
    assert any(speaker.needs_step_free for speaker in again.speakers)
    assert again.rooms == seed.rooms
    assert again.tracks == seed.tracks
    assert sorted(again.speakers, key=lambda s: s.key) == sorted(seed.speakers, key=lambda s: s.key)
    assert sorted(again.sessions, key=lambda s: s.key) == sorted(seed.sessions, key=lambda s: s.key)
    assert again.ticket_types == seed.ticket_types


@pytest.mark.parametrize("text", [AWKWARD, AWKWARD_WITH_CRLF], ids=["newlines", "crlf"])
def test_awkward_text_a_chair_and_a_cancelled_session_round_trip(
    fresh_databases: list[Database], tmp_path: Path, text: str
) -> None:
    source = write(tmp_path, text, "awkward.toml")
    exported, _ = assert_round_trip(fresh_databases, source, "awkward-2027", tmp_path)

    # What was loaded is what comes back, value for value.
    assert parse_conference_text(exported) == parse_conference_text(text)
    sessions = {s["key"]: s for s in tomllib.loads(exported)["sessions"]}
    small_hours = sessions["small-hours"]
    assert small_hours["status"] == "cancelled"
    assert (small_hours["speakers"], small_hours["chairs"]) == (["karl"], ["rosa"])
    assert small_hours["uuid"] == "0f6a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
    # The wall clock alone would name the first 02:30 that day, so the offset is kept.
    assert small_hours["start"].isoformat() == "2027-04-04T02:30:00+10:00"
    assert sessions["reform-or-revolution"]["start"].isoformat() == "2027-04-03T10:00:00"
    assert "chairs" not in sessions["reform-or-revolution"]
    assert "uuid" not in sessions["reform-or-revolution"]  # derived from the slugs again


def test_the_programme_editors_keys_round_trip(
    fresh_databases: list[Database], tmp_path: Path
) -> None:
    source = write(tmp_path, AWKWARD, "awkward.toml")
    exported, _ = assert_round_trip(fresh_databases, source, "awkward-2027", tmp_path)

    data = tomllib.loads(exported)
    conference = data["conference"]
    assert (conference["draft"], conference["day_starts"], conference["day_ends"]) == (
        True,
        "09:00",
        "22:30",
    )
    assert [(room["key"], room.get("step_free")) for room in data["rooms"]] == [
        ("hall", True),
        ("annex", False),
        ("garden", None),  # nobody has said: left out
    ]
    assert [s.get("needs_step_free") for s in data["speakers"]] == [True, None]
    placed = {s["key"]: s.get("room") for s in data["sessions"]}
    assert placed["not-placed-yet"] is None and placed["reform-or-revolution"] == "hall"
    for database in fresh_databases:  # a draft stays a draft in the database it is copied to
        with database.read() as session:
            copy = session.exec(select(Conference)).one()
            rooms = {r.slug: r.step_free for r in session.exec(select(Room))}
            rosa = session.exec(select(Speaker).where(Speaker.slug == "rosa")).one()
            unplaced = session.exec(
                select(ProgrammeSession).where(ProgrammeSession.slug == "not-placed-yet")
            ).one()
        assert copy.programme_published_at is None
        assert (copy.day_starts, copy.day_ends) == (time(9, 0), time(22, 30))
        assert rooms == {"hall": True, "annex": False, "garden": None}
        assert rosa.needs_step_free is True
        assert unplaced.room_id is None


def test_a_session_dropped_from_the_file_is_exported_cancelled_and_an_off_sale_type_left_out(
    db: Database, tmp_path: Path
) -> None:
    first = db
    load_conference_file(first, write(tmp_path, AWKWARD, "awkward.toml"))
    edited = without_block(AWKWARD, '[[sessions]]\nkey = "reform-or-revolution"')
    edited = without_block(edited, '[[ticket_types]]\ncode = "waged"')
    report = load_conference_file(first, write(tmp_path, edited, "edited.toml"))
    assert report.cancelled_sessions == ["reform-or-revolution"]
    assert report.ticket_types_off_sale == ["waged"]

    exported = tomllib.loads(export(first, "awkward-2027"))
    statuses = {s["key"]: s.get("status", "confirmed") for s in exported["sessions"]}
    assert statuses == {
        "reform-or-revolution": "cancelled",
        "small-hours": "cancelled",
        "not-placed-yet": "confirmed",
    }
    assert [t["code"] for t in exported["ticket_types"]] == ["pwyc", "pool"]

    version = programme_version(first, "awkward-2027")
    reloaded = load_conference_file(first, write(tmp_path, export(first, "awkward-2027"), "x"))
    assert not reloaded.changed, reloaded.summary()
    assert programme_version(first, "awkward-2027") == version


def test_the_export_holds_no_attendee_data(db: Database, demo: LoadReport) -> None:
    with db.read() as session:
        conference = session.exec(select(Conference).where(Conference.slug == DEMO)).one()
        offers = ticket_offers(session, conference)
    person = {"name": "Zelda Quux", "email": "zelda.quux@example.net", "ticket_type": "waged"}
    person |= {"access_needs": "Needs a hearing loop seat"}
    clean, errors = check_registration(person, offers, conference)
    assert clean is not None, errors
    register(db, conference.id or 0, clean)

    exported = export(db, DEMO)
    for secret in ("Zelda", "zelda.quux", "hearing loop seat"):
        assert secret not in exported


def test_an_unknown_conference_cannot_be_exported(db: Database) -> None:
    with db.read() as session, pytest.raises(ConferenceExportError, match="nope"):
        export_conference(session, "nope")


def test_a_session_taken_out_of_its_room_is_exported_without_one(
    db: Database, demo: LoadReport, tmp_path: Path
) -> None:
    with db.transaction() as session:
        record = session.exec(
            select(ProgrammeSession).where(ProgrammeSession.slug == "opening-rally")
        ).one()
        record.room_id = None
    exported = export(db, DEMO)
    rally = next(s for s in tomllib.loads(exported)["sessions"] if s["key"] == "opening-rally")
    assert "room" not in rally

    version = programme_version(db, DEMO)
    reloaded = load_conference_file(db, write(tmp_path, exported, "exported.toml"))
    assert not reloaded.changed, reloaded.summary()
    assert programme_version(db, DEMO) == version


def test_data_the_loader_would_refuse_is_not_exported(db: Database, demo: LoadReport) -> None:
    with db.transaction() as session:
        speaker = session.exec(select(Speaker)).first()
        assert speaker is not None
        speaker.links = ["javascript:alert(1)"]
    with db.read() as session, pytest.raises(ConferenceExportError, match="javascript:"):
        export_conference(session, DEMO)


def test_confapp_export_writes_to_standard_output_or_a_file(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["load", "--database-url", sqlite_url, str(demo_seed_path())]) == 0
    capsys.readouterr()

    assert main(["export", "--database-url", sqlite_url, DEMO]) == 0
    printed = capsys.readouterr().out
    assert tomllib.loads(printed)["conference"]["slug"] == DEMO

    output = tmp_path / "socialism.toml"
    assert main(["export", "--database-url", sqlite_url, DEMO, "--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == printed
    assert str(output) in capsys.readouterr().out


def test_confapp_export_of_an_unknown_conference_exits_2(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "nothing.toml"
    assert main(["export", "--database-url", sqlite_url, "nope", "--output", str(output)]) == 2
    captured = capsys.readouterr()
    assert "confapp export: there is no conference called 'nope'" in captured.err
    assert captured.out == ""
    assert not output.exists()
