"""Mail about changed sessions, sent to a real SMTP server: an attendee who starred a session and
agreed to programme e-mails gets one message per batch of changes (not one per save), listing
what changed from what to what; nobody else gets one; and batchers running at once in several
processes never batch a change twice."""

from __future__ import annotations

import functools
import threading
from datetime import datetime, timedelta
from email.message import EmailMessage

import anyio
from sqlmodel import col, func, select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import OutboxMail, ProgrammeChange, ProgrammeChangeBatch, Registration
from confapp.outbox import send_due_mail
from confapp.programme.change_mail import PROGRAMME_CHANGES_MAIL, batch_programme_changes
from confapp.registration.privacy import erase_attendee
from confapp.registration.service import cancel_registration
from confapp.settings import Settings
from confapp.times import utcnow
from tests.support import DEMO
from tests.support.mail import Mailbox
from tests.support.programme import LENIN, STATE, WAGES, edit_session, sydney
from tests.support.registrations import register_and_star

QUIET = timedelta(seconds=600)


def send_all(db: Database, settings: Settings, mailbox: Mailbox) -> None:
    smtp = settings.with_overrides(smtp_host="127.0.0.1", smtp_port=mailbox.port)
    anyio.run(functools.partial(send_due_mail, db, smtp))


def change_mails(mailbox: Mailbox) -> list[EmailMessage]:
    return [m for m in mailbox.messages if "you starred" in str(m["Subject"])]


def content(mail: EmailMessage) -> str:
    return mail.get_content().replace("\r\n", "\n")


def batches(db: Database) -> list[ProgrammeChangeBatch]:
    with db.read() as session:
        return list(session.exec(select(ProgrammeChangeBatch)))


def queued_change_mails(db: Database) -> list[OutboxMail]:
    with db.read() as session:
        return list(
            session.exec(
                select(OutboxMail)
                .where(OutboxMail.kind == PROGRAMME_CHANGES_MAIL)
                .order_by(col(OutboxMail.id))
            )
        )


def unbatched(db: Database) -> int:
    with db.read() as session:
        return session.exec(
            select(func.count())
            .select_from(ProgrammeChange)
            .where(col(ProgrammeChange.mail_batch_id).is_(None))
        ).one()


def test_a_consenting_starrer_gets_one_mail_for_two_quick_changes_and_no_one_else_any(
    mail_client: TestClient, db: Database, settings: Settings, mailbox: Mailbox
) -> None:
    rosa = register_and_star(mail_client, "Rosa", consent=True, starred=[LENIN, STATE])
    register_and_star(mail_client, "Lucy", consent=False, starred=[LENIN])
    register_and_star(mail_client, "Clara", consent=True, starred=[WAGES])
    register_and_star(mail_client, "Emma", consent=True, starred=[])
    before = len(mailbox.messages)

    # An organiser moves the session, then a minute later gives it another room.
    saved = utcnow()
    edit_session(db, LENIN, saved, start=sydney(10, 11, 30), end=sydney(10, 13))
    edit_session(db, LENIN, saved + timedelta(minutes=1), room="foyer")

    # Still at work: nothing is batched until the programme has been quiet for ten minutes.
    assert batch_programme_changes(db, saved + timedelta(minutes=5)) == 0
    assert batches(db) == [] and unbatched(db) == 2
    quiet = saved + timedelta(minutes=1) + QUIET
    assert batch_programme_changes(db, quiet) == 1
    assert batch_programme_changes(db, quiet + timedelta(minutes=1)) == 0  # nothing left
    [batch] = batches(db)
    [queued] = queued_change_mails(db)
    assert queued.reference_id == batch.id and unbatched(db) == 0

    send_all(db, settings, mailbox)

    [mail] = change_mails(mailbox)
    assert len(mailbox.messages) == before + 1
    assert mail["To"] == "rosa@example.org"
    assert mail["Subject"] == "A session you starred has changed – Socialism 2027"
    assert mail["Auto-Submitted"] == "auto-generated"
    text = content(mail)
    assert "Hello Rosa," in text
    assert "Lenin and the 1903 congress: what was the split really about?" in text
    assert "- Moved: Sat 10 Jul 09:30–11:00 → Sat 10 Jul 11:30–13:00" in text
    assert "- New room: The Refectory → Courtyard Foyer" in text
    assert "Now: Sat 10 Jul 11:30–13:00, Courtyard Foyer" in text
    assert f"http://testserver/{DEMO}/sessions/{LENIN}" in text
    assert rosa["agenda_feed_url"] in text and "/agenda/" in rosa["agenda_feed_url"]
    assert f"http://testserver/{DEMO}/changes" in text
    assert "The state and revolution" not in text  # starred, but not changed
    assert "agreed to programme e-mails from Socialism 2027" in text
    assert "/my-ticket/" not in text and "/tickets/" not in text

    # Sent once: the next rounds send nothing more.
    assert batch_programme_changes(db, quiet + timedelta(hours=2)) == 0
    send_all(db, settings, mailbox)
    assert len(change_mails(mailbox)) == 1


def test_changes_that_never_stop_are_mailed_within_the_hour(
    client: TestClient, db: Database
) -> None:
    register_and_star(client, "Rosa", consent=True, starred=[LENIN])
    saved = utcnow()
    for minutes in range(0, 60, 5):  # a save every five minutes, never ten quiet ones
        hour = 10 + minutes // 30
        edit_session(
            db, LENIN, saved + timedelta(minutes=minutes), start=sydney(10, hour, minutes % 30)
        )
        assert batch_programme_changes(db, saved + timedelta(minutes=minutes, seconds=30)) == 0
    assert batch_programme_changes(db, saved + timedelta(minutes=60, seconds=1)) == 1
    assert len(queued_change_mails(db)) == 1


def test_a_session_moved_and_moved_back_in_one_batch_is_not_mailed(
    mail_client: TestClient, db: Database, settings: Settings, mailbox: Mailbox
) -> None:
    register_and_star(mail_client, "Rosa", consent=True, starred=[LENIN, STATE])
    saved = utcnow()
    edit_session(db, LENIN, saved, room="foyer")
    edit_session(db, LENIN, saved + timedelta(minutes=1), room="refectory")
    assert batch_programme_changes(db, saved + timedelta(minutes=20)) == 1
    assert queued_change_mails(db) == []

    # The next batch has a real change in it again: the mail names only that.
    edit_session(db, LENIN, saved + timedelta(minutes=30), room="foyer")
    edit_session(db, STATE, saved + timedelta(minutes=31), status="cancelled")
    edit_session(db, STATE, saved + timedelta(minutes=32), status="confirmed")
    edit_session(db, STATE, saved + timedelta(minutes=33), title="Can we vote our way there?")
    assert batch_programme_changes(db, saved + timedelta(minutes=50)) == 1
    send_all(db, settings, mailbox)
    [mail] = change_mails(mailbox)
    assert mail["Subject"] == "2 sessions you starred have changed – Socialism 2027"
    text = content(mail)
    assert "- New room: The Refectory → Courtyard Foyer" in text
    assert "Cancelled" not in text and "Back on" not in text
    assert "- Renamed: “The state and revolution: can we vote our way to socialism?” → " in text
    # Listed by time: both at 09:30 on Saturday, then by title.
    assert text.index("Can we vote our way there?\n") < text.index("Lenin and the 1903")


def test_who_cancels_is_erased_or_unstars_before_the_mail_goes_gets_nothing(
    mail_client: TestClient, db: Database, settings: Settings, mailbox: Mailbox
) -> None:
    register_and_star(mail_client, "Rosa", consent=True, starred=[LENIN])
    clara = register_and_star(mail_client, "Clara", consent=True, starred=[LENIN])
    register_and_star(mail_client, "Emma", consent=True, starred=[LENIN])
    register_and_star(mail_client, "Lucy", consent=True, starred=[LENIN])
    saved = utcnow()
    edit_session(db, LENIN, saved, status="cancelled")
    assert batch_programme_changes(db, saved + QUIET) == 1
    assert len(queued_change_mails(db)) == 4

    # Between batching and sending: Clara unstars it, Emma is erased, Lucy cancels.
    unstar = mail_client.post(f"{clara['manage_path']}/star/{LENIN}", data={"starred": "no"})
    assert unstar.status_code in (200, 303)
    erase_attendee(db, registration_id_named(db, "Emma"))
    cancel_registration(db, registration_id_named(db, "Lucy"))

    send_all(db, settings, mailbox)
    [mail] = change_mails(mailbox)
    assert mail["To"] == "rosa@example.org"
    text = content(mail)
    assert "Lenin and the 1903 congress: what was the split really about? (CANCELLED)" in text
    assert "- Cancelled: this session will not take place" in text
    assert queued_change_mails(db)[0].status == "sent"
    assert len(queued_change_mails(db)) == 1  # the others were dropped, not left to retry


def registration_id_named(db: Database, name: str) -> int:
    with db.read() as session:
        found = session.exec(select(Registration.id).where(Registration.name == name)).one()
    assert found is not None
    return found


def test_batchers_running_at_once_make_one_batch(client: TestClient, db: Database) -> None:
    register_and_star(client, "Rosa", consent=True, starred=[LENIN])
    register_and_star(client, "Clara", consent=True, starred=[LENIN])
    # Each batcher has its own connections, as separate app processes would.
    processes = [Database(db.url) for _ in range(4)]
    saved = utcnow()
    try:
        for round_ in range(3):
            at = saved + timedelta(hours=round_)
            edit_session(db, LENIN, at, start=sydney(10, 12 + round_), end=sydney(10, 13 + round_))
            edit_session(
                db, STATE, at + timedelta(seconds=1), room=("foyer", "seminar-1")[round_ % 2]
            )
            made = run_at_once(processes, at + QUIET + timedelta(seconds=1))
            assert sum(made) == 1, made
            assert len(batches(db)) == round_ + 1 and unbatched(db) == 0
            assert len(queued_change_mails(db)) == 2 * (round_ + 1)
    finally:
        for process in processes:
            process.dispose()
    with db.read() as session:
        per_batch = session.exec(
            select(ProgrammeChange.mail_batch_id, func.count()).group_by(
                ProgrammeChange.mail_batch_id
            )
        ).all()
    assert sorted(n for _, n in per_batch) == [2, 2, 2]


def run_at_once(processes: list[Database], now: datetime) -> list[int]:
    start = threading.Barrier(len(processes))
    made: list[int] = []
    errors: list[BaseException] = []

    def batcher(process: Database) -> None:
        try:
            start.wait()
            made.append(batch_programme_changes(process, now))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=batcher, args=(p,)) for p in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return made
