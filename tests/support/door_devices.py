"""Door devices for the tests: adding the phone as a door device through its real form, the
browser "restarted" (a new one keeping only the device's persistent cookies, as a phone keeps
them when the session cookie is gone), the CSRF token the scanner page carries, and a scan."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from confapp.admin.auth import DEVICE_COOKIE
from tests.support import DEMO
from tests.support.accounts import csrf_token


def add_this_phone(browser: TestClient, name: str, conference: str = DEMO) -> str:
    """The signed-in browser adds itself as a door device called `name`; the device's secret
    (from its cookie)."""
    added = browser.post(
        f"/door/{conference}/device",
        data={"csrf_token": csrf_token(browser), "name": name},
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    assert added.headers["location"] == f"/door/{conference}"
    return device_secret(browser)


def device_secret(browser: TestClient) -> str:
    secrets = {cookie.value for cookie in browser.cookies.jar if cookie.name == DEVICE_COOKIE}
    assert len(secrets) == 1, secrets
    return str(secrets.pop())


def restarted(browser: TestClient) -> TestClient:
    """The same phone after a browser restart: only cookies that outlive the browser are kept
    (the door device's, which has an expiry; the sign-in's is a session cookie)."""
    again = TestClient(browser.app, raise_server_exceptions=False)
    for cookie in browser.cookies.jar:
        if cookie.expires is not None:
            again.cookies.jar.set_cookie(cookie)
    return again


def scanner_csrf_token(browser: TestClient, conference: str = DEMO) -> str:
    page = browser.get(f"/door/{conference}", follow_redirects=False)
    assert page.status_code == 200, page.status_code
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert token and token.group(1)
    return token.group(1)


def scan(browser: TestClient, token: str, ticket: dict[str, Any], conference: str = DEMO) -> Any:
    """A scan of the ticket's QR code from the scanner page; the raw answer."""
    return browser.post(
        f"/api/{conference}/checkins",
        json={"scan": ticket["url"], "device": "door-0123456789abcdef01234567"},
        headers={"x-csrf-token": token, "accept": "application/json"},
    )
