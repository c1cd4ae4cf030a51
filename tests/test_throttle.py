"""Throttles counted in the database: limits, windows, hashing, sharing and concurrency."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from confapp.db import Database
from confapp.models import ThrottleCount
from confapp.settings import Settings
from confapp.throttle import Decision, Limit, check_and_take, limits_from, prune, take

PER_HOUR_3 = Limit("test-per-hour", max_hits=3, window_seconds=3600)
# Twenty minutes into an hour window: forty minutes of it left.
NOW = datetime(2027, 7, 9, 8, 20, 0, tzinfo=UTC)


def _rows(db: Database) -> list[ThrottleCount]:
    with db.read() as session:
        return list(session.exec(select(ThrottleCount)).all())


def test_hits_up_to_the_limit_are_allowed_and_the_next_waits_for_the_window(
    db: Database,
) -> None:
    decisions = [check_and_take(db, PER_HOUR_3, "203.0.113.7", NOW) for _ in range(3)]
    assert all(d.allowed for d in decisions)

    refused = check_and_take(db, PER_HOUR_3, "203.0.113.7", NOW)
    assert refused == Decision(allowed=False, retry_after_seconds=40 * 60)
    # Another key has its own count.
    assert check_and_take(db, PER_HOUR_3, "198.51.100.1", NOW).allowed


def test_retry_after_is_at_least_one_second(db: Database) -> None:
    last_moment = datetime(2027, 7, 9, 8, 59, 59, 999000, tzinfo=UTC)
    for _ in range(3):
        check_and_take(db, PER_HOUR_3, "key", last_moment)
    assert check_and_take(db, PER_HOUR_3, "key", last_moment).retry_after_seconds == 1


def test_a_new_window_allows_again(db: Database) -> None:
    for _ in range(4):
        check_and_take(db, PER_HOUR_3, "rosa@example.org", NOW)
    assert not check_and_take(db, PER_HOUR_3, "rosa@example.org", NOW).allowed

    next_hour = datetime(2027, 7, 9, 9, 0, 0, tzinfo=UTC)
    assert check_and_take(db, PER_HOUR_3, "rosa@example.org", next_hour).allowed


def test_a_hit_in_a_transaction_that_rolls_back_is_not_counted(db: Database) -> None:
    one = Limit("test-one", max_hits=1, window_seconds=60)
    try:
        with db.transaction() as session:
            assert take(session, one, "key", NOW).allowed
            raise RuntimeError("the registration failed")
    except RuntimeError:
        pass
    assert check_and_take(db, one, "key", NOW).allowed


def test_a_limit_of_zero_never_refuses_and_stores_nothing(db: Database) -> None:
    off = Limit("test-off", max_hits=0, window_seconds=3600)
    assert all(check_and_take(db, off, "key", NOW).allowed for _ in range(20))
    assert _rows(db) == []


def test_keys_are_stored_only_as_hashes(db: Database) -> None:
    check_and_take(db, PER_HOUR_3, "rosa@example.org", NOW)
    check_and_take(db, PER_HOUR_3, "203.0.113.7", NOW)
    rows = _rows(db)
    assert {row.key_hash for row in rows} == {
        hashlib.sha256(b"test-per-hour\x00rosa@example.org").hexdigest(),
        hashlib.sha256(b"test-per-hour\x00203.0.113.7").hexdigest(),
    }
    for row in rows:
        assert row.bucket == "test-per-hour"
        assert row.window_start == datetime(2027, 7, 9, 8, 0, 0, tzinfo=UTC)
        assert row.hits == 1


def test_two_processes_on_one_database_share_the_count(db: Database) -> None:
    other_process = Database(db.url)
    try:
        assert check_and_take(db, PER_HOUR_3, "key", NOW).allowed
        assert check_and_take(other_process, PER_HOUR_3, "key", NOW).allowed
        assert check_and_take(db, PER_HOUR_3, "key", NOW).allowed
        assert not check_and_take(other_process, PER_HOUR_3, "key", NOW).allowed
    finally:
        other_process.dispose()


def test_forty_at_once_against_a_limit_of_ten_gets_exactly_ten(db: Database) -> None:
    ten = Limit("test-concurrent", max_hits=10, window_seconds=3600)
    with ThreadPoolExecutor(max_workers=40) as pool:
        futures = [pool.submit(check_and_take, db, ten, "script", NOW) for _ in range(40)]
        decisions = [future.result() for future in futures]  # re-raises any exception
    assert sum(d.allowed for d in decisions) == 10
    assert all(d.retry_after_seconds == 40 * 60 for d in decisions if not d.allowed)
    assert [row.hits for row in _rows(db)] == [40]


def test_prune_removes_only_windows_that_ended_more_than_a_day_ago(db: Database) -> None:
    now = datetime(2027, 7, 12, 12, 0, 0, tzinfo=UTC)
    check_and_take(db, PER_HOUR_3, "current", now)
    check_and_take(db, PER_HOUR_3, "yesterday", now - timedelta(hours=23))
    check_and_take(db, PER_HOUR_3, "last week", now - timedelta(days=7))
    check_and_take(db, PER_HOUR_3, "three days ago", now - timedelta(days=3))

    assert prune(db, now) == 2
    with db.read() as session:
        remaining = {row.window_start for row in session.exec(select(ThrottleCount))}
    assert remaining == {
        datetime(2027, 7, 12, 12, 0, 0, tzinfo=UTC),
        datetime(2027, 7, 11, 13, 0, 0, tzinfo=UTC),
    }
    assert prune(db, now) == 0


def test_limits_come_from_settings_per_hour() -> None:
    limits = limits_from(Settings(seed_file=""))
    assert limits.registrations_per_address == Limit("registrations-per-address", 300, 3600)
    assert limits.registrations_per_email == Limit("registrations-per-email", 5, 3600)
    assert limits.mails_per_recipient == Limit("mails-per-recipient", 5, 3600)


def test_throttle_settings_are_read_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("CONFAPP_THROTTLE_REGISTRATIONS_PER_ADDRESS", "0")
    monkeypatch.setenv("CONFAPP_THROTTLE_REGISTRATIONS_PER_EMAIL", "2")
    monkeypatch.setenv("CONFAPP_THROTTLE_MAILS_PER_RECIPIENT", "7")
    limits = limits_from(Settings.from_env())
    assert not limits.registrations_per_address.enabled
    assert limits.registrations_per_email.max_hits == 2
    assert limits.mails_per_recipient.max_hits == 7
