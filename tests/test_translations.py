"""Every word confapp writes reaches a translator, and the catalogues we ship are complete: no
string left unmarked, no Spanish missing or with its placeholders wrong, and every page, in the
pseudo-language, shows no English at all."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.catalogues import (
    DOMAINS,
    check_catalogue,
    existing_languages,
    extract,
    read_catalogue,
)
from confapp.db import Database
from confapp.links import link_problem
from confapp.models import Conference, Notice, ProgrammeSession, Room, TicketType, Track
from confapp.programme.conference_file import LoadReport, load_conference_file
from confapp.programme.editing import conference_for_update, create_session
from confapp.resources import demo_seed_path, templates_dir
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
from tests.support.programme import STATE, WAGES, publish_pending
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


# Rendering, not the database: SQLite is enough.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
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


# Rendering, not the database: SQLite is enough.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
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


# Rendering, not the database: SQLite is enough.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
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


# Words, and the placeholders of a catalogue's messages.
WORD = re.compile(r"[^\W\d_]+")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def record_block(text: str, key: str) -> tuple[int, int]:
    """Where the record whose key (or code) is `key` starts and ends in a conference file."""
    found = re.search(rf'^(?:key|code) = "{re.escape(key)}"$', text, re.MULTILINE)
    assert found, key
    start = text.rindex("[[", 0, found.start())
    end = text.find("\n[[", found.end())
    return start, end + 1 if end != -1 else len(text)


def edited(text: str, key: str, old: str, new: str) -> str:
    start, end = record_block(text, key)
    assert old in text[start:end], (key, old)
    return text[:start] + text[start:end].replace(old, new, 1) + text[end:]


def without(text: str, key: str) -> str:
    start, end = record_block(text, key)
    return text[:start] + text[end:]


def words_shown_as_written(conference_file: str) -> set[str]:
    """The words of a conference file that a load's report shows as they are, in any language:
    its keys ("step_free") and its records' keys and codes ("great-hall")."""
    words: set[str] = set()

    def collect(value: object) -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                words.update(WORD.findall(name))
                if name in ("key", "code", "slug") and isinstance(inner, str):
                    words.update(WORD.findall(inner))
                collect(inner)
        elif isinstance(value, list):
            for inner in value:
                collect(inner)

    collect(tomllib.loads(conference_file))
    return words


def spanish_words() -> set[str]:
    """Every word of the Spanish catalogue, placeholders aside: a word such as "no" or "web" is
    Spanish as well as English."""
    words: set[str] = set()
    for message in read_catalogue("es", "messages"):
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        for form in forms:
            words.update(WORD.findall(PLACEHOLDER.sub(" ", form or "")))
    return words


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_spanish_organisers_reload_report_has_no_english_left(
    demo: LoadReport, db: Database, tmp_path: Path
) -> None:
    web_made = "zine-fair"  # a session made on the web, which the file does not have
    with db.transaction() as session:
        create_session(
            session,
            conference_for_update(session, DEMO),
            {
                "slug": web_made,
                "title": "Zine fair",
                "start": "2027-07-10T16:00:00+10:00",
                "end": "2027-07-10T17:00:00+10:00",
                "room": "seminar-1",
                "people": ["zoe-papas"],
            },
        )
    publish_pending(db)
    # The demo file with a room bigger and no longer step-free, a session out of its room and
    # with one reading less, a room and a session added, a session and a ticket type taken out.
    demo_text = demo_seed_path().read_text(encoding="utf-8")
    text = edited(
        demo_text,
        "great-hall",
        "capacity = 900\nstep_free = true",
        "capacity = 950\nstep_free = false",
    )
    lenin = "lenin-and-the-1903-congress"
    text = edited(text, lenin, 'room = "refectory"\n', "")
    text = edited(text, lenin, '  { title = "The 1903 congress', '  # { title = "The 1903 congress')
    text = without(without(text, "russian-revolution-1917"), "concession")
    text += (
        '\n[[rooms]]\nkey = "library-annex"\nname = "Library Annex"\ncapacity = 30\n'
        '\n[[sessions]]\nkey = "late-night-debate"\ntitle = "Late-night debate"\nkind = "talk"\n'
        'start = 2027-07-10T20:00:00\nend = 2027-07-10T21:00:00\nroom = "library-annex"\n'
    )
    path = tmp_path / "reloaded.toml"
    path.write_text(text, encoding="utf-8")

    with in_language("es"):
        report = load_conference_file(db, path, dry_run=True)
        said = "\n".join([*report.change_lines(), *report.notes, report.summary()])

    assert {(change.action, change.what) for change in report.changes} >= {
        ("changed", "room"),
        ("new", "room"),
        ("changed", "session"),
        ("new", "session"),
        ("cancelled", "session"),
        ("kept", "session"),
        ("off sale", "ticket type"),
    }
    shown_as_written = words_shown_as_written(demo_text) | words_shown_as_written(text)
    shown_as_written |= set(WORD.findall(web_made))
    english = set(WORD.findall(said)) - shown_as_written - spanish_words()
    assert english == set(), said
