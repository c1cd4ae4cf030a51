"""Signed admission tokens: what the QR code carries, verifiable offline with a public key alone.

An admission token proves one place at one conference and nothing more. It is
base64url( version 2 | key id | conference id (4 bytes, big-endian) | ticket code (8 bytes) |
Ed25519 signature (64 bytes) ), 104 characters; the signature covers everything before it, so a
door device for one conference rejects a genuine ticket of another without asking the server.
Tokens of version 1 (before the conference was signed in; 99 characters, no conference id) still
verify, and then name no conference. No name, e-mail or other personal data is in a token.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

TOKEN_VERSION = 2
LEGACY_TOKEN_VERSION = 1
CODE_BYTES = 8
CONFERENCE_ID_BYTES = 4
SIGNATURE_BYTES = 64
# Signed prefix lengths: version, key id, [conference id], code.
_SIGNED_LENGTH = {
    LEGACY_TOKEN_VERSION: 2 + CODE_BYTES,
    TOKEN_VERSION: 2 + CONFERENCE_ID_BYTES + CODE_BYTES,
}
MAX_TOKEN_LENGTH = 120


class InvalidTicketToken(Exception):
    """The token is malformed, signed by an unknown or retired key, or forged."""


@dataclass(frozen=True)
class VerifiedTicket:
    ticket_code: str
    key_id: int
    # The conference the token was issued for; None for a version-1 token, which names none.
    conference_id: int | None


def new_ticket_code() -> str:
    return _code_text(secrets.token_bytes(CODE_BYTES))


def _code_text(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def _code_bytes(code: str) -> bytes:
    padded = code + "=" * (-len(code) % 8)
    raw = base64.b32decode(padded)
    if len(raw) != CODE_BYTES:
        raise ValueError("a ticket code is 8 bytes")
    return raw


def normalise_ticket_code(typed: str) -> str | None:
    """A ticket code as a person might type it (ABCD-EFGH-IJKLM, lower case, spaces) in its
    stored form, or None if it cannot be one."""
    code = "".join(typed.split()).replace("-", "").upper()
    try:
        _code_bytes(code)
    except (binascii.Error, ValueError):
        return None
    return code if code.isascii() else None


def display_code(code: str) -> str:
    """The ticket code grouped for reading aloud at the door: ABCD-EFGH-IJKLM."""
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def sign_ticket(ticket_code: str, conference_id: int, key_id: int, private_key: bytes) -> str:
    if not 1 <= key_id <= 255:
        raise ValueError("key ids run from 1 to 255")
    signed = (
        bytes([TOKEN_VERSION, key_id])
        + conference_id.to_bytes(CONFERENCE_ID_BYTES, "big")
        + _code_bytes(ticket_code)
    )
    signature = Ed25519PrivateKey.from_private_bytes(private_key).sign(signed)
    return _b64(signed + signature)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def verify_ticket_token(token: str, public_keys: Mapping[int, bytes]) -> VerifiedTicket:
    """Check a token offline against the public keys still accepted (key id -> raw key)."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise InvalidTicketToken("not a ticket token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidTicketToken("not a ticket token") from exc
    signed_length = _SIGNED_LENGTH.get(raw[0]) if raw else None
    if signed_length is None or len(raw) != signed_length + SIGNATURE_BYTES:
        raise InvalidTicketToken("not a ticket token")
    # Re-encoding must give back the same text: no alternative spellings of one token.
    if _b64(raw) != token:
        raise InvalidTicketToken("not a ticket token")
    key_id = raw[1]
    public_key = public_keys.get(key_id)
    if public_key is None:
        raise InvalidTicketToken("signed with a key that is not accepted")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            raw[signed_length:], raw[:signed_length]
        )
    except InvalidSignature as exc:
        raise InvalidTicketToken("the signature does not match") from exc
    if raw[0] == LEGACY_TOKEN_VERSION:
        return VerifiedTicket(_code_text(raw[2:signed_length]), key_id, None)
    conference_id = int.from_bytes(raw[2 : 2 + CONFERENCE_ID_BYTES], "big")
    return VerifiedTicket(
        _code_text(raw[2 + CONFERENCE_ID_BYTES : signed_length]), key_id, conference_id
    )
