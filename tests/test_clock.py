"""The app goes by the clock it is given: an authenticator code is checked against the app's
time, not the machine's, so these stories run at a fixed moment far from today."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from starlette.testclient import TestClient

from confapp.accounts.service import add_user_role
from confapp.app import create_app
from confapp.db import Database
from confapp.programme.conference_file import LoadReport
from confapp.settings import Settings

# A Tuesday morning of the conference in 2027, half-way through a 30-second period.
CONFERENCE_MORNING = datetime(2027, 7, 6, 9, 0, 15, tzinfo=UTC)
ORGANISER = "clock-organiser@example.org"
PASSWORD = "a long enough passphrase for the clock"
DEMO = "socialism-2027"


class StoppedClock:
    """A clock that shows one moment until moved on, like a test's wristwatch."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> StoppedClock:
    return StoppedClock(CONFERENCE_MORNING)


@pytest.fixture
def browser(
    settings: Settings, demo: LoadReport, db: Database, clock: StoppedClock
) -> Iterator[TestClient]:
    add_user_role(db, ORGANISER, "organiser", DEMO, PASSWORD)
    with TestClient(create_app(settings, clock=clock), raise_server_exceptions=False) as client:
        signed_in = client.post(
            "/admin/login",
            data={"email": ORGANISER, "password": PASSWORD, "next": "/admin/"},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        yield client


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page carries the CSRF token"
    return match.group(1)


def _set_up_second_factor(browser: TestClient, code_for: datetime) -> tuple[int, str]:
    page = browser.get("/admin/account/second-factor").text
    secret = re.search(r'name="secret" value="([A-Z2-7]{32})"', page)
    assert secret
    answer = browser.post(
        "/admin/account/second-factor",
        data={
            "csrf_token": _csrf(page),
            "secret": secret.group(1),
            "code": pyotp.TOTP(secret.group(1)).at(code_for),
            "current_password": PASSWORD,
        },
        follow_redirects=False,
    )
    return answer.status_code, secret.group(1)


def test_a_code_is_checked_against_the_apps_clock_not_the_machines(
    browser: TestClient, clock: StoppedClock
) -> None:
    # The authenticator shows today's code, but for the app it is the conference morning.
    refused, _ = _set_up_second_factor(browser, datetime.now(UTC))
    assert refused == 422

    accepted, secret = _set_up_second_factor(browser, clock())
    assert accepted == 303

    # Signing in again on another browser: the code of the app's next period lets them in.
    phone = TestClient(browser.app, raise_server_exceptions=False)
    phone.post("/admin/login", data={"email": ORGANISER, "password": PASSWORD})
    form = phone.get("/admin/login/second-factor").text
    wall_clock = phone.post(
        "/admin/login/second-factor",
        data={"csrf_token": _csrf(form), "code": pyotp.TOTP(secret).now()},
    )
    assert wall_clock.status_code == 401

    clock.at += timedelta(seconds=30)
    in_time = phone.post(
        "/admin/login/second-factor",
        data={"csrf_token": _csrf(form), "code": pyotp.TOTP(secret).at(clock()), "next": "/admin/"},
        follow_redirects=False,
    )
    assert in_time.status_code == 303
    assert phone.get("/admin/", follow_redirects=False).status_code == 200


def test_an_api_token_asks_for_a_code_of_the_apps_time(
    browser: TestClient, clock: StoppedClock
) -> None:
    status, secret = _set_up_second_factor(browser, clock())
    assert status == 303
    clock.at += timedelta(seconds=30)

    def add_token(code: str) -> int:
        page = browser.get("/admin/account").text
        answer = browser.post(
            "/admin/account/tokens",
            data={
                "csrf_token": _csrf(page),
                "name": "front door phone",
                "current_password": PASSWORD,
                "code": code,
            },
        )
        return answer.status_code

    assert add_token(pyotp.TOTP(secret).now()) == 422
    assert add_token(pyotp.TOTP(secret).at(clock())) == 200
