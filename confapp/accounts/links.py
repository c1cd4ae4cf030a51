"""Invitations and password resets: one-use, expiring links sent by mail.

A link's secret is made when its mail is built and only its hash is kept, so nothing in the
database can be followed; it is used up by one conditional UPDATE, so two clicks (or two app
processes) can never both use it. Following a link signs the person in, but never past their
second factor: an account with one still has to give the code. An invitation to an address that
already has an account signs in only with that account's password (or adds the role to the
account already signed in): the link alone is not a way into someone's account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import update
from sqlmodel import Session, col, select

from confapp import urls
from confapp.accounts.audit import record
from confapp.accounts.passwords import password_problem
from confapp.accounts.people import (
    MAX_EMAIL,
    clean_email,
    clean_role,
    role_description,
    role_name,
)
from confapp.accounts.secrets import new_secret, secret_hash
from confapp.accounts.service import (
    AccountError,
    Principal,
    end_other_web_sessions,
    find_user,
    normalise_email,
    revoke_api_tokens,
    set_password,
)
from confapp.accounts.sign_in import (
    SignedIn,
    WrongPassword,
    check_password,
    start_signed_in_session,
)
from confapp.db import Database, rowcount
from confapp.mail_compose import compose_mail
from confapp.models import AccountLink, Conference, ConferenceRole, OutboxMail, User
from confapp.outbox import mail_builder, queue_mail
from confapp.settings import Settings
from confapp.throttle import HOUR, Decision, Limit, take
from confapp.times import utcnow
from confapp.translation import _

INVITATION = "invitation"
PASSWORD_RESET = "password_reset"
INVITATION_VALID = timedelta(days=7)
PASSWORD_RESET_VALID = timedelta(hours=1)
INVITATION_PREFIX = "/admin/invitations/"
PASSWORD_RESET_PREFIX = "/admin/password-reset/"

# Staff are tens of people: a few resets an hour per account is plenty, and the per-e-mail
# count is taken whether or not the account exists, so hitting it tells nobody anything.
RESETS_PER_ADDRESS = Limit("password-reset-address", 20, HOUR)
RESETS_PER_EMAIL = Limit("password-reset-email", 3, HOUR)

# Why a link cannot be followed, as the page says it.
UNKNOWN, USED, EXPIRED = "unknown", "used", "expired"


class LinkProblem(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def invitation_path(secret: str) -> str:
    return INVITATION_PREFIX + secret


def password_reset_path(secret: str) -> str:
    return PASSWORD_RESET_PREFIX + secret


def choose_password_problem(password: str, again: str) -> str | None:
    if password != again:
        return _("The two passwords differ. Type the same one twice.")
    return password_problem(password)


def find_link(session: Session, kind: str, secret: str, now: datetime | None = None) -> AccountLink:
    """The link a secret opens, or LinkProblem saying why it opens nothing."""
    now = now or utcnow()
    if not secret or len(secret) > 100:
        raise LinkProblem(UNKNOWN)
    link = session.exec(
        select(AccountLink).where(
            AccountLink.token_hash == secret_hash(secret), AccountLink.kind == kind
        )
    ).first()
    if link is None:
        raise LinkProblem(UNKNOWN)
    if link.used_at is not None:
        raise LinkProblem(USED)
    if link.expires_at <= now:
        raise LinkProblem(EXPIRED)
    return link


def _use_up(session: Session, link_id: int, now: datetime) -> None:
    used = session.execute(
        update(AccountLink)
        .where(
            col(AccountLink.id) == link_id,
            col(AccountLink.used_at).is_(None),
            col(AccountLink.expires_at) > now,
        )
        .values(used_at=now)
    )
    if rowcount(used) != 1:
        raise LinkProblem(USED)


def _queue_link_mail(session: Session, link: AccountLink) -> int:
    session.add(link)
    session.flush()
    mail = queue_mail(session, link.kind, None)
    mail.reference_id = link.id
    session.add(mail)
    assert mail.id is not None
    return mail.id


# ---- invitations ----------------------------------------------------------------------------


def invite(
    session: Session,
    conference: Conference,
    email: str,
    role: str,
    by: Principal,
    mails_per_recipient: Limit,
    now: datetime | None = None,
) -> int:
    """Invite someone to a role by mail; returns the queued mail's id. AccountError if the
    address or role is not valid, the person holds the role already, or the address has had
    enough mail this hour."""
    assert conference.id is not None
    email = clean_email(email)
    role = clean_role(role)
    user = find_user(session, email)
    if user is not None and session.get(ConferenceRole, (user.id, conference.id, role)) is not None:
        raise AccountError(
            _("%(email)s is already %(role)s here.") % {"email": email, "role": role_name(role)}
        )
    now = now or utcnow()
    if not take(session, mails_per_recipient, email, now).allowed:
        raise AccountError(_("Several mails have gone to this address just now; try again later."))
    link = AccountLink(
        kind=INVITATION,
        email=email,
        conference_id=conference.id,
        role=role,
        created_by_user_id=by.user_id,
        created_at=now,
        expires_at=now + INVITATION_VALID,
    )
    mail_id = _queue_link_mail(session, link)
    record(
        session,
        "invited",
        user_id=by.user_id,
        actor=by.email,
        conference_id=conference.id,
        detail=f"{email}: {role}",
    )
    return mail_id


@dataclass(frozen=True)
class Invitation:
    """What the invitation page shows before it is accepted."""

    email: str
    role: str
    conference: Conference
    has_account: bool
    expires_at: datetime


def open_invitation(db: Database, secret: str) -> Invitation:
    with db.read() as session:
        link = find_link(session, INVITATION, secret)
        conference = session.get(Conference, link.conference_id)
        if conference is None:
            raise LinkProblem(UNKNOWN)
        has_account = find_user(session, link.email) is not None
    return Invitation(link.email, link.role, conference, has_account, link.expires_at)


def accept_invitation(
    db: Database,
    secret: str,
    password: str,
    again: str,
    user_agent: str,
    *,
    address: str,
    signed_in_as: int | None = None,
) -> tuple[SignedIn | None, Invitation]:
    """Use the invitation and add its role. For an address without an account, the account is
    made with `password` (typed twice as `again`) and the person signed in. For an address with
    one, the person shows it is theirs: signed in as it already (`signed_in_as`: the role is
    added, nothing else changes, and None is returned for the session) or by its password
    (checked and throttled like signing in; then signed in, through the second factor if the
    account has one). LinkProblem or AccountError otherwise."""
    invitation = open_invitation(db, secret)
    owner_id: int | None = None
    if invitation.has_account:
        with db.read() as session:
            existing = find_user(session, invitation.email)
        if existing is not None and existing.id == signed_in_as:
            owner_id = existing.id
        elif not password:
            raise AccountError(
                _(
                    "Enter the password of the account for %(email)s to accept, or sign in to "
                    "that account first and open the link again."
                )
                % {"email": invitation.email}
            )
        else:
            try:
                owner_id = check_password(db, invitation.email, password, address).id
            except WrongPassword as exc:
                raise AccountError(
                    _("That is not the password of the account for %(email)s.")
                    % {"email": invitation.email}
                ) from exc
    else:
        problem = choose_password_problem(password, again)
        if problem:
            raise AccountError(problem)
    now = utcnow()
    with db.transaction() as session:
        link = find_link(session, INVITATION, secret, now)
        assert link.id is not None and link.conference_id is not None
        _use_up(session, link.id, now)
        user = find_user(session, link.email)
        if user is None:
            if invitation.has_account:  # deleted in between: start again with the form
                raise AccountError(_("Choose a password for your new account."))
            user = User(email=normalise_email(link.email))
            set_password(session, user, password)
            session.flush()
        elif user.id != owner_id:  # made (or re-made) in between: its password was not given
            raise AccountError(
                _("%(email)s has an account now: enter its password to accept.")
                % {"email": link.email}
            )
        assert user.id is not None
        if session.get(ConferenceRole, (user.id, link.conference_id, link.role)) is None:
            session.add(
                ConferenceRole(user_id=user.id, conference_id=link.conference_id, role=link.role)
            )
        record(
            session,
            "invitation accepted",
            user_id=user.id,
            actor=user.email,
            conference_id=link.conference_id,
            detail=link.role,
        )
        if signed_in_as is not None and user.id == signed_in_as:
            return None, invitation  # already signed in as the account: nothing more to do
        return start_signed_in_session(session, user, user_agent), invitation


@mail_builder(INVITATION)
def build_invitation_mail(
    session: Session, mail: OutboxMail, settings: Settings
) -> EmailMessage | None:
    link = _link_for_mail(session, mail, INVITATION)
    conference = session.get(Conference, link.conference_id) if link else None
    if link is None or conference is None:
        return None
    inviter = session.get(User, link.created_by_user_id) if link.created_by_user_id else None
    url = urls.absolute(settings.public_origin, invitation_path(_fresh_secret(session, link)))
    return compose_mail(
        sender=settings.mail_from,
        to=link.email,
        kind=INVITATION,
        context={
            "conference": conference,
            "who": inviter.email if inviter else _("An organiser"),
            "role": role_description(link.role),
            "expires_at": link.expires_at,
            "url": url,
        },
    )


# ---- password reset -------------------------------------------------------------------------


def request_password_reset(
    session: Session, email: str, address: str, now: datetime | None = None
) -> Decision | int | None:
    """A reset link by mail if the address has an account: the queued mail's id, None when no
    mail goes (no account, or enough mail this hour: the person is told the same either way),
    or the refusing Decision when this client has asked too often."""
    by_address = take(session, RESETS_PER_ADDRESS, address, now)
    if not by_address.allowed:
        return by_address
    email = normalise_email(email)
    if not email or len(email) > MAX_EMAIL:
        return None
    if not take(session, RESETS_PER_EMAIL, email, now).allowed:
        return None
    user = find_user(session, email)
    if user is None:
        return None
    now = now or utcnow()
    link = AccountLink(
        kind=PASSWORD_RESET, email=user.email, created_at=now, expires_at=now + PASSWORD_RESET_VALID
    )
    mail_id = _queue_link_mail(session, link)
    record(session, "password reset asked for", user_id=user.id, actor=user.email)
    return mail_id


def open_password_reset(db: Database, secret: str) -> str:
    """The e-mail address whose password the link resets, or LinkProblem."""
    with db.read() as session:
        link = find_link(session, PASSWORD_RESET, secret)
        if find_user(session, link.email) is None:
            raise LinkProblem(UNKNOWN)
    return link.email


def reset_password(
    db: Database, secret: str, password: str, again: str, user_agent: str
) -> SignedIn:
    """Set the new password, end every session and revoke every API token of the account, and
    sign the person in here."""
    open_password_reset(db, secret)
    problem = choose_password_problem(password, again)
    if problem:
        raise AccountError(problem)
    now = utcnow()
    with db.transaction() as session:
        link = find_link(session, PASSWORD_RESET, secret, now)
        assert link.id is not None
        _use_up(session, link.id, now)
        user = find_user(session, link.email)
        if user is None or user.id is None:
            raise LinkProblem(UNKNOWN)
        set_password(session, user, password)
        end_other_web_sessions(session, user.id, None)
        # Whoever had the old password may have made a token: it goes with the password.
        revoked = revoke_api_tokens(session, user.id)
        close_password_resets(session, user.email, now)
        record(
            session,
            "password reset by mail",
            user_id=user.id,
            actor=user.email,
            detail=f"{revoked} API tokens revoked" if revoked else "",
        )
        return start_signed_in_session(session, user, user_agent)


def close_password_resets(session: Session, email: str, now: datetime | None = None) -> None:
    """Once the password has changed, reset links already sent for it stop working."""
    session.execute(
        update(AccountLink)
        .where(
            col(AccountLink.kind) == PASSWORD_RESET,
            col(AccountLink.email) == normalise_email(email),
            col(AccountLink.used_at).is_(None),
        )
        .values(used_at=now or utcnow())
    )


@mail_builder(PASSWORD_RESET)
def build_password_reset_mail(
    session: Session, mail: OutboxMail, settings: Settings
) -> EmailMessage | None:
    link = _link_for_mail(session, mail, PASSWORD_RESET)
    if link is None or find_user(session, link.email) is None:
        return None
    url = urls.absolute(settings.public_origin, password_reset_path(_fresh_secret(session, link)))
    return compose_mail(
        sender=settings.mail_from, to=link.email, kind=PASSWORD_RESET, context={"url": url}
    )


# ---- both -----------------------------------------------------------------------------------


def _link_for_mail(session: Session, mail: OutboxMail, kind: str) -> AccountLink | None:
    """The mail's link while it can still be used; None: nothing worth sending any more."""
    link = session.get(AccountLink, mail.reference_id) if mail.reference_id else None
    if link is None or link.kind != kind or link.used_at is not None:
        return None
    return link if link.expires_at > utcnow() else None


def _fresh_secret(session: Session, link: AccountLink) -> str:
    # Made as the mail is built, so only this mail ever holds it; a retry makes a new one.
    secret = new_secret()
    link.token_hash = secret_hash(secret)
    session.add(link)
    return secret
