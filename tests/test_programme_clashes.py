"""The clashes an organiser is warned of, each explained by what clashes with what."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import select

from confapp.db import Database
from confapp.models import ProgrammeSession
from confapp.programme.clashes import ClashKind, clashes_of, each_clash_once, programme_clashes
from confapp.programme.conference_file import check_conference_data, load_conference_spec
from confapp.programme.queries import Programme, load_programme, require_conference
from tests.support.accounts import make_user, sign_in


def small_conference(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "conference": {
            "slug": "clashes",
            "name": "Clashes",
            "timezone": "Australia/Sydney",
            "start_date": date(2027, 7, 9),
            "end_date": date(2027, 7, 10),
            "venue": "Hall",
        },
        "rooms": [
            {"key": "big", "name": "Big Hall", "capacity": 300},
            {"key": "small", "name": "Small Room", "capacity": 2},
        ],
        "speakers": [{"key": "rosa", "name": "Rosa"}, {"key": "karl", "name": "Karl"}],
        "sessions": [
            session("opening", 9, 10, "big", ["rosa"]),
            session("workshop", 11, 12, "small", ["karl"]),
        ],
    }
    data.update(changes)
    return data


def session(
    key: str, start: int, end: int, room: str | None, speakers: list[str], day: int = 9, **more: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "key": key,
        "title": key.replace("-", " ").title(),
        "kind": "talk",
        "start": datetime(2027, 7, day, start),
        "end": datetime(2027, 7, day, end),
        "speakers": speakers,
        **more,
    }
    if room:
        entry["room"] = room
    return entry


def programme_of(db: Database, data: dict[str, Any]) -> Programme:
    with db.transaction() as session:
        load_conference_spec(session, check_conference_data(data))
    with db.read() as session:
        return load_programme(session, require_conference(session, "clashes"))


def kinds(programme: Programme, **options: Any) -> set[tuple[str, str, str | None]]:
    return {
        (c.kind.value, c.session, c.other_session) for c in programme_clashes(programme, **options)
    }


def test_a_clean_programme_has_no_clashes(db: Database) -> None:
    assert programme_clashes(programme_of(db, small_conference())) == []


def test_two_sessions_in_one_room_at_once_clash_both_ways(db: Database) -> None:
    data = small_conference()
    data["sessions"].append(session("late-arrival", 9, 11, "big", ["karl"]))
    clashes = programme_clashes(programme_of(db, data))
    room = [c for c in clashes if c.kind is ClashKind.room_double_booked]
    assert {(c.session, c.other_session) for c in room} == {
        ("opening", "late-arrival"),
        ("late-arrival", "opening"),
    }
    message = next(c.message for c in room if c.session == "opening")
    assert "Big Hall" in message and "Late Arrival" in message and "09:00–11:00" in message


def test_back_to_back_sessions_do_not_clash(db: Database) -> None:
    data = small_conference()
    data["sessions"].append(session("next", 10, 11, "big", ["karl"]))
    assert programme_clashes(programme_of(db, data)) == []


def test_a_speaker_or_chair_in_two_places_at_once_clashes(db: Database) -> None:
    data = small_conference()
    data["sessions"].append(session("panel", 9, 10, "small", ["karl"], chairs=["rosa"]))
    found = kinds(programme_of(db, data))
    assert ("person_double_booked", "opening", "panel") in found
    assert ("person_double_booked", "panel", "opening") in found


def test_a_cancelled_session_clashes_with_nothing(db: Database) -> None:
    data = small_conference()
    data["sessions"].append(session("dropped", 9, 10, "big", ["rosa"], status="cancelled"))
    assert programme_clashes(programme_of(db, data)) == []


def test_a_session_outside_the_conference_days_is_flagged(db: Database) -> None:
    data = small_conference()
    data["conference"]["languages"] = ["en-AU"]  # days as the conference's language writes them
    data["sessions"].append(session("too-late", 9, 10, "big", ["karl"], day=12))
    clashes = clashes_of(programme_clashes(programme_of(db, data)), "too-late")
    assert [c.kind for c in clashes] == [ClashKind.outside_conference_days]
    assert clashes[0].message == (
        "It is on Mon 12 Jul 2027, outside the conference's days (9 Jul to 10 Jul 2027)."
    )


def test_a_session_without_room_or_speaker_is_flagged(db: Database) -> None:
    data = small_conference()
    data["sessions"].append(session("unplaced", 14, 15, "big", []))
    programme_of(db, data)
    # The conference file always places a session; the editor will let a draft wait unplaced.
    with db.transaction() as transaction:
        record = transaction.exec(
            select(ProgrammeSession).where(ProgrammeSession.slug == "unplaced")
        ).one()
        record.room_id = None
    with db.read() as transaction:
        programme = load_programme(transaction, require_conference(transaction, "clashes"))
    assert {c.kind for c in clashes_of(programme_clashes(programme), "unplaced")} == {
        ClashKind.no_room,
        ClashKind.no_speaker,
    }


def test_a_social_needs_no_speaker_but_a_talk_does(db: Database) -> None:
    data = small_conference()
    data["sessions"] += [
        session("evening-social", 19, 22, "big", [], kind="social"),
        session("unbilled-talk", 14, 15, "big", []),
    ]
    clashes = programme_clashes(programme_of(db, data))
    assert clashes_of(clashes, "evening-social") == []
    assert [c.kind for c in clashes_of(clashes, "unbilled-talk")] == [ClashKind.no_speaker]


def test_each_clash_once_keeps_one_side_of_each_pair(db: Database) -> None:
    data = small_conference()
    data["sessions"].append(session("late-arrival", 9, 11, "big", ["rosa"]))
    clashes = programme_clashes(programme_of(db, data))
    # Both sides are told (for each session's own list)...
    assert {(c.kind, c.session) for c in clashes} == {
        (ClashKind.room_double_booked, "opening"),
        (ClashKind.room_double_booked, "late-arrival"),
        (ClashKind.person_double_booked, "opening"),
        (ClashKind.person_double_booked, "late-arrival"),
    }
    # ...and a list of them all has each clash once.
    assert {(c.kind, c.session, c.other_session) for c in each_clash_once(clashes)} == {
        (ClashKind.room_double_booked, "late-arrival", "opening"),
        (ClashKind.person_double_booked, "late-arrival", "opening"),
    }


def test_more_people_starred_than_the_room_holds(db: Database) -> None:
    programme = programme_of(db, small_conference())
    workshop = programme.session("workshop")
    assert workshop is not None and workshop.record.id is not None
    clashes = programme_clashes(programme, stars={workshop.record.id: 3})
    assert [(c.kind, c.session) for c in clashes] == [(ClashKind.room_too_small, "workshop")]
    assert clashes[0].message == "3 people starred it; Small Room holds 2."
    assert programme_clashes(programme, stars={workshop.record.id: 2}) == []


def test_clashes_serialise_for_the_json_api(db: Database) -> None:
    data = small_conference()
    data["sessions"].append(session("late-arrival", 9, 11, "big", ["karl"]))
    clash = clashes_of(programme_clashes(programme_of(db, data)), "opening")[0]
    assert clash.as_json() == {
        "kind": "room_double_booked",
        "session": "opening",
        "other_session": "late-arrival",
        "message": clash.message,
    }


def test_an_organiser_sees_a_double_booked_room_once_on_the_problems_page(
    client: Any, db: Database
) -> None:
    data = small_conference()
    data["sessions"].append(session("late-arrival", 9, 11, "big", ["karl"]))
    programme_of(db, data)
    make_user(db, "org@example.org", "organiser", "clashes")
    sign_in(client, "org@example.org")
    page = client.get("/admin/clashes/programme/problems")
    assert page.status_code == 200
    # Two sessions in one room at once are one problem: listed once, counted once.
    assert "1 problem to sort out." in page.text
    assert page.text.count("Big Hall is also booked for") == 1
    assert "Big Hall is also booked for “Opening”" in page.text
    assert 'href="/admin/clashes/programme/sessions/late-arrival"' in page.text
    assert 'href="/admin/clashes/programme/sessions/opening"' in page.text
    demo = client.get("/admin/socialism-2027/programme/problems")
    assert demo.status_code == 403  # an organiser of another conference
