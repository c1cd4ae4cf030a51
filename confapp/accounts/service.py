"""Users and their roles, signed-in sessions and API tokens: the logic, without HTTP."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from confapp.accounts.passwords import hash_password
from confapp.accounts.secrets import new_secret, secret_hash
from confapp.db import Database, column_length, rowcount
from confapp.models import (
    ApiToken,
    Conference,
    ConferenceRole,
    ConferenceRoleName,
    User,
    WebSession,
)
from confapp.times import utcnow
from confapp.translation import _

# A signed-in session ends after this long without a request (a phone left at the venue).
IDLE_TIMEOUT = timedelta(hours=12)
# How often last_seen_at is written: not on every request, to spare the database.
TOUCH_EVERY = timedelta(minutes=5)

# Roles that can read attendee data, and so must use a second factor when it is required.
ROLES_READING_ATTENDEE_DATA = frozenset(
    {ConferenceRoleName.organiser.value, ConferenceRoleName.access_coordinator.value}
)


class AccountError(ValueError):
    """Something the person asked for cannot be done; the message says why."""


@dataclass(frozen=True)
class Principal:
    """Who is making a request, and what they may do."""

    user_id: int
    email: str
    roles: dict[int, frozenset[str]] = field(default_factory=dict)  # conference id -> roles
    # The signed-in session's id hash and CSRF token; None for an API token.
    session_id_hash: str | None = None
    csrf_token: str | None = None
    has_second_factor: bool = False

    def has_role(self, conference_id: int | None, *roles: str) -> bool:
        if conference_id is None:
            return False
        return bool(self.roles.get(conference_id, frozenset()) & set(roles))

    @property
    def conference_ids(self) -> list[int]:
        return sorted(self.roles)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == normalise_email(email))).first()


def roles_of(session: Session, user_id: int) -> dict[int, frozenset[str]]:
    found: dict[int, set[str]] = {}
    for row in session.exec(select(ConferenceRole).where(ConferenceRole.user_id == user_id)):
        found.setdefault(row.conference_id, set()).add(row.role)
    return {conference: frozenset(roles) for conference, roles in found.items()}


def principal_for(session: Session, user: User, web_session: WebSession | None = None) -> Principal:
    assert user.id is not None
    return Principal(
        user_id=user.id,
        email=user.email,
        roles=roles_of(session, user.id),
        session_id_hash=web_session.id_hash if web_session else None,
        csrf_token=web_session.csrf_token if web_session else None,
        has_second_factor=bool(user.totp_secret),
    )


def add_user_role(
    db: Database,
    email: str,
    role: str,
    conference_slug: str,
    password: str | None = None,
) -> tuple[User, bool]:
    """Create the user if need be (with `password`) and give them `role` at the conference.
    Returns the user and whether it was created."""
    if role not in {r.value for r in ConferenceRoleName}:
        raise AccountError(
            _("no such role: %(role)s (organiser, access-coordinator or steward)") % {"role": role}
        )
    with db.transaction() as session:
        conference = session.exec(
            select(Conference).where(Conference.slug == conference_slug)
        ).first()
        if conference is None or conference.id is None:
            raise AccountError(
                _("no conference with the slug %(slug)s") % {"slug": repr(conference_slug)}
            )
        user = find_user(session, email)
        created = user is None
        if user is None:
            if not password:
                raise AccountError(_("a new user needs a password"))
            user = User(email=normalise_email(email), password_hash=hash_password(password))
            session.add(user)
            session.flush()
        assert user.id is not None
        if session.get(ConferenceRole, (user.id, conference.id, role)) is None:
            session.add(ConferenceRole(user_id=user.id, conference_id=conference.id, role=role))
        return user, created


def set_password(session: Session, user: User, password: str) -> None:
    """A new password; every other signed-in session of the user ends."""
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    session.add(user)


# ---- signed-in sessions ---------------------------------------------------------------------


def start_web_session(
    session: Session, user: User, *, fully_signed_in: bool, user_agent: str = ""
) -> str:
    """A new signed-in session; returns the secret for the cookie (stored only as a hash)."""
    assert user.id is not None
    secret = new_secret()
    session.add(
        WebSession(
            id_hash=secret_hash(secret),
            user_id=user.id,
            csrf_token=new_secret(),
            fully_signed_in=fully_signed_in,
            user_agent=user_agent[:200],
        )
    )
    return secret


def web_session_for_cookie(
    db: Database, cookie: str | None, now: datetime | None = None
) -> tuple[WebSession, User] | None:
    """The live session a cookie names, touched as used; None if unknown or idle too long."""
    if not cookie or len(cookie) > 100:
        return None
    now = now or utcnow()
    with db.read() as session:
        web_session = session.get(WebSession, secret_hash(cookie))
        user = session.get(User, web_session.user_id) if web_session else None
    if web_session is None or user is None:
        return None
    if now - web_session.last_seen_at > IDLE_TIMEOUT:
        end_web_session(db, web_session.id_hash)
        return None
    if now - web_session.last_seen_at > TOUCH_EVERY:
        with db.transaction() as session:
            session.execute(
                update(WebSession)
                .where(col(WebSession.id_hash) == web_session.id_hash)
                .values(last_seen_at=now)
            )
    return web_session, user


def end_web_session(db: Database, id_hash: str) -> None:
    with db.transaction() as session:
        session.execute(delete(WebSession).where(col(WebSession.id_hash) == id_hash))


def end_other_web_sessions(session: Session, user_id: int, keep_id_hash: str | None) -> int:
    """Sign a user out everywhere but here (a lost phone); returns how many sessions ended."""
    statement = delete(WebSession).where(col(WebSession.user_id) == user_id)
    if keep_id_hash:
        statement = statement.where(col(WebSession.id_hash) != keep_id_hash)
    return rowcount(session.execute(statement)) or 0


def complete_second_factor(session: Session, id_hash: str) -> str | None:
    """The code is accepted: the half-signed-in session is replaced by a new, complete one
    under a new id, so an id seen before the code (planted, or read over a shoulder) opens
    nothing. Returns the new cookie secret; None if the session has ended meanwhile."""
    half = session.get(WebSession, id_hash)
    user = session.get(User, half.user_id) if half else None
    if half is None or user is None:
        return None
    session.delete(half)
    session.flush()
    return start_web_session(session, user, fully_signed_in=True, user_agent=half.user_agent)


# ---- API tokens -----------------------------------------------------------------------------


def create_api_token(session: Session, user: User, name: str = "") -> tuple[ApiToken, str]:
    """A new token for scripts and door devices; the secret is returned once, never stored."""
    assert user.id is not None
    secret = "confapp_" + new_secret()
    token = ApiToken(
        user_id=user.id,
        name=name[: column_length(ApiToken, "name")],
        token_hash=secret_hash(secret),
    )
    session.add(token)
    session.flush()
    return token, secret


def principal_for_api_token(
    db: Database, secret: str, now: datetime | None = None, *, session: Session | None = None
) -> Principal | None:
    """Who a live (unrevoked) API token speaks for; None if it is unknown or revoked. Read in
    the caller's `session` when given (a door scan reads everything it needs in one).

    A door device sends its token with every scan, so this is on the hot path: the token, its
    user and their roles are read fresh each time, in one query (a revocation or a role taken
    away counts at once in every process); only the write of last_used_at waits."""
    if not secret or len(secret) > 100:
        return None
    now = now or utcnow()
    with contextlib.nullcontext(session) if session is not None else db.read() as reading:
        # Columns, not whole rows: no password hash is loaded to answer a scan. (SQLAlchemy's
        # select: SQLModel's is typed for at most four columns.)
        rows = reading.execute(
            sa_select(
                col(ApiToken.id),
                col(ApiToken.last_used_at),
                col(User.id),
                col(User.email),
                col(User.totp_secret),
                col(ConferenceRole.conference_id),
                col(ConferenceRole.role),
            )
            .join(User, col(User.id) == ApiToken.user_id)
            .outerjoin(ConferenceRole, col(ConferenceRole.user_id) == User.id)
            .where(
                col(ApiToken.token_hash) == secret_hash(secret), col(ApiToken.revoked_at).is_(None)
            )
        ).all()
    if not rows:
        return None
    token_id, last_used_at, user_id, email, totp_secret = rows[0][:5]
    assert user_id is not None  # read from the database: saved
    roles: dict[int, set[str]] = {}
    for *_columns, conference_id, role in rows:
        if conference_id is not None:
            roles.setdefault(conference_id, set()).add(role)
    if last_used_at is None or now - last_used_at > TOUCH_EVERY:
        with db.transaction() as writing:
            writing.execute(
                update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=now)
            )
    return Principal(
        user_id=user_id,
        email=email,
        roles={conference_id: frozenset(names) for conference_id, names in roles.items()},
        has_second_factor=bool(totp_secret),
    )


def revoke_api_tokens(session: Session, user_id: int) -> int:
    """Revoke every live token of a user (a password reset); returns how many."""
    revoked = session.execute(
        update(ApiToken)
        .where(col(ApiToken.user_id) == user_id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    return rowcount(revoked) or 0


def revoke_api_token(session: Session, user_id: int, token_id: int) -> bool:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user_id or token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    session.add(token)
    return True
