"""The programme editor without JavaScript: an organiser finds a day with rooms as columns, adds,
moves, cancels and restores sessions with plain forms; bad input comes back beside its field
with everything typed kept; a change that makes a clash needs a second, explicit "save anyway";
a save that would overwrite someone else's is refused with what they changed."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import Conference, ProgrammeSession, Room
from confapp.programme.editing import conference_for_update, set_days_and_hours, update_session
from confapp.programme.synthetic import load_synthetic_conference
from tests.support import DEMO
from tests.support.accounts import (
    another_browser,
    csrf_token,
    make_organiser,
    make_user,
    sign_in,
)
from tests.support.pages import form_on, message_beside
from tests.support.programme import LENIN, SATURDAY, STATE, make_every_save_public

EDITOR = f"/admin/{DEMO}/programme"


def session_form(client: TestClient, slug: str) -> dict[str, str]:
    path = f"{EDITOR}/sessions/{slug}"
    page = client.get(path)
    assert page.status_code == 200, page.text
    return form_on(page.text, path)


def stored(db: Database, slug: str) -> ProgrammeSession:
    with db.read() as session:
        return session.exec(select(ProgrammeSession).where(ProgrammeSession.slug == slug)).one()


def room_slug(db: Database, record: ProgrammeSession) -> str | None:
    with db.read() as session:
        room = session.get(Room, record.room_id) if record.room_id else None
        return room.slug if room else None


def public_session(client: TestClient, slug: str) -> dict[str, Any]:
    document = client.get(f"/api/{DEMO}/programme").json()
    return next(s for s in document["sessions"] if s["slug"] == slug)


@pytest.fixture
def organiser(client: TestClient, db: Database) -> TestClient:
    """An organiser on the day itself: the demo makes every save public at once, so these
    stories of the editor's own see their saves in public (the working copy, where saves wait
    to be published, has its stories in test_working_copy.py)."""
    make_every_save_public(db)
    sign_in(client, make_organiser(db))
    return client


def test_the_day_shows_the_rooms_as_columns_and_the_days_sessions(organiser: TestClient) -> None:
    document = organiser.get(f"/api/{DEMO}/programme").json()
    home = organiser.get(EDITOR, follow_redirects=False)
    assert home.status_code == 303
    assert home.headers["location"] == f"{EDITOR}/day/2027-07-09"  # the first day

    page = organiser.get(f"{EDITOR}/day/{SATURDAY}")
    assert page.status_code == 200
    heads = re.findall(r'<span class="room-name">([^<]+)</span>', page.text)
    assert heads == [room["name"].replace("'", "&#39;") for room in document["rooms"]]
    saturday = [s for s in document["sessions"] if s["start"].startswith(SATURDAY)]
    for session in saturday:
        assert f'href="{EDITOR}/sessions/{session["slug"]}"' in page.text
        assert f'data-start="{session["start"]}"' in page.text
    assert page.text.count('class="editor-card') == len(saturday)
    # Each drop slot carries its time with the offset, so the drag script computes no zones.
    assert (
        f'data-room="foyer" data-room-name="Courtyard Foyer" data-start="{SATURDAY}T14:00:00+10:00"'
        in (page.text)
    )
    # The social has no speaker, and needs none: no problem listed under the grid.
    assert "It has no speaker yet." not in page.text
    assert organiser.get(f"{EDITOR}/day/2027-08-01").status_code == 404
    assert organiser.get(f"{EDITOR}/day/not-a-day").status_code == 404


def test_only_organisers_of_the_conference_may_use_the_editor(
    client: TestClient, db: Database
) -> None:
    day = f"{EDITOR}/day/{SATURDAY}"
    anonymous = client.get(day, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/admin/login")

    load_synthetic_conference(db, slug="another-conference", sessions=3)
    make_user(db, "steward@example.org", "steward", DEMO)
    make_user(db, "other@example.org", "organiser", "another-conference")
    for email in ("steward@example.org", "other@example.org"):
        browser = another_browser(client)
        sign_in(browser, email)
        token = csrf_token(browser)
        assert browser.get(day).status_code == 403
        assert browser.get(f"{EDITOR}/sessions/{LENIN}").status_code == 403
        refused = browser.post(
            f"{EDITOR}/sessions/{LENIN}", data={"csrf_token": token, "title": "Mine now"}
        )
        assert refused.status_code == 403
    assert (
        stored(db, LENIN).title == "Lenin and the 1903 congress: what was the split really about?"
    )


def test_an_organiser_adds_a_session_with_the_form(organiser: TestClient, db: Database) -> None:
    path = f"{EDITOR}/sessions/new"
    fields = form_on(organiser.get(f"{path}?day={SATURDAY}").text, path)
    assert fields["day"] == SATURDAY
    fields.update(
        title="Tenants' unions: organising where we live",
        kind="workshop",
        start="08:00",
        end="09:00",
        room="seminar-1",
        person_1="helen-brodsky",
        role_1="speaker",
        abstract="How to start one.\r\nAnd keep it going.",
    )
    saved = organiser.post(path, data=fields, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    slug = "tenants-unions-organising-where-we-live"
    assert saved.headers["location"] == (
        f"{EDITOR}/day/{SATURDAY}?notice=saved&session={slug}#session-{slug}"
    )
    record = stored(db, slug)
    assert record.made_on_web
    assert record.start == datetime(2027, 7, 9, 22, 0, tzinfo=UTC)  # 08:00 in Sydney (AEST)
    assert record.abstract == "How to start one.\nAnd keep it going."
    day = organiser.get(saved.headers["location"])
    assert "Saved “Tenants&#39; unions: organising where we live”." in day.text
    published = public_session(organiser, slug)
    assert published["room"] == "seminar-1" and published["start"] == f"{SATURDAY}T08:00:00+10:00"
    assert [p["speaker"] for p in published["people"]] == ["helen-brodsky"]


def test_a_session_without_a_room_waits_beside_the_grid(organiser: TestClient) -> None:
    path = f"{EDITOR}/sessions/new"
    fields = form_on(organiser.get(f"{path}?day={SATURDAY}").text, path)
    fields.update(title="Reading group", start="13:00", end="14:00")
    saved = organiser.post(path, data=fields, follow_redirects=False)
    assert saved.status_code == 303  # no room, no speaker: listed, not asked about
    page = organiser.get(f"{EDITOR}/day/{SATURDAY}").text
    waiting = page.split('id="unscheduled-title"')[1].split("</section>")[0]
    assert "Reading group" in waiting


def test_moving_a_session_with_its_form(organiser: TestClient, db: Database) -> None:
    before = stored(db, LENIN)
    fields = session_form(organiser, LENIN)
    assert (fields["day"], fields["start"], fields["end"], fields["room"]) == (
        SATURDAY,
        "09:30",
        "11:00",
        "refectory",
    )
    fields.update(room="foyer", start="14:00", end="15:30")
    moved = organiser.post(f"{EDITOR}/sessions/{LENIN}", data=fields, follow_redirects=False)
    assert moved.status_code == 303, moved.text
    assert moved.headers["location"].endswith(f"#session-{LENIN}")
    after = stored(db, LENIN)
    assert after.sequence > before.sequence and after.version > before.version
    published = public_session(organiser, LENIN)
    assert published["room"] == "foyer"
    assert (published["start"], published["end"]) == (
        f"{SATURDAY}T14:00:00+10:00",
        f"{SATURDAY}T15:30:00+10:00",
    )
    # Saving the form again unchanged changes nothing (not even the CRLF of the abstract).
    again = session_form(organiser, LENIN)
    again["abstract"] = again["abstract"].replace("\n", "\r\n")
    unchanged = organiser.post(f"{EDITOR}/sessions/{LENIN}", data=again, follow_redirects=False)
    assert unchanged.status_code == 303
    assert stored(db, LENIN).version == after.version


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"start": "11:00", "end": "10:00"}, "end", "must be after the start"),
        ({"day": "2027-08-01"}, "day", "Choose one of the conference"),
        ({"start": "25:00"}, "start", "like 09:30"),
        ({"end": "٠٩:٣٠"}, "end", "like 09:30"),
        ({"title": "  "}, "title", "must not be empty"),
        ({"room": "the-moon"}, "room", "There is no room “the-moon”"),
    ],
)
def test_bad_input_comes_back_beside_its_field_with_everything_kept(
    organiser: TestClient, db: Database, changes: dict[str, str], field: str, message: str
) -> None:
    before = stored(db, LENIN)
    fields = session_form(organiser, LENIN)
    fields.update(changes, language="es")
    answer = organiser.post(f"{EDITOR}/sessions/{LENIN}", data=fields)
    assert answer.status_code == 422
    assert message in message_beside(answer.text, field)
    kept = form_on(answer.text, f"{EDITOR}/sessions/{LENIN}")
    for name, value in changes.items():
        if name != "title":
            assert kept[name] == value, name
    assert kept["language"] == "es"
    after = stored(db, LENIN)
    assert (after.version, after.start, after.language) == (
        before.version,
        before.start,
        before.language,
    )


def test_a_change_that_makes_a_clash_is_saved_only_when_confirmed(
    organiser: TestClient, db: Database
) -> None:
    before = stored(db, LENIN)
    fields = session_form(organiser, LENIN)
    fields.update(room="great-hall", title="Lenin and 1903")  # where State and revolution is
    asked = organiser.post(f"{EDITOR}/sessions/{LENIN}", data=fields)
    assert asked.status_code == 200
    assert "This change makes a clash" in asked.text
    assert "Great Hall is also booked for “The state and revolution" in asked.text
    assert f'href="{EDITOR}/sessions/{STATE}"' in asked.text
    assert stored(db, LENIN).version == before.version  # nothing saved yet
    kept = form_on(asked.text, f"{EDITOR}/sessions/{LENIN}")
    assert (kept["room"], kept["title"]) == ("great-hall", "Lenin and 1903")

    kept["confirm_clashes"] = "1"  # the "Save anyway" button
    saved = organiser.post(f"{EDITOR}/sessions/{LENIN}", data=kept, follow_redirects=False)
    assert saved.status_code == 303
    assert room_slug(db, stored(db, LENIN)) == "great-hall"
    problems = organiser.get(f"{EDITOR}/problems").text
    assert f'href="{EDITOR}/sessions/{LENIN}"' in problems
    day = organiser.get(f"{EDITOR}/day/{SATURDAY}").text
    clashes = day.split('id="clashes-title"')[1]
    assert clashes.count("Great Hall is also booked") == 1  # a pair once, not from each side


def test_a_save_over_someone_elses_change_is_refused_with_what_they_changed(
    organiser: TestClient, db: Database
) -> None:
    mine = session_form(organiser, LENIN)  # opened, then someone else saves first:
    make_user(db, "comrade@example.org", "organiser", DEMO)
    other = another_browser(organiser)
    sign_in(other, "comrade@example.org")
    theirs = session_form(other, LENIN)
    theirs.update(room="foyer")
    saved = other.post(f"{EDITOR}/sessions/{LENIN}", data=theirs, follow_redirects=False)
    assert saved.status_code == 303
    assert room_slug(db, stored(db, LENIN)) == "foyer"

    mine.update(title="Lenin in 1903")
    refused = organiser.post(f"{EDITOR}/sessions/{LENIN}", data=mine)
    assert refused.status_code == 409
    assert "Someone else changed this session since you opened it" in refused.text
    assert re.search(
        r"<strong>Room</strong>: from “The Refectory” to “Courtyard Foyer”", refused.text
    )
    record = stored(db, LENIN)
    assert room_slug(db, record) == "foyer" and record.title.startswith("Lenin and the 1903")
    # The form now holds their room and my title, on the current version: saving it keeps both.
    merged = form_on(refused.text, f"{EDITOR}/sessions/{LENIN}")
    assert (merged["room"], merged["title"]) == ("foyer", "Lenin in 1903")
    assert merged["version"] == str(record.version)
    saved = organiser.post(f"{EDITOR}/sessions/{LENIN}", data=merged, follow_redirects=False)
    assert saved.status_code == 303
    record = stored(db, LENIN)
    assert (room_slug(db, record), record.title) == ("foyer", "Lenin in 1903")


def test_cancelling_and_restoring_a_session(organiser: TestClient, db: Database) -> None:
    status_path = f"{EDITOR}/sessions/{LENIN}/status"
    page = organiser.get(f"{EDITOR}/sessions/{LENIN}").text
    cancel = form_on(page, status_path)
    assert cancel["status"] == "cancelled"
    # One tap asks first, on a page of its own (so without JavaScript too); nothing changes yet.
    asked = organiser.post(status_path, data=cancel, follow_redirects=False)
    assert asked.status_code == 200 and "Yes, cancel this session" in asked.text
    assert stored(db, LENIN).status == "confirmed"
    sure = form_on(asked.text, status_path)
    assert sure["confirm_cancel"] == "1"
    done = organiser.post(status_path, data=sure, follow_redirects=False)
    assert done.status_code == 303
    assert "notice=cancelled" in done.headers["location"]
    assert stored(db, LENIN).status == "cancelled"
    assert public_session(organiser, LENIN)["status"] == "cancelled"
    day = organiser.get(done.headers["location"]).text
    assert "Cancelled “Lenin" in day
    assert re.search(rf'id="session-{LENIN}"[^>]*>.*?Cancelled', day, re.DOTALL)
    # The old form's version is out of date now: refused, not applied twice.
    assert organiser.post(status_path, data=sure).status_code == 409

    page = organiser.get(f"{EDITOR}/sessions/{LENIN}").text
    assert "This session is cancelled." in page
    restore = form_on(page, status_path)
    assert restore["status"] == "confirmed"
    assert organiser.post(status_path, data=restore, follow_redirects=False).status_code == 303
    assert stored(db, LENIN).status == "confirmed"


def test_restoring_into_a_clash_asks_first(organiser: TestClient, db: Database) -> None:
    status_path = f"{EDITOR}/sessions/{LENIN}/status"
    cancel = form_on(organiser.get(f"{EDITOR}/sessions/{LENIN}").text, status_path)
    organiser.post(status_path, data={**cancel, "confirm_cancel": "1"})
    # Meanwhile its room is given to another session at the same time.
    fields = session_form(organiser, STATE)
    fields.update(room="refectory")
    moved = organiser.post(f"{EDITOR}/sessions/{STATE}", data=fields, follow_redirects=False)
    assert moved.status_code == 303
    restore = form_on(organiser.get(f"{EDITOR}/sessions/{LENIN}").text, status_path)
    asked = organiser.post(status_path, data=restore)
    assert asked.status_code == 200 and "Restore it anyway" in asked.text
    assert stored(db, LENIN).status == "cancelled"
    confirm = form_on(asked.text, status_path)
    assert confirm["confirm_clashes"] == "1"
    assert organiser.post(status_path, data=confirm, follow_redirects=False).status_code == 303
    assert stored(db, LENIN).status == "confirmed"


def test_a_time_the_clocks_skip_is_refused(organiser: TestClient, db: Database) -> None:
    # Daylight saving starts in Sydney on Sunday 3 October 2027: 02:00 becomes 03:00.
    with db.transaction() as session:
        conference = conference_for_update(session, DEMO)
        set_days_and_hours(session, conference, date(2027, 10, 1), date(2027, 10, 4), None, None)
    path = f"{EDITOR}/sessions/new"
    fields = form_on(organiser.get(f"{path}?day=2027-10-03").text, path)
    fields.update(title="Night owls", start="02:30", end="03:30")
    answer = organiser.post(path, data=fields)
    assert answer.status_code == 422
    assert "02:30 does not happen on Sunday 3 October 2027" in message_beside(answer.text, "start")
    assert form_on(answer.text, path)["start"] == "02:30"
    with db.read() as session:
        assert (
            session.exec(
                select(ProgrammeSession).where(ProgrammeSession.title == "Night owls")
            ).first()
            is None
        )
    fields.update(start="03:00", end="04:00")
    saved = organiser.post(path, data=fields, follow_redirects=False)
    assert saved.status_code == 303
    record = stored(db, "night-owls")
    assert record.start == datetime(2027, 10, 2, 16, 0, tzinfo=UTC)  # 03:00 AEDT is UTC+11


def test_the_drag_check_says_which_clashes_a_move_would_make_and_saves_nothing(
    organiser: TestClient, db: Database
) -> None:
    record = stored(db, LENIN)
    token = csrf_token(organiser)
    check = f"{EDITOR}/sessions/{LENIN}/check-move"
    move = {"room": "great-hall", "start": f"{SATURDAY}T09:30:00+10:00"}
    move["end"] = f"{SATURDAY}T11:00:00+10:00"
    answer = organiser.post(
        check, json={**move, "version": record.version}, headers={"x-csrf-token": token}
    )
    assert answer.status_code == 200, answer.text
    kinds = {(c["kind"], c["other_session"]) for c in answer.json()["new_clashes"]}
    assert ("room_double_booked", STATE) in kinds
    assert stored(db, LENIN).version == record.version
    free = {**move, "room": "foyer", "version": record.version}
    assert organiser.post(check, json=free, headers={"x-csrf-token": token}).json() == {
        "new_clashes": []
    }
    stale = organiser.post(
        check, json={**move, "version": record.version - 1}, headers={"x-csrf-token": token}
    )
    assert stale.status_code == 409 and stale.json()["version"] == record.version
    bad = organiser.post(check, json={**move, "end": "tomorrow"}, headers={"x-csrf-token": token})
    assert bad.status_code == 422 and "end" in bad.json()["fields"]
    assert organiser.post(check, json=move).status_code == 403  # no CSRF token


def test_an_unpublished_programme_says_so_and_links_to_publishing(
    organiser: TestClient, db: Database
) -> None:
    with db.transaction() as session:
        conference = session.exec(select(Conference).where(Conference.slug == DEMO)).one()
        conference.programme_published_at = None
    page = organiser.get(f"{EDITOR}/day/{SATURDAY}").text
    assert "Only organisers see this programme." in page
    assert f'href="{EDITOR}/days"' in page
    assert "The state and revolution" in page  # the draft is the organisers' to edit


def test_a_change_saved_by_a_script_moves_the_version_the_form_was_opened_at(
    organiser: TestClient, db: Database
) -> None:
    fields = session_form(organiser, LENIN)
    with db.transaction() as session:
        conference = conference_for_update(session, DEMO)
        update_session(session, conference, LENIN, {"language": "de"}, expected_version=None)
    fields.update(start="09:45")
    answer = organiser.post(f"{EDITOR}/sessions/{LENIN}", data=fields)
    assert answer.status_code == 409
    assert re.search(r"<strong>Language</strong>: from “en” to “de”", answer.text)
    merged = form_on(answer.text, f"{EDITOR}/sessions/{LENIN}")
    assert (merged["language"], merged["start"]) == ("de", "09:45")


def unpublish(db: Database) -> None:
    with db.transaction() as session:
        conference = session.exec(select(Conference).where(Conference.slug == DEMO)).one()
        conference.programme_published_at = None


def test_a_session_of_a_draft_programme_can_be_deleted_from_its_form(
    organiser: TestClient, db: Database
) -> None:
    delete_path = f"{EDITOR}/sessions/{LENIN}/delete"
    # Published: no delete button, and a delete posted anyway is refused, the session kept.
    page = organiser.get(f"{EDITOR}/sessions/{LENIN}").text
    assert delete_path not in page
    version = str(stored(db, LENIN).version)
    token = csrf_token(organiser)
    refused = organiser.post(delete_path, data={"version": version, "csrf_token": token})
    assert refused.status_code == 422
    assert "cancel the session instead" in refused.text
    assert stored(db, LENIN).status == "confirmed"

    unpublish(db)
    page = organiser.get(f"{EDITOR}/sessions/{LENIN}").text
    delete = form_on(page, delete_path)
    title = stored(db, LENIN).title
    done = organiser.post(delete_path, data=delete, follow_redirects=False)
    assert done.status_code == 303
    day = organiser.get(done.headers["location"]).text
    assert f"Deleted “{title}”." in html.unescape(day)
    assert f'id="session-{LENIN}"' not in day
    with db.read() as session:
        assert (
            session.exec(select(ProgrammeSession).where(ProgrammeSession.slug == LENIN)).first()
            is None
        )
    # The same form again: the session is gone.
    assert organiser.post(delete_path, data=delete).status_code == 404


def test_deleting_a_session_someone_changed_meanwhile_is_refused(
    organiser: TestClient, db: Database
) -> None:
    unpublish(db)
    delete_path = f"{EDITOR}/sessions/{LENIN}/delete"
    delete = form_on(organiser.get(f"{EDITOR}/sessions/{LENIN}").text, delete_path)
    edit = session_form(organiser, LENIN)
    edit["title"] = "Renamed by the other organiser"
    assert (
        organiser.post(f"{EDITOR}/sessions/{LENIN}", data=edit, follow_redirects=False).status_code
        == 303
    )
    refused = organiser.post(delete_path, data=delete)
    assert refused.status_code == 409
    assert stored(db, LENIN).title == "Renamed by the other organiser"


def test_the_grid_opens_at_the_days_first_session_or_the_daily_hours(
    organiser: TestClient, db: Database
) -> None:
    friday = f"{EDITOR}/day/2027-07-09"  # its only session starts at 18:30
    first = re.search(r'class="time-label"[^>]*><time[^>]*>([0-9:]+)<', organiser.get(friday).text)
    assert first and first.group(1) == "18:00"
    with db.transaction() as session:
        conference = conference_for_update(session, DEMO)
        set_days_and_hours(
            session, conference, conference.start_date, conference.end_date, time(9), time(21)
        )
    first = re.search(r'class="time-label"[^>]*><time[^>]*>([0-9:]+)<', organiser.get(friday).text)
    assert first and first.group(1) == "09:00"


def test_the_day_shows_chosen_rooms_compact_or_as_a_list_per_room(organiser: TestClient) -> None:
    day = f"{EDITOR}/day/{SATURDAY}"
    chosen = organiser.get(f"{day}?room=great-hall&room=refectory&room=nowhere&compact=1").text
    heads = re.findall(r'<span class="room-name">([^<]+)</span>', chosen)
    assert heads == ["Great Hall", "The Refectory"]
    assert 'class="editor-grid compact"' in chosen
    assert "sessions on this day are in rooms not shown" in chosen
    # The day tabs keep the view.
    assert 'href="/admin/socialism-2027/programme/day/2027-07-11?room=great-hall' in chosen
    listed = organiser.get(f"{day}?view=list").text
    document = organiser.get(f"/api/{DEMO}/programme").json()
    saturday = [s for s in document["sessions"] if s["start"].startswith(SATURDAY)]
    assert 'class="editor-grid' not in listed
    assert listed.count('class="room-list"') == 7
    for session in saturday:
        assert f'id="session-{session["slug"]}"' in listed


def test_save_anyway_lists_only_the_clashes_of_the_new_place(
    organiser: TestClient, db: Database
) -> None:
    # Lenin's room is double-booked first; then Lenin is moved into the Great Hall.
    fields = session_form(organiser, STATE)
    fields.update(room="refectory", confirm_clashes="1")
    organiser.post(f"{EDITOR}/sessions/{STATE}", data=fields, follow_redirects=False)
    fields = session_form(organiser, LENIN)
    assert "The Refectory is also booked" in organiser.get(f"{EDITOR}/sessions/{LENIN}").text
    fields.update(room="foyer", start="20:30", end="21:30")  # into the social
    asked = organiser.post(f"{EDITOR}/sessions/{LENIN}", data=fields)
    assert "This change makes a clash" in asked.text
    after = asked.text.split('id="clashes-title"')[1].split("</section>")[0]
    assert "Its clashes if saved anyway" in after
    assert "Courtyard Foyer is also booked for “Saturday night social" in after
    assert "The Refectory is also booked" not in after
