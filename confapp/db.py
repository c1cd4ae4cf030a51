"""The database: engine set-up, and the one transactional layer every read and write goes through.

Routes never open connections themselves; they call `db.read()` for a read-only unit of work and
`db.transaction()` for a write, which commits on success and rolls back on any exception, so a
failed request leaves no half-written rows.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import DateTime, Table, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

from confapp.settings import DEFAULT_MAX_OVERFLOW, DEFAULT_POOL_SIZE

if TYPE_CHECKING:
    from confapp.straight_reads import StraightReads


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always gives back aware UTC datetimes.

    SQLite has no time-zone type, so without this a naive value would come back and be
    misread as local time somewhere down the line.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone first")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Table (`Model.__table__`, which SQLModel sets only at run time)."""
    table = inspect(model).local_table
    assert isinstance(table, Table)
    return table


def column_length(model: type[SQLModel], field: str) -> int:
    """The most characters a text column of a table model holds: the one limit a form or a
    body check of that field takes, so neither can accept what the table would refuse."""
    length = getattr(table_of(model).c[field].type, "length", None)
    if not isinstance(length, int):
        raise LookupError(f"{model.__name__}.{field} has no length limit")
    return length


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched. Executing one gives a CursorResult, though
    Session.execute is annotated to give its base class, Result."""
    return cast("CursorResult[Any]", result).rowcount


def saved_ids(ids: Iterable[int | None]) -> list[int]:
    """Ids read from the database as a list of ints: a saved row's id is never NULL, though
    the model's field is `int | None` (None until it is saved)."""
    return [row_id for row_id in ids if row_id is not None]


def insert_on_conflict(session: Session, table: Table) -> Any:
    """An INSERT that can take ON CONFLICT DO NOTHING / DO UPDATE: both engines have it, each
    in its own dialect. For upserts that stay correct when requests race."""
    dialect = session.get_bind().dialect.name
    return {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect](table)


SQLITE_POOL_SIZE = 40
# PostgreSQL connections each event loop (one in a served process) keeps beside the pool for
# Database.read_straight_for_request.
STRAIGHT_READ_CONNECTIONS = 4


def make_engine(
    database_url: str,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_overflow: int = DEFAULT_MAX_OVERFLOW,
) -> Engine:
    # hide_parameters: an error's message never carries a row's values (names, e-mail
    # addresses, access needs), so nothing personal reaches a log through it.
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url,
            connect_args={"check_same_thread": False, "timeout": 30},
            # A connection to a file costs no server a slot: keep one for each of the thread
            # pool's 40 threads, so a busy moment does not open (and run the PRAGMAs on) a new
            # one per request and close it again, as SQLAlchemy's default of 5 did.
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=10,
            hide_parameters=True,
        )
        _configure_sqlite(engine)
        return engine
    # The pool sizes only matter where connections are counted: a PostgreSQL server has a
    # max_connections that every process of every machine shares.
    if pool_size < 1 or max_overflow < 0 or pool_size + max_overflow < 2:
        # Two at least: a housekeeping round holds its lock on one while it works on another.
        raise ValueError("a connection pool of 1 or more, and 2 or more with the overflow")
    return create_engine(
        database_url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        hide_parameters=True,
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself, so writes can take the
        # write lock up front (BEGIN IMMEDIATE) instead of failing to upgrade a read lock
        # when two requests write at once.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("confapp_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def _lock_key(name: str) -> int:
    """PostgreSQL's advisory locks are named by a signed 64-bit number."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Database:
    def __init__(
        self,
        database_url: str,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_overflow: int = DEFAULT_MAX_OVERFLOW,
    ) -> None:
        self.url = database_url
        self.engine = make_engine(database_url, pool_size, max_overflow)
        self._write_engine = self.engine.execution_options(confapp_write=True)
        # On PostgreSQL, reads from the event loop (read_straight_for_request) have a few
        # asynchronous connections of their own per event loop (confapp.straight_reads); reads
        # from a worker thread (read_straight) take the pool's.
        self._async_reads: StraightReads | None = None
        if self.engine.dialect.name != "sqlite":
            # Imported here: psycopg is only installed with PostgreSQL (the `postgres` extra).
            from confapp.straight_reads import StraightReads

            conninfo = self.engine.url.set(drivername="postgresql")
            self._async_reads = StraightReads(
                conninfo.render_as_string(hide_password=False), STRAIGHT_READ_CONNECTIONS
            )

    @contextmanager
    def read(self) -> Iterator[Session]:
        # Closing (not rolling back) detaches the loaded objects with their values intact,
        # so a route can read them after the unit of work ends.
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with Session(self._write_engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def try_lock(self, name: str) -> Iterator[bool]:
        """Whether this caller alone holds the lock called `name`, among every process and
        thread using this database: True for one, False at once for the others (nobody
        waits). The lock is let go when the block ends, or when the holder's process dies
        however it dies, so a crash never leaves it taken. It writes nothing to the database.
        """
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as connection:
                held = connection.execute(
                    text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _lock_key(name)}
                ).scalar_one()
                yield bool(held)
            # Closing the connection rolls its transaction back, and that lets the lock go.
            return
        database = self.engine.url.database
        if not database or database == ":memory:":  # a database no other process can open
            yield True
            return
        # SQLite has no lock of this kind: an flock on a file beside the database is one.
        # flock, not fcntl's locks: two opens in one process exclude each other too.
        with open(f"{database}-{name}.lock", "a") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
            except BlockingIOError:
                held = False
            yield held
        # Closing the file lets the lock go.

    def read_straight(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """The rows of one small statement, on a pooled driver connection, outside any
        transaction and without the ORM: for the query a cached response costs, where a unit of
        work cost many times the query itself (bench/). `sql` marks parameters with `{p}`."""
        if self.engine.dialect.name == "sqlite":
            return self._read_straight_once(sql.format(p="?"), params)
        try:
            return self._read_straight_once(sql.format(p="%s"), params)
        except self.engine.dialect.loaded_dbapi.OperationalError:
            return self._read_straight_once(sql.format(p="%s"), params)  # on a new connection

    def _read_straight_once(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        sqlite = self.engine.dialect.name == "sqlite"
        pooled = self.engine.raw_connection()
        try:
            connection: Any = pooled.driver_connection
            if not sqlite:
                # One round trip instead of three (BEGIN, SELECT, ROLLBACK).
                connection.autocommit = True
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(sql, params)
                    return list(cursor.fetchall())
                finally:
                    cursor.close()
            finally:
                if not sqlite and not connection.closed:
                    connection.autocommit = False
        except self.engine.dialect.loaded_dbapi.OperationalError:
            pooled.invalidate()  # the server dropped it: the pool opens a new one
            raise
        finally:
            pooled.close()

    async def read_straight_for_request(
        self, sql: str, params: tuple[Any, ...]
    ) -> list[tuple[Any, ...]]:
        """read_straight from a request, on the event loop: on SQLite a read of a local file
        takes microseconds, less than the hop to a worker thread; on PostgreSQL through an
        asynchronous connection of this event loop's own (confapp.straight_reads)."""
        if self._async_reads is None:
            return self.read_straight(sql, params)
        return await self._async_reads.fetch(sql.format(p="%s"), params)

    async def close_for_this_loop(self) -> None:
        if self._async_reads is not None:
            await self._async_reads.close_here()

    def is_reachable(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
