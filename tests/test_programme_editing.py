"""Changing the programme through confapp.programme.editing, without HTTP: what is refused and
why, versions and conflicts, deleting and cancelling, speakers, rooms and tracks, days and
hours, publishing, and every kind of clash, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import date, time
from typing import Any

import pytest
from sqlmodel import select

from confapp.agenda.service import create_agenda, set_star, star_counts
from confapp.db import Database
from confapp.models import (
    Conference,
    ProgrammeChange,
    ProgrammeSession,
    Room,
    SessionPerson,
    Speaker,
    Track,
)
from confapp.programme import editing
from confapp.programme.clashes import Clash, ClashKind
from confapp.programme.conference_file import load_conference_spec, parse_conference_text
from confapp.programme.editing import EditRefused, InUse, VersionConflict
from confapp.programme.queries import NotFound, load_programme
from tests.support.programme import publish_pending

SLUG = "teach-in"
# London in May is on summer time: +01:00.
CONFERENCE_FILE = """
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

[[rooms]]
key = "main-hall"
name = "Main Hall"
capacity = 300
step_free = true

[[rooms]]
key = "back-room"
name = "Back Room"
capacity = 2
step_free = false

[[rooms]]
key = "library"
name = "Library"
step_free = true

[[rooms]]
key = "annex"
name = "Annex"

[[tracks]]
key = "climate"
name = "Climate"
colour = "#2e7d32"

[[speakers]]
key = "rosa"
name = "Rosa Luxemburg"
needs_step_free = true

[[speakers]]
key = "karl"
name = "Karl Liebknecht"

[[speakers]]
key = "clara"
name = "Clara Zetkin"

[[sessions]]
key = "opening"
title = "Opening rally"
kind = "plenary"
start = 2027-05-01T10:00:00
end = 2027-05-01T11:00:00
room = "main-hall"
speakers = ["rosa"]

[[sessions]]
key = "strikes"
title = "The mass strike"
kind = "talk"
start = 2027-05-01T12:00:00
end = 2027-05-01T13:00:00
room = "main-hall"
track = "climate"
speakers = ["karl"]
chairs = ["clara"]
"""


def at(clock: str, day: int = 1) -> str:
    return f"2027-05-0{day}T{clock}:00+01:00"


@pytest.fixture
def conference(db: Database) -> Database:
    """A small draft programme, loaded the way `confapp load` loads a file."""
    with db.transaction() as session:
        load_conference_spec(session, parse_conference_text(CONFERENCE_FILE))
    return db


def _session(db: Database, slug: str) -> ProgrammeSession:
    with db.read() as session:
        return session.exec(select(ProgrammeSession).where(ProgrammeSession.slug == slug)).one()


def _conference(db: Database) -> Conference:
    with db.read() as session:
        return session.exec(select(Conference).where(Conference.slug == SLUG)).one()


def _update(db: Database, slug: str, data: dict[str, Any], expected: int | None = None) -> set:
    with db.transaction() as session:
        conference = editing.conference_for_update(session, SLUG)
        return editing.update_session(session, conference, slug, data, expected_version=expected)[1]


def _clashes(db: Database, slug: str) -> list[Clash]:
    with db.read() as session:
        conference = session.exec(select(Conference).where(Conference.slug == SLUG)).one()
        return editing.session_clashes(
            session, conference, slug, star_counts(session, conference.id or 0)
        )


def _publish(db: Database) -> None:
    with db.transaction() as session:
        editing.publish_programme(session, editing.conference_for_update(session, SLUG))


# --- reading input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"start": "2027-05-01T10:00"}, "start", "needs a UTC offset"),
        ({"start": "next tuesday"}, "start", "not a date and time"),
        ({"start": 1_800_000_000}, "start", "ISO 8601"),
        ({"start": at("12:00"), "end": at("11:00")}, "end", "must be after the start"),
        ({"start": at("12:00"), "end": at("12:00")}, "end", "must be after the start"),
        ({"end": at("13:00", day=2)}, "end", "at most 24 hours"),
        ({"start": "1999-05-01T10:00+01:00"}, "start", "plausible year"),
        ({"room": "no-such-room"}, "room", "there is no room"),
        ({"room": 3}, "room", "slug or null"),
        ({"track": "no-such-track"}, "track", "there is no track"),
        ({"colour": "#ffffff"}, "colour", "is not a field"),
        ({"title": 5}, "title", "must be text"),
        ({"title": "   "}, "title", "must not be empty"),
        ({"title": "x" * 301}, "title", "at most 300"),
        ({"status": "postponed"}, "status", "must be one of"),
        ({"kind": ["talk"]}, "kind", "must be one of"),
        ({"people": "rosa"}, "people", "must be a list"),
        ({"people": [{"speaker": "nobody"}]}, "people", "no speaker called “nobody”"),
        ({"people": [{"speaker": "rosa", "role": "host"}]}, "people", "speaker or chair"),
        ({"people": ["rosa", "rosa"]}, "people", "same person twice"),
        ({"people": [7]}, "people", "must name a speaker"),
    ],
)
def test_a_refused_change_says_why_per_field_and_saves_nothing(
    conference: Database, data: dict[str, Any], field: str, reason: str
) -> None:
    before = _session(conference, "strikes")
    version_before = _conference(conference).programme_version
    with pytest.raises(EditRefused) as refused:
        _update(conference, "strikes", data)
    assert field in refused.value.fields
    assert reason in refused.value.fields[field]
    after = _session(conference, "strikes")
    assert (after.version, after.start, after.end, after.room_id, after.title) == (
        before.version,
        before.start,
        before.end,
        before.room_id,
        before.title,
    )
    assert _conference(conference).programme_version == version_before


def test_a_new_session_needs_a_title_a_start_and_an_end(conference: Database) -> None:
    with conference.transaction() as session:
        record = editing.conference_for_update(session, SLUG)
        with pytest.raises(EditRefused) as refused:
            editing.create_session(session, record, {})
    assert set(refused.value.fields) == {"title", "start", "end"}
    with conference.read() as session:
        assert len(session.exec(select(ProgrammeSession)).all()) == 2


@pytest.mark.parametrize(
    ("given", "version"),
    [(3, 3), ("3", 3), ('"3"', 3), ('W/"3"', 3), (" 12 ", 12), (None, None), ("", None)],
)
def test_a_version_is_read_from_a_number_or_an_etag(given: Any, version: int | None) -> None:
    assert editing.read_version(given) == version


@pytest.mark.parametrize("given", ["abc", True, "-1", "1" * 12, "3, 4"])
def test_a_version_that_is_not_a_whole_number_is_refused(given: Any) -> None:
    with pytest.raises(EditRefused) as refused:
        editing.read_version(given)
    assert "version" in refused.value.fields


def test_slugs_are_made_from_names_and_never_taken_twice(conference: Database) -> None:
    assert editing.slugify("Écologie & Révolution!") == "ecologie-revolution"
    assert editing.slugify("???") == "item"
    with conference.transaction() as session:
        record = editing.conference_for_update(session, SLUG)
        first = editing.create_session(
            session, record, {"title": "Opening rally", "start": at("14:00"), "end": at("15:00")}
        )
        second = editing.create_session(
            session, record, {"title": "Opening rally", "start": at("15:00"), "end": at("16:00")}
        )
        assert (first.slug, second.slug) == ("opening-rally", "opening-rally-2")
        with pytest.raises(EditRefused) as taken:
            editing.create_session(
                session,
                record,
                {"title": "Again", "start": at("15:00"), "end": at("16:00"), "slug": "opening"},
            )
        assert "taken" in taken.value.fields["slug"]
        with pytest.raises(EditRefused) as malformed:
            editing.create_session(
                session,
                record,
                {"title": "Again", "start": at("15:00"), "end": at("16:00"), "slug": "Not OK"},
            )
        assert "slug" in malformed.value.fields


def test_a_slug_made_from_a_long_name_still_fits_its_column(conference: Database) -> None:
    name = "The " + "very " * 30 + "long room"
    with conference.transaction() as session:
        record = editing.conference_for_update(session, SLUG)
        slugs = [editing.create_record(session, record, Room, {"name": name}).slug for _ in "abc"]
    assert all(len(slug) <= 80 for slug in slugs)
    assert slugs[1] == slugs[0][:78].rstrip("-") + "-2" and slugs[2].endswith("-3")


# --- sessions: create, change, versions ---------------------------------------------------


def test_a_session_made_on_the_web_has_its_people_and_version_one(conference: Database) -> None:
    version_before = _conference(conference).programme_version
    with conference.transaction() as session:
        record = editing.conference_for_update(session, SLUG)
        made = editing.create_session(
            session,
            record,
            {
                "title": "Women and the revolution",
                "start": at("14:00"),
                "end": at("15:30"),
                "room": "library",
                "track": "climate",
                "kind": "workshop",
                "people": [{"speaker": "clara", "role": "speaker"}, "karl"],
            },
        )
        slug = made.slug
    stored = _session(conference, slug)
    assert stored.made_on_web and stored.version == 1 and stored.kind == "workshop"
    with conference.read() as session:
        people = session.exec(
            select(SessionPerson)
            .where(SessionPerson.session_id == stored.id)
            .order_by(SessionPerson.position)
        ).all()
        names = [session.get(Speaker, p.speaker_id).slug for p in people]  # type: ignore[union-attr]
        assert names == ["clara", "karl"]
        # A draft's changes are nobody's business yet: nothing in the public changelog.
        assert session.exec(select(ProgrammeChange)).all() == []
    assert _conference(conference).programme_version == version_before + 1


def test_a_change_returns_what_changed_and_bumps_every_version(conference: Database) -> None:
    before = _session(conference, "strikes")
    programme_before = _conference(conference).programme_version
    changed = _update(
        conference,
        "strikes",
        {
            "start": at("14:00"),
            "end": at("15:00"),
            "room": "library",
            "title": "The mass strike",
            "people": ["karl"],
        },
        expected=before.version,
    )
    assert changed == {"start", "end", "room_id", "people"}
    after = _session(conference, "strikes")
    assert after.version == before.version + 1  # one save, one version
    assert after.sequence == before.sequence + 1  # calendars are told
    assert _conference(conference).programme_version == programme_before + 1


def test_a_change_that_changes_nothing_leaves_every_version_alone(conference: Database) -> None:
    before = _session(conference, "strikes")
    programme_before = _conference(conference).programme_version
    changed = _update(
        conference,
        "strikes",
        {
            "start": "2027-05-01T11:00:00Z",
            "room": "main-hall",
            "people": ["karl", {"speaker": "clara", "role": "chair"}],
        },
    )
    assert changed == set()
    after = _session(conference, "strikes")
    assert (after.version, after.sequence, after.updated_at) == (
        before.version,
        before.sequence,
        before.updated_at,
    )
    assert _conference(conference).programme_version == programme_before


def test_changing_only_the_people_bumps_the_version_not_the_sequence(conference: Database) -> None:
    before = _session(conference, "strikes")
    assert _update(conference, "strikes", {"people": ["karl"]}) == {"people"}
    after = _session(conference, "strikes")
    assert after.version > before.version and after.sequence == before.sequence


def test_a_change_from_an_old_version_is_refused_and_saves_nothing(conference: Database) -> None:
    start = _session(conference, "strikes").version
    _update(conference, "strikes", {"title": "First save"}, expected=start)
    with pytest.raises(VersionConflict) as conflict:
        _update(conference, "strikes", {"title": "Second save"}, expected=start)
    assert conflict.value.current_version == start + 1
    assert "Nothing was saved" in str(conflict.value)
    assert _session(conference, "strikes").title == "First save"


def test_two_writers_from_the_same_version_take_turns_and_the_second_is_refused(
    conference: Database,
) -> None:
    """The first writer holds the conference's lock while the second starts: the second waits
    for it, then sees the first's save and gets a conflict, on PostgreSQL as on SQLite."""
    version = _session(conference, "strikes").version
    first_holds_the_lock = threading.Event()
    results: dict[str, Any] = {}

    def first() -> None:
        with conference.transaction() as session:
            record = editing.conference_for_update(session, SLUG)
            editing.update_session(
                session, record, "strikes", {"title": "First"}, expected_version=version
            )
            first_holds_the_lock.set()
            threading.Event().wait(0.5)  # the second is now waiting on the lock
        results["first"] = "saved"

    def second() -> None:
        first_holds_the_lock.wait(10)
        try:
            _update(conference, "strikes", {"title": "Second"}, expected=version)
            results["second"] = "saved"
        except VersionConflict as conflict:
            results["second"] = conflict.current_version

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {"first": "saved", "second": version + 1}
    assert _session(conference, "strikes").title == "First"


def test_an_unknown_conference_or_session_is_not_found(conference: Database) -> None:
    with conference.transaction() as session:
        with pytest.raises(NotFound):
            editing.conference_for_update(session, "no-such-conference")
        record = editing.conference_for_update(session, SLUG)
        with pytest.raises(NotFound):
            editing.update_session(session, record, "no-such-session", {}, expected_version=None)
        with pytest.raises(NotFound):
            editing.delete_session(session, record, "no-such-session", expected_version=None)


# --- deleting and cancelling --------------------------------------------------------------


def test_a_draft_session_is_deleted_with_its_people(conference: Database) -> None:
    session_id = _session(conference, "strikes").id
    with conference.transaction() as session:
        record = editing.conference_for_update(session, SLUG)
        assert editing.delete_session(session, record, "strikes", expected_version=None) == (
            "deleted"
        )
    with conference.read() as session:
        assert session.get(ProgrammeSession, session_id) is None
        assert (
            session.exec(select(SessionPerson).where(SessionPerson.session_id == session_id)).all()
            == []
        )


def test_a_published_session_is_cancelled_not_deleted_and_the_change_is_public(
    conference: Database,
) -> None:
    _publish(conference)
    before = _session(conference, "strikes")
    with conference.transaction() as session:
        record = editing.conference_for_update(session, SLUG)
        with pytest.raises(VersionConflict):
            editing.delete_session(session, record, "strikes", expected_version=before.version + 1)
        assert (
            editing.delete_session(session, record, "strikes", expected_version=before.version)
            == "cancelled"
        )
    # Cancelled in the working copy: public once the organisers publish their changes.
    assert _session(conference, "strikes").status == before.status
    publish_pending(conference, SLUG)
    after = _session(conference, "strikes")
    assert after.status == "cancelled" and after.sequence == before.sequence + 1
    with conference.read() as session:
        changes = session.exec(select(ProgrammeChange)).all()
        assert [(c.kind, c.after) for c in changes] == [("status", {"status": "cancelled"})]


def test_after_publishing_a_new_session_and_a_move_are_logged(conference: Database) -> None:
    _publish(conference)
    with conference.transaction() as session:
        record = editing.conference_for_update(session, SLUG)
        editing.create_session(
            session, record, {"title": "Late addition", "start": at("16:00"), "end": at("17:00")}
        )
    _update(conference, "strikes", {"room": "library"})
    with conference.read() as session:
        assert session.exec(select(ProgrammeChange)).all() == []  # pending, not public yet
    publish_pending(conference, SLUG)
    with conference.read() as session:
        kinds = sorted(c.kind for c in session.exec(select(ProgrammeChange)))
    assert kinds == ["added", "room"]


# --- speakers, rooms, tracks --------------------------------------------------------------


def test_speakers_rooms_and_tracks_are_made_changed_and_deleted(conference: Database) -> None:
    with conference.transaction() as session:
        record = editing.conference_for_update(session, SLUG)
        speaker = editing.create_record(
            session,
            record,
            Speaker,
            {"name": "Alexandra Kollontai", "needs_step_free": True, "links": ["https://a.org"]},
        )
        room = editing.create_record(session, record, Room, {"name": "Garden", "capacity": 40})
        track = editing.create_record(session, record, Track, {"name": "History"})
        assert (speaker.slug, room.slug, track.slug) == (
            "alexandra-kollontai",
            "garden",
            "history",
        )
        # After those already there.
        programme = load_programme(session, record, as_organiser=True)
        assert (programme.rooms[-1].slug, programme.tracks[-1].slug) == ("garden", "history")
    with conference.transaction() as session:
        record = editing.conference_for_update(session, SLUG)
        changed_room, changed = editing.update_record(
            session,
            record,
            Room,
            "garden",
            {"capacity": 60, "step_free": None, "name": "Garden"},
            expected_version=1,
        )
        assert changed == {"capacity"} and changed_room.version == 2
        with pytest.raises(VersionConflict):
            editing.update_record(
                session, record, Room, "garden", {"capacity": 70}, expected_version=1
            )
        with pytest.raises(EditRefused) as renamed:
            editing.update_record(
                session, record, Track, "history", {"slug": "past"}, expected_version=None
            )
        assert "cannot be changed" in renamed.value.fields["slug"]
        for model, slug in ((Speaker, "alexandra-kollontai"), (Room, "garden"), (Track, "history")):
            editing.delete_record(session, record, model, slug, expected_version=None)
        with pytest.raises(NotFound):
            editing.find_room(session, record, "garden")


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (Speaker, {}, "name"),
        (Speaker, {"name": "X", "links": ["javascript:alert(1)"]}, "links"),
        (Speaker, {"name": "X", "needs_step_free": "yes"}, "needs_step_free"),
        (Speaker, {"name": "X", "email": "x@example.org"}, "email"),
        (Room, {"name": "X", "capacity": -1}, "capacity"),
        (Room, {"name": "X", "capacity": True}, "capacity"),
        (Room, {"name": "X", "step_free": "no"}, "step_free"),
        (Room, {"name": ""}, "name"),
        (Track, {"name": "X", "colour": "red"}, "colour"),
        (Track, {"name": "X", "position": "first"}, "position"),
    ],
)
def test_a_refused_speaker_room_or_track_says_why(
    conference: Database, model: Any, data: dict[str, Any], field: str
) -> None:
    with conference.transaction() as session:
        record = editing.conference_for_update(session, SLUG)
        with pytest.raises(EditRefused) as refused:
            editing.create_record(session, record, model, data)
    assert field in refused.value.fields


@pytest.mark.parametrize(
    ("model", "slug"), [(Speaker, "karl"), (Room, "main-hall"), (Track, "climate")]
)
def test_what_a_session_uses_cannot_be_deleted(conference: Database, model: Any, slug: str) -> None:
    with conference.transaction() as session:
        record = editing.conference_for_update(session, SLUG)
        with pytest.raises(InUse):
            editing.delete_record(session, record, model, slug, expected_version=None)
    with conference.read() as session:
        assert session.exec(select(model).where(model.slug == slug)).first() is not None


# --- days, hours, publishing --------------------------------------------------------------


def test_days_and_hours_are_checked_and_saved(conference: Database) -> None:
    with conference.transaction() as session:
        record = editing.conference_for_update(session, SLUG)
        with pytest.raises(EditRefused) as refused:
            editing.set_days_and_hours(
                session, record, date(2027, 5, 2), date(2027, 5, 1), None, None
            )
        assert "end_date" in refused.value.fields
        with pytest.raises(EditRefused) as one_hour:
            editing.set_days_and_hours(
                session, record, date(2027, 5, 1), date(2027, 5, 2), time(9), None
            )
        assert "day_ends" in one_hour.value.fields
        with pytest.raises(EditRefused) as backwards:
            editing.set_days_and_hours(
                session, record, date(2027, 5, 1), date(2027, 5, 2), time(18), time(9)
            )
        assert "day_ends" in backwards.value.fields
        changed = editing.set_days_and_hours(
            session, record, date(2027, 5, 1), date(2027, 5, 3), time(8), time(18)
        )
        assert changed == {"end_date", "day_starts"}
    saved = _conference(conference)
    assert (saved.end_date, saved.day_starts) == (date(2027, 5, 3), time(8))


def test_publishing_happens_once(conference: Database) -> None:
    assert _conference(conference).programme_published_at is None
    with conference.transaction() as session:
        record = editing.conference_for_update(session, SLUG)
        assert editing.publish_programme(session, record) is True
        assert editing.publish_programme(session, record) is False
    with conference.read() as session:
        record = session.exec(select(Conference).where(Conference.slug == SLUG)).one()
        assert len(load_programme(session, record).sessions) == 2


# --- clashes ------------------------------------------------------------------------------

CLASH_CASES = [
    # (the change to "strikes", the kind of clash it makes, the other session named)
    (
        {"start": at("10:30"), "end": at("11:30")},
        ClashKind.room_double_booked,
        "opening",
    ),
    (
        {"start": at("10:30"), "end": at("11:30"), "room": "library", "people": ["rosa"]},
        ClashKind.person_double_booked,
        "opening",
    ),
    (
        # A chair counts as much as a speaker.
        {
            "start": at("10:30"),
            "end": at("11:30"),
            "room": "library",
            "people": ["karl", {"speaker": "rosa", "role": "chair"}],
        },
        ClashKind.person_double_booked,
        "opening",
    ),
    (
        {"start": at("12:00", day=3), "end": at("13:00", day=3)},
        ClashKind.outside_conference_days,
        None,
    ),
    ({"start": at("17:30"), "end": at("18:30")}, ClashKind.outside_conference_hours, None),
    ({"start": at("08:00"), "end": at("09:30")}, ClashKind.outside_conference_hours, None),
    ({"room": None}, ClashKind.no_room, None),
    ({"people": [{"speaker": "clara", "role": "chair"}]}, ClashKind.no_speaker, None),
    ({"people": ["rosa"], "room": "back-room"}, ClashKind.not_step_free, None),
    ({"people": ["rosa"], "room": "annex"}, ClashKind.not_step_free, None),  # nobody has said
]


@pytest.mark.parametrize(("change", "kind", "other"), CLASH_CASES)
def test_each_kind_of_clash_is_found_and_explained(
    conference: Database, change: dict[str, Any], kind: ClashKind, other: str | None
) -> None:
    assert _clashes(conference, "strikes") == []
    _update(conference, "strikes", change)
    clashes = _clashes(conference, "strikes")
    assert [(c.kind, c.other_session) for c in clashes] == [(kind, other)], clashes
    assert clashes[0].session == "strikes" and clashes[0].message
    if other is not None:
        # Both sides are told, each naming the other.
        assert [(c.kind, c.other_session) for c in _clashes(conference, other)] == [
            (kind, "strikes")
        ]


def test_a_clash_message_says_what_clashes_with_what(conference: Database) -> None:
    _update(conference, "strikes", {"start": at("10:30"), "end": at("11:30")})
    (room,) = _clashes(conference, "strikes")
    assert room.message == "Main Hall is also booked for “Opening rally” (Sat 10:00–11:00)."
    _update(
        conference,
        "strikes",
        {"people": ["rosa"], "room": "back-room", "start": at("12:00"), "end": at("13:00")},
    )
    (step,) = _clashes(conference, "strikes")
    assert step.message == "Rosa Luxemburg needs step-free access; Back Room is not step-free."


def test_more_stars_than_seats_is_a_clash(conference: Database) -> None:
    _publish(conference)
    _update(conference, "strikes", {"room": "back-room"})
    assert _clashes(conference, "strikes") == []
    with conference.transaction() as session:
        record = session.exec(select(Conference).where(Conference.slug == SLUG)).one()
        strikes = session.exec(
            select(ProgrammeSession).where(ProgrammeSession.slug == "strikes")
        ).one()
        for _ in range(3):
            set_star(session, create_agenda(session, record), strikes, True)
    (clash,) = _clashes(conference, "strikes")
    assert clash.kind == ClashKind.room_too_small
    assert clash.message == "3 people starred it; Back Room holds 2."


def test_a_cancelled_session_clashes_with_nothing(conference: Database) -> None:
    _update(conference, "strikes", {"start": at("10:30"), "end": at("11:30")})
    _update(conference, "strikes", {"status": "cancelled"})
    assert _clashes(conference, "strikes") == []
    assert _clashes(conference, "opening") == []


def test_new_clashes_are_those_a_change_made(conference: Database) -> None:
    _update(conference, "strikes", {"room": None})
    before = _clashes(conference, "strikes")
    _update(conference, "strikes", {"people": [{"speaker": "clara", "role": "chair"}]})
    after = _clashes(conference, "strikes")
    assert [c.kind for c in editing.new_clashes(before, after)] == [ClashKind.no_speaker]
    assert editing.new_clashes(after, after) == []
