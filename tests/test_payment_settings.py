"""An organiser sets how the conference takes money: bank details that make transfers appear on
the public form, Stripe keys that are kept when the field is left empty and never shown back or
logged, holds Stripe's checkout can live with, and mistakes shown beside their fields with the
rest of the form kept. Nobody else may open the page."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import AuditEntry, PaymentSettings
from confapp.programme.queries import get_conference
from confapp.registration.bank_statements import PRESET_NAMES, import_statement
from confapp.registration.orders import display_reference, payment_settings
from confapp.registration.payment_setup import (
    check_payment_settings,
    describe_change,
    payment_settings_values,
)
from tests.support import DEMO
from tests.support.accounts import (
    ORGANISER,
    STEWARD,
    csrf_token,
    make_user,
    sign_in,
    sign_in_organiser,
)
from tests.support.pages import field_error, input_value
from tests.support.registrations import register_person

PAGE = f"/admin/{DEMO}/settings/payments"
SECRET_KEY = "sk_test_51HqLyjWDarjtT1zdp7dcXYZabcdefgh4242"
WEBHOOK_SECRET = "whsec_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
# What the page holds for the demo conference when nothing was ever saved, as it sends it.
UNTOUCHED = {
    "method_desk": "yes",
    "payment_hold_minutes": "30",
    "bank_transfer_hold_days": "7",
    "statement_preset": "",
    "tax_mode": "none",
    "tax_rate_percent": "10",
    "receipt_issuer": "",
    "refund_policy": "never",
    "refund_until": "",
}
BANK = {
    "method_bank_transfer": "yes",
    "bank_account_name": "Socialist Alternative Conference Account",
    "bank_bsb": "062000",
    "bank_account_number": "1234 5678",
    "statement_preset": "au_commbank",
}
STRIPE = {
    "method_stripe": "yes",
    "stripe_secret_key": SECRET_KEY,
    "stripe_webhook_secret": WEBHOOK_SECRET,
}


# ---- helpers --------------------------------------------------------------------------------


@pytest.fixture
def organiser(client: TestClient, db: Database) -> str:
    """The client signed in as an organiser of the demo conference; the session's CSRF token."""
    return sign_in_organiser(client, db)


def save(client: TestClient, token: str, **fields: str) -> Any:
    """Send the page's form as it stands untouched, with `fields` changed."""
    return client.post(
        PAGE, data={"csrf_token": token, **UNTOUCHED, **fields}, follow_redirects=False
    )


def stored(db: Database) -> PaymentSettings:
    with db.read() as session:
        conference = get_conference(session, DEMO)
        assert conference is not None and conference.id is not None
        return payment_settings(session, conference.id)


def offered_methods(client: TestClient) -> list[str]:
    answer = client.get(f"/api/{DEMO}/ticket-types")
    assert answer.status_code == 200
    return list(answer.json()["payment_methods"])


def audit_details(db: Database) -> list[str]:
    with db.read() as session:
        entries = session.exec(
            select(AuditEntry)
            .where(AuditEntry.action == "payment_settings_changed")
            .order_by(col(AuditEntry.id))
        )
        return [entry.detail for entry in entries]


# ---- stories through the page ---------------------------------------------------------------


def test_saved_bank_details_offer_a_transfer_on_the_public_form(
    client: TestClient, db: Database, organiser: str
) -> None:
    assert offered_methods(client) == ["desk"]

    saved = save(client, organiser, **BANK)

    assert saved.status_code == 303
    page = client.get(saved.headers["location"])
    assert "Payment settings saved" in page.text
    assert input_value(page.text, "bank_bsb") == "062-000"
    assert offered_methods(client) == ["bank_transfer", "desk"]
    assert stored(db).statement_preset == "au_commbank"
    assert audit_details(db) == [
        "methods desk→bank_transfer,desk, bank_account_name changed, bank_bsb changed, "
        "bank_account_number changed, statement_preset none→au_commbank"
    ]
    again = save(client, organiser, **BANK)
    assert "Nothing to save" in client.get(again.headers["location"]).text
    assert len(audit_details(db)) == 1


def test_a_bad_iban_is_shown_beside_it_and_everything_else_typed_is_kept(
    client: TestClient, db: Database, organiser: str
) -> None:
    typed = BANK | {"bank_bsb": "", "bank_iban": "DE89 3704 0044 0532 0130 01"}

    refused = save(client, organiser, **typed, payment_hold_minutes="45")

    assert refused.status_code == 422
    assert "check digits do not match" in (field_error(refused.text, "bank_iban") or "")
    assert input_value(refused.text, "bank_iban") == "DE89 3704 0044 0532 0130 01"
    assert input_value(refused.text, "bank_account_name") == BANK["bank_account_name"]
    assert input_value(refused.text, "payment_hold_minutes") == "45"
    assert 'id="method_bank_transfer" name="method_bank_transfer" value="yes" checked' in (
        refused.text
    )
    assert stored(db).bank_iban == ""

    fixed = save(client, organiser, **typed | {"bank_iban": "de89 3704 0044 0532 0130 00"})
    assert fixed.status_code == 303
    assert stored(db).bank_iban == "DE89370400440532013000"
    assert offered_methods(client) == ["bank_transfer", "desk"]


def test_stripe_secrets_never_appear_in_the_page_or_the_audit_log(
    client: TestClient, db: Database, organiser: str
) -> None:
    saved = save(client, organiser, **STRIPE)
    assert saved.status_code == 303
    assert offered_methods(client) == ["stripe", "desk"]

    page = client.get(PAGE).text
    assert SECRET_KEY not in page and WEBHOOK_SECRET not in page
    assert "sk_test_…4242" in page
    assert "http://testserver/payments/stripe/webhook" in page
    assert "checkout.session.async_payment_failed" in page
    # A refused form does not send a key typed into it back either.
    other_key = "sk_live_51HqLyjWDarjtT1zdp7dcNEWNEWNEWNEW9999"
    refused = save(
        client, organiser, **STRIPE | {"stripe_secret_key": other_key, "refund_policy": "x"}
    )
    assert refused.status_code == 422
    assert other_key not in refused.text and WEBHOOK_SECRET not in refused.text
    assert "sk_test_…4242" in refused.text

    assert audit_details(db) == [
        "methods desk→stripe,desk, stripe_secret_key changed, stripe_webhook_secret changed"
    ]
    with db.read() as session:
        log = " ".join(f"{e.action} {e.detail}" for e in session.exec(select(AuditEntry)))
    assert SECRET_KEY not in log and WEBHOOK_SECRET not in log and "4242" not in log


def test_an_empty_secret_field_keeps_the_key_and_forgetting_it_switches_cards_off(
    client: TestClient, db: Database, organiser: str
) -> None:
    assert save(client, organiser, **STRIPE).status_code == 303

    kept = save(client, organiser, method_stripe="yes", payment_hold_minutes="40")

    assert kept.status_code == 303
    assert (stored(db).stripe_secret_key, stored(db).stripe_webhook_secret) == (
        SECRET_KEY,
        WEBHOOK_SECRET,
    )
    assert stored(db).payment_hold_minutes == 40
    assert audit_details(db)[-1] == "payment_hold_minutes 30→40"
    assert offered_methods(client) == ["stripe", "desk"]

    refused = save(client, organiser, method_stripe="yes", stripe_forget="yes")
    assert refused.status_code == 422
    assert "need a Stripe secret key" in (field_error(refused.text, "method_stripe") or "")
    assert stored(db).stripe_secret_key == SECRET_KEY

    forgotten = save(client, organiser, stripe_forget="yes", stripe_webhook_forget="yes")
    assert forgotten.status_code == 303
    assert (stored(db).stripe_secret_key, stored(db).stripe_webhook_secret) == ("", "")
    assert offered_methods(client) == ["desk"]
    assert "sk_test_…" not in client.get(PAGE).text


def test_a_hold_shorter_than_stripes_checkout_is_refused(
    client: TestClient, db: Database, organiser: str
) -> None:
    refused = save(client, organiser, payment_hold_minutes="10")

    assert refused.status_code == 422
    message = field_error(refused.text, "payment_hold_minutes") or ""
    assert "from 30 to 1,440" in message and "Stripe" in message
    assert input_value(refused.text, "payment_hold_minutes") == "10"
    assert stored(db).payment_hold_minutes == 30
    assert audit_details(db) == []


def test_a_field_the_form_reader_refuses_is_shown_beside_it_with_the_rest_kept(
    client: TestClient, db: Database, organiser: str
) -> None:
    refused = save(client, organiser, **BANK | {"bank_account_name": "Conference\x00Account"})

    assert refused.status_code == 422
    assert "control character" in (field_error(refused.text, "bank_account_name") or "")
    assert input_value(refused.text, "bank_account_number") == "1234 5678"
    assert stored(db).bank_account_name == ""


def test_only_organisers_open_or_change_the_payment_settings(
    client: TestClient, db: Database, organiser: str
) -> None:
    client.post("/admin/logout", data={"csrf_token": organiser})
    assert client.get(PAGE, follow_redirects=False).status_code == 303  # to the sign-in page
    make_user(db, STEWARD, "steward", DEMO)
    sign_in(client, STEWARD)

    assert client.get(PAGE).status_code == 403
    token = csrf_token(client)
    refused = save(client, token, **BANK)
    assert refused.status_code == 403
    assert offered_methods(client) == ["desk"]
    assert audit_details(db) == []


# ---- the form's checks, without HTTP ---------------------------------------------------------


def checked(**fields: str) -> tuple[dict[str, object] | None, dict[str, str]]:
    return check_payment_settings(UNTOUCHED | fields, PaymentSettings(conference_id=1))


def test_a_bsb_an_iban_and_a_bic_are_stored_as_banks_print_them() -> None:
    values, errors = checked(
        **BANK
        | {
            "bank_bsb": "062-000",
            "bank_iban": "gb82 west 1234 5698 7654 32",
            "bank_bic": "deut de ff 500",
        }
    )
    assert errors == {}
    assert values is not None
    assert (values["bank_bsb"], values["bank_iban"], values["bank_bic"]) == (
        "062-000",
        "GB82WEST12345698765432",
        "DEUTDEFF500",
    )
    for field, typed in (("bank_bsb", "62-000"), ("bank_bic", "DEUTDEF"), ("bank_iban", "GB82")):
        assert field in checked(**BANK | {field: typed})[1]


def test_a_transfer_needs_an_account_to_pay_into() -> None:
    _values, errors = checked(method_bank_transfer="yes", bank_bsb="062-000")
    assert set(errors) == {"method_bank_transfer"}
    assert checked(method_bank_transfer="yes", bank_account_name="X", bank_iban="")[1]
    assert not checked(
        method_bank_transfer="yes", bank_account_name="X", bank_iban="GB82WEST12345698765432"
    )[1]


def test_tax_refunds_and_methods_are_read_from_the_form() -> None:
    values, errors = checked(
        tax_mode="gst_inclusive",
        tax_rate_percent="12.5",
        refund_policy="until",
        refund_until="2027-06-30",
        receipt_issuer="Socialist Alternative\r\nABN 12 345 678 901\r\n",
    )
    assert errors == {}
    assert values is not None
    assert values["tax_rate_basis_points"] == 1250
    assert values["refund_until"] == date(2027, 6, 30)
    assert values["receipt_issuer"] == "Socialist Alternative\nABN 12 345 678 901"
    assert checked(tax_mode="gst_inclusive", tax_rate_percent="51")[1].keys() == {
        "tax_rate_percent"
    }
    assert checked(refund_policy="until")[1].keys() == {"refund_until"}
    assert checked(refund_policy="until", refund_until="2027-02-30")[1].keys() == {"refund_until"}
    assert checked(method_desk="")[1].keys() == {"methods"}
    assert checked(statement_preset="some_bank")[1].keys() == {"statement_preset"}
    assert checked(receipt_issuer="x" * 1001)[1].keys() == {"receipt_issuer"}


def test_a_mistyped_key_is_refused_without_being_repeated() -> None:
    _values, errors = checked(stripe_secret_key="pk_test_51Hq4242", method_stripe="yes")
    assert set(errors) == {"stripe_secret_key"}
    assert "pk_test" not in errors["stripe_secret_key"]
    assert set(checked(stripe_webhook_secret="wh_123")[1]) == {"stripe_webhook_secret"}
    both = checked(stripe_secret_key=SECRET_KEY, stripe_forget="yes")[1]
    assert set(both) == {"stripe_secret_key"}


def test_the_form_shows_a_hint_of_the_key_and_the_log_names_what_changed() -> None:
    before = PaymentSettings(conference_id=1)
    after = PaymentSettings(
        conference_id=1,
        methods=["stripe", "desk"],
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        tax_rate_basis_points=725,
        refund_policy="until",
        refund_until=date(2027, 6, 30),
    )
    shown = payment_settings_values(after)
    assert SECRET_KEY not in shown.values() and WEBHOOK_SECRET not in shown.values()
    assert shown["stripe_secret_key_hint"] == "sk_test_…4242"
    assert shown["stripe_webhook_secret_set"] == "yes"
    assert shown["tax_rate_percent"] == "7.25"
    assert describe_change(before, after) == (
        "methods desk→stripe,desk, stripe_secret_key changed, stripe_webhook_secret changed, "
        "tax_rate_basis_points 1000→725, refund_policy never→until, refund_until none→2027-06-30"
    )
    assert describe_change(after, after) == ""


def test_the_statement_presets_are_the_ones_the_statement_reader_knows() -> None:
    assert list(PRESET_NAMES) == [
        "au_commbank",
        "au_westpac",
        "au_nab",
        "au_anz",
        "sepa_camt_csv",
    ]


def test_a_bank_with_no_preset_is_read_by_the_columns_an_organiser_names(
    client: TestClient, db: Database, organiser: str
) -> None:
    """A credit union's export: a header, semicolons, money in and out apart, dates 2027-12-31.
    The organiser names its columns on the page; the next upload reads it by them."""
    own = {
        "statement_date": "Posted",
        "statement_credit": "Money in",
        "statement_debit": "Money out",
        "statement_description": "Details",
        "statement_date_format": "%Y-%m-%d",
        "statement_delimiter": ";",
    }
    half = save(client, organiser, **BANK, **own | {"statement_description": ""})
    assert half.status_code == 422
    assert "description" in (field_error(half.text, "statement_description") or "")
    assert input_value(half.text, "statement_credit") == "Money in"  # what was typed stays
    assert 'id="statement-columns" open' in half.text
    assert stored(db).statement_columns == {}

    saved = save(client, organiser, **BANK, **own)
    assert saved.status_code == 303
    assert stored(db).statement_columns == {
        "date": "Posted",
        "credit": "Money in",
        "debit": "Money out",
        "description": "Details",
        "date_format": "%Y-%m-%d",
        "delimiter": ";",
    }
    assert "statement_columns none→date=Posted" in audit_details(db)[-1]
    page = client.get(PAGE)
    assert input_value(page.text, "statement_date") == "Posted"

    registered = register_person(
        db,
        name="Rosa",
        email="rosa@example.org",
        ticket_type="waged",
        payment_method="bank_transfer",
    )
    assert registered.order is not None
    reference = display_reference(registered.order.reference)
    statement = (
        "Posted;Details;Money out;Money in\r\n"
        f"2027-06-01;TRANSFER FROM R LUXEMBURG {reference};;95.00\r\n"
        "2027-06-02;RENT;1200.00;\r\n"
    ).encode()
    conference_id = stored(db).conference_id
    report = import_statement(db, conference_id, "export.csv", statement, ORGANISER)
    assert report.problems == []
    assert (report.credits, report.debits_skipped, report.orders_paid) == (1, 1, 1)

    cleared = save(client, organiser, **BANK)  # emptied, the preset applies again
    assert cleared.status_code == 303
    assert stored(db).statement_columns == {}


def test_a_columns_mapping_is_checked_as_an_upload_would_read_it() -> None:
    named = {"statement_date": "Date", "statement_amount": "Amount"}
    assert checked(**named, statement_description="Narrative")[1] == {}
    assert checked(**named)[1].keys() == {"statement_description"}
    assert checked(**named, statement_description="3")[1].keys() == {"statement_date"}
    assert checked(**named, statement_description="N", statement_decimal="x")[1].keys() == {
        "statement_decimal"
    }
    assert checked(**named, statement_description="N", statement_date_format="%d")[1].keys() == {
        "statement_date_format"
    }
    assert checked(**named, statement_description="x" * 101)[1].keys() == {"statement_description"}
