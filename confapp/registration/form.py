"""Checking what a person typed into the registration form (or sent as JSON).

Returns either a clean registration or a message per field, in words a person can act on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from babel.numbers import format_decimal
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, Field

from confapp.db import column_length
from confapp.models import Conference, PaymentMethod, Registration, TicketKind, VoucherEffect
from confapp.money import format_money
from confapp.programme.records import longest
from confapp.registration.places import TicketOffer
from confapp.registration.vouchers import VoucherTerms
from confapp.request_body import character_problem
from confapp.translation import N_, _, babel_locale, ngettext

MAX_AMOUNT_CENTS = 1_000_000


class Childcare(BaseModel):
    children: Annotated[int, Field(ge=0, le=10)] | Annotated[str, Field(max_length=2)] = Field(
        0, description="0 to 10."
    )
    ages: Annotated[str, Field(max_length=200)] = ""


PaymentMethodName = Literal["stripe", "bank_transfer", "desk"]
assert get_args(PaymentMethodName) == tuple(m.value for m in PaymentMethod)


# What a registration may hold, as the JSON API takes it (the form sends the same fields, with
# childcare flattened into childcare_children and childcare_ages); the API's contract is
# generated from it. `check_registration` takes its limits from here and words each refusal
# for the person who typed it.
class RegistrationInput(BaseModel):
    """A registration: one person, one ticket. Only `name`, `email` and `ticket_type` are
    required."""

    name: Annotated[str, Field(max_length=column_length(Registration, "name"))] = Field(
        description="A first name or an alias is fine."
    )
    email: Annotated[str, Field(max_length=column_length(Registration, "email"))] = Field(
        description="Where the ticket is sent."
    )
    ticket_type: str = Field(description="A `code` from ticket-types.")
    amount: str | float | None = Field(
        None, description="For pay-what-you-can tickets, like `25` or `42.50`."
    )
    solidarity_topup: str | float | None = Field(
        None, description="An optional gift to the solidarity fund."
    )
    access_needs: Annotated[str, Field(max_length=2000)] = ""
    childcare: Childcare | None = None
    email_consent: bool = Field(
        False, description="Consent to programme e-mails (the ticket is always sent)."
    )
    voucher: Annotated[str, Field(max_length=40)] = Field(
        "",
        description=(
            "A voucher code, any case: it may unlock a ticket type not on public sale, change "
            "the price, or hold a place; `fields.voucher` says why one cannot be used."
        ),
    )
    payment_method: PaymentMethodName | None = Field(
        None,
        description=(
            "How a ticket that costs something is paid, one of the conference's methods "
            "(`payment_methods` in ticket-types); needed when it offers more than one. "
            "`stripe` and `bank_transfer` hold the place as `reserved` until paid."
        ),
    )


MAX_NAME = longest(RegistrationInput, "name")
MAX_EMAIL = longest(RegistrationInput, "email")
MAX_ACCESS_NEEDS = longest(RegistrationInput, "access_needs")
MAX_CHILDCARE_AGES = longest(Childcare, "ages")
MAX_CHILDREN = 10
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
    "payment_method",
    "voucher",
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
    payment_method: str = PaymentMethod.desk.value  # how a ticket that costs something is paid
    payer_name: str = ""  # who pays, for the receipt: the registrant unless given
    voucher_id: int | None = None  # the voucher it is registered with (used in registering)
    voucher_holds_places: bool = False  # whose place was taken when the voucher was made


def form_values(data: Mapping[str, Any]) -> dict[str, str]:
    """What the person sent, as strings, to re-fill the form exactly as they typed it.

    Only text is shown back: a JSON number, list or object gives "" (never its repr), and a
    character no page can carry (a lone surrogate, a NUL) is shown as U+FFFD.
    """
    values = {name: _shown(data.get(name)) for name in FIELDS}
    values["email_consent"] = "yes" if _consent(data.get("email_consent")) is True else ""
    return values


def _shown(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    return _UNSHOWABLE.sub("\ufffd", value).strip()


_UNSHOWABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def unknown_json_fields(body: Mapping[str, Any]) -> dict[str, str]:
    """Fields a registration does not take, named so a script's typo is not silently lost."""
    unknown = {
        name: _("is not a field of a registration")
        for name in body
        if name not in RegistrationInput.model_fields
    }
    childcare = body.get("childcare")
    if isinstance(childcare, Mapping):
        for name in childcare:
            if name not in Childcare.model_fields:
                unknown[f"childcare.{name}"] = _("is not a field of childcare")
    return unknown


def json_values(body: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON API's shape ({"childcare": {"children", "ages"}}) in the form's field names."""
    values = dict(body)
    childcare = body.get("childcare")
    if isinstance(childcare, Mapping):
        values["childcare_children"] = childcare.get("children")
        values["childcare_ages"] = childcare.get("ages")
    return values


_YES = {"yes", "on", "true", "1"}
_NO = {"", "no", "off", "false", "0"}


def _consent(value: Any) -> bool | None:
    """A JSON true/false, or a form's checkbox ("yes", "on", ...; missing is no); else None."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _YES | _NO:
        return value.strip().lower() in _YES
    return None


_NOT_TEXT = N_("This must be text.")


def text_field(
    data: Mapping[str, Any], field: str, errors: dict[str, str], allowed_controls: str = ""
) -> str:
    """A text field, stripped; a wrong type or an unstorable character is recorded in errors."""
    value = data.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[field] = _(_NOT_TEXT)
        return ""
    problem = character_problem(value, allowed_controls)
    if problem:
        errors[field] = problem
        return ""
    return value.strip()


_AMOUNT = re.compile(r"\$? *([0-9]{1,7})(?:\.([0-9]{1,2}))?")
_DIGITS_ONLY = N_("Enter the amount with the digits 0-9 only, like 40 or 42.50.")
_NO_SEPARATORS = N_("Enter the amount without commas or spaces, like 1000 or 1000.50.")


class NotAnAmount(ValueError):
    """Not an amount; `hint` says how to write one when the mistake is a common one."""

    def __init__(self, hint: str | None = None) -> None:
        super().__init__(hint or "not an amount")
        self.hint = hint


def parse_amount(value: Any) -> int:
    """'40', '42.5', '$42.50', 40 or 42.5 -> cents; NotAnAmount if it is not an amount.

    Only ASCII digits: "٤٠", "４０" and "²" are digits to str.isdigit() but not to people
    reading a receipt, and "1,000" could mean a thousand or one.
    """
    if isinstance(value, bool):
        raise NotAnAmount()
    if isinstance(value, int):
        if value < 0:
            raise NotAnAmount()
        return value * 100
    if isinstance(value, float):
        if not math.isfinite(value) or value < 0:
            raise NotAnAmount()
        cents = Decimal(repr(value)) * 100  # repr: the shortest decimal that is this float
        if cents != int(cents):
            raise NotAnAmount(_("Amounts have at most two decimals, like 42.50."))
        return int(cents)
    if not isinstance(value, str):
        raise NotAnAmount()
    text = value.strip()
    match = _AMOUNT.fullmatch(text) if text.isascii() else None
    if match:
        return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if any(not c.isascii() and (c.isdigit() or c.isnumeric()) for c in text):
        raise NotAnAmount(_(_DIGITS_ONLY))
    if re.search(r"[0-9][,' _\u00a0\u202f][0-9]", text):
        raise NotAnAmount(_(_NO_SEPARATORS))
    raise NotAnAmount()


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _children(value: Any) -> int | None:
    """0..10 from a JSON integer or a string of ASCII digits; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 2):
            return None
        value = int(text)
    if isinstance(value, int) and 0 <= value <= MAX_CHILDREN:
        return value
    return None


def _too_long(most: int) -> str:
    """ "Please keep this under 2,000 characters.", the number as the reader writes numbers."""
    return ngettext(
        "Please keep this under %(count)s character.",
        "Please keep this under %(count)s characters.",
        most,
    ) % {"count": format_decimal(most, locale=babel_locale())}


METHOD_NAMES = {
    PaymentMethod.stripe.value: N_("by card (on Stripe's secure page)"),
    PaymentMethod.bank_transfer.value: N_("by bank transfer"),
    PaymentMethod.desk.value: N_("at the registration desk"),
}


def check_payment_method(
    data: Mapping[str, Any], methods: tuple[str, ...], errors: dict[str, str]
) -> str:
    """The method chosen among those offered; with one on offer, that one."""
    chosen = text_field(data, "payment_method", errors)
    if "payment_method" in errors:
        return ""
    if not chosen and len(methods) == 1:
        return methods[0]
    if chosen in methods:
        return chosen
    choices = ", ".join(_(METHOD_NAMES[m]) for m in methods)
    if not chosen:
        errors["payment_method"] = _("Please choose how you will pay: %(choices)s.") % {
            "choices": choices
        }
    else:
        errors["payment_method"] = _("This conference takes payment %(choices)s.") % {
            "choices": choices
        }
    return ""


def check_registration(
    data: Mapping[str, Any],
    offers: list[TicketOffer],
    conference: Conference,
    methods: tuple[str, ...] = (PaymentMethod.desk.value,),
    voucher: VoucherTerms | None = None,
) -> tuple[CleanRegistration | None, dict[str, str]]:
    """`methods`: the payment methods the conference offers (orders.offered_methods);
    `voucher`: the code typed, found and still usable (vouchers.voucher_for_form)."""
    errors: dict[str, str] = {}

    name = re.sub(r"\s+", " ", text_field(data, "name", errors))
    if "name" in errors:
        pass
    elif not name:
        errors["name"] = _("Please give a name. A first name or an alias is fine.")
    elif len(name) > MAX_NAME:
        errors["name"] = ngettext(
            "Please keep the name under %(count)d character.",
            "Please keep the name under %(count)d characters.",
            MAX_NAME,
        ) % {"count": MAX_NAME}

    email = text_field(data, "email", errors)
    if "email" in errors:
        pass
    elif not email:
        errors["email"] = _("Please give an e-mail address: your ticket is sent there.")
    elif len(email) > MAX_EMAIL:
        errors["email"] = ngettext(
            "This e-mail address is too long (%(count)d character at most).",
            "This e-mail address is too long (%(count)d characters at most).",
            MAX_EMAIL,
        ) % {"count": MAX_EMAIL}
    else:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            errors["email"] = _(
                "This does not look like an e-mail address (like name@example.org)."
            )

    ticket_code = text_field(data, "ticket_type", errors)
    offer = next((o for o in offers if o.code == ticket_code), None)
    amount_cents = 0
    if "ticket_type" in errors:
        pass
    elif offer is None:
        errors["ticket_type"] = (
            _("Please choose a ticket type.")
            if not ticket_code
            else _("There is no such ticket type; please choose one from the list.")
        )
    elif voucher is not None and not voucher.applies_to(offer.ticket_type):
        errors["voucher"] = _("This voucher code is not for the ticket “%(ticket)s”.") % {
            "ticket": offer.ticket_type.name
        }
    else:
        ticket = offer.ticket_type
        with_voucher = offer.voucher_price_cents if voucher is not None else None
        fixed_by_voucher = (
            with_voucher is not None
            and voucher is not None
            and (voucher.effect in (VoucherEffect.free.value, VoucherEffect.set_price.value))
        )
        least = ticket.min_price_cents if with_voucher is None else with_voucher
        if ticket.kind == TicketKind.fixed.value:
            amount_cents = ticket.price_cents if with_voucher is None else with_voucher
        elif ticket.kind == TicketKind.pay_what_you_can.value and fixed_by_voucher:
            amount_cents = with_voucher or 0
        elif ticket.kind == TicketKind.pay_what_you_can.value:
            minimum = format_money(least, conference.currency)
            try:
                if _is_blank(data.get("amount")):
                    raise NotAnAmount()
                amount_cents = parse_amount(data.get("amount"))
            except NotAnAmount as mistake:
                errors["amount"] = mistake.hint or _(
                    "Enter what you will pay, %(minimum)s or more (like 40 or 42.50)."
                ) % {"minimum": minimum}
            else:
                if amount_cents < least:
                    errors["amount"] = _("The least for this ticket is %(minimum)s.") % {
                        "minimum": minimum
                    }
                elif amount_cents > MAX_AMOUNT_CENTS:
                    errors["amount"] = _("That is more than this form can take; please contact us.")

    topup_cents = 0
    topup = data.get("solidarity_topup")
    if not _is_blank(topup):
        if not conference.solidarity_place_cents:
            errors["solidarity_topup"] = _("This conference has no solidarity fund.")
        else:
            try:
                topup_cents = parse_amount(topup)
            except NotAnAmount as mistake:
                errors["solidarity_topup"] = mistake.hint or _(
                    "Enter an amount like 20 or 22.50, or leave it empty."
                )
            else:
                if topup_cents > MAX_AMOUNT_CENTS:
                    errors["solidarity_topup"] = _(
                        "That is more than this form can take; please contact us."
                    )

    access_needs = text_field(data, "access_needs", errors, allowed_controls="\t\n\r")
    if len(access_needs) > MAX_ACCESS_NEEDS:
        errors["access_needs"] = _too_long(MAX_ACCESS_NEEDS)

    childcare = data.get("childcare")
    if childcare is not None and not isinstance(childcare, Mapping):
        errors["childcare"] = _(
            'This must be an object like {"children": 1, "ages": "4"}, or null.'
        )
    children = 0
    if not _is_blank(data.get("childcare_children")):
        counted = _children(data.get("childcare_children"))
        if counted is None:
            errors["childcare_children"] = _("Enter a number of children from 0 to %(most)d.") % {
                "most": MAX_CHILDREN
            }
        else:
            children = counted
    ages = text_field(data, "childcare_ages", errors)
    if "childcare_ages" in errors:
        pass
    elif children and not ages:
        errors["childcare_ages"] = _("Tell us the children's ages so the creche can plan.")
    elif len(ages) > MAX_CHILDCARE_AGES:
        errors["childcare_ages"] = _too_long(MAX_CHILDCARE_AGES)

    email_consent = _consent(data.get("email_consent"))
    if email_consent is None:
        errors["email_consent"] = _("Tick the box or leave it empty (in JSON: true or false).")

    method = PaymentMethod.desk.value
    if amount_cents + topup_cents and offer is not None and not errors.get("amount"):
        method = check_payment_method(data, methods, errors)

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
            email_consent=bool(email_consent),
            payment_method=method,
            voucher_id=voucher.voucher_id if voucher is not None else None,
            voucher_holds_places=voucher.holds_places if voucher is not None else False,
        ),
        {},
    )
