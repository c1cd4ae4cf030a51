"""The database tables, as SQLModel classes. Queries live with their domain modules."""

from __future__ import annotations

import uuid as uuid_lib
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any, ClassVar, TypeGuard

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ColumnElement,
    Index,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlmodel import Field, SQLModel, col

from confapp.db import UTCDateTime
from confapp.times import utcnow


class SessionKind(StrEnum):
    talk = "talk"
    panel = "panel"
    debate = "debate"
    workshop = "workshop"
    plenary = "plenary"
    social = "social"


class SessionStatus(StrEnum):
    confirmed = "confirmed"
    cancelled = "cancelled"


class PersonRole(StrEnum):
    speaker = "speaker"
    chair = "chair"


class TicketKind(StrEnum):
    fixed = "fixed"
    pay_what_you_can = "pay_what_you_can"
    free = "free"


def _created() -> datetime:
    return utcnow()


class Conference(SQLModel, table=True):
    TRANSLATED: ClassVar[tuple[str, ...]] = ("name", "description")
    __table_args__ = (
        CheckConstraint(
            "capacity IS NULL OR places_taken <= capacity", name="conference_within_capacity"
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=80, unique=True, index=True)
    name: str = Field(max_length=200)
    timezone: str = Field(max_length=64)
    venue: str = Field(max_length=200)
    venue_address: str = Field(default="", max_length=300)
    start_date: date
    end_date: date
    description: str = Field(default="", sa_type=Text)
    url: str = Field(default="", max_length=500)
    currency: str = Field(default="AUD", max_length=3)
    capacity: int | None = None
    # Places held by active registrations; the database refuses to go past capacity.
    places_taken: int = 0
    # Solidarity pool: top-ups paid on top of tickets fund free places others can claim.
    solidarity_place_cents: int | None = None  # what one funded place costs; None: no pool
    solidarity_fund_cents: int = 0
    # Personal data is erased this many days after the conference ends.
    erase_after_days: int = 30
    # Organisers open and close online registration (it also closes after the last day).
    registration_open: bool = True
    # Every account that can read attendee data must use a second factor (TOTP) to sign in.
    second_factor_required: bool = False
    # Bumped by every change to rooms, tracks, speakers or sessions; caches and ETags key on it.
    programme_version: int = 1
    # None: the programme is a draft only organisers see. Once set, edits collect in a
    # working copy (StagedSession) until an organiser publishes them, unless
    # publish_each_save: then every save is public at once (useful on the day itself). Either
    # way what is published goes into the public changelog.
    programme_published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    publish_each_save: bool = False
    # What the door says when it admits an unpaid ticket: "desk" (send them to the desk),
    # "collect" (take the payment at the door) or "silent" (say nothing).
    unpaid_at_door: str = Field(default="desk", max_length=10)
    # The programme's daily hours, local time; sessions outside them are flagged as clashes.
    day_starts: time | None = None
    day_ends: time | None = None
    # The interface languages offered (BCP 47 tags, shipped catalogues), the default first
    # among them; readers get the best match to what they asked for, else the default.
    languages: list[str] = Field(
        default_factory=lambda: ["en"], sa_column=Column(JSON, nullable=False)
    )
    default_language: str = Field(default="en", max_length=20)
    # Organisers' words in the conference's other languages: {language: {field: text}} for the
    # fields TRANSLATED names; the plain columns hold the default language (confapp.content).
    translations: dict[str, dict[str, str]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)

    def other_languages(self) -> list[str]:
        """The languages besides the default, as offered: organisers' words may be given in
        each (`translations`), and the editor has a field per language for them."""
        return [language for language in self.languages if language != self.default_language]


class Room(SQLModel, table=True):
    TRANSLATED: ClassVar[tuple[str, ...]] = ("access_notes",)
    __table_args__ = (UniqueConstraint("conference_id", "slug"),)
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    slug: str = Field(max_length=80)
    name: str = Field(max_length=200)
    capacity: int | None = None
    access_notes: str = Field(default="", sa_type=Text)
    # None: nobody has said. A speaker who needs step-free access clashes with anything else.
    step_free: bool | None = None
    # Organisers' words in the conference's other languages: {language: {field: text}} for the
    # fields TRANSLATED names; the plain columns hold the default language (confapp.content).
    translations: dict[str, dict[str, str]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    position: int = 0
    # Goes up with every saved change: a write naming an older version is refused (409).
    version: int = 1
    updated_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)


class Track(SQLModel, table=True):
    TRANSLATED: ClassVar[tuple[str, ...]] = ("name", "description")
    __table_args__ = (UniqueConstraint("conference_id", "slug"),)
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    slug: str = Field(max_length=80)
    name: str = Field(max_length=200)
    colour: str = Field(default="#555555", max_length=7)
    description: str = Field(default="", sa_type=Text)
    # Organisers' words in the conference's other languages: {language: {field: text}} for the
    # fields TRANSLATED names; the plain columns hold the default language (confapp.content).
    translations: dict[str, dict[str, str]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    position: int = 0
    version: int = 1
    updated_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)


class Speaker(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("conference_id", "slug"),)
    id: int | None = Field(default=None, primary_key=True)
    uuid: str = Field(default_factory=lambda: str(uuid_lib.uuid4()), max_length=36, unique=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    slug: str = Field(max_length=80)
    name: str = Field(max_length=200)
    bio: str = Field(default="", sa_type=Text)
    pronouns: str = Field(default="", max_length=50)
    affiliation: str = Field(default="", max_length=200)
    links: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Organisers' data only (never public): the speaker needs rooms with step-free access.
    needs_step_free: bool = False
    # The language mail to the speaker is written in ("" : the conference's default).
    language: str = Field(default="", max_length=20)
    version: int = 1
    updated_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)


class ProgrammeSession(SQLModel, table=True):
    """A session in the programme (talk, panel, ...). Named so to keep clear of db sessions."""

    TRANSLATED: ClassVar[tuple[str, ...]] = ("title", "abstract")
    __tablename__ = "programme_session"
    __table_args__ = (
        UniqueConstraint("conference_id", "slug"),
        Index("ix_programme_session_conference_start", "conference_id", "start"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # Never changes once created: calendar UIDs and schedule-export GUIDs derive from it.
    uuid: str = Field(default_factory=lambda: str(uuid_lib.uuid4()), max_length=36, unique=True)
    conference_id: int = Field(foreign_key="conference.id")
    slug: str = Field(max_length=120)
    title: str = Field(max_length=300)
    abstract: str = Field(default="", sa_type=Text)
    kind: str = Field(default=SessionKind.talk.value, max_length=20)
    track_id: int | None = Field(default=None, foreign_key="track.id")
    room_id: int | None = Field(default=None, foreign_key="room.id")
    start: datetime = Field(sa_type=UTCDateTime)
    end: datetime = Field(sa_type=UTCDateTime)
    # The language the session is given in (not the reader's: see translations).
    language: str = Field(default="en", max_length=20)
    # Organisers' words in the conference's other languages: {language: {field: text}} for the
    # fields TRANSLATED names; the plain columns hold the default language (confapp.content).
    translations: dict[str, dict[str, str]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    status: str = Field(default=SessionStatus.confirmed.value, max_length=20)
    reading_list: list[dict[str, str]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    recording_url: str = Field(default="", max_length=500)
    # iCal SEQUENCE: goes up when start, end, room or status changes.
    sequence: int = 0
    # Goes up with every saved change (people too): a write naming an older one gets a 409.
    version: int = 1
    # Made in the editor or the API, not by a conference file: a file that lacks it does not
    # cancel it unless told to.
    made_on_web: bool = False
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)


class SessionPerson(SQLModel, table=True):
    __tablename__ = "session_person"
    session_id: int = Field(foreign_key="programme_session.id", primary_key=True)
    speaker_id: int = Field(foreign_key="speaker.id", primary_key=True, index=True)
    role: str = Field(default=PersonRole.speaker.value, max_length=20)
    position: int = 0


class ProgrammeChangeKind(StrEnum):
    added = "added"
    time = "time"
    room = "room"
    status = "status"
    title = "title"  # type: ignore[assignment]  # a member may be named like str.title


class ProgrammeChange(SQLModel, table=True):
    """One published change to a session, for the public changelog and the change mails.

    `before` and `after` hold values, not sentences, so pages can word them in any language:
    {"start", "end"} (ISO, UTC) for time, {"slug", "name"} for room, the status or the title.
    """

    __tablename__ = "programme_change"
    __table_args__ = (Index("ix_programme_change_conference_at", "conference_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id")
    session_id: int = Field(foreign_key="programme_session.id", index=True, ondelete="CASCADE")
    at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    kind: str = Field(max_length=10)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The release it was published in (None: saved while every save was public).
    release_id: int | None = Field(default=None, foreign_key="programme_release.id", index=True)
    # Set when the change has gone into a mail batch to those who starred the session.
    mail_batch_id: int | None = Field(
        default=None, foreign_key="programme_change_batch.id", index=True
    )


class ProgrammeRelease(SQLModel, table=True):
    """Pending changes published together by an organiser, with an optional public note."""

    __tablename__ = "programme_release"
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    note: str = Field(default="", sa_type=Text)
    by: str = Field(default="", max_length=254)


class StagedSession(SQLModel, table=True):
    """A session as it stands in the working copy of a published programme, not public yet:
    a change to a public session (`session_id`) or a new one (`session_id` None). `values`
    holds the whole record (ProgrammeSession's editable fields, times as ISO UTC) and `people`
    its [speaker id, role] pairs in billing order. Publishing applies it and deletes it."""

    __tablename__ = "staged_session"
    __table_args__ = (UniqueConstraint("conference_id", "slug"),)
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    session_id: int | None = Field(
        default=None, foreign_key="programme_session.id", unique=True, ondelete="CASCADE"
    )
    slug: str = Field(max_length=120)
    values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    people: list[list[Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The working copy's version of the session, for If-Match and the editor's forms.
    version: int = 1
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    updated_by: str = Field(default="", max_length=254)


class ProgrammeChangeBatch(SQLModel, table=True):
    """Changes mailed together: one message per attendee per batch, not per keystroke."""

    __tablename__ = "programme_change_batch"
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)


class TicketType(SQLModel, table=True):
    TRANSLATED: ClassVar[tuple[str, ...]] = ("name", "description")
    __tablename__ = "ticket_type"
    __table_args__ = (
        UniqueConstraint("conference_id", "code"),
        CheckConstraint(
            "capacity IS NULL OR places_taken <= capacity", name="ticket_type_within_capacity"
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    code: str = Field(max_length=40)
    name: str = Field(max_length=200)
    description: str = Field(default="", sa_type=Text)
    # Organisers' words in the conference's other languages: {language: {field: text}} for the
    # fields TRANSLATED names; the plain columns hold the default language (confapp.content).
    translations: dict[str, dict[str, str]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    kind: str = Field(default=TicketKind.fixed.value, max_length=20)
    # Money in the smallest currency unit (cents).
    price_cents: int = 0
    min_price_cents: int = 0
    suggested_price_cents: int | None = None
    capacity: int | None = None
    places_taken: int = 0
    # Free places that exist only as far as the solidarity fund pays for them.
    from_solidarity_pool: bool = False
    # False: no longer sold (removed from the conference file, or hidden by an organiser);
    # tickets already issued stay valid.
    on_sale: bool = True
    # Not on public sale: sold only with a voucher that names it (speakers, volunteers, press).
    requires_voucher: bool = False
    position: int = 0
    updated_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)


class PaymentStatus(StrEnum):
    unpaid = "unpaid"
    paid = "paid"
    waived = "waived"
    refunded = "refunded"


class RegistrationStatus(StrEnum):
    # A place held while its order is paid: counted as taken, not yet a ticket to admit.
    reserved = "reserved"
    active = "active"
    cancelled = "cancelled"
    # The hold ended unpaid: the place went back to the pool.
    expired = "expired"


# Registrations whose place is taken: counted against capacity.
HOLDING_PLACES = (RegistrationStatus.reserved.value, RegistrationStatus.active.value)
# Registrations whose ticket must not admit anyone.
REFUSED_AT_DOOR = (RegistrationStatus.cancelled.value, RegistrationStatus.expired.value)


class Registration(SQLModel, table=True):
    """An attendee's registration and its ticket. Personal fields are blanked on erasure."""

    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    ticket_type_id: int = Field(foreign_key="ticket_type.id", index=True)
    # The ticket's unguessable identity (base32 of 8 random bytes); the signed token names it.
    ticket_code: str = Field(max_length=16, unique=True)
    signing_key_id: int = Field(foreign_key="signing_key.id")
    name: str = Field(default="", max_length=100)
    email: str = Field(default="", max_length=254)
    access_needs: str = Field(default="", sa_type=Text)
    childcare_children: int = 0
    childcare_ages: str = Field(default="", max_length=200)
    email_consent: bool = False
    # The language the attendee registered in: every mail to them is written in it.
    language: str = Field(default="en", max_length=20)
    amount_cents: int = 0
    solidarity_topup_cents: int = 0
    # Whether the top-up is in the conference's solidarity fund: only once it is paid.
    topup_in_fund: bool = False
    payment_status: str = Field(default=PaymentStatus.unpaid.value, max_length=10)
    status: str = Field(default=RegistrationStatus.active.value, max_length=10)
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The attendee's personal agenda (starred sessions); a separate secret from the ticket.
    agenda_key: str | None = Field(default=None, max_length=43, unique=True)
    # The voucher it was registered with, if any (its use is given back if this is cancelled).
    # No foreign key: SQLite cannot add one to an existing table without copying it, which
    # the keys pointing at registration forbid; vouchers are never deleted, only withdrawn.
    voucher_id: int | None = Field(default=None, index=True)


def may_still_get_mail(
    registration: Registration | None, *, programme_mail: bool
) -> TypeGuard[Registration]:
    """Whether mail may still go to this registration, checked as each mail is built (a person
    may have cancelled or been erased since it was queued): it exists, is active (not
    cancelled), is not erased and has an address. `programme_mail` (notices, programme
    changes) also needs the person to have agreed to programme e-mails; the ticket mail and the
    link sent again do not: the person asked for those. `may_still_get_mail_where` is the same
    rule as a query's WHERE clauses."""
    return (
        registration is not None
        and registration.erased_at is None
        and registration.status == RegistrationStatus.active.value
        and bool(registration.email)
        and (registration.email_consent or not programme_mail)
    )


def may_still_get_mail_where(*, programme_mail: bool) -> list[ColumnElement[bool]]:
    """`may_still_get_mail` as WHERE clauses on Registration, to choose whom to queue mail for."""
    consent = [col(Registration.email_consent) == true()] if programme_mail else []
    return [
        col(Registration.status) == RegistrationStatus.active.value,
        col(Registration.erased_at).is_(None),
        col(Registration.email) != "",
        *consent,
    ]


class ManageLink(SQLModel, table=True):
    """A secret link to an attendee's own ticket page (name, QR, agenda, cancel, erase).

    Only a hash of the secret is kept: the link itself exists only in the page shown right
    after registering and in the mails sent, each of which gets its own secret when built.
    """

    __tablename__ = "manage_link"
    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registration.id", ondelete="CASCADE", index=True)
    secret_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)


class ThrottleCount(SQLModel, table=True):
    """Hits on a throttled action in one fixed time window, shared by every app process.

    The key (a client address, a lower-cased e-mail address) is kept only as
    sha256(bucket + "\\0" + key) (see confapp/throttle.py), and only for a day or two.
    """

    __tablename__ = "throttle_count"
    bucket: str = Field(primary_key=True, max_length=40)
    key_hash: str = Field(primary_key=True, max_length=64)
    window_start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    hits: int = 0


class SigningKey(SQLModel, table=True):
    """Ed25519 keys that sign tickets. Every app process uses the same rows; the newest
    unretired key signs new tickets, and older keys keep verifying until retired."""

    __tablename__ = "signing_key"
    id: int = Field(primary_key=True)  # the key id carried in tokens, 1..255
    private_key: str = Field(max_length=64)  # raw 32 bytes, base64
    public_key: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OutboxMail(SQLModel, table=True):
    """A mail waiting to be sent or already sent. The message itself is built at send time
    from the registration, so no copy of personal data sits here beyond the address."""

    __tablename__ = "outbox_mail"
    id: int | None = Field(default=None, primary_key=True)
    registration_id: int | None = Field(
        default=None, foreign_key="registration.id", ondelete="CASCADE", index=True
    )
    kind: str = Field(default="ticket", max_length=20)
    status: str = Field(default="pending", max_length=10)  # pending, sent, failed
    attempts: int = 0
    last_error: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    next_attempt_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime, index=True)
    # A sender claims a mail until this time, so two app processes never send it twice.
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # What else the mail is about, as its kind's builder reads it (an invitation, a notice).
    reference_id: int | None = None
    # The language to write it in when it is to no registration (an invitation, a password
    # reset): the language of the request that queued it. Mail to a registration is written in
    # the registration's own language.
    language: str = Field(default="", max_length=20)


class Agenda(SQLModel, table=True):
    """A private list of starred sessions, known only by its random key: the key sits in a
    cookie on the owner's browser and in the agenda feed's URL, nowhere public."""

    key: str = Field(primary_key=True, max_length=43)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    # Moves whenever a star is added or removed: the agenda feed's Last-Modified.
    updated_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)


class AgendaStar(SQLModel, table=True):
    __tablename__ = "agenda_star"
    agenda_key: str = Field(
        foreign_key="agenda.key", primary_key=True, max_length=43, ondelete="CASCADE"
    )
    session_id: int = Field(
        foreign_key="programme_session.id", primary_key=True, index=True, ondelete="CASCADE"
    )
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)


class ConferenceRoleName(StrEnum):
    organiser = "organiser"
    access_coordinator = "access-coordinator"
    steward = "steward"


class User(SQLModel, table=True):
    """Someone who signs in to the back office or the door: organisers, access coordinators,
    stewards. Attendees have no account. The site administrator is whoever runs the `confapp`
    command on the server: `confapp load` creates conferences, `confapp user add` their first
    organisers."""

    __tablename__ = "app_user"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(default="", max_length=200)
    # Base32 TOTP secret once a second factor is set up; "" without one.
    totp_secret: str = Field(default="", max_length=64)
    # The TOTP time step (Unix time // 30) of the last code accepted: a code is used once.
    totp_last_step: int = 0
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    password_changed_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)


class ConferenceRole(SQLModel, table=True):
    __tablename__ = "conference_role"
    user_id: int = Field(foreign_key="app_user.id", primary_key=True, ondelete="CASCADE")
    conference_id: int = Field(foreign_key="conference.id", primary_key=True)
    role: str = Field(primary_key=True, max_length=20)


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random id; only its hash is stored, so a
    database copy cannot be used to sign in, and any app process can serve the session."""

    __tablename__ = "web_session"
    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True, ondelete="CASCADE")
    csrf_token: str = Field(max_length=64)
    # False between the password and the second factor.
    fully_signed_in: bool = False
    user_agent: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A token for scripts and door devices, with its user's permissions; stored as a hash."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True, ondelete="CASCADE")
    name: str = Field(default="", max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AccountLink(SQLModel, table=True):
    """A one-use, expiring link sent by mail: an invitation to a role, or a password reset.
    Its secret is made when the mail is built; only the hash is kept."""

    __tablename__ = "account_link"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # "invitation" or "password_reset"
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    email: str = Field(max_length=254)
    conference_id: int | None = Field(default=None, foreign_key="conference.id")
    role: str = Field(default="", max_length=20)
    created_by_user_id: int | None = Field(
        default=None, foreign_key="app_user.id", ondelete="SET NULL"
    )
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """Who did what to attendee data, and when. Names a ticket code, never a person, so the
    log holds no personal data once an attendee is erased."""

    __tablename__ = "audit_entry"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=_created, sa_type=UTCDateTime, index=True)
    user_id: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    # Kept as text too, so the log still says who after an account is deleted.
    actor: str = Field(default="", max_length=254)
    conference_id: int | None = Field(default=None, foreign_key="conference.id", index=True)
    action: str = Field(max_length=40)
    ticket_code: str = Field(default="", max_length=16)
    detail: str = Field(default="", max_length=500)


class Notice(SQLModel, table=True):
    """A short message from the organisers to attendees: to those who agreed to programme
    e-mails, or, marked essential, to every active attendee."""

    TRANSLATED: ClassVar[tuple[str, ...]] = ("subject", "body")

    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    ticket_type_id: int | None = Field(default=None, foreign_key="ticket_type.id")
    subject: str = Field(max_length=200)
    body: str = Field(sa_type=Text)
    # Organisers' words in the conference's other languages: {language: {field: text}} for the
    # fields TRANSLATED names; the plain columns hold the default language (confapp.content).
    translations: dict[str, dict[str, str]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    created_by_user_id: int | None = Field(
        default=None, foreign_key="app_user.id", ondelete="SET NULL"
    )
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    recipients: int = 0
    # Essential: to every active attendee (a venue change, a safety message), whatever they
    # chose about programme e-mails.
    essential: bool = False


class DoorDevice(SQLModel, table=True):
    """A phone or tablet added as a door device for one conference ("Front door 2"): signed in
    until the conference ends or an organiser revokes it, with the permissions of the account
    that added it. The device keeps a random secret; only its hash is stored."""

    __tablename__ = "door_device"
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    user_id: int = Field(foreign_key="app_user.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    created_by: str = Field(default="", max_length=254)
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: str = Field(default="", max_length=254)


class Checkin(SQLModel, table=True):
    """A ticket admitted at the door. At most one stands per registration (a partial unique
    index, so two stewards scanning one ticket at once get one "admitted"); an undone check-in
    stays, stamped, for the record."""

    __tablename__ = "checkin"
    __table_args__ = (
        Index(
            "uq_checkin_one_standing_per_registration",
            "registration_id",
            unique=True,
            sqlite_where=text("undone_at IS NULL"),
            postgresql_where=text("undone_at IS NULL"),
        ),
        Index("ix_checkin_conference_admitted_at", "conference_id", "admitted_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id")
    registration_id: int = Field(foreign_key="registration.id")
    admitted_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    # When the server heard of it: later than admitted_at for a device that was offline.
    recorded_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    by_user_id: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    by: str = Field(default="", max_length=254)  # who admitted, kept as text
    device: str = Field(default="", max_length=64)  # a door device's own random id
    method: str = Field(default="scan", max_length=10)  # scan, code, search, offline
    undone_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    undone_by: str = Field(default="", max_length=254)


class CheckinConflict(SQLModel, table=True):
    """An admission a door device made offline for a ticket already admitted elsewhere:
    kept for organisers to look at, never dropped."""

    __tablename__ = "checkin_conflict"
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    registration_id: int = Field(foreign_key="registration.id")
    checkin_id: int | None = Field(default=None, foreign_key="checkin.id")  # the one that stands
    admitted_at: datetime = Field(sa_type=UTCDateTime)  # when the device let them in
    recorded_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    by: str = Field(default="", max_length=254)
    device: str = Field(default="", max_length=64)
    result: str = Field(default="already_admitted", max_length=20)  # or cancelled, invalid
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SessionDoor(SQLModel, table=True):
    """The door of one session's room on the day: full or not, and a headcount. Kept apart
    from the session, so a steward's taps never change the programme's version or feeds."""

    __tablename__ = "session_door"
    session_id: int = Field(
        foreign_key="programme_session.id", primary_key=True, ondelete="CASCADE"
    )
    full_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Where to send people when it is full; organisers set it, stewards see it.
    overflow_room_id: int | None = Field(default=None, foreign_key="room.id", ondelete="SET NULL")
    headcount: int = 0
    updated_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    updated_by: str = Field(default="", max_length=254)


class PaymentMethod(StrEnum):
    stripe = "stripe"  # by card on Stripe's hosted checkout page
    bank_transfer = "bank_transfer"
    desk = "desk"  # at the registration desk, in cash or by card there


class OrderStatus(StrEnum):
    reserved = "reserved"  # its places are held until hold_until, waiting for the money
    paid = "paid"
    expired = "expired"  # the hold ended unpaid and the places went back
    cancelled = "cancelled"


class Order(SQLModel, table=True):
    """What one person pays for at once: the registrations it holds places for, the total, how
    it is paid and until when its places are held. Personal fields are blanked on erasure."""

    __tablename__ = "ticket_order"
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    # Short and easy to type: the reference a bank transfer carries (confapp.registration.orders).
    reference: str = Field(max_length=12, unique=True)
    method: str = Field(max_length=20)  # a PaymentMethod
    status: str = Field(default=OrderStatus.reserved.value, max_length=10)
    total_cents: int = 0
    currency: str = Field(max_length=3)
    # Who pays, as they gave it: a person or an organisation (a union branch), for the receipt.
    payer_name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254)
    language: str = Field(default="en", max_length=20)
    hold_until: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # expired or cancelled


class OrderLink(SQLModel, table=True):
    """A secret link to an order's own page, for whoever pays for a group: its payment, its
    receipts, its tickets. Only the hash is kept; each mail gets a fresh one, like ManageLink."""

    __tablename__ = "order_link"
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="ticket_order.id", index=True)
    secret_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)


class OrderItem(SQLModel, table=True):
    """A registration an order pays for, with what it costs (price and top-up). One order may
    hold several (a group, a union branch paying for delegates); a registration is in one."""

    __tablename__ = "order_item"
    registration_id: int = Field(foreign_key="registration.id", primary_key=True)
    order_id: int = Field(foreign_key="ticket_order.id", index=True)
    amount_cents: int = 0
    solidarity_topup_cents: int = 0


class PaymentState(StrEnum):
    created = "created"  # the row exists; the provider has not been asked yet
    pending = "pending"  # the provider holds a checkout for it, not yet paid
    confirmed = "confirmed"
    failed = "failed"
    cancelled = "cancelled"  # the checkout expired or was given up unpaid
    refunded = "refunded"
    partially_refunded = "partially_refunded"


# A payment the money arrived for: what a refund may come from.
PAID_STATES = (
    PaymentState.confirmed.value,
    PaymentState.partially_refunded.value,
    PaymentState.refunded.value,
)


class Payment(SQLModel, table=True):
    """One attempt to pay an order, never deleted: a card checkout, a bank transfer matched,
    money taken at the desk. Holds the provider's ids, never anything about a card."""

    __tablename__ = "payment"
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    order_id: int = Field(foreign_key="ticket_order.id", index=True)
    method: str = Field(max_length=20)  # a PaymentMethod
    state: str = Field(default=PaymentState.created.value, max_length=20)
    amount_cents: int
    currency: str = Field(max_length=3)
    refunded_cents: int = 0
    # Stripe's Checkout Session and PaymentIntent ids.
    provider_checkout_id: str | None = Field(default=None, max_length=255, unique=True)
    provider_payment_id: str | None = Field(default=None, max_length=255, index=True)
    checkout_url: str = Field(default="", max_length=2000)
    checkout_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The provider's error code of the last failure (never its message: it may quote a person).
    last_error: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RefundState(StrEnum):
    pending = "pending"  # written, the provider not yet told (or not yet answered)
    succeeded = "succeeded"
    failed = "failed"


class RefundSource(StrEnum):
    organiser = "organiser"  # from the registration's page in the back office
    attendee = "attendee"  # cancelled by the attendee under the refund policy
    automatic = "automatic"  # paid after the hold ended, with no place left
    external = "external"  # made in Stripe's own dashboard, learnt by webhook


class Refund(SQLModel, table=True):
    """Money given back from one payment: through Stripe, or recorded as done by hand."""

    __tablename__ = "refund"
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    payment_id: int = Field(foreign_key="payment.id", index=True)
    amount_cents: int
    currency: str = Field(max_length=3)
    state: str = Field(default=RefundState.pending.value, max_length=10)
    source: str = Field(max_length=10)  # a RefundSource
    by_hand: bool = False  # given back outside Stripe (a transfer, cash) and recorded here
    reason: str = Field(default="", max_length=500)
    provider_refund_id: str | None = Field(default=None, max_length=255, unique=True)
    by: str = Field(default="", max_length=254)
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class StripeEvent(SQLModel, table=True):
    """A Stripe webhook event already acted on: a second delivery of it changes nothing."""

    __tablename__ = "stripe_event"
    event_id: str = Field(primary_key=True, max_length=255)
    type: str = Field(max_length=100)
    received_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)


class TaxMode(StrEnum):
    none = "none"
    gst_inclusive = "gst_inclusive"  # prices include GST; receipts show the GST part


class RefundPolicy(StrEnum):
    never = "never"
    until = "until"  # attendees who cancel are refunded in full until refund_until


class PaymentSettings(SQLModel, table=True):
    """How a conference takes money: which methods are on, its Stripe keys, how long places
    are held, its bank account and statement format, tax on receipts, the refund policy."""

    __tablename__ = "payment_settings"
    conference_id: int = Field(foreign_key="conference.id", primary_key=True)
    methods: list[str] = Field(
        default_factory=lambda: [PaymentMethod.desk.value], sa_column=Column(JSON, nullable=False)
    )
    # Secrets: never shown back whole, never logged, never exported.
    stripe_secret_key: str = Field(default="", max_length=255, repr=False)
    stripe_webhook_secret: str = Field(default="", max_length=255, repr=False)
    payment_hold_minutes: int = 30
    bank_transfer_hold_days: int = 7
    bank_account_name: str = Field(default="", max_length=200)
    bank_bsb: str = Field(default="", max_length=20)
    bank_account_number: str = Field(default="", max_length=40)
    bank_iban: str = Field(default="", max_length=40)
    bank_bic: str = Field(default="", max_length=20)
    statement_preset: str = Field(default="", max_length=30)
    statement_columns: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    tax_mode: str = Field(default=TaxMode.none.value, max_length=20)
    tax_rate_basis_points: int = 1000  # 10% GST
    receipt_issuer: str = Field(default="", sa_type=Text)  # name, ABN, address, as printed
    refund_policy: str = Field(default=RefundPolicy.never.value, max_length=10)
    refund_until: date | None = None
    # The last receipt number given: numbers come from this one counter, taken in the
    # transaction that writes the receipt, so they run without a gap and never repeat.
    receipts_issued: int = 0
    updated_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)


class ReceiptKind(StrEnum):
    receipt = "receipt"
    cancellation = "cancellation"  # cancels an earlier receipt, which is never changed


class Receipt(SQLModel, table=True):
    """A numbered receipt for a payment, written once and never changed: a correction is a
    cancellation that names the receipt it cancels, and then a new receipt."""

    __tablename__ = "receipt"
    __table_args__ = (UniqueConstraint("conference_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id")
    number: int
    kind: str = Field(default=ReceiptKind.receipt.value, max_length=20)
    payment_id: int = Field(foreign_key="payment.id", index=True)
    cancels_receipt_id: int | None = Field(default=None, foreign_key="receipt.id")
    payer_name: str = Field(default="", max_length=200)
    issuer: str = Field(default="", sa_type=Text)
    # What was paid for: [{"description", "quantity", "amount_cents"}], amounts tax included.
    lines: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    amount_cents: int
    tax_cents: int = 0
    tax_mode: str = Field(default=TaxMode.none.value, max_length=20)
    currency: str = Field(max_length=3)
    method: str = Field(max_length=20)
    issued_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)


class BankStatement(SQLModel, table=True):
    """A bank statement (CSV) an organiser uploaded. The same file again, known by its SHA-256,
    adds nothing; its lines are kept in bank_statement_line."""

    __tablename__ = "bank_statement"
    __table_args__ = (UniqueConstraint("conference_id", "file_sha256"),)
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    uploaded_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    uploaded_by: str = Field(default="", max_length=254)
    file_sha256: str = Field(max_length=64)
    filename: str = Field(default="", max_length=255)  # the name only, never a path
    lines_total: int = 0  # the credits it held
    lines_matched: int = 0  # of those, the ones that paid an order on upload


class StatementLineState(StrEnum):
    matched = "matched"  # paid an order on upload (or with a later line that made up the sum)
    unmatched = "unmatched"  # no order's reference found: for a person to assign or ignore
    partial = "partial"  # an order found but not paid by it (see its note): for a person
    ignored = "ignored"  # a person decided it pays nothing here (or has been dealt with)
    assigned = "assigned"  # a person named the order it pays


# Lines a person still has to look at.
STATEMENT_LINES_TO_DECIDE = (StatementLineState.unmatched.value, StatementLineState.partial.value)


class BankStatementLine(SQLModel, table=True):
    """One credit on a bank statement, kept once per conference however many uploaded
    statements hold it (line_hash), with what became of it. The description is as the bank
    wrote it and may name the payer: it is shown to organisers only."""

    __tablename__ = "bank_statement_line"
    __table_args__ = (
        UniqueConstraint("conference_id", "line_hash"),
        Index("ix_bank_statement_line_conference_state", "conference_id", "state"),
    )
    id: int | None = Field(default=None, primary_key=True)
    statement_id: int = Field(foreign_key="bank_statement.id", index=True)
    conference_id: int = Field(foreign_key="conference.id")
    line_hash: str = Field(max_length=64)
    booked_on: date
    amount_cents: int
    currency: str = Field(max_length=3)
    description: str = Field(default="", max_length=500)
    reference_found: str | None = Field(default=None, max_length=12)
    state: str = Field(default=StatementLineState.unmatched.value, max_length=10)
    # Why a person is asked to look (a code, put in words where it is shown).
    note: str = Field(default="", max_length=30)
    order_id: int | None = Field(default=None, foreign_key="ticket_order.id", index=True)
    payment_id: int | None = Field(default=None, foreign_key="payment.id")
    decided_by: str = Field(default="", max_length=254)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class VoucherEffect(StrEnum):
    """What a voucher does to a ticket's price."""

    none = "none"  # the price as it is: the voucher only unlocks a ticket type or a place
    free = "free"
    set_price = "set_price"  # `value` cents
    minus_amount = "minus_amount"  # `value` cents off
    minus_percent = "minus_percent"  # `value` basis points off (2500: 25%)


class Voucher(SQLModel, table=True):
    """A code that unlocks tickets not on public sale, changes what one costs, or holds a
    block of places. Redeemed by a conditional UPDATE of `uses` (confapp.registration.
    vouchers), so it is never used more often than `max_uses`."""

    __tablename__ = "voucher"
    __table_args__ = (
        UniqueConstraint("conference_id", "code"),
        CheckConstraint("uses >= 0 AND uses <= max_uses", name="voucher_within_uses"),
    )
    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True)
    code: str = Field(max_length=40)  # upper case, no spaces
    max_uses: int = 1
    uses: int = 0
    valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The ticket types it is for; empty: any type on public sale. A type that is not on
    # public sale (requires_voucher) is sold only through a voucher naming it.
    ticket_type_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    effect: str = Field(default=VoucherEffect.none.value, max_length=20)
    value: int = 0
    # Holding: its `max_uses` places of its one ticket type were taken when it was made, and
    # the unused ones go back when it ends (places_released_at).
    holds_places: bool = False
    places_released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    tag: str = Field(default="", max_length=100, index=True)  # whom it is for: "speakers"
    comment: str = Field(default="", sa_type=Text)  # the organisers' own note
    # Mailed to one person: their address, until the conference's data is erased.
    sent_to: str = Field(default="", max_length=254)
    created_by: str = Field(default="", max_length=254)
    created_at: datetime = Field(default_factory=_created, sa_type=UTCDateTime)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
