"""HTTP caching for built documents: conditional GET (ETag, Last-Modified, 304) and a small
bounded cache of built bodies, for feeds and exports that many clients poll."""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response

# Clients poll at most hourly and revalidate with ETag; a shared cache (a CDN or reverse proxy)
# may serve a copy for five minutes without asking, which nobody will notice on a calendar.
DEFAULT_CACHE_CONTROL = "public, max-age=300"

# For pages whose address or content is a secret (admission tokens, management links, agenda
# keys): no cache may keep them, no Referer carries the address on, no search engine lists them.
PRIVATE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "no-store",
}

_ENTITY_TAG = re.compile(r'\*|(?:W/)?"[^"]*"')


def strong_etag(body: bytes) -> str:
    """A strong validator: changes whenever a single byte of the body does."""
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


@dataclass(frozen=True)
class BuiltBody:
    """A document built once and served many times, with its validators."""

    body: bytes
    media_type: str
    last_modified: datetime
    etag: str

    @classmethod
    def of(cls, body: bytes, media_type: str, last_modified: datetime) -> BuiltBody:
        return cls(body, media_type, last_modified, strong_etag(body))


def http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _etag_matches(if_none_match: str, etag: str) -> bool:
    # RFC 9110 13.1.2: weak comparison for If-None-Match, so W/"x" matches "x".
    opaque = etag.removeprefix("W/")
    for candidate in _ENTITY_TAG.findall(if_none_match):
        if candidate == "*" or candidate.removeprefix("W/") == opaque:
            return True
    return False


def _not_modified_since(if_modified_since: str, last_modified: datetime) -> bool:
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False  # an unparsable date is ignored (RFC 9110 13.1.3)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified.astimezone(UTC).replace(microsecond=0) <= since


def is_not_modified(request: Request, etag: str, last_modified: datetime) -> bool:
    """Whether the client's copy is current (RFC 9110 13.2.2 order of evaluation)."""
    if request.method not in ("GET", "HEAD"):
        return False
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, etag)
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since is not None:
        return _not_modified_since(if_modified_since, last_modified)
    return False


def conditional_response(
    request: Request,
    body: bytes,
    media_type: str,
    last_modified: datetime,
    *,
    etag: str | None = None,
    cache_control: str = DEFAULT_CACHE_CONTROL,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """200 with the body, or 304 without it when the client's If-None-Match or
    If-Modified-Since says it already holds this version."""
    etag = etag or strong_etag(body)
    validators = {
        "ETag": etag,
        "Last-Modified": http_date(last_modified),
        "Cache-Control": cache_control,
        **(headers or {}),
    }
    if is_not_modified(request, etag, last_modified):
        return Response(status_code=304, headers=validators)
    return Response(body, media_type=media_type, headers=validators)


def built_body_response(
    request: Request, built: BuiltBody, headers: Mapping[str, str] | None = None
) -> Response:
    return conditional_response(
        request,
        built.body,
        built.media_type,
        built.last_modified,
        etag=built.etag,
        headers=headers,
    )


class BodyCache:
    """A bounded, thread-safe LRU of built bodies, by entry count and by total bytes.

    Only for keys that name the exact version of the data a body was built from (such as a
    conference's programme_version, read from the database on every request): then an entry is
    never stale, several app processes each holding their own copy still agree, and losing the
    cache costs one rebuild. Nothing that must be shared between processes lives here.
    """

    def __init__(self, max_entries: int = 256, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, BuiltBody] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable) -> BuiltBody | None:
        with self._lock:
            built = self._entries.get(key)
            if built is not None:
                self._entries.move_to_end(key)
            return built

    def put(self, key: Hashable, built: BuiltBody) -> None:
        if len(built.body) > self.max_bytes:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= len(previous.body)
            self._entries[key] = built
            self._bytes += len(built.body)
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.body)

    def get_or_build(self, key: Hashable, build: Callable[[], BuiltBody]) -> BuiltBody:
        """The cached body, or build it: once, however many requests miss at the same moment
        (after a programme change, every polling client misses together)."""
        built = self.get(key)
        if built is not None:
            return built
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        try:
            with building:
                built = self.get(key)
                if built is None:
                    built = build()
                    self.put(key, built)
        finally:
            with self._lock:
                self._building.pop(key, None)
        return built


def app_body_cache(request: Request) -> BodyCache:
    """The app's body cache (one per app, so one per database; made in create_app)."""
    return request.app.state.body_cache
