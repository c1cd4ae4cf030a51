"""Back-office test helpers: accounts made through the same service the CLI uses, signing in
through the real form, the CSRF token a signed-in page carries, a second factor set up and API
tokens made through My account, authenticator codes, and a real SMTP server for the mail."""

from __future__ import annotations

import email
import email.policy
import re
import time
from email.message import EmailMessage

import pyotp
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SMTPSession
from starlette.testclient import TestClient

from confapp.accounts.service import add_user_role
from confapp.db import Database
from tests.conftest import free_port

PASSWORD = "correct horse battery staple"


def make_user(
    db: Database, email: str, role: str, conference: str, password: str = PASSWORD
) -> None:
    add_user_role(db, email, role, conference, password)


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


def another_browser(client: TestClient) -> TestClient:
    """A second browser on the same app: its own cookies."""
    return TestClient(client.app, raise_server_exceptions=False)


def is_signed_in(browser: TestClient) -> bool:
    answer = browser.get("/admin/", follow_redirects=False)
    assert answer.status_code in (200, 303), answer.status_code
    return answer.status_code == 200


def authenticator_code(secret: str, steps: int = 0) -> str:
    """The code an authenticator app shows `steps` periods of 30 s from now (-1: the one just
    gone, still accepted). Each code is accepted once, so a story that needs several asks for
    later ones. Near the end of a period this waits for the next, so no code goes stale on
    its way to the app."""
    left = 30 - time.time() % 30
    if left < 2:
        time.sleep(left + 0.1)
    return pyotp.TOTP(secret).at(time.time(), counter_offset=steps)


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


class Mailbox:
    """A real SMTP server on 127.0.0.1 that keeps every message it is given."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[bytes] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: SMTP, session: SMTPSession, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.received.append(envelope.content)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(content, policy=email.policy.default)  # type: ignore[misc]
            for content in self.received
        ]

    def link(self, prefix: str) -> str:
        """The path of the one link with this prefix in the last mail."""
        body = self.messages[-1].get_body(("plain",))
        assert body is not None
        found = re.findall(
            r"http://testserver(" + re.escape(prefix) + r"[\w-]+)", body.get_content()
        )
        assert len(found) == 1, body.get_content()
        return found[0]
