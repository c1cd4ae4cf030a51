"""The door on a phone, end to end, in headless Chromium with a fake camera fed a video of a
real ticket's QR code: ADMITTED, then ALREADY IN; a second ticket with the network cut is
ADMITTED (offline) under an OFFLINE banner, and once the network is back the queued admission
reaches the server exactly once."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from sqlmodel import select

from confapp.db import Database
from confapp.models import Checkin
from confapp.tickets.admission import registration_by_code
from tests.support import DEMO
from tests.support.accounts import PASSWORD, STEWARD, make_user
from tests.support.browser import CHROMIUM_ARGS
from tests.support.servers import LiveServer


@pytest.fixture
def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        pytest.skip("no ffmpeg to make the fake camera's video: apt-get install ffmpeg")
    return path


def register_over_http(server: LiveServer, name: str, email: str) -> dict:
    """Register through the live server's public API, over real HTTP; the ticket."""
    request = urllib.request.Request(
        f"{server.url}/api/{DEMO}/registrations",
        data=json.dumps({"name": name, "email": email, "ticket_type": "waged"}).encode(),
        headers={"content-type": "application/json", "accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 201
        return json.loads(answer.read())["ticket"]


def camera_video(ffmpeg: str, ticket: dict, folder: Path, name: str) -> Path:
    """A y4m video of the ticket's QR code as the ticket page serves it (TESTING.md's recipe)."""
    picture = folder / f"{name}.png"
    with urllib.request.urlopen(ticket["qr_png_url"], timeout=30) as png:
        picture.write_bytes(png.read())
    video = folder / f"{name}.y4m"
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-loop", "1", "-i", str(picture), "-t", "4",
         "-r", "10", "-vf",
         "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2:white",
         "-pix_fmt", "yuv420p", str(video)],
        check=True,
    )  # fmt: skip
    return video


@contextmanager
def phone_with_camera(
    playwright: Playwright, chromium: str, video: Path
) -> Iterator[tuple[Browser, Page]]:
    browser = playwright.chromium.launch(
        executable_path=chromium,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, permissions=["camera"]
    )
    try:
        yield browser, context.new_page()
    finally:
        context.close()
        browser.close()


def open_door_as_steward(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/door/{DEMO}")  # anonymous: on to sign in, then back
    page.fill("#email", STEWARD)
    page.fill("#password", PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(f"{server.url}/door/{DEMO}")
    expect(page.locator("body")).to_have_attribute("data-ready", "yes")
    expect(page.locator("body")).to_have_attribute("data-offline-ready", "yes")


def checkins_for(server: LiveServer, ticket: dict) -> list[Checkin]:
    database = Database(server.settings.database_url)
    try:
        with database.read() as session:
            registration = registration_by_code(session, ticket["code"].replace("-", ""))
            assert registration is not None
            return list(
                session.exec(select(Checkin).where(Checkin.registration_id == registration.id))
            )
    finally:
        database.dispose()


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
        assert len(checkins_for(live_server, rosa)) == 1

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
            assert checkins_for(live_server, clara) == []
            # Shown again to the same offline phone: already in, from its own queue.
            expect(word).to_have_text("ALREADY IN", timeout=15_000)
            expect(banner).to_have_attribute("data-queue", "1")

            page.context.set_offline(False)
            expect(banner).to_have_attribute("data-queue", "0", timeout=15_000)
            expect(banner).to_be_hidden()
            expect(page.locator("#sync-note")).to_contain_text("Sent 1 offline admission")
            # The camera still sees Clara: now the server says she is in.
            expect(word).to_have_text("ALREADY IN", timeout=15_000)
        checkins = checkins_for(live_server, clara)
        assert len(checkins) == 1
        assert checkins[0].undone_at is None
