"""The one place that renders errors: a page for people, JSON for /api/ clients, never a trace."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from confapp.access_log import redact_path
from confapp.templating import render

log = logging.getLogger("confapp")

_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Please check the form",
    500: "Something went wrong",
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
        {"status": status, "title": _TITLES.get(status, "Error"), "message": message},
        status_code=status,
    )


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if exc.detail and exc.detail != _phrase(exc.status_code) else ""
    if exc.status_code == 404 and not message:
        message = "There is no page at this address."
    response = error_response(request, exc.status_code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def not_found_handler(request: Request, exc: Exception) -> Response:
    return error_response(request, 404, str(exc))


async def server_error_handler(request: Request, exc: Exception) -> Response:
    # Logged without the query string and with secrets cut out of the path (ticket tokens).
    log.exception("unhandled error on %s %s", request.method, redact_path(request.url.path))
    return error_response(
        request, 500, "The server hit a problem. Nothing you sent was half-saved; please try again."
    )


def _phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
