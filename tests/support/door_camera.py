"""A door phone with a fake camera, for the Chromium tests of the scanner (TESTING.md's recipe):
a y4m video of a real ticket's QR code, and Chromium launched to show it as the camera."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlmodel import select

from confapp.db import Database
from confapp.models import Checkin
from confapp.tickets.admission import registration_by_code
from tests.support import DEMO
from tests.support.browser import CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

    from tests.support.servers import LiveServer

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "permissions": ["camera"]}


def register_over_http(server: LiveServer, name: str, email: str) -> dict[str, Any]:
    """Register through the live server's public API, over real HTTP; the ticket."""
    request = urllib.request.Request(
        f"{server.url}/api/{DEMO}/registrations",
        data=json.dumps({"name": name, "email": email, "ticket_type": "waged"}).encode(),
        headers={"content-type": "application/json", "accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 201
        return dict(json.loads(answer.read())["ticket"])


def camera_video(ffmpeg: str, ticket: dict[str, Any], folder: Path, name: str) -> Path:
    """A y4m video of the ticket's QR code as the ticket page serves it."""
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
def browser_with_camera(playwright: Playwright, chromium: str, video: Path) -> Iterator[Browser]:
    """Chromium whose camera shows `video`; its contexts are phones (PHONE)."""
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
    try:
        yield browser
    finally:
        browser.close()


def ffmpeg_or_skip() -> str:
    """Debian's ffmpeg, which makes the fake camera's video (scripts/test.sh installs it)."""
    path = shutil.which("ffmpeg")
    if path is None:
        pytest.skip("no ffmpeg to make the fake camera's video: apt-get install ffmpeg")
    return path


def checkins_of(server: LiveServer, ticket: dict[str, Any]) -> list[Checkin]:
    """The check-ins the live server's database holds for a ticket."""
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
