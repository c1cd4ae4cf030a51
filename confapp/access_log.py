"""An access log that never writes ticket tokens or private feed keys.

uvicorn's own access log prints the full path and query string, which would put the secret
in /tickets/{token} into every log file, so `confapp serve` turns it off and uses this instead.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("confapp.access")

# The path segment after any of these is a secret (admission tokens, manage and order links,
# agenda keys, invitation and password-reset links), wherever it stands: "//my-ticket/X" and
# "/./my-ticket/X" reach the same page in some servers, so they are cut too.
_SECRET_SEGMENT = re.compile(
    r"(/(?:tickets|my-ticket|my-order|agenda|invitations|password-reset)/)[^/]+"
)
_REPEATED_SLASHES = re.compile(r"/{2,}")
_DOT_SEGMENTS = re.compile(r"/\.(?=/|$)")


def redact_path(path: str) -> str:
    path = _DOT_SEGMENTS.sub("", _REPEATED_SLASHES.sub("/", path))
    return _SECRET_SEGMENT.sub(r"\1…", path)


class RedactUvicornAccessLog(logging.Filter):
    """For `uvicorn confapp.app:app_from_env` run directly: cut secrets out of its access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            path = redact_path(str(path).split("?", 1)[0])
            record.args = (client, method, path, version, status)
        return True


def redact_uvicorn_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactUvicornAccessLog) for f in access.filters):
        access.addFilter(RedactUvicornAccessLog())


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # The query string is left out on purpose: it may carry tokens too.
            log.info(
                "%s %s %d %.1fms",
                scope["method"],
                redact_path(scope["path"]),
                status,
                (time.perf_counter() - started) * 1000,
            )
