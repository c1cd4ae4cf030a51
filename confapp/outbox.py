"""Sending queued mail over SMTP, with retries, from any number of app processes.

Registration only writes a row to the outbox (in its own transaction), so a mail server that
is down never fails or slows a registration. A sender claims a due row with a conditional
UPDATE (so two processes never send the same mail), builds the message from the database at
that moment, sends it with aiosmtplib and records the outcome. Failures are retried with a
growing delay; each attempt and its error are kept on the row, where the ticket page shows it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

import aiosmtplib
import anyio
from sqlalchemy import or_, update
from sqlmodel import col, select

from confapp.db import Database
from confapp.models import OutboxMail, Registration
from confapp.settings import Settings
from confapp.tickets.mail import ticket_message
from confapp.tickets.ticket import load_ticket
from confapp.times import utcnow

log = logging.getLogger("confapp.mail")

CLAIM_SECONDS = 120
MAX_ATTEMPTS = 12
# 1 min, 2, 4, ... capped at 6 hours: a mail server down for a day still gets the mail.
_MAX_DELAY = timedelta(hours=6)


def retry_delay(attempts: int) -> timedelta:
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), _MAX_DELAY)


@dataclass(frozen=True)
class MailStatus:
    """What the ticket page says about the confirmation mail."""

    state: str  # "sent", "queued", "failed"
    attempts: int
    last_error: str
    sent_at: datetime | None
    next_attempt_at: datetime | None


def mail_status(db: Database, registration_id: int) -> MailStatus | None:
    with db.read() as session:
        mail = session.exec(
            select(OutboxMail)
            .where(OutboxMail.registration_id == registration_id)
            .order_by(col(OutboxMail.id).desc())
        ).first()
    if mail is None:
        return None
    state = {"sent": "sent", "failed": "failed"}.get(mail.status, "queued")
    return MailStatus(state, mail.attempts, mail.last_error, mail.sent_at, mail.next_attempt_at)


def _claim(db: Database, mail_id: int, now: datetime) -> bool:
    with db.transaction() as session:
        claimed = session.execute(
            update(OutboxMail)
            .where(
                OutboxMail.id == mail_id,
                OutboxMail.status == "pending",
                OutboxMail.next_attempt_at <= now,
                or_(col(OutboxMail.claimed_until).is_(None), OutboxMail.claimed_until < now),
            )
            .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
            .execution_options(synchronize_session=False)
        )
        return claimed.rowcount == 1


def _build(db: Database, settings: Settings, mail_id: int) -> EmailMessage | None:
    with db.read() as session:
        mail = session.get(OutboxMail, mail_id)
        if mail is None or mail.registration_id is None:
            return None
        registration = session.get(Registration, mail.registration_id)
        if registration is None or registration.erased_at is not None or not registration.email:
            return None
        ticket = load_ticket(session, registration)
    return ticket_message(ticket, settings.public_origin, settings.mail_from)


def _record(db: Database, mail_id: int, error: str | None, now: datetime) -> None:
    with db.transaction() as session:
        mail = session.get(OutboxMail, mail_id)
        if mail is None:
            return
        mail.attempts += 1
        mail.claimed_until = None
        if error is None:
            mail.status, mail.sent_at, mail.last_error = "sent", now, ""
        else:
            mail.last_error = error[:500]
            if mail.attempts >= MAX_ATTEMPTS:
                mail.status = "failed"
            else:
                mail.next_attempt_at = now + retry_delay(mail.attempts)


async def _smtp_send(settings: Settings, message: EmailMessage) -> None:
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
        start_tls=settings.smtp_starttls,
        use_tls=settings.smtp_tls,
        timeout=20,
    )


async def send_mail(
    db: Database, settings: Settings, mail_id: int, now: datetime | None = None
) -> bool:
    """Try to send one queued mail now, if it is due and no one else is sending it."""
    now = now or utcnow()
    if not await anyio.to_thread.run_sync(_claim, db, mail_id, now):
        return False
    if not settings.smtp_host:
        await anyio.to_thread.run_sync(
            _record, db, mail_id, "no mail server is configured (CONFAPP_SMTP_HOST)", now
        )
        return False
    try:
        message = await anyio.to_thread.run_sync(_build, db, settings, mail_id)
        if message is None:
            await anyio.to_thread.run_sync(_discard, db, mail_id)
            return False
        await _smtp_send(settings, message)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        log.warning("mail %d not sent (attempt will be retried): %s", mail_id, exc)
        await anyio.to_thread.run_sync(_record, db, mail_id, f"{type(exc).__name__}: {exc}", now)
        return False
    await anyio.to_thread.run_sync(_record, db, mail_id, None, utcnow())
    return True


def _discard(db: Database, mail_id: int) -> None:
    with db.transaction() as session:
        mail = session.get(OutboxMail, mail_id)
        if mail is not None:
            session.delete(mail)


def _due_mail_ids(db: Database, now: datetime, limit: int) -> list[int]:
    with db.read() as session:
        return list(
            session.exec(
                select(OutboxMail.id)
                .where(OutboxMail.status == "pending", OutboxMail.next_attempt_at <= now)
                .order_by(OutboxMail.next_attempt_at)
                .limit(limit)
            )
        )


async def send_due_mail(
    db: Database, settings: Settings, limit: int = 100, now: datetime | None = None
) -> int:
    """Send what is due (at `now`, default the present); returns how many went out."""
    now = now or utcnow()
    ids = await anyio.to_thread.run_sync(_due_mail_ids, db, now, limit)
    sent = 0
    for mail_id in ids:
        sent += await send_mail(db, settings, mail_id, now)
    return sent
