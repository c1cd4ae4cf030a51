"""Admission tokens a door device must accept or refuse, built from one genuine ticket: for
tests that hold the door page's verifier to agree with the Python one (and with the API).

`door_token_cases(db, token)` gives (token, expected_valid) pairs, where valid means: a genuine
signature by a key the conference publishes, naming the conference the genuine token names.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confapp.db import Database
from confapp.tickets.keys import signing_key_by_id
from confapp.tickets.tokens import SIGNATURE_BYTES, InvalidTicketToken, verify_ticket_token


def _decode(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def labelled_door_token_cases(db: Database, token: str) -> list[tuple[str, str, bool]]:
    """(label, token, expected_valid) for one genuine version-2 token of the conference."""
    raw = _decode(token)
    signed, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    key_id = signed[1]
    with db.read() as session:
        key = signing_key_by_id(session, key_id)
    assert key is not None, "the genuine token's key is accepted"
    private = Ed25519PrivateKey.from_private_bytes(key.private_key)
    stranger = Ed25519PrivateKey.generate()
    conference_id = int.from_bytes(signed[2:6], "big")
    other_conference = signed[:2] + (conference_id + 1).to_bytes(4, "big") + signed[6:]
    flipped = bytearray(signature)
    flipped[10] ^= 0x01
    flipped_code = bytearray(signed)
    flipped_code[-1] ^= 0x01
    unpublished_key_id = bytes([signed[0], (key_id % 255) + 1]) + signed[2:]
    return [
        ("genuine", token, True),
        ("flipped signature byte", _encode(signed + bytes(flipped)), False),
        ("flipped ticket code byte", _encode(bytes(flipped_code) + signature), False),
        ("truncated", token[:-4], False),
        ("one character short", token[:-1], False),
        ("signed by another key under its key id", _encode(signed + stranger.sign(signed)), False),
        (
            "signed by a key the conference never published",
            _encode(unpublished_key_id + private.sign(unpublished_key_id)),
            False,
        ),
        (
            "genuinely signed for another conference",
            _encode(other_conference + private.sign(other_conference)),
            False,
        ),
        ("random base64url", _encode(bytes(range(len(raw)))), False),
        ("empty", "", False),
    ]


def door_token_cases(db: Database, token: str) -> list[tuple[str, bool]]:
    """(token, expected_valid) pairs: see labelled_door_token_cases."""
    return [(case, valid) for _, case, valid in labelled_door_token_cases(db, token)]


def python_says_valid(token: str, public_keys: dict[int, bytes], conference_id: int) -> bool:
    """The Python verifier's answer, as a door device for `conference_id` would give it."""
    try:
        verified = verify_ticket_token(token, public_keys)
    except InvalidTicketToken:
        return False
    return verified.conference_id == conference_id
