"""Back-office test helpers: accounts made through the same service the CLI uses, signing in
through the real form, and the CSRF token a signed-in page carries."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from confapp.accounts.service import add_user_role
from confapp.db import Database

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
