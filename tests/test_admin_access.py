"""Who may see what in the back office: the whole role matrix over every admin page and
authenticated API route, CSRF, and throttled sign-in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from confapp.admin.menu import ACCESS_TEAM, MENU, ORGANISERS
from confapp.app import create_app
from confapp.db import Database
from confapp.programme.synthetic import load_synthetic_conference
from confapp.settings import Settings
from tests.support import DEMO
from tests.support.accounts import PASSWORD, api_token, csrf_token, make_user, sign_in

OTHER = "another-conference"
PERSONAS = {
    "steward": ("steward@example.org", "steward", DEMO),
    "access-coordinator": ("access@example.org", "access-coordinator", DEMO),
    "organiser": ("organiser@example.org", "organiser", DEMO),
    "other-organiser": ("other@example.org", "organiser", OTHER),
}
# Authenticated /api/ routes stewards may use too; every other one is for organisers.
DOOR_TEAM = ("organiser", "steward")
API_ROLES = {
    "/api/{conference}/checkins": DOOR_TEAM,
    "/api/{conference}/checkins/sync": DOOR_TEAM,
    "/api/{conference}/door/search": DOOR_TEAM,
    # Codes only, so the door can say "unpaid" offline too (docs/door.md).
    "/api/{conference}/door/unpaid-tickets": DOOR_TEAM,
    "/api/{conference}/sessions/{session}/door": DOOR_TEAM,
}
# Pages any signed-in user has, whatever their roles.
OWN_ACCOUNT_PREFIXES = ("/admin/account",)
PUBLIC_ADMIN_PREFIXES = ("/admin/login", "/admin/password-reset", "/admin/invitations")


@dataclass(frozen=True)
class Guarded:
    method: str
    path: str
    roles: tuple[str, ...]  # roles at DEMO that may use it

    @property
    def is_json(self) -> bool:
        return self.path.startswith("/api/")


def required_roles(template: str) -> tuple[str, ...] | None:
    """Who may use a route, from the back office's one menu; None for routes outside it."""
    if template.startswith("/api/"):
        return API_ROLES.get(template, ORGANISERS)
    prefix = "/admin/{conference}/"
    if not template.startswith(prefix):
        return None
    rest = template.removeprefix(prefix)
    if rest == "":
        return ACCESS_TEAM
    for item in sorted(MENU, key=lambda i: -len(i.suffix)):
        if rest == item.suffix or rest.startswith(item.suffix + "/"):
            return item.roles
    return ORGANISERS  # anything else under a conference is organisers' business


def guarded_routes(client: TestClient, code: str) -> list[Guarded]:
    """Every route under /admin/{conference}/ and every /api/ route that needs an account,
    filled in with real values."""
    public_api = {"programme", "ticket-types", "ticket-keys", "ticket-revocations", "openapi.json"}
    found: list[Guarded] = []
    for route in client.app.router.routes:  # type: ignore[attr-defined]
        if not isinstance(route, Route):
            continue
        template = route.path
        if template.startswith("/api/"):
            tail = "/".join(template.split("/")[3:])
            if template == "/api/openapi.json" or tail in public_api:
                continue
            if template == "/api/{conference}/registrations" and route.methods == {"POST"}:
                continue  # attendees register themselves
            if template == "/api/{conference}/orders":
                continue  # and groups, paid for by one order
        roles = required_roles(template)
        if roles is None:
            continue
        path = template.replace("{conference}", DEMO).replace("{code}", code)
        path = re.sub(r"\{[^}]+\}", "1", path)
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            found.append(Guarded(method, path, roles))
    return found


@pytest.fixture
def world(settings: Settings, db: Database, demo: object) -> Iterator[tuple[TestClient, str]]:
    load_synthetic_conference(db, slug=OTHER, sessions=3)
    for email, role, conference in PERSONAS.values():
        make_user(db, email, role, conference)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        answer = client.post(
            f"/api/{DEMO}/registrations",
            json={"name": "Rosa", "email": "rosa@example.org", "ticket_type": "waged"},
        )
        assert answer.status_code == 201, answer.text
        yield client, answer.json()["ticket"]["code"]


def _call(client: TestClient, route: Guarded, token: str | None) -> int:
    headers = {"accept": "application/json"} if route.is_json else {"accept": "text/html"}
    if token:
        headers["x-csrf-token"] = token
    if route.method in ("POST", "PATCH", "PUT", "DELETE"):
        if route.is_json:
            answer = client.request(
                route.method, route.path, json={}, headers=headers, follow_redirects=False
            )
        else:
            answer = client.request(
                route.method,
                route.path,
                data={"csrf_token": token or ""},
                headers=headers,
                follow_redirects=False,
            )
    else:
        answer = client.request(route.method, route.path, headers=headers, follow_redirects=False)
    assert answer.status_code < 500, f"{route.method} {route.path}: {answer.status_code}"
    return answer.status_code


def test_the_role_matrix_holds_on_every_admin_page_and_api_route(
    world: tuple[TestClient, str], settings: Settings
) -> None:
    client, code = world
    routes = guarded_routes(client, code)
    assert any(r.path == f"/admin/{DEMO}/" for r in routes)

    # Anonymous: the sign-in page for people, 401 for scripts, and never a byte of data.
    for route in routes:
        client.cookies.clear()
        status = _call(client, route, None)
        expected = 401 if route.is_json else 303
        assert status == expected, f"anonymous {route.method} {route.path}: {status}"

    failures = []
    for persona, (email, role, conference) in PERSONAS.items():
        with TestClient(create_app(settings), raise_server_exceptions=False) as browser:
            sign_in(browser, email)
            token = csrf_token(browser)
            for route in routes:
                status = _call(browser, route, token)
                allowed = conference == DEMO and role in route.roles
                if allowed and status in (401, 403):
                    failures.append(f"{persona} refused {route.method} {route.path}")
                if not allowed and status != 403:
                    failures.append(f"{persona} got {status} on {route.method} {route.path}")
    assert not failures, failures


def test_an_api_token_has_exactly_its_users_permissions(
    world: tuple[TestClient, str], db: Database
) -> None:
    client, code = world
    client.cookies.clear()
    tokens = {persona: api_token(db, email, "test") for persona, (email, _, _) in PERSONAS.items()}
    for route in guarded_routes(client, code):
        if route.method != "GET":
            continue
        for persona, (_, role, conference) in PERSONAS.items():
            answer = client.get(
                route.path,
                headers={"authorization": f"Bearer {tokens[persona]}"},
                follow_redirects=False,
            )
            allowed = conference == DEMO and role in route.roles
            assert (answer.status_code not in (401, 403)) == allowed, (
                persona,
                route.path,
                answer.status_code,
            )
    answer = client.get(
        f"/admin/{DEMO}/", headers={"authorization": "Bearer not-a-token"}, follow_redirects=False
    )
    assert answer.status_code == 303


def test_a_post_without_the_csrf_token_is_refused(world: tuple[TestClient, str]) -> None:
    client, _ = world
    sign_in(client, PERSONAS["organiser"][0])
    refused = client.post("/admin/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/admin/", follow_redirects=False).status_code == 200  # still signed in
    forged_origin = client.post(
        "/admin/logout",
        data={"csrf_token": csrf_token(client)},
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert forged_origin.status_code == 403
    signed_out = client.post(
        "/admin/logout", data={"csrf_token": csrf_token(client)}, follow_redirects=False
    )
    assert signed_out.status_code == 303
    assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_sign_in_from_another_site_is_refused(world: tuple[TestClient, str]) -> None:
    client, _ = world
    answer = client.post(
        "/admin/login",
        data={"email": PERSONAS["organiser"][0], "password": PASSWORD},
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert "confapp_admin" not in answer.headers.get("set-cookie", "")


def test_sign_in_is_throttled_per_account(world: tuple[TestClient, str]) -> None:
    client, _ = world
    email = PERSONAS["organiser"][0]
    for _ in range(10):
        wrong = client.post("/admin/login", data={"email": email, "password": "wrong password!"})
        assert wrong.status_code == 401
        assert "do not match" in wrong.text
    right = client.post("/admin/login", data={"email": email, "password": PASSWORD})
    assert right.status_code == 429
    assert "Too many attempts" in right.text
    assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_a_wrong_email_and_a_wrong_password_look_the_same(world: tuple[TestClient, str]) -> None:
    client, _ = world
    unknown = client.post(
        "/admin/login", data={"email": "nobody@example.org", "password": "x" * 12}
    )
    wrong = client.post(
        "/admin/login", data={"email": PERSONAS["steward"][0], "password": "x" * 12}
    )
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.text.replace("nobody@example.org", "") == wrong.text.replace(
        PERSONAS["steward"][0], ""
    )


def test_signed_in_the_session_cookie_holds_only_a_random_id(
    world: tuple[TestClient, str], db: Database
) -> None:
    client, _ = world
    answer = client.post(
        "/admin/login",
        data={"email": PERSONAS["organiser"][0], "password": PASSWORD},
        follow_redirects=False,
    )
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    value = re.search(r"confapp_admin=([^;]+)", cookie)
    assert value and len(value.group(1)) >= 40
    assert "organiser" not in value.group(1)


@pytest.mark.browser
def test_a_steward_signed_in_on_a_phone_sees_no_attendee_data(phone: Any, live_server: Any) -> None:
    database = Database(live_server.settings.database_url)
    make_user(database, "steward@example.org", "steward", DEMO)
    database.dispose()
    register = phone.request.post(
        f"{live_server.url}/api/{DEMO}/registrations",
        data={"name": "Rosa Luxemburg", "email": "rosa@example.org", "ticket_type": "waged"},
    )
    assert register.status == 201

    phone.goto(f"{live_server.url}/admin/{DEMO}/registrations")
    assert "/admin/login" in phone.url  # anonymous: the sign-in page
    phone.get_by_label("E-mail address").fill("steward@example.org")
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    phone.wait_for_url(f"{live_server.url}/admin/{DEMO}/registrations")
    body = phone.content()
    assert "Rosa" not in body and "rosa@example.org" not in body
    assert "Not allowed" in body or "403" in body or "does not have a role" in body
    for page in ("", "registrations", "reports/access", "registrations.csv"):
        response = phone.goto(f"{live_server.url}/admin/{DEMO}/{page}")
        assert response is not None and response.status == 403, page
        assert "Rosa" not in phone.content()


def test_whatever_sends_mail_knows_every_kind_of_mail() -> None:
    """`confapp mail` and each app process's housekeeping load every mail builder, so no kind
    of queued mail is left unsendable (the kinds are registered by the domain modules)."""
    import subprocess
    import sys

    script = (
        "import confapp.mail_registry, confapp.outbox;"
        "print(' '.join(sorted(confapp.outbox._builders)))"
    )
    kinds = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert kinds == [
        "hold_ended",
        "invitation",
        "manage_link",
        "notice",
        "order_paid",
        "password_reset",
        "payment_refunded",
        "programme_changes",
        "ticket",
        "transfer_details",
        "voucher",
    ]


def test_account_link_secrets_stay_out_of_the_access_log() -> None:
    from confapp.access_log import redact_path

    assert redact_path("/admin/invitations/s3cret") == "/admin/invitations/…"
    assert redact_path("/admin/password-reset/s3cret") == "/admin/password-reset/…"
    assert redact_path("/admin/password-reset") == "/admin/password-reset"
    assert redact_path("/my-order/s3cret/receipts/1.pdf") == "/my-order/…/receipts/1.pdf"


def test_doubled_slashes_and_dot_segments_do_not_smuggle_secrets_into_the_log() -> None:
    from confapp.access_log import redact_path

    assert redact_path("//my-ticket/s3cret") == "/my-ticket/…"
    assert redact_path("/./my-ticket/s3cret") == "/my-ticket/…"
    assert redact_path("/tickets//t0ken/qr.svg") == "/tickets/…/qr.svg"
    assert redact_path(f"/{DEMO}/agenda") == f"/{DEMO}/agenda"


def test_absurd_numbers_in_admin_addresses_are_refused_not_crashed_on(
    world: tuple[TestClient, str],
) -> None:
    client, _ = world
    sign_in(client, PERSONAS["organiser"][0])
    token = csrf_token(client)
    huge = "9" * 30
    answers = [
        client.post(f"/admin/account/tokens/{huge}/revoke", data={"csrf_token": token}),
        client.post("/admin/account/tokens/3000000000/revoke", data={"csrf_token": token}),
        client.post(
            f"/admin/{DEMO}/people/revoke",
            data={"csrf_token": token, "user_id": "99999999999", "role": "steward"},
        ),
        client.get(f"/admin/{DEMO}/registrations?page=0000001{'0' * 25}"),
        client.get(
            f"/api/{DEMO}/registrations?page=2000000000000", headers={"x-csrf-token": token}
        ),
    ]
    assert [a.status_code < 500 for a in answers] == [True] * len(answers), [
        a.status_code for a in answers
    ]
