"""Databases for the tests: SQLite files and PostgreSQL databases, empty or migrated.

Migrating from nothing costs far more than copying a database, so a test session migrates one
template per engine (and per pytest-xdist worker) and each test gets a copy of it: a file copy
for SQLite, `CREATE DATABASE ... TEMPLATE` for PostgreSQL. A test about migrating itself asks
for an empty database instead (`fresh_postgres_database`, or a SQLite path with no file yet).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import func, select

from confapp.db import Database
from confapp.migrate import upgrade_to_head


def worker_id() -> str:
    """The pytest-xdist worker running this process ("gw0", ...), or "main" without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def sqlite_file_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _migrate(database: Database) -> None:
    """Bring the database to the newest migration, as `confapp serve` does on start."""
    upgrade_to_head(database.engine)


def _filled_sqlite(url: str, fill: Callable[[Database], object]) -> None:
    database = Database(url)
    try:
        fill(database)
        with database.engine.connect() as connection:
            # WAL mode: move every page into the main file, so copying that file copies all.
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        database.dispose()


def migrated_sqlite_template(folder: Path) -> Path:
    """A SQLite file in `folder` migrated to head, whole in its one file, to copy per test."""
    path = folder / f"template-{worker_id()}.sqlite3"
    _filled_sqlite(sqlite_file_url(path), _migrate)
    return path


def copy_of_sqlite(template: Path, path: Path) -> str:
    """A new SQLite file at `path` holding what the template holds; its URL."""
    shutil.copyfile(template, path)
    return sqlite_file_url(path)


@contextmanager
def _server(server_url: str) -> Iterator[Any]:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        yield admin
    finally:
        admin.dispose()


def _database_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def fresh_postgres_database(server_url: str, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database on the test server, dropped afterwards: empty, or a copy of
    the `template` database (see migrated_postgres_template)."""
    name = f"confapp_test_{uuid.uuid4().hex[:16]}"
    copying = f' TEMPLATE "{template}"' if template else ""
    with _server(server_url) as admin:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{copying}'))
        try:
            yield _database_url(server_url, name)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def filled_sqlite_template(template: Path, path: Path, fill: Callable[[Database], object]) -> Path:
    """A copy of `template` at `path` with what `fill` writes into it, to copy per test."""
    _filled_sqlite(copy_of_sqlite(template, path), fill)
    return path


@contextmanager
def migrated_postgres_template(
    server_url: str,
    template: str | None = None,
    fill: Callable[[Database], object] = _migrate,
) -> Iterator[str]:
    """A PostgreSQL database migrated to head, for `fresh_postgres_database(template=...)`; its
    name. Nobody may connect to it afterwards (PostgreSQL copies only a database nobody is
    connected to). Named for this worker and this session: several suites may share a server.
    With `template` and `fill`: a copy of that template with what `fill` writes into it."""
    name = f"confapp_template_{worker_id()}_{uuid.uuid4().hex[:8]}"
    copying = f' TEMPLATE "{template}"' if template else ""
    with _server(server_url) as admin:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{copying}'))
        try:
            database = Database(_database_url(server_url, name))
            try:
                fill(database)
            finally:
                database.dispose()
            with admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
            yield name
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def count(db: Database, model: type, *where: Any) -> int:
    """How many rows of `model` there are (that match `where`)."""
    with db.read() as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()
