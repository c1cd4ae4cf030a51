"""The public programme in a real browser: what an attendee sees on a phone and on a wide screen.

Expected sessions come from the programme JSON the same server publishes, so the stories check
the pages against the data rather than against copied titles.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.support.browser import assert_no_sideways_scroll, fact, screenshot
from tests.support.programme import SATURDAY

SLUG = "socialism-2027"
SUNDAY = "2027-07-11"


def programme_data(page: Page, base_url: str) -> dict[str, Any]:
    response = page.request.get(f"{base_url}/api/{SLUG}/programme")
    assert response.ok, response.status
    return response.json()


def sessions_on(data: dict[str, Any], day: str) -> list[dict[str, Any]]:
    return [s for s in data["sessions"] if s["start"].startswith(day)]


def hm(iso: str) -> str:
    """The local wall-clock time the pages print: 2027-07-11T09:30:00+10:00 -> 09:30."""
    return iso[11:16]


@pytest.mark.browser
def test_attendee_on_a_phone_finds_a_session_by_day_and_track(
    phone: Page, live_server: Any, tmp_path: Path
) -> None:
    data = programme_data(phone, live_server.url)
    rooms = {r["slug"]: r for r in data["rooms"]}
    tracks = {t["slug"]: t for t in data["tracks"]}
    sunday = sessions_on(data, SUNDAY)

    # She opens the programme on her phone: the one-column list, not the wide grid.
    phone.goto(f"{live_server.url}/{SLUG}/programme")
    session_list = phone.locator("ol.session-list")
    expect(session_list).to_be_visible()
    expect(phone.locator(".programme-grid")).to_be_hidden()
    assert_no_sideways_scroll(phone)
    screenshot(phone, tmp_path, "programme-phone-first-day")

    # She switches to Sunday.
    day_tabs = phone.get_by_role("navigation", name="Days")
    sunday_tab = day_tabs.get_by_role("link", name="Sun 11 Jul", exact=True)
    expect(sunday_tab).not_to_have_attribute("aria-current", "page")
    sunday_tab.click()
    expect(phone).to_have_url(re.compile(rf"day={SUNDAY}"))
    expect(sunday_tab).to_have_attribute("aria-current", "page")
    expect(day_tabs.get_by_role("link", name="Fri 9 Jul", exact=True)).not_to_have_attribute(
        "aria-current", "page"
    )
    expect(phone.locator("#day-heading")).to_have_text("Sunday 11 July")
    expect(session_list.locator("li.session-item")).to_have_count(len(sunday))

    # She only wants the climate sessions: picks the track by its name and presses Show.
    track = tracks["climate"]
    wanted = [s for s in sunday if s["track"] == track["slug"]]
    others = [s for s in sunday if s["track"] != track["slug"]]
    assert len(wanted) >= 2 and others, "the demo needs several tracks on Sunday"

    phone.get_by_label("Track").select_option(label=track["name"])
    phone.get_by_role("button", name="Show").click()
    expect(phone).to_have_url(re.compile(rf"track={track['slug']}"))
    expect(phone).to_have_url(re.compile(rf"day={SUNDAY}"))
    expect(phone.locator("#day-heading")).to_have_text(f"Sunday 11 July · {track['name']}")
    expect(sunday_tab).to_have_attribute("aria-current", "page")
    expect(phone.get_by_label("Track")).to_have_value(track["slug"])

    expect(session_list).to_be_visible()
    items = session_list.locator("li.session-item")
    expect(items.locator("h3 a")).to_have_text([s["title"] for s in wanted])
    expect(items.locator(".track-tag")).to_have_text([track["name"]] * len(wanted))
    for other in others:
        expect(phone.get_by_role("link", name=other["title"], exact=True)).to_have_count(0)
    assert_no_sideways_scroll(phone)
    screenshot(phone, tmp_path, "programme-phone-sunday-climate")

    # She opens the first of them: title, time, room and how to get into the room.
    chosen = wanted[0]
    room = rooms[chosen["room"]]
    assert room["access_notes"], "the chosen session's room should have access notes"
    session_list.get_by_role("link", name=chosen["title"], exact=True).click()
    expect(phone).to_have_url(f"{live_server.url}{chosen['url']}")
    expect(phone.get_by_role("heading", level=1)).to_have_text(chosen["title"])
    expect(fact(phone, "When")).to_contain_text("Sunday 11 July")
    expect(fact(phone, "When")).to_contain_text(f"{hm(chosen['start'])}–{hm(chosen['end'])}")
    expect(fact(phone, "Where")).to_have_text(room["name"])
    access = phone.get_by_role("region", name=f"Access: {room['name']}")
    expect(access).to_be_visible()
    expect(access).to_contain_text(room["access_notes"])
    assert_no_sideways_scroll(phone)
    screenshot(phone, tmp_path, "session-phone")

    # And from there, who is speaking.
    phone.get_by_role("link", name="Speakers", exact=True).click()
    expect(phone.get_by_role("heading", level=1)).to_be_visible()
    screenshot(phone, tmp_path, "speakers-phone")


@pytest.mark.browser
def test_cancelled_session_is_struck_through(
    phone: Page, browser: Any, live_server: Any, tmp_path: Path
) -> None:
    data = programme_data(phone, live_server.url)
    cancelled = [s for s in data["sessions"] if s["status"] == "cancelled"]
    assert cancelled, "the demo conference has cancelled sessions"
    session = cancelled[0]
    day = session["start"][:10]
    running = next(s for s in sessions_on(data, day) if s["status"] != "cancelled" and s["track"])

    # On the phone list.
    phone.goto(f"{live_server.url}/{SLUG}/programme?day={day}")
    session_list = phone.locator("ol.session-list")
    title = session_list.get_by_role("link", name=session["title"], exact=True)
    expect(title).to_be_visible()
    decoration = title.evaluate("a => getComputedStyle(a).textDecorationLine")
    assert "line-through" in decoration
    heading = session_list.locator(
        "h3", has=phone.get_by_role("link", name=session["title"], exact=True)
    )
    badge = heading.get_by_text("Cancelled", exact=True)
    expect(badge).to_be_visible()
    # "Beside it": on the title's last line, not somewhere else on the page.
    title_box, badge_box = title.bounding_box(), badge.bounding_box()
    assert title_box and badge_box
    assert title_box["y"] <= badge_box["y"] + badge_box["height"] / 2
    assert badge_box["y"] <= title_box["y"] + title_box["height"]
    # A session that goes ahead is not struck through and carries no badge.
    ok_title = session_list.get_by_role("link", name=running["title"], exact=True)
    assert "line-through" not in ok_title.evaluate("a => getComputedStyle(a).textDecorationLine")
    ok_heading = session_list.locator(
        "h3", has=phone.get_by_role("link", name=running["title"], exact=True)
    )
    expect(ok_heading).to_have_count(1)
    expect(ok_heading.get_by_text("Cancelled")).to_have_count(0)
    screenshot(phone, tmp_path, "programme-phone-cancelled")

    # In the grid on a wide screen.
    wide = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        wide.goto(f"{live_server.url}/{SLUG}/programme?day={day}&view=grid")
        slot = wide.locator("article.slot", has=wide.get_by_role("link", name=session["title"]))
        expect(slot).to_have_count(1)
        slot.scroll_into_view_if_needed()
        slot_title = slot.get_by_role("link", name=session["title"], exact=True)
        assert "line-through" in slot_title.evaluate("a => getComputedStyle(a).textDecorationLine")
        expect(slot.get_by_text("Cancelled", exact=True)).to_be_visible()
        screenshot(wide, tmp_path, "programme-wide-cancelled")
    finally:
        wide.close()


@pytest.mark.browser
def test_wide_grid_keeps_room_headers_and_times_in_view(
    browser: Any, live_server: Any, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{live_server.url}/{SLUG}/programme?day={SATURDAY}&view=grid")
        scroller = page.locator(".grid-scroll")
        expect(scroller).to_be_visible()
        expect(page.locator("ol.session-list")).to_have_count(0)
        screenshot(page, tmp_path, "programme-wide-grid")

        sizes = scroller.evaluate(
            "el => ({sw: el.scrollWidth, cw: el.clientWidth, sh: el.scrollHeight,"
            " ch: el.clientHeight})"
        )
        assert sizes["sw"] > sizes["cw"], f"Saturday's grid should scroll sideways: {sizes}"
        assert sizes["sh"] > sizes["ch"] + 300, f"Saturday's grid should scroll down: {sizes}"

        first_head = page.locator(".room-head").first
        first_slot = page.locator("article.slot").first
        slot_before = first_slot.bounding_box()
        assert slot_before

        scrolled = scroller.evaluate(
            "el => { el.scrollLeft = el.scrollWidth; el.scrollTop = 300;"
            " return {left: el.scrollLeft, top: el.scrollTop,"
            " clientLeft: el.clientLeft, clientTop: el.clientTop}; }"
        )
        assert scrolled["left"] > 0 and scrolled["top"] == 300, scrolled
        page.wait_for_timeout(100)
        screenshot(page, tmp_path, "programme-wide-grid-scrolled")

        box = scroller.bounding_box()
        assert box
        inner_top = box["y"] + scrolled["clientTop"]
        inner_left = box["x"] + scrolled["clientLeft"]

        # The slots moved with the scroll ...
        slot_after = first_slot.bounding_box()
        assert slot_after
        assert slot_after["x"] == pytest.approx(slot_before["x"] - scrolled["left"], abs=1)
        assert slot_after["y"] == pytest.approx(slot_before["y"] - scrolled["top"], abs=1)

        # ... the room names stayed at the top of the scroller, in front of the slots ...
        head_box = first_head.bounding_box()
        assert head_box
        assert head_box["y"] == pytest.approx(inner_top, abs=1)
        for head in page.locator(".room-head").all():
            head_y = head.bounding_box()["y"]  # type: ignore[index]
            assert head_y == pytest.approx(inner_top, abs=1)
        visible_head = page.locator(".room-head").last
        assert top_element_is(visible_head)

        # ... and the times stayed at its left edge, in front of the slots.
        header_bottom = head_box["y"] + head_box["height"]
        labels_in_view = [
            label
            for label in page.locator(".time-label").all()
            if (b := label.bounding_box())
            and b["y"] >= header_bottom
            and b["y"] + b["height"] <= box["y"] + box["height"]
        ]
        assert labels_in_view, "some time labels should be in view after scrolling down"
        for label in labels_in_view:
            assert label.bounding_box()["x"] == pytest.approx(inner_left, abs=1)  # type: ignore[index]
        assert top_element_is(labels_in_view[0])
        expect(page.locator(".corner")).to_be_visible()
        corner = page.locator(".corner").bounding_box()
        assert corner
        assert (corner["x"], corner["y"]) == (
            pytest.approx(inner_left, abs=1),
            pytest.approx(inner_top, abs=1),
        )
    finally:
        page.close()


def top_element_is(locator: Locator) -> bool:
    """Is `locator` what the user sees (and clicks) at the middle of its box?"""
    box = locator.bounding_box()
    assert box
    return locator.evaluate(
        "(el, p) => el.contains(document.elementFromPoint(p.x, p.y))",
        {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2},
    )


@pytest.mark.browser
def test_keyboard_user_can_skip_to_content(phone: Page, live_server: Any, tmp_path: Path) -> None:
    phone.goto(f"{live_server.url}/{SLUG}/")
    assert_no_sideways_scroll(phone)
    screenshot(phone, tmp_path, "home-phone")
    skip = phone.get_by_role("link", name="Skip to content")
    expect(skip).not_to_be_in_viewport()

    phone.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    screenshot(phone, tmp_path, "home-phone-skip-link")

    # Following it lands in the main content, past the site navigation.
    phone.keyboard.press("Enter")
    expect(phone.locator("main#main")).to_be_focused()
    phone.keyboard.press("Tab")
    expect(phone.get_by_role("link", name="See the programme")).to_be_focused()
