"""The one place that renders errors: a page for people, JSON for /api/ clients, never a trace.

Server errors are logged with their type and traceback but never their message: a database
error's message can quote the row it failed on (a name, an e-mail address, access needs).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from confapp.access_log import redact_path
from confapp.request_body import BadRequestBody
from confapp.templating import render
from confapp.translation import N_, _

log = logging.getLogger("confapp")

# The titles of error pages, translated where shown; JSON's "error" is the English, lower-cased:
# a code that clients match on.
_TITLES = {
    400: N_("Bad request"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    409: N_("Conflict"),
    413: N_("Too large"),
    422: N_("Please check the form"),
    429: N_("Too many requests"),
    500: N_("Something went wrong"),
}


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(
    request: Request, status: int, message: str, extra: dict[str, Any] | None = None
) -> Response:
    if wants_json(request):
        body: dict[str, Any] = {"error": _TITLES.get(status, "error").lower(), "detail": message}
        body.update(extra or {})
        return JSONResponse(body, status_code=status)
    return render(
        request,
        "error.html",
        {
            "status": status,
            "title": _(_TITLES[status]) if status in _TITLES else _("Error"),
            "message": message,
        },
        status_code=status,
    )


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if exc.detail and exc.detail != _phrase(exc.status_code) else ""
    if exc.status_code == 404 and not message:
        message = _("There is no page at this address.")
    response = error_response(request, exc.status_code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def bad_body_handler(request: Request, exc: Exception) -> Response:
    """A body refused by confapp.request_body where the route did not show its own page."""
    assert isinstance(exc, BadRequestBody)
    extra: dict[str, Any] = {"error": exc.error}
    if exc.fields:
        extra["fields"] = exc.fields
    return error_response(request, exc.status, exc.detail, extra)


async def not_found_handler(request: Request, exc: Exception) -> Response:
    return error_response(request, 404, str(exc))


async def server_error_handler(request: Request, exc: Exception) -> Response:
    log_server_error(request, exc)
    return error_response(
        request,
        500,
        _("The server hit a problem. Nothing you sent was half-saved; please try again."),
    )


def log_server_error(request: Request, exc: BaseException) -> None:
    # Without the query string and with secrets cut out of the path (ticket tokens).
    log.error(
        "unhandled %s on %s %s\n%s",
        _type_name(exc),
        request.method,
        redact_path(request.url.path),
        traceback_without_messages(exc),
    )


def traceback_without_messages(exc: BaseException) -> str:
    """The traceback of `exc` and of the exceptions that led to it, each ending in its type
    (and SQLSTATE, for a database error) where Python would print its message."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and not any(current is seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts: list[str] = []
    for earlier in reversed(chain):
        if parts:
            parts.append("\nwhich led to:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(earlier.__traceback__))
        sqlstate = getattr(getattr(earlier, "orig", earlier), "sqlstate", None)
        parts.append(_type_name(earlier) + (f" (SQLSTATE {sqlstate})" if sqlstate else "") + "\n")
    return "".join(parts).rstrip("\n")


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


class CatchServerErrors:
    """Answers an exception that escaped every handler with the 500 page, and keeps the
    connection open.

    Starlette's own ServerErrorMiddleware sends its 500 and then re-raises for the server to
    log; uvicorn then logs the message (values and all) and closes the connection, so a request
    a client sent on the same keep-alive connection fails. Here the error is logged once,
    without its message, and the connection lives on.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = complete = False

        async def send_noting(message: Message) -> None:
            nonlocal started, complete
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            await send(message)

        try:
            await self.app(scope, receive, send_noting)
        except Exception as exc:
            request = Request(scope)
            if not started:
                response = await server_error_handler(request, exc)
                await response(scope, receive, send)
                return
            log_server_error(request, exc)  # raised after the response (a background task)
            if not complete:
                # Half a body went out: only closing the connection tells the client so.
                raise RuntimeError("response cut short by the error logged above") from None


def _phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
