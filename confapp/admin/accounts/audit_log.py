"""The audit log of one conference, for organisers: newest first, a page at a time, filtered by
action. Entries name ticket codes and the staff who acted, never attendees."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy import func
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from confapp.admin.routes import admin_page, organiser_conference
from confapp.db import Database
from confapp.models import AuditEntry, Conference, PaymentStatus
from confapp.request_context import database
from confapp.tickets.tokens import display_code
from confapp.translation import N_, _

PER_PAGE = 50

# A payment change: one whole message per status, so a translator can make the words agree.
_PAYMENT_LABELS = {
    PaymentStatus.unpaid: N_("Marked payment as unpaid"),
    PaymentStatus.paid: N_("Marked payment as paid"),
    PaymentStatus.waived: N_("Marked payment as waived"),
    PaymentStatus.refunded: N_("Marked payment as refunded"),
}

# What each action is called on the page and in its filter (in English here: action_label
# translates it). The log stores the action as it was written (some are sentences, some
# identifiers); an action missing here still reads as words (see action_label).
# tests/test_audit_labels.py checks every action confapp writes is here.
AUDIT_ACTION_LABELS: dict[str, str] = {
    # accounts
    "signed in": N_("Signed in"),
    "password changed": N_("Changed their password"),
    "password reset asked for": N_("Asked for a password reset"),
    "password reset by mail": N_("Reset their password by mail"),
    "second factor set up": N_("Set up a second factor"),
    "second factor replaced": N_("Replaced their second factor"),
    "second factor removed": N_("Removed their second factor"),
    "signed out other sessions": N_("Signed out their other sessions"),
    "signed out a session": N_("Signed out a session"),
    "API token created": N_("Made an API token"),
    "API token revoked": N_("Revoked an API token"),
    "API tokens revoked": N_("Revoked all their API tokens"),
    "invited": N_("Invited someone"),
    "invitation accepted": N_("Accepted an invitation"),
    "invitation withdrawn": N_("Withdrew an invitation"),
    "role revoked": N_("Took a role away"),
    # registrations
    "viewed registrations": N_("Viewed the registrations list"),
    "viewed registration": N_("Viewed a registration"),
    "exported registrations": N_("Exported registrations (CSV)"),
    "registered at the desk": N_("Registered someone at the desk"),
    "edited details": N_("Edited an attendee's details"),
    **{f"changed payment to {status.value}": label for status, label in _PAYMENT_LABELS.items()},
    "cancelled": N_("Cancelled a registration"),
    "resent ticket mail": N_("Resent the ticket mail"),
    "refunded": N_("Refunded a payment"),
    "recorded payment of order": N_("Recorded the payment of an order"),
    "created vouchers": N_("Created vouchers"),
    "withdrew voucher": N_("Withdrew a voucher"),
    "exported vouchers": N_("Exported vouchers as CSV"),
    "payment_settings_changed": N_("Changed the payment settings"),
    "bank_statement_uploaded": N_("Uploaded a bank statement"),
    "bank_statement_line_assigned": N_("Assigned a bank statement line to an order"),
    "bank_statement_line_ignored": N_("Set aside a bank statement line"),
    "cancelled by the attendee": N_("Cancelled by the attendee"),
    "erased by the attendee": N_("Erased by the attendee"),
    "viewed access report": N_("Viewed the access report"),
    "viewed childcare report": N_("Viewed the childcare report"),
    "changed registration settings": N_("Changed registration settings"),
    "created ticket type": N_("Added a ticket type"),
    "edited ticket type": N_("Edited a ticket type"),
    "showed ticket type": N_("Put a ticket type on sale"),
    "hid ticket type": N_("Took a ticket type off sale"),
    "sent notice": N_("Sent a notice"),
    # the door
    "checkin_undone": N_("Undid a check-in"),
    "resolved a door conflict": N_("Resolved a door conflict"),
    "changed door settings": N_("Changed door settings"),
    "added a door device": N_("Added a door device"),
    "replaced a door device": N_("Replaced a door device"),
    "revoked a door device": N_("Revoked a door device"),
    "signed out a door device": N_("Signed out a door device"),
    "door_device_added": N_("Added a door device"),
    "door_device_revoked": N_("Revoked a door device"),
    # the programme
    "programme_session_added": N_("Added a session"),
    "programme_session_changed": N_("Changed a session"),
    "programme_session_cancelled": N_("Cancelled a session"),
    "programme_session_restored": N_("Restored a cancelled session"),
    "programme_session_deleted": N_("Deleted a session"),
    "programme_record_added": N_("Added a speaker, room or track"),
    "programme_record_changed": N_("Changed a speaker, room or track"),
    "programme_record_deleted": N_("Deleted a speaker, room or track"),
    "programme_published": N_("Published the programme"),
    "programme_changes_published": N_("Published programme changes"),
    "programme_changes_discarded": N_("Discarded programme changes"),
    "programme_mode_changed": N_("Changed how programme edits are published"),
    "conference_languages_changed": N_("Changed the conference's languages or its texts in them"),
}


def action_label(action: str) -> str:
    """The words for an audit action; one not in the mapping reads as its name in words."""
    label = AUDIT_ACTION_LABELS.get(action)
    if label is not None:
        return _(label)
    words = " ".join(action.replace("_", " ").split())
    return words[:1].upper() + words[1:]


@dataclass(frozen=True)
class AuditQuery:
    action: str = ""  # "" for every action
    page: int = 1

    def query_string(self, page: int) -> str:
        items = [("action", self.action)] if self.action else []
        if page > 1:
            items.append(("page", str(page)))
        return urlencode(items)


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    matching: int
    page: int
    pages: int


def audit_actions(db: Database, conference: Conference) -> list[str]:
    """The actions this conference's log holds, for the filter, in the order of their labels."""
    with db.read() as session:
        actions = session.exec(
            select(AuditEntry.action).where(AuditEntry.conference_id == conference.id).distinct()
        )
        return sorted(actions, key=lambda action: (action_label(action).lower(), action))


def parse_audit_query(
    params: Mapping[str, str], actions: list[str]
) -> tuple[AuditQuery, dict[str, str]]:
    errors: dict[str, str] = {}
    action = params.get("action", "").strip()
    if action and action not in actions:
        errors["action"] = _("The log holds no such action; choose one from the list.")
        action = ""
    typed_page = params.get("page", "1").strip() or "1"
    page = 1
    if typed_page.isascii() and typed_page.isdigit() and len(typed_page) <= 6:
        page = max(1, int(typed_page))
    else:
        errors["page"] = _("There is no such page; here is the first.")
    return AuditQuery(action, page), errors


def read_audit_log(db: Database, conference: Conference, query: AuditQuery) -> AuditPage:
    where = [AuditEntry.conference_id == conference.id]
    if query.action:
        where.append(AuditEntry.action == query.action)
    with db.read() as session:
        matching = session.exec(select(func.count()).select_from(AuditEntry).where(*where)).one()
        entries = list(
            session.exec(
                select(AuditEntry)
                .where(*where)
                .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
                .offset((query.page - 1) * PER_PAGE)
                .limit(PER_PAGE)
            )
        )
    return AuditPage(entries, matching, query.page, max(1, math.ceil(matching / PER_PAGE)))


def audit_page(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    db = database(request)
    actions = audit_actions(db, conference)
    query, errors = parse_audit_query(request.query_params, actions)
    log = read_audit_log(db, conference, query)
    path = f"/admin/{conference.slug}/audit"
    return admin_page(
        request,
        "admin/audit.html",
        {
            "conference": conference,
            "query": query,
            "actions": actions,
            "errors": errors,
            "log": log,
            "display_code": display_code,
            "action_label": action_label,
            "audit_path": path,
            "previous_query": query.query_string(query.page - 1),
            "next_query": query.query_string(query.page + 1),
        },
        status_code=422 if errors else 200,
    )


routes = [Route("/admin/{conference}/audit", audit_page, methods=["GET"])]
