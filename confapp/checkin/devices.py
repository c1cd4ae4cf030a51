"""Door devices: a phone added to one conference's door under a name ("Front door 2"), signed in
with a secret of its own until the conference ends or it is revoked, carrying the permissions of
the account that added it. Queries and rules, without HTTP."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from confapp.accounts.audit import record
from confapp.accounts.secrets import new_secret, secret_hash
from confapp.accounts.service import Principal
from confapp.db import Database, column_length
from confapp.models import Conference, ConferenceRole, ConferenceRoleName, DoorDevice, User
from confapp.request_body import character_problem
from confapp.times import local_day_bounds
from confapp.translation import _, ngettext

# What check-ins made through a device record as their `device`: "door-device-12". A door
# page's own random ids ("door-6177e8...") can never take this form (hex has no "v").
LABEL_PREFIX = "door-device-"
MAX_NAME_LENGTH = column_length(DoorDevice, "name")
# last_seen_at is written at most this often, to keep a busy door's scans free of writes.
SEEN_EVERY = timedelta(minutes=1)
# The roles whose permissions a device may carry; taken away, the device stops working.
DOOR_ROLES = frozenset({ConferenceRoleName.organiser.value, ConferenceRoleName.steward.value})
MAX_SECRET_LENGTH = 100


class DeviceProblem(ValueError):
    """Something about a device that cannot be done, and the form field it belongs beside."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class MayNotRevoke(DeviceProblem):
    """A device someone other than an organiser or its own account tried to revoke."""


@dataclass(frozen=True)
class DeviceCredential:
    """A live device a request's secret names: who it speaks for, and under what name."""

    device_id: int
    name: str
    conference_id: int
    principal: Principal

    @property
    def label(self) -> str:
        return device_label(self.device_id)


@dataclass(frozen=True)
class DeviceRow:
    """A device as the back office lists it."""

    id: int
    name: str
    user_id: int
    created_by: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"


def device_label(device_id: int) -> str:
    return f"{LABEL_PREFIX}{device_id}"


def device_csrf_token(secret: str) -> str:
    """The CSRF token of the pages a device is shown: derived from its secret (which only its
    HttpOnly cookie holds), so no column keeps it and another site can neither read nor make it."""
    return hmac.new(
        secret.encode("utf-8", "surrogatepass"), b"door-csrf", hashlib.sha256
    ).hexdigest()


def device_expiry(conference: Conference) -> datetime:
    """The end of the conference's last day in its own time zone (as UTC)."""
    return local_day_bounds(conference.end_date, conference.timezone)[1]


def checked_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise DeviceProblem("name", _("Give this phone a name, like “Front door 2”."))
    if len(name) > MAX_NAME_LENGTH:
        raise DeviceProblem(
            "name",
            ngettext(
                "Keep the name to %(count)d character.",
                "Keep the name to %(count)d characters.",
                MAX_NAME_LENGTH,
            )
            % {"count": MAX_NAME_LENGTH},
        )
    problem = character_problem(name, allowed_controls="")
    if problem:
        raise DeviceProblem("name", problem)
    return name


def add_door_device(
    session: Session,
    conference: Conference,
    by: Principal,
    name: str,
    now: datetime,
    *,
    replacing_secret: str | None = None,
) -> tuple[DoorDevice, str]:
    """Add a door device for the conference carrying `by`'s permissions; the device and its
    secret (handed out once, stored only as a hash). `replacing_secret`: the secret this phone
    held before, whose device is revoked in the same transaction, so one phone is one device."""
    assert conference.id is not None
    name = checked_name(name)
    if not by.has_role(conference.id, *DOOR_ROLES):
        raise DeviceProblem(
            "name", _("Only the conference's stewards and organisers add door devices.")
        )
    expires_at = device_expiry(conference)
    if expires_at <= now:
        raise DeviceProblem(
            "name", _("The conference is over: there is no door to add this phone to.")
        )
    if replacing_secret:
        old = _device_by_secret(session, replacing_secret)
        if old is not None and old.conference_id == conference.id and old.revoked_at is None:
            _revoke(session, conference, old, by, now, "replaced a door device")
    secret = new_secret()
    device = DoorDevice(
        conference_id=conference.id,
        user_id=by.user_id,
        name=name,
        token_hash=secret_hash(secret),
        created_by=by.email,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(device)
    session.flush()
    record(
        session,
        "added a door device",
        user_id=by.user_id,
        actor=by.email,
        conference_id=conference.id,
        detail=name,
    )
    return device, secret


def _device_by_secret(session: Session, secret: str) -> DoorDevice | None:
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    return session.exec(
        select(DoorDevice).where(DoorDevice.token_hash == secret_hash(secret))
    ).first()


def door_device_for(
    db: Database, session: Session, conference_id: int, secret: str | None, now: datetime
) -> DeviceCredential | None:
    """The live device of this conference a secret names, read in the caller's `session`;
    None if unknown, of another conference, revoked, expired, or if its account no longer
    works the door there. Read fresh every time (a revocation counts at the next request in
    every process); last_seen_at is written at most once a minute."""
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    rows = session.execute(
        sa_select(
            col(DoorDevice.id),
            col(DoorDevice.name),
            col(DoorDevice.conference_id),
            col(DoorDevice.expires_at),
            col(DoorDevice.revoked_at),
            col(DoorDevice.last_seen_at),
            col(User.id),
            col(User.email),
            col(User.totp_secret),
            col(ConferenceRole.role),
        )
        .join(User, col(User.id) == DoorDevice.user_id)
        .outerjoin(
            ConferenceRole,
            and_(
                col(ConferenceRole.user_id) == User.id,
                col(ConferenceRole.conference_id) == DoorDevice.conference_id,
            ),
        )
        .where(col(DoorDevice.token_hash) == secret_hash(secret))
    ).all()
    if not rows:
        return None
    device_id, name, device_conference, expires_at, revoked_at, last_seen_at = rows[0][:6]
    user_id, email, totp_secret = rows[0][6:9]
    roles = frozenset(role for *_, role in rows if role is not None)
    if (
        device_conference != conference_id
        or revoked_at is not None
        or expires_at <= now
        or not roles & DOOR_ROLES
    ):
        return None
    if last_seen_at is None or now - last_seen_at >= SEEN_EVERY:
        with db.transaction() as writing:
            writing.execute(
                update(DoorDevice)
                .where(
                    col(DoorDevice.id) == device_id,
                    col(DoorDevice.last_seen_at).is_(None)
                    | (col(DoorDevice.last_seen_at) <= now - SEEN_EVERY),
                )
                .values(last_seen_at=now)
            )
    principal = Principal(
        user_id=user_id,
        email=email,
        roles={conference_id: roles},  # this conference only, whatever else the account holds
        csrf_token=device_csrf_token(secret),
        has_second_factor=bool(totp_secret),
    )
    return DeviceCredential(device_id, name, conference_id, principal)


def conference_devices(
    session: Session, conference: Conference, *, user_id: int | None = None
) -> list[DeviceRow]:
    """The conference's devices, newest first; only those carrying `user_id`'s account if given."""
    query = select(DoorDevice).where(DoorDevice.conference_id == conference.id)
    if user_id is not None:
        query = query.where(DoorDevice.user_id == user_id)
    found = session.exec(
        query.order_by(col(DoorDevice.created_at).desc(), col(DoorDevice.id).desc())
    )
    return [
        DeviceRow(
            d.id or 0,
            d.name,
            d.user_id,
            d.created_by,
            d.created_at,
            d.expires_at,
            d.last_seen_at,
            d.revoked_at,
            d.revoked_by,
        )
        for d in found
    ]


def device_names(session: Session, conference: Conference) -> dict[str, str]:
    """What each device label check-ins record stands for: {"door-device-12": "Front door 2"}."""
    found = session.exec(
        select(DoorDevice.id, DoorDevice.name).where(DoorDevice.conference_id == conference.id)
    )
    return {device_label(device_id or 0): name for device_id, name in found}


def find_device(session: Session, conference: Conference, device_id: int) -> DoorDevice | None:
    device = session.get(DoorDevice, device_id)
    return device if device is not None and device.conference_id == conference.id else None


def may_revoke(by: Principal, conference: Conference, device: DoorDevice) -> bool:
    """Organisers revoke any of the conference's devices; anyone else only those carrying
    their own account (a steward's lost phone)."""
    return by.has_role(conference.id, ConferenceRoleName.organiser.value) or (
        device.user_id == by.user_id
    )


def revoke_door_device(
    session: Session, conference: Conference, device_id: int, by: Principal, now: datetime
) -> DoorDevice:
    """Revoke one device (audited); revoking one already revoked changes nothing. Raises
    DeviceProblem for a device that is not the conference's, MayNotRevoke for one that `by`
    may not revoke."""
    device = find_device(session, conference, device_id)
    if device is None:
        raise DeviceProblem("device", _("This conference has no such door device."))
    if not may_revoke(by, conference, device):
        raise MayNotRevoke("device", _("Only organisers revoke devices added by someone else."))
    if device.revoked_at is None:
        _revoke(session, conference, device, by, now, "revoked a door device")
    return device


def sign_out_door_device(
    session: Session, conference: Conference, credential: DeviceCredential, now: datetime
) -> None:
    """The device's own "Sign out": its secret is forgotten on the phone, so it is revoked."""
    device = find_device(session, conference, credential.device_id)
    if device is not None and device.revoked_at is None:
        _revoke(session, conference, device, credential.principal, now, "signed out a door device")


def _revoke(
    session: Session,
    conference: Conference,
    device: DoorDevice,
    by: Principal,
    now: datetime,
    action: str,
) -> None:
    device.revoked_at = now
    device.revoked_by = by.email
    session.add(device)
    record(
        session,
        action,
        user_id=by.user_id,
        actor=by.email,
        conference_id=conference.id,
        detail=device.name,
    )
