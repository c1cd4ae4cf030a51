"""Mail to attendees: a short plain-text notice from the organisers to every active registration
that agreed to programme e-mails, or to those of one ticket type, through the outbox. An essential
notice (a venue change, a safety message) goes to every active registration, whatever the person
chose about programme e-mails.

Sending writes the notice and one outbox mail per recipient in one transaction. Each mail is
built when it goes out, from the registration as it is then: an attendee who has cancelled, been
erased or withdrawn consent since gets nothing. No mail carries the ticket page's link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage

from babel.numbers import format_decimal
from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from confapp.accounts.audit import record
from confapp.accounts.service import Principal
from confapp.content import localized
from confapp.db import Database, saved_ids
from confapp.mail_compose import compose_mail, render_text
from confapp.models import (
    Conference,
    Notice,
    OutboxMail,
    Registration,
    TicketType,
    may_still_get_mail,
    may_still_get_mail_where,
)
from confapp.outbox import mail_builder, queue_mails
from confapp.programme.records import FormFields, translation_key
from confapp.settings import Settings
from confapp.times import utcnow
from confapp.translation import _, babel_locale, ngettext

NOTICE_MAIL = "notice"
NOTICE_FIELDS = ("subject", "body", "audience", "essential")
# The value of the "essential" checkbox when ticked.
ESSENTIAL = "yes"
EVERYONE = "all"
MAX_SUBJECT_CHARS = 150
MAX_BODY_CHARS = 5_000
# The same notice sent again this soon is a second tap on "Send", not a second notice.
RESEND_GUARD = timedelta(minutes=10)


class AlreadySent(Exception):
    """The same notice went to the same audience a moment ago."""

    def __init__(self, notice: Notice) -> None:
        super().__init__(f"notice {notice.id} was sent at {notice.created_at}")
        # Copied now: the transaction that found the notice rolls back as this is raised.
        self.sent_at: datetime = notice.created_at
        self.recipients = notice.recipients


@dataclass(frozen=True)
class NoticeDraft:
    subject: str
    body: str
    ticket_type: TicketType | None  # None: everyone who consented
    essential: bool = False  # to every active attendee, consent or not
    # The subject and body in the conference's other languages: each recipient gets theirs.
    translations: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def audience(self) -> str:
        return self.ticket_type.code if self.ticket_type else EVERYONE


def _subject(typed: str, errors: dict[str, str], key: str, *, required: bool) -> str:
    subject = " ".join(typed.split())
    if any(c in typed for c in "\r\n"):
        errors[key] = _("Keep the subject on one line.")
    elif not subject and required:
        errors[key] = _("Give the mail a subject, like “Room change for Saturday’s plenary”.")
    elif len(subject) > MAX_SUBJECT_CHARS:
        errors[key] = ngettext(
            "Keep the subject under %(count)d character.",
            "Keep the subject under %(count)d characters.",
            MAX_SUBJECT_CHARS,
        ) % {"count": MAX_SUBJECT_CHARS}
    return subject


def _body(typed: str, errors: dict[str, str], key: str, *, required: bool) -> str:
    body = typed.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not body and required:
        errors[key] = _("Write the message.")
    elif len(body) > MAX_BODY_CHARS:
        locale = babel_locale()
        errors[key] = ngettext(
            "Keep the message under %(limit)s character (it has %(length)s): a notice is short; "
            "link to the website for more.",
            "Keep the message under %(limit)s characters (it has %(length)s): a notice is "
            "short; link to the website for more.",
            MAX_BODY_CHARS,
        ) % {
            "limit": format_decimal(MAX_BODY_CHARS, locale=locale),
            "length": format_decimal(len(body), locale=locale),
        }
    return body


def notice_form_fields(*more: str) -> FormFields:
    """The names the notice form may send, its per-language subject and body included."""
    return FormFields((*NOTICE_FIELDS, *more), Notice.TRANSLATED)


def check_notice(
    form: Mapping[str, str], ticket_types: Sequence[TicketType], languages: Sequence[str] = ()
) -> tuple[NoticeDraft | None, dict[str, str]]:
    """The notice as typed, or a message per field. `languages`: the conference's other
    languages, each with an optional subject and body of its own (checked as the default's)."""
    errors: dict[str, str] = {}
    subject = _subject(form.get("subject", ""), errors, "subject", required=True)
    body = _body(form.get("body", ""), errors, "body", required=True)
    translations: dict[str, dict[str, str]] = {}
    for language in languages:
        subject_key = translation_key(language, "subject")
        body_key = translation_key(language, "body")
        texts = {
            "subject": _subject(form.get(subject_key, ""), errors, subject_key, required=False),
            "body": _body(form.get(body_key, ""), errors, body_key, required=False),
        }
        if texts["subject"] and not texts["body"]:
            errors[body_key] = _("Write the message in this language too, or leave both empty.")
        elif texts["body"] and not texts["subject"]:
            errors[subject_key] = _("Give it a subject in this language too, or leave both empty.")
        elif texts["subject"]:
            translations[language] = texts
    audience = form.get("audience", "")
    ticket_type = next((t for t in ticket_types if t.code == audience), None)
    if audience != EVERYONE and ticket_type is None:
        errors["audience"] = _("Choose everyone, or one ticket type.")
    if form.get("essential", "") not in ("", ESSENTIAL):
        errors["essential"] = _("Tick the box, or leave it empty.")
    if errors:
        return None, errors
    essential = form.get("essential") == ESSENTIAL
    return NoticeDraft(subject, body, ticket_type, essential, translations), {}


def _notice_context(
    conference_name: str, subject: str, body: str, essential: bool
) -> dict[str, str | bool]:
    return {
        "conference_name": conference_name,
        "notice_subject": subject,
        "body": body,
        "essential": essential,
    }


def notice_text(conference_name: str, body: str, essential: bool = False) -> str:
    """The whole message as each recipient gets it (templates/mail/notice.txt): the body, then
    why they get it."""
    return render_text(NOTICE_MAIL, _notice_context(conference_name, "", body, essential))[1]


def _recipients(
    conference: Conference, ticket_type_id: int | None, essential: bool
) -> list[ColumnElement[bool]]:
    """Who a notice goes to: whoever may still get mail (active, not erased, has an address)
    and, unless the notice is essential, agreed to programme e-mails."""
    of_type = [col(Registration.ticket_type_id) == ticket_type_id] if ticket_type_id else []
    return [
        col(Registration.conference_id) == conference.id,
        *may_still_get_mail_where(programme_mail=not essential),
        *of_type,
    ]


def count_recipients(db: Database, conference: Conference, draft: NoticeDraft) -> int:
    ticket_type_id = draft.ticket_type.id if draft.ticket_type else None
    with db.read() as session:
        return session.exec(
            select(func.count())
            .select_from(Registration)
            .where(*_recipients(conference, ticket_type_id, draft.essential))
        ).one()


def send_notice(
    db: Database, conference: Conference, draft: NoticeDraft, actor: Principal
) -> Notice:
    """Write the notice and queue one mail per recipient, all or nothing. Raises AlreadySent."""
    ticket_type_id = draft.ticket_type.id if draft.ticket_type else None
    with db.transaction() as session:
        same = session.exec(
            select(Notice).where(
                Notice.conference_id == conference.id,
                Notice.subject == draft.subject,
                Notice.body == draft.body,
                Notice.ticket_type_id == ticket_type_id
                if ticket_type_id
                else col(Notice.ticket_type_id).is_(None),
                Notice.essential == draft.essential,
                Notice.created_at > utcnow() - RESEND_GUARD,
            )
        ).first()
        if same is not None:
            raise AlreadySent(same)
        recipients = saved_ids(
            session.exec(
                select(col(Registration.id))
                .where(*_recipients(conference, ticket_type_id, draft.essential))
                .order_by(col(Registration.id))
            )
        )
        notice = Notice(
            conference_id=conference.id or 0,
            ticket_type_id=ticket_type_id,
            subject=draft.subject,
            body=draft.body,
            created_by_user_id=actor.user_id,
            recipients=len(recipients),
            essential=draft.essential,
            translations=draft.translations,
        )
        session.add(notice)
        session.flush()
        queue_mails(session, NOTICE_MAIL, list(recipients), reference_id=notice.id)
        record(
            session,
            "sent notice",
            user_id=actor.user_id,
            actor=actor.email,
            conference_id=conference.id,
            detail=f"{'essential ' if draft.essential else ''}notice {notice.id} "
            f"to {len(recipients)} recipients, audience {draft.audience}",
        )
    return notice


@dataclass(frozen=True)
class PastNotice:
    notice: Notice
    audience: str  # a ticket type's name, or "" for everyone
    sent: int  # mails gone out so far
    failed: int  # mails given up on


def past_notices(db: Database, conference: Conference, limit: int = 50) -> list[PastNotice]:
    with db.read() as session:
        rows = session.exec(
            select(Notice, TicketType.name)
            .outerjoin(TicketType, col(TicketType.id) == Notice.ticket_type_id)
            .where(Notice.conference_id == conference.id)
            .order_by(col(Notice.created_at).desc(), col(Notice.id).desc())
            .limit(limit)
        ).all()
        ids = [notice.id for notice, _type_name in rows]
        outcomes: dict[tuple[int, str], int] = {}
        if ids:
            for reference_id, status, n in session.exec(
                select(OutboxMail.reference_id, OutboxMail.status, func.count())
                .where(OutboxMail.kind == NOTICE_MAIL, col(OutboxMail.reference_id).in_(ids))
                .group_by(col(OutboxMail.reference_id), col(OutboxMail.status))
            ):
                outcomes[(reference_id or 0, status)] = n
    return [
        PastNotice(
            notice,
            type_name or "",
            outcomes.get((notice.id or 0, "sent"), 0),
            outcomes.get((notice.id or 0, "failed"), 0),
        )
        for notice, type_name in rows
    ]


@mail_builder(NOTICE_MAIL)
def build_notice_mail(
    session: Session, mail: OutboxMail, settings: Settings
) -> EmailMessage | None:
    """The notice for one recipient, or None if they should no longer get it."""
    registration = session.get(Registration, mail.registration_id) if mail.registration_id else None
    notice = session.get(Notice, mail.reference_id) if mail.reference_id else None
    if (
        notice is None
        or not may_still_get_mail(registration, programme_mail=not notice.essential)
        or registration.conference_id != notice.conference_id
    ):
        return None
    conference = session.get(Conference, notice.conference_id)
    assert conference is not None
    # Built in the recipient's language (the outbox has put it in force).
    shown, conference_shown = localized(notice), localized(conference)
    # Notices have never carried Auto-Submitted (the other mails do).
    return compose_mail(
        sender=settings.mail_from,
        to=registration.email,
        kind=NOTICE_MAIL,
        context=_notice_context(conference_shown.name, shown.subject, shown.body, notice.essential),
        auto_submitted=False,
    )
