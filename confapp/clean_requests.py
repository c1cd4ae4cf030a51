"""Requests whose address or cookies are not clean text are stopped at the door.

PostgreSQL refuses NUL in text, so a lookup by such a path segment, query value or cookie would
end in a server error; control characters in a path would forge lines in the access log; and
invalid UTF-8 (lone surrogates such as %ED%A0%80) cannot be encoded again. Such a path or query
gets 400, an absurdly long path 404, and a cookie holding control characters is dropped (not
refused: a person cannot easily clear a cookie that something else set for this host).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from confapp.errors import error_response
from confapp.translation import _

# Far longer than any address the app makes (a ticket's is about 110 bytes).
MAX_PATH_BYTES = 2048

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class CleanRequestMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogatepass")
        if len(raw_path) > MAX_PATH_BYTES:
            message = _("There is no page at this address.")
            response = error_response(Request(scope), 404, message)
            await response(scope, receive, send)
            return
        if not _is_clean_path(raw_path) or b"\x00" in _query_bytes(scope["query_string"]):
            message = _("This address holds characters that no address here has.")
            await error_response(Request(scope), 400, message)(scope, receive, send)
            return
        await self.app(_without_unsafe_cookies(scope), receive, send)


def _is_clean_path(raw_path: bytes) -> bool:
    try:
        path = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return _CONTROL.search(path) is None


def _query_bytes(query_string: bytes) -> bytes:
    return unquote_to_bytes(query_string.replace(b"+", b" "))


def _without_unsafe_cookies(scope: Scope) -> Scope:
    """The scope, with any cookie whose name or value holds a control character left out."""
    headers: list[tuple[bytes, bytes]] = []
    changed = False
    for name, value in scope["headers"]:
        if name.lower() == b"cookie":
            pairs = value.decode("latin-1").split(";")
            kept = [pair.strip() for pair in pairs if _is_clean_cookie(pair)]
            if len(kept) != len(pairs):
                changed = True
                value = "; ".join(pair for pair in kept if pair).encode("latin-1")
        headers.append((name, value))
    return {**scope, "headers": headers} if changed else scope


def _is_clean_cookie(pair: str) -> bool:
    # Parsed as Starlette parses it, so an escaped "\000" inside quotes is seen as the NUL it is.
    return not any(
        _CONTROL.search(key) or _CONTROL.search(value) for key, value in cookie_parser(pair).items()
    )
