"""Background work in each app process: batch programme changes into mail to those who starred
the sessions, retry queued mail, erase expired data, prune throttles.

Every step is safe to run in several processes at once (changes are claimed by a conditional
UPDATE, mail row by row; erasure and pruning are idempotent), so nothing needs electing a leader.
"""

from __future__ import annotations

import logging

import anyio

from confapp import mail_kinds, throttle  # noqa: F401 - mail_kinds: a builder for every kind
from confapp.db import Database
from confapp.outbox import send_due_mail
from confapp.programme.change_mail import batch_programme_changes
from confapp.registration.privacy import purge_expired_personal_data
from confapp.settings import Settings
from confapp.times import utcnow

log = logging.getLogger("confapp.housekeeping")

PURGE_EVERY_SECONDS = 3600


async def run_housekeeping(db: Database, settings: Settings) -> None:
    since_purge = PURGE_EVERY_SECONDS  # purge once at start
    while True:
        try:
            await anyio.to_thread.run_sync(batch_programme_changes, db, utcnow())
            await send_due_mail(db, settings)
            if since_purge >= PURGE_EVERY_SECONDS:
                report = await anyio.to_thread.run_sync(purge_expired_personal_data, db)
                if report.erased:
                    log.info("erased %d attendees of %s", report.erased, report.conferences)
                await anyio.to_thread.run_sync(throttle.prune, db)
                since_purge = 0
        except Exception:  # keep the loop alive; the next round tries again
            log.exception("housekeeping round failed")
        await anyio.sleep(settings.housekeeping_seconds)
        since_purge += settings.housekeeping_seconds
