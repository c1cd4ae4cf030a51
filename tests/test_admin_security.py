"""The back office against someone who has got hold of part of an account: a browser left signed
in, an API token, an invitation link, a password typed wrong on purpose, a code read over a
shoulder. Each story runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import threading

import pytest
from sqlalchemy import update
from sqlmodel import col, select
from starlette.testclient import TestClient

from confapp.accounts.people import revoke_role
from confapp.accounts.secrets import secret_hash
from confapp.accounts.service import AccountError, Principal, find_user
from confapp.accounts.sign_in import SIGN_IN_PER_ADDRESS
from confapp.admin.auth import SESSION_COOKIE
from confapp.db import Database
from confapp.models import ApiToken, Conference, ConferenceRole, User, WebSession
from confapp.programme.conference_file import LoadReport
from confapp.throttle import take
from tests.support import DEMO
from tests.support.accounts import (
    APP_TIME,
    NEW_PASSWORD,
    PASSWORD,
    STEWARD,
    another_browser,
    audit_actions,
    authenticator_code,
    csrf_token,
    is_signed_in,
    make_api_token,
    make_organiser,
    make_user,
    set_up_second_factor,
    sign_in,
)
from tests.support.mail import Mailbox

ELSEWHERE = ("198.51.100.7", 40000)  # another client address than the TestClient's own


@pytest.fixture
def organiser(db: Database, demo: LoadReport) -> str:
    return make_organiser(db)


def require_second_factor(db: Database) -> None:
    with db.transaction() as session:
        session.execute(
            update(Conference)
            .where(col(Conference.slug) == DEMO)
            .values(second_factor_required=True)
        )


def second_factor_required(db: Database) -> bool:
    with db.read() as session:
        return session.exec(
            select(Conference.second_factor_required).where(Conference.slug == DEMO)
        ).one()


def works(client: TestClient, token: str) -> bool:
    """Whether an API token still reads the registrations."""
    answer = another_browser(client).get(
        f"/api/{DEMO}/registrations", headers={"authorization": f"Bearer {token}"}
    )
    assert answer.status_code in (200, 401, 403), answer.status_code
    return answer.status_code == 200


def code_form_token(browser: TestClient) -> str:
    page = browser.get("/admin/login/second-factor").text
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


# ---- API tokens and the second factor -------------------------------------------------------


def test_an_api_token_cannot_get_round_a_required_second_factor_or_switch_it_off(
    client: TestClient, organiser: str, db: Database
) -> None:
    sign_in(client, organiser)
    token = make_api_token(client, "laptop script")
    bearer = {"authorization": f"Bearer {token}"}
    require_second_factor(db)

    script = another_browser(client)
    refused = script.get(f"/api/{DEMO}/registrations", headers=bearer)
    assert refused.status_code == 403
    assert refused.json()["error"] == "second_factor_required"
    assert script.get(f"/admin/{DEMO}/registrations.csv", headers=bearer).status_code == 403
    assert script.get(f"/admin/{DEMO}/reports/access", headers=bearer).status_code == 403
    switch_off = script.post(
        f"/admin/{DEMO}/settings",
        data={"registration": "open", "capacity": "", "second_factor": "optional"},
        headers=bearer,
        follow_redirects=False,
    )
    assert switch_off.status_code == 403
    assert second_factor_required(db)

    # Once the account has a second factor, its tokens work again.
    set_up_second_factor(client)
    assert works(client, token)


def test_making_an_api_token_takes_the_password_and_a_code_from_the_authenticator(
    client: TestClient, organiser: str, db: Database
) -> None:
    sign_in(client, organiser)
    for password in ("", "not my password"):
        refused = client.post(
            "/admin/account/tokens",
            data={"csrf_token": csrf_token(client), "name": "stolen", "current_password": password},
        )
        assert refused.status_code == 422 and "not your current password" in refused.text
    secret = set_up_second_factor(client)
    page = client.get("/admin/account").text
    assert 'name="current_password"' in page and 'id="token_code"' in page
    no_code = client.post(
        "/admin/account/tokens",
        data={"csrf_token": csrf_token(client), "name": "stolen", "current_password": PASSWORD},
    )
    assert no_code.status_code == 422 and "did not match" in no_code.text
    with db.read() as session:
        assert session.exec(select(ApiToken)).all() == []

    code = authenticator_code(secret)
    token = make_api_token(client, "door phone 3", code=code)
    assert works(client, token)
    reused = client.post(
        "/admin/account/tokens",
        data={
            "csrf_token": csrf_token(client),
            "name": "another",
            "current_password": PASSWORD,
            "code": code,
        },
    )
    assert reused.status_code == 422 and "used already" in reused.text


# ---- revoking tokens with the password ------------------------------------------------------


def test_a_password_reset_revokes_every_api_token(
    mail_client: TestClient, organiser: str, db: Database, mailbox: Mailbox
) -> None:
    sign_in(mail_client, organiser)
    token = make_api_token(mail_client, "door phone 3")
    assert works(mail_client, token)
    stranger = another_browser(mail_client)
    stranger.post("/admin/password-reset", data={"email": organiser})
    path = mailbox.link("/admin/password-reset/")
    reset = stranger.post(
        path,
        data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert reset.status_code == 303
    assert not works(mail_client, token)
    with db.read() as session:
        assert session.exec(select(ApiToken)).one().revoked_at is not None


def test_changing_the_password_or_signing_out_everywhere_revokes_tokens_when_ticked(
    client: TestClient, organiser: str, db: Database
) -> None:
    sign_in(client, organiser)
    kept = make_api_token(client, "kept")
    page = client.get("/admin/account").text
    # Both forms offer it, ticked to start with.
    assert page.count('name="revoke_tokens" value="yes" checked') == 2

    unticked = client.post(
        "/admin/account/password",
        data={
            "csrf_token": csrf_token(client),
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        },
    )
    assert unticked.status_code == 200 and works(client, kept)
    ticked = client.post(
        "/admin/account/password",
        data={
            "csrf_token": csrf_token(client),
            "current_password": NEW_PASSWORD,
            "new_password": PASSWORD,
            "new_password_again": PASSWORD,
            "revoke_tokens": "yes",
        },
    )
    assert ticked.status_code == 200 and "every API token is revoked" in ticked.text
    assert not works(client, kept)

    lost_phone = make_api_token(client, "lost phone")
    client.post("/admin/account/sessions/sign-out-others", data={"csrf_token": csrf_token(client)})
    assert works(client, lost_phone)
    everywhere = client.post(
        "/admin/account/sessions/sign-out-others",
        data={"csrf_token": csrf_token(client), "revoke_tokens": "yes"},
    )
    assert everywhere.status_code == 200 and "every API token is revoked" in everywhere.text
    assert not works(client, lost_phone)
    assert audit_actions(db).count("API tokens revoked") == 2


# ---- the second factor needs the password ---------------------------------------------------


def test_a_second_factor_cannot_be_set_up_or_replaced_without_the_password(
    client: TestClient, organiser: str, db: Database
) -> None:
    def attempt(password: str) -> int:
        page = client.get("/admin/account/second-factor").text
        secret = page.split('name="secret" value="', 1)[1].split('"', 1)[0]
        return client.post(
            "/admin/account/second-factor",
            data={
                "csrf_token": csrf_token(client),
                "secret": secret,
                "code": authenticator_code(secret),
                "current_password": password,
            },
            follow_redirects=False,
        ).status_code

    def saved_secret() -> str:
        with db.read() as session:
            user = find_user(session, organiser)
            assert user is not None
            return user.totp_secret

    sign_in(client, organiser)
    assert 'name="current_password"' in client.get("/admin/account/second-factor").text
    assert attempt("") == 422 and attempt("not my password") == 422
    assert saved_secret() == ""
    owners = set_up_second_factor(client)
    assert attempt("") == 422 and attempt("not my password") == 422
    assert saved_secret() == owners  # the owner's phone still works


# ---- sign-in throttles ----------------------------------------------------------------------


def test_wrong_passwords_from_elsewhere_do_not_lock_the_owner_out(
    client: TestClient, organiser: str
) -> None:
    attacker = TestClient(client.app, raise_server_exceptions=False, client=ELSEWHERE)
    for _ in range(10):
        wrong = attacker.post("/admin/login", data={"email": organiser, "password": "guess" * 3})
        assert wrong.status_code == 401
    assert (
        attacker.post("/admin/login", data={"email": organiser, "password": PASSWORD}).status_code
        == 429
    )
    sign_in(client, organiser)  # the owner, from their own address
    assert is_signed_in(client)


def test_right_passwords_count_towards_the_address_limit_too(
    client: TestClient, organiser: str, db: Database
) -> None:
    with db.transaction() as session:
        for _ in range(SIGN_IN_PER_ADDRESS.max_hits - 1):
            take(session, SIGN_IN_PER_ADDRESS, ELSEWHERE[0], APP_TIME)  # the app's clock
    crowd = [TestClient(client.app, raise_server_exceptions=False, client=ELSEWHERE) for _ in "ab"]
    last = crowd[0].post(
        "/admin/login", data={"email": organiser, "password": PASSWORD}, follow_redirects=False
    )
    assert last.status_code == 303  # signed in: the 60th attempt from this address
    refused = crowd[1].post("/admin/login", data={"email": organiser, "password": PASSWORD})
    assert refused.status_code == 429


def test_wrong_codes_are_counted_apart_from_wrong_passwords(
    client: TestClient, organiser: str
) -> None:
    sign_in(client, organiser)
    secret = set_up_second_factor(client)
    phone = another_browser(client)
    sign_in(phone, organiser)
    token = code_form_token(phone)
    for _ in range(10):
        wrong = phone.post("/admin/login/second-factor", data={"csrf_token": token, "code": "0"})
        assert wrong.status_code == 401
    right = phone.post(
        "/admin/login/second-factor",
        data={"csrf_token": token, "code": authenticator_code(secret)},
    )
    assert right.status_code == 429 and not is_signed_in(phone)
    # The password step still works from here: wrong codes are not wrong passwords.
    laptop = another_browser(client)
    answer = laptop.post(
        "/admin/login", data={"email": organiser, "password": PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 303


# ---- invitations to an existing account -----------------------------------------------------


def invite(client: TestClient, mailbox: Mailbox, email: str, role: str) -> str:
    client.post(
        f"/admin/{DEMO}/people/invite",
        data={"csrf_token": csrf_token(client), "email": email, "role": role},
    )
    return mailbox.link("/admin/invitations/")


def roles_of(db: Database, email: str) -> list[str]:
    with db.read() as session:
        user = find_user(session, email)
        assert user is not None
        return sorted(
            session.exec(select(ConferenceRole.role).where(ConferenceRole.user_id == user.id))
        )


def test_an_invitation_never_signs_in_to_an_existing_account_from_the_link_alone(
    mail_client: TestClient, organiser: str, db: Database, mailbox: Mailbox
) -> None:
    make_user(db, STEWARD, "steward", DEMO)
    steward = another_browser(mail_client)
    sign_in(steward, STEWARD)
    steward_code = set_up_second_factor(steward)
    steward.cookies.clear()
    sign_in(mail_client, organiser)
    path = invite(mail_client, mailbox, STEWARD, "access-coordinator")

    finder = another_browser(mail_client)  # whoever has the link, not the password
    page = finder.get(path)
    assert "already has an account" in page.text and 'name="password"' in page.text
    for password in ("", "not the steward's password"):
        refused = finder.post(path, data={"password": password}, follow_redirects=False)
        assert refused.status_code == 422 and not is_signed_in(finder)
    # Signed in, but as the organiser who sent it: that is not the steward's account.
    as_someone_else = mail_client.post(
        path, data={"csrf_token": csrf_token(mail_client)}, follow_redirects=False
    )
    assert as_someone_else.status_code == 422
    assert roles_of(db, STEWARD) == ["steward"]

    # The steward's own password: on through the second factor, as signing in goes.
    accepted = steward.post(path, data={"password": PASSWORD}, follow_redirects=False)
    assert accepted.headers["location"].startswith("/admin/login/second-factor")
    assert not is_signed_in(steward)
    done = steward.post(
        "/admin/login/second-factor",
        data={"csrf_token": code_form_token(steward), "code": authenticator_code(steward_code)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and is_signed_in(steward)
    assert roles_of(db, STEWARD) == ["access-coordinator", "steward"]


def test_signed_in_as_the_invited_account_the_role_is_simply_added(
    mail_client: TestClient, organiser: str, db: Database, mailbox: Mailbox
) -> None:
    make_user(db, STEWARD, "steward", DEMO)
    sign_in(mail_client, organiser)
    path = invite(mail_client, mailbox, STEWARD, "organiser")
    steward = another_browser(mail_client)
    sign_in(steward, STEWARD)
    cookie = steward.cookies.get(SESSION_COOKIE)
    page = steward.get(path)
    assert "You are signed in as steward@example.org" in page.text
    assert 'name="password"' not in page.text
    no_token = steward.post(path, data={}, follow_redirects=False)
    assert no_token.status_code == 403  # a signed-in form carries the CSRF token
    accepted = steward.post(path, data={"csrf_token": csrf_token(steward)}, follow_redirects=False)
    assert accepted.status_code == 303 and accepted.headers["location"] == f"/admin/{DEMO}/"
    assert steward.cookies.get(SESSION_COOKIE) == cookie  # the same session, nothing new
    assert steward.get(f"/admin/{DEMO}/registrations").status_code == 200
    assert roles_of(db, STEWARD) == ["organiser", "steward"]


# ---- the last organiser ---------------------------------------------------------------------


def test_two_organisers_removing_each_other_at_the_same_moment_leave_one(
    db: Database, organiser: str
) -> None:
    make_user(db, "second@example.org", "organiser", DEMO)
    with db.read() as session:
        conference_id = session.exec(select(Conference.id).where(Conference.slug == DEMO)).one()
        ids = {u.email: u.id for u in session.exec(select(User))}
    both_removed = threading.Barrier(2)
    refused: list[AccountError] = []

    def remove(me: str, other: str) -> None:
        try:
            with db.transaction() as session:
                revoke_role(session, conference_id, ids[other], "organiser", Principal(ids[me], me))
                # Both removals done, neither committed; unless the other waits for this one.
                with contextlib.suppress(threading.BrokenBarrierError):
                    both_removed.wait(timeout=3)
        except AccountError as exc:
            refused.append(exc)

    threads = [
        threading.Thread(target=remove, args=(organiser, "second@example.org")),
        threading.Thread(target=remove, args=("second@example.org", organiser)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with db.read() as session:
        left = session.exec(
            select(ConferenceRole).where(
                ConferenceRole.conference_id == conference_id, ConferenceRole.role == "organiser"
            )
        ).all()
    assert len(left) == 1
    assert len(refused) == 1 and "only organiser" in str(refused[0])


# ---- the code step --------------------------------------------------------------------------


def test_the_code_step_checks_its_form_takes_each_code_once_and_starts_a_new_session(
    client: TestClient, organiser: str, db: Database
) -> None:
    sign_in(client, organiser)
    secret = set_up_second_factor(client)
    phone = another_browser(client)
    sign_in(phone, organiser)
    half_signed_in = phone.cookies.get(SESSION_COOKIE)
    token = code_form_token(phone)
    code = authenticator_code(secret)

    for data, headers in (
        ({"code": code}, {}),
        ({"code": code, "csrf_token": "not the token"}, {}),
        ({"code": code, "csrf_token": token}, {"origin": "https://evil.example"}),
    ):
        refused = phone.post(
            "/admin/login/second-factor", data=data, headers=headers, follow_redirects=False
        )
        assert refused.status_code == 403 and not is_signed_in(phone)

    accepted = phone.post(
        "/admin/login/second-factor",
        data={"code": code, "csrf_token": token, "next": "/admin/"},
        follow_redirects=False,
    )
    assert accepted.status_code == 303 and is_signed_in(phone)
    assert phone.cookies.get(SESSION_COOKIE) != half_signed_in  # a new session id
    with db.read() as session:
        assert session.get(WebSession, secret_hash(half_signed_in)) is None  # its row is gone
    old = another_browser(client)
    old.cookies.set(SESSION_COOKIE, half_signed_in)
    assert not is_signed_in(old)  # the old id opens nothing, not even the code form
    assert old.get("/admin/login/second-factor", follow_redirects=False).status_code == 303

    # The same code, read over a shoulder, does not sign in anyone else.
    onlooker = another_browser(client)
    sign_in(onlooker, organiser)
    replayed = onlooker.post(
        "/admin/login/second-factor",
        data={"code": code, "csrf_token": code_form_token(onlooker)},
        follow_redirects=False,
    )
    assert replayed.status_code == 401 and "used already" in replayed.text
    assert not is_signed_in(onlooker)
    later = onlooker.post(
        "/admin/login/second-factor",
        data={"code": authenticator_code(secret, 1), "csrf_token": code_form_token(onlooker)},
        follow_redirects=False,
    )
    assert later.status_code == 303 and is_signed_in(onlooker)
