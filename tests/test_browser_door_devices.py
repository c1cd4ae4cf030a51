"""A door phone added as a door device, end to end in Chromium at 390 px with a fake camera:
after a browser restart (only its persistent cookies kept) it scans without signing in and the
dashboard names it; an organiser revokes it; its next scan online says SIGNED OUT with a
one-tap way back in, and an admission it queued offline before is sent after signing in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlmodel import select

from confapp.db import Database
from confapp.models import DoorDevice
from tests.support import DEMO
from tests.support.accounts import ORGANISER, PASSWORD, STEWARD, make_user
from tests.support.browser import assert_no_sideways_scroll
from tests.support.door_camera import (
    PHONE,
    browser_with_camera,
    camera_video,
    checkins_of,
    ffmpeg_or_skip,
    register_over_http,
)
from tests.support.servers import LiveServer


@pytest.fixture
def ffmpeg() -> str:
    return ffmpeg_or_skip()


def sign_in_on(page: Page, email: str) -> None:
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("form button[type=submit]").first.click()


def restarted(browser: Browser, before: BrowserContext) -> BrowserContext:
    """The phone after its browser restarts: the cookies that outlive it (an expiry), and
    nothing else; the session cookie is gone."""
    state: Any = before.storage_state()
    state["cookies"] = [c for c in state["cookies"] if c["expires"] > 0]
    before.close()
    return browser.new_context(storage_state=state, **PHONE)  # type: ignore[arg-type]


def test_a_door_device_survives_a_restart_and_keeps_its_queue_through_a_revocation(
    live_server: LiveServer, chromium_path: str, ffmpeg: str, tmp_path: Path
) -> None:
    database = Database(live_server.settings.database_url)
    make_user(database, STEWARD, "steward", DEMO)
    make_user(database, ORGANISER, "organiser", DEMO)
    door = f"{live_server.url}/door/{DEMO}"
    rosa = register_over_http(live_server, "Rosa Quillfeather", "rosa@example.org")
    clara = register_over_http(live_server, "Clara Zetkin-Brown", "clara@example.org")

    with sync_playwright() as playwright:
        with browser_with_camera(
            playwright, chromium_path, camera_video(ffmpeg, rosa, tmp_path, "rosa")
        ) as browser:
            # The steward signs in on the phone and adds it as "Front door 2".
            phone = browser.new_context(**PHONE)  # type: ignore[arg-type]
            page = phone.new_page()
            page.goto(door)
            sign_in_on(page, STEWARD)
            page.wait_for_url(door)
            page.get_by_role("link", name="Add this phone as a door device").click()
            page.fill("#device-name", "Front door 2")
            page.get_by_role("button", name="Add this phone").click()
            page.wait_for_url(door)
            expect(page.locator("#door-device")).to_contain_text("Front door 2")

            # The browser restarts: no sign-in, but the scanner opens and admits Rosa.
            phone = restarted(browser, phone)
            page = phone.new_page()
            page.goto(door)
            assert page.url == door
            expect(page.locator("#door-device")).to_contain_text("Front door 2")
            expect(page.get_by_role("button", name="Sign out")).to_be_visible()
            expect(page.locator("body")).to_have_attribute("data-ready", "yes")
            assert_no_sideways_scroll(page)
            page.screenshot(path=str(tmp_path / "device-header.png"))
            page.click("#start")
            expect(page.locator("#answer-word")).to_have_text("ADMITTED", timeout=15_000)
            with database.read() as session:
                device = session.exec(select(DoorDevice)).one()
            assert [c.device for c in checkins_of(live_server, rosa)] == [
                f"door-device-{device.id}"
            ]
            kept: Any = phone.storage_state()
            phone.close()

            # The dashboard names the device.
            office = browser.new_context(viewport={"width": 1280, "height": 900})
            organiser = office.new_page()
            organiser.goto(f"{live_server.url}/admin/{DEMO}/door")
            sign_in_on(organiser, ORGANISER)
            organiser.wait_for_url(f"{live_server.url}/admin/{DEMO}/door")
            expect(organiser.locator("#admissions ~ div")).to_contain_text("(Front door 2)")

        with browser_with_camera(
            playwright, chromium_path, camera_video(ffmpeg, clara, tmp_path, "clara")
        ) as browser:
            phone = browser.new_context(storage_state=kept, **PHONE)  # type: ignore[arg-type]
            page = phone.new_page()
            page.goto(door)
            expect(page.locator("body")).to_have_attribute("data-offline-ready", "yes")
            # Offline, Clara is let in on the phone and queued.
            phone.set_offline(True)
            page.click("#start")
            expect(page.locator("#answer-word")).to_have_text("ADMITTED (offline)", timeout=15_000)
            expect(page.locator("#offline-banner")).to_have_attribute("data-queue", "1")

            # Meanwhile an organiser revokes the device, asked once.
            office = browser.new_context(viewport={"width": 1280, "height": 900})
            organiser = office.new_page()
            organiser.goto(f"{live_server.url}/admin/{DEMO}/door/devices")
            sign_in_on(organiser, ORGANISER)
            organiser.wait_for_url(f"{live_server.url}/admin/{DEMO}/door/devices")
            asked: list[str] = []
            organiser.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
            organiser.get_by_role("button", name="Revoke Front door 2").click()
            expect(organiser.locator("tr[data-device]")).to_contain_text("revoked")
            assert len(asked) == 1 and "Front door 2" in asked[0]

            # Back online: the next scan says SIGNED OUT and offers the way back in, one tap.
            phone.set_offline(False)
            expect(page.locator("#answer-word")).to_have_text("SIGNED OUT", timeout=15_000)
            expect(page.locator("#door-signed-out")).to_be_visible()
            sign_in_again = page.locator("#answer-sign-in")
            expect(sign_in_again).to_be_visible()
            page.screenshot(path=str(tmp_path / "signed-out.png"))
            assert checkins_of(live_server, clara) == []
            expect(page.locator("#offline-banner")).to_have_attribute("data-queue", "1")
            sign_in_again.click()
            page.wait_for_url("**/admin/login?next=*")
            sign_in_on(page, STEWARD)
            page.wait_for_url(door)
            # The queue kept on the phone is sent once signed in again: Clara is not lost.
            expect(page.locator("#offline-banner")).to_have_attribute(
                "data-queue", "0", timeout=15_000
            )
            expect(page.locator("#sync-note")).to_contain_text("Sent 1 offline admission")
            admitted = checkins_of(live_server, clara)
            assert len(admitted) == 1 and admitted[0].method == "offline"
    database.dispose()
