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
from confapp.models import AuditEntry, Conference
from confapp.request_context import database
from confapp.tickets.tokens import display_code

PER_PAGE = 50


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
    """The actions this conference's log holds, for the filter."""
    with db.read() as session:
        return list(
            session.exec(
                select(AuditEntry.action)
                .where(AuditEntry.conference_id == conference.id)
                .distinct()
                .order_by(AuditEntry.action)
            )
        )


def parse_audit_query(
    params: Mapping[str, str], actions: list[str]
) -> tuple[AuditQuery, dict[str, str]]:
    errors: dict[str, str] = {}
    action = params.get("action", "").strip()
    if action and action not in actions:
        errors["action"] = "The log holds no such action; choose one from the list."
        action = ""
    typed_page = params.get("page", "1").strip() or "1"
    page = 1
    if typed_page.isascii() and typed_page.isdigit() and len(typed_page) <= 6:
        page = max(1, int(typed_page))
    else:
        errors["page"] = "There is no such page; here is the first."
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
    conference, _ = organiser_conference(request)
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
            "audit_path": path,
            "previous_query": query.query_string(query.page - 1),
            "next_query": query.query_string(query.page + 1),
        },
        status_code=422 if errors else 200,
    )


routes = [Route("/admin/{conference}/audit", audit_page, methods=["GET"])]
