"""Straight reads on PostgreSQL from the event loop: a few asynchronous psycopg connections per
event loop for the one small query every cached page, feed and 304 costs.

Asked from a worker thread instead, the hop to the thread and back cost more than PostgreSQL's
own answer (bench/: a bare endpoint made 9,800 such reads a second from the event loop and
5,400-6,600 from threads). Connections belong to the event loop that opened them, so each loop
has its own; autocommit, so one statement is one round trip; a connection the server dropped
is closed and the read tried once more on a new one.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import psycopg


class _LoopConnections:
    def __init__(self, conninfo: str, size: int) -> None:
        self.conninfo = conninfo
        self.slots = asyncio.Semaphore(size)
        self.idle: list[psycopg.AsyncConnection[Any]] = []

    async def fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        async with self.slots:
            try:
                return await self._fetch_once(sql, params)
            except psycopg.OperationalError:
                return await self._fetch_once(sql, params)  # on a new connection

    async def _fetch_once(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        connection = self.idle.pop() if self.idle else None
        if connection is None or connection.closed:
            connection = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        try:
            cursor = await connection.execute(sql, params)
            rows = await cursor.fetchall()
        except psycopg.OperationalError:
            await connection.close()
            raise
        except BaseException:
            await connection.close()  # in an unknown state: never hand it out again
            raise
        self.idle.append(connection)
        return rows

    async def close(self) -> None:
        while self.idle:
            await self.idle.pop().close()


class StraightReads:
    """The connections of every event loop that has asked, each used only from its own loop."""

    def __init__(self, conninfo: str, size: int) -> None:
        self.conninfo = conninfo
        self.size = size
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopConnections] = (
            weakref.WeakKeyDictionary()
        )

    def _here(self) -> _LoopConnections:
        loop = asyncio.get_running_loop()
        connections = self._loops.get(loop)
        if connections is None:
            connections = self._loops[loop] = _LoopConnections(self.conninfo, self.size)
        return connections

    async def fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return await self._here().fetch(sql, params)

    async def close_here(self) -> None:
        """Close this event loop's connections (at the end of the app's lifespan)."""
        connections = self._loops.pop(asyncio.get_running_loop(), None)
        if connections is not None:
            await connections.close()
