"""Back-office accounts, as the people using them meet them: accounts and tokens made on the
command line, signing in with a password and a second factor, a conference that requires one,
invitations and password resets through a real mail server (aiosmtpd on loopback), signing out
other browsers, API tokens made and revoked in the browser, and CSRF on every account form.
Each story runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import re
import sys
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import update
from sqlmodel import col, select
from starlette.testclient import TestClient

from confapp import cli
from confapp.accounts.secrets import secret_hash
from confapp.accounts.service import find_user
from confapp.db import Database
from confapp.models import (
    AccountLink,
    ApiToken,
    Conference,
    ConferenceRole,
    User,
    WebSession,
)
from confapp.programme.conference_file import LoadReport
from confapp.times import utcnow
from tests.support import DEMO
from tests.support.accounts import (
    NEW_PASSWORD,
    ORGANISER,
    PASSWORD,
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


@pytest.fixture
def organiser(db: Database, demo: LoadReport) -> str:
    return make_organiser(db)


# ---- the command line -----------------------------------------------------------------------


def test_user_add_reads_the_password_from_stdin_and_never_takes_it_as_an_argument(
    client: TestClient,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    argv = ["user", "add", "rosa@example.org", "--role", "organiser", "--conference", DEMO]
    assert cli.main([*argv, "--database-url", db.url]) == 0
    assert PASSWORD not in " ".join(argv)
    assert "Created rosa@example.org" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # there is no option to give it on the command line
        cli.main([*argv, "--password", PASSWORD, "--database-url", db.url])

    sign_in(client, "rosa@example.org", PASSWORD)
    assert client.get(f"/admin/{DEMO}/").status_code == 200
    with db.read() as session:
        user = find_user(session, "rosa@example.org")
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


def test_token_add_prints_the_token_alone_on_its_last_line_and_it_works_until_revoked(
    client: TestClient, organiser: str, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["token", "add", organiser, "--name", "door phone 3", "--database-url", db.url]
    assert cli.main(argv) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"confapp_[\w-]{40,}", token)
    bearer = {"authorization": f"Bearer {token}"}
    assert client.get("/admin/", headers=bearer).status_code == 200
    assert client.get(f"/admin/{DEMO}/", headers=bearer).status_code == 200

    # Revoked from the back office, where it is listed with its last use.
    sign_in(client, organiser)
    page = client.get("/admin/account").text
    assert "door phone 3" in page and "last used" in page
    with db.read() as session:
        token_id = session.exec(select(ApiToken.id)).one()
    revoked = client.post(
        f"/admin/account/tokens/{token_id}/revoke",
        data={"csrf_token": csrf_token(client)},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    client.cookies.clear()
    refused = client.get("/admin/", headers=bearer, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/admin/login")
    as_json = client.get("/admin/", headers={**bearer, "accept": "application/json"})
    assert as_json.status_code == 401
    assert "API token revoked" in audit_actions(db)


def test_a_token_made_in_the_browser_is_shown_once_and_cannot_change_the_account(
    client: TestClient, organiser: str, db: Database
) -> None:
    sign_in(client, organiser)
    token = make_api_token(client, "scanner")
    assert token not in client.get("/admin/account").text  # shown once
    with db.read() as session:
        stored = session.exec(select(ApiToken)).one()
    assert stored.token_hash == secret_hash(token)  # only the hash is kept

    script = another_browser(client)
    bearer = {"authorization": f"Bearer {token}"}
    assert script.get("/admin/", headers=bearer).status_code == 200
    for path, data in (
        ("/admin/account/tokens", {"name": "another"}),
        ("/admin/account/password", {"current_password": PASSWORD, "new_password": "x" * 12}),
    ):
        assert script.post(path, data=data, headers=bearer).status_code == 403
    with db.read() as session:
        assert len(session.exec(select(ApiToken)).all()) == 1


# ---- signing in -----------------------------------------------------------------------------


def test_a_wrong_password_is_refused_and_after_ten_tries_even_the_right_one_waits(
    client: TestClient, organiser: str
) -> None:
    for _ in range(10):
        wrong = client.post("/admin/login", data={"email": organiser, "password": "not it at all"})
        assert wrong.status_code == 401
        assert not is_signed_in(client)
    right = client.post("/admin/login", data={"email": organiser, "password": PASSWORD})
    assert right.status_code == 429
    assert not is_signed_in(client)


def test_an_account_with_a_second_factor_must_give_the_code(
    client: TestClient, organiser: str, db: Database
) -> None:
    sign_in(client, organiser)
    secret = set_up_second_factor(client)
    assert "second factor set up" in audit_actions(db)
    with db.read() as session:
        user = find_user(session, organiser)
        assert user is not None and user.totp_secret == secret

    phone = another_browser(client)
    answer = phone.post(
        "/admin/login", data={"email": organiser, "password": PASSWORD}, follow_redirects=False
    )
    assert answer.headers["location"].startswith("/admin/login/second-factor")
    assert not is_signed_in(phone)  # the password alone opens nothing
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', phone.get("/admin/login/second-factor").text
    )
    assert token
    wrong = phone.post(
        "/admin/login/second-factor", data={"csrf_token": token.group(1), "code": "000000"}
    )
    assert wrong.status_code == 401 and not is_signed_in(phone)
    right = phone.post(
        "/admin/login/second-factor",
        data={"csrf_token": token.group(1), "code": authenticator_code(secret), "next": "/admin/"},
        follow_redirects=False,
    )
    assert right.status_code == 303
    assert is_signed_in(phone)


def test_a_conference_requiring_a_second_factor_sends_an_organiser_without_one_to_set_it_up(
    client: TestClient, organiser: str, db: Database
) -> None:
    with db.transaction() as session:
        session.execute(
            update(Conference)
            .where(col(Conference.slug) == DEMO)
            .values(second_factor_required=True)
        )
    sign_in(client, organiser)
    sent_away = client.get(f"/admin/{DEMO}/registrations", follow_redirects=False)
    assert sent_away.status_code == 303
    assert sent_away.headers["location"] == "/admin/account?second_factor=required"
    page = client.get(sent_away.headers["location"])
    assert "requires a second factor" in page.text

    set_up_second_factor(client)
    assert client.get(f"/admin/{DEMO}/").status_code == 200
    # Now it cannot be removed while the conference requires it.
    removed = client.post(
        "/admin/account/second-factor/remove",
        data={"csrf_token": csrf_token(client), "current_password": PASSWORD},
    )
    assert removed.status_code == 422 and "requires a second factor" in removed.text
    with db.read() as session:
        user = find_user(session, organiser)
        assert user is not None and user.totp_secret


# ---- invitations ----------------------------------------------------------------------------


def test_an_invitation_by_mail_creates_the_account_adds_the_role_and_signs_in_once(
    mail_client: TestClient, organiser: str, db: Database, mailbox: Mailbox
) -> None:
    sign_in(mail_client, organiser)
    invited = mail_client.post(
        f"/admin/{DEMO}/people/invite",
        data={
            "csrf_token": csrf_token(mail_client),
            "email": "Lucy.Parsons@example.org",
            "role": "access-coordinator",
        },
    )
    assert invited.status_code == 200 and "on its way" in invited.text
    assert "lucy.parsons@example.org" in invited.text  # listed as not yet accepted
    assert len(mailbox.messages) == 1
    assert mailbox.messages[0]["To"] == "lucy.parsons@example.org"
    path = mailbox.link("/admin/invitations/")
    with db.read() as session:
        link = session.exec(select(AccountLink)).one()
    assert link.token_hash == secret_hash(path.rsplit("/", 1)[1])  # only the hash is kept
    assert timedelta(days=6) < link.expires_at - utcnow() <= timedelta(days=7)

    lucy = another_browser(mail_client)
    page = lucy.get(path)
    assert page.status_code == 200 and "Choose a password" in page.text
    mismatch = lucy.post(path, data={"password": NEW_PASSWORD, "password_again": "other"})
    assert mismatch.status_code == 422 and not is_signed_in(lucy)
    accepted = lucy.post(
        path,
        data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"/admin/{DEMO}/"
    assert lucy.get(f"/admin/{DEMO}/").status_code == 200
    assert lucy.get(f"/admin/{DEMO}/registrations").status_code == 403  # not an organiser

    again = another_browser(mail_client).get(path)
    assert again.status_code == 410 and "already been used" in again.text
    reused = another_browser(mail_client).post(
        path, data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert reused.status_code == 410
    fresh = another_browser(mail_client)
    sign_in(fresh, "lucy.parsons@example.org", NEW_PASSWORD)
    people = mail_client.get(f"/admin/{DEMO}/people").text
    assert "lucy.parsons@example.org" in people and "not yet accepted" not in people
    assert {"invited", "invitation accepted"} <= set(audit_actions(db))


def test_an_invitation_to_someone_with_an_account_adds_the_role_once_its_password_is_given(
    mail_client: TestClient, organiser: str, db: Database, mailbox: Mailbox
) -> None:
    make_user(db, "steward@example.org", "steward", DEMO)
    sign_in(mail_client, organiser)
    mail_client.post(
        f"/admin/{DEMO}/people/invite",
        data={
            "csrf_token": csrf_token(mail_client),
            "email": "steward@example.org",
            "role": "organiser",
        },
    )
    path = mailbox.link("/admin/invitations/")
    steward = another_browser(mail_client)
    page = steward.get(path)
    assert "already has an account" in page.text and 'name="password_again"' not in page.text
    assert steward.post(path, data={}, follow_redirects=False).status_code == 422
    assert not is_signed_in(steward)  # the link alone opens nothing
    accepted = steward.post(path, data={"password": PASSWORD}, follow_redirects=False)
    assert accepted.status_code == 303
    assert steward.get(f"/admin/{DEMO}/registrations").status_code == 200
    with db.read() as session:
        user = find_user(session, "steward@example.org")
        assert user is not None
        roles = session.exec(select(ConferenceRole.role).where(ConferenceRole.user_id == user.id))
        assert sorted(roles) == ["organiser", "steward"]
    sign_in(another_browser(mail_client), "steward@example.org", PASSWORD)  # password unchanged


def test_an_expired_or_withdrawn_invitation_gets_a_clear_page(
    mail_client: TestClient, organiser: str, db: Database, mailbox: Mailbox
) -> None:
    sign_in(mail_client, organiser)
    for address in ("late@example.org", "withdrawn@example.org"):
        mail_client.post(
            f"/admin/{DEMO}/people/invite",
            data={"csrf_token": csrf_token(mail_client), "email": address, "role": "steward"},
        )
    paths = [
        re.findall(r"/admin/invitations/[\w-]+", m.get_body(("plain",)).get_content())[0]
        for m in mailbox.messages
    ]
    late, withdrawn = paths[0], paths[1]
    with db.transaction() as session:
        session.execute(
            update(AccountLink)
            .where(col(AccountLink.email) == "late@example.org")
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        link_id = session.exec(
            select(AccountLink.id).where(AccountLink.email == "withdrawn@example.org")
        ).one()
    taken_back = mail_client.post(
        f"/admin/{DEMO}/people/withdraw",
        data={"csrf_token": csrf_token(mail_client), "invitation": str(link_id)},
    )
    assert taken_back.status_code == 200 and "withdrawn" in taken_back.text

    anyone = another_browser(mail_client)
    expired = anyone.get(late)
    assert expired.status_code == 410 and "expired" in expired.text
    assert (
        anyone.post(
            late, data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
        ).status_code
        == 410
    )
    assert anyone.get(withdrawn).status_code == 410
    assert anyone.get("/admin/invitations/not-a-real-secret").status_code == 404
    assert not is_signed_in(anyone)
    with db.read() as session:
        assert find_user(session, "late@example.org") is None


def test_an_organiser_takes_a_role_away_but_never_the_last_organisers(
    client: TestClient, organiser: str, db: Database
) -> None:
    make_user(db, "steward@example.org", "steward", DEMO)
    with db.read() as session:
        ids = {u.email: u.id for u in session.exec(select(User))}
    sign_in(client, organiser)
    page = client.get(f"/admin/{DEMO}/people").text
    assert "steward@example.org" in page and ORGANISER in page
    last = client.post(
        f"/admin/{DEMO}/people/revoke",
        data={
            "csrf_token": csrf_token(client),
            "user_id": str(ids[ORGANISER]),
            "role": "organiser",
        },
    )
    assert last.status_code == 422 and "only organiser" in last.text
    steward = another_browser(client)
    sign_in(steward, "steward@example.org")
    revoked = client.post(
        f"/admin/{DEMO}/people/revoke",
        data={
            "csrf_token": csrf_token(client),
            "user_id": str(ids["steward@example.org"]),
            "role": "steward",
        },
    )
    assert revoked.status_code == 200 and "taken away" in revoked.text
    with db.read() as session:
        assert (
            session.exec(
                select(ConferenceRole).where(ConferenceRole.user_id == ids["steward@example.org"])
            ).all()
            == []
        )
    # A steward is not an organiser: the people page is not theirs.
    assert steward.get(f"/admin/{DEMO}/people").status_code == 403


# ---- password reset -------------------------------------------------------------------------


def test_a_password_reset_by_mail_ends_every_session_and_the_old_password(
    mail_client: TestClient, organiser: str, db: Database, mailbox: Mailbox
) -> None:
    laptop = mail_client
    sign_in(laptop, organiser)
    phone = another_browser(mail_client)
    unknown = phone.post("/admin/password-reset", data={"email": "nobody@example.org"})
    asked = phone.post("/admin/password-reset", data={"email": organiser.upper()})
    assert unknown.status_code == asked.status_code == 200
    assert "if an account exists" in asked.text.lower()
    assert unknown.text.replace("nobody@example.org", "X") == asked.text.replace(
        organiser.upper(), "X"
    )  # the same answer, account or not
    assert [m["To"] for m in mailbox.messages] == [organiser]

    path = mailbox.link("/admin/password-reset/")
    with db.read() as session:
        link = session.exec(select(AccountLink)).one()
    assert timedelta(minutes=59) < link.expires_at - utcnow() <= timedelta(hours=1)
    assert phone.get(path).status_code == 200
    short = phone.post(path, data={"password": "short", "password_again": "short"})
    assert short.status_code == 422 and not is_signed_in(phone)
    reset = phone.post(
        path,
        data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert reset.status_code == 303
    assert is_signed_in(phone)
    assert not is_signed_in(laptop)  # every other session ended
    with db.read() as session:
        assert len(session.exec(select(WebSession)).all()) == 1

    old = another_browser(mail_client).post(
        "/admin/login", data={"email": organiser, "password": PASSWORD}
    )
    assert old.status_code == 401
    sign_in(another_browser(mail_client), organiser, NEW_PASSWORD)
    assert phone.get(path).status_code == 410  # one use
    assert "password reset by mail" in audit_actions(db)


def test_a_reset_link_does_not_get_past_the_second_factor(
    mail_client: TestClient, organiser: str, mailbox: Mailbox
) -> None:
    sign_in(mail_client, organiser)
    secret = set_up_second_factor(mail_client)
    stranger = another_browser(mail_client)
    stranger.post("/admin/password-reset", data={"email": organiser})
    path = mailbox.link("/admin/password-reset/")
    reset = stranger.post(
        path,
        data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert reset.headers["location"].startswith("/admin/login/second-factor")
    assert not is_signed_in(stranger)
    # Only the authenticator's code finishes signing in.
    form = stranger.get(reset.headers["location"]).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    done = stranger.post(
        "/admin/login/second-factor",
        data={"csrf_token": token.group(1), "code": authenticator_code(secret)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and is_signed_in(stranger)


def test_reset_requests_are_throttled_per_email_and_per_address(
    mail_client: TestClient, organiser: str, mailbox: Mailbox
) -> None:
    for _ in range(5):
        answer = mail_client.post("/admin/password-reset", data={"email": organiser})
        assert answer.status_code == 200 and "on its way" in answer.text
    assert len(mailbox.messages) == 3  # a few an hour, then the same answer and no more mail
    for number in range(15):
        mail_client.post("/admin/password-reset", data={"email": f"someone{number}@example.org"})
    throttled = mail_client.post("/admin/password-reset", data={"email": organiser})
    assert throttled.status_code == 429 and "Retry-After" in throttled.headers


# ---- my account: password, sessions, CSRF --------------------------------------------------


def test_changing_the_password_keeps_this_browser_and_signs_out_the_others(
    client: TestClient, organiser: str, db: Database
) -> None:
    sign_in(client, organiser)
    phone = another_browser(client)
    sign_in(phone, organiser)
    wrong = client.post(
        "/admin/account/password",
        data={
            "csrf_token": csrf_token(client),
            "current_password": "not my password",
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 422 and "not your current password" in wrong.text
    changed = client.post(
        "/admin/account/password",
        data={
            "csrf_token": csrf_token(client),
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        },
    )
    assert changed.status_code == 200 and "Your password is changed" in changed.text
    assert is_signed_in(client) and not is_signed_in(phone)
    sign_in(phone, organiser, NEW_PASSWORD)
    assert "password changed" in audit_actions(db)


def test_signing_out_other_sessions_sends_the_other_browser_to_sign_in(
    client: TestClient, organiser: str, db: Database
) -> None:
    lost_phone = another_browser(client)
    sign_in(lost_phone, organiser)
    sign_in(client, organiser)
    page = client.get("/admin/account").text
    assert page.count("signed in 20") == 2  # both sessions listed, with when
    assert "testclient" in page  # and the browser's user agent
    ended = client.post(
        "/admin/account/sessions/sign-out-others", data={"csrf_token": csrf_token(client)}
    )
    assert ended.status_code == 200 and "Every other browser is signed out" in ended.text
    answer = lost_phone.get(f"/admin/{DEMO}/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login")
    assert is_signed_in(client)
    assert "signed out other sessions" in audit_actions(db)


def test_a_post_to_my_account_without_the_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, organiser: str, db: Database
) -> None:
    sign_in(client, organiser)
    phone = another_browser(client)
    sign_in(phone, organiser)
    attempts = [
        (
            "/admin/account/password",
            {
                "current_password": PASSWORD,
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
            },
        ),
        ("/admin/account/tokens", {"name": "stolen"}),
        ("/admin/account/sessions/sign-out-others", {}),
        ("/admin/account/second-factor", {"secret": pyotp.random_base32(), "code": "123456"}),
    ]
    for path, data in attempts:
        assert client.post(path, data=data).status_code == 403, path
        forged = client.post(
            path,
            data={**data, "csrf_token": csrf_token(client)},
            headers={"origin": "https://evil.example"},
        )
        assert forged.status_code == 403, path
    assert is_signed_in(phone)
    with db.read() as session:
        assert session.exec(select(ApiToken)).all() == []
        user = find_user(session, organiser)
        assert user is not None and user.totp_secret == ""
    sign_in(another_browser(client), organiser, PASSWORD)
