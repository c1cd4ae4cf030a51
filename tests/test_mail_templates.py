"""Every mail is written as templates (templates/mail/), and whether a person may still get mail
is decided by one rule, whether it is asked of one registration as its mail is built or of the
whole table as mail is queued."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from confapp import mail_registry
from confapp.db import Database
from confapp.mail_compose import html_template, render_text, text_template
from confapp.models import (
    Registration,
    RegistrationStatus,
    TicketType,
    may_still_get_mail,
    may_still_get_mail_where,
)
from confapp.outbox import _builders
from confapp.programme.conference_file import LoadReport
from confapp.resources import templates_dir
from confapp.tickets.keys import ensure_signing_key
from confapp.tickets.tokens import new_ticket_code


def test_every_kind_of_mail_has_a_text_template_with_a_subject() -> None:
    assert mail_registry.MAIL_MODULES  # importing it registers every builder
    kinds = set(_builders)
    assert {"ticket", "manage_link", "notice", "programme_changes", "invitation"} <= kinds
    for kind in kinds:
        source = templates_dir() / "mail" / f"{kind}.txt"
        assert "{% set subject %}" in source.read_text(encoding="utf-8"), kind
        assert text_template(kind) is not None


def test_the_html_part_escapes_what_the_text_part_shows_as_typed() -> None:
    subject, text = render_text(
        "notice",
        {"conference_name": "Socialism <2027>", "notice_subject": "Room & time", "body": "a < b"},
    )
    assert "a < b" in text and "Socialism <2027>" in text  # plain text is not HTML-escaped
    assert "&lt;" not in text
    ticket_html = html_template("ticket")
    assert ticket_html is not None and ticket_html.environment.autoescape


@pytest.fixture
def registrations_of_every_kind(db: Database, demo: LoadReport) -> list[int]:
    """One registration for each combination of the facts the rule looks at."""
    key = ensure_signing_key(db)
    ids = []
    with db.transaction() as session:
        ticket_type = session.exec(select(TicketType)).first()
        assert ticket_type is not None
        for status, erased, email, consent in itertools.product(
            (RegistrationStatus.active, RegistrationStatus.cancelled),
            (False, True),
            ("", "someone@example.org"),
            (False, True),
        ):
            registration = Registration(
                conference_id=ticket_type.conference_id,
                ticket_type_id=ticket_type.id or 0,
                ticket_code=new_ticket_code(),
                signing_key_id=key.key_id,
                name="Someone",
                email=email,
                email_consent=consent,
                status=status.value,
                erased_at=datetime(2027, 7, 10, tzinfo=UTC) if erased else None,
            )
            session.add(registration)
            session.flush()
            assert registration.id is not None
            ids.append(registration.id)
    return ids


@pytest.mark.parametrize("programme_mail", [True, False], ids=["programme mail", "asked-for mail"])
def test_one_rule_chooses_whom_to_queue_for_and_whom_to_send_to(
    db: Database, registrations_of_every_kind: list[int], programme_mail: bool
) -> None:
    mine = col(Registration.id).in_(registrations_of_every_kind)
    with db.read() as session:
        queued_for = set(
            session.exec(
                select(Registration.id).where(
                    mine, *may_still_get_mail_where(programme_mail=programme_mail)
                )
            )
        )
        sent_to = {
            registration.id
            for registration in session.exec(select(Registration).where(mine))
            if may_still_get_mail(registration, programme_mail=programme_mail)
        }
        active_with_address_not_erased = {
            registration.id
            for registration in session.exec(select(Registration).where(mine))
            if registration.status == "active"
            and registration.erased_at is None
            and registration.email
            and (registration.email_consent or not programme_mail)
        }
    assert queued_for == sent_to == active_with_address_not_erased
    assert len(sent_to) == (1 if programme_mail else 2)
    assert not may_still_get_mail(None, programme_mail=programme_mail)
