"""Checking a group registration: who pays (a person or an organisation, for the receipt),
how, and each attendee's name, e-mail and ticket, each checked as the one-person form checks
it. The form has rows `attendee1_name`, `attendee1_email`, ...; a row left empty is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from confapp.models import Conference, PaymentMethod
from confapp.registration.form import (
    MAX_EMAIL,
    CleanRegistration,
    check_payment_method,
    check_registration,
    text_field,
)
from confapp.registration.places import TicketOffer
from confapp.registration.service import MOST_IN_A_GROUP, Payer
from confapp.translation import _, ngettext

FORM_ROWS = 8  # rows the web form shows; the API takes up to MOST_IN_A_GROUP
ATTENDEE_FIELDS = ("name", "email", "ticket_type", "amount")
# No `email_consent`: programme e-mails need each person's own yes, which a payer cannot give
# for a group: its attendees get the mail every ticket holder gets, and no more.
PAYER_FIELDS = ("payer_name", "email", "payment_method")


def row_field(row: int, field: str) -> str:
    return f"attendee{row}_{field}"


GROUP_FIELDS = (
    *PAYER_FIELDS,
    *(row_field(row, field) for row in range(1, FORM_ROWS + 1) for field in ATTENDEE_FIELDS),
)


@dataclass(frozen=True)
class CleanGroup:
    payer: Payer
    attendees: list[CleanRegistration]


def rows_from_form(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The form's attendee rows that have anything typed in them, in order, each with the
    row number it came from (for placing its errors)."""
    rows = []
    for row in range(1, FORM_ROWS + 1):
        values = {field: data.get(row_field(row, field), "") for field in ATTENDEE_FIELDS}
        if any(isinstance(v, str) and v.strip() for v in values.values()):
            rows.append({"row": row, **values})
    return rows


def check_group(
    payer_data: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    offers: list[TicketOffer],
    conference: Conference,
    methods: tuple[str, ...],
) -> tuple[CleanGroup | None, dict[str, str]]:
    """`rows`: each attendee's fields (name, email, ticket_type, amount) and its `row`
    number; errors are keyed `attendee<row>_<field>` (the API answers the same keys)."""
    errors: dict[str, str] = {}
    payer_email_data = {
        "name": payer_data.get("payer_name") or "-",
        "email": payer_data.get("email"),
        "ticket_type": offers[0].code if offers else "",
    }
    checked, payer_errors = check_registration(payer_email_data, offers, conference)
    if "email" in payer_errors:
        errors["email"] = payer_errors["email"]
    payer_email = checked.email if checked else ""
    payer_name = text_field(payer_data, "payer_name", errors)
    if "payer_name" not in errors and len(payer_name) > 200:
        errors["payer_name"] = _("Please keep this under 200 characters.")
    if not rows:
        errors["attendee1_name"] = _("Add at least one attendee.")
    elif len(rows) > MOST_IN_A_GROUP:
        errors["attendee1_name"] = ngettext(
            "At most %(count)d attendee at once.",
            "At most %(count)d attendees at once.",
            MOST_IN_A_GROUP,
        ) % {"count": MOST_IN_A_GROUP}
    attendees: list[CleanRegistration] = []
    for row in rows[:MOST_IN_A_GROUP]:
        number = row.get("row", len(attendees) + 1)
        email = row.get("email")
        data = {
            "name": row.get("name"),
            "email": email if isinstance(email, str) and email.strip() else payer_email or email,
            "ticket_type": row.get("ticket_type"),
            "amount": row.get("amount"),
        }
        clean, row_errors = check_registration(data, offers, conference)
        for field, message in row_errors.items():
            errors[row_field(int(number), field)] = message
        if clean is not None:
            attendees.append(clean)
    paying = sum(a.amount_cents + a.solidarity_topup_cents for a in attendees)
    method = PaymentMethod.desk.value
    if paying and not errors:
        method = check_payment_method(payer_data, methods, errors)
    if len(payer_email) > MAX_EMAIL:
        errors["email"] = _("This e-mail address is too long.")
    if errors:
        return None, errors
    name = payer_name or attendees[0].name
    attendees = [replace(a, payment_method=method, payer_name=name) for a in attendees]
    return CleanGroup(Payer(name, payer_email, method), attendees), {}
