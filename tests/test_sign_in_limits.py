"""The sign-in limits hold when an attacker sends fifty attempts at the same moment, and the
account-wide ceiling slows an attack from many addresses without locking the owner out. Each
story runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import update
from sqlmodel import col
from starlette.testclient import TestClient

from confapp.accounts.service import find_user
from confapp.accounts.sign_in import (
    ACCOUNT_WRONG_PASSWORDS,
    SLOWED_DELAYS,
    WRONG_CODES,
    WRONG_PASSWORDS,
    TooManyAttempts,
    WrongCode,
    WrongPassword,
    check_password,
    use_code,
)
from confapp.db import Database
from confapp.models import User
from confapp.programme.conference_file import LoadReport
from tests.support.accounts import PASSWORD, is_signed_in, make_organiser, sign_in

ATTACKER = "203.0.113.66"
OWNER_AT_HOME = "192.0.2.10"
# Early in a quarter-hour window, so no story crosses into the next one.
NOW = datetime(2027, 7, 6, 9, 0, 20, tzinfo=UTC)


@pytest.fixture
def organiser(db: Database, demo: LoadReport) -> str:
    return make_organiser(db)


def outcome_of_password(
    db: Database, email: str, password: str, address: str, now: datetime = NOW
) -> str:
    """What one attempt came to: "signed in", "checked and wrong", or "refused unchecked"."""
    try:
        check_password(db, email, password, address, now)
    except WrongPassword:
        return "checked and wrong"
    except TooManyAttempts:
        return "refused unchecked"
    return "signed in"


def at_once(attempt: object, count: int) -> Counter[str]:
    assert callable(attempt)
    with ThreadPoolExecutor(max_workers=count) as pool:
        return Counter(pool.map(lambda _: attempt(), range(count)))


def attack_from_many_addresses(db: Database, email: str, failures: int) -> None:
    """Wrong passwords for `email`, one from each of `failures` addresses."""
    for n in range(failures):
        outcome = outcome_of_password(db, email, "guess" * 3, f"198.51.100.{n + 1}")
        assert outcome == "checked and wrong"


def test_fifty_wrong_passwords_at_once_are_checked_only_up_to_the_limit(
    db: Database, organiser: str
) -> None:
    outcomes = at_once(lambda: outcome_of_password(db, organiser, "wrong password!", ATTACKER), 50)

    limit = WRONG_PASSWORDS.max_hits
    assert outcomes == {"checked and wrong": limit, "refused unchecked": 50 - limit}
    # The right password from that address is refused too, without being checked.
    assert outcome_of_password(db, organiser, PASSWORD, ATTACKER) == "refused unchecked"
    # The owner, elsewhere, is not locked out.
    assert outcome_of_password(db, organiser, PASSWORD, OWNER_AT_HOME) == "signed in"


def test_right_passwords_do_not_use_up_the_limit_for_wrong_ones(
    db: Database, organiser: str
) -> None:
    for _ in range(3 * WRONG_PASSWORDS.max_hits):
        assert outcome_of_password(db, organiser, PASSWORD, OWNER_AT_HOME) == "signed in"
    for _ in range(WRONG_PASSWORDS.max_hits):
        assert outcome_of_password(db, organiser, "typo typo typo", OWNER_AT_HOME) == (
            "checked and wrong"
        )
    assert outcome_of_password(db, organiser, PASSWORD, OWNER_AT_HOME) == "refused unchecked"


def test_an_attack_from_many_addresses_slows_them_but_the_owner_still_gets_in(
    db: Database, organiser: str
) -> None:
    ceiling = ACCOUNT_WRONG_PASSWORDS.max_hits
    attack_from_many_addresses(db, organiser, ceiling)

    # The addresses that have failed for the account now take turns, a few seconds apart.
    assert outcome_of_password(db, organiser, "guess" * 3, "198.51.100.1") == "checked and wrong"
    with pytest.raises(TooManyAttempts) as slowed:
        check_password(db, organiser, "guess" * 3, "198.51.100.2", NOW)
    assert 1 <= slowed.value.retry_after_seconds <= SLOWED_DELAYS[1]
    assert "wait" in str(slowed.value)
    # The owner, from an address with no failures, signs in at once.
    assert outcome_of_password(db, organiser, PASSWORD, OWNER_AT_HOME) == "signed in"


def test_past_the_ceiling_an_attacker_hammering_each_second_is_checked_ever_more_rarely(
    db: Database, organiser: str
) -> None:
    ceiling = ACCOUNT_WRONG_PASSWORDS.max_hits
    attack_from_many_addresses(db, organiser, ceiling)
    start = NOW + timedelta(seconds=40)

    checked = []
    for second in range(20 * 60):
        address = f"198.51.100.{second % ceiling + 1}"  # addresses that have failed already
        moment = start + timedelta(seconds=second)
        if outcome_of_password(db, organiser, "guess" * 3, address, moment) != (
            "refused unchecked"
        ):
            checked.append(second)

    gaps = [later - earlier for earlier, later in zip(checked, checked[1:], strict=False)]
    assert len(checked) <= 12, checked  # of 1,200 attempts
    assert gaps == sorted(gaps) and gaps[-1] >= SLOWED_DELAYS[-2], gaps
    # All the while, the owner from home is checked at once.
    assert outcome_of_password(db, organiser, PASSWORD, OWNER_AT_HOME, moment) == "signed in"


def test_fifty_attempts_at_once_from_failed_addresses_past_the_ceiling_check_one(
    db: Database, organiser: str
) -> None:
    attack_from_many_addresses(db, organiser, ACCOUNT_WRONG_PASSWORDS.max_hits)

    addresses = iter([f"198.51.100.{n % ACCOUNT_WRONG_PASSWORDS.max_hits + 1}" for n in range(50)])
    outcomes = at_once(lambda: outcome_of_password(db, organiser, "guess" * 3, next(addresses)), 50)

    assert outcomes == {"checked and wrong": 1, "refused unchecked": 49}


def test_the_owner_signs_in_through_the_form_after_an_attack_from_other_addresses(
    client: TestClient, organiser: str
) -> None:
    def attempt_from(address: str) -> int:
        attacker = TestClient(client.app, client=(address, 40000))
        answer = attacker.post("/admin/login", data={"email": organiser, "password": "nope" * 3})
        assert "slowed down" in answer.text or answer.status_code != 429
        return answer.status_code

    ceiling = ACCOUNT_WRONG_PASSWORDS.max_hits
    assert [attempt_from(f"198.51.100.{n + 1}") for n in range(ceiling)] == [401] * ceiling
    # From the addresses that have failed, the next is checked and the one after must wait.
    assert [attempt_from("198.51.100.1"), attempt_from("198.51.100.2")] == [401, 429]

    sign_in(client, organiser)
    assert is_signed_in(client)


# ---- authenticator codes --------------------------------------------------------------------


def with_authenticator(db: Database, email: str) -> tuple[int, str]:
    secret = pyotp.random_base32()
    with db.transaction() as session:
        user = find_user(session, email)
        assert user is not None and user.id is not None
        session.execute(update(User).where(col(User.id) == user.id).values(totp_secret=secret))
        return user.id, secret


def outcome_of_code(db: Database, user_id: int, code: str) -> str:
    try:
        use_code(db, user_id, code, NOW)
    except WrongCode:
        return "checked and wrong"
    except TooManyAttempts:
        return "refused unchecked"
    return "accepted"


def test_fifty_wrong_codes_at_once_are_checked_only_up_to_the_limit(
    db: Database, organiser: str
) -> None:
    user_id, secret = with_authenticator(db, organiser)
    current = pyotp.TOTP(secret).at(NOW)
    wrong = f"{(int(current) + 1) % 1_000_000:06d}"

    outcomes = at_once(lambda: outcome_of_code(db, user_id, wrong), 50)

    limit = WRONG_CODES.max_hits
    assert outcomes == {"checked and wrong": limit, "refused unchecked": 50 - limit}
    assert outcome_of_code(db, user_id, current) == "refused unchecked"


def test_right_codes_do_not_use_up_the_limit_for_wrong_ones(db: Database, organiser: str) -> None:
    user_id, secret = with_authenticator(db, organiser)
    totp = pyotp.TOTP(secret)
    for _ in range(WRONG_CODES.max_hits - 1):
        assert outcome_of_code(db, user_id, "12345x") == "checked and wrong"
    assert outcome_of_code(db, user_id, totp.at(NOW)) == "accepted"
    assert outcome_of_code(db, user_id, totp.at(NOW, counter_offset=1)) == "accepted"
    # The right codes gave their hits back: one more wrong code is still checked.
    assert outcome_of_code(db, user_id, "12345x") == "checked and wrong"
    assert outcome_of_code(db, user_id, "12345x") == "refused unchecked"
