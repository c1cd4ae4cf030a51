"""Speakers, rooms, tracks, days and publishing in the back office, without JavaScript: an
organiser builds a programme from an empty conference and publishes it; bad input comes back
kept and explained; two organisers never overwrite each other; what sessions use stays."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from confapp import urls
from confapp.app import create_app
from confapp.db import Database
from confapp.models import Conference, Room, Speaker, Track
from confapp.programme.conference_file import load_conference_file
from confapp.programme.editing import conference_for_update, create_session
from confapp.settings import Settings
from tests.support import DEMO
from tests.support.accounts import ORGANISER, csrf_token, make_user, sign_in
from tests.support.pages import message_beside

EMPTY = "empty-2027"
EMPTY_FILE = f"""
[conference]
slug = "{EMPTY}"
name = "Empty 2027"
timezone = "Australia/Sydney"
start_date = 2027-07-09
end_date = 2027-07-10
venue = "Trades Hall"
draft = true
"""
BASE = f"/admin/{EMPTY}/programme"


@pytest.fixture
def empty(db: Database, settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    """An organiser's browser, signed in, at a new conference with an unpublished, empty
    programme (besides the demo conference, which has organisers of its own)."""
    path = tmp_path / "empty.toml"
    path.write_text(EMPTY_FILE, encoding="utf-8")
    load_conference_file(db, path)
    make_user(db, ORGANISER, "organiser", EMPTY)
    with TestClient(create_app(settings), raise_server_exceptions=False) as browser:
        sign_in(browser, ORGANISER)
        browser.headers["accept"] = "text/html"
        yield browser


def post(browser: TestClient, path: str, data: dict[str, str]) -> Any:
    return browser.post(
        path, data={"csrf_token": csrf_token(browser), **data}, follow_redirects=False
    )


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return found.group(1)


def row(db: Database, model: Any, slug: str) -> Any:
    with db.read() as session:
        conference = session.exec(select(Conference).where(Conference.slug == EMPTY)).one()
        return session.exec(
            select(model).where(model.conference_id == conference.id, model.slug == slug)
        ).first()


def add_session(db: Database, **data: object) -> str:
    with db.transaction() as session:
        conference = conference_for_update(session, EMPTY)
        return create_session(session, conference, data).slug


SPEAKER = {
    "name": "Maria López",
    "pronouns": "she/her",
    "affiliation": "Nurses' union",
    "bio": "Organiser.\r\n\r\nStriker.",
    "links": "https://example.org/maria\r\n\r\nhttps://example.org/strike",
    "needs_step_free": "yes",
}


def test_an_organiser_builds_a_programme_from_an_empty_conference_and_publishes_it(
    empty: TestClient, db: Database
) -> None:
    assert "No speakers yet." in empty.get(f"{BASE}/speakers").text

    for path, form in [
        ("rooms", {"name": "Great Hall", "capacity": "900", "step_free": "yes"}),
        ("rooms", {"name": "Attic", "capacity": "", "step_free": "no", "access_notes": "Stairs"}),
        ("tracks", {"name": "Labour", "colour": "#123456", "colour_text": "#C0392B"}),
        ("speakers", {**SPEAKER, "slug": "maria"}),
        ("speakers", {"name": "Ana Chen"}),
    ]:
        added = post(empty, f"{BASE}/{path}", form)
        assert added.status_code == 303, added.text
        listing = empty.get(added.headers["location"])
        assert f"Added “{form['name']}”." in listing.text

    hall, attic = row(db, Room, "great-hall"), row(db, Room, "attic")
    assert hall.capacity == 900 and hall.step_free is True and hall.position == 1
    assert attic.capacity is None and attic.step_free is False and attic.position == 2
    assert row(db, Track, "labour").colour == "#c0392b"  # the typed colour wins over the picker
    maria = row(db, Speaker, "maria")
    assert maria.links == ["https://example.org/maria", "https://example.org/strike"]
    assert maria.bio == "Organiser.\n\nStriker." and maria.needs_step_free is True
    assert row(db, Speaker, "ana-chen").needs_step_free is False

    saved = post(
        empty,
        f"{BASE}/days",
        {"start_date": "2027-07-09", "end_date": "2027-07-11", "day_starts": "9:00",
         "day_ends": "18:30", "opened": hidden(empty.get(f"{BASE}/days").text, "opened")},
    )  # fmt: skip
    assert saved.status_code == 303
    assert "Days and hours saved." in empty.get(saved.headers["location"]).text
    with db.read() as session:
        conference = session.exec(select(Conference).where(Conference.slug == EMPTY)).one()
    assert str(conference.end_date) == "2027-07-11"
    assert (conference.day_starts, conference.day_ends) == (time(9), time(18, 30))

    slug = add_session(
        db,
        title="Why we strike",
        start="2027-07-10T10:00+10:00",
        end="2027-07-10T11:00+10:00",
        room="attic",
        track="labour",
        people=[{"speaker": "maria", "role": "speaker"}, {"speaker": "ana-chen", "role": "chair"}],
    )

    speakers = empty.get(f"{BASE}/speakers").text
    maria_row = speakers[speakers.index("Maria López") :].split("</tr>")[0]
    assert '<td class="number">1</td>' in maria_row and "Needs step-free access" in maria_row
    room_page = empty.get(f"{BASE}/rooms/attic").text
    assert "Why we strike" in room_page and "cannot be deleted" in room_page

    # Still a draft: the public sees nothing of it.
    assert "Why we strike" not in empty.get(urls.programme_path(EMPTY, day=date(2027, 7, 10))).text
    days = empty.get(f"{BASE}/days").text
    assert "Publish the programme" in days and "public changelog" in days
    assert "1 session so far" in days

    published = post(empty, f"{BASE}/publish", {})
    assert published.status_code == 303
    days = empty.get(published.headers["location"]).text
    assert "The programme is published" in days and "Published on" in days
    assert "Publish the programme" not in days

    public = TestClient(empty.app)
    assert "Why we strike" in public.get(urls.programme_path(EMPTY, day=date(2027, 7, 10))).text
    assert public.get(urls.session_path(EMPTY, slug)).status_code == 200
    speaker_page = public.get(urls.speaker_path(EMPTY, "maria"))
    assert speaker_page.status_code == 200 and "Maria López" in speaker_page.text
    assert "step-free" not in speaker_page.text.lower()
    assert "step_free" not in public.get(f"/api/{EMPTY}/programme").text

    again = post(empty, f"{BASE}/publish", {})
    assert "already published" in empty.get(again.headers["location"]).text


def test_an_edit_is_saved_and_an_unchanged_save_says_so(empty: TestClient, db: Database) -> None:
    post(empty, f"{BASE}/speakers", SPEAKER)
    page = empty.get(f"{BASE}/speakers/maria-lopez").text
    assert 'name="needs_step_free" value="yes" checked' in page.replace("\n", "")
    assert "never shown publicly" in page

    form = {**SPEAKER, "needs_step_free": "", "version": hidden(page, "version")}
    del form["needs_step_free"]  # an unticked box is not sent at all
    saved = post(empty, f"{BASE}/speakers/maria-lopez", {**form, "name": "Maria Lopez"})
    assert saved.status_code == 303
    assert "Saved “Maria Lopez”." in empty.get(saved.headers["location"]).text
    speaker = row(db, Speaker, "maria-lopez")
    assert speaker.name == "Maria Lopez" and speaker.needs_step_free is False
    assert speaker.version == 2

    page = empty.get(f"{BASE}/speakers/maria-lopez").text
    unchanged = post(
        empty,
        f"{BASE}/speakers/maria-lopez",
        {**form, "name": "Maria Lopez", "version": hidden(page, "version")},
    )
    assert "Nothing to save" in empty.get(unchanged.headers["location"]).text
    assert row(db, Speaker, "maria-lopez").version == 2


@pytest.mark.parametrize(
    ("path", "form", "reasons"),
    [
        (
            "speakers",
            {"name": "  ", "bio": "kept", "links": "https://example.org/a\nexample.org/b"},
            {"name": "Name must not be empty.", "links": "Line 2 is not a web address"},
        ),
        (
            "speakers",
            {"name": "Taken", "slug": "Not A Slug", "pronouns": "x" * 51},
            {"slug": "lower-case letters, digits and dashes", "pronouns": "at most 50 characters"},
        ),
        (
            "rooms",
            {"name": "Hall", "capacity": "lots", "position": "-1", "access_notes": "kept"},
            {"capacity": "whole number", "position": "whole number", "step_free": "yes, no"},
        ),
        (
            "tracks",
            {"name": "", "colour": "#123456", "colour_text": "red", "description": "kept"},
            {"name": "must not be empty", "colour": "like #c0392b"},
        ),
    ],
    ids=["speaker", "speaker-slug", "room", "track"],
)
def test_bad_input_comes_back_kept_and_explained_beside_each_field(
    empty: TestClient, db: Database, path: str, form: dict[str, str], reasons: dict[str, str]
) -> None:
    refused = post(empty, f"{BASE}/{path}", form)

    assert refused.status_code == 422
    for name, reason in reasons.items():
        assert reason in message_beside(refused.text, name)
    assert 'class="error-summary"' in refused.text
    for name, value in form.items():
        if value.strip() and name != "colour":
            assert f'value="{value}"' in refused.text or f">{value}</textarea>" in refused.text, (
                name
            )
    assert f"No {path} yet." in refused.text  # nothing was added


def test_an_edit_form_keeps_bad_input_and_saves_nothing(empty: TestClient, db: Database) -> None:
    post(empty, f"{BASE}/rooms", {"name": "Hall", "capacity": "100", "step_free": "yes"})
    version = hidden(empty.get(f"{BASE}/rooms/hall").text, "version")

    refused = post(
        empty,
        f"{BASE}/rooms/hall",
        {"name": "Big hall", "capacity": "1000001", "step_free": "no", "version": version},
    )

    assert refused.status_code == 422
    assert "at most 1,000,000" in message_beside(refused.text, "capacity")
    assert 'value="Big hall"' in refused.text and 'value="1000001"' in refused.text
    assert 'value="no" checked' in refused.text
    assert row(db, Room, "hall").name == "Hall"


def test_a_control_character_is_refused_beside_its_field_with_the_rest_kept(
    empty: TestClient, db: Database
) -> None:
    refused = post(empty, f"{BASE}/speakers", {"name": "Rosa", "bio": "a\x00b"})

    assert refused.status_code == 422
    assert "control character" in message_beside(refused.text, "bio")
    assert 'value="Rosa"' in refused.text
    assert row(db, Speaker, "rosa") is None


def test_days_and_hours_refused_are_explained_and_kept(empty: TestClient, db: Database) -> None:
    opened = hidden(empty.get(f"{BASE}/days").text, "opened")
    for form, reasons in [
        (
            {"start_date": "2027-07-09", "end_date": "9 July", "day_starts": "25:00"},
            {"end_date": "enter a date", "day_starts": "time of day"},
        ),
        (
            {"start_date": "2027-07-09", "end_date": "2027-07-08", "day_starts": "09:00"},
            {"end_date": "on or after the first day"},
        ),
        (
            {"start_date": "2027-07-09", "end_date": "2027-07-10", "day_ends": "09:00"},
            {"day_starts": "give both hours, or neither"},
        ),
        (
            {"start_date": "2027-07-09", "end_date": "2027-07-10", "day_starts": "18:00",
             "day_ends": "09:00"},
            {"day_ends": "after the day starts"},
        ),
    ]:  # fmt: skip
        refused = post(empty, f"{BASE}/days", {**form, "opened": opened})
        assert refused.status_code == 422, form
        for name, reason in reasons.items():
            assert reason in message_beside(refused.text, name), (form, name)
        for value in form.values():
            assert f'value="{value}"' in refused.text
    with db.read() as session:
        conference = session.exec(select(Conference).where(Conference.slug == EMPTY)).one()
    assert str(conference.end_date) == "2027-07-10" and conference.day_starts is None


def test_a_second_organiser_saving_an_older_version_is_shown_what_changed_and_overwrites_nothing(
    empty: TestClient, db: Database, settings: Settings
) -> None:
    post(empty, f"{BASE}/tracks", {"name": "Labour", "colour": "#123456"})
    make_user(db, "second@example.org", "organiser", EMPTY)
    with TestClient(create_app(settings), raise_server_exceptions=False) as second:
        sign_in(second, "second@example.org")
        mine = hidden(empty.get(f"{BASE}/tracks/labour").text, "version")
        theirs = hidden(second.get(f"{BASE}/tracks/labour").text, "version")

        first = post(
            second,
            f"{BASE}/tracks/labour",
            {"name": "Labour movement", "colour": "#123456", "position": "1", "version": theirs},
        )
        assert first.status_code == 303

        late = post(
            empty,
            f"{BASE}/tracks/labour",
            {"name": "Unions", "colour": "#654321", "position": "1", "version": mine},
        )
    assert late.status_code == 409
    assert "Someone else changed this track" in late.text and "Nothing was saved" in late.text
    table = late.text[late.text.index('id="conflict"') :]
    assert "Labour movement" in table and "Unions" in table
    assert 'value="Unions"' in late.text  # what was typed stays in the form
    track = row(db, Track, "labour")
    assert (track.name, track.colour) == ("Labour movement", "#123456")

    # The form now carries the current version: saving again is a deliberate choice.
    again = post(
        empty,
        f"{BASE}/tracks/labour",
        {"name": "Unions", "colour": "#654321", "position": "1",
         "version": hidden(late.text, "version")},
    )  # fmt: skip
    assert again.status_code == 303
    assert row(db, Track, "labour").name == "Unions"


def test_days_changed_by_someone_else_meanwhile_are_not_undone(
    empty: TestClient, db: Database
) -> None:
    opened = hidden(empty.get(f"{BASE}/days").text, "opened")
    first = post(
        empty,
        f"{BASE}/days",
        {"start_date": "2027-07-08", "end_date": "2027-07-10", "opened": opened},
    )
    assert first.status_code == 303

    stale = post(
        empty,
        f"{BASE}/days",
        {"start_date": "2027-07-09", "end_date": "2027-07-12", "opened": opened},
    )
    assert stale.status_code == 409
    assert "Someone else changed the days" in stale.text and "2027-07-08" in stale.text
    assert 'value="2027-07-12"' in stale.text
    with db.read() as session:
        conference = session.exec(select(Conference).where(Conference.slug == EMPTY)).one()
    assert (str(conference.start_date), str(conference.end_date)) == ("2027-07-08", "2027-07-10")


@pytest.mark.parametrize(
    ("path", "form", "use"),
    [
        ("speakers", {"name": "Rosa"}, {"people": [{"speaker": "rosa", "role": "chair"}]}),
        ("rooms", {"name": "Rosa", "step_free": "unknown"}, {"room": "rosa"}),
        ("tracks", {"name": "Rosa", "colour": "#aa0000"}, {"track": "rosa"}),
    ],
    ids=["speaker", "room", "track"],
)
def test_what_a_session_uses_cannot_be_deleted_and_what_none_uses_can(
    empty: TestClient, db: Database, path: str, form: dict[str, str], use: dict[str, object]
) -> None:
    post(empty, f"{BASE}/{path}", form)
    page = empty.get(f"{BASE}/{path}/rosa").text
    assert "No session" in page and "Delete “Rosa”" in page
    version = hidden(page, "version")
    add_session(
        db, title="Bread and roses", start="2027-07-09T10:00+10:00",
        end="2027-07-09T11:00+10:00", **use,
    )  # fmt: skip

    page = empty.get(f"{BASE}/{path}/rosa").text
    assert "Bread and roses" in page and "cannot be deleted" in page
    assert "Delete “Rosa”" not in page
    refused = post(empty, f"{BASE}/{path}/rosa/delete", {"version": version})
    assert refused.status_code == 409
    assert "still used by sessions" in refused.text and "Nothing was deleted" in refused.text
    assert row(db, {"speakers": Speaker, "rooms": Room, "tracks": Track}[path], "rosa")

    post(empty, f"{BASE}/{path}", {**form, "name": "Unused"})
    version = hidden(empty.get(f"{BASE}/{path}/unused").text, "version")
    deleted = post(empty, f"{BASE}/{path}/unused/delete", {"version": version})
    assert deleted.status_code == 303
    assert "Deleted." in empty.get(deleted.headers["location"]).text
    assert empty.get(f"{BASE}/{path}/unused").status_code == 404


def test_a_name_already_taken_gets_the_next_address_and_a_taken_address_is_refused(
    empty: TestClient, db: Database
) -> None:
    post(empty, f"{BASE}/speakers", {"name": "Ana"})
    post(empty, f"{BASE}/speakers", {"name": "Ana"})
    assert row(db, Speaker, "ana") and row(db, Speaker, "ana-2")

    refused = post(empty, f"{BASE}/speakers", {"name": "Other Ana", "slug": "ana"})
    assert refused.status_code == 422
    assert "is taken" in message_beside(refused.text, "slug")


def test_unknown_records_are_not_found(empty: TestClient) -> None:
    assert empty.get(f"{BASE}/rooms/nowhere").status_code == 404
    assert post(empty, f"{BASE}/rooms/nowhere", {"name": "x"}).status_code == 404
    assert post(empty, f"{BASE}/tracks/nowhere/delete", {"version": "1"}).status_code == 404


PAGES = [
    ("GET", f"{BASE}/speakers"),
    ("POST", f"{BASE}/speakers"),
    ("GET", f"{BASE}/rooms"),
    ("GET", f"{BASE}/tracks/labour"),
    ("POST", f"{BASE}/tracks/labour"),
    ("POST", f"{BASE}/tracks/labour/delete"),
    ("GET", f"{BASE}/days"),
    ("POST", f"{BASE}/days"),
    ("POST", f"{BASE}/publish"),
]


def test_only_the_conferences_organisers_may_use_these_pages(
    empty: TestClient, db: Database, settings: Settings, demo: object
) -> None:
    post(empty, f"{BASE}/tracks", {"name": "Labour", "colour": "#123456"})
    make_user(db, "steward@example.org", "steward", EMPTY)
    make_user(db, "coordinator@example.org", "access-coordinator", EMPTY)
    make_user(db, "elsewhere@example.org", "organiser", DEMO)

    for email in ("steward@example.org", "coordinator@example.org", "elsewhere@example.org"):
        with TestClient(create_app(settings), raise_server_exceptions=False) as browser:
            sign_in(browser, email)
            token = csrf_token(browser)
            for method, path in PAGES:
                answer = browser.request(
                    method, path, data={"csrf_token": token, "name": "Mine"} if method == "POST"
                    else None, follow_redirects=False,
                )  # fmt: skip
                assert answer.status_code == 403, (email, method, path)

    anonymous = TestClient(empty.app)
    for method, path in PAGES:
        answer = anonymous.request(method, path, follow_redirects=False)
        assert answer.status_code == 303, (method, path)
        assert answer.headers["location"].startswith("/admin/login")

    # A signed-in organiser's form without its CSRF token changes nothing.
    forged = empty.post(f"{BASE}/publish", data={}, follow_redirects=False)
    assert forged.status_code == 403
    assert row(db, Track, "labour").name == "Labour"
    with db.read() as session:
        conference = session.exec(select(Conference).where(Conference.slug == EMPTY)).one()
    assert conference.programme_published_at is None


def test_the_conference_home_links_to_these_pages(empty: TestClient) -> None:
    home = empty.get(f"/admin/{EMPTY}/").text
    assert f'href="{BASE}/speakers"' in home
    page = empty.get(f"{BASE}/rooms").text
    for link in ("speakers", "rooms", "tracks", "days", "problems"):
        assert f'href="{BASE}/{link}"' in page
    assert f'href="{BASE}"' in page and "Only organisers see this programme" in page
