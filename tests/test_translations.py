"""Every word confapp writes reaches a translator, and the catalogues we ship are complete: no
string left unmarked, no Spanish missing or with its placeholders wrong, and every page, in the
pseudo-language, shows no English at all."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.catalogues import DOMAINS, check_catalogue, existing_languages, extract
from confapp.db import Database
from confapp.resources import templates_dir
from confapp.settings import Settings
from confapp.translation import pseudo
from tests.conftest import app_clock
from tests.support import DEMO
from tests.support.accounts import ORGANISER, make_team, sign_in
from tests.support.languages import content_words, crawl, data_words, english_left, page_texts
from tests.support.registrations import register, token_of
from tests.support.unmarked import unmarked_in_templates
from tests.test_languages import offer_languages


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
