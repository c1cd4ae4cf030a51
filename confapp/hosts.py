"""The host names this site answers to: a request with any other Host header gets 400.

Without CONFAPP_BASE_URL, links that leave the site (QR codes, feeds, redirects) are built from
the Host header, so a forged one would point them elsewhere. Only names the organisers chose,
or loopback, are served.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from confapp.settings import Settings
from confapp.translation import N_, _

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# Addresses that mean "every interface": not a name anybody can type.
_EVERY_INTERFACE = frozenset({"", "0.0.0.0", "::"})

INVALID_HOST_MESSAGE = N_("Invalid host header: this site does not answer to that name.")


def host_name(host: str) -> str:
    """The name in a Host header or base URL, without port or IPv6 brackets, in lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    name, colon, port = host.rpartition(":")
    return name if colon and port.isdigit() and ":" not in name else host


def allowed_host_names(settings: Settings) -> frozenset[str]:
    """CONFAPP_ALLOWED_HOSTS if set; else base_url's host and loopback; else loopback.

    The address `confapp serve --host` binds to is allowed too when it names one interface
    (`--host 192.168.1.20` for a demo on the LAN): it can only point links back at this server.
    """
    if settings.allowed_hosts:
        return frozenset(host_name(name) for name in settings.allowed_hosts)
    names = set(LOOPBACK_NAMES)
    if settings.base_url:
        names.add(host_name(urlsplit(settings.base_url).netloc))
    if settings.host not in _EVERY_INTERFACE:
        names.add(host_name(settings.host))
    return frozenset(names)


class AllowedHostsMiddleware:
    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed
        self.allow_any = "*" in allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allow_any:
            # A request without a Host header (HTTP/1.0) is served: its links are then built
            # from the address the connection came in on, which nobody can forge.
            host = Headers(scope=scope).get("host")
            if host is not None and host_name(host) not in self.allowed:
                await _invalid_host(scope)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _invalid_host(scope: Scope) -> Response:
    message = _(INVALID_HOST_MESSAGE)
    if scope["path"].startswith("/api/"):
        return JSONResponse({"error": "invalid_host", "detail": message}, 400)
    return PlainTextResponse(message, status_code=400)
