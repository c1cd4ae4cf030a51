"""programme editor: publish state, day hours, versions, step-free access, public changelog

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

import confapp.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode: a batch rebuild on SQLite re-creates the table, and
    # sessions, rooms and speakers are all pointed at by other tables.
    op.add_column(
        "conference",
        sa.Column("programme_published_at", confapp.db.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column("conference", sa.Column("day_starts", sa.Time(), nullable=True))
    op.add_column("conference", sa.Column("day_ends", sa.Time(), nullable=True))
    # Conferences that exist already have been public all along.
    op.execute("UPDATE conference SET programme_published_at = created_at")
    op.add_column("room", sa.Column("step_free", sa.Boolean(), nullable=True))
    for table in ("room", "track", "speaker", "programme_session"):
        op.add_column(
            table, sa.Column("version", sa.Integer(), nullable=False, server_default="1")
        )
    op.add_column(
        "speaker",
        sa.Column("needs_step_free", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "programme_session",
        sa.Column("made_on_web", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "programme_change_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("created_at", confapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conference_id"], ["conference.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_programme_change_batch_conference_id", "programme_change_batch", ["conference_id"]
    )
    op.create_table(
        "programme_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("at", confapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("mail_batch_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["conference_id"], ["conference.id"]),
        sa.ForeignKeyConstraint(["session_id"], ["programme_session.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["mail_batch_id"], ["programme_change_batch.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_programme_change_conference_at", "programme_change", ["conference_id", "at"]
    )
    op.create_index("ix_programme_change_session_id", "programme_change", ["session_id"])
    op.create_index("ix_programme_change_mail_batch_id", "programme_change", ["mail_batch_id"])


def downgrade() -> None:
    op.drop_table("programme_change")
    op.drop_table("programme_change_batch")
    op.drop_column("programme_session", "made_on_web")
    op.drop_column("speaker", "needs_step_free")
    for table in ("room", "track", "speaker", "programme_session"):
        op.drop_column(table, "version")
    op.drop_column("room", "step_free")
    op.drop_column("conference", "day_ends")
    op.drop_column("conference", "day_starts")
    op.drop_column("conference", "programme_published_at")
