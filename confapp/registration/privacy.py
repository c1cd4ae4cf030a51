"""Erasing attendees' personal data: one person on request, everyone after the conference.

Erasure blanks every personal field (name, e-mail, access needs, childcare), deletes the
management links, queued mail and the agenda, takes the name out of the order's receipts and
bank statement lines (and, once everyone in an order is erased, the payer's name, address and
order links), and marks the row erased, so neither the QR code
nor any link resolves any more. The row stays, holding only what anonymous counts and door
devices need: ticket type, amount, payment and ticket status, dates, and the random ticket code
(on the revocation list, so an offline door refuses the ticket too).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from confapp.agenda.service import delete_agenda, delete_conference_agendas
from confapp.db import Database, rowcount
from confapp.models import Conference, OutboxMail, Registration, Voucher
from confapp.registration.bank_statements import erase_order_traces
from confapp.registration.manage import forget_manage_secrets
from confapp.registration.receipts import erase_names_from_receipts
from confapp.registration.service import cancel_in
from confapp.times import local_today, utcnow


def _erase(session: Session, registration: Registration, now: datetime) -> None:
    registration.name = ""
    registration.email = ""
    registration.access_needs = ""
    registration.childcare_children = 0
    registration.childcare_ages = ""
    registration.email_consent = False
    registration.erased_at = now
    forget_manage_secrets(session, registration.id or 0)
    session.execute(delete(OutboxMail).where(col(OutboxMail.registration_id) == registration.id))
    delete_agenda(session, registration.agenda_key)
    registration.agenda_key = None
    session.add(registration)
    session.flush()
    erase_names_from_receipts(session, registration)
    erase_order_traces(session, registration)


def erase_attendee(db: Database, registration_id: int) -> bool:
    """Cancel (returning the place) and erase one attendee, at once. False if already erased."""
    with db.transaction() as session:
        cancel_in(session, registration_id)
        registration = session.get(Registration, registration_id)
        if registration is None or registration.erased_at is not None:
            return False
        _erase(session, registration, utcnow())
        return True


@dataclass(frozen=True)
class PurgeReport:
    conferences: list[str]
    erased: int


def erase_due_date(conference: Conference) -> date:
    return conference.end_date + timedelta(days=conference.erase_after_days)


def purge_expired_personal_data(db: Database, now: datetime | None = None) -> PurgeReport:
    """Erase every attendee of every conference whose retention period has run out, counting
    days in the conference's own time zone."""
    now = now or utcnow()
    erased = 0
    purged: list[str] = []
    with db.transaction() as session:
        for conference in session.exec(select(Conference)):
            if erase_due_date(conference) >= local_today(conference.timezone, now):
                continue
            registrations = session.exec(
                select(Registration).where(
                    Registration.conference_id == conference.id,
                    col(Registration.erased_at).is_(None),
                )
            ).all()
            for registration in registrations:
                _erase(session, registration, now)
            # Visitors' starred lists go too: what someone chose to attend is personal.
            agendas = delete_conference_agendas(session, conference.id or 0)
            # The addresses vouchers were mailed to (the codes and counts stay, for reports).
            vouchers = session.execute(
                update(Voucher)
                .where(col(Voucher.conference_id) == conference.id, col(Voucher.sent_to) != "")
                .values(sent_to="")
                .execution_options(synchronize_session=False)
            )
            if registrations or agendas or rowcount(vouchers):
                purged.append(conference.slug)
                erased += len(registrations)
    return PurgeReport(purged, erased)
