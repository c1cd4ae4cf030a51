"""Proving who you are: a password, then an authenticator code, each throttled.

Only failures count towards an account's limit, and wrong passwords are counted per account and
client address, so someone elsewhere typing wrong passwords cannot lock the owner out; every
attempt still counts towards its address's own limit. Wrong codes are counted per account (the
password is already known by then), and a code, once accepted, is never accepted again.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import update
from sqlmodel import Session, col

from confapp.accounts.audit import record
from confapp.accounts.passwords import hash_password, needs_rehash, verify_password
from confapp.accounts.service import (
    AccountError,
    find_user,
    normalise_email,
    start_web_session,
)
from confapp.db import Database, rowcount
from confapp.models import User
from confapp.throttle import HOUR, Limit, peek, take
from confapp.times import utcnow

# Staff are tens of people: a handful of wrong passwords is normal, hundreds are an attack.
SIGN_IN_PER_ADDRESS = Limit("signin-address", 60, HOUR // 4)
WRONG_PASSWORDS = Limit("signin-wrong-password", 10, HOUR // 4)
WRONG_CODES = Limit("signin-wrong-code", 10, HOUR // 4)

WRONG_PASSWORD = "That e-mail address and password do not match an account."
WRONG_CODE = "That code did not match. Codes change every 30 seconds; try the current one."
CODE_USED = "That code has been used already. Wait for the next one: codes change every 30 seconds."
TOO_MANY = "Too many attempts to sign in just now. Please wait a quarter of an hour and try again."

_SIX_DIGITS = re.compile(r"[0-9]{6}")


class TooManyAttempts(AccountError):
    def __init__(self) -> None:
        super().__init__(TOO_MANY)


class WrongPassword(AccountError):
    def __init__(self) -> None:
        super().__init__(WRONG_PASSWORD)


class WrongCode(AccountError):
    """Not a current code of the account's authenticator, or one accepted before."""


@dataclass(frozen=True)
class SignedIn:
    """A new signed-in session for the cookie; with `second_factor_next`, only half signed in."""

    cookie_secret: str
    second_factor_next: bool
    user_email: str


def start_signed_in_session(session: Session, user: User, user_agent: str) -> SignedIn:
    """A session after the password: complete, or waiting for the code if the account has one."""
    two_step = bool(user.totp_secret)
    cookie = start_web_session(session, user, fully_signed_in=not two_step, user_agent=user_agent)
    if not two_step:
        record(session, "signed in", user_id=user.id, actor=user.email)
    return SignedIn(cookie, two_step, user.email)


def _wrong_password_key(email: str, address: str) -> str:
    return f"{normalise_email(email)}\x00{address}"


def check_password(
    db: Database, email: str, password: str, address: str, now: datetime | None = None
) -> User:
    """The account, if `password` is its password; WrongPassword (the same whether or not the
    account exists) or TooManyAttempts otherwise."""
    key = _wrong_password_key(email, address)
    with db.transaction() as session:
        by_address = take(session, SIGN_IN_PER_ADDRESS, address, now)
        failures = peek(session, WRONG_PASSWORDS, key, now)
    if not (by_address.allowed and failures.allowed):
        raise TooManyAttempts
    with db.read() as session:
        user = find_user(session, email)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        with db.transaction() as session:
            take(session, WRONG_PASSWORDS, key, now)
        raise WrongPassword
    if needs_rehash(user.password_hash):
        with db.transaction() as session:
            user.password_hash = hash_password(password)
            session.add(user)
    return user


def sign_in_with_password(
    db: Database, email: str, password: str, address: str, user_agent: str
) -> SignedIn:
    user = check_password(db, email, password, address)
    with db.transaction() as session:
        return start_signed_in_session(session, user, user_agent)


# ---- authenticator codes --------------------------------------------------------------------


def code_step(secret: str, code: str, now: datetime | None = None) -> int | None:
    """The time step whose code `code` is, within one step of now (a phone's clock a little
    off, or a code typed as it changed); None if it matches none."""
    code = code.strip().replace(" ", "")
    if not secret or not _SIX_DIGITS.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now or utcnow())
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def use_code(db: Database, user_id: int, code: str, now: datetime | None = None) -> None:
    """Accept `code` if it is a current code of the account's authenticator, and use it up:
    it (and any code before it) is not accepted again. WrongCode or TooManyAttempts if not."""
    key = str(user_id)
    with db.transaction() as session:
        if not peek(session, WRONG_CODES, key, now).allowed:
            raise TooManyAttempts
    with db.read() as session:
        user = session.get(User, user_id)
    step = code_step(user.totp_secret, code, now) if user else None
    problem = WRONG_CODE
    if user is not None and step is not None:
        with db.transaction() as session:
            # One conditional UPDATE: two requests with the same code cannot both pass.
            used = session.execute(
                update(User)
                .where(
                    col(User.id) == user_id,
                    col(User.totp_secret) == user.totp_secret,
                    col(User.totp_last_step) < step,
                )
                .values(totp_last_step=step)
            )
        if rowcount(used) == 1:
            return
        problem = CODE_USED
    with db.transaction() as session:
        take(session, WRONG_CODES, key, now)
    raise WrongCode(problem)
