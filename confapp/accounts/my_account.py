"""A signed-in person's own account: password, second factor, signed-in sessions, API tokens.

Every change is written to the audit log. Checks of the current password are throttled like
sign-in, so a browser left signed in cannot be used to guess it. What would let someone keep
the account after losing the browser (a new second factor, a new API token) asks for the
password again, and a token also for a code when the account has a second factor.
"""

from __future__ import annotations

import re
from datetime import datetime

import pyotp
from sqlmodel import Session, col, select

from confapp.accounts.audit import record
from confapp.accounts.links import choose_password_problem, close_password_resets
from confapp.accounts.passwords import verify_password
from confapp.accounts.service import (
    ROLES_READING_ATTENDEE_DATA,
    AccountError,
    Principal,
    create_api_token,
    end_other_web_sessions,
    revoke_api_token,
    revoke_api_tokens,
    set_password,
)
from confapp.accounts.sign_in import code_step, use_code
from confapp.db import Database, column_length
from confapp.models import ApiToken, Conference, ConferenceRole, User, WebSession
from confapp.throttle import HOUR, Limit, take
from confapp.translation import _, ngettext

PASSWORD_CHECKS = Limit("account-password-check", 10, HOUR // 4)
TOTP_ISSUER = "confapp"
MAX_TOKEN_NAME = column_length(ApiToken, "name")
_BASE32_SECRET = re.compile(r"[A-Z2-7]{32}")


def _user(session: Session, principal: Principal) -> User:
    user = session.get(User, principal.user_id)
    if user is None:
        raise AccountError(_("This account no longer exists."))
    return user


def _check_password(db: Database, principal: Principal, password: str) -> None:
    # The try is counted in a transaction of its own, so a wrong password still counts.
    with db.transaction() as session:
        user = _user(session, principal)
        allowed = take(session, PASSWORD_CHECKS, user.email).allowed
    if not allowed:
        raise AccountError(_("Too many tries just now. Please wait a quarter of an hour."))
    if not verify_password(user.password_hash, password):
        raise AccountError(_("That is not your current password."))


def _audit(session: Session, principal: Principal, action: str, detail: str = "") -> None:
    record(session, action, user_id=principal.user_id, actor=principal.email, detail=detail)


# ---- password -------------------------------------------------------------------------------


def change_password(
    db: Database,
    principal: Principal,
    current: str,
    new: str,
    again: str,
    revoke_tokens: bool = False,
) -> None:
    """The new password takes effect at once; every other session of the account ends, and
    with `revoke_tokens` every API token too."""
    problem = choose_password_problem(new, again)
    if problem:
        raise AccountError(problem)
    _check_password(db, principal, current)
    with db.transaction() as session:
        user = _user(session, principal)
        set_password(session, user, new)
        end_other_web_sessions(session, principal.user_id, principal.session_id_hash)
        close_password_resets(session, user.email)
        _audit(session, principal, "password changed")
        if revoke_tokens:
            _revoke_all_tokens(session, principal)


# ---- second factor --------------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, email: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


def is_totp_secret(text: str) -> bool:
    return bool(_BASE32_SECRET.fullmatch(text))


def set_up_second_factor(
    db: Database,
    principal: Principal,
    secret: str,
    code: str,
    password: str,
    now: datetime | None = None,
) -> None:
    """Save the authenticator's secret once a code from it proves it was added. The password
    is asked for first: whoever holds only a signed-in browser cannot swap in their phone."""
    if not is_totp_secret(secret):
        raise AccountError(_("The set-up form was out of date; please start again."))
    _check_password(db, principal, password)
    step = code_step(secret, code, now)
    if step is None:
        raise AccountError(
            _("That code did not match. Check the app shows confapp, and type the current code.")
        )
    with db.transaction() as session:
        user = _user(session, principal)
        replaced = bool(user.totp_secret)
        user.totp_secret = secret
        user.totp_last_step = step  # the code that confirmed it cannot also sign in
        session.add(user)
        _audit(session, principal, "second factor replaced" if replaced else "second factor set up")


def conferences_requiring_second_factor(session: Session, user_id: int) -> list[str]:
    """The names of conferences whose attendee data the user reads and that require one."""
    names = session.exec(
        select(Conference.name)
        .join(ConferenceRole, col(ConferenceRole.conference_id) == col(Conference.id))
        .where(
            ConferenceRole.user_id == user_id,
            col(ConferenceRole.role).in_(ROLES_READING_ATTENDEE_DATA),
            col(Conference.second_factor_required).is_(True),
        )
        .distinct()
        .order_by(Conference.name)
    )
    return list(names)


def remove_second_factor(db: Database, principal: Principal, password: str) -> None:
    with db.read() as session:
        required_by = conferences_requiring_second_factor(session, principal.user_id)
    if required_by:
        raise AccountError(
            _(
                "%(conferences)s requires a second factor for your role, so it cannot be "
                "removed. You can set up a new one instead (a new phone)."
            )
            % {"conferences": ", ".join(required_by)}
        )
    _check_password(db, principal, password)
    with db.transaction() as session:
        user = _user(session, principal)
        user.totp_secret = ""
        session.add(user)
        _audit(session, principal, "second factor removed")


# ---- signed-in sessions ---------------------------------------------------------------------


def sessions_of(session: Session, user_id: int) -> list[WebSession]:
    return list(
        session.exec(
            select(WebSession)
            .where(WebSession.user_id == user_id)
            .order_by(col(WebSession.last_seen_at).desc())
        )
    )


def end_other_sessions(db: Database, principal: Principal, revoke_tokens: bool = False) -> int:
    """Sign out everywhere else (a lost phone), and with `revoke_tokens` revoke every API token."""
    with db.transaction() as session:
        ended = end_other_web_sessions(session, principal.user_id, principal.session_id_hash)
        _audit(session, principal, "signed out other sessions", f"{ended} ended")
        if revoke_tokens:
            _revoke_all_tokens(session, principal)
        return ended


def end_one_session(db: Database, principal: Principal, id_hash: str) -> bool:
    """Sign out one other browser of this account (a lost phone)."""
    with db.transaction() as session:
        found = session.get(WebSession, id_hash) if id_hash else None
        if found is None or found.user_id != principal.user_id:
            return False
        session.delete(found)
        _audit(session, principal, "signed out a session", found.user_agent[:100])
        return True


# ---- API tokens -----------------------------------------------------------------------------


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    return list(
        session.exec(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(col(ApiToken.revoked_at).is_not(None), col(ApiToken.id).desc())
        )
    )


def _revoke_all_tokens(session: Session, principal: Principal) -> None:
    revoked = revoke_api_tokens(session, principal.user_id)
    if revoked:
        _audit(session, principal, "API tokens revoked", f"{revoked} revoked")


def add_token(
    db: Database,
    principal: Principal,
    name: str,
    password: str,
    code: str = "",
    now: datetime | None = None,
) -> str:
    """A new API token; its secret is returned to be shown once and is never stored. A token
    outlives the browser, so it takes the password, and a code if the account has a factor."""
    name = " ".join(name.split())
    if not name:
        raise AccountError(
            _("Give the token a name that says where it is used (e.g. door phone 3).")
        )
    if len(name) > MAX_TOKEN_NAME:
        raise AccountError(
            ngettext(
                "Keep the name under %(count)d character.",
                "Keep the name under %(count)d characters.",
                MAX_TOKEN_NAME,
            )
            % {"count": MAX_TOKEN_NAME}
        )
    _check_password(db, principal, password)
    with db.read() as session:
        has_second_factor = bool(_user(session, principal).totp_secret)
    if has_second_factor:
        use_code(db, principal.user_id, code, now)
    with db.transaction() as session:
        token, secret = create_api_token(session, _user(session, principal), name)
        _audit(session, principal, "API token created", f"token {token.id}: {name}")
        return secret


def revoke_token(db: Database, principal: Principal, token_id: int) -> bool:
    with db.transaction() as session:
        if not revoke_api_token(session, principal.user_id, token_id):
            return False
        _audit(session, principal, "API token revoked", f"token {token_id}")
        return True
