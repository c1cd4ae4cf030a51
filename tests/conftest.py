"""The shared fixtures: real databases (a SQLite file, a PostgreSQL server), the app, a live
server, a browser, a mail server. The helpers they are built on live in tests/support/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.db import Database
from confapp.programme.conference_file import LoadReport, load_conference_file
from confapp.resources import demo_seed_path
from confapp.settings import Settings
from tests.support import in_ci
from tests.support.accounts import APP_TIME
from tests.support.browser import CHROMIUM_ARGS
from tests.support.databases import (
    copy_of_sqlite,
    filled_sqlite_template,
    fresh_postgres_database,
    migrated_postgres_template,
    migrated_sqlite_template,
    sqlite_file_url,
    worker_id,
)
from tests.support.mail import Mailbox
from tests.support.servers import LiveServer, live_settings


def app_clock() -> datetime:
    """The in-process app's clock: a fixed moment (second-factor codes are checked by it)."""
    return APP_TIME


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    url = os.environ.get("CONFAPP_TEST_POSTGRES_URL")
    if not url:
        if in_ci():
            pytest.fail("CI must test PostgreSQL: CONFAPP_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL: set CONFAPP_TEST_POSTGRES_URL (.ci/run starts a server)")
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session (and per xdist worker), copied for each test."""
    return migrated_sqlite_template(tmp_path_factory.mktemp(f"template-{worker_id()}"))


@pytest.fixture(scope="session")
def postgres_template(postgres_server_url: str) -> Iterator[str]:
    """A PostgreSQL database migrated once per session (and per xdist worker); its name."""
    with migrated_postgres_template(postgres_server_url) as name:
        yield name


@pytest.fixture(scope="session")
def sqlite_demo_template(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, LoadReport]:
    """The migrated template with the demo conference loaded, and the report of that load."""
    reports: list[LoadReport] = []
    path = filled_sqlite_template(
        sqlite_template,
        tmp_path_factory.mktemp(f"demo-{worker_id()}") / "demo.sqlite3",
        lambda database: reports.append(load_conference_file(database, demo_seed_path())),
    )
    return path, reports[0]


@pytest.fixture(scope="session")
def postgres_demo_template(
    postgres_server_url: str, postgres_template: str
) -> Iterator[tuple[str, LoadReport]]:
    reports: list[LoadReport] = []
    with migrated_postgres_template(
        postgres_server_url,
        template=postgres_template,
        fill=lambda database: reports.append(load_conference_file(database, demo_seed_path())),
    ) as name:
        yield name, reports[0]


DEMO_LOADED = pytest.StashKey[LoadReport]()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database for one test: a SQLite file, or a PostgreSQL database of its own.

    For a test that uses `db`, it is a copy of the session's migrated template, which costs far
    less than migrating, and for one that uses `demo` a copy of the template with the demo
    loaded; for a test that only asks for the URL it is empty, for the test to migrate
    (tests/test_migrations.py)."""
    migrated = "db" in request.fixturenames
    with_demo = "demo" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "confapp.sqlite3"
        if with_demo:
            template, report = request.getfixturevalue("sqlite_demo_template")
            request.node.stash[DEMO_LOADED] = report
            yield copy_of_sqlite(template, path)
        elif migrated:
            yield copy_of_sqlite(request.getfixturevalue("sqlite_template"), path)
        else:
            yield sqlite_file_url(path)
        return
    server = request.getfixturevalue("postgres_server_url")
    template: str | None = None
    if with_demo:
        template, report = request.getfixturevalue("postgres_demo_template")
        request.node.stash[DEMO_LOADED] = report
    elif migrated:
        template = request.getfixturevalue("postgres_template")
    with fresh_postgres_database(server, template=template) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """For tests about behaviour that does not depend on the database engine: a path where no
    file is yet."""
    return sqlite_file_url(tmp_path / "confapp.sqlite3")


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The test's database, migrated (copied from the migrated template: see database_url)."""
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def demo(request: pytest.FixtureRequest, db: Database) -> LoadReport:
    """The demo conference from seed/, loaded the way `confapp serve` loads it: in the copy of
    the demo template the test's database is (see database_url), else now."""
    loaded = request.node.stash.get(DEMO_LOADED, None)
    if loaded is not None:
        return loaded
    return load_conference_file(db, demo_seed_path())


@pytest.fixture
def settings(db: Database) -> Settings:
    # No background housekeeping in tests: they send queued mail and purge explicitly.
    return Settings(
        database_url=db.url, seed_file="", base_url="http://testserver", housekeeping_seconds=0
    )


@pytest.fixture
def client(settings: Settings, demo: LoadReport) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings, clock=app_clock), raise_server_exceptions=False
    ) as test_client:
        yield test_client


@pytest.fixture
def live_server(
    sqlite_url: str, sqlite_demo_template: tuple[Path, LoadReport]
) -> Iterator[LiveServer]:
    """The demo conference on a real HTTP server, for the browser (in the `sqlite_url` file)."""
    copy_of_sqlite(sqlite_demo_template[0], Path(str(make_url(sqlite_url).database)))
    with LiveServer(live_settings(sqlite_url)) as server:
        yield server


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        if in_ci():
            pytest.fail("CI must run the browser tests: Debian's chromium is not installed")
        pytest.skip("no Chromium: apt-get install chromium (scripts/test.sh does it as root)")
    return path


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
    box = Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()


@pytest.fixture
def mail_client(settings: Settings, demo: LoadReport, mailbox: Mailbox) -> Iterator[TestClient]:
    """The demo conference's app, sending its mail to the real SMTP server above."""
    smtp = settings.with_overrides(smtp_host="127.0.0.1", smtp_port=mailbox.port)
    with TestClient(
        create_app(smtp, clock=app_clock), raise_server_exceptions=False
    ) as test_client:
        yield test_client
