"""Loading a conference file into a conference that was also changed on the web: the load lists
what it changes (`--dry-run` lists it and writes nothing), and sessions made on the web are never
cancelled by a file that lacks them unless `--cancel-web-sessions` says so."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select

from confapp.cli import main
from confapp.db import Database
from confapp.models import (
    Conference,
    ProgrammeChange,
    ProgrammeSession,
    Room,
    SessionPerson,
    Speaker,
    TicketType,
    Track,
)
from confapp.programme.conference_file import (
    LoadReport,
    load_conference_file,
    read_conference_file,
)
from confapp.programme.editing import conference_for_update, create_session
from confapp.resources import demo_seed_path
from tests.support import DEMO
from tests.support.programme import publish_pending

DEMO_TEXT = demo_seed_path().read_text(encoding="utf-8")
WEB_SESSION = "made-on-the-web"


def add_session_on_the_web(db: Database) -> None:
    """A session an organiser made in the editor, which no conference file has ever held."""
    with db.transaction() as session:
        conference = conference_for_update(session, DEMO)
        create_session(
            session,
            conference,
            {
                "slug": WEB_SESSION,
                "title": "Made on the web",
                "start": "2027-07-10T16:00:00+10:00",
                "end": "2027-07-10T17:00:00+10:00",
                "room": "seminar-1",
                "people": ["zoe-papas"],
            },
        )
    publish_pending(db)  # the demo's programme is published: the session goes public


def everything(db: Database) -> dict[str, list[Any]]:
    """Every row a load could touch, for comparing before and after."""
    with db.read() as session:
        tables: dict[str, list[Any]] = {
            model.__name__: [
                row.model_dump() for row in session.exec(select(model).order_by(col(model.id)))
            ]
            for model in (Conference, Room, Track, Speaker, ProgrammeSession, TicketType)
        }
        tables["SessionPerson"] = [
            row.model_dump()
            for row in session.exec(
                select(SessionPerson).order_by(
                    col(SessionPerson.session_id), col(SessionPerson.position)
                )
            )
        ]
        tables["ProgrammeChange"] = [
            row.model_dump()
            for row in session.exec(select(ProgrammeChange).order_by(col(ProgrammeChange.id)))
        ]
    return tables


def stored_session(db: Database, slug: str) -> ProgrammeSession:
    with db.read() as session:
        return session.exec(select(ProgrammeSession).where(ProgrammeSession.slug == slug)).one()


def programme_version(db: Database) -> int:
    with db.read() as session:
        return session.exec(select(Conference.programme_version)).one()


def block_of(text: str, key: str) -> tuple[int, int]:
    """Where the [[sessions]] block of `key` starts and ends in the file's text."""
    start = text.rindex("[[sessions]]", 0, text.index(f'key = "{key}"'))
    end = text.find("[[", start + 1)
    return start, end if end != -1 else len(text)


def edit_block(text: str, key: str, old: str, new: str) -> str:
    start, end = block_of(text, key)
    block = text[start:end]
    assert old in block, (key, old)
    return text[:start] + block.replace(old, new, 1) + text[end:]


def without_session(text: str, key: str) -> str:
    start, end = block_of(text, key)
    return text[:start] + text[end:]


def stamp(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def load(db: Database, path: Path, *flags: str) -> int:
    return main(["load", "--database-url", db.url, str(path), *flags])


def listed_changes(output: str) -> list[str]:
    """The change list `confapp load` prints: the indented lines under its heading."""
    return [line for line in output.splitlines() if line.startswith("  ")]


class EditedDemo:
    """The demo file with one session moved to another room and an hour later, one retitled,
    one with its speakers in another order, one dropped, and a room made bigger."""

    def __init__(self) -> None:
        spec = read_conference_file(demo_seed_path())
        self.sessions = spec.sessions
        moved, retitled, dropped = spec.sessions[1], spec.sessions[3], spec.sessions[6]
        reordered = next(s for s in spec.sessions[7:] if len(s.speakers) >= 2)
        other_room = next(r.key for r in spec.rooms if r.key != moved.room)
        self.moved, self.retitled, self.dropped, self.reordered = (
            moved,
            retitled,
            dropped,
            reordered,
        )
        self.other_room = other_room
        text = edit_block(DEMO_TEXT, moved.key, f'room = "{moved.room}"', f'room = "{other_room}"')
        later = moved.start.replace(hour=moved.start.hour + 1)
        text = edit_block(
            text, moved.key, f"start = {stamp(moved.start)}", f"start = {stamp(later)}"
        )
        self.later = later
        text = edit_block(text, retitled.key, f'title = "{retitled.title}"', 'title = "Renamed"')
        speakers = ", ".join(f'"{k}"' for k in reordered.speakers)
        backwards = ", ".join(f'"{k}"' for k in reversed(reordered.speakers))
        text = edit_block(text, reordered.key, speakers, backwards)
        text = without_session(text, dropped.key)
        self.text = text.replace("capacity = 900", "capacity = 950", 1)

    def expected_changes(self) -> list[str]:
        """What the change list says, in the order the loader meets the records."""
        lines = ["changed room great-hall:", "    capacity: 900 → 950"]
        for s in self.sessions:
            if s is self.moved:
                lines += [
                    f"changed session {s.key}:",
                    f"    room: {s.room} → {self.other_room}",
                    f"    start: {s.start:%Y-%m-%d %H:%M} → {self.later:%Y-%m-%d %H:%M}",
                ]
            elif s is self.retitled:
                lines += [f"changed session {s.key}:", f'    title: "{s.title}" → "Renamed"']
            elif s is self.reordered:
                lines += [
                    f"changed session {s.key}:",
                    f"    speakers: {', '.join(s.speakers)} → " + ", ".join(reversed(s.speakers)),
                ]
        return lines + [
            f"cancelled session {self.dropped.key}: no longer in the file",
            f"kept session {WEB_SESSION}: made on the web, not in the file",
        ]


def test_a_dry_run_lists_what_would_change_and_writes_nothing(
    db: Database, demo: LoadReport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_session_on_the_web(db)
    edited = EditedDemo()
    path = tmp_path / "edited.toml"
    path.write_text(edited.text, encoding="utf-8")
    before = everything(db)
    version = programme_version(db)
    capsys.readouterr()

    assert load(db, path, "--dry-run") == 0

    output = capsys.readouterr().out
    assert f"Loading {path} would make these changes (nothing was written):" in output
    assert [line[2:] for line in listed_changes(output)] == edited.expected_changes()
    assert (
        f"{DEMO} (dry run, nothing was written): would create nothing; "
        "would update 1 room, 3 sessions; would cancel 1 session no longer in the file; "
        f"would keep 1 session made on the web that is not in the file: {WEB_SESSION}"
    ) in output
    assert everything(db) == before
    assert programme_version(db) == version


def test_a_load_into_a_conference_changed_on_the_web_lists_the_same_changes_and_makes_them(
    db: Database, demo: LoadReport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_session_on_the_web(db)
    edited = EditedDemo()
    path = tmp_path / "edited.toml"
    path.write_text(edited.text, encoding="utf-8")
    load(db, path, "--dry-run")
    dry_run = capsys.readouterr().out

    assert load(db, path) == 0

    output = capsys.readouterr().out
    assert f"Loading {path} made these changes:" in output
    assert listed_changes(output) == listed_changes(dry_run) != []
    assert output.rstrip().endswith("load with --cancel-web-sessions to cancel them.")
    moved = stored_session(db, edited.moved.key)
    with db.read() as session:
        room = session.get(Room, moved.room_id)
    assert room is not None and room.slug == edited.other_room
    assert stored_session(db, edited.retitled.key).title == "Renamed"
    assert stored_session(db, edited.dropped.key).status == "cancelled"
    assert stored_session(db, WEB_SESSION).status == "confirmed"


def test_an_unchanged_reload_lists_nothing(
    db: Database, demo: LoadReport, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert load(db, demo_seed_path()) == 0
    assert capsys.readouterr().out == f"{DEMO}: created nothing; updated nothing\n"


def test_a_session_made_on_the_web_survives_a_file_that_lacks_it(
    db: Database, demo: LoadReport, tmp_path: Path
) -> None:
    add_session_on_the_web(db)
    dropped = read_conference_file(demo_seed_path()).sessions[2]
    path = tmp_path / "without.toml"
    path.write_text(without_session(DEMO_TEXT, dropped.key), encoding="utf-8")
    version = programme_version(db)
    web_made = stored_session(db, WEB_SESSION)

    report = load_conference_file(db, path)

    # The file's own session is cancelled as ever; the one made on the web is left alone.
    assert report.cancelled_sessions == [dropped.key]
    assert report.kept_web_sessions == [WEB_SESSION]
    assert "kept 1 session made on the web that is not in the file: made-on-the-web" in (
        report.summary()
    )
    assert stored_session(db, dropped.key).status == "cancelled"
    kept = stored_session(db, WEB_SESSION)
    assert (kept.status, kept.version, kept.updated_at) == (
        "confirmed",
        web_made.version,
        web_made.updated_at,
    )
    assert programme_version(db) == version + 1  # for the cancelled one only

    again = load_conference_file(db, path)
    assert not again.changed and again.kept_web_sessions == [WEB_SESSION]


def test_cancel_web_sessions_cancels_them_and_says_so_in_the_changelog(
    db: Database, demo: LoadReport, capsys: pytest.CaptureFixture[str]
) -> None:
    add_session_on_the_web(db)
    capsys.readouterr()

    assert load(db, demo_seed_path(), "--cancel-web-sessions") == 0

    output = capsys.readouterr().out
    assert listed_changes(output) == [
        f"  cancelled session {WEB_SESSION}: made on the web, not in the file"
    ]
    assert "cancelled 1 session no longer in the file" in output
    web_made = stored_session(db, WEB_SESSION)
    assert web_made.status == "cancelled" and web_made.made_on_web
    with db.read() as session:
        logged = session.exec(
            select(ProgrammeChange).where(ProgrammeChange.session_id == web_made.id)
        ).all()
    assert [(c.kind, c.after) for c in logged] == [
        ("added", logged[0].after),
        ("status", {"status": "cancelled"}),
    ]


def test_a_session_made_on_the_web_and_then_put_in_the_file_follows_the_file(
    db: Database, demo: LoadReport, tmp_path: Path
) -> None:
    add_session_on_the_web(db)
    block = (
        f'\n[[sessions]]\nkey = "{WEB_SESSION}"\ntitle = "Made on the web, now in the file"\n'
        'kind = "talk"\nstart = 2027-07-10T16:00:00\nend = 2027-07-10T17:00:00\n'
        'room = "seminar-2"\nspeakers = ["zoe-papas"]\n\n'
    )
    first_ticket = DEMO_TEXT.index("[[ticket_types]]")
    path = tmp_path / "with.toml"
    path.write_text(DEMO_TEXT[:first_ticket] + block + DEMO_TEXT[first_ticket:], encoding="utf-8")

    report = load_conference_file(db, path)

    assert report.change_lines() == [
        f"changed session {WEB_SESSION}:",
        '    title: "Made on the web" → "Made on the web, now in the file"',
        "    room: seminar-1 → seminar-2",
    ]
    assert not report.kept_web_sessions
    assert stored_session(db, WEB_SESSION).made_on_web  # where it came from does not change


def test_a_dry_run_of_a_new_conference_creates_nothing(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load(db, demo_seed_path(), "--dry-run") == 0

    output = capsys.readouterr().out
    changes = listed_changes(output)
    assert changes[0] == f"  new conference {DEMO}"
    assert "  new room great-hall" in changes and "  new session opening-rally" in changes
    assert re.search(r"would create 1 conference, 7 rooms, \d+ sessions", output)
    with db.read() as session:
        assert session.exec(select(func.count()).select_from(Conference)).one() == 0
        assert session.exec(select(func.count()).select_from(ProgrammeSession)).one() == 0
