"""In Chromium on a 360-px phone: the public pages, the ticket page and the door, in the
pseudo-language (right to left, every word 40% longer) and in Spanish, fit the screen and show
their words, the scripts' words included, in that language."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from confapp.db import Database
from tests.support import DEMO
from tests.support.accounts import PASSWORD, STEWARD, make_user
from tests.support.browser import assert_no_sideways_scroll, screenshot
from tests.support.door_camera import register_over_http
from tests.support.languages import data_words, english_left, offer_languages
from tests.support.servers import LiveServer, live_settings

# Layout and words, not storage: SQLite is enough.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


@pytest.fixture
def server(db: Database, demo: object) -> Iterator[LiveServer]:
    offer_languages(db, ["en-AU", "es", "qps"])
    make_user(db, STEWARD, "steward", DEMO)
    with LiveServer(live_settings(db.url, pseudo_language=True)) as live:
        yield live


def phone_in(browser: Browser, language: str) -> Page:
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, locale=language
    )
    return context.new_page()


def sign_in_at_the_door(page: Page, server: LiveServer, query: str) -> None:
    page.goto(f"{server.url}/door/{DEMO}{query}")
    page.fill("#email", STEWARD)
    page.fill("#password", PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(f"{server.url}/door/{DEMO}*")
    expect(page.locator("body")).to_have_attribute("data-ready", "yes")


def test_public_pages_and_the_ticket_fit_a_phone_right_to_left_with_longer_words(
    server: LiveServer, db: Database, browser: Browser, tmp_path: Path
) -> None:
    ticket = register_over_http(server, "Rosa Quillfeather", "rosa@example.org")
    page = phone_in(browser, "en-AU")
    data = data_words(db)
    pages = [
        f"/{DEMO}/",
        f"/{DEMO}/programme?view=list",
        f"/{DEMO}/programme",
        f"/{DEMO}/sessions/opening-rally",
        f"/{DEMO}/speakers",
        f"/{DEMO}/register",
        f"/{DEMO}/agenda",
        f"/{DEMO}/changes",
        ticket["url"].replace(server.url, ""),  # the ticket the QR code opens
        ticket["manage_url"].replace(server.url, ""),  # the attendee's own page
    ]
    for number, path in enumerate(pages):
        page.goto(f"{server.url}{path}{'&' if '?' in path else '?'}lang=qps")
        assert page.evaluate("document.documentElement.dir") == "rtl", path
        assert_no_sideways_scroll(page)
        assert english_left(page.content(), data) == [], path
        screenshot(page, tmp_path, f"pseudo-{number}")


def test_the_door_speaks_the_pseudo_language_offline_words_included(
    server: LiveServer, browser: Browser
) -> None:
    page = phone_in(browser, "en-AU")
    sign_in_at_the_door(page, server, "?lang=qps")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert_no_sideways_scroll(page)
    page.fill("#code", "NOT-A-REAL-CODE")
    page.click("#code-form button[type=submit]")
    word = page.locator("#answer-word")
    expect(word).to_be_visible(timeout=15_000)
    assert word.inner_text().startswith("⟦")
    assert_no_sideways_scroll(page)


def test_a_spanish_phone_gets_the_door_in_spanish(server: LiveServer, browser: Browser) -> None:
    page = phone_in(browser, "es-ES")
    page.set_extra_http_headers({"Accept-Language": "es-ES,es;q=0.9"})
    sign_in_at_the_door(page, server, "")
    assert page.evaluate("document.documentElement.lang") == "es"
    page.fill("#code", "NOT-A-REAL-CODE")
    page.click("#code-form button[type=submit]")
    word = page.locator("#answer-word")
    expect(word).to_be_visible(timeout=15_000)
    assert word.inner_text() == "NO VÁLIDA"
