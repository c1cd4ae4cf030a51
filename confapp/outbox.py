"""Sending queued mail over SMTP, with retries, from any number of app processes.

The outbox knows no domain. A domain queues a row of some `kind` (in its own transaction, so a
mail server that is down never fails or slows what the person was doing) and registers a
builder for that kind with `@mail_builder(kind)`. A sender claims a due row with a conditional
UPDATE (so two processes never send the same mail), asks the kind's builder for the message
from the database at that moment, sends it with aiosmtplib and records the outcome. Failures
are retried with a growing delay; each attempt and its error are kept on the row. A message that
can never be built (its builder fails on the data) ends as failed with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

import aiosmtplib
import anyio
from sqlalchemy import or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from confapp.db import Database, rowcount, saved_ids
from confapp.models import OutboxMail, Registration
from confapp.settings import Settings
from confapp.times import utcnow
from confapp.translation import current_language, in_language

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


def mail_status(db: Database, registration_id: int, kind: str | None = None) -> MailStatus | None:
    """The newest mail to a registration, or the newest of one `kind`: the ticket page's
    "confirmation e-mail" is the ticket mail, not a later programme change or notice."""
    of_kind = [OutboxMail.kind == kind] if kind is not None else []
    with db.read() as session:
        mail = session.exec(
            select(OutboxMail)
            .where(OutboxMail.registration_id == registration_id, *of_kind)
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
                col(OutboxMail.id) == mail_id,
                col(OutboxMail.status) == "pending",
                col(OutboxMail.next_attempt_at) <= now,
                or_(col(OutboxMail.claimed_until).is_(None), col(OutboxMail.claimed_until) < now),
            )
            .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
            .execution_options(synchronize_session=False)
        )
        return rowcount(claimed) == 1


class Undeliverable(Exception):
    """This mail can never be sent as it is (e.g. its ticket's signing key was retired)."""


# Builds the message for a queued row inside a write transaction (a builder may record what it
# put in the mail, such as a fresh link secret); None: there is no longer anything to send.
MailBuilder = Callable[[Session, OutboxMail, Settings], EmailMessage | None]
_builders: dict[str, MailBuilder] = {}


def mail_builder(kind: str) -> Callable[[MailBuilder], MailBuilder]:
    """Register the builder of one kind of mail (a domain module does this at import)."""

    def register(builder: MailBuilder) -> MailBuilder:
        _builders[kind] = builder
        return builder

    return register


def queue_mail(
    session: Session,
    kind: str,
    registration_id: int | None,
    reference_id: int | None = None,
    language: str | None = None,
) -> OutboxMail:
    """Queue a mail inside the caller's transaction; it goes out after the commit.
    `reference_id`: the row the mail is about (an order, a refund), for its builder;
    `language`: for mail to no registration (a group's payer), else the request's."""
    mail = OutboxMail(
        registration_id=registration_id,
        kind=kind,
        language=language or current_language(),
        reference_id=reference_id,
    )
    session.add(mail)
    session.flush()
    return mail


def queue_mails(
    session: Session, kind: str, registration_ids: list[int], reference_id: int | None = None
) -> None:
    """Queue one mail of a kind per registration (a notice to many), in one INSERT: thousands
    of round trips would hold SQLite's write lock too long."""
    session.add_all(
        OutboxMail(registration_id=rid, kind=kind, reference_id=reference_id)
        for rid in registration_ids
    )


def _build(db: Database, settings: Settings, mail_id: int) -> EmailMessage | None:
    """The message to send, or None when there is no longer anything to tell anyone."""
    with db.transaction() as session:
        mail = session.get(OutboxMail, mail_id)
        if mail is None:
            return None
        builder = _builders.get(mail.kind)
        if builder is None:  # this process was started without that kind: another may send it
            raise LookupError(f"no builder for mail of kind {mail.kind!r} in this process")
        try:
            with in_language(_recipient_language(session, mail)):
                return builder(session, mail, settings)
        except (Undeliverable, SQLAlchemyError):
            raise
        except Exception as exc:  # the data cannot make a message: retrying will not help
            raise Undeliverable(f"the message cannot be built ({type(exc).__name__})") from exc


def _recipient_language(session: Session, mail: OutboxMail) -> str:
    """Mail to a registration is in the language they registered in; other mail in the
    language of the request that queued it."""
    if mail.registration_id is not None:
        registration = session.get(Registration, mail.registration_id)
        if registration is not None and registration.language:
            return registration.language
    return mail.language


def _record(
    db: Database, mail_id: int, error: str | None, now: datetime, give_up: bool = False
) -> None:
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
            if give_up or mail.attempts >= MAX_ATTEMPTS:
                mail.status = "failed"
            else:
                mail.next_attempt_at = now + retry_delay(mail.attempts)


NO_MAIL_SERVER = "no mail server is configured (CONFAPP_SMTP_HOST)"


def _note_no_mail_server(db: Database, mail_id: int) -> None:
    # Not an attempt: the mail waits, however long, until a server is configured.
    with db.transaction() as session:
        mail = session.get(OutboxMail, mail_id)
        if mail is not None and mail.status == "pending":
            mail.last_error = NO_MAIL_SERVER


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
    if not settings.smtp_host:
        await anyio.to_thread.run_sync(_note_no_mail_server, db, mail_id)
        return False
    if not await anyio.to_thread.run_sync(_claim, db, mail_id, now):
        return False
    try:
        message = await anyio.to_thread.run_sync(_build, db, settings, mail_id)
        if message is None:
            await anyio.to_thread.run_sync(_discard, db, mail_id)
            return False
        await _smtp_send(settings, message)
    except Undeliverable as exc:
        log.warning("mail %d cannot be sent: %s", mail_id, exc)
        await anyio.to_thread.run_sync(_record, db, mail_id, str(exc), now, True)
        return False
    except Exception as exc:  # any failure to send is one attempt; the mail is tried again
        # The SMTP server's reply may quote the recipient's address: log the kind of error only.
        log.warning("mail %d not sent (attempt will be retried): %s", mail_id, type(exc).__name__)
        await anyio.to_thread.run_sync(_record, db, mail_id, _reason(exc), now)
        return False
    await anyio.to_thread.run_sync(_record, db, mail_id, None, utcnow())
    return True


def _reason(exc: Exception) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{type(exc).__name__}: the mail server answered {exc.code}"
    return (
        f"{type(exc).__name__}: {exc}"
        if isinstance(exc, OSError | TimeoutError)
        else (type(exc).__name__)
    )


def _discard(db: Database, mail_id: int) -> None:
    with db.transaction() as session:
        mail = session.get(OutboxMail, mail_id)
        if mail is not None:
            session.delete(mail)


def _due_mail_ids(db: Database, now: datetime, limit: int) -> list[int]:
    with db.read() as session:
        return saved_ids(
            session.exec(
                select(col(OutboxMail.id))
                .where(OutboxMail.status == "pending", OutboxMail.next_attempt_at <= now)
                .order_by(col(OutboxMail.next_attempt_at))
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
        try:
            sent += await send_mail(db, settings, mail_id, now)
        except Exception:  # one bad row must not hold up the rest of the queue
            log.exception("mail %d: unexpected error while sending", mail_id)
    return sent
