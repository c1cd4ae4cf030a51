"""Throttles on abusable actions (registering, sending mail), counted in the database.

Counts live in `throttle_count`, one row per (bucket, hashed key, fixed window), so every app
process on every host sees the same numbers; nothing is kept in process memory. One hit is one
atomic upsert that returns the new count, so concurrent requests can never both take the last
allowed hit.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlmodel import Session, col

from confapp.db import Database, insert_on_conflict, rowcount, table_of
from confapp.models import ThrottleCount
from confapp.settings import Settings
from confapp.times import utcnow

HOUR = 3600
MAX_WINDOW_SECONDS = 24 * HOUR
# Windows are kept this long after they end, then pruned: long enough to look into an incident.
KEEP_ENDED_WINDOWS = timedelta(days=1)


@dataclass(frozen=True)
class Limit:
    """At most `max_hits` per key in each fixed window of `window_seconds`; 0 means no limit."""

    bucket: str
    max_hits: int
    window_seconds: int

    def __post_init__(self) -> None:
        if not 0 < self.window_seconds <= MAX_WINDOW_SECONDS:
            raise ValueError(f"a throttle window is 1 s to {MAX_WINDOW_SECONDS} s long")
        if self.max_hits < 0:
            raise ValueError("max_hits is 0 (no limit) or more")

    @property
    def enabled(self) -> bool:
        return self.max_hits > 0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # Seconds until the current window ends, for a Retry-After header; 0 when allowed.
    retry_after_seconds: int


@dataclass(frozen=True)
class Limits:
    registrations_per_address: Limit
    registrations_per_email: Limit
    mails_per_recipient: Limit


def limits_from(settings: Settings) -> Limits:
    return Limits(
        registrations_per_address=Limit(
            "registrations-per-address", settings.throttle_registrations_per_address_per_hour, HOUR
        ),
        registrations_per_email=Limit(
            "registrations-per-email", settings.throttle_registrations_per_email_per_hour, HOUR
        ),
        mails_per_recipient=Limit(
            "mails-per-recipient", settings.throttle_mails_per_recipient_per_hour, HOUR
        ),
    )


def key_hash(bucket: str, key: str) -> str:
    """What is stored instead of the key (a client address, an e-mail address).

    E-mail keys must be lower-cased by the caller first, so "Rosa@" and "rosa@" count as one.
    """
    return hashlib.sha256(f"{bucket}\x00{key}".encode()).hexdigest()


def window_start(limit: Limit, now: datetime) -> datetime:
    """`now` floored to the limit's window, counted from the Unix epoch in UTC."""
    seconds = int(now.timestamp()) // limit.window_seconds * limit.window_seconds
    return datetime.fromtimestamp(seconds, UTC)


def take(session: Session, limit: Limit, key: str, now: datetime | None = None) -> Decision:
    """Count one hit for `key` in the caller's transaction, and say whether it is allowed.

    Refused hits are counted too, so hammering does not shorten the wait. If the caller's
    transaction rolls back, its hit is not counted.
    """
    if not limit.enabled:
        return Decision(allowed=True, retry_after_seconds=0)
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("naive datetime given as now; attach a time zone first")
    start = window_start(limit, now)
    table = table_of(ThrottleCount)
    upsert = (
        insert_on_conflict(session, table)
        .values(
            bucket=limit.bucket, key_hash=key_hash(limit.bucket, key), window_start=start, hits=1
        )
        .on_conflict_do_update(
            index_elements=[table.c.bucket, table.c.key_hash, table.c.window_start],
            set_={"hits": table.c.hits + 1},
        )
        .returning(table.c.hits)
    )
    hits = session.execute(upsert).scalar_one()
    if hits <= limit.max_hits:
        return Decision(allowed=True, retry_after_seconds=0)
    window_end = start + timedelta(seconds=limit.window_seconds)
    wait = math.ceil((window_end - now).total_seconds())
    return Decision(allowed=False, retry_after_seconds=max(1, wait))


def give_back(session: Session, limit: Limit, key: str, now: datetime) -> None:
    """Uncount one hit taken at `now` (pass the same moment): for limits on failures, where
    every attempt takes its hit before it is tried (so concurrent attempts cannot overrun the
    limit) and one that succeeds gives it back."""
    if not limit.enabled:
        return
    session.execute(
        update(ThrottleCount)
        .where(
            col(ThrottleCount.bucket) == limit.bucket,
            col(ThrottleCount.key_hash) == key_hash(limit.bucket, key),
            col(ThrottleCount.window_start) == window_start(limit, now),
            col(ThrottleCount.hits) > 0,
        )
        .values(hits=col(ThrottleCount.hits) - 1)
    )


def hits_so_far(session: Session, limit: Limit, key: str, now: datetime | None = None) -> int:
    """How many hits `key` has in the current window, without counting one."""
    if not limit.enabled:
        return 0
    hits = session.execute(
        select(col(ThrottleCount.hits)).where(
            col(ThrottleCount.bucket) == limit.bucket,
            col(ThrottleCount.key_hash) == key_hash(limit.bucket, key),
            col(ThrottleCount.window_start) == window_start(limit, now or utcnow()),
        )
    ).scalar_one_or_none()
    return int(hits or 0)


def check_and_take(db: Database, limit: Limit, key: str, now: datetime | None = None) -> Decision:
    """`take` in a transaction of its own, for throttling before doing anything else."""
    if not limit.enabled:
        return Decision(allowed=True, retry_after_seconds=0)
    with db.transaction() as session:
        return take(session, limit, key, now)


def prune(db: Database, now: datetime | None = None) -> int:
    """Delete the counts of windows that ended more than a day ago; returns how many.

    The table does not record each window's length, so this goes by the longest a window may
    be: a row is deleted once even the longest window starting then would have ended a day ago.
    """
    cutoff = (now or utcnow()) - KEEP_ENDED_WINDOWS - timedelta(seconds=MAX_WINDOW_SECONDS)
    with db.transaction() as session:
        result = session.execute(
            delete(ThrottleCount).where(col(ThrottleCount.window_start) < cutoff)
        )
        return rowcount(result)
