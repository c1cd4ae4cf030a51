"""A newcomer serves the demo, is told how to make the first organiser, makes one from another
folder, and is told which database it went to; the command line is quiet unless asked."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from confapp.accounts.service import find_user
from confapp.cli import database_shown, database_url_for_elsewhere
from confapp.db import Database
from confapp.resources import demo_seed_path
from tests.support import DEMO
from tests.support.accounts import PASSWORD
from tests.support.servers import start_serve, stop_serve, wait_until_healthy


def run_confapp(
    arguments: list[str], folder: Path, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFAPP_")}
    return subprocess.run(
        [sys.executable, "-m", "confapp.cli", *arguments],
        cwd=folder,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def serve_output(database_url: str, folder: Path) -> str:
    server = start_serve(
        "first", database_url, folder, extra_env={"CONFAPP_SEED_FILE": str(demo_seed_path())}
    )
    try:
        wait_until_healthy(server)
    finally:
        stop_serve(server)
    return server.output()


def test_serve_tells_a_newcomer_the_command_that_makes_the_first_organiser(
    database_url: str, tmp_path: Path
) -> None:
    is_sqlite = database_url.startswith("sqlite")
    # As a newcomer would: SQLite relative to the folder `confapp serve` is run in.
    served_url = "sqlite:///confapp.sqlite3" if is_sqlite else database_url
    output = serve_output(served_url, tmp_path)
    lines = output.splitlines()
    hint = lines.index("No one can sign in to the back office yet. Make the first organiser with:")
    command = shlex.split(lines[hint + 1])
    assert command[:3] == ["confapp", "user", "add"]
    assert command[command.index("--conference") + 1] == DEMO
    shown_database = command[command.index("--database-url") + 1]
    if is_sqlite:
        assert shown_database == f"sqlite:///{tmp_path / 'confapp.sqlite3'}"
    assert "alembic" not in output.lower()

    # Run from somewhere else entirely, it makes the organiser in the served database.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    address = "rosa@example.org"
    arguments = [address if word == "you@example.org" else word for word in command[1:]]
    made = run_confapp(arguments, elsewhere, stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    where = str(tmp_path / "confapp.sqlite3") if is_sqlite else database_url
    assert made.stdout.strip() == (f"Created {address}: organiser at {DEMO} (database: {where}).")
    assert not (elsewhere / "confapp.sqlite3").exists()
    db = Database(database_url)
    try:
        with db.read() as session:
            assert find_user(session, address) is not None
    finally:
        db.dispose()

    # Once someone can sign in, serving says nothing more about it.
    assert "No one can sign in" not in serve_output(served_url, tmp_path)


def test_the_database_is_named_without_its_password() -> None:
    url = "postgresql+psycopg://organiser:hunter2secret@db.example.org:5432/confapp"
    assert database_shown(url) == "postgresql+psycopg://organiser:***@db.example.org:5432/confapp"
    assert "hunter2secret" not in database_url_for_elsewhere(url)


def test_commands_are_quiet_unless_asked_to_be_verbose(tmp_path: Path) -> None:
    quiet = run_confapp(["migrate"], tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "The database schema is up to date."
    assert "alembic" not in quiet.stderr

    database = f"sqlite:///{tmp_path / 'second.sqlite3'}"
    for verbose in (["migrate", "--verbose"], ["--verbose", "migrate"]):
        loud = run_confapp([*verbose, "--database-url", database], tmp_path)
        assert loud.returncode == 0, loud.stderr
        assert "INFO alembic.runtime.migration: Context impl SQLiteImpl." in loud.stderr
