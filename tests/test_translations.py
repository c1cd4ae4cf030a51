"""Every word confapp writes reaches a translator, and the catalogues we ship are complete: no
string left unmarked, no Spanish missing or with its placeholders wrong, and every page, in the
pseudo-language, shows no English at all."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.catalogues import DOMAINS, check_catalogue, existing_languages, extract
from confapp.db import Database
from confapp.links import link_problem
from confapp.models import Conference, Notice, ProgrammeSession, Room, TicketType, Track
from confapp.programme.conference_file import LoadReport
from confapp.resources import templates_dir
from confapp.settings import Settings
from confapp.translation import PSEUDO_OPEN, in_language, offer_pseudo_language, pseudo
from tests.conftest import app_clock
from tests.support import DEMO
from tests.support.accounts import ORGANISER, make_team, sign_in
from tests.support.languages import (
    content_words,
    crawl,
    data_words,
    english_left,
    offer_languages,
    page_texts,
)
from tests.support.pages import form_on
from tests.support.programme import STATE, WAGES
from tests.support.registrations import register, token_of
from tests.support.unmarked import unmarked_in_templates


def test_every_word_written_in_a_template_is_marked_for_translation() -> None:
    assert [str(u) for u in unmarked_in_templates(templates_dir())] == []


def test_babel_finds_the_marked_strings_of_code_templates_and_scripts() -> None:
    messages = {m.id for m in extract("messages") if m.id}
    scripts = {m.id if isinstance(m.id, str) else m.id[0] for m in extract("scripts") if m.id}
    assert "Programme" in messages  # a template
    assert any("conference called" in str(m) for m in messages)  # Python
    assert scripts  # the door scanner's and editor's words


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", existing_languages())
def test_shipped_catalogues_are_complete_and_keep_their_placeholders(
    language: str, domain: str
) -> None:
    assert [str(p) for p in check_catalogue(language, domain)] == []


def test_spanish_is_shipped() -> None:
    assert "es" in existing_languages()


def test_the_pseudo_language_keeps_placeholders_and_markup() -> None:
    made = pseudo('Read <a href="%(url)s">the notice</a>, %(name)s: 100%%')
    assert made.startswith("⟦") and made.endswith("⟧")
    for kept in ('<a href="%(url)s">', "</a>", "%(name)s", "%%"):
        assert kept in made
    assert "Read" not in made and "notice" not in made
    assert len(made) >= len("Read the notice, : 100") * 1.4


@pytest.fixture
def pseudo_client(settings: Settings, demo: object, db: Database) -> TestClient:
    offer_languages(db, ["en-AU", "es", "qps"])
    with TestClient(
        create_app(settings.model_copy(update={"pseudo_language": True}), clock=app_clock),
        raise_server_exceptions=False,
    ) as client:
        yield client  # type: ignore[misc]


def test_every_public_page_in_the_pseudo_language_has_no_english_left(
    pseudo_client: TestClient, db: Database
) -> None:
    ticket = register(pseudo_client)
    starts = [f"/{DEMO}/", f"/{DEMO}/register", f"/tickets/{token_of(ticket)}", "/nowhere"]
    left: dict[str, list[str]] = {}
    pages = 0
    data = data_words(db)
    for path, html in crawl(pseudo_client, starts, query="lang=qps"):
        pages += 1
        assert 'dir="rtl"' in html, path
        if found := english_left(html, data):
            left[path] = found
    assert pages > 20
    assert left == {}


def test_every_back_office_page_in_the_pseudo_language_has_no_english_left(
    pseudo_client: TestClient, db: Database
) -> None:
    make_team(db)
    sign_in(pseudo_client, ORGANISER)
    left: dict[str, list[str]] = {}
    # The back office shows organisers' texts as stored: each language in a field of its own.
    data = data_words(db) | content_words(db)
    for path, html in crawl(pseudo_client, ["/admin/", f"/admin/{DEMO}/"], query="lang=qps"):
        if found := english_left(html, data):
            left[path] = found
    assert left == {}


def test_pages_in_spanish_show_no_english_string_of_the_catalogue(
    pseudo_client: TestClient, db: Database
) -> None:
    make_team(db)
    english = {
        str(m.id)
        for m in extract("messages")
        if isinstance(m.id, str) and len(m.id.split()) >= 3 and "%" not in m.id
    }
    leaked: dict[str, list[str]] = {}
    register(pseudo_client)
    for path, html in crawl(pseudo_client, [f"/{DEMO}/", f"/{DEMO}/register"], query="lang=es"):
        assert '<html lang="es"' in html
        found = [t.strip() for t in page_texts(html) if t.strip() in english]
        if found:
            leaked[path] = found
    assert leaked == {}


def catalogue_english() -> set[str]:
    """The English of the catalogue's messages that a page may show whole: three words or more,
    no placeholder."""
    return {
        str(m.id)
        for m in extract("messages")
        if isinstance(m.id, str) and len(m.id.split()) >= 3 and "%" not in m.id
    }


# A day written in English by code ("Sat 10 Jul", "Saturday 10 July"), not a title that names
# one ("Saturday night social").
ENGLISH_DAY = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? \d{1,2}\b")


def organisers_texts(db: Database) -> set[str]:
    """Organisers' texts as stored, which the back office shows so (a ticket type called "Pay
    what you can" is the organisers' words, whatever the catalogue says)."""
    with db.read() as session:
        return {
            " ".join(str(getattr(row, name) or "").split())
            for model in (Conference, Room, Track, ProgrammeSession, TicketType, Notice)
            for row in session.exec(select(model))
            for name in model.TRANSLATED
        }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_back_office_page_in_spanish_shows_no_english_string_of_the_catalogue(
    pseudo_client: TestClient, db: Database
) -> None:
    make_team(db)
    sign_in(pseudo_client, ORGANISER)
    # Pending changes for the review page to word, one of them a double booking (The
    # Refectory has Lenin at the same time) for the editor and the problems page.
    editor = f"/admin/{DEMO}/programme"
    for slug, changes in (
        (STATE, {"room": "refectory"}),
        (WAGES, {"start": "14:00", "end": "15:00"}),
    ):
        path = f"{editor}/sessions/{slug}"
        fields = form_on(pseudo_client.get(path).text, path)
        fields.update(changes, confirm_clashes="1")
        saved = pseudo_client.post(path, data=fields, follow_redirects=False)
        assert saved.status_code == 303, saved.text
    english = catalogue_english() - organisers_texts(db)
    leaked: dict[str, list[str]] = {}
    visited: set[str] = set()
    for path, html in crawl(pseudo_client, ["/admin/", f"/admin/{DEMO}/"], query="lang=es"):
        visited.add(path)
        assert '<html lang="es"' in html, path
        texts = page_texts(html)
        found = [t.strip() for t in texts if t.strip() in english]
        found += ENGLISH_DAY.findall(" ".join(texts))
        if found:
            leaked[path] = found
    assert {f"{editor}/changes", f"{editor}/problems", f"{editor}/sessions/{STATE}"} <= visited
    assert leaked == {}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_what_confapp_load_prints_and_why_a_link_is_refused_reach_a_translator(
    demo: LoadReport, db: Database
) -> None:
    offer_pseudo_language(True)
    try:
        with in_language("qps"):
            summary = demo.summary()
            lines = demo.change_lines()
            problems = [link_problem(url) for url in ("", "javascript:alert(1)", "https://")]
    finally:
        offer_pseudo_language(False)
    assert english_left(summary, data_words(db)) == [], summary
    assert lines and all(line.startswith(PSEUDO_OPEN) for line in lines), lines[:3]
    assert all(problem and problem.startswith(PSEUDO_OPEN) for problem in problems), problems
