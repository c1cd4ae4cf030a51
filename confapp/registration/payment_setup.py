"""The organisers' payment settings form, checked: which methods are on, the Stripe keys (kept
unless replaced or forgotten, never shown back), how long places are held, the bank account
transfers go to, the statement format, tax on receipts and the refund policy. Plain functions
from form text to the values confapp.registration.orders.save_payment_settings stores."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date

from babel.numbers import format_decimal

from confapp.db import column_length
from confapp.models import PaymentMethod, PaymentSettings, RefundPolicy, TaxMode
from confapp.registration.bank_statements import (
    COLUMN_KEYS,
    DIALECT_KEYS,
    PRESET_NAMES,
    PRESETS,
    layout_from_columns,
)
from confapp.request_body import character_problem
from confapp.translation import _, babel_locale, ngettext

METHOD_FIELDS = {
    PaymentMethod.stripe.value: "method_stripe",
    PaymentMethod.bank_transfer.value: "method_bank_transfer",
    PaymentMethod.desk.value: "method_desk",
}
SECRET_FIELDS = ("stripe_secret_key", "stripe_webhook_secret")
ACCOUNT_FIELDS = ("bank_account_name", "bank_bsb", "bank_account_number", "bank_iban", "bank_bic")
# A bank with no preset: the conference's own statement columns, one form field each
# (`statement_date` for the mapping's "date"), stored together in `statement_columns`.
STATEMENT_COLUMN_FIELDS = {key: f"statement_{key}" for key in (*COLUMN_KEYS, *DIALECT_KEYS)}
MAX_STATEMENT_COLUMN_CHARS = 100
# Every field the form may send.
PAYMENT_SETTINGS_FIELDS = (
    *METHOD_FIELDS.values(),
    *SECRET_FIELDS,
    "stripe_forget",
    "stripe_webhook_forget",
    "payment_hold_minutes",
    "bank_transfer_hold_days",
    "bank_account_name",
    "bank_bsb",
    "bank_account_number",
    "bank_iban",
    "bank_bic",
    "statement_preset",
    *STATEMENT_COLUMN_FIELDS.values(),
    "tax_mode",
    "tax_rate_percent",
    "receipt_issuer",
    "refund_policy",
    "refund_until",
)

SECRET_KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_", "rk_")
WEBHOOK_SECRET_PREFIX = "whsec_"
# Stripe's hosted checkout page lives at least 30 minutes: a shorter hold could give the place
# away while the person is still paying.
HOLD_MINUTES = (30, 24 * 60)
TRANSFER_HOLD_DAYS = (1, 60)
MAX_TAX_BASIS_POINTS = 5000  # 50%
MAX_RECEIPT_ISSUER_CHARS = 1000
MAX_SECRET_CHARS = column_length(PaymentSettings, "stripe_secret_key")
MAX_ACCOUNT_NAME_CHARS = column_length(PaymentSettings, "bank_account_name")
MAX_ACCOUNT_NUMBER_CHARS = column_length(PaymentSettings, "bank_account_number")

_YES = {"yes", "on", "true", "1"}
_SECRET = re.compile(r"[A-Za-z0-9_]+")
_BSB = re.compile(r"(\d{3})[- ]?(\d{3})")
_ACCOUNT_NUMBER = re.compile(r"\d[\d ]*")
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
_BIC = re.compile(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?")
_PERCENT = re.compile(r"(\d{1,2})(?:[.,](\d{1,2}))?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# Shown in the audit log by name only: secrets, and the bank's and issuer's details, which can
# name a person (an account in a treasurer's name) and are nobody's business in a log.
_NAMED_ONLY = (
    "stripe_secret_key",
    "stripe_webhook_secret",
    "bank_account_name",
    "bank_bsb",
    "bank_account_number",
    "bank_iban",
    "bank_bic",
    "receipt_issuer",
)
_DESCRIBED = (
    "methods",
    "stripe_secret_key",
    "stripe_webhook_secret",
    "payment_hold_minutes",
    "bank_transfer_hold_days",
    "bank_account_name",
    "bank_bsb",
    "bank_account_number",
    "bank_iban",
    "bank_bic",
    "statement_preset",
    "statement_columns",
    "tax_mode",
    "tax_rate_basis_points",
    "receipt_issuer",
    "refund_policy",
    "refund_until",
)


def _number(value: int) -> str:
    """A number as the reader's language writes it ("1,440" in English)."""
    return format_decimal(value, locale=babel_locale())


def _ticked(form: Mapping[str, str], name: str) -> bool:
    return form.get(name, "").strip().lower() in _YES


def _one_line(form: Mapping[str, str], name: str) -> str:
    return " ".join(form.get(name, "").split())


# ---- what the form shows ------------------------------------------------------------------


def secret_key_hint(key: str) -> str:
    """Enough of a saved key to tell which one it is, as Stripe's dashboard shows it:
    "sk_test_…4242". Empty when there is no key."""
    if not key:
        return ""
    prefix = next((p for p in SECRET_KEY_PREFIXES if key.startswith(p)), "")
    rest = key[len(prefix) :]
    # A key too short to spare four characters shows only its kind.
    return f"{prefix}…{rest[-4:]}" if len(rest) >= 12 else f"{prefix}…"


def basis_points_text(basis_points: int) -> str:
    """1000 as "10", 1250 as "12.5", 725 as "7.25": a rate as typed in the form."""
    whole, hundredths = divmod(basis_points, 100)
    return f"{whole}" if not hundredths else f"{whole}.{hundredths:02d}".rstrip("0")


def payment_settings_values(settings: PaymentSettings) -> dict[str, str]:
    """The form filled in from the stored settings. The secrets are never in it: instead a
    hint of the saved key ("sk_test_…4242") and whether a webhook secret is saved."""
    return {
        **{field: "yes" if m in settings.methods else "" for m, field in METHOD_FIELDS.items()},
        "stripe_secret_key": "",
        "stripe_webhook_secret": "",
        "stripe_forget": "",
        "stripe_webhook_forget": "",
        "stripe_secret_key_hint": secret_key_hint(settings.stripe_secret_key),
        "stripe_webhook_secret_set": "yes" if settings.stripe_webhook_secret else "",
        "payment_hold_minutes": str(settings.payment_hold_minutes),
        "bank_transfer_hold_days": str(settings.bank_transfer_hold_days),
        "bank_account_name": settings.bank_account_name,
        "bank_bsb": settings.bank_bsb,
        "bank_account_number": settings.bank_account_number,
        "bank_iban": settings.bank_iban,
        "bank_bic": settings.bank_bic,
        "statement_preset": settings.statement_preset,
        **{
            field: str(settings.statement_columns.get(key, ""))
            for key, field in STATEMENT_COLUMN_FIELDS.items()
        },
        "tax_mode": settings.tax_mode,
        "tax_rate_percent": basis_points_text(settings.tax_rate_basis_points),
        "receipt_issuer": settings.receipt_issuer,
        "refund_policy": settings.refund_policy,
        "refund_until": settings.refund_until.isoformat() if settings.refund_until else "",
    }


def typed_payment_settings(form: Mapping[str, str], current: PaymentSettings) -> dict[str, str]:
    """What was typed, to show the form again: everything but the secrets, which are never
    sent back into a page (the saved key's hint is shown instead, from `current`)."""
    saved = payment_settings_values(current)
    typed = {name: form.get(name, "") for name in PAYMENT_SETTINGS_FIELDS}
    return (
        typed
        | {name: "" for name in SECRET_FIELDS}
        | {
            "stripe_secret_key_hint": saved["stripe_secret_key_hint"],
            "stripe_webhook_secret_set": saved["stripe_webhook_secret_set"],
        }
    )


# ---- reading the form ---------------------------------------------------------------------


def _methods(form: Mapping[str, str], errors: dict[str, str]) -> list[str]:
    methods = [method for method, field in METHOD_FIELDS.items() if _ticked(form, field)]
    if not methods:
        errors["methods"] = _("Choose at least one way to take payment.")
    return methods


def _secret(
    form: Mapping[str, str],
    field: str,
    forget: str,
    current: str,
    errors: dict[str, str],
    *,
    valid: Callable[[str], bool],
    wrong: str,
) -> str:
    """The secret to keep: a new one typed, the current one (field left empty), or none
    ("forget" ticked). `wrong` words what a good one looks like, never what was typed."""
    typed = form.get(field, "").strip()
    if typed and _ticked(form, forget):
        errors[field] = _("Type a new one or tick “Forget the saved one”, not both.")
        return current
    if _ticked(form, forget):
        return ""
    if not typed:
        return current
    if len(typed) > MAX_SECRET_CHARS or not _SECRET.fullmatch(typed) or not valid(typed):
        errors[field] = wrong
        return current
    return typed


def _whole_number(
    form: Mapping[str, str], field: str, bounds: tuple[int, int], errors: dict[str, str], wrong: str
) -> int:
    typed = form.get(field, "").strip()
    least, most = bounds
    if typed.isascii() and typed.isdigit() and len(typed) <= 6 and least <= int(typed) <= most:
        return int(typed)
    errors[field] = wrong
    return least


def _account_name(form: Mapping[str, str], errors: dict[str, str]) -> str:
    name = _one_line(form, "bank_account_name")
    if problem := character_problem(form.get("bank_account_name", ""), allowed_controls=""):
        errors["bank_account_name"] = problem
    elif len(name) > MAX_ACCOUNT_NAME_CHARS:
        errors["bank_account_name"] = ngettext(
            "Keep the account name under %(count)s character.",
            "Keep the account name under %(count)s characters.",
            MAX_ACCOUNT_NAME_CHARS,
        ) % {"count": _number(MAX_ACCOUNT_NAME_CHARS)}
    return name


def _bsb(form: Mapping[str, str], errors: dict[str, str]) -> str:
    """An Australian BSB as banks print it, "062-000", from "062000" or "062-000"."""
    typed = form.get("bank_bsb", "").strip()
    if not typed:
        return ""
    found = _BSB.fullmatch(typed)
    if found is None:
        errors["bank_bsb"] = _("A BSB is 6 digits, like 062-000.")
        return ""
    return f"{found.group(1)}-{found.group(2)}"


def _account_number(form: Mapping[str, str], errors: dict[str, str]) -> str:
    number = " ".join(form.get("bank_account_number", "").split())
    if number and (len(number) > MAX_ACCOUNT_NUMBER_CHARS or not _ACCOUNT_NUMBER.fullmatch(number)):
        errors["bank_account_number"] = _(
            "Enter the account number in digits (spaces are fine), up to %(count)s characters."
        ) % {"count": _number(MAX_ACCOUNT_NUMBER_CHARS)}
    return number


def iban_checks_out(iban: str) -> bool:
    """ISO 13616's check: the country code and check digits moved to the end, letters as
    numbers (A=10 ... Z=35), the whole taken modulo 97 leaves 1."""
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _iban(form: Mapping[str, str], errors: dict[str, str]) -> str:
    """An IBAN as stored: upper-case, without spaces."""
    iban = "".join(form.get("bank_iban", "").split()).upper()
    if not iban:
        return ""
    if not (iban.isascii() and _IBAN.fullmatch(iban)):
        errors["bank_iban"] = _(
            "An IBAN starts with a country code and two check digits, then up to 30 letters "
            "and digits, like DE89 3704 0044 0532 0130 00."
        )
    elif not iban_checks_out(iban):
        errors["bank_iban"] = _(
            "This IBAN's check digits do not match: a character is probably mistyped. "
            "Copy it again from the bank's statement."
        )
    return iban


def _bic(form: Mapping[str, str], errors: dict[str, str]) -> str:
    bic = "".join(form.get("bank_bic", "").split()).upper()
    if bic and not (bic.isascii() and _BIC.fullmatch(bic)):
        errors["bank_bic"] = _(
            "A BIC (SWIFT code) has 8 or 11 letters and digits, like DEUTDEFF or DEUTDEFF500."
        )
    return bic


def _tax_rate(form: Mapping[str, str], tax_mode: str, current: int, errors: dict[str, str]) -> int:
    """A rate typed in per cent ("10", "12.5") as basis points (1000, 1250). Left empty
    without tax, the saved rate is kept."""
    typed = form.get("tax_rate_percent", "").strip()
    if not typed and tax_mode == TaxMode.none.value:
        return current
    found = _PERCENT.fullmatch(typed) if typed.isascii() else None
    if found is not None:
        basis_points = int(found.group(1)) * 100 + int((found.group(2) or "0").ljust(2, "0"))
        if basis_points <= MAX_TAX_BASIS_POINTS:
            return basis_points
    errors["tax_rate_percent"] = _(
        "Enter a rate from 0 to 50 per cent, like 10 or 12.5 (without the per cent sign)."
    )
    return current


def _receipt_issuer(form: Mapping[str, str], errors: dict[str, str]) -> str:
    typed = form.get("receipt_issuer", "").replace("\r\n", "\n")
    text = "\n".join(line.strip() for line in typed.strip().split("\n"))
    if problem := character_problem(typed, allowed_controls="\n"):
        errors["receipt_issuer"] = problem
    elif len(text) > MAX_RECEIPT_ISSUER_CHARS:
        errors["receipt_issuer"] = ngettext(
            "Keep this under %(count)s character.",
            "Keep this under %(count)s characters.",
            MAX_RECEIPT_ISSUER_CHARS,
        ) % {"count": _number(MAX_RECEIPT_ISSUER_CHARS)}
    return text


def _refund_until(form: Mapping[str, str], errors: dict[str, str]) -> date | None:
    typed = form.get("refund_until", "").strip()
    if not typed:
        errors["refund_until"] = _(
            "Give the last day on which a cancellation is refunded, like 2027-06-30."
        )
        return None
    try:
        if not _ISO_DATE.fullmatch(typed):
            raise ValueError(typed)
        return date.fromisoformat(typed)
    except ValueError:
        errors["refund_until"] = _("Enter a date as year-month-day, like 2027-06-30.")
        return None


def check_payment_settings(
    form: Mapping[str, str], current: PaymentSettings
) -> tuple[dict[str, object] | None, dict[str, str]]:
    """The form as values for save_payment_settings, or a message per field. An empty secret
    field keeps the saved secret; its "forget" box removes it."""
    errors: dict[str, str] = {}
    methods = _methods(form, errors)
    secret_key = _secret(
        form,
        "stripe_secret_key",
        "stripe_forget",
        current.stripe_secret_key,
        errors,
        valid=lambda key: key.startswith(SECRET_KEY_PREFIXES),
        wrong=_(
            "A Stripe secret key starts with sk_live_, sk_test_ or rk_ (a restricted key). "
            "Copy it again from Stripe's dashboard (Developers, API keys) and type it again."
        ),
    )
    webhook_secret = _secret(
        form,
        "stripe_webhook_secret",
        "stripe_webhook_forget",
        current.stripe_webhook_secret,
        errors,
        valid=lambda secret: secret.startswith(WEBHOOK_SECRET_PREFIX),
        wrong=_(
            "A webhook signing secret starts with whsec_. Copy it again from the webhook's "
            "page in Stripe's dashboard and type it again."
        ),
    )
    keys_refused = any(name in errors for name in SECRET_FIELDS)
    if PaymentMethod.stripe.value in methods and not (
        secret_key and webhook_secret or keys_refused
    ):
        errors["method_stripe"] = _(
            "Card payments need a Stripe secret key and a webhook signing secret: enter both, "
            "or switch card payments off."
        )
    hold_minutes = _whole_number(
        form,
        "payment_hold_minutes",
        HOLD_MINUTES,
        errors,
        _(
            "Enter a whole number of minutes from %(least)s to %(most)s (a day). Stripe's "
            "checkout page stays open for at least 30 minutes, so a shorter hold could give "
            "the place away while someone is still paying."
        )
        % {"least": _number(HOLD_MINUTES[0]), "most": _number(HOLD_MINUTES[1])},
    )
    hold_days = _whole_number(
        form,
        "bank_transfer_hold_days",
        TRANSFER_HOLD_DAYS,
        errors,
        _("Enter a whole number of days from %(least)s to %(most)s.")
        % {"least": _number(TRANSFER_HOLD_DAYS[0]), "most": _number(TRANSFER_HOLD_DAYS[1])},
    )

    account_name = _account_name(form, errors)
    bsb = _bsb(form, errors)
    account_number = _account_number(form, errors)
    iban = _iban(form, errors)
    bic = _bic(form, errors)
    has_account = bool(account_name and ((bsb and account_number) or iban))
    bank_refused = any(name in errors for name in ACCOUNT_FIELDS)
    if PaymentMethod.bank_transfer.value in methods and not (has_account or bank_refused):
        errors["method_bank_transfer"] = _(
            "Bank transfers need the account name, and either the BSB and account number or "
            "an IBAN."
        )

    preset = form.get("statement_preset", "").strip()
    if preset and preset not in PRESET_NAMES:
        errors["statement_preset"] = _("Choose one of the statement formats listed.")
    columns = _statement_columns(form, preset, errors)

    tax_mode = form.get("tax_mode", "").strip()
    if tax_mode not in {mode.value for mode in TaxMode}:
        errors["tax_mode"] = _("Choose whether prices include GST.")
    tax_rate = _tax_rate(form, tax_mode, current.tax_rate_basis_points, errors)
    issuer = _receipt_issuer(form, errors)

    refund_policy = form.get("refund_policy", "").strip()
    refund_until = None
    if refund_policy not in {policy.value for policy in RefundPolicy}:
        errors["refund_policy"] = _("Choose whether those who cancel get their money back.")
    elif refund_policy == RefundPolicy.until.value:
        refund_until = _refund_until(form, errors)

    if errors:
        return None, errors
    return {
        "methods": methods,
        "stripe_secret_key": secret_key,
        "stripe_webhook_secret": webhook_secret,
        "payment_hold_minutes": hold_minutes,
        "bank_transfer_hold_days": hold_days,
        "bank_account_name": account_name,
        "bank_bsb": bsb,
        "bank_account_number": account_number,
        "bank_iban": iban,
        "bank_bic": bic,
        "statement_preset": preset,
        "statement_columns": columns,
        "tax_mode": tax_mode,
        "tax_rate_basis_points": tax_rate,
        "receipt_issuer": issuer,
        "refund_policy": refund_policy,
        "refund_until": refund_until,
    }, {}


def _statement_columns(
    form: Mapping[str, str], preset: str, errors: dict[str, str]
) -> dict[str, str]:
    """The conference's own statement columns, checked as an upload would read them (over the
    chosen preset's separator, decimal mark and date format); {} when none are given."""
    typed = {key: form.get(field, "").strip() for key, field in STATEMENT_COLUMN_FIELDS.items()}
    for key, value in typed.items():
        field = STATEMENT_COLUMN_FIELDS[key]
        if len(value) > MAX_STATEMENT_COLUMN_CHARS:
            errors[field] = ngettext(
                "Please keep this under %(count)d character.",
                "Please keep this under %(count)d characters.",
                MAX_STATEMENT_COLUMN_CHARS,
            ) % {"count": MAX_STATEMENT_COLUMN_CHARS}
        elif problem := character_problem(value, allowed_controls=""):
            errors[field] = problem
    columns = {key: value for key, value in typed.items() if value}
    if not columns or any(field in errors for field in STATEMENT_COLUMN_FIELDS.values()):
        return columns
    _layout, problems = layout_from_columns(columns, PRESETS.get(preset))
    for key, message in problems.items():
        errors[STATEMENT_COLUMN_FIELDS[key]] = message
    return columns


# ---- the audit log ------------------------------------------------------------------------


def _shown(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "none"
    if value is None or value == "":
        return "none"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "none"
    return str(value)


def describe_change(before: PaymentSettings, after: PaymentSettings) -> str:
    """What changed, for the audit log: "methods desk→bank_transfer,desk, bank_iban changed,
    stripe_secret_key changed". Secrets and bank details are named, never shown. Empty when
    nothing changed."""
    changes = []
    for name in _DESCRIBED:
        old, new = getattr(before, name), getattr(after, name)
        if old == new:
            continue
        if name in _NAMED_ONLY:
            changes.append(f"{name} changed")
        else:
            changes.append(f"{name} {_shown(old)}→{_shown(new)}")
    return ", ".join(changes)
