"""Background work runs once across processes: while one process's housekeeping round is at work,
another's turn is skipped and every mail reaches the mail server once; a process that dies
holding the round does not stop housekeeping; with no mail server set, a round writes nothing;
and the connection pool each process may open is the one the settings give."""

from __future__ import annotations

import asyncio
import functools
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import pytest
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SMTPSession
from sqlalchemy import MetaData
from sqlmodel import col, select
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.cli import prepare_database
from confapp.db import (
    DEFAULT_MAX_OVERFLOW,
    DEFAULT_POOL_SIZE,
    STRAIGHT_READ_CONNECTIONS,
    Database,
)
from confapp.housekeeping import ROUND_LOCK, housekeeping_round
from confapp.models import OutboxMail
from confapp.settings import Settings
from confapp.times import utcnow
from tests.support.databases import fresh_postgres_database
from tests.support.mail import Mailbox
from tests.support.programme import LENIN, edit_session, sydney
from tests.support.registrations import name_of, register, register_and_star

ATTENDEES = ["rosa@example.org", "clara@example.org", "alexandra@example.org"]


class HoldingMailbox(Mailbox):
    """A real SMTP server that keeps what it receives, and holds each delivery open until the
    test lets it go: a round caught in the middle of its work."""

    def __init__(self) -> None:
        super().__init__()
        self.delivering = threading.Event()
        self.let_go = threading.Event()

    async def handle_DATA(self, server: SMTP, session: SMTPSession, envelope: Envelope) -> str:
        self.delivering.set()
        await asyncio.get_running_loop().run_in_executor(None, self.let_go.wait, 15)
        return await super().handle_DATA(server, session, envelope)

    @property
    def recipients(self) -> list[str]:
        return sorted(str(message["To"]) for message in self.messages)


@pytest.fixture
def holding_mailbox() -> Iterator[HoldingMailbox]:
    box = HoldingMailbox()
    box.controller.start()
    yield box
    box.let_go.set()
    box.controller.stop()


def smtp_to(settings: Settings, mailbox: Mailbox) -> Settings:
    return settings.with_overrides(smtp_host="127.0.0.1", smtp_port=mailbox.port)


def run_round(db: Database, settings: Settings, purge: bool = True) -> bool:
    return anyio.run(functools.partial(housekeeping_round, db, settings, purge=purge))


def outbox(db: Database) -> list[tuple[str, str, int]]:
    with db.read() as session:
        rows = session.exec(select(OutboxMail).order_by(col(OutboxMail.id)))
        return [(mail.kind, mail.status, mail.attempts) for mail in rows]


def every_row(db: Database) -> dict[str, list[str]]:
    """Every row of every table in the database (whatever the models say), to compare."""
    tables = MetaData()
    with db.engine.connect() as connection:
        tables.reflect(bind=connection)
        return {
            name: sorted(repr(tuple(row)) for row in connection.execute(table.select()))
            for name, table in tables.tables.items()
        }


def test_while_one_process_is_at_work_another_skips_its_turn_and_each_mail_goes_once(
    client: TestClient, db: Database, settings: Settings, holding_mailbox: HoldingMailbox
) -> None:
    for address in ATTENDEES:
        register(client, name_of(address), address)  # no mail server yet: the tickets' mail waits
    smtp = smtp_to(settings, holding_mailbox)
    # Each process has its own connections (and, on SQLite, its own lock file handle).
    first, second = Database(db.url), Database(db.url)
    ran: list[bool] = []
    try:
        at_work = threading.Thread(target=lambda: ran.append(run_round(first, smtp)))
        at_work.start()
        assert holding_mailbox.delivering.wait(15), "the first round never reached the mail server"

        started = time.monotonic()
        assert run_round(second, smtp) is False
        assert time.monotonic() - started < 5  # it did not wait for the first round to end

        holding_mailbox.let_go.set()
        at_work.join(timeout=30)
        assert ran == [True]
        assert holding_mailbox.recipients == sorted(ATTENDEES)
        assert outbox(db) == [("ticket", "sent", 1)] * len(ATTENDEES)

        # Once the first round is over, the next turn is anyone's, and there is nothing to send.
        assert run_round(second, smtp) is True
        assert holding_mailbox.recipients == sorted(ATTENDEES)
    finally:
        holding_mailbox.let_go.set()
        first.dispose()
        second.dispose()


HOLD_THE_ROUND = textwrap.dedent(
    """
    import sys, time
    from confapp.db import Database
    db = Database(sys.argv[1])
    with db.try_lock(sys.argv[2]) as held:
        print("held" if held else "not held", flush=True)
        time.sleep(600)
    """
)


def test_a_process_that_dies_in_the_middle_of_a_round_does_not_stop_housekeeping(
    client: TestClient, db: Database, settings: Settings, holding_mailbox: HoldingMailbox
) -> None:
    register(client, name_of(ATTENDEES[0]), ATTENDEES[0])
    holding_mailbox.let_go.set()
    smtp = smtp_to(settings, holding_mailbox)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_ROUND, db.url, ROUND_LOCK],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert run_round(db, smtp) is False  # the other process is at work
        assert holding_mailbox.recipients == []

        holder.kill()  # SIGKILL: no cleanup of any kind runs in it
        holder.wait(timeout=10)
        deadline = time.monotonic() + 15
        while not run_round(db, smtp):  # the server notices the dead connection at once or soon
            assert time.monotonic() < deadline, "the dead process's round was never let go"
            time.sleep(0.2)
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert holding_mailbox.recipients == [ATTENDEES[0]]
    assert outbox(db) == [("ticket", "sent", 1)]


def test_with_no_mail_server_set_a_round_writes_nothing(
    client: TestClient, db: Database, settings: Settings, holding_mailbox: HoldingMailbox
) -> None:
    """Tickets' mail waiting, programme changes ready to batch, throttle counts, a demo
    conference whose attendees are kept: a round without a mail server leaves every row as
    it was. With a mail server, the same round has work to do."""
    assert settings.smtp_host == ""
    for address in ATTENDEES:
        register(client, name_of(address), address)
    register_and_star(client, "Nadezhda", consent=True, starred=[LENIN])
    an_hour_ago = utcnow() - timedelta(hours=1)
    edit_session(db, LENIN, an_hour_ago, start=sydney(10, 12), end=sydney(10, 13))
    before = every_row(db)
    assert before["outbox_mail"] and before["throttle_count"] and before["programme_change"]

    assert run_round(db, settings, purge=True) is True
    assert run_round(db, settings, purge=False) is True
    assert every_row(db) == before

    holding_mailbox.let_go.set()
    assert run_round(db, smtp_to(settings, holding_mailbox), purge=True) is True
    assert every_row(db) != before
    # Four tickets, and the news of the moved session to the one who starred it.
    assert holding_mailbox.recipients == sorted([*ATTENDEES, *["nadezhda@example.org"] * 2])


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    with fresh_postgres_database(postgres_server_url) as url:
        yield url


def pool_of(db: Database) -> tuple[int, int]:
    pool: Any = db.engine.pool
    return pool.size(), pool._max_overflow


def test_the_pool_settings_reach_every_process_s_engine(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONFAPP_DATABASE_URL", postgres_url)
    monkeypatch.setenv("CONFAPP_DATABASE_POOL_SIZE", "3")
    monkeypatch.setenv("CONFAPP_DATABASE_MAX_OVERFLOW", "2")
    settings = Settings.from_env().with_overrides(seed_file="", housekeeping_seconds=0)

    app = create_app(settings)
    assert pool_of(app.state.db) == (3, 2)
    command_db = prepare_database(settings)  # what every `confapp` command opens
    try:
        assert pool_of(command_db) == (3, 2)
    finally:
        command_db.dispose()
        app.state.db.dispose()


def test_a_pool_too_small_for_housekeeping_is_refused_at_start(postgres_url: str) -> None:
    with pytest.raises(ValueError, match="2 or more with the overflow"):
        Database(postgres_url, pool_size=1, max_overflow=0)


def test_by_default_four_workers_fit_in_postgresqls_default_max_connections() -> None:
    """The README's sum: 4 workers at most 19 connections each (the pool, its overflow and the
    4 for straight reads) is 76, of the 97 that max_connections = 100 leaves after 3 reserved,
    leaving room for commands and pg_dump."""
    defaults = Settings()
    assert (defaults.database_pool_size, defaults.database_max_overflow) == (5, 10)
    assert (DEFAULT_POOL_SIZE, DEFAULT_MAX_OVERFLOW) == (5, 10)
    assert STRAIGHT_READ_CONNECTIONS == 4
    assert 4 * (DEFAULT_POOL_SIZE + DEFAULT_MAX_OVERFLOW + STRAIGHT_READ_CONNECTIONS) + 20 <= 97
