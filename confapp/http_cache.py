"""HTTP caching for built documents: conditional GET (ETag, Last-Modified, 304), compression
(brotli or gzip, as the client asks) done once per built body, and a small bounded cache of built
bodies, for pages, feeds and exports that many clients fetch."""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Generic, Literal, TypeVar

import brotli
from starlette.concurrency import run_in_threadpool
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


def private_csv(body: bytes, filename: str) -> Response:
    """A CSV of the back office, downloaded as a file, never cached or kept by a proxy."""
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={**PRIVATE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


_ENTITY_TAG = re.compile(r'\*|(?:W/)?"[^"]*"')


def strong_etag(body: bytes) -> str:
    """A strong validator: changes whenever a single byte of the body does."""
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


Encoding = Literal["br", "gzip", "identity"]

# Below this many bytes compression saves less than the headers it adds.
COMPRESS_FROM_BYTES = 512
_COMPRESSIBLE_TYPES = ("text/", "application/json", "application/xml", "application/atom+xml")
_ACCEPTED_CODING = re.compile(r"\s*([A-Za-z0-9*-]+)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*")


def compress(body: bytes, encoding: Encoding, *, quick: bool = False) -> bytes:
    """`body` in a content coding; `quick` for a body made for one response only."""
    if encoding == "br":
        compressed: bytes = brotli.compress(body, quality=1 if quick else 6)
        return compressed
    if encoding == "gzip":
        return gzip.compress(body, compresslevel=1 if quick else 6, mtime=0)
    return body


def preferred_encoding(accept_encoding: str | None) -> Encoding:
    """brotli where the client takes it, else gzip, else none (RFC 9110 12.5.3; q=0 refuses)."""
    if not accept_encoding:
        return "identity"
    weights: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        match = _ACCEPTED_CODING.fullmatch(part)
        if match is None:
            continue
        try:
            weights[match.group(1)] = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
    wildcard = weights.get("*", 0.0)
    codings: tuple[Encoding, ...] = ("br", "gzip")
    for coding in codings:
        if weights.get(coding, wildcard) > 0:
            return coding
    return "identity"


def is_compressible(media_type: str) -> bool:
    return media_type.startswith(_COMPRESSIBLE_TYPES)


def encoding_for(request: Request, body: bytes, media_type: str) -> Encoding:
    """The coding to send `body` in: none for small or already compact bodies."""
    if len(body) < COMPRESS_FROM_BYTES or not is_compressible(media_type):
        return "identity"
    return preferred_encoding(request.headers.get("accept-encoding"))


@dataclass(frozen=True)
class BuiltBody:
    """A document built once and served many times, with its validators. Its compressed forms
    are made once each, the first time a client asks for that coding, and kept with it."""

    body: bytes
    media_type: str
    last_modified: datetime
    etag: str
    _encoded: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, body: bytes, media_type: str, last_modified: datetime) -> BuiltBody:
        return cls(body, media_type, last_modified, strong_etag(body))

    def encoding_for(self, request: Request) -> Encoding:
        return encoding_for(request, self.body, self.media_type)

    def encoded(self, encoding: Encoding) -> bytes:
        if encoding == "identity":
            return self.body
        found = self._encoded.get(encoding)
        if found is None:
            # Two requests racing here both compress and one result is kept: the same bytes.
            found = self._encoded[encoding] = compress(self.body, encoding)
        return found

    def etag_for(self, encoding: Encoding) -> str:
        """A strong ETag per coding: a compressed body is a different representation."""
        if encoding == "identity":
            return self.etag
        return f'{self.etag[:-1]}-{encoding}"'


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
    """200 with a body made for this response alone (compressed quickly where the client takes
    it), or 304 without it when the client's If-None-Match or If-Modified-Since says it already
    holds this version."""
    etag = etag or strong_etag(body)
    encoding = encoding_for(request, body, media_type)
    validators = {
        "ETag": etag if encoding == "identity" else f'{etag[:-1]}-{encoding}"',
        "Last-Modified": http_date(last_modified),
        "Cache-Control": cache_control,
        "Vary": "Accept-Encoding",
        **(headers or {}),
    }
    if is_not_modified(request, validators["ETag"], last_modified):
        return Response(status_code=304, headers=validators)
    if encoding != "identity":
        validators["Content-Encoding"] = encoding
    return Response(compress(body, encoding, quick=True), media_type=media_type, headers=validators)


def compressed_response(
    request: Request, body: bytes, media_type: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A body made for this response alone and kept by nobody (a private page), compressed
    quickly where the client takes it."""
    encoding = encoding_for(request, body, media_type)
    sent = {"Vary": "Accept-Encoding", **(headers or {})}
    if encoding != "identity":
        sent["Content-Encoding"] = encoding
    return Response(compress(body, encoding, quick=True), media_type=media_type, headers=sent)


def built_body_response(
    request: Request,
    built: BuiltBody,
    headers: Mapping[str, str] | None = None,
    *,
    cache_control: str = DEFAULT_CACHE_CONTROL,
) -> Response:
    """The built body, compressed as the client asks, or 304 when the client's copy is current."""
    encoding = built.encoding_for(request)
    etag = built.etag_for(encoding)
    validators = {
        "ETag": etag,
        "Last-Modified": http_date(built.last_modified),
        "Cache-Control": cache_control,
        "Vary": "Accept-Encoding",
        **(headers or {}),
    }
    if is_not_modified(request, etag, built.last_modified):
        return Response(status_code=304, headers=validators)
    if encoding != "identity":
        validators["Content-Encoding"] = encoding
    return Response(built.encoded(encoding), media_type=built.media_type, headers=validators)


_SLOT = re.compile(r"<!--slot:([A-Za-z0-9_-]+)-->")


@dataclass(frozen=True)
class PersonalisedPage:
    """A page built once whose marked slots (`<!--slot:KEY-->`, such as each session's star
    button) differ between visitors. A visitor with nothing personal gets `plain`, a BuiltBody
    served and compressed like any other; anyone else gets the parts joined with their own
    slots, which costs one pass over the page instead of rendering it again."""

    plain: BuiltBody
    # Encoded once (encoding a whole page per visitor was a third of its time): bytes of text,
    # with each slot's key (a str) between them.
    parts: tuple[bytes | str, ...]
    default: Mapping[str, bytes]  # each slot for a visitor with nothing personal
    personal: Mapping[str, bytes]  # each slot for a visitor it applies to

    @classmethod
    def of(
        cls,
        marked: str,
        default: Mapping[str, str],
        personal: Mapping[str, str],
        media_type: str,
        last_modified: datetime,
    ) -> PersonalisedPage:
        split = _SLOT.split(marked)
        plain = "".join(default[p] if i % 2 else p for i, p in enumerate(split))
        return cls(
            BuiltBody.of(plain.encode("utf-8"), media_type, last_modified),
            tuple(p if i % 2 else p.encode("utf-8") for i, p in enumerate(split)),
            {slot: text.encode("utf-8") for slot, text in default.items()},
            {slot: text.encode("utf-8") for slot, text in personal.items()},
        )

    @property
    def body(self) -> bytes:  # what BodyCache counts
        return self.plain.body

    def for_visitor(self, slots: set[str]) -> bytes:
        return b"".join(
            (self.personal[p] if p in slots else self.default[p]) if isinstance(p, str) else p
            for p in self.parts
        )


def personalised_response(
    request: Request,
    page: PersonalisedPage,
    slots: set[str],
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The page as this visitor sees it. Private: a shared cache must never hand one visitor's
    page to another, and the browser revalidates it (ETag, 304) on every visit."""
    private = {"Vary": "Accept-Encoding, Cookie", **(headers or {})}
    cache_control = "private, no-cache"
    if not slots.intersection(page.default):
        return built_body_response(request, page.plain, private, cache_control=cache_control)
    built = page.plain
    return conditional_response(
        request,
        page.for_visitor(slots),
        built.media_type,
        built.last_modified,
        cache_control=cache_control,
        headers=private,
    )


Kept = TypeVar("Kept")


def _body_size(kept: Any) -> int:
    return len(kept.body)


class BodyCache(Generic[Kept]):
    """A bounded, thread-safe LRU of built bodies, by entry count and by total bytes (or of
    anything else built from versioned data, with `size` saying what an entry weighs).

    Only for keys that name the exact version of the data a body was built from (such as a
    conference's programme_version, read from the database on every request): then an entry is
    never stale, several app processes each holding their own copy still agree, and losing the
    cache costs one rebuild. Nothing that must be shared between processes lives here.
    """

    def __init__(
        self,
        max_entries: int = 256,
        max_bytes: int = 64 * 1024 * 1024,
        size: Callable[[Kept], int] = _body_size,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._size = size
        self._entries: OrderedDict[Hashable, Kept] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable) -> Kept | None:
        with self._lock:
            built = self._entries.get(key)
            if built is not None:
                self._entries.move_to_end(key)
            return built

    def put(self, key: Hashable, built: Kept) -> None:
        if self._size(built) > self.max_bytes:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= self._size(previous)
            self._entries[key] = built
            self._bytes += self._size(built)
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= self._size(evicted)

    def get_or_build(self, key: Hashable, build: Callable[[], Kept]) -> Kept:
        """The cached body, or build it: once, however many requests miss at the same moment
        (after a programme change, every polling client misses together). A key always names
        one kind of build, so what it holds is what `build` makes."""
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

    async def get_or_build_in_thread(self, key: Hashable, build: Callable[[], Kept]) -> Kept:
        """get_or_build for a request: a hit is answered on the event loop, and only a build
        (which reads the database) goes to a worker thread."""
        built = self.get(key)
        if built is not None:
            return built
        return await run_in_threadpool(self.get_or_build, key, build)


def app_body_cache(request: Request) -> BodyCache[Any]:
    """The app's body cache (one per app, so one per database; made in create_app)."""
    cache: BodyCache[Any] = request.app.state.body_cache
    return cache
