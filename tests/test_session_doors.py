"""Session doors: a steward marks a room full and keeps a headcount; the public programme and
session page show it at once, and nothing about the programme's version or feeds moves."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.checkin.session_doors import DoorChange, change_door
from confapp.db import Database
from confapp.models import Conference, ProgrammeSession, Room, SessionDoor, SessionStatus
from confapp.times import to_local
from tests.support import DEMO
from tests.support.accounts import (
    COORDINATOR,
    ORGANISER,
    PASSWORD,
    STEWARD,
    csrf_token,
    make_team,
    make_user,
    signed_in_browser,
)


def _conference(db: Database) -> Conference:
    with db.read() as session:
        conference = session.exec(select(Conference).where(Conference.slug == DEMO)).one()
    return conference


def _a_session_with_a_room(db: Database) -> tuple[ProgrammeSession, Room]:
    """A confirmed session with a room, and another room to overflow into."""
    conference = _conference(db)
    with db.read() as session:
        record = session.exec(
            select(ProgrammeSession)
            .where(
                ProgrammeSession.conference_id == conference.id,
                ProgrammeSession.room_id.is_not(None),  # type: ignore[union-attr]
                ProgrammeSession.status != SessionStatus.cancelled.value,
            )
            .order_by(ProgrammeSession.start)
        ).first()
        assert record is not None
        other = session.exec(
            select(Room).where(Room.conference_id == conference.id, Room.id != record.room_id)
        ).first()
        assert other is not None
    return record, other


@pytest.fixture
def people(db: Database, demo: object) -> None:
    make_team(db)


def _public_pages(client: TestClient, record: ProgrammeSession, tz: str) -> dict[str, str]:
    day = to_local(record.start, tz).date().isoformat()
    return {
        "session": client.get(f"/{DEMO}/sessions/{record.slug}").text,
        "grid": client.get(f"/{DEMO}/programme?day={day}&view=grid").text,
        "list": client.get(f"/{DEMO}/programme?day={day}&view=list").text,
    }


def test_a_steward_marks_a_session_full_and_the_public_pages_show_it_at_once(
    client: TestClient, db: Database, people: None
) -> None:
    record, overflow = _a_session_with_a_room(db)
    conference = _conference(db)
    version_before = conference.programme_version
    organiser, organiser_token = signed_in_browser(client, ORGANISER)
    saved = organiser.post(
        f"/admin/{DEMO}/door/sessions/{record.id}",
        data={"csrf_token": organiser_token, "overflow_room": overflow.slug},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    for page in _public_pages(client, record, conference.timezone).values():
        assert "badge-full" not in page

    steward, token = signed_in_browser(client, STEWARD)
    door_page = steward.get(f"/admin/{DEMO}/door/sessions/{record.id}")
    assert door_page.status_code == 200
    assert f'Overflow: <strong data-door="overflow-name">{overflow.name}' in door_page.text
    full = steward.post(
        f"/admin/{DEMO}/door/sessions/{record.id}",
        data={"csrf_token": token, "full": "yes"},
        follow_redirects=False,
    )
    assert full.status_code == 303
    pages = _public_pages(client, record, conference.timezone)
    for name, page in pages.items():
        assert ">Full<" in page, name
        assert f"Overflow: {overflow.name}" in page, name

    not_full = steward.post(
        f"/api/{DEMO}/sessions/{record.id}/door",
        json={"full": False},
        headers={"x-csrf-token": token},
    )
    assert not_full.status_code == 200, not_full.text
    assert not_full.json()["full"] is False
    assert not_full.json()["overflow_room"] == {"slug": overflow.slug, "name": overflow.name}
    for name, page in _public_pages(client, record, conference.timezone).items():
        assert "badge-full" not in page and "Overflow:" not in page, name

    with db.read() as session:
        after = session.get(ProgrammeSession, record.id)
        conf_after = session.get(Conference, conference.id)
    assert after is not None and conf_after is not None
    assert (after.version, after.sequence) == (record.version, record.sequence)
    assert conf_after.programme_version == version_before


def test_the_json_route_answers_full_since_headcount_and_refuses_nonsense(
    client: TestClient, db: Database, people: None
) -> None:
    record, _ = _a_session_with_a_room(db)
    steward, token = signed_in_browser(client, STEWARD)
    url = f"/api/{DEMO}/sessions/{record.id}/door"
    headers = {"x-csrf-token": token}
    answer = steward.post(url, json={"full": True, "headcount_change": 3}, headers=headers)
    assert answer.status_code == 200
    body = answer.json()
    assert body["full"] is True and body["headcount"] == 3 and body["full_since"]
    assert body["overflow_room"] is None
    again = steward.post(url, json={"full": True}, headers=headers).json()
    assert again["full_since"] == body["full_since"]  # still full since the first tap
    for bad in ({}, {"full": "yes"}, {"headcount": -1}, {"headcount_change": 1.5}, {"x": 1}):
        refused = steward.post(url, json=bad, headers=headers)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["fields"], bad
    assert (
        steward.post(
            f"/api/{DEMO}/sessions/999999/door", json={"full": True}, headers=headers
        ).status_code
        == 404
    )
    assert (
        steward.post(
            f"/api/{DEMO}/sessions/x/door", json={"full": True}, headers=headers
        ).status_code
        == 404
    )
    assert steward.post(url, content=b"not json", headers=headers).status_code == 400
    assert steward.post(url, json={"full": True}).status_code == 403  # no CSRF token
    anonymous = TestClient(client.app, raise_server_exceptions=False)
    assert anonymous.post(url, json={"full": True}).status_code == 401


def test_twenty_taps_at_once_count_twenty_and_the_count_never_goes_below_zero(
    db: Database, demo: object
) -> None:
    record, _ = _a_session_with_a_room(db)
    conference = _conference(db)
    assert record.id is not None
    session_id = record.id
    start = threading.Barrier(20)
    errors: list[BaseException] = []

    def tap() -> None:
        try:
            start.wait()
            change_door(db, conference, session_id, DoorChange(headcount_change=1), "steward")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=tap) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with db.read() as session:
        door = session.get(SessionDoor, session_id)
    assert door is not None and door.headcount == 20

    state = change_door(db, conference, session_id, DoorChange(headcount_change=-25), "s")
    assert state is not None and state.headcount == 0
    state = change_door(db, conference, session_id, DoorChange(headcount_change=-1), "s")
    assert state is not None and state.headcount == 0


def test_headcount_forms_work_without_javascript(
    client: TestClient, db: Database, people: None
) -> None:
    record, _ = _a_session_with_a_room(db)
    steward, token = signed_in_browser(client, STEWARD)
    url = f"/admin/{DEMO}/door/sessions/{record.id}"
    for change in ("1", "1", "-1", "−1", "-1"):
        done = steward.post(
            url, data={"csrf_token": token, "headcount_change": change}, follow_redirects=False
        )
        assert done.status_code == 303
    page = steward.get(url).text
    assert 'data-door="headcount">0<' in page
    steward.post(url, data={"csrf_token": token, "headcount": "42"})
    assert 'data-door="headcount">42<' in steward.get(url).text
    refused = steward.post(url, data={"csrf_token": token, "headcount": "lots"})
    assert refused.status_code == 422 and "whole number" in refused.text
    assert steward.post(url, data={"csrf_token": token, "headcount": "-3"}).status_code == 422
    # Only organisers choose the overflow room.
    assert steward.post(url, data={"csrf_token": token, "overflow_room": ""}).status_code == 403


def test_who_may_open_the_session_doors(client: TestClient, db: Database, people: None) -> None:
    record, _ = _a_session_with_a_room(db)
    pages = [f"/admin/{DEMO}/door/sessions", f"/admin/{DEMO}/door/sessions/{record.id}"]
    steward, _ = signed_in_browser(client, STEWARD)
    organiser, _ = signed_in_browser(client, ORGANISER)
    coordinator, _ = signed_in_browser(client, COORDINATOR)
    anonymous = TestClient(client.app, raise_server_exceptions=False)
    for page in pages:
        assert steward.get(page).status_code == 200, page
        assert organiser.get(page).status_code == 200, page
        assert coordinator.get(page).status_code == 403, page
        went = anonymous.get(page, follow_redirects=False)
        assert went.status_code == 303 and "/admin/login" in went.headers["location"]
    assert steward.get(f"/admin/{DEMO}/door/headcounts.csv").status_code == 403
    assert "Headcount" not in steward.get(pages[0] + "?day=all").text
    assert "Headcount" in organiser.get(pages[0] + "?day=all").text
    assert (
        coordinator.post(
            f"/api/{DEMO}/sessions/{record.id}/door",
            json={"full": True},
            headers={"x-csrf-token": csrf_token(coordinator)},
        ).status_code
        == 403
    )


def test_the_session_list_shows_one_day_or_all_and_organisers_download_headcounts(
    client: TestClient, db: Database, people: None
) -> None:
    record, _ = _a_session_with_a_room(db)
    conference = _conference(db)
    change_door(db, conference, record.id or 0, DoorChange(headcount=37, full=True), "s")
    organiser, _ = signed_in_browser(client, ORGANISER)
    day = to_local(record.start, conference.timezone).date()
    listed = organiser.get(f"/admin/{DEMO}/door/sessions?day={day.isoformat()}").text
    assert record.title.replace("'", "&#39;") in listed and "badge-full" in listed
    assert organiser.get(f"/admin/{DEMO}/door/sessions?day=nonsense").status_code == 200
    assert organiser.get(f"/admin/{DEMO}/door/sessions?day={date(1999, 1, 1)}").status_code == 200
    csv = organiser.get(f"/admin/{DEMO}/door/headcounts.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    text = csv.content.decode("utf-8-sig")
    assert text.splitlines()[0] == "day,start,end,session,room,headcount,full_since"
    line = next(line for line in text.splitlines() if ",37," in line)
    assert line.startswith(day.isoformat())


def test_a_full_door_does_not_change_the_programme_feeds_etag(
    client: TestClient, db: Database, people: None
) -> None:
    record, _ = _a_session_with_a_room(db)
    before = client.get(f"/{DEMO}/programme.ics")
    session_feed = client.get(f"/{DEMO}/sessions/{record.slug}.ics")
    assert before.status_code == 200 and before.headers.get("etag")
    change_door(db, _conference(db), record.id or 0, DoorChange(full=True, headcount=5), "s")
    after = client.get(f"/{DEMO}/programme.ics")
    assert after.headers["etag"] == before.headers["etag"]
    assert after.content == before.content
    assert client.get(f"/{DEMO}/sessions/{record.slug}.ics").content == session_feed.content
    revalidated = client.get(
        f"/{DEMO}/programme.ics", headers={"if-none-match": before.headers["etag"]}
    )
    assert revalidated.status_code == 304


@pytest.mark.browser
def test_a_steward_taps_full_and_plus_one_on_a_phone_without_a_page_load(
    phone: Any, live_server: Any
) -> None:
    database = Database(live_server.settings.database_url)
    make_user(database, STEWARD, "steward", DEMO)
    record, _ = _a_session_with_a_room(database)
    database.dispose()
    errors: list[str] = []
    phone.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
    phone.goto(f"{live_server.url}/admin/login?next=/admin/{DEMO}/door/sessions")
    phone.get_by_label("E-mail address").fill(STEWARD)
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    phone.wait_for_url(f"{live_server.url}/admin/{DEMO}/door/sessions")
    phone.goto(f"{live_server.url}/admin/{DEMO}/door/sessions/{record.id}")
    phone.evaluate("window.notReloaded = true")
    phone.get_by_role("button", name="Full", exact=True).click()
    phone.locator('[data-door="status"]').filter(has_text="FULL").wait_for()
    for _ in range(3):
        phone.get_by_role("button", name="+1 to the headcount").click()
    phone.locator('[data-door="headcount"]').filter(has_text="3").wait_for()
    phone.get_by_role("button", name="−1 from the headcount").click()
    phone.locator('[data-door="headcount"]').filter(has_text="2").wait_for()
    assert phone.evaluate("window.notReloaded") is True  # all done by fetch
    assert not errors, errors
    public = phone.request.get(f"{live_server.url}/{DEMO}/sessions/{record.slug}").text()
    assert ">Full<" in public
    phone.get_by_role("button", name="Not full any more").click()
    phone.locator('[data-door="status"]').filter(has_text="Not full").wait_for()
    public = phone.request.get(f"{live_server.url}/{DEMO}/sessions/{record.slug}").text()
    assert "badge-full" not in public
