"""Background work: end holds on places that were not paid for in time (and ask Stripe again
for refunds it could not take), batch programme changes into mail to those who starred the
sessions, send queued mail, erase expired data, prune throttles.

Every app process has its turn every `housekeeping_seconds`, but a round runs in one process at
a time on one database: a process that finds another's round under way skips its turn. The
steps stay safe to run twice at once (changes and mail are claimed row by row; erasure and
pruning are idempotent), so `confapp mail` run by hand beside the app, or a round whose lock
the database let go early (its connection cut), still sends nothing twice.

With no mail server set a round does no mail work: the changes wait to be batched and the mail
waits untouched (it already says why, from its first attempt). A round with nothing to erase or
prune then writes nothing at all.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import anyio

from confapp import mail_registry, throttle  # noqa: F401 - a builder for every kind of mail
from confapp.db import Database
from confapp.outbox import send_due_mail
from confapp.programme.change_mail import batch_programme_changes
from confapp.registration.payments import release_ended_holds, retry_pending_refunds
from confapp.registration.privacy import purge_expired_personal_data
from confapp.registration.voucher_setup import release_ended_vouchers
from confapp.settings import Settings
from confapp.times import utcnow

log = logging.getLogger("confapp.housekeeping")

PURGE_EVERY_SECONDS = 3600
ROUND_LOCK = "housekeeping"


@contextlib.asynccontextmanager
async def _round_lock(db: Database) -> AsyncIterator[bool]:
    """`db.try_lock(ROUND_LOCK)`, taken and let go in a worker thread (both reach the database)."""
    lock = db.try_lock(ROUND_LOCK)
    # Shielded: a shutdown arriving while the lock is being taken must not leave it taken.
    with anyio.CancelScope(shield=True):
        held = await anyio.to_thread.run_sync(lock.__enter__)
    try:
        yield held
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(lock.__exit__, None, None, None)


async def housekeeping_round(db: Database, settings: Settings, *, purge: bool) -> bool:
    """One round of background work; `purge` adds erasing expired data and pruning throttles.
    False: another process's round was under way, so this one did nothing."""
    async with _round_lock(db) as alone:
        if not alone:
            return False
        # Every round: a place held for 30 minutes must not wait an hour to come back.
        released = await anyio.to_thread.run_sync(release_ended_holds, db, settings.stripe_api_base)
        if released.expired or released.paid_at_the_last_moment:
            log.info(
                "holds ended: %d released, %d paid at the last moment",
                released.expired,
                released.paid_at_the_last_moment,
            )
        await anyio.to_thread.run_sync(retry_pending_refunds, db, settings.stripe_api_base)
        if freed := await anyio.to_thread.run_sync(release_ended_vouchers, db):
            log.info("vouchers ended: %d held places released", freed)
        if settings.smtp_host:
            await anyio.to_thread.run_sync(batch_programme_changes, db, utcnow())
            await send_due_mail(db, settings)
        if purge:
            report = await anyio.to_thread.run_sync(purge_expired_personal_data, db)
            if report.erased:
                log.info("erased %d attendees of %s", report.erased, report.conferences)
            await anyio.to_thread.run_sync(throttle.prune, db)
    return True


async def run_housekeeping(db: Database, settings: Settings) -> None:
    since_purge = PURGE_EVERY_SECONDS  # purge once at start
    while True:
        purge = since_purge >= PURGE_EVERY_SECONDS
        try:
            # A turn skipped because another process was at work keeps its purge for the next.
            if await housekeeping_round(db, settings, purge=purge) and purge:
                since_purge = 0
        except Exception:  # keep the loop alive; the next round tries again
            log.exception("housekeeping round failed")
        await anyio.sleep(settings.housekeeping_seconds)
        since_purge += settings.housekeeping_seconds
