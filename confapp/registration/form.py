"""Checking what a person typed into the registration form (or sent as JSON).

Returns either a clean registration or a message per field, in words a person can act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from email_validator import EmailNotValidError, validate_email

from confapp.models import Conference, TicketKind
from confapp.money import format_money
from confapp.registration.places import TicketOffer

MAX_AMOUNT_CENTS = 1_000_000
FIELDS = (
    "name",
    "email",
    "ticket_type",
    "amount",
    "solidarity_topup",
    "access_needs",
    "childcare_children",
    "childcare_ages",
    "email_consent",
)


@dataclass(frozen=True)
class CleanRegistration:
    name: str
    email: str
    ticket_type_id: int
    amount_cents: int
    solidarity_topup_cents: int
    access_needs: str
    childcare_children: int
    childcare_ages: str
    email_consent: bool


def form_values(data: Mapping[str, Any]) -> dict[str, str]:
    """What the person sent, as strings, to re-fill the form exactly as they typed it."""
    values = {name: str(data.get(name) or "").strip() for name in FIELDS}
    values["email_consent"] = "yes" if _truthy(data.get("email_consent")) else ""
    return values


def json_values(body: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON API's shape ({"childcare": {"children", "ages"}}) in the form's field names."""
    values = dict(body)
    childcare = body.get("childcare")
    if isinstance(childcare, Mapping):
        values["childcare_children"] = childcare.get("children")
        values["childcare_ages"] = childcare.get("ages")
    elif childcare not in (None, ""):
        values["childcare_children"] = childcare
    return values


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in {"1", "yes", "on", "true"}


_AMOUNT = re.compile(r"^\$?\s*(\d{1,7})(?:\.(\d{1,2}))?$")


def parse_amount(text: str) -> int | None:
    """'40', '42.5', '$42.50' -> cents; None if it is not an amount."""
    match = _AMOUNT.match(text.replace(",", "").strip())
    if not match:
        return None
    try:
        amount = Decimal(f"{match.group(1)}.{match.group(2) or '0'}")
    except InvalidOperation:
        return None
    return int(amount * 100)


def check_registration(
    data: Mapping[str, Any], offers: list[TicketOffer], conference: Conference
) -> tuple[CleanRegistration | None, dict[str, str]]:
    values = form_values(data)
    errors: dict[str, str] = {}

    name = re.sub(r"\s+", " ", values["name"])
    if not name:
        errors["name"] = "Please give a name. A first name or an alias is fine."
    elif len(name) > 100:
        errors["name"] = "Please keep the name under 100 characters."

    email = values["email"]
    if not email:
        errors["email"] = "Please give an e-mail address: your ticket is sent there."
    else:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            errors["email"] = "This does not look like an e-mail address (like name@example.org)."

    offer = next((o for o in offers if o.code == values["ticket_type"]), None)
    amount_cents = 0
    if offer is None:
        errors["ticket_type"] = (
            "Please choose a ticket type."
            if not values["ticket_type"]
            else "There is no such ticket type; please choose one from the list."
        )
    else:
        ticket = offer.ticket_type
        if ticket.kind == TicketKind.fixed.value:
            amount_cents = ticket.price_cents
        elif ticket.kind == TicketKind.pay_what_you_can.value:
            parsed = parse_amount(values["amount"]) if values["amount"] else None
            minimum = format_money(ticket.min_price_cents, conference.currency)
            if parsed is None:
                errors["amount"] = f"Enter what you will pay, {minimum} or more (like 40 or 42.50)."
            elif parsed < ticket.min_price_cents:
                errors["amount"] = f"The least for this ticket is {minimum}."
            elif parsed > MAX_AMOUNT_CENTS:
                errors["amount"] = "That is more than this form can take; please contact us."
            else:
                amount_cents = parsed

    topup_cents = 0
    if values["solidarity_topup"]:
        parsed = parse_amount(values["solidarity_topup"])
        if not conference.solidarity_place_cents:
            errors["solidarity_topup"] = "This conference has no solidarity fund."
        elif parsed is None:
            errors["solidarity_topup"] = "Enter an amount like 20 or 22.50, or leave it empty."
        elif parsed > MAX_AMOUNT_CENTS:
            errors["solidarity_topup"] = "That is more than this form can take; please contact us."
        else:
            topup_cents = parsed

    access_needs = values["access_needs"]
    if len(access_needs) > 2000:
        errors["access_needs"] = "Please keep this under 2,000 characters."

    children = 0
    if values["childcare_children"]:
        if not values["childcare_children"].isdigit() or int(values["childcare_children"]) > 10:
            errors["childcare_children"] = "Enter a number of children from 0 to 10."
        else:
            children = int(values["childcare_children"])
    ages = values["childcare_ages"]
    if children and not ages:
        errors["childcare_ages"] = "Tell us the children's ages so the creche can plan."
    elif len(ages) > 200:
        errors["childcare_ages"] = "Please keep this under 200 characters."

    if errors or offer is None:
        return None, errors
    return (
        CleanRegistration(
            name=name,
            email=email,
            ticket_type_id=offer.ticket_type.id or 0,
            amount_cents=amount_cents,
            solidarity_topup_cents=topup_cents,
            access_needs=access_needs,
            childcare_children=children,
            childcare_ages=ages if children else "",
            email_consent=values["email_consent"] == "yes",
        ),
        {},
    )
