"""Random secrets handed out once (session ids, API tokens, link tokens) and their hashes.

Only the SHA-256 of a secret is stored: with 256 random bits there is nothing to guess, so a
slow hash buys nothing, and a copy of the database cannot be used to sign in.
"""

from __future__ import annotations

import hashlib
import secrets


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
