"""The access-needs and childcare reports, for organisers and access coordinators: what the
access team and the creche need to plan, and nothing more (no e-mail address, no payment).

Only active registrations whose data has not been erased count. Each view is in the audit log,
with how many registrations it showed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from confapp.accounts.audit import record
from confapp.accounts.service import Principal
from confapp.admin.menu import ACCESS_TEAM
from confapp.admin.routes import admin_page, conference_for
from confapp.db import Database
from confapp.models import Conference, Registration, RegistrationStatus, TicketType
from confapp.request_context import database
from confapp.tickets.tokens import display_code
from confapp.times import utcnow


@dataclass(frozen=True)
class AccessNeed:
    code: str  # as shown at the door
    name: str  # as the attendee gave it (a first name or an alias)
    access_needs: str
    ticket_type: str


@dataclass(frozen=True)
class ChildcareNeed:
    code: str
    name: str
    children: int
    ages: str


@dataclass(frozen=True)
class ChildcareReport:
    rows: list[ChildcareNeed]

    @property
    def children(self) -> int:
        return sum(row.children for row in self.rows)

    @property
    def registrations(self) -> int:
        return len(self.rows)


def _attending(conference: Conference) -> list[ColumnElement[bool]]:
    return [
        col(Registration.conference_id) == conference.id,
        col(Registration.status) == RegistrationStatus.active.value,
        col(Registration.erased_at).is_(None),
    ]


def _audit(session: Session, actor: Principal, conference: Conference, what: str, n: int) -> None:
    record(
        session,
        f"viewed {what} report",
        user_id=actor.user_id,
        actor=actor.email,
        conference_id=conference.id,
        detail=f"{n} registration{'' if n == 1 else 's'}",
    )


def access_report(db: Database, conference: Conference, actor: Principal) -> list[AccessNeed]:
    with db.transaction() as session:
        found = session.exec(
            select(
                Registration.ticket_code,
                Registration.name,
                Registration.access_needs,
                TicketType.name,
            )
            .join(TicketType, col(TicketType.id) == Registration.ticket_type_id)
            .where(*_attending(conference), Registration.access_needs != "")
            .order_by(Registration.name, Registration.ticket_code)
        ).all()
        rows = [
            AccessNeed(display_code(code), name, needs.strip(), ticket_type)
            for code, name, needs, ticket_type in found
            if needs.strip()
        ]
        _audit(session, actor, conference, "access", len(rows))
    return rows


def childcare_report(db: Database, conference: Conference, actor: Principal) -> ChildcareReport:
    with db.transaction() as session:
        found = session.exec(
            select(
                Registration.ticket_code,
                Registration.name,
                Registration.childcare_children,
                Registration.childcare_ages,
            )
            .where(*_attending(conference), Registration.childcare_children > 0)
            .order_by(Registration.name, Registration.ticket_code)
        ).all()
        report = ChildcareReport(
            [
                ChildcareNeed(display_code(code), name, children, ages)
                for code, name, children, ages in found
            ]
        )
        _audit(session, actor, conference, "childcare", report.registrations)
    return report


# ---- pages ------------------------------------------------------------------------------------


def access_report_page(request: Request) -> Response:
    conference, principal = conference_for(request, *ACCESS_TEAM)
    rows = access_report(database(request), conference, principal)
    return admin_page(
        request,
        "admin/report_access.html",
        {"conference": conference, "rows": rows, "made_at": utcnow()},
    )


def childcare_report_page(request: Request) -> Response:
    conference, principal = conference_for(request, *ACCESS_TEAM)
    report = childcare_report(database(request), conference, principal)
    return admin_page(
        request,
        "admin/report_childcare.html",
        {"conference": conference, "report": report, "made_at": utcnow()},
    )


routes = [
    Route("/admin/{conference}/reports/access", access_report_page, methods=["GET"]),
    Route("/admin/{conference}/reports/childcare", childcare_report_page, methods=["GET"]),
]
