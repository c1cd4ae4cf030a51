"""a working copy of a published programme, releases, door devices, door and notice settings

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

import confapp.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    moment = confapp.db.UTCDateTime(timezone=True)
    # Plain ADD COLUMN (SQLite has it): a batch copy of conference would trip the foreign keys
    # that point at it.
    op.add_column(
        "conference",
        sa.Column("publish_each_save", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "conference",
        sa.Column("unpaid_at_door", text(length=10), nullable=False, server_default="desk"),
    )
    op.add_column(
        "notice", sa.Column("essential", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "programme_release",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("at", moment, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("by", text(length=254), nullable=False),
        sa.ForeignKeyConstraint(["conference_id"], ["conference.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_programme_release_conference_id", "programme_release", ["conference_id"])
    # Nothing points at programme_change, so a batch copy of it is safe.
    with op.batch_alter_table("programme_change") as table:
        table.add_column(sa.Column("release_id", sa.Integer(), nullable=True))
        table.create_foreign_key(
            "fk_programme_change_release_id", "programme_release", ["release_id"], ["id"]
        )
        table.create_index("ix_programme_change_release_id", ["release_id"])
    op.create_table(
        "staged_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("slug", text(length=120), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("people", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.Column("updated_by", text(length=254), nullable=False),
        sa.ForeignKeyConstraint(["conference_id"], ["conference.id"]),
        sa.ForeignKeyConstraint(["session_id"], ["programme_session.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conference_id", "slug"),
        sa.UniqueConstraint("session_id"),
    )
    op.create_index("ix_staged_session_conference_id", "staged_session", ["conference_id"])
    op.create_table(
        "door_device",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", text(length=100), nullable=False),
        sa.Column("token_hash", text(length=64), nullable=False),
        sa.Column("created_by", text(length=254), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("expires_at", moment, nullable=False),
        sa.Column("last_seen_at", moment, nullable=True),
        sa.Column("revoked_at", moment, nullable=True),
        sa.Column("revoked_by", text(length=254), nullable=False),
        sa.ForeignKeyConstraint(["conference_id"], ["conference.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_door_device_conference_id", "door_device", ["conference_id"])
    op.create_index("ix_door_device_user_id", "door_device", ["user_id"])


def downgrade() -> None:
    op.drop_table("door_device")
    op.drop_table("staged_session")
    with op.batch_alter_table("programme_change") as table:
        table.drop_index("ix_programme_change_release_id")
        table.drop_constraint("fk_programme_change_release_id", type_="foreignkey")
        table.drop_column("release_id")
    op.drop_table("programme_release")
    op.drop_column("notice", "essential")
    op.drop_column("conference", "unpaid_at_door")
    op.drop_column("conference", "publish_each_save")
