"""Proving who you are: a password, then an authenticator code, each throttled.

Only failures count towards an account's limits, and wrong passwords are counted per account and
client address, so someone elsewhere typing wrong passwords cannot lock the owner out; every
attempt still counts towards its address's own limit. Each attempt takes its hit before the
password (or code) is checked, in one atomic upsert, and gives it back if it was right: so
however many attempts arrive at once, no more than the limit are ever checked.

Across all addresses, an account past ACCOUNT_WRONG_PASSWORDS wrong passwords in a window is
slowed, not locked: from the addresses that have already failed for it, one attempt is checked
per window of a few seconds (SLOWED_DELAYS, doubling with each further failure, up to about five
minutes), while an address with no failures for it in that window (the owner, most likely) is
checked as usual. Wrong codes are counted per account (the password is already known by then),
and a code, once accepted, is never accepted again.
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
from confapp.throttle import HOUR, Decision, Limit, give_back, hits_so_far, take
from confapp.times import utcnow
from confapp.translation import N_, _, ngettext

# Staff are tens of people: a handful of wrong passwords is normal, hundreds are an attack.
SIGN_IN_PER_ADDRESS = Limit("signin-address", 60, HOUR // 4)
WRONG_PASSWORDS = Limit("signin-wrong-password", 10, HOUR // 4)
WRONG_CODES = Limit("signin-wrong-code", 10, HOUR // 4)
# Across every address: past this, addresses that have failed for the account are slowed.
ACCOUNT_WRONG_PASSWORDS = Limit("signin-account-wrong-password", 30, HOUR)
# Wrong passwords per account and address over the same window: only counted (to tell the
# addresses that have failed from those that have not), never refused on.
FAILED_FROM_ADDRESS = Limit("signin-failed-from-address", 1, HOUR)
# Seconds between the attempts then checked, doubling with each failure past the ceiling.
SLOWED_DELAYS = (5, 10, 20, 40, 80, 160, 320)

# Translated where raised (the reader's language): _(WRONG_PASSWORD).
WRONG_PASSWORD = N_("That e-mail address and password do not match an account.")
WRONG_CODE = N_("That code did not match. Codes change every 30 seconds; try the current one.")
CODE_USED = N_(
    "That code has been used already. Wait for the next one: codes change every 30 seconds."
)
TOO_MANY = N_(
    "Too many attempts to sign in just now. Please wait a quarter of an hour and try again."
)

_SIX_DIGITS = re.compile(r"[0-9]{6}")


class TooManyAttempts(AccountError):
    def __init__(self, message: str | None = None, retry_after_seconds: int = 0) -> None:
        super().__init__(message if message is not None else _(TOO_MANY))
        self.retry_after_seconds = retry_after_seconds


def _slowed_down(seconds: int) -> TooManyAttempts:
    return TooManyAttempts(
        ngettext(
            "Many wrong passwords have been tried for this account just now, so it is slowed "
            "down. Please wait %(seconds)d second and try again.",
            "Many wrong passwords have been tried for this account just now, so it is slowed "
            "down. Please wait %(seconds)d seconds and try again.",
            seconds,
        )
        % {"seconds": seconds},
        seconds,
    )


class WrongPassword(AccountError):
    def __init__(self) -> None:
        super().__init__(_(WRONG_PASSWORD))


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


def slowed_delay(account_failures: int) -> int:
    """Seconds between the attempts an address that has failed may make for an account past
    its ceiling: the first of SLOWED_DELAYS, one further along with each failure past it."""
    past = max(0, account_failures - ACCOUNT_WRONG_PASSWORDS.max_hits)
    return SLOWED_DELAYS[min(past, len(SLOWED_DELAYS) - 1)]


def _slowed(delay: int) -> Limit:
    # A bucket per delay: windows of different lengths would otherwise share rows.
    return Limit(f"signin-account-slowed-{delay}s", 1, delay)


def _account_slowdown(
    session: Session, account: str, address_has_failed: bool, now: datetime
) -> Decision:
    """Whether an attempt may go ahead under the account-wide ceiling: it always may from an
    address with no failures for the account; otherwise, past the ceiling, one attempt per
    window of `slowed_delay` seconds, for the whole account."""
    failures = hits_so_far(session, ACCOUNT_WRONG_PASSWORDS, account, now)
    if not address_has_failed or failures < ACCOUNT_WRONG_PASSWORDS.max_hits:
        return Decision(allowed=True, retry_after_seconds=0)
    delay = slowed_delay(failures)
    decision = take(session, _slowed(delay), account, now)
    if decision.allowed:
        # Marked in the longer delays' windows too (they nest), so should this attempt fail,
        # the next waits for the end of the longer window rather than starting a fresh one.
        for longer in SLOWED_DELAYS:
            if longer > delay:
                take(session, _slowed(longer), account, now)
    return decision


def check_password(
    db: Database, email: str, password: str, address: str, now: datetime | None = None
) -> User:
    """The account, if `password` is its password; WrongPassword (the same whether or not the
    account exists) or TooManyAttempts otherwise."""
    now = now or utcnow()  # one moment throughout, so a hit given back is the one taken
    key = _wrong_password_key(email, address)
    account = normalise_email(email)
    slowed = False
    with db.transaction() as session:
        allowed = take(session, SIGN_IN_PER_ADDRESS, address, now)
        if allowed.allowed:
            failed_here = hits_so_far(session, FAILED_FROM_ADDRESS, key, now) > 0
            allowed = _account_slowdown(session, account, failed_here, now)
            slowed = not allowed.allowed
        if allowed.allowed:
            allowed = take(session, WRONG_PASSWORDS, key, now)
    if not allowed.allowed:
        raise _slowed_down(allowed.retry_after_seconds) if slowed else TooManyAttempts()
    with db.read() as session:
        user = find_user(session, email)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        with db.transaction() as session:
            take(session, ACCOUNT_WRONG_PASSWORDS, account, now)
            take(session, FAILED_FROM_ADDRESS, key, now)
        raise WrongPassword
    with db.transaction() as session:
        give_back(session, WRONG_PASSWORDS, key, now)
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
            session.add(user)
    return user


def sign_in_with_password(
    db: Database,
    email: str,
    password: str,
    address: str,
    user_agent: str,
    now: datetime | None = None,
) -> SignedIn:
    user = check_password(db, email, password, address, now)
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
    now = now or utcnow()
    key = str(user_id)
    # The hit is taken before the code is checked and given back if it was right.
    with db.transaction() as session:
        allowed = take(session, WRONG_CODES, key, now).allowed
    if not allowed:
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
                give_back(session, WRONG_CODES, key, now)
                return
        problem = CODE_USED
    raise WrongCode(_(problem))
