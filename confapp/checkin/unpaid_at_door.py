"""What the door says when it admits an unpaid ticket: the conference's choice (send them to the
desk, take the payment at the door, or say nothing), organisers changing it, and the list of
unpaid tickets a door device keeps so that it says the same offline."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, select

from confapp.accounts.audit import record
from confapp.accounts.service import Principal
from confapp.models import HOLDING_PLACES, Conference, PaymentStatus, Registration
from confapp.tickets.tokens import display_code, normalise_ticket_code
from confapp.times import utcnow
from confapp.translation import _

UNPAID_AT_DOOR_FIELD = "unpaid_at_door"


class UnpaidAtDoor(StrEnum):
    desk = "desk"  # ADMITTED says "Unpaid: send them to the desk"
    collect = "collect"  # ADMITTED says "Unpaid: take the payment now"
    silent = "silent"  # ADMITTED says nothing about payment


def unpaid_at_door(conference: Conference) -> UnpaidAtDoor:
    """The conference's choice; a value the app does not know reads as the default, desk."""
    try:
        return UnpaidAtDoor(conference.unpaid_at_door)
    except ValueError:
        return UnpaidAtDoor.desk


def check_unpaid_at_door(typed: str) -> tuple[UnpaidAtDoor | None, str]:
    """The choice a form names, or None and the message to show beside the field."""
    try:
        return UnpaidAtDoor(typed), ""
    except ValueError:
        return None, _(
            "Choose what the door says about an unpaid ticket: send them to the desk, "
            "take the payment at the door, or nothing."
        )


def set_unpaid_at_door(
    session: Session, conference: Conference, choice: UnpaidAtDoor, actor: Principal
) -> bool:
    """Store the choice (audited), in the caller's transaction; False when it was already so."""
    current = session.get(Conference, conference.id)
    if current is None or current.unpaid_at_door == choice.value:
        return False
    before = current.unpaid_at_door
    current.unpaid_at_door = choice.value
    current.updated_at = utcnow()
    session.add(current)
    record(
        session,
        "changed door settings",
        user_id=actor.user_id,
        actor=actor.email,
        conference_id=conference.id,
        detail=f"{UNPAID_AT_DOOR_FIELD} {before}→{choice.value}",
    )
    return True


@dataclass(frozen=True)
class UnpaidTickets:
    """What a door device keeps to tell unpaid tickets apart offline."""

    conference_id: int
    choice: UnpaidAtDoor
    codes: list[str]  # stored form; empty when the door says nothing about payment

    def document(self) -> dict[str, Any]:
        return {
            "conference_id": self.conference_id,
            "unpaid_at_door": self.choice.value,
            "unpaid": [display_code(code) for code in self.codes],
        }


def unpaid_tickets(session: Session, conference: Conference) -> UnpaidTickets:
    """The codes of the conference's active, unerased, unpaid tickets, unless the door is to
    say nothing about payment (then none: a device keeps no more than it needs)."""
    assert conference.id is not None
    choice = unpaid_at_door(conference)
    codes: list[str] = []
    if choice is not UnpaidAtDoor.silent:
        rows = session.exec(
            select(Registration.ticket_code)
            .where(
                Registration.conference_id == conference.id,
                # A place held for payment is unpaid at the door too, not refused.
                col(Registration.status).in_(HOLDING_PLACES),
                Registration.payment_status == PaymentStatus.unpaid.value,
                col(Registration.erased_at).is_(None),
            )
            .order_by(Registration.ticket_code)
        ).all()
        # Tickets erased before codes were kept had a random non-code put in: skip any such.
        codes = [code for code in rows if normalise_ticket_code(code) == code]
    return UnpaidTickets(conference.id, choice, codes)
