"""For the tests that drive Debian's Chromium with Playwright: how it is launched, and what they
check on every page (no sideways scrolling on a phone, the facts a page lists, a screenshot)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Playwright is imported by the browser tests themselves, not by conftest.py.
    from playwright.sync_api import Locator, Page

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def screenshot(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_no_sideways_scroll(page: Page) -> None:
    """At phone width the page itself must not scroll sideways (wide parts scroll inside)."""
    # Against the page's own width, not window.innerWidth: in a mobile context Chromium widens
    # the layout viewport (and innerWidth with it) to fit content that is too wide.
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


def fact(page: Page, term: str) -> Locator:
    """The <dd> that follows the <dt> called `term` in the page's facts (a session, a ticket)."""
    return page.locator(f"dl.facts dt:text-is('{term}') + dd")
