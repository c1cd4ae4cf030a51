"""Programme edits in the audit log: who added, changed, cancelled, restored or deleted a
session or record, who published the programme or its pending changes, who discarded them.
Written in the edit's own transaction, so an entry exists exactly when the change does."""

from __future__ import annotations

from sqlmodel import Session

from confapp.accounts import audit
from confapp.accounts.service import Principal
from confapp.models import Conference


def audit_programme_edit(
    session: Session,
    principal: Principal | None,
    conference: Conference,
    action: str,
    detail: str = "",
) -> None:
    if principal is None:
        return
    audit.record(
        session,
        action,
        user_id=principal.user_id,
        actor=principal.email,
        conference_id=conference.id,
        detail=detail,
    )


def session_action(changed: set[str], status_before: str, status_after: str) -> str:
    """The audit action for a saved session change."""
    if "status" in changed and status_after == "cancelled":
        return "programme_session_cancelled"
    if "status" in changed and status_before == "cancelled":
        return "programme_session_restored"
    return "programme_session_changed"
