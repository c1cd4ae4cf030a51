"""The schema comes from Alembic migrations, and they match the models."""

from __future__ import annotations

import threading

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import SQLModel

import confapp.models  # noqa: F401
from confapp.db import Database
from confapp.migrate import alembic_config, upgrade_to_head
from tests.support.databases import fresh_postgres_database


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


def test_an_existing_conference_with_registrations_upgrades_to_head(database_url: str) -> None:
    """Migrations meet real data: a database with a conference, a ticket type and a paid-up
    registration from an older release upgrades without losing or breaking a row."""
    database = Database(database_url)
    command.upgrade(alembic_config(database_url), "0003")
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO conference (id, slug, name, timezone, venue, venue_address, "
                "start_date, end_date, description, url, currency, places_taken, "
                "solidarity_fund_cents, erase_after_days, programme_version, created_at, "
                "updated_at) VALUES (1, 'old', 'Old', 'Australia/Sydney', 'Hall', '', "
                "'2027-07-09', '2027-07-11', '', '', 'AUD', 1, 2000, 30, 1, "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO ticket_type (id, conference_id, code, name, description, kind, "
                "price_cents, min_price_cents, places_taken, from_solidarity_pool, position, "
                "updated_at) VALUES (1, 1, 'waged', 'Waged', '', 'fixed', 9500, 0, 1, false, 0, "
                "'2026-01-01 00:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO signing_key (id, private_key, public_key, created_at) "
                "VALUES (1, 'x', 'y', '2026-01-01 00:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO registration (id, conference_id, ticket_type_id, ticket_code, "
                "signing_key_id, name, email, access_needs, childcare_children, childcare_ages, "
                "email_consent, amount_cents, solidarity_topup_cents, payment_status, status, "
                "created_at) VALUES (1, 1, 1, 'AAAAAAAAAAAAA', 1, 'Rosa', 'rosa@example.org', "
                "'', 0, '', false, 9500, 2000, 'unpaid', 'active', '2026-01-01 00:00:00')"
            )
        )
    upgrade_to_head(database.engine)
    with database.engine.connect() as connection:
        row = connection.execute(
            text("SELECT name, topup_in_fund FROM registration WHERE id = 1")
        ).one()
        on_sale = connection.execute(text("SELECT on_sale FROM ticket_type WHERE id = 1")).one()
        is_open = connection.execute(
            text("SELECT registration_open FROM conference WHERE id = 1")
        ).one()
    database.dispose()
    # The old release put every top-up into the fund at once: the upgrade says so.
    assert row[0] == "Rosa" and bool(row[1]) is True
    assert bool(on_sale[0]) is True and bool(is_open[0]) is True
