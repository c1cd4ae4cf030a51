"""The audit log: every sign-in, every view or export of attendee data, every change to a
registration. Entries name a ticket code, never a person."""

from __future__ import annotations

from sqlmodel import Session

from confapp.db import column_length
from confapp.models import AuditEntry


def _cut(field: str, text: str) -> str:
    """An entry is written whatever it is given: what is too long for its column is cut."""
    return text[: column_length(AuditEntry, field)]


def record(
    session: Session,
    action: str,
    *,
    user_id: int | None,
    actor: str,
    conference_id: int | None = None,
    ticket_code: str = "",
    detail: str = "",
) -> None:
    """Write one entry inside the caller's transaction (so it exists exactly when the change
    does)."""
    session.add(
        AuditEntry(
            user_id=user_id,
            actor=_cut("actor", actor),
            conference_id=conference_id,
            action=_cut("action", action),
            ticket_code=_cut("ticket_code", ticket_code),
            detail=_cut("detail", detail),
        )
    )
