"""the door: check-ins, offline conflicts, session doors

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

import confapp.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "checkin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("admitted_at", confapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", confapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by_user_id", sa.Integer(), nullable=True),
        sa.Column("by", text(length=254), nullable=False),
        sa.Column("device", text(length=64), nullable=False),
        sa.Column("method", text(length=10), nullable=False),
        sa.Column("undone_at", confapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("undone_by", text(length=254), nullable=False),
        sa.ForeignKeyConstraint(["by_user_id"], ["app_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["conference_id"], ["conference.id"]),
        sa.ForeignKeyConstraint(["registration_id"], ["registration.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_checkin_one_standing_per_registration",
        "checkin",
        ["registration_id"],
        unique=True,
        sqlite_where=sa.text("undone_at IS NULL"),
        postgresql_where=sa.text("undone_at IS NULL"),
    )
    op.create_index(
        "ix_checkin_conference_admitted_at", "checkin", ["conference_id", "admitted_at"]
    )
    op.create_table(
        "checkin_conflict",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=True),
        sa.Column("admitted_at", confapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", confapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by", text(length=254), nullable=False),
        sa.Column("device", text(length=64), nullable=False),
        sa.Column("result", text(length=20), nullable=False),
        sa.Column("resolved_at", confapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["checkin_id"], ["checkin.id"]),
        sa.ForeignKeyConstraint(["conference_id"], ["conference.id"]),
        sa.ForeignKeyConstraint(["registration_id"], ["registration.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_checkin_conflict_conference_id", "checkin_conflict", ["conference_id"]
    )
    op.create_table(
        "session_door",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("full_since", confapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("overflow_room_id", sa.Integer(), nullable=True),
        sa.Column("headcount", sa.Integer(), nullable=False),
        sa.Column("updated_at", confapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", text(length=254), nullable=False),
        sa.ForeignKeyConstraint(["overflow_room_id"], ["room.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["session_id"], ["programme_session.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("session_id"),
    )


def downgrade() -> None:
    op.drop_table("session_door")
    op.drop_table("checkin_conflict")
    op.drop_table("checkin")
