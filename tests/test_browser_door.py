"""The door on a phone, end to end, in headless Chromium with a fake camera fed a video of a
real ticket's QR code: ADMITTED, then ALREADY IN; a second ticket with the network cut is
ADMITTED (offline) under an OFFLINE banner, and once the network is back the queued admission
reaches the server exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from confapp.db import Database
from tests.support import DEMO
from tests.support.accounts import PASSWORD, STEWARD, make_user
from tests.support.door_camera import (
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


@contextmanager
def phone_with_camera(
    playwright: Playwright, chromium: str, video: Path
) -> Iterator[tuple[Browser, Page]]:
    """A 360-px phone whose camera shows `video`."""
    with browser_with_camera(playwright, chromium, video) as browser:
        context = browser.new_context(
            viewport={"width": 360, "height": 740}, is_mobile=True, permissions=["camera"]
        )
        try:
            yield browser, context.new_page()
        finally:
            context.close()


def open_door_as_steward(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/door/{DEMO}")  # anonymous: on to sign in, then back
    page.fill("#email", STEWARD)
    page.fill("#password", PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(f"{server.url}/door/{DEMO}")
    expect(page.locator("body")).to_have_attribute("data-ready", "yes")
    expect(page.locator("body")).to_have_attribute("data-offline-ready", "yes")


def test_a_steward_admits_a_ticket_then_one_offline_that_syncs_once(
    live_server: LiveServer, chromium_path: str, ffmpeg: str, tmp_path: Path
) -> None:
    database = Database(live_server.settings.database_url)
    make_user(database, STEWARD, "steward", DEMO)
    database.dispose()
    rosa = register_over_http(live_server, "Rosa Quillfeather", "rosa@example.org")
    clara = register_over_http(live_server, "Clara Zetkin-Brown", "clara@example.org")
    rosa_video = camera_video(ffmpeg, rosa, tmp_path, "rosa")
    clara_video = camera_video(ffmpeg, clara, tmp_path, "clara")

    with sync_playwright() as playwright:
        # Online: the camera reads Rosa's ticket, the server admits her; held up again, she is in.
        with phone_with_camera(playwright, chromium_path, rosa_video) as (_, page):
            open_door_as_steward(page, live_server)
            expect(page.locator("#offline-banner")).to_be_hidden()
            page.click("#start")
            word = page.locator("#answer-word")
            expect(word).to_have_text("ADMITTED", timeout=15_000)
            expect(page.locator("#answer-detail")).to_contain_text("Rosa Quillfeather")
            expect(page.locator("#answer")).to_have_class("answer answer--good")
            expect(page.locator("#answer-offline")).to_be_hidden()
            page.screenshot(path=str(tmp_path / "admitted.png"))
            expect(word).to_have_text("ALREADY IN", timeout=15_000)
            expect(page.locator("#answer-detail")).to_contain_text(f"by {STEWARD}")
            expect(page.locator("#answer")).to_have_class("answer answer--warn")
        assert len(checkins_of(live_server, rosa)) == 1

        # Offline: Clara's ticket is checked on the phone, queued, and synced once back online.
        with phone_with_camera(playwright, chromium_path, clara_video) as (_, page):
            open_door_as_steward(page, live_server)
            page.context.set_offline(True)
            banner = page.locator("#offline-banner")
            expect(banner).to_be_visible()
            expect(banner).to_contain_text("OFFLINE")
            page.click("#start")
            word = page.locator("#answer-word")
            expect(word).to_have_text("ADMITTED (offline)", timeout=15_000)
            expect(page.locator("#answer-detail")).not_to_contain_text("Clara")  # no names kept
            expect(page.locator("#answer-offline")).to_be_visible()
            expect(banner).to_have_attribute("data-queue", "1")
            expect(banner).to_contain_text("1 admission waiting to sync")
            page.screenshot(path=str(tmp_path / "offline.png"))
            assert checkins_of(live_server, clara) == []
            # Shown again to the same offline phone: already in, from its own queue.
            expect(word).to_have_text("ALREADY IN", timeout=15_000)
            expect(banner).to_have_attribute("data-queue", "1")

            page.context.set_offline(False)
            expect(banner).to_have_attribute("data-queue", "0", timeout=15_000)
            expect(banner).to_be_hidden()
            expect(page.locator("#sync-note")).to_contain_text("Sent 1 offline admission")
            # The camera still sees Clara: now the server says she is in.
            expect(word).to_have_text("ALREADY IN", timeout=15_000)
        checkins = checkins_of(live_server, clara)
        assert len(checkins) == 1
        assert checkins[0].undone_at is None
