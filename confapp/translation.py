"""The reader's language: gettext catalogues, the language a request or a mail is in, and the
marks that put words through them.

Every user-facing string is marked: `_("...")` and `ngettext(...)` in Python (`N_("...")` for a
message kept in a module-level constant, translated with `_(CONSTANT)` where it is shown),
`{{ _("...") }}` in templates (Jinja's i18n extension, newstyle: placeholders are
`%(name)s`, given as keyword arguments), `_("...")` in the scripts under static/. Babel extracts
them (babel.cfg); the catalogues live in confapp/locale/<language>/LC_MESSAGES/ as .po files and
are compiled in memory the first time a language is used (docs/translations.md).

The language in force is a context variable: the language middleware sets it for each request
(from the switcher's cookie, else Accept-Language), a conference narrows it to the languages it
offers (`use_conference_language`), and `in_language` sets it around work done for someone else,
such as a mail built in their stored language.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

SOURCE_LANGUAGE = "en"
# A made-up language for tests: every translated string comes out accented, 40% longer, between
# ⟦ and ⟧, and right to left, so an unmarked string or a layout that cannot take longer words
# shows at once (docs/translations.md). Offered only where CONFAPP_PSEUDO_LANGUAGE is set.
PSEUDO_LANGUAGE = "qps"
PSEUDO_OPEN, PSEUDO_CLOSE = "⟦", "⟧"
LOCALE_DIR = Path(__file__).parent / "locale"
# The catalogue of the scripts under static/: sent to pages as JSON (`script_messages`).
SCRIPTS_DOMAIN = "scripts"


@dataclass
class _InForce:
    """The language in force, in a box: a request's route may narrow it inside a worker
    thread (run_in_threadpool copies the context, so a new value set there would not come
    back), and a change to the box is seen by the rest of the request."""

    language: str


_in_force: ContextVar[_InForce | None] = ContextVar("confapp_language", default=None)


def _language_now() -> str:
    box = _in_force.get()
    return box.language if box is not None else SOURCE_LANGUAGE


def _put_in_force(language: str) -> None:
    box = _in_force.get()
    if box is None:
        _in_force.set(_InForce(language))
    else:
        box.language = language


# What the reader asked for, best first (cookie, then Accept-Language): kept so that a
# conference can choose among its own languages later in the request.
_wanted: ContextVar[tuple[str, ...]] = ContextVar("confapp_wanted_languages", default=())
_pseudo_offered = False


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for a deferred mark)
    """Marks a message kept for later; `_(message)` translates it where it is shown."""
    return message


def _(message: str) -> str:
    return catalogue(_language_now()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return catalogue(_language_now()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """A message whose English is ambiguous ("Open" a door, "Open" for registration)."""
    return catalogue(_language_now()).pgettext(context, message)


def current_language() -> str:
    return _language_now()


@contextmanager
def in_language(language: str | None) -> Iterator[None]:
    """Marks inside work in `language` (a shipped one; else the source language)."""
    token = _in_force.set(_InForce(_shipped_or_source(language)))
    try:
        yield
    finally:
        _in_force.reset(token)


def offer_pseudo_language(offered: bool) -> None:
    """Set once at start from CONFAPP_PSEUDO_LANGUAGE: static for the life of the process."""
    global _pseudo_offered
    _pseudo_offered = offered


def shipped_languages() -> tuple[str, ...]:
    """The languages with an interface catalogue, the source language first."""
    languages = catalogued_languages()
    return (*languages, PSEUDO_LANGUAGE) if _pseudo_offered else languages


def catalogue_path(language: str, domain: str = "messages") -> Path:
    """Where a language's catalogue of a domain lives: confapp/locale/es/LC_MESSAGES/messages.po
    (a regional language's folder is written with an underscore: pt_BR)."""
    return LOCALE_DIR / language.replace("-", "_") / "LC_MESSAGES" / f"{domain}.po"


@functools.cache
def catalogued_languages() -> tuple[str, ...]:
    """The languages with a catalogue on disk, the source language first (the pseudo-language
    is not one). Catalogues ship with the code: looked for once per process."""
    found = sorted(
        p.name
        for p in LOCALE_DIR.iterdir()
        if (p / "LC_MESSAGES" / "messages.po").is_file() and p.name != SOURCE_LANGUAGE
    )
    return (SOURCE_LANGUAGE, *(f.replace("_", "-") for f in found))


def _catalogue_language(language: str) -> str | None:
    return _catalogue_for(language, _pseudo_offered)


def has_catalogue(language: str) -> bool:
    """Whether the interface can be shown in `language` (its own catalogue or its base's)."""
    return _catalogue_language(language) is not None


@functools.lru_cache(maxsize=256)  # tags come from readers' headers: bounded
def _catalogue_for(language: str, pseudo_offered: bool) -> str | None:
    """The shipped catalogue that serves a language tag: itself, else its base language."""
    shipped = shipped_languages()
    for candidate in (language, language.split("-")[0]):
        if candidate in shipped:
            return candidate
    return None


def _shipped_or_source(language: str | None) -> str:
    if language and _catalogue_language(language) is not None:
        return language
    return SOURCE_LANGUAGE


# --- choosing the language --------------------------------------------------------------

_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def normal_tag(tag: str) -> str | None:
    """A language tag as confapp writes it (es, en-AU, zh-Hant), or None for no tag at all."""
    tag = tag.strip().replace("_", "-")
    if not _TAG.match(tag):
        return None
    head, *rest = tag.split("-")
    parts = [head.lower()] + [p.upper() if len(p) == 2 else p.title() for p in rest]
    return "-".join(parts)


def parse_accept_language(header: str) -> tuple[str, ...]:
    """The tags of an Accept-Language header, most wanted first (q=0 dropped)."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        normal = normal_tag(tag)
        if normal and quality > 0:
            weighted.append((-quality, position, normal))
    return tuple(tag for _q, _p, tag in sorted(weighted))


def best_language(wanted: Iterable[str], offered: Iterable[str], default: str) -> str:
    """The first wanted language on offer, matching en-GB to en and en to en-AU; else default."""
    offered = list(offered)
    for tag in wanted:
        if tag in offered:
            return tag
        base = tag.split("-")[0]
        for language in offered:
            if language.split("-")[0] == base:
                return language
    return default


def set_wanted_languages(wanted: tuple[str, ...]) -> None:
    """For the request under way: what the reader asked for, and the best shipped match."""
    _wanted.set(wanted)
    # A new box for each request: never the box of an earlier one.
    _in_force.set(_InForce(best_language(wanted, shipped_languages(), SOURCE_LANGUAGE)))


def wanted_languages() -> tuple[str, ...]:
    return _wanted.get()


def use_conference_language(offered: Iterable[str], default: str) -> str:
    """Narrows the request's language to one the conference offers, and returns it."""
    language = best_language(_wanted.get(), offered, default)
    _put_in_force(_shipped_or_source(language))
    return _language_now()


# --- the catalogues ---------------------------------------------------------------------


def babel_locale(language: str | None = None) -> Locale:
    """The Babel locale dates, numbers and money are formatted with."""
    return _babel_locale(language or _language_now())


@functools.lru_cache(maxsize=64)
def _babel_locale(language: str) -> Locale:
    if language == PSEUDO_LANGUAGE:
        return Locale.parse("en")
    try:
        return Locale.parse(language, sep="-")
    except (UnknownLocaleError, ValueError):
        return Locale.parse(SOURCE_LANGUAGE)


def text_direction(language: str | None = None) -> str:
    """ "rtl" or "ltr", for <html dir>."""
    return _text_direction(language or _language_now())


@functools.lru_cache(maxsize=64)
def _text_direction(language: str) -> str:
    if language == PSEUDO_LANGUAGE:
        return "rtl"
    return "rtl" if babel_locale(language).character_order == "right-to-left" else "ltr"


def language_name(language: str) -> str:
    """A language's name in itself, for the switcher: "Español", "English"."""
    if language == PSEUDO_LANGUAGE:
        return pseudo("Pseudo")
    name = babel_locale(language).language_name or language
    return name[:1].upper() + name[1:]


def language_name_for_reader(language: str) -> str:
    """A language's name in the reader's language, for labels ("Title in Spanish", "Título en
    español"); a regional one with its region ("English (Australia)")."""
    if language == PSEUDO_LANGUAGE:
        return pseudo("Pseudo")
    return as_shown(babel_locale(language).get_display_name(babel_locale()) or language)


def catalogue(language: str, domain: str = "messages") -> _gettext.NullTranslations:
    if language == PSEUDO_LANGUAGE:
        return _PSEUDO
    shipped = _catalogue_language(language)
    if shipped is None or shipped == SOURCE_LANGUAGE:
        return _SOURCE
    return _compiled(shipped, domain)


@functools.cache
def _compiled(language: str, domain: str) -> _gettext.NullTranslations:
    """A .po file compiled in memory (catalogues are part of the code: cached for the life of
    the process)."""
    path = catalogue_path(language, domain)
    if not path.is_file():
        return _SOURCE
    with path.open("rb") as po:
        messages = read_po(po, locale=language.replace("-", "_"))
    compiled = BytesIO()
    write_mo(compiled, messages, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=domain)


def script_messages(language: str | None = None) -> dict[str, object]:
    """The scripts' catalogue for a language as JSON-ready data: singular messages by msgid,
    plurals by msgid as {CLDR plural category: text}, for Intl.PluralRules to pick from."""
    language = language or _language_now()
    if language == PSEUDO_LANGUAGE:
        return {"language": language, "pseudo": True, "messages": {}, "plurals": {}}
    shipped = _catalogue_language(language)
    path = (
        catalogue_path(shipped, SCRIPTS_DOMAIN) if shipped and shipped != SOURCE_LANGUAGE else None
    )
    return _script_messages(str(path) if path and path.is_file() else "", language)


@functools.cache
def _script_messages(path: str, language: str) -> dict[str, object]:
    singular: dict[str, str] = {}
    plural: dict[str, dict[str, str]] = {}
    if path:
        with open(path, "rb") as po:
            messages = read_po(po, locale=language.replace("-", "_"))
        tags = _plural_tags(language)
        for message in messages:
            if not message.id or message.fuzzy:
                continue
            if isinstance(message.id, tuple):
                forms = message.string if isinstance(message.string, tuple) else ()
                if all(forms):
                    plural[message.id[0]] = dict(zip(tags, forms, strict=False))
            elif message.string and isinstance(message.id, str):
                singular[message.id] = str(message.string)
    return {"language": language, "pseudo": False, "messages": singular, "plurals": plural}


def _plural_tags(language: str) -> list[str]:
    """CLDR's plural categories in the order Babel numbers a catalogue's plural forms."""
    order = ("zero", "one", "two", "few", "many", "other")
    tags = set(babel_locale(language).plural_form.tags) | {"other"}
    return [t for t in order if t in tags]


# --- the pseudo-language ----------------------------------------------------------------

_ACCENTED = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "ȧƀƈḓḗƒɠħīĵķŀḿƞǿƥɋřşŧŭṽẇẋẏẑȦƁƇḒḖƑƓĦĪĴĶĿḾȠǾƤɊŘŞŦŬṼẆẊẎẐ",
)
# Left as they are: placeholders (%(name)s, %s, %d, {name}), HTML tags and entities.
_UNTOUCHED = re.compile(r"%\([^)]*\)[sdif]|%[sdif%]|\{[^{}]*\}|<[^>]*>|&[#\w]+;")


def pseudo(text: str) -> str:
    """English made visibly foreign and 40% longer, placeholders and markup kept."""
    if not text or text.startswith(PSEUDO_OPEN):
        return text
    out: list[str] = []
    position = 0
    for kept in _UNTOUCHED.finditer(text):
        out.append(text[position : kept.start()].translate(_ACCENTED))
        out.append(kept.group(0))
        position = kept.end()
    out.append(text[position:].translate(_ACCENTED))
    letters = sum(ch.isalpha() for ch in text)
    return PSEUDO_OPEN + "".join(out) + _padding(max(1, (letters * 2) // 5)) + PSEUDO_CLOSE


def _padding(length: int) -> str:
    """The 40% more: in words of up to five dots, so that a long text still wraps."""
    words = ["·" * 5] * (length // 5) + (["·" * (length % 5)] if length % 5 else [])
    return " ".join(words)


def as_shown(text: str) -> str:
    """Words made by code rather than a catalogue (a day's name from Babel), as the reader's
    language shows them: pseudo-translated in the pseudo-language, else as they are."""
    if _language_now() == PSEUDO_LANGUAGE and any(ch.isalpha() for ch in text):
        return pseudo(text)
    return text


class _PseudoTranslations(_gettext.NullTranslations):
    def gettext(self, message: str) -> str:
        return pseudo(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return pseudo(msgid1 if n == 1 else msgid2)

    def pgettext(self, context: str, message: str) -> str:
        return pseudo(message)

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        return pseudo(msgid1 if n == 1 else msgid2)


_SOURCE = _gettext.NullTranslations()
_PSEUDO = _PseudoTranslations()


class CurrentTranslations(_gettext.NullTranslations):
    """What Jinja is given: each call looks up the language in force at the time of rendering,
    so that one environment renders every language."""

    def gettext(self, message: str) -> str:
        return catalogue(_language_now()).gettext(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return catalogue(_language_now()).ngettext(msgid1, msgid2, n)

    def pgettext(self, context: str, message: str) -> str:
        return catalogue(_language_now()).pgettext(context, message)

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        return catalogue(_language_now()).npgettext(context, msgid1, msgid2, n)


def translations() -> _gettext.NullTranslations:
    """The translations Jinja environments are installed with."""
    return CurrentTranslations()
