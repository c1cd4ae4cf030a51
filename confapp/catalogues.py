"""Keeping the translation catalogues in step with the code: extract the marked strings, merge
them into each language's .po file, and check a catalogue (`confapp translations ...`,
docs/translations.md).

Two domains: `messages` (Python and templates, babel.cfg) and `scripts` (static/, from
babel-scripts.cfg, sent to the browser as JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from confapp.translation import (
    LOCALE_DIR,
    SCRIPTS_DOMAIN,
    SOURCE_LANGUAGE,
    catalogue_path,
    catalogued_languages,
)

PROJECT_ROOT = LOCALE_DIR.parent.parent
DOMAINS = {"messages": "babel.cfg", SCRIPTS_DOMAIN: "babel-scripts.cfg"}


def extract(domain: str, root: Path = PROJECT_ROOT) -> Catalog:
    """Every marked string of a domain, as a template catalogue (what a .pot file holds)."""
    with (root / DOMAINS[domain]).open(encoding="utf-8") as mapping:
        method_map, options_map = parse_mapping_cfg(mapping)  # type: ignore[no-untyped-call]
    catalog = Catalog(project="confapp", charset="utf-8", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map, options_map, comment_tags=("Translators:",)
    ):
        catalog.add(
            message,
            None,
            [(filename, lineno)],
            auto_comments=comments,
            context=context,
        )
    return catalog


def read_catalogue(language: str, domain: str) -> Catalog:
    with catalogue_path(language, domain).open("rb") as po:
        return read_po(po, locale=language.replace("-", "_"), domain=domain)


def write_catalogue(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as po:
        write_po(po, catalog, width=100, omit_header=False, sort_output=True, include_lineno=False)


def update_catalogues(language: str | None = None) -> list[Path]:
    """Merges the strings of the code into every language's catalogues (or one language's, new
    or not); returns the files written. Strings no longer in the code are dropped; a changed
    string keeps its old translation marked fuzzy, which is not used until a translator
    checks it."""
    languages = [language] if language else existing_languages()
    written: list[Path] = []
    for domain in DOMAINS:
        template = extract(domain)
        for lang in languages:
            path = catalogue_path(lang, domain)
            if path.is_file():
                catalog = read_catalogue(lang, domain)
            else:
                catalog = Catalog(
                    locale=lang.replace("-", "_"), domain=domain, project="confapp", fuzzy=False
                )
            catalog.update(template, no_fuzzy_matching=False)
            catalog.obsolete.clear()
            write_catalogue(catalog, path)
            written.append(path)
    return written


def existing_languages() -> list[str]:
    """The languages with a catalogue, the source language aside."""
    return [language for language in catalogued_languages() if language != SOURCE_LANGUAGE]


def _first(msgid: str | list[str] | tuple[str, ...]) -> str:
    """A message's id: its singular, for a plural one."""
    return msgid if isinstance(msgid, str) else msgid[0]


@dataclass(frozen=True)
class CatalogueProblem:
    language: str
    domain: str
    message: str
    problem: str

    def __str__(self) -> str:
        return f"{self.language} {self.domain}: {self.message!r}: {self.problem}"


def check_catalogue(language: str, domain: str) -> list[CatalogueProblem]:
    """What keeps a catalogue from being complete and right: a string of the code that it lacks
    or leaves untranslated or fuzzy, and a translation whose placeholders differ (Babel's
    checkers)."""
    catalog = read_catalogue(language, domain)
    problems: list[CatalogueProblem] = []
    for message in extract(domain):
        if not message.id:
            continue
        found = catalog.get(message.id, message.context)
        key = _first(message.id)
        if found is None:
            problems.append(CatalogueProblem(language, domain, key, "missing"))
        elif found.fuzzy:
            problems.append(CatalogueProblem(language, domain, key, "fuzzy: not yet checked"))
        elif not (all(found.string) if isinstance(found.string, tuple) else found.string):
            problems.append(CatalogueProblem(language, domain, key, "not translated"))
    for message, errors in catalog.check():
        key = _first(message.id)
        problems += [CatalogueProblem(language, domain, key, str(e)) for e in errors]
    return problems
