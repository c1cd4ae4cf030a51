"""Loading a conference file: the demo, reloading after an edit, and files that are wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlmodel import func, select

from confapp.db import Database
from confapp.models import (
    Conference,
    ProgrammeSession,
    Room,
    SessionPerson,
    Speaker,
    TicketType,
    Track,
)
from confapp.programme.conference_file import (
    ConferenceFileError,
    LoadReport,
    load_conference_file,
    read_conference_file,
    session_uuid,
)
from confapp.resources import demo_seed_path

DEMO_TEXT = demo_seed_path().read_text(encoding="utf-8")


def count(db: Database, model: type) -> int:
    with db.read() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def session_by_slug(db: Database, slug: str) -> ProgrammeSession:
    with db.read() as session:
        return session.exec(select(ProgrammeSession).where(ProgrammeSession.slug == slug)).one()


def snapshot(db: Database) -> list[tuple]:
    with db.read() as session:
        rows = session.exec(select(ProgrammeSession).order_by(ProgrammeSession.id)).all()
        return [(r.id, r.uuid, r.title, r.start, r.status, r.sequence, r.updated_at) for r in rows]


def write(tmp_path: Path, text: str, name: str = "conference.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def first_session_block(text: str) -> tuple[int, int]:
    start = text.index("[[sessions]]")
    end = text.index("[[sessions]]", start + 1)
    return start, end


def test_demo_conference_is_a_realistic_weekend(db: Database, demo: LoadReport) -> None:
    spec = read_conference_file(demo_seed_path())
    assert spec.conference.timezone == "Australia/Sydney"
    assert 2 <= len({s.start.date() for s in spec.sessions}) <= 3
    assert count(db, Room) >= 6
    assert count(db, Track) >= 4
    assert count(db, Speaker) >= 30
    assert count(db, ProgrammeSession) >= 40
    assert {t.code for t in spec.ticket_types} >= {"waged", "concession", "solidarity"}
    assert any(t.kind == "pay_what_you_can" for t in spec.ticket_types)
    assert sum(s.status == "cancelled" for s in spec.sessions) >= 2
    plenary_rooms = {s.room for s in spec.sessions if s.kind == "plenary"}
    biggest = max(spec.rooms, key=lambda r: r.capacity or 0)
    assert plenary_rooms == {biggest.key}
    assert demo.created["sessions"] == len(spec.sessions)


def test_reloading_an_unchanged_file_changes_nothing(db: Database, demo: LoadReport) -> None:
    before = snapshot(db)
    with db.read() as session:
        version = session.exec(select(Conference.programme_version)).one()

    report = load_conference_file(db, demo_seed_path())

    assert not report.changed
    assert snapshot(db) == before
    with db.read() as session:
        assert session.exec(select(Conference.programme_version)).one() == version


def test_reloading_an_edited_file_updates_in_place(
    db: Database, demo: LoadReport, tmp_path: Path
) -> None:
    spec = read_conference_file(demo_seed_path())
    first, second = spec.sessions[0], spec.sessions[1]
    before_first = session_by_slug(db, first.key)
    before_second = session_by_slug(db, second.key)
    sessions_before = count(db, ProgrammeSession)

    text = DEMO_TEXT
    # Retitle the first session (no SEQUENCE bump), move the second by an hour (bump).
    text = text.replace(f'title = "{first.title}"', 'title = "A retitled session"', 1)
    old_start = second.start.strftime("%Y-%m-%dT%H:%M:%S")
    old_end = second.end.strftime("%Y-%m-%dT%H:%M:%S")
    block_start = text.index(f'key = "{second.key}"')
    block_end = text.index("[[sessions]]", block_start)
    block = text[block_start:block_end]
    moved = re.sub(rf"start\s*=\s*{old_start}", "start = 2027-07-11T18:00:00", block)
    moved = re.sub(rf"end\s*=\s*{old_end}", "end = 2027-07-11T18:45:00", moved)
    assert moved != block
    text = text[:block_start] + moved + text[block_end:]
    # Remove a third session from the file altogether.
    third = spec.sessions[2]
    third_start = text.index(f'key = "{third.key}"')
    header = text.rindex("[[sessions]]", 0, third_start)
    third_end = text.index("[[sessions]]", third_start)
    text = text[:header] + text[third_end:]

    report = load_conference_file(db, write(tmp_path, text))

    assert count(db, ProgrammeSession) == sessions_before  # no duplicates, nothing deleted
    retitled = session_by_slug(db, first.key)
    assert retitled.title == "A retitled session"
    assert retitled.uuid == before_first.uuid == session_uuid("socialism-2027", first.key)
    assert retitled.sequence == before_first.sequence
    assert retitled.updated_at > before_first.updated_at
    moved_session = session_by_slug(db, second.key)
    assert moved_session.uuid == before_second.uuid
    assert moved_session.sequence == before_second.sequence + 1
    assert moved_session.start.isoformat() == "2027-07-11T08:00:00+00:00"  # 18:00 AEST
    removed = session_by_slug(db, third.key)
    assert removed.status == "cancelled"
    assert report.cancelled_sessions == [third.key]
    assert report.updated["sessions"] == 2


def test_changing_who_speaks_counts_as_a_change(
    db: Database, demo: LoadReport, tmp_path: Path
) -> None:
    spec = read_conference_file(demo_seed_path())
    target = next(s for s in spec.sessions if len(s.speakers) >= 2)
    reordered = list(reversed(target.speakers))
    old = "speakers = [" + ", ".join(f'"{k}"' for k in target.speakers) + "]"
    assert old in DEMO_TEXT, "the demo file writes speaker lists on one line"
    new = "speakers = [" + ", ".join(f'"{k}"' for k in reordered) + "]"

    load_conference_file(db, write(tmp_path, DEMO_TEXT.replace(old, new, 1)))

    record = session_by_slug(db, target.key)
    with db.read() as session:
        people = session.exec(
            select(SessionPerson, Speaker)
            .join(Speaker)
            .where(SessionPerson.session_id == record.id, SessionPerson.role == "speaker")
            .order_by(SessionPerson.position)
        ).all()
    assert [speaker.slug for _, speaker in people] == reordered


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ('name = "Socialism 2027"\n[[[', r"not valid TOML.*line"),
        ('timezone = "Australia/Sydney"', r"conference\.timezone: 'AEST' is not an IANA"),
        ("[[rooms]]", r"rooms\[0\].*(key|name)"),
    ],
    ids=["syntax", "timezone", "room-without-fields"],
)
def test_malformed_file_names_the_place_and_changes_nothing(
    db: Database, demo: LoadReport, tmp_path: Path, broken: str, expected: str
) -> None:
    if broken.startswith("timezone"):
        text = DEMO_TEXT.replace(broken, 'timezone = "AEST"', 1)
    elif broken == "[[rooms]]":
        text = DEMO_TEXT.replace("[[rooms]]", "[[rooms]]\n[[rooms]]", 1)
    else:
        text = DEMO_TEXT.replace('name = "Socialism 2027"', broken, 1)
    path = write(tmp_path, text, "broken.toml")
    before = snapshot(db)

    with pytest.raises(ConferenceFileError) as error:
        load_conference_file(db, path)

    message = str(error.value)
    assert message.startswith(str(path))
    assert re.search(expected, message, re.S), message
    assert snapshot(db) == before


def test_unknown_room_is_reported_with_its_line_and_key(tmp_path: Path) -> None:
    spec = read_conference_file(demo_seed_path())
    target = spec.sessions[5]
    start = DEMO_TEXT.index(f'key = "{target.key}"')
    room_at = DEMO_TEXT.index(f'room = "{target.room}"', start)
    text = (
        DEMO_TEXT[:room_at]
        + 'room = "the-moon"'
        + DEMO_TEXT[room_at + len(f'room = "{target.room}"') :]
    )
    expected_line = text[:room_at].count("\n") + 1

    with pytest.raises(ConferenceFileError) as error:
        read_conference_file(write(tmp_path, text))

    assert f"line {expected_line}, sessions[5] (key '{target.key}').room" in str(error.value)
    assert "no room with key 'the-moon'" in str(error.value)


def test_a_session_ending_before_it_starts_is_rejected(tmp_path: Path) -> None:
    text = DEMO_TEXT.replace("[[sessions]]", "[[sessions]]\nkey = 'x'", 0)
    spec = read_conference_file(demo_seed_path())
    target = spec.sessions[0]
    end = target.end.strftime("%Y-%m-%dT%H:%M:%S")
    start_at = text.index(f'key = "{target.key}"')
    end_at = text.index(f"end = {end}", start_at)
    text = text[:end_at] + "end = 2027-07-01T00:00:00" + text[end_at + len(f"end = {end}") :]

    with pytest.raises(ConferenceFileError, match=r"sessions\[0\].*\.end: the session ends before"):
        read_conference_file(write(tmp_path, text))


def test_misspelt_field_is_named(tmp_path: Path) -> None:
    text = DEMO_TEXT.replace("[[speakers]]", "[[speakers]]\nbiography = 'typo'", 1)
    with pytest.raises(ConferenceFileError, match=r"speakers\[0\].*biography: Extra inputs"):
        read_conference_file(write(tmp_path, text))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConferenceFileError, match="cannot read the file"):
        read_conference_file(tmp_path / "nope.toml")


def test_ticket_types_are_stored_in_cents(db: Database, demo: LoadReport) -> None:
    with db.read() as session:
        waged = session.exec(select(TicketType).where(TicketType.code == "waged")).one()
        pwyc = session.exec(select(TicketType).where(TicketType.kind == "pay_what_you_can")).one()
    assert waged.price_cents == 9500
    assert pwyc.min_price_cents == 1000
