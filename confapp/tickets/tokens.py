"""Signed ticket tokens: what the QR code carries, verifiable offline with a public key alone.

A token is base64url( version | key id | ticket code (8 bytes) | Ed25519 signature (64 bytes) ),
99 characters. The signature covers the first ten bytes. A door device that holds only the
public keys can tell a genuine ticket from a forged or altered one, but cannot make tickets.
No name, e-mail or other personal data is in the token.
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

TOKEN_VERSION = 1
CODE_BYTES = 8
_SIGNED_LENGTH = 2 + CODE_BYTES
_TOKEN_BYTES = _SIGNED_LENGTH + 64


class InvalidTicketToken(Exception):
    """The token is malformed, signed by an unknown or retired key, or forged."""


@dataclass(frozen=True)
class VerifiedTicket:
    ticket_code: str
    key_id: int


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


def display_code(code: str) -> str:
    """The ticket code grouped for reading aloud at the door: ABCD-EFGH-IJKLM."""
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def sign_ticket(ticket_code: str, key_id: int, private_key: bytes) -> str:
    if not 1 <= key_id <= 255:
        raise ValueError("key ids run from 1 to 255")
    signed = bytes([TOKEN_VERSION, key_id]) + _code_bytes(ticket_code)
    signature = Ed25519PrivateKey.from_private_bytes(private_key).sign(signed)
    return base64.urlsafe_b64encode(signed + signature).decode("ascii").rstrip("=")


def verify_ticket_token(token: str, public_keys: Mapping[int, bytes]) -> VerifiedTicket:
    """Check a token offline against the public keys still accepted (key id -> raw key)."""
    if not token or len(token) > 120:
        raise InvalidTicketToken("not a ticket token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidTicketToken("not a ticket token") from exc
    if len(raw) != _TOKEN_BYTES or raw[0] != TOKEN_VERSION:
        raise InvalidTicketToken("not a ticket token")
    # Re-encoding must give back the same text: no alternative spellings of one token.
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != token:
        raise InvalidTicketToken("not a ticket token")
    key_id = raw[1]
    public_key = public_keys.get(key_id)
    if public_key is None:
        raise InvalidTicketToken("signed with a key that is not accepted")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            raw[_SIGNED_LENGTH:], raw[:_SIGNED_LENGTH]
        )
    except InvalidSignature as exc:
        raise InvalidTicketToken("the signature does not match") from exc
    return VerifiedTicket(ticket_code=_code_text(raw[2:_SIGNED_LENGTH]), key_id=key_id)
