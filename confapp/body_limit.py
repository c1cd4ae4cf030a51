"""A ceiling on request bodies: one over max_body_bytes gets 413 before it is read whole.

A declared Content-Length over the limit is answered at once, without reading a byte of the
body; a chunked body is counted as it streams in and stopped as soon as it passes the limit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from confapp.errors import error_response
from confapp.translation import ngettext


class BodyTooLarge(Exception):
    """Raised from `receive` once more bytes came in than are allowed."""


class BodyLimitMiddleware:
    """`larger_limits`: (path pattern, bytes) for the few POSTs that carry a file (a bank
    statement), which the general limit would refuse."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        larger_limits: Sequence[tuple[str, int]] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.larger_limits = [(re.compile(pattern), most) for pattern, most in larger_limits]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next(
            (most for pattern, most in self.larger_limits if pattern.fullmatch(scope["path"])),
            self.max_body_bytes,
        )
        if limit != self.max_body_bytes:
            await BodyLimitMiddleware(self.app, limit)(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(scope)(scope, receive, send)
            return

        received = 0
        response_started = False

        async def receive_counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        async def send_noting(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive_counting, send_noting)
        except BodyTooLarge:
            if response_started:
                raise
            await self._too_large(scope)(scope, receive, send)

    def _too_large(self, scope: Scope) -> Response:
        message = ngettext(
            "The request is larger than %(limit)d byte, the most accepted here.",
            "The request is larger than %(limit)d bytes, the most accepted here.",
            self.max_body_bytes,
        ) % {"limit": self.max_body_bytes}
        return error_response(Request(scope), 413, message, {"error": "too_large"})


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
