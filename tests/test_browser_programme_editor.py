"""An organiser moves sessions in headless Chromium, once with JavaScript off (the session's
form) and once by dragging it on the day's grid; each time the public programme, the session's
calendar file, the programme JSON and the public changelog all show the new time and room."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from playwright.sync_api import Browser, Page, expect

from confapp.db import Database
from tests.support import DEMO
from tests.support.accounts import ORGANISER, PASSWORD, make_user
from tests.support.programme import LENIN, SATURDAY

GREEN_BANS = "green-bans"  # Saturday 09:30–11:00 in the Old Reading Room


def sign_in_on_page(page: Page, base_url: str, next_path: str) -> None:
    """Sign in as the organiser on the real form in the browser, going on to `next_path`."""
    page.goto(f"{base_url}/admin/login?next={next_path}")
    page.get_by_label("E-mail address").fill(ORGANISER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}{next_path}")


def sequence(page: Page, base_url: str, slug: str) -> int:
    answer = page.request.get(f"{base_url}/{DEMO}/sessions/{slug}.ics")
    assert answer.ok, answer.status
    event = next(iter(Calendar.from_ical(answer.body()).walk("VEVENT")))
    return int(event.get("SEQUENCE", 0))


def published(page: Page, base_url: str, slug: str) -> dict[str, Any]:
    document = page.request.get(f"{base_url}/api/{DEMO}/programme").json()
    return next(s for s in document["sessions"] if s["slug"] == slug)


def assert_the_public_sees(
    page: Page, base_url: str, slug: str, room_name: str, start: str, end: str, before: int
) -> None:
    """The programme page, the .ics (SEQUENCE up), the JSON and the changelog all agree."""
    session = published(page, base_url, slug)
    assert (session["start"], session["end"]) == (
        f"{SATURDAY}T{start}:00+10:00",
        f"{SATURDAY}T{end}:00+10:00",
    )
    assert sequence(page, base_url, slug) > before

    page.goto(f"{base_url}/{DEMO}/programme?day={SATURDAY}&view=list")
    item = page.locator("li.session-item", has=page.locator(f'a[href="/{DEMO}/sessions/{slug}"]'))
    expect(item.locator(".when")).to_have_text(f"{start}–{end}")
    expect(item.locator(".where")).to_have_text(room_name)

    page.goto(f"{base_url}/{DEMO}/changes")
    change = page.locator("ol.changelog li", has=page.locator(f'a[href="/{DEMO}/sessions/{slug}"]'))
    expect(change.filter(has_text="Moved").first).to_contain_text(f"{start}–{end}")
    expect(change.filter(has_text="New room").first).to_contain_text(f"→ {room_name}")


@pytest.fixture
def organiser_account(live_server: Any) -> None:
    database = Database(live_server.settings.database_url)
    make_user(database, ORGANISER, "organiser", DEMO)
    database.dispose()


@pytest.mark.browser
def test_an_organiser_moves_a_session_with_its_form_without_javascript(
    browser: Browser, live_server: Any, organiser_account: None, tmp_path: Path
) -> None:
    base = live_server.url
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    before = sequence(page, base, LENIN)
    sign_in_on_page(page, base, f"/admin/{DEMO}/programme/day/{SATURDAY}")
    expect(page.locator(".room-head .room-name")).to_have_count(7)

    page.locator(f"#session-{LENIN} h3 a").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Lenin and the 1903 congress")
    page.get_by_label("Room").select_option(label="Courtyard Foyer (200 seats)")
    page.get_by_label("Starts", exact=True).fill("14:00")
    page.get_by_label("Ends", exact=True).fill("15:30")
    page.get_by_role("button", name="Save changes").click()

    expect(page).to_have_url(re.compile(rf"/programme/day/{SATURDAY}\?notice=saved"))
    expect(page.locator("#editor-notice")).to_contain_text("Saved “Lenin and the 1903 congress")
    card = page.locator(f"#session-{LENIN}")
    expect(card.locator(".slot-time")).to_have_text("14:00–15:30")
    page.screenshot(path=str(tmp_path / "editor-after-form.png"), full_page=True)

    assert_the_public_sees(page, base, LENIN, "Courtyard Foyer", "14:00", "15:30", before)
    context.close()


@pytest.mark.browser
def test_an_organiser_drags_a_session_to_another_room_and_time(
    browser: Browser, live_server: Any, organiser_account: None, tmp_path: Path
) -> None:
    base = live_server.url
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    before = sequence(page, base, GREEN_BANS)
    day = f"/admin/{DEMO}/programme/day/{SATURDAY}"
    sign_in_on_page(page, base, day)

    # First a drop onto the Great Hall at 09:30, where another session is: she is asked, and
    # says no; nothing moves.
    card = page.locator(f"#session-{GREEN_BANS}")
    expect(card).to_have_attribute("draggable", "true")
    # (The slot lies under that session's card: force skips the check that nothing covers it;
    # once dragging, the script lets the pointer through the cards.)
    great_hall = f'.drop-slot[data-room="great-hall"][data-start="{SATURDAY}T09:30:00+10:00"]'
    card.drag_to(page.locator(great_hall), force=True)

    dialog = page.locator("#move-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Great Hall is also booked for “The state and revolution")
    page.get_by_role("button", name="Leave it where it was").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#editor-status")).to_contain_text("Not moved")
    assert published(page, base, GREEN_BANS)["room"] == "reading-room"

    # Then onto the Courtyard Foyer at 08:00, which is free: moved, keeping its 90 minutes.
    target = page.locator(f'.drop-slot[data-room="foyer"][data-start="{SATURDAY}T08:00:00+10:00"]')
    card.drag_to(target)
    expect(page).to_have_url(re.compile(rf"\?notice=moved&session={GREEN_BANS}"))
    expect(page.locator("#editor-notice")).to_contain_text("Moved “The Green Bans")
    moved = page.locator(f"#session-{GREEN_BANS}")
    expect(moved.locator(".slot-time")).to_have_text("08:00–09:30")
    expect(moved).to_have_attribute("data-room", "foyer")
    page.screenshot(path=str(tmp_path / "editor-after-drag.png"), full_page=True)
    assert errors == []

    assert_the_public_sees(page, base, GREEN_BANS, "Courtyard Foyer", "08:00", "09:30", before)
    context.close()
