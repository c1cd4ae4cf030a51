"""The schema comes from Alembic migrations, and they match the models."""

from __future__ import annotations

import threading

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import confapp.models  # noqa: F401
from confapp.db import Database
from confapp.migrate import alembic_config, upgrade_to_head
from tests.conftest import fresh_postgres_database


def head_revision(database_url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


def test_migrations_build_exactly_the_models_schema(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_migrations_go_down_and_up_again(db: Database) -> None:
    config = alembic_config(db.url)
    command.downgrade(config, "base")
    upgrade_to_head(db.engine)
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head_revision(
            db.url
        )


def test_app_processes_starting_together_on_postgresql_take_turns_migrating(
    postgres_server_url: str,
) -> None:
    with fresh_postgres_database(postgres_server_url) as url:
        databases = [Database(url) for _ in range(4)]
        start = threading.Barrier(len(databases))
        failures: list[BaseException] = []

        def start_process(database: Database) -> None:
            start.wait()
            try:
                upgrade_to_head(database.engine)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                failures.append(exc)

        threads = [threading.Thread(target=start_process, args=(d,)) for d in databases]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        for database in databases:
            database.dispose()
        assert failures == []
        check = Database(url)
        with check.engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
        check.dispose()
        assert revision == head_revision(url)
