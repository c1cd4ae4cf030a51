"""Organisers' words in the reader's language: a conference's name, a session's title, a room's
access notes, a ticket type's name, a notice.

Each translatable model names its fields in `TRANSLATED`; its plain columns hold the default
language and its `translations` column the others, {language: {field: text}}. A reader gets
their language's text for each field that has one, else the default language's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, TypeVar

from confapp.translation import PSEUDO_LANGUAGE, current_language, pseudo


class Translatable(Protocol):
    TRANSLATED: ClassVar[tuple[str, ...]]
    translations: dict[str, dict[str, str]]


Row = TypeVar("Row", bound=Translatable)


def is_translatable(value: object) -> bool:
    return hasattr(type(value), "TRANSLATED") and hasattr(value, "translations")


def localized_values(context: Mapping[str, Any]) -> dict[str, Any]:
    """A template's context with each translatable row in it localized (top level only)."""
    return {k: localized(v) if is_translatable(v) else v for k, v in context.items()}


def texts_for(row: Translatable, language: str) -> dict[str, str]:
    """The row's translated fields in `language` (or its base language: es for es-AR)."""
    stored = row.translations or {}
    for candidate in (language, language.split("-")[0]):
        if candidate in stored:
            return {f: t for f, t in stored[candidate].items() if f in row.TRANSLATED and t}
    return {}


def localized(row: Row, language: str | None = None) -> Row:
    """The row as a reader of `language` (default: the request's) sees it: a detached copy with
    the translated fields put in, or the row itself when nothing is translated. Never written
    back: pages, feeds and mail read it."""
    language = language or current_language()
    if language == PSEUDO_LANGUAGE:
        texts = {f: pseudo(str(getattr(row, f))) for f in row.TRANSLATED if getattr(row, f)}
    else:
        texts = texts_for(row, language)
    if not texts:
        return row
    values: dict[str, Any] = {
        name: getattr(row, name)
        for name in type(row).model_fields  # type: ignore[attr-defined]
    }
    return type(row)(**{**values, **texts})


def all_languages(row: Translatable, default_language: str) -> dict[str, dict[str, str]]:
    """Every language's text of each translated field, for organisers' API: {field: {lang:
    text}}, the default language from the plain columns."""
    return {
        field: {
            default_language: str(getattr(row, field)),
            **{
                language: texts[field]
                for language, texts in sorted((row.translations or {}).items())
                if texts.get(field)
            },
        }
        for field in row.TRANSLATED
    }
