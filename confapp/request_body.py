"""Reading request bodies strictly: a JSON object or a text-only form, or a clear refusal.

Everything a body can hold that breaks the code behind it (a file in a text field, NUL bytes
PostgreSQL refuses, lone surrogates no encoder takes, nesting that exhausts the stack, numbers
past Python's int limit) is refused here, before any domain code sees it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncGenerator, Callable, Collection, Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from babel.numbers import format_decimal
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse

from confapp.translation import N_, _, babel_locale, ngettext

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 20
MAX_NUMBER_CHARS = 30
MAX_FORM_FIELDS = 200
MAX_PROBLEMS = 10
CSRF_FIELD = "csrf_token"  # a form's CSRF token, noted for the auth layer (see read_form_fields)

# C0 controls but tab, newline and carriage return; DEL and C1 controls; lone surrogates.
_REFUSED_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_JSON = N_("The body must be a JSON object, in UTF-8.")


class BadRequestBody(Exception):
    """A body refused whole (status 400 or 413) or for what some fields hold (422).

    `fields` maps each refused field to the reason; `values` holds the fields of a form that
    could be read, so a page can be shown again with what the person typed.
    """

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        field: str | None = None,
        *,
        fields: Mapping[str, str] | None = None,
        values: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.fields: dict[str, str] = dict(fields or ({field: detail} if field else {}))
        self.field = field or next(iter(self.fields), None)
        self.values: dict[str, str] = dict(values or {})


def bad_request_json(refused: BadRequestBody) -> JSONResponse:
    """The refusal as the JSON API answers it: {"error", "detail", "fields": {field: reason}}."""
    body: dict[str, Any] = {"error": refused.error, "detail": refused.detail}
    if refused.fields:
        body["fields"] = refused.fields
    return JSONResponse(body, status_code=refused.status)


def character_problem(text: str, allowed_controls: str = "\t\n\r") -> str | None:
    """Why `text` cannot be kept as it is, or None: a lone surrogate or a control character."""
    if _SURROGATE.search(text):
        return _("This holds a broken character (a lone surrogate) that cannot be stored.")
    for match in _REFUSED_CHARACTER.finditer(text):
        if match.group() not in allowed_controls:
            return _("This holds a control character (like a NUL byte) that cannot be stored.")
    if any(c in text for c in "\t\n\r" if c not in allowed_controls):
        return _("This must be on one line, without tabs.")
    return None


# --- bodies -------------------------------------------------------------------------------


def _too_large(limit: int) -> BadRequestBody:
    detail = ngettext(
        "The body is larger than %(limit)s byte.", "The body is larger than %(limit)s bytes.", limit
    ) % {"limit": format_decimal(limit, locale=babel_locale())}
    return BadRequestBody(413, "too_large", detail)


def _check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 15 or int(declared) > limit):
        raise _too_large(limit)


async def _capped_stream(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The body in chunks, refused once more than `limit` bytes have come, whatever it claimed."""
    _check_declared_length(request, limit)
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(limit)
        yield chunk


async def _read_capped(request: Request, limit: int) -> bytes:
    return b"".join([chunk async for chunk in _capped_stream(request, limit)])


# --- JSON -------------------------------------------------------------------------------------


class _Refused:
    """Put in place of a number JSON may spell but this app will not take (or a form field it
    will not read). `reason` words why, in the language in force when it is called."""

    def __init__(self, reason: Callable[[], str]) -> None:
        self.reason = reason


_LONG_NUMBER = _Refused(
    lambda: (
        ngettext(
            "Numbers are limited to %(count)d character.",
            "Numbers are limited to %(count)d characters.",
            MAX_NUMBER_CHARS,
        )
        % {"count": MAX_NUMBER_CHARS}
    )
)
_NOT_A_NUMBER = _Refused(lambda: _("NaN and Infinity are not numbers this API takes."))


def _parse_int(literal: str) -> int | _Refused:
    # Checked before int(): a 5,000-digit literal would raise past Python's int limit.
    return int(literal) if len(literal) <= MAX_NUMBER_CHARS else _LONG_NUMBER


def _parse_float(literal: str) -> float | _Refused:
    if len(literal) > MAX_NUMBER_CHARS:
        return _LONG_NUMBER
    number = float(literal)
    return number if math.isfinite(number) else _NOT_A_NUMBER


def _parse_constant(literal: str) -> _Refused:
    return _NOT_A_NUMBER


# One token per match and none overlapping, so the scan stays linear whatever the text holds.
_JSON_SYNTAX = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


def _nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest, counted in a loop (json.loads would recurse)."""
    depth = deepest = 0
    in_string = False
    for match in _JSON_SYNTAX.finditer(text):
        token = match.group()
        if token == '"':
            in_string = not in_string
        elif in_string or token[0] == "\\":
            continue
        elif token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _path_label(path: tuple[str | int, ...]) -> str:
    parts = []
    for step in path:
        if isinstance(step, int):
            parts.append(str(step))
        elif len(step) <= 64 and not _REFUSED_CHARACTER.search(step) and "." not in step:
            parts.append(step)
        else:
            parts.append("?")
    return ".".join(parts)


def _json_problems(document: dict[str, Any]) -> dict[str, str]:
    """Refused numbers and strings anywhere in the document, keyed by their dotted path."""
    problems: dict[str, str] = {}
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while pending and len(problems) < MAX_PROBLEMS:
        path, value = pending.pop()
        reason: str | None = None
        if isinstance(value, _Refused):
            reason = value.reason()
        elif isinstance(value, str):
            reason = character_problem(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                key_reason = character_problem(key, allowed_controls="")
                if key_reason:
                    problems.setdefault(
                        _path_label(path) or "(body)",
                        _("A key: %(reason)s") % {"reason": key_reason},
                    )
                pending.append(((*path, key), item))
        elif isinstance(value, list):
            pending.extend(((*path, index), item) for index, item in enumerate(value))
        if reason:
            problems.setdefault(_path_label(path), reason)
    return problems


def _body_limit(request: Request, max_bytes: int | None) -> int:
    # The app's setting (CONFAPP_MAX_BODY_BYTES), which its middleware enforces too.
    if max_bytes is not None:
        return max_bytes
    settings = getattr(request.app.state, "settings", None)
    return getattr(settings, "max_body_bytes", MAX_BODY_BYTES)


async def read_json_object(request: Request, max_bytes: int | None = None) -> dict[str, Any]:
    """The body as a JSON object of plain, storable values, or BadRequestBody saying why not."""
    raw = await _read_capped(request, _body_limit(request, max_bytes))
    try:
        text = raw.decode("utf-8") if raw else "null"
    except UnicodeDecodeError as error:
        raise BadRequestBody(400, "invalid_json", _(_NOT_JSON)) from error
    if _nesting_depth(text) > MAX_DEPTH:
        too_deep = ngettext(
            "The JSON nests deeper than %(count)d level.",
            "The JSON nests deeper than %(count)d levels.",
            MAX_DEPTH,
        ) % {"count": MAX_DEPTH}
        raise BadRequestBody(400, "invalid_json", too_deep)
    try:
        document = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except (ValueError, RecursionError) as error:
        raise BadRequestBody(400, "invalid_json", _(_NOT_JSON)) from error
    if not isinstance(document, dict):
        raise BadRequestBody(400, "invalid_json", _(_NOT_JSON))
    problems = _json_problems(document)
    if problems:
        raise BadRequestBody(
            422, "invalid", _("Some values cannot be taken as they are."), fields=problems
        )
    return document


# --- forms ------------------------------------------------------------------------------------

_A_FILE = _Refused(lambda: _("This field takes text, not a file."))
_NOT_UTF8 = _Refused(lambda: _("This could not be read as text (it is not UTF-8)."))


def _decode_urlencoded(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")


def _urlencoded_items(body: bytes) -> list[tuple[str, str | _Refused]]:
    items: list[tuple[str, str | _Refused]] = []
    for pair in body.split(b"&"):
        if not pair:
            continue
        if len(items) >= MAX_FORM_FIELDS:
            raise BadRequestBody(400, "invalid_form", _("The form has too many fields."))
        raw_name, _sep, raw_value = pair.partition(b"=")
        try:
            name = _decode_urlencoded(raw_name)
        except UnicodeDecodeError as error:
            raise BadRequestBody(400, "invalid_form", _("A field name is not UTF-8.")) from error
        try:
            items.append((name, _decode_urlencoded(raw_value)))
        except UnicodeDecodeError:
            items.append((name, _NOT_UTF8))
    return items


async def _multipart_items(request: Request, limit: int) -> list[tuple[str, str | _Refused]]:
    parser = MultiPartParser(
        request.headers,
        _capped_stream(request, limit),
        max_files=MAX_FORM_FIELDS,
        max_fields=MAX_FORM_FIELDS,
        max_part_size=limit,
    )
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise BadRequestBody(400, "invalid_form", _("The form could not be read.")) from error
    try:
        return [
            (name, _A_FILE if isinstance(value, UploadFile) else value)
            for name, value in form.multi_items()
        ]
    finally:
        await form.close()


async def read_form_fields(
    request: Request, names: Collection[str], max_bytes: int | None = None
) -> dict[str, str]:
    """The named fields of a urlencoded or multipart form, as plain storable strings.

    Fields not named are ignored, except that a file anywhere refuses the whole form. A
    field's problem (a file, a control character, a lone surrogate, not UTF-8) is a 422 that
    names it and carries the other fields' values. A `csrf_token` field, named or not, is
    noted on `request.state` for `admin.auth` to check, so no route has to pass it on.
    """
    limit = _body_limit(request, max_bytes)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        items = await _multipart_items(request, limit)
    elif content_type in ("application/x-www-form-urlencoded", ""):
        items = _urlencoded_items(await _read_capped(request, limit))
    else:
        raise BadRequestBody(
            415,
            "unsupported_media_type",
            _("Send the form as application/x-www-form-urlencoded or multipart/form-data."),
        )
    values: dict[str, str] = {}
    problems: dict[str, str] = {}
    for name, value in items:
        if name == CSRF_FIELD and isinstance(value, str) and value:
            # Noted for the auth layer, which checks it against the session's on unsafe methods.
            request.state.csrf_form_token = value
        if value is _A_FILE and name not in names:
            raise BadRequestBody(400, "invalid_form", _("This form takes no files."))
        if name not in names or name in problems:
            continue
        if isinstance(value, _Refused):
            problems[name] = value.reason()
        elif reason := character_problem(value):
            problems[name] = reason
        else:
            values[name] = value
    if problems:
        for name in problems:
            values.pop(name, None)
        raise BadRequestBody(
            422,
            "invalid",
            _("Some fields cannot be taken as they are."),
            fields=problems,
            values=values,
        )
    return values


MAX_ROW_ID = 2**31 - 1  # the largest id an INTEGER column holds on PostgreSQL


def row_id(text: str | None) -> int | None:
    """A database row id as typed in a form or a path (ASCII digits, 1 to 2**31-1), or None:
    anything else could only miss, or overflow the column and fail in the database."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ROW_ID else None
