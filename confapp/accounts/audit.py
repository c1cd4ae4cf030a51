"""The audit log: every sign-in, every view or export of attendee data, every change to a
registration. Entries name a ticket code, never a person."""

from __future__ import annotations

from sqlmodel import Session

from confapp.models import AuditEntry


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
            actor=actor[:254],
            conference_id=conference_id,
            action=action[:40],
            ticket_code=ticket_code[:16],
            detail=detail[:500],
        )
    )
