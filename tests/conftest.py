"""Shared fixtures: real databases (a SQLite file, a PostgreSQL server), the app, a live server."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.db import Database
from confapp.migrate import upgrade_to_head
from confapp.programme.conference_file import LoadReport, load_conference_file
from confapp.resources import demo_seed_path
from confapp.settings import Settings

if TYPE_CHECKING:
    from tests.admin_helpers import Mailbox

DEMO = "socialism-2027"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    url = os.environ.get("CONFAPP_TEST_POSTGRES_URL")
    if not url:
        if _in_ci():
            pytest.fail("CI must test PostgreSQL: CONFAPP_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL: set CONFAPP_TEST_POSTGRES_URL (.ci/run starts a server)")
    return url


@contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server, dropped afterwards."""
    name = f"confapp_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database for one test: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'confapp.sqlite3'}"
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_server_url")) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """For tests about behaviour that does not depend on the database engine."""
    return f"sqlite:///{tmp_path / 'confapp.sqlite3'}"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade_to_head(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def demo(db: Database) -> LoadReport:
    """The demo conference from seed/, loaded the way `confapp serve` loads it."""
    return load_conference_file(db, demo_seed_path())


@pytest.fixture
def settings(db: Database) -> Settings:
    # No background housekeeping in tests: they send queued mail and purge explicitly.
    return Settings(
        database_url=db.url, seed_file="", base_url="http://testserver", housekeeping_seconds=0
    )


@pytest.fixture
def client(settings: Settings, demo: LoadReport) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for a live server on a free port, with links pointing at that port."""
    port = free_port()
    return Settings(
        database_url=database_url,
        seed_file="",
        port=port,
        base_url=f"http://127.0.0.1:{port}",
        housekeeping_seconds=0,
    ).with_overrides(**overrides)


class LiveServer:
    """The app served by a real uvicorn on loopback, in a thread of the test process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = settings.port
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(sqlite_url: str) -> Iterator[LiveServer]:
    """The demo conference on a real HTTP server, for the browser."""
    database = Database(sqlite_url)
    upgrade_to_head(database.engine)
    load_conference_file(database, demo_seed_path())
    database.dispose()
    with LiveServer(live_settings(sqlite_url)) as server:
        yield server


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        if _in_ci():
            pytest.fail("CI must run the browser tests: Debian's chromium is not installed")
        pytest.skip("no Chromium: apt-get install chromium (scripts/test.sh does it as root)")
    return path


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


@pytest.fixture
def browser(chromium_path: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def phone(browser: object) -> Iterator[object]:
    """A page in a 360-px-wide phone viewport."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)  # type: ignore[attr-defined]
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""
    from tests.admin_helpers import Mailbox  # it uses free_port from here

    box = Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()


@pytest.fixture
def mail_client(settings: Settings, demo: LoadReport, mailbox: Mailbox) -> Iterator[TestClient]:
    """The demo conference's app, sending its mail to the real SMTP server above."""
    smtp = settings.with_overrides(smtp_host="127.0.0.1", smtp_port=mailbox.port)
    with TestClient(create_app(smtp), raise_server_exceptions=False) as test_client:
        yield test_client
