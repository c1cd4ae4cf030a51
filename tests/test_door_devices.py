"""Door devices, as stewards and organisers use them: a phone added to the door under a name
stays signed in after the browser restarts, its check-ins carry its name to the dashboard, an
organiser revokes it (asked once), and it is refused once revoked, expired, used for another
conference or left without its account's door role. Its secret never reaches the access log."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete
from sqlmodel import col, select
from starlette.testclient import TestClient

from confapp.admin.auth import DEVICE_COOKIE
from confapp.app import create_app
from confapp.db import Database
from confapp.models import Checkin, ConferenceRole, DoorDevice, ProgrammeSession
from confapp.programme.conference_file import check_conference_data, load_conference_spec
from confapp.programme.synthetic import synthetic_conference_data
from confapp.settings import Settings
from tests.support import DEMO
from tests.support.accounts import (
    ORGANISER,
    STEWARD,
    audit_actions,
    make_team,
    make_user,
    signed_in_browser,
)
from tests.support.door_devices import add_this_phone, restarted, scan, scanner_csrf_token
from tests.support.registrations import register

DEVICES = f"/admin/{DEMO}/door/devices"
OTHER = "other-door"


@pytest.fixture
def team(db: Database, demo: object) -> None:
    make_team(db)


@pytest.fixture
def steward_phone(client: TestClient, team: None) -> Iterator[TestClient]:
    """The steward's phone, signed in and added to the door as "Front door 2"."""
    phone, _ = signed_in_browser(client, STEWARD)
    add_this_phone(phone, "Front door 2")
    yield phone


def _device(db: Database, name: str = "Front door 2") -> DoorDevice:
    with db.read() as session:
        found = session.exec(select(DoorDevice).where(DoorDevice.name == name)).one()
        session.expunge(found)
        return found


def _revoke(organiser: TestClient, token: str, device_id: int) -> None:
    revoked = organiser.post(
        f"{DEVICES}/{device_id}/revoke",
        data={"csrf_token": token, "confirmed": "yes"},
        follow_redirects=False,
    )
    assert revoked.status_code == 303, revoked.text


def test_a_phone_added_as_a_door_device_scans_after_the_browser_restarts(
    client: TestClient, db: Database, steward_phone: TestClient
) -> None:
    phone = restarted(steward_phone)
    assert phone.get("/admin/", follow_redirects=False).status_code == 303  # no sign-in left
    page = phone.get(f"/door/{DEMO}")
    assert page.status_code == 200
    assert "This phone: <strong>Front door 2</strong>" in page.text
    assert f'action="/door/{DEMO}/sign-out"' in page.text
    ticket = register(client, "Rosa Quillfeather")
    answer = scan(phone, scanner_csrf_token(phone), ticket)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == "admitted"
    assert answer.json()["by"] == STEWARD  # the device carries the steward's permissions
    device = _device(db)
    with db.read() as session:
        checkin = session.exec(select(Checkin)).one()
    assert checkin.device == f"door-device-{device.id}"
    assert device.last_seen_at is not None
    assert "added a door device" in audit_actions(db)

    organiser, _ = signed_in_browser(client, ORGANISER)
    dashboard = organiser.get(f"/admin/{DEMO}/door")
    assert "(Front door 2)" in dashboard.text
    assert f"door-device-{device.id})" not in dashboard.text
    assert f'href="{DEVICES}"' in dashboard.text
    assert f'href="{DEVICES}"' in organiser.get(f"/admin/{DEMO}/").text


def test_the_device_cookie_is_httponly_strict_scoped_to_the_door_and_lasts_the_conference(
    client: TestClient, team: None
) -> None:
    phone, token = signed_in_browser(client, STEWARD)
    added = phone.post(
        f"/door/{DEMO}/device",
        data={"csrf_token": token, "name": "Front door 2"},
        follow_redirects=False,
    )
    cookies = [c for c in added.headers.get_list("set-cookie") if c.startswith(DEVICE_COOKIE)]
    paths = sorted(c.split("Path=")[1].split(";")[0] for c in cookies)
    assert paths == sorted(
        [
            f"/door/{DEMO}",
            f"/api/{DEMO}/checkins",
            f"/api/{DEMO}/door",
            f"/api/{DEMO}/sessions",
            f"/admin/{DEMO}/door/sessions",
        ]
    )
    for cookie in cookies:
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        # The end of the last day (11 July 2027) in Sydney: 14:00 UTC.
        assert "expires=Sun, 11 Jul 2027 14:00:00 GMT" in cookie
    assert "Secure" not in cookies[0]  # plain http here; https sets it


def test_a_device_name_that_will_not_do_is_shown_beside_the_field_and_kept(
    client: TestClient, db: Database, team: None
) -> None:
    phone, token = signed_in_browser(client, STEWARD)
    for name, reason in [
        ("   ", "Give this phone a name"),
        ("x" * 101, "Keep the name to 100 characters"),
    ]:
        answer = phone.post(f"/door/{DEMO}/device", data={"csrf_token": token, "name": name})
        assert answer.status_code == 422, name
        assert reason in answer.text
        assert 'aria-invalid="true"' in answer.text
    kept = phone.post(f"/door/{DEMO}/device", data={"csrf_token": token, "name": "x" * 101})
    assert f'value="{"x" * 101}"' in kept.text
    with db.read() as session:
        assert session.exec(select(DoorDevice)).all() == []


def test_an_organiser_revokes_a_device_asked_once_and_its_next_scan_is_signed_out(
    client: TestClient, db: Database, steward_phone: TestClient
) -> None:
    phone = restarted(steward_phone)
    token = scanner_csrf_token(phone)
    organiser, organiser_token = signed_in_browser(client, ORGANISER)
    listed = organiser.get(DEVICES)
    assert "Front door 2" in listed.text and STEWARD in listed.text
    assert "data-confirm=" in listed.text  # JavaScript asks once
    device = _device(db)
    # Without JavaScript the button's first post asks, on a page of its own.
    asked = organiser.post(f"{DEVICES}/{device.id}/revoke", data={"csrf_token": organiser_token})
    assert asked.status_code == 200
    assert "Revoke “Front door 2”?" in asked.text
    assert _device(db).revoked_at is None
    _revoke(organiser, organiser_token, device.id or 0)
    assert _device(db).revoked_by == ORGANISER
    assert "revoked a door device" in audit_actions(db)
    assert "revoked" in organiser.get(DEVICES).text

    answer = scan(phone, token, register(client, "Clara Zetkin"))
    assert answer.status_code == 401
    page = phone.get(f"/door/{DEMO}", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/admin/login?next=%2Fdoor%2Fsocialism-2027"


def test_stewards_revoke_only_the_devices_they_added(
    client: TestClient, db: Database, steward_phone: TestClient
) -> None:
    make_user(db, "second-steward@example.org", "steward", DEMO)
    other, other_token = signed_in_browser(client, "second-steward@example.org")
    assert "Front door 2" not in other.get(DEVICES).text  # a steward sees their own
    device = _device(db)
    refused = other.post(
        f"{DEVICES}/{device.id}/revoke", data={"csrf_token": other_token, "confirmed": "yes"}
    )
    assert refused.status_code == 403
    assert _device(db).revoked_at is None
    steward, steward_token = signed_in_browser(client, STEWARD)
    _revoke(steward, steward_token, device.id or 0)
    assert _device(db).revoked_by == STEWARD
    assert (
        other.post(
            f"{DEVICES}/999999/revoke", data={"csrf_token": other_token, "confirmed": "yes"}
        ).status_code
        == 404
    )


def test_a_device_is_refused_once_the_conference_has_ended(
    client: TestClient, db: Database, settings: Settings, steward_phone: TestClient
) -> None:
    after_the_end = datetime(2027, 7, 11, 14, 0, 1, tzinfo=UTC)
    with TestClient(
        create_app(settings, clock=lambda: after_the_end), raise_server_exceptions=False
    ) as later:
        for cookie in steward_phone.cookies.jar:
            if cookie.name == DEVICE_COOKIE:
                later.cookies.jar.set_cookie(cookie)
        ticket = register(client, "Rosa Quillfeather")
        answer = later.post(
            f"/api/{DEMO}/checkins",
            json={"scan": ticket["url"]},
            headers={"accept": "application/json"},
        )
        assert answer.status_code == 401
        # Nor can a phone be added once it is over.
        phone, token = signed_in_browser(later, STEWARD)
        late = phone.post(f"/door/{DEMO}/device", data={"csrf_token": token, "name": "Late"})
        assert late.status_code == 422
        assert "The conference is over" in late.text


def test_a_device_cannot_be_used_for_another_conference(
    client: TestClient, db: Database, steward_phone: TestClient
) -> None:
    data = synthetic_conference_data(slug=OTHER, sessions=3, rooms=1, days=1)
    data["ticket_types"] = [{"code": "waged", "name": "Waged", "price": 50}]
    with db.transaction() as session:
        load_conference_spec(session, check_conference_data(data))
    make_user(db, STEWARD, "steward", OTHER)  # the account works both doors; the device one
    ticket = register(client, "Rosa Quillfeather", conference=OTHER)
    secret = next(c.value for c in steward_phone.cookies.jar if c.name == DEVICE_COOKIE)
    stranger = TestClient(client.app, raise_server_exceptions=False)
    # Sent by hand where its cookie never goes: the other conference's door.
    stranger.cookies.set(DEVICE_COOKIE, str(secret), domain="testserver.local", path="/")
    answer = stranger.post(
        f"/api/{OTHER}/checkins",
        json={"scan": ticket["url"]},
        headers={"accept": "application/json"},
    )
    assert answer.status_code == 401, answer.text
    assert stranger.get(f"/door/{OTHER}", follow_redirects=False).status_code == 303
    # The same cookie still works at its own door: it was refused for the conference alone.
    assert scanner_csrf_token(stranger, DEMO)


def test_a_device_whose_account_lost_its_door_role_is_refused(
    client: TestClient, db: Database, steward_phone: TestClient
) -> None:
    phone = restarted(steward_phone)
    token = scanner_csrf_token(phone)
    with db.transaction() as session:
        session.execute(delete(ConferenceRole).where(col(ConferenceRole.role) == "steward"))
    assert scan(phone, token, register(client, "Rosa Quillfeather")).status_code == 401


def test_a_device_post_needs_its_pages_csrf_token(
    client: TestClient, steward_phone: TestClient
) -> None:
    phone = restarted(steward_phone)
    ticket = register(client, "Rosa Quillfeather")
    assert scan(phone, "not-the-token", ticket).status_code == 403
    assert scan(phone, scanner_csrf_token(phone), ticket).status_code == 200


def test_last_seen_is_written_at_most_once_a_minute(
    client: TestClient, db: Database, steward_phone: TestClient
) -> None:
    phone = restarted(steward_phone)
    phone.get(f"/door/{DEMO}")
    now = _device(db).last_seen_at  # the app's clock stands still in these tests
    assert now is not None

    def seen_ago(seconds: int) -> datetime | None:
        with db.transaction() as session:
            device = session.exec(select(DoorDevice)).one()
            device.last_seen_at = now - timedelta(seconds=seconds)
            session.add(device)
        phone.get(f"/door/{DEMO}")
        return _device(db).last_seen_at

    assert seen_ago(30) == now - timedelta(seconds=30)  # seen half a minute ago: no write
    assert seen_ago(61) == now  # over a minute: written


def test_signing_out_at_the_door_revokes_the_device_and_leads_back_to_sign_in(
    client: TestClient, db: Database, steward_phone: TestClient
) -> None:
    token = scanner_csrf_token(steward_phone)
    out = steward_phone.post(
        f"/door/{DEMO}/sign-out", data={"csrf_token": token}, follow_redirects=False
    )
    assert out.status_code == 303
    assert out.headers["location"] == "/admin/login?next=%2Fdoor%2Fsocialism-2027"
    assert _device(db).revoked_at is not None
    assert "signed out a door device" in audit_actions(db)
    assert not [c for c in steward_phone.cookies.jar if c.name == DEVICE_COOKIE]
    assert steward_phone.get(f"/door/{DEMO}", follow_redirects=False).status_code == 303


def test_the_device_secret_never_appears_in_the_access_log(
    client: TestClient, steward_phone: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="confapp.access")
    phone = restarted(steward_phone)
    secret = next(str(c.value) for c in phone.cookies.jar if c.name == DEVICE_COOKIE)
    token = scanner_csrf_token(phone)
    scan(phone, token, register(client, "Rosa Quillfeather"))
    phone.get(f"/api/{DEMO}/door/search?q=Rosa")
    phone.post(f"/door/{DEMO}/sign-out", data={"csrf_token": token})
    access = [r.getMessage() for r in caplog.records if r.name == "confapp.access"]
    assert any(f"POST /api/{DEMO}/checkins 200" in line for line in access), access
    assert not any(secret in line or token in line for line in caplog.text.splitlines())


def test_a_door_device_works_the_session_doors_but_not_the_back_office(
    client: TestClient, db: Database, steward_phone: TestClient
) -> None:
    phone = restarted(steward_phone)
    listed = phone.get(f"/admin/{DEMO}/door/sessions")
    assert listed.status_code == 200
    with db.read() as session:
        session_id = session.exec(select(ProgrammeSession.id)).first()
    page = phone.get(f"/admin/{DEMO}/door/sessions/{session_id}")
    assert page.status_code == 200
    assert "This phone: <strong>Front door 2</strong>" in page.text
    token = re.search(r'data-csrf-token="([^"]+)"', page.text)
    assert token
    tapped = phone.post(
        f"/api/{DEMO}/sessions/{session_id}/door",
        json={"headcount_change": 1},
        headers={"x-csrf-token": token.group(1)},
    )
    assert tapped.status_code == 200, tapped.text
    assert tapped.json()["headcount"] == 1
    # The cookie is not sent to the rest of the back office, and is not taken there if it were.
    stranger = TestClient(client.app, raise_server_exceptions=False)
    secret = next(str(c.value) for c in phone.cookies.jar if c.name == DEVICE_COOKIE)
    stranger.cookies.set(DEVICE_COOKIE, secret, domain="testserver.local", path="/")
    assert stranger.get(f"/admin/{DEMO}/door", follow_redirects=False).status_code == 303
    assert stranger.get("/admin/account", follow_redirects=False).status_code == 303
