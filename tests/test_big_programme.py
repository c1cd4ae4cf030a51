"""A programme of thousands of sessions stays correct, and a daylight-saving day lays out right."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, date, datetime

from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.db import Database
from confapp.programme.grid import build_day_grid
from confapp.programme.queries import SessionEntry, get_conference, load_programme
from confapp.programme.synthetic import load_synthetic_conference
from confapp.settings import Settings
from tests.support.pages import elements


def test_three_thousand_session_programme_stays_correct(db: Database) -> None:
    report = load_synthetic_conference(db, slug="big", sessions=3000, rooms=40, days=3)
    assert report.created["sessions"] == 3000
    client = TestClient(
        create_app(Settings(database_url=db.url, seed_file="", base_url="http://testserver"))
    )

    data = client.get("/api/big/programme").json()
    assert len(data["sessions"]) == 3000
    assert len({s["uuid"] for s in data["sessions"]}) == 3000

    day = data["conference"]["days"][1]
    on_day = [s for s in data["sessions"] if s["start"].startswith(day)]
    page = client.get(f"/big/programme?day={day}&view=grid")
    assert page.status_code == 200
    slots = elements(page.text, "slot")
    assert len(slots) == len(on_day) == 1000
    # No two sessions share a grid cell: per column, row ranges never overlap.
    by_column: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for slot in slots:
        declarations = str(slot["attrs"]["style"]).split(";")  # type: ignore[index]
        style = {
            k.strip(): v.strip() for k, v in (d.split(":", 1) for d in declarations if ":" in d)
        }
        start, end = (int(x) for x in style["grid-row"].split("/"))
        by_column[style["grid-column"]].append((start, end))
    assert len(by_column) == 40
    for ranges in by_column.values():
        ranges.sort()
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(ranges))

    listing = client.get(f"/big/programme?day={day}&view=list&track=track-3").text
    expected = [s for s in on_day if s["track"] == "track-3"]
    assert len(elements(listing, "session-item")) == len(expected) > 0


def test_reloading_the_big_programme_changes_nothing(db: Database) -> None:
    load_synthetic_conference(db, slug="big", sessions=500)
    report = load_synthetic_conference(db, slug="big", sessions=500)
    assert not report.changed


def test_grid_rows_follow_real_time_across_a_daylight_saving_change(db: Database) -> None:
    # Sydney clocks go forward at 02:00 on Sunday 3 October 2027: 01:30 to 03:30 is one hour.
    load_synthetic_conference(
        db, slug="dst", sessions=4, rooms=1, days=1, start_date=date(2027, 10, 3)
    )
    with db.read() as session:
        conference = get_conference(session, "dst")
        assert conference is not None
        programme = load_programme(session, conference)
    entries = programme.sessions
    # The synthetic day starts at 08:00 local; add what matters: sessions either side of 02:00.
    first = entries[0]
    first.record.start = datetime(2027, 10, 2, 15, 30, tzinfo=UTC)  # 01:30 AEST
    first.record.end = datetime(2027, 10, 2, 16, 30, tzinfo=UTC)  # 03:30 AEDT: one real hour
    grid = build_day_grid([first], programme.rooms)
    cell = grid.cells[0]
    assert cell.row_end - cell.row_start == 12  # twelve 5-minute rows, not 24
    assert [label.text for label in grid.labels] == ["01:30", "03:00"]


def test_sessions_overlapping_in_one_room_sit_side_by_side(db: Database) -> None:
    # In the demo a replacement session runs in the room and slot of a cancelled one.
    from confapp.programme.conference_file import load_conference_file
    from confapp.resources import demo_seed_path

    load_conference_file(db, demo_seed_path())
    with db.read() as session:
        conference = get_conference(session, "socialism-2027")
        assert conference is not None
        programme = load_programme(session, conference)
    sunday = [e for e in programme.sessions if e.day == date(2027, 7, 11)]

    def overlapping_with(other: SessionEntry) -> list[SessionEntry]:
        return [
            e
            for e in sunday
            if e.room == other.room
            and e.record.start < other.record.end
            and other.record.start < e.record.end
        ]

    cancelled = next(e for e in sunday if e.cancelled and len(overlapping_with(e)) == 2)
    overlapping = overlapping_with(cancelled)

    grid = build_day_grid(sunday, programme.rooms)

    cells = {id(c.entry): c for c in grid.cells}
    columns = {cells[id(e)].column for e in overlapping}
    assert len(columns) == 2
    room_column = next(c for c in grid.columns if c.room == cancelled.room)
    assert room_column.lanes == 2
    assert columns == {room_column.first_line, room_column.first_line + 1}
    assert grid.lane_count == len(grid.columns) + 1
