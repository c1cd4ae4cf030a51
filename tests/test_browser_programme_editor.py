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
from tests.support.programme import LENIN, SATURDAY, make_every_save_public

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
    """An organiser on the day itself: the demo makes every save public at once (the working
    copy has its own stories in test_working_copy.py)."""
    database = Database(live_server.settings.database_url)
    make_user(database, ORGANISER, "organiser", DEMO)
    make_every_save_public(database)
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

    # Then onto the Courtyard Foyer at 09:00 (the grid opens at the hour of the day's first
    # session), which is free: moved, keeping its 90 minutes.
    target = page.locator(f'.drop-slot[data-room="foyer"][data-start="{SATURDAY}T09:00:00+10:00"]')
    card.drag_to(target)
    expect(page).to_have_url(re.compile(rf"\?notice=moved&session={GREEN_BANS}"))
    expect(page.locator("#editor-notice")).to_contain_text("Moved “The Green Bans")
    moved = page.locator(f"#session-{GREEN_BANS}")
    expect(moved.locator(".slot-time")).to_have_text("09:00–10:30")
    expect(moved).to_have_attribute("data-room", "foyer")
    page.screenshot(path=str(tmp_path / "editor-after-drag.png"), full_page=True)
    assert errors == []

    assert_the_public_sees(page, base, GREEN_BANS, "Courtyard Foyer", "09:00", "10:30", before)
    context.close()


@pytest.mark.browser
def test_on_a_phone_the_day_is_a_list_per_room_and_the_speaker_picker_finds_by_typing(
    browser: Browser, live_server: Any, organiser_account: None, tmp_path: Path
) -> None:
    base = live_server.url
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    day = f"/admin/{DEMO}/programme/day/{SATURDAY}"
    sign_in_on_page(page, base, day)
    page.get_by_role("link", name="Show the day as a list per room").click()
    expect(page).to_have_url(re.compile(r"\?view=list"))
    document = page.request.get(f"{base}/api/{DEMO}/programme").json()
    saturday = [s["slug"] for s in document["sessions"] if s["start"].startswith(SATURDAY)]
    for slug in saturday:
        expect(page.locator(f".room-list #session-{slug}")).to_be_visible()
    page.screenshot(path=str(tmp_path / "editor-list-per-room.png"), full_page=True)

    page.goto(f"{base}/admin/{DEMO}/programme/sessions/{LENIN}")
    finder = page.get_by_label("Find a speaker: Person 2")
    finder.fill("brods")
    options = page.locator("#person_2 option:not([hidden])")
    expect(options).to_have_count(1)
    expect(options).to_have_text("Helen Brodsky")
    finder.press("Enter")
    expect(page.locator("#person_2")).to_have_value("helen-brodsky")
    assert errors == []
    context.close()


FREEDOM_RIDE = "freedom-ride-1965"  # Saturday 14:00–15:30 in the Old Reading Room


@pytest.mark.browser
def test_with_three_rooms_chosen_an_organiser_drags_a_session_between_them(
    browser: Browser, live_server: Any, organiser_account: None, tmp_path: Path
) -> None:
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    before = sequence(page, base, FREEDOM_RIDE)
    sign_in_on_page(page, base, f"/admin/{DEMO}/programme/day/{SATURDAY}")

    # She picks three of the seven rooms with the form, as she would.
    page.get_by_text("Choose the rooms shown").click()
    rooms = page.locator("form.room-filter")
    for name in ("Great Hall", "Old Reading Room", "Courtyard Foyer"):
        rooms.get_by_label(name, exact=True).check()
    rooms.get_by_role("button", name="Show these rooms").click()
    expect(page).to_have_url(re.compile(r"\?room=great-hall&room=reading-room&room=foyer$"))
    expect(page.locator(".room-head .room-name")).to_have_text(
        ["Great Hall", "Old Reading Room", "Courtyard Foyer"]
    )
    expect(page.locator("#day-view summary")).to_contain_text("Rooms shown: 3 of 7")
    expect(page.locator("#hidden-rooms-note")).to_be_visible()

    # From the Old Reading Room to the Courtyard Foyer at the same time, which is free there:
    # no clash to ask about, moved at once, and the day comes back with the same three rooms.
    card = page.locator(f"#session-{FREEDOM_RIDE}")
    expect(card).to_have_attribute("data-room", "reading-room")
    foyer = f'.drop-slot[data-room="foyer"][data-start="{SATURDAY}T14:00:00+10:00"]'
    card.drag_to(page.locator(foyer))
    expect(page).to_have_url(
        re.compile(
            rf"\?room=great-hall&room=reading-room&room=foyer&notice=moved&session={FREEDOM_RIDE}"
        )
    )
    expect(page.locator("#move-dialog")).to_be_hidden()
    expect(page.locator("#editor-notice")).to_contain_text("Moved “The 1965 Freedom Ride")
    expect(page.locator(".room-head .room-name")).to_have_count(3)
    moved = page.locator(f"#session-{FREEDOM_RIDE}")
    expect(moved).to_have_attribute("data-room", "foyer")
    expect(moved.locator(".slot-time")).to_have_text("14:00–15:30")
    page.screenshot(path=str(tmp_path / "editor-three-rooms-after-drag.png"), full_page=True)
    assert errors == []

    session = published(page, base, FREEDOM_RIDE)
    assert session["room"] == "foyer"
    assert session["start"] == f"{SATURDAY}T14:00:00+10:00"
    assert sequence(page, base, FREEDOM_RIDE) > before
    context.close()


@pytest.mark.browser
def test_an_organiser_moves_a_session_to_a_room_off_screen_with_its_card_button(
    browser: Browser, live_server: Any, organiser_account: None, tmp_path: Path
) -> None:
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    before = sequence(page, base, LENIN)
    sign_in_on_page(page, base, f"/admin/{DEMO}/programme/day/{SATURDAY}")

    # Every room is a column (the demo has seven): the Courtyard Foyer's lies beyond the right
    # edge of the grid's scrolling region, so it is not on screen and a drag cannot reach it.
    expect(page.locator(".room-head .room-name")).to_have_count(7)
    foyer_head = page.locator(".room-head", has_text="Courtyard Foyer")
    expect(foyer_head).not_to_be_in_viewport()
    region = page.locator(".editor-scroll").bounding_box()
    column = foyer_head.bounding_box()
    assert region is not None and column is not None
    assert column["x"] >= region["x"] + region["width"], (column, region)

    card = page.locator(f"#session-{LENIN}")
    expect(card).to_be_in_viewport()
    card.get_by_role("button", name="Move to another room: Lenin and the 1903 congress").click()
    dialog = page.locator("#room-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Lenin and the 1903 congress")
    choice = dialog.get_by_label("Room")
    expect(choice).to_have_value("refectory")
    expect(choice.locator("option")).to_have_count(7)
    choice.select_option(label="Courtyard Foyer (200 seats)")
    dialog.get_by_role("button", name="Move it there").click()

    # The foyer is free at 09:30, so there is no clash to ask about: moved, keeping its time.
    expect(page).to_have_url(re.compile(rf"\?notice=moved&session={LENIN}"))
    expect(page.locator("#move-dialog")).to_be_hidden()
    expect(page.locator("#editor-notice")).to_contain_text("Moved “Lenin and the 1903 congress")
    moved = page.locator(f"#session-{LENIN}")
    expect(moved).to_have_attribute("data-room", "foyer")
    expect(moved.locator(".slot-time")).to_have_text("09:30–11:00")
    page.screenshot(path=str(tmp_path / "editor-after-room-button.png"), full_page=True)
    assert errors == []

    session = published(page, base, LENIN)
    assert session["room"] == "foyer"
    assert (session["start"], session["end"]) == (
        f"{SATURDAY}T09:30:00+10:00",
        f"{SATURDAY}T11:00:00+10:00",
    )
    assert sequence(page, base, LENIN) > before
    context.close()
