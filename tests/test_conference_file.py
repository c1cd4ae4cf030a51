"""Loading a conference file: the demo, reloading after an edit, and files that are wrong."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.links import is_safe_link
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
from confapp.programme.queries import get_conference
from confapp.registration.form import check_registration
from confapp.registration.places import ticket_offers
from confapp.registration.service import register
from confapp.resources import demo_seed_path
from tests.support.databases import count

DEMO_TEXT = demo_seed_path().read_text(encoding="utf-8")


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
    # Sessions given in one language only: their titles are plain strings in the file.
    plain = [s for s in spec.sessions if not s.translations]
    first, second = plain[0], plain[1]
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
    third = plain[2]
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
        ('slug = "socialism-2027"\n[[[', r"not valid TOML.*line"),
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
        text = DEMO_TEXT.replace('slug = "socialism-2027"', broken, 1)
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


# ---- links: only http, https and mailto ------------------------------------------------------


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/reading/state-and-revolution",
        "http://example.org",
        "HTTPS://Example.org:8443/a?b=c#d",
        "mailto:organisers@example.org",
        "https://solidarność.example/",
    ],
)
def test_web_and_mail_addresses_are_safe_links(url: str) -> None:
    assert is_safe_link(url)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "java\tscript:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "ftp://example.org/pub",
        "/sessions/relative",
        "//example.org/no-scheme",
        "https:///no-host",
        "http:example.org",
        "https://example.org:port/",
        "https://[::1",
        "mailto:",
        "https://example.org/\u202egnp.exe",
        "",
    ],
)
def test_anything_else_is_not_a_safe_link(url: str) -> None:
    assert not is_safe_link(url)


def test_a_javascript_link_in_a_reading_list_is_refused_with_its_key(
    db: Database, demo: LoadReport, tmp_path: Path
) -> None:
    spec = read_conference_file(demo_seed_path())
    index, target = next((n, s) for n, s in enumerate(spec.sessions) if len(s.reading) >= 2)
    good = target.reading[1].url
    text = DEMO_TEXT.replace(f'url = "{good}"', 'url = "javascript:alert(1)"', 1)
    path = write(tmp_path, text)
    before = snapshot(db)

    with pytest.raises(ConferenceFileError) as error:
        load_conference_file(db, path)

    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert (
        f"line {line_of(text, 'javascript:alert(1)')}, "
        f"sessions[{index}] (key '{target.key}').reading[1].url: 'javascript:alert(1)': "
        "only http, https and mailto links are allowed"
    ) in message
    assert snapshot(db) == before
    with db.read() as session:
        stored = session.exec(select(ProgrammeSession.reading_list)).all()
    assert not any("javascript" in item["url"] for items in stored for item in items)


@pytest.mark.parametrize(
    ("good", "bad", "where", "reason"),
    [
        (
            'url = "https://example.org/socialism-2027"',
            'url = "data:text/html,<script>alert(1)</script>"',
            r"conference\.url",
            "only http, https and mailto",
        ),
        (
            'links = ["https://example.org/writers/connor-blake"]',
            'links = ["https://example.org/ok", "vbscript:msgbox(1)"]',
            r"speakers\[\d+\] \(key 'connor-blake'\)\.links\[1\]",
            "only http, https and mailto",
        ),
        (
            'recording_url = "https://example.org/recordings/socialism-2027/opening-rally"',
            'recording_url = "https:///opening-rally"',
            r"sessions\[\d+\] \(key '[a-z0-9-]+'\)\.recording_url",
            "needs a host",
        ),
        (
            'recording_url = "https://example.org/recordings/socialism-2027/opening-rally"',
            'recording_url = "java\\tscript:alert(1)"',
            r"sessions\[\d+\] \(key '[a-z0-9-]+'\)\.recording_url",
            "only http, https and mailto",
        ),
        (
            'recording_url = "https://example.org/recordings/socialism-2027/opening-rally"',
            'recording_url = "https://example.org/opening rally"',
            r"sessions\[\d+\] \(key '[a-z0-9-]+'\)\.recording_url",
            "cannot contain spaces, line breaks or invisible characters",
        ),
    ],
    ids=["conference-website", "speaker-link", "recording-without-host", "hidden-tab", "space"],
)
def test_every_link_field_refuses_what_is_not_http_https_or_mailto(
    db: Database, demo: LoadReport, tmp_path: Path, good: str, bad: str, where: str, reason: str
) -> None:
    assert good in DEMO_TEXT
    text = DEMO_TEXT.replace(good, bad, 1)
    before = snapshot(db)

    with pytest.raises(ConferenceFileError) as error:
        load_conference_file(db, write(tmp_path, text))

    expected = rf"line {line_of(text, bad)}, {where}: '.+': .*{re.escape(reason)}"
    assert re.search(expected, str(error.value)), str(error.value)
    assert snapshot(db) == before


def test_a_mailto_link_and_an_empty_recording_are_accepted(tmp_path: Path) -> None:
    text = DEMO_TEXT.replace(
        'links = ["https://example.org/writers/connor-blake"]',
        'links = ["mailto:connor@example.org"]',
        1,
    ).replace(
        'recording_url = "https://example.org/recordings/socialism-2027/opening-rally"',
        'recording_url = ""',
        1,
    )
    spec = read_conference_file(write(tmp_path, text))
    assert any(s.links == ["mailto:connor@example.org"] for s in spec.speakers)


# ---- what the database already holds ---------------------------------------------------------


def take_places(db: Database, code: str, count: int) -> None:
    """Register `count` people for a ticket type through the registration service."""
    with db.read() as session:
        conference = get_conference(session, "socialism-2027")
        assert conference is not None
        offers = ticket_offers(session, conference)
    for n in range(count):
        person = {"name": f"Person {n}", "email": f"p{n}@example.org", "ticket_type": code}
        clean, errors = check_registration(person, offers, conference)
        assert clean is not None, errors
        register(db, conference.id or 0, clean)


def ticket_type(db: Database, code: str) -> TicketType:
    with db.read() as session:
        return session.exec(select(TicketType).where(TicketType.code == code)).one()


def test_a_capacity_below_the_places_already_taken_is_refused_and_nothing_changes(
    db: Database, demo: LoadReport, tmp_path: Path
) -> None:
    take_places(db, "waged", 12)
    spec = read_conference_file(demo_seed_path())
    first = spec.sessions[0]
    waged_at = DEMO_TEXT.index('code = "waged"')
    capacity_at = DEMO_TEXT.index("capacity = 500", waged_at)
    text = DEMO_TEXT[:capacity_at] + "capacity = 10" + DEMO_TEXT[capacity_at + 14 :]
    text = text.replace("capacity = 1200", "capacity = 11", 1)  # the conference's own
    text = text.replace(f'title = "{first.title}"', 'title = "Not written"', 1)
    path = write(tmp_path, text)
    before = snapshot(db)

    with pytest.raises(ConferenceFileError) as error:
        load_conference_file(db, path)

    message = str(error.value)
    waged_line = text[: text.index("capacity = 10")].count("\n") + 1
    assert (
        f"line {waged_line}, ticket_types[0] (key 'waged').capacity: "
        "ticket type 'waged': capacity 10 is below the 12 places already taken"
    ) in message
    assert (
        f"line {line_of(text, 'capacity = 11')}, conference.capacity: "
        "capacity 11 is below the 12 places already taken"
    ) in message
    assert snapshot(db) == before
    assert ticket_type(db, "waged").capacity == 500
    with db.read() as session:
        assert session.exec(select(Conference.capacity)).one() == 1200


def test_a_capacity_at_the_places_already_taken_is_accepted(
    db: Database, demo: LoadReport, tmp_path: Path
) -> None:
    take_places(db, "concession", 3)
    at = DEMO_TEXT.index('code = "concession"')
    capacity_at = DEMO_TEXT.index("capacity = 500", at)
    text = DEMO_TEXT[:capacity_at] + "capacity = 3" + DEMO_TEXT[capacity_at + 14 :]

    load_conference_file(db, write(tmp_path, text))

    concession = ticket_type(db, "concession")
    assert (concession.capacity, concession.places_taken) == (3, 3)


def test_a_session_uuid_the_database_already_holds_is_refused_with_its_key(
    db: Database, demo: LoadReport, tmp_path: Path
) -> None:
    """Next year's file copied from this year's, keeping a session's fixed uuid: the database
    refuses the second session with that uuid, and the loader says where, writing nothing."""
    spec = read_conference_file(demo_seed_path())
    taken = session_by_slug(db, spec.sessions[0].key).uuid
    target = spec.sessions[3]
    text = DEMO_TEXT.replace('slug = "socialism-2027"', 'slug = "socialism-2028"', 1)
    key_line = f'key = "{target.key}"'
    text = text.replace(key_line, f'{key_line}\nuuid = "{taken}"', 1)
    path = write(tmp_path, text)
    before = snapshot(db)

    with pytest.raises(ConferenceFileError) as error:
        load_conference_file(db, path)

    message = str(error.value)
    assert message.startswith(f"{path}: ")
    uuid_line = line_of(text, f'uuid = "{taken}"')
    assert (
        f"line {uuid_line}, "
        f"sessions[3] (key '{target.key}').uuid: this uuid already belongs to another session"
    ) in message
    assert snapshot(db) == before
    assert count(db, Conference) == 1


def test_one_uuid_given_to_two_sessions_is_refused_before_loading(tmp_path: Path) -> None:
    spec = read_conference_file(demo_seed_path())
    fixed = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    text = DEMO_TEXT
    for target in spec.sessions[1:3]:
        key_line = f'key = "{target.key}"'
        text = text.replace(key_line, f'{key_line}\nuuid = "{fixed}"', 1)

    with pytest.raises(
        ConferenceFileError, match=rf"sessions\[2\].*\.uuid: uuid '{fixed}' is used"
    ):
        read_conference_file(write(tmp_path, text))


# ---- ticket types removed from the file ------------------------------------------------------


def without_ticket_type(text: str, code: str) -> str:
    start = text.index(f'code = "{code}"')
    header = text.rindex("[[ticket_types]]", 0, start)
    end = text.find("[[ticket_types]]", start)
    return text[:header] + (text[end:] if end != -1 else "")


def test_a_ticket_type_removed_from_the_file_is_no_longer_sold(
    client: TestClient, db: Database, tmp_path: Path
) -> None:
    assert 'value="concession"' in client.get("/socialism-2027/register").text

    report = load_conference_file(db, write(tmp_path, without_ticket_type(DEMO_TEXT, "concession")))

    assert report.ticket_types_off_sale == ["concession"]
    assert "concession" in report.summary()
    form = client.get("/socialism-2027/register")
    assert form.status_code == 200
    assert 'value="concession"' not in form.text and 'value="waged"' in form.text
    offered = client.get("/api/socialism-2027/ticket-types").json()["ticket_types"]
    assert "concession" not in {t["code"] for t in offered}
    assert "waged" in {t["code"] for t in offered}
    person = {"name": "Rosa", "email": "rosa@example.org", "ticket_type": "concession"}
    refused = client.post("/api/socialism-2027/registrations", json=person)
    assert refused.status_code == 422
    assert set(refused.json()["fields"]) == {"ticket_type"}
    by_form = client.post("/socialism-2027/register", data=person)
    assert by_form.status_code == 422
    kept = ticket_type(db, "concession")  # tickets already issued still refer to it
    assert kept.on_sale is False and kept.name == "Concession"


def test_a_ticket_type_put_back_into_the_file_is_sold_again(
    client: TestClient, db: Database, tmp_path: Path
) -> None:
    load_conference_file(db, write(tmp_path, without_ticket_type(DEMO_TEXT, "free")))
    assert ticket_type(db, "free").on_sale is False

    report = load_conference_file(db, demo_seed_path())

    assert report.updated.get("ticket types") and not report.ticket_types_off_sale
    assert ticket_type(db, "free").on_sale is True
    offered = client.get("/api/socialism-2027/ticket-types").json()["ticket_types"]
    assert "free" in {t["code"] for t in offered}
    person = {"name": "Rosa", "email": "rosa@example.org", "ticket_type": "free"}
    assert client.post("/api/socialism-2027/registrations", json=person).status_code == 201


# ---- the programme editor's keys: daily hours, drafts, step-free access, unplaced sessions ----


def with_hours(text: str, hours: str) -> str:
    return text.replace("erase_after_days = 30", f"erase_after_days = 30\n{hours}", 1)


def conference_row(db: Database) -> Conference:
    with db.read() as session:
        return session.exec(select(Conference)).one()


def test_the_daily_hours_are_stored_as_local_times(db: Database, tmp_path: Path) -> None:
    # A quoted "HH:MM" or a TOML local time: both are times of day in the conference's zone.
    text = with_hours(DEMO_TEXT, 'day_starts = "09:00"\nday_ends = 23:30:00')

    load_conference_file(db, write(tmp_path, text))

    conference = conference_row(db)
    assert (conference.day_starts, conference.day_ends) == (time(9, 0), time(23, 30))


@pytest.mark.parametrize(
    ("hours", "where", "reason"),
    [
        ('day_starts = "9am"\nday_ends = "22:00"', "day_starts", "'9am' is not a local time"),
        ('day_starts = "09:00"\nday_ends = "24:00"', "day_ends", "'24:00' is not a local time"),
        ('day_starts = "09:00+10:00"\nday_ends = "22:00"', "day_starts", "is not a local time"),
        ("day_starts = 9\nday_ends = 22", "day_starts", "9 is not a local time"),
        ('day_starts = "22:00"\nday_ends = "09:00"', "day_ends", "the day ends (09:00) before"),
        ('day_starts = "09:00"', "day_starts", "give day_ends too, or neither"),
    ],
    ids=["words", "midnight-as-24", "offset", "number", "backwards", "only-one"],
)
def test_bad_daily_hours_are_refused_naming_the_line(
    db: Database, demo: LoadReport, tmp_path: Path, hours: str, where: str, reason: str
) -> None:
    text = with_hours(DEMO_TEXT, hours)
    path = write(tmp_path, text)
    before = snapshot(db)

    with pytest.raises(ConferenceFileError) as error:
        load_conference_file(db, path)

    line = line_of(text, f"{where} =")
    assert f"line {line}, conference.{where}: " in str(error.value)
    assert reason in str(error.value)
    assert snapshot(db) == before
    assert conference_row(db).day_starts is None


def test_a_draft_file_makes_an_unpublished_programme_that_a_later_file_does_not_publish(
    db: Database, tmp_path: Path
) -> None:
    draft = DEMO_TEXT.replace("erase_after_days = 30", "erase_after_days = 30\ndraft = true", 1)

    load_conference_file(db, write(tmp_path, draft, "draft.toml"))
    assert conference_row(db).programme_published_at is None

    # Only the file that creates the conference says whether it starts as a draft.
    report = load_conference_file(db, demo_seed_path())

    assert not report.changed
    assert conference_row(db).programme_published_at is None
    assert report.notes == [
        "the file says draft = false, which counts only when a file creates the conference: "
        "the programme of socialism-2027 stays unpublished."
    ]


def test_a_file_without_draft_publishes_the_programme_it_creates(
    db: Database, demo: LoadReport
) -> None:
    assert conference_row(db).programme_published_at is not None
    assert not demo.notes


def test_step_free_rooms_and_speakers_who_need_them_are_stored(
    db: Database, demo: LoadReport
) -> None:
    spec = read_conference_file(demo_seed_path())
    with db.read() as session:
        rooms = {r.slug: r.step_free for r in session.exec(select(Room))}
        needing = {s.slug for s in session.exec(select(Speaker)) if s.needs_step_free}
    assert rooms == {r.key: r.step_free for r in spec.rooms}
    assert rooms["reading-room"] is False and rooms["great-hall"] is True
    assert needing == {s.key for s in spec.speakers if s.needs_step_free} != set()
    # The demo programme keeps its word: whoever needs step-free access is in step-free rooms.
    for s in spec.sessions:
        if needing & {*s.speakers, *s.chairs}:
            assert s.room is not None and rooms[s.room] is True, s.key


def test_a_room_nobody_has_said_is_step_free_is_unknown(db: Database, tmp_path: Path) -> None:
    text = DEMO_TEXT.replace("step_free = false\n", "", 1)

    load_conference_file(db, write(tmp_path, text))

    with db.read() as session:
        reading_room = session.exec(select(Room).where(Room.slug == "reading-room")).one()
    assert reading_room.step_free is None


def test_a_session_without_a_room_waits_to_be_placed(
    db: Database, demo: LoadReport, tmp_path: Path
) -> None:
    spec = read_conference_file(demo_seed_path())
    target = spec.sessions[4]
    start = DEMO_TEXT.index(f'key = "{target.key}"')
    room_line = f'room = "{target.room}"\n'
    room_at = DEMO_TEXT.index(room_line, start)
    text = DEMO_TEXT[:room_at] + DEMO_TEXT[room_at + len(room_line) :]

    unplaced = load_conference_file(db, write(tmp_path, text))

    assert session_by_slug(db, target.key).room_id is None
    assert unplaced.change_lines() == [
        f"changed session {target.key}:",
        f"    room: {target.room} → not set",
    ]
    placed = load_conference_file(db, demo_seed_path())
    assert placed.change_lines() == [
        f"changed session {target.key}:",
        f"    room: not set → {target.room}",
    ]
    assert session_by_slug(db, target.key).room_id is not None
