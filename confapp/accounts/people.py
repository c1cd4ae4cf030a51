"""Who holds which role at a conference, and taking a role away: the organisers' people page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, exists
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from confapp.accounts.audit import record
from confapp.accounts.service import AccountError, Principal, normalise_email
from confapp.db import column_length, rowcount
from confapp.models import AccountLink, ConferenceRole, ConferenceRoleName, OutboxMail, User
from confapp.times import utcnow
from confapp.translation import N_, _, ngettext

ORGANISER = ConferenceRoleName.organiser.value
MAX_EMAIL = column_length(User, "email")

# What each role may do, in the words the invitation form and mail use (translated where
# shown: role_description).
ROLE_DESCRIPTIONS = {
    ConferenceRoleName.organiser.value: N_("organiser: everything for this conference"),
    ConferenceRoleName.access_coordinator.value: N_(
        "access coordinator: the access-needs and childcare reports only"
    ),
    ConferenceRoleName.steward.value: N_("steward: the door only"),
}
# What each role is called in a sentence ("… is already organiser here").
ROLE_NAMES = {
    ConferenceRoleName.organiser.value: N_("organiser"),
    ConferenceRoleName.access_coordinator.value: N_("access coordinator"),
    ConferenceRoleName.steward.value: N_("steward"),
}


def role_description(role: str) -> str:
    """What a role may do, in the reader's language (an unknown role: its code)."""
    description = ROLE_DESCRIPTIONS.get(role)
    return _(description) if description is not None else role


def role_descriptions() -> dict[str, str]:
    """Every role's description in the reader's language, in the form's order."""
    return {role: _(description) for role, description in ROLE_DESCRIPTIONS.items()}


def role_name(role: str) -> str:
    """A role's name in the reader's language (an unknown role: its code in words)."""
    name = ROLE_NAMES.get(role)
    return _(name) if name is not None else role.replace("-", " ")


def role_names() -> dict[str, str]:
    return {role: _(name) for role, name in ROLE_NAMES.items()}


@dataclass(frozen=True)
class Person:
    user_id: int
    email: str
    roles: tuple[str, ...]
    has_second_factor: bool


@dataclass(frozen=True)
class PendingInvitation:
    id: int
    email: str
    role: str
    expires_at: datetime
    mail_state: str  # "sent", "queued" or "failed"


def clean_email(text: str) -> str:
    """A staff member's address, normalised as accounts store it; AccountError if it is none."""
    text = text.strip()
    if not text:
        raise AccountError(_("Give an e-mail address."))
    if len(text) > MAX_EMAIL:
        raise AccountError(
            ngettext(
                "This e-mail address is too long (%(count)d character at most).",
                "This e-mail address is too long (%(count)d characters at most).",
                MAX_EMAIL,
            )
            % {"count": MAX_EMAIL}
        )
    try:
        return normalise_email(validate_email(text, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise AccountError(
            _("This does not look like an e-mail address (like name@example.org).")
        ) from exc


def clean_role(text: str) -> str:
    if text not in ROLE_DESCRIPTIONS:
        raise AccountError(_("Choose a role: organiser, access coordinator or steward."))
    return text


def people_at(session: Session, conference_id: int) -> list[Person]:
    rows = session.exec(
        select(User, ConferenceRole.role)
        .join(ConferenceRole, col(ConferenceRole.user_id) == col(User.id))
        .where(ConferenceRole.conference_id == conference_id)
        .order_by(User.email, ConferenceRole.role)
    )
    people: dict[int, Person] = {}
    for user, role in rows:
        assert user.id is not None
        known = people.get(user.id)
        roles = (*known.roles, role) if known else (role,)
        people[user.id] = Person(user.id, user.email, roles, bool(user.totp_secret))
    return list(people.values())


def pending_invitations(
    session: Session, conference_id: int, now: datetime | None = None
) -> list[PendingInvitation]:
    """Invitations not yet accepted and not expired, with whether their mail went out."""
    now = now or utcnow()
    links = session.exec(
        select(AccountLink)
        .where(
            AccountLink.kind == "invitation",
            AccountLink.conference_id == conference_id,
            col(AccountLink.used_at).is_(None),
            AccountLink.expires_at > now,
        )
        .order_by(col(AccountLink.created_at).desc())
    ).all()
    found = []
    for link in links:
        assert link.id is not None
        mail = session.exec(
            select(OutboxMail)
            .where(OutboxMail.kind == "invitation", OutboxMail.reference_id == link.id)
            .order_by(col(OutboxMail.id).desc())
        ).first()
        state = {"sent": "sent", "failed": "failed"}.get(mail.status if mail else "", "queued")
        found.append(PendingInvitation(link.id, link.email, link.role, link.expires_at, state))
    return found


def revoke_role(
    session: Session, conference_id: int, user_id: int, role: str, by: Principal
) -> None:
    """Take a role away; the conference must keep at least one organiser, also when two
    organisers remove each other at the same moment."""
    user = session.get(User, user_id)
    if user is None:
        raise AccountError(_("That person does not hold that role here (any more)."))
    if role == ORGANISER:
        # PostgreSQL: lock the conference's organiser rows, so a concurrent removal waits for
        # this one and then sees it (SQLite takes its write lock at BEGIN and has no FOR UPDATE).
        session.exec(
            select(ConferenceRole.user_id)
            .where(ConferenceRole.conference_id == conference_id, ConferenceRole.role == ORGANISER)
            .with_for_update()
        ).all()
    statement = delete(ConferenceRole).where(
        col(ConferenceRole.user_id) == user_id,
        col(ConferenceRole.conference_id) == conference_id,
        col(ConferenceRole.role) == role,
    )
    if role == ORGANISER:
        # The check and the removal are one statement: only if another organiser remains.
        others = aliased(ConferenceRole)
        statement = statement.where(
            exists().where(
                col(others.conference_id) == conference_id,
                col(others.role) == ORGANISER,
                col(others.user_id) != user_id,
            )
        )
    if rowcount(session.execute(statement)) != 1:
        still_held = session.get(ConferenceRole, (user_id, conference_id, role))
        if still_held is not None:
            raise AccountError(
                _("This is the conference's only organiser: invite another before removing it.")
            )
        raise AccountError(_("That person does not hold that role here (any more)."))
    record(
        session,
        "role revoked",
        user_id=by.user_id,
        actor=by.email,
        conference_id=conference_id,
        detail=f"{user.email}: {role}",
    )


def cancel_invitation(session: Session, conference_id: int, link_id: int, by: Principal) -> bool:
    """Withdraw an invitation not yet accepted: its link stops working at once."""
    link = session.get(AccountLink, link_id)
    if (
        link is None
        or link.kind != "invitation"
        or link.conference_id != conference_id
        or link.used_at is not None
    ):
        return False
    link.used_at = utcnow()
    session.add(link)
    record(
        session,
        "invitation withdrawn",
        user_id=by.user_id,
        actor=by.email,
        conference_id=conference_id,
        detail=f"{link.email}: {link.role}",
    )
    return True
