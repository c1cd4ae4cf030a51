"""Password hashing with argon2id (argon2-cffi's defaults, the OWASP recommendation)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from confapp.translation import _, ngettext

_hasher = PasswordHasher()

MIN_LENGTH = 10
MAX_LENGTH = 1000

# Verified against when the account does not exist, so a wrong e-mail address takes as long
# to refuse as a wrong password and the timing does not tell which accounts exist.
_DUMMY_HASH = _hasher.hash("not a password anyone has")


def password_problem(password: str) -> str | None:
    if len(password) < MIN_LENGTH:
        return ngettext(
            "Use at least %(count)d character (a few words in a row are easy to remember).",
            "Use at least %(count)d characters (a few words in a row are easy to remember).",
            MIN_LENGTH,
        ) % {"count": MIN_LENGTH}
    if len(password) > MAX_LENGTH:
        return ngettext(
            "Use at most %(count)d character.", "Use at most %(count)d characters.", MAX_LENGTH
        ) % {"count": MAX_LENGTH}
    if "\x00" in password:
        return _("A password cannot hold a NUL character.")
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
