"""languages: a conference's interface languages, organisers' words per language, the language
each registration and speaker uses,
the language of mail to no registration

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRANSLATED_TABLES = ("conference", "room", "track", "programme_session", "ticket_type", "notice")


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    # Plain ADD COLUMN (SQLite has it): a batch copy of conference would trip the foreign keys
    # that point at it.
    op.add_column(
        "conference", sa.Column("languages", sa.JSON(), nullable=False, server_default='["en"]')
    )
    op.add_column(
        "conference",
        sa.Column("default_language", text(length=20), nullable=False, server_default="en"),
    )
    for table in TRANSLATED_TABLES:
        op.add_column(
            table, sa.Column("translations", sa.JSON(), nullable=False, server_default="{}")
        )
    op.add_column(
        "registration",
        sa.Column("language", text(length=20), nullable=False, server_default="en"),
    )
    op.add_column(
        "speaker", sa.Column("language", text(length=20), nullable=False, server_default="")
    )
    op.add_column(
        "outbox_mail", sa.Column("language", text(length=20), nullable=False, server_default="")
    )


def downgrade() -> None:
    op.drop_column("outbox_mail", "language")
    op.drop_column("speaker", "language")
    op.drop_column("registration", "language")
    for table in reversed(TRANSLATED_TABLES):
        op.drop_column(table, "translations")
    op.drop_column("conference", "default_language")
    op.drop_column("conference", "languages")
