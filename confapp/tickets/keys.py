"""The ticket-signing keys: kept in the database so every app process signs with the same key.

`confapp keys rotate` adds a new key that signs tickets from then on; tickets signed with an
older key stay valid until that key is retired with `confapp keys retire ID` (their holders then
need their ticket re-sent). Public keys are published for door scanners at
/api/{conference}/ticket-keys.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from confapp.db import Database
from confapp.models import SigningKey
from confapp.times import utcnow

MAX_KEY_ID = 255


@dataclass(frozen=True)
class SigningKeyPair:
    key_id: int
    private_key: bytes


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _new_key_row(key_id: int) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    private_raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public_raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return SigningKey(id=key_id, private_key=_b64(private_raw), public_key=_b64(public_raw))


def current_signing_key(db: Session) -> SigningKeyPair | None:
    row = db.exec(
        select(SigningKey)
        .where(col(SigningKey.retired_at).is_(None))
        .order_by(col(SigningKey.id).desc())
    ).first()
    if row is None:
        return None
    return SigningKeyPair(row.id, base64.b64decode(row.private_key))


def signing_key_by_id(db: Session, key_id: int) -> SigningKeyPair | None:
    row = db.get(SigningKey, key_id)
    if row is None or row.retired_at is not None:
        return None
    return SigningKeyPair(row.id, base64.b64decode(row.private_key))


def accepted_public_keys(db: Session) -> dict[int, bytes]:
    # Read on every scan, so that a retired key stops admitting at once in every process;
    # only the public halves are loaded.
    rows = db.exec(
        select(SigningKey.id, SigningKey.public_key).where(col(SigningKey.retired_at).is_(None))
    )
    return {key_id: base64.b64decode(public_key) for key_id, public_key in rows}


def ensure_signing_key(db: Database) -> SigningKeyPair:
    """The current key, creating the first one if there is none (safe if processes race)."""
    with db.read() as session:
        key = current_signing_key(session)
    if key is not None:
        return key
    try:
        with db.transaction() as session:
            if current_signing_key(session) is None:
                session.add(_new_key_row(_next_key_id(session)))
    except IntegrityError:
        pass  # another process created it first; use theirs
    with db.read() as session:
        key = current_signing_key(session)
    assert key is not None
    return key


def _next_key_id(session: Session) -> int:
    highest = session.exec(select(SigningKey.id).order_by(col(SigningKey.id).desc())).first()
    next_id = (highest or 0) + 1
    if next_id > MAX_KEY_ID:
        raise RuntimeError("all 255 key ids are used; this should take decades of rotation")
    return next_id


def rotate_signing_key(db: Database) -> int:
    with db.transaction() as session:
        row = _new_key_row(_next_key_id(session))
        session.add(row)
        return row.id


def retire_signing_key(db: Database, key_id: int) -> bool:
    with db.transaction() as session:
        row = session.get(SigningKey, key_id)
        if row is None or row.retired_at is not None:
            return False
        row.retired_at = utcnow()
        return True
