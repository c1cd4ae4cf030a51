"""An organiser sends an essential notice (a venue change, a safety message): it reaches every
active attendee, whatever they chose about programme e-mails, says so in its subject, is listed
and audited as essential, and a second tap on "Send" does not send it twice."""

from __future__ import annotations

import functools
from typing import Any

import anyio
from sqlmodel import col, select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import AuditEntry, Notice
from confapp.outbox import send_due_mail
from confapp.registration.service import cancel_registration
from confapp.settings import Settings
from tests.support import DEMO
from tests.support.accounts import ORGANISER, sign_in_organiser
from tests.support.mail import Mailbox
from tests.support.pages import field_error
from tests.support.registrations import register, registration_id

NOTICES = f"/admin/{DEMO}/notices"
VENUE_CHANGE = {
    "subject": "The venue has changed",
    "body": "Saturday moves to the Town Hall, 2 High Street.",
    "audience": "all",
}


def send(client: TestClient, token: str, **fields: str) -> Any:
    return client.post(
        NOTICES,
        data={"csrf_token": token, **VENUE_CHANGE, "confirm": "send", **fields},
        follow_redirects=False,
    )


def deliver(db: Database, settings: Settings, mailbox: Mailbox) -> None:
    smtp = settings.with_overrides(smtp_host="127.0.0.1", smtp_port=mailbox.port)
    anyio.run(functools.partial(send_due_mail, db, smtp))


def test_an_essential_notice_reaches_those_who_declined_programme_mail_and_an_ordinary_one_does_not(
    client: TestClient, db: Database, settings: Settings, mailbox: Mailbox
) -> None:
    register(client, "Rosa", email_consent=True)
    register(client, "Lucy", email_consent=False)
    emma = register(client, "Emma", email_consent=False)["code"]
    cancel_registration(db, registration_id(db, emma))
    organiser = sign_in_organiser(client, db)

    ordinary = send(client, organiser, subject="A reminder", body="Bring a cup.")
    assert ordinary.status_code == 303
    preview = client.post(
        NOTICES, data={"csrf_token": organiser, **VENUE_CHANGE, "essential": "yes"}
    )
    assert "<strong>2 people</strong> will get this" in preview.text
    assert "whatever they chose about programme e-mails" in preview.text
    assert 'name="essential" value="yes"' in preview.text  # the send button keeps the flag
    essential = send(client, organiser, essential="yes")
    assert essential.status_code == 303
    deliver(db, settings, mailbox)

    notices = [m for m in mailbox.messages if not m["Subject"].startswith("Your ticket")]
    received = sorted((m["To"], m["Subject"]) for m in notices)
    assert received == [
        ("lucy@example.org", "Essential: The venue has changed"),
        ("rosa@example.org", "A reminder"),
        ("rosa@example.org", "Essential: The venue has changed"),
    ]  # and nothing to Emma, who cancelled
    [to_lucy] = [m for m in notices if m["To"] == "lucy@example.org"]
    text = to_lucy.get_content()
    assert "Saturday moves to the Town Hall" in text
    assert "essential notice" in text and "agreed to programme e-mails" not in text

    listed = client.get(NOTICES).text
    assert "Essential: The venue has changed" in listed
    assert "Essential: A reminder" not in listed and "A reminder" in listed
    with db.read() as session:
        sent = {n.subject: n for n in session.exec(select(Notice))}
        audit = [
            (a.actor, a.detail)
            for a in session.exec(
                select(AuditEntry)
                .where(AuditEntry.action == "sent notice")
                .order_by(col(AuditEntry.id))
            )
        ]
    venue = sent["The venue has changed"]
    assert venue.essential and venue.recipients == 2
    assert not sent["A reminder"].essential
    assert audit == [
        (ORGANISER, f"notice {sent['A reminder'].id} to 1 recipients, audience all"),
        (ORGANISER, f"essential notice {venue.id} to 2 recipients, audience all"),
    ]


def test_the_double_tap_guard_tells_an_essential_notice_from_the_same_ordinary_one(
    client: TestClient, db: Database
) -> None:
    register(client, "Rosa", email_consent=True)
    register(client, "Lucy", email_consent=False)
    organiser = sign_in_organiser(client, db)

    assert send(client, organiser).status_code == 303
    # The same words marked essential are a new notice (to more people), not a double tap.
    assert send(client, organiser, essential="yes").status_code == 303
    again = send(client, organiser, essential="yes")
    assert again.status_code == 409
    assert "already went to 2 people" in again.text
    assert 'id="essential" name="essential" value="yes" checked' in again.text
    with db.read() as session:
        assert sorted(n.essential for n in session.exec(select(Notice))) == [False, True]


def test_a_forged_essential_value_is_refused_beside_the_field_and_the_typing_kept(
    client: TestClient, db: Database
) -> None:
    organiser = sign_in_organiser(client, db)
    refused = send(client, organiser, essential="maybe")
    assert refused.status_code == 422
    assert field_error(refused.text, "essential")
    assert "Saturday moves to the Town Hall" in refused.text
    with db.read() as session:
        assert not session.exec(select(Notice)).all()
