"""The schema comes from Alembic migrations, and they match the models."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import confapp.models  # noqa: F401
from confapp.db import Database
from confapp.migrate import alembic_config, upgrade_to_head


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
        assert MigrationContext.configure(connection).get_current_revision() is not None
