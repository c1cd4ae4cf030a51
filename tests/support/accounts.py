"""Back-office accounts for the tests: users made through the same service the CLI uses,
signing in through the real form, the CSRF token a signed-in page carries, a second factor set up
and API tokens made through My account (or straight in the database), authenticator codes, and
the audit log's actions."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
from sqlmodel import col, select
from starlette.testclient import TestClient

from confapp.accounts.service import add_user_role, create_api_token, find_user
from confapp.db import Database
from confapp.models import AuditEntry
from tests.support import DEMO

PASSWORD = "correct horse battery staple"
# The app's clock in the in-process tests (conftest's `client`): second-factor codes are
# checked against it, so no story depends on where in its 30 s the machine's clock is.
APP_TIME = datetime(2027, 7, 6, 9, 0, 15, tzinfo=UTC)
NEW_PASSWORD = "a brand new password for the venue"
ORGANISER = "organiser@example.org"
STEWARD = "steward@example.org"
COORDINATOR = "access@example.org"


def make_user(
    db: Database, email: str, role: str, conference: str, password: str = PASSWORD
) -> None:
    add_user_role(db, email, role, conference, password)


def make_organiser(db: Database, conference: str = DEMO, email: str = ORGANISER) -> str:
    """An organiser of the conference (the demo unless told); their e-mail address."""
    make_user(db, email, "organiser", conference)
    return email


def make_team(db: Database, conference: str = DEMO) -> None:
    """A steward (STEWARD), an organiser (ORGANISER) and an access coordinator (COORDINATOR)
    of the conference."""
    make_user(db, STEWARD, "steward", conference)
    make_user(db, ORGANISER, "organiser", conference)
    make_user(db, COORDINATOR, "access-coordinator", conference)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    response = client.post(
        "/admin/login",
        data={"email": email, "password": password, "next": "/admin/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def csrf_token(client: TestClient) -> str:
    """The signed-in session's CSRF token, as every back-office page carries it."""
    page = client.get("/admin/").text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "a signed-in page carries the CSRF token"
    return match.group(1)


def sign_in_organiser(
    client: TestClient, db: Database, conference: str = DEMO, email: str = ORGANISER
) -> str:
    """The client signed in as a new organiser of the conference; the session's CSRF token."""
    make_organiser(db, conference, email)
    sign_in(client, email)
    return csrf_token(client)


def another_browser(client: TestClient) -> TestClient:
    """A second browser on the same app: its own cookies."""
    return TestClient(client.app, raise_server_exceptions=False)


def signed_in_browser(client: TestClient, email: str) -> tuple[TestClient, str]:
    """Another browser on the same app, signed in as `email`; it and its CSRF token."""
    browser = another_browser(client)
    sign_in(browser, email)
    return browser, csrf_token(browser)


def is_signed_in(browser: TestClient) -> bool:
    answer = browser.get("/admin/", follow_redirects=False)
    assert answer.status_code in (200, 303), answer.status_code
    return answer.status_code == 200


def authenticator_code(secret: str, steps: int = 0) -> str:
    """The code an authenticator app shows `steps` periods of 30 s from the app's time
    (APP_TIME: -1 is the code just gone, still accepted). Each code is accepted once, so a
    story that needs several asks for later ones."""
    return pyotp.TOTP(secret).at(APP_TIME, counter_offset=steps)


def set_up_second_factor(browser: TestClient, password: str = PASSWORD) -> str:
    """Through the account page, as a person does it; returns the authenticator's secret.
    It is confirmed with the code just gone, leaving the current and next ones unused."""
    page = browser.get("/admin/account/second-factor")
    assert page.status_code == 200
    assert 'src="data:image/svg+xml;base64,' in page.text  # the QR code, inline
    secret = re.search(r'name="secret" value="([A-Z2-7]{32})"', page.text)
    assert secret, page.text
    saved = browser.post(
        "/admin/account/second-factor",
        data={
            "csrf_token": csrf_token(browser),
            "secret": secret.group(1),
            "code": authenticator_code(secret.group(1), -1),
            "current_password": password,
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    return secret.group(1)


def make_api_token(browser: TestClient, name: str, password: str = PASSWORD, code: str = "") -> str:
    """An API token made on My account (with the password, and a code when the account has a
    second factor); returns its secret, shown that once."""
    made = browser.post(
        "/admin/account/tokens",
        data={
            "csrf_token": csrf_token(browser),
            "name": name,
            "current_password": password,
            "code": code,
        },
    )
    assert made.status_code == 200, made.text
    token = re.search(r'id="new-token"[^>]* value="([^"]+)"', made.text)
    assert token, made.text
    return token.group(1)


def api_token(db: Database, email: str, name: str = "script") -> str:
    """A new API token of the user, made straight in the database; its secret."""
    with db.transaction() as session:
        user = find_user(session, email)
        assert user is not None
        return create_api_token(session, user, name)[1]


def audit_actions(db: Database) -> list[str]:
    """The audit log's actions, oldest first."""
    with db.read() as session:
        return list(session.exec(select(AuditEntry.action).order_by(col(AuditEntry.id))))
