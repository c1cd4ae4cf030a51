"""Did a page of this site send this request? For posts that carry no secret token of their
own (signing in, starring a session) and as a second check beside CSRF tokens.

Every page is served with `Referrer-Policy: no-referrer`, under which Chromium sends
`Origin: null` even on a form posted from this very site; so "null" says nothing, and the
browser's `Sec-Fetch-Site` decides. A script that sends neither header is let through: it is
not a browser acting for someone else.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from confapp.request_context import app_settings


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def own_origins(request: Request) -> set[str]:
    origins = {_origin(str(request.url))}
    base_url = app_settings(request).base_url
    if base_url:  # behind a proxy the request itself may say http://
        origins.add(_origin(base_url))
    return origins


def sent_from_this_site(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        return origin.lower() in own_origins(request)
    return request.headers.get("sec-fetch-site", "same-origin") in {"same-origin", "none"}
