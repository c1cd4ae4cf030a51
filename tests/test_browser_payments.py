"""Paying for a ticket, end to end in Chromium against a local Stripe: one person registers,
pays by card on the (test) Stripe page and comes back to a paid ticket and its receipt; another
chooses bank transfer and is matched from a statement an organiser uploads; the organiser then
refunds the card payment from the registration's page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import make_url
from sqlmodel import select

from confapp.db import Database
from confapp.models import Payment, PaymentState, Registration, RegistrationStatus
from confapp.programme.conference_file import LoadReport
from confapp.programme.queries import get_conference
from confapp.registration.orders import save_payment_settings
from tests.support import DEMO
from tests.support.accounts import ORGANISER, PASSWORD, make_organiser
from tests.support.databases import copy_of_sqlite
from tests.support.servers import LiveServer, live_settings
from tests.support.stripe_standin import StripeStandIn

pytestmark = pytest.mark.browser


@pytest.fixture
def paying_site(
    sqlite_url: str, sqlite_demo_template: tuple[Path, LoadReport]
) -> Iterator[tuple[LiveServer, StripeStandIn, Database]]:
    """The demo conference on a real server, taking cards (at a local Stripe that sends its
    webhooks to the server) and transfers into a CommBank account."""
    copy_of_sqlite(sqlite_demo_template[0], Path(str(make_url(sqlite_url).database)))
    db = Database(sqlite_url)
    with StripeStandIn() as stripe:
        with db.transaction() as session:
            conference = get_conference(session, DEMO)
            assert conference is not None and conference.id is not None
            save_payment_settings(
                session,
                conference.id,
                methods=["stripe", "bank_transfer"],
                stripe_secret_key=stripe.api_key,
                stripe_webhook_secret=stripe.webhook_secret,
                bank_account_name="Socialism Conference",
                bank_bsb="062-000",
                bank_account_number="12345678",
                statement_preset="au_commbank",
                tax_mode="gst_inclusive",
                receipt_issuer="Socialist Alternative\nABN 12 345 678 901",
            )
        make_organiser(db)
        settings = live_settings(sqlite_url, stripe_api_base=stripe.api_base)
        with LiveServer(settings) as server:
            stripe.send_webhooks_to(f"{server.url}/payments/stripe/webhook")
            yield server, stripe, db
    db.dispose()


def register(page: Page, site: LiveServer, name: str, method: str) -> None:
    page.goto(f"{site.url}/{DEMO}/register")
    page.check("#ticket-waged")
    page.fill("#name", name)
    page.fill("#email", f"{name.split()[0].lower()}@example.org")
    page.check(f"#payment-{method}")
    page.get_by_role("button", name="Register").click()


def test_card_transfer_and_refund_in_the_browser(
    browser: Browser, paying_site: tuple[LiveServer, StripeStandIn, Database]
) -> None:
    site, stripe, db = paying_site
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()

    # Rosa pays by card on Stripe's page and comes back to her paid ticket.
    register(page, site, "Rosa Quill", "stripe")
    page.wait_for_url(re.compile(re.escape(stripe.api_base) + r"/checkout/cs_"))
    expect(page.locator("#amount")).to_contain_text("95")
    page.fill("#card-number", "4242 4242 4242 4242")
    page.click("#pay")
    page.wait_for_url(re.compile(r"/my-ticket/[A-Za-z0-9_-]{43}\?paid=1$"))
    expect(page.get_by_text("Thank you: your payment has arrived.")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("QR code of your ticket"))).to_be_visible()
    page.get_by_role("link", name="No. 1").click()
    expect(page.get_by_text("Includes GST of $8.64")).to_be_visible()

    # Nadia chooses a transfer and is told exactly how to pay.
    other = context.new_page()
    register(other, site, "Nadia Flint", "bank_transfer")
    other.wait_for_url(re.compile(r"/my-ticket/[A-Za-z0-9_-]{43}\?new=1$"))
    reference = other.locator(".payment-reference").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", reference), reference
    expect(other.locator(".ticket-qr")).to_have_count(0)

    # The organiser uploads the bank's statement: Nadia's order is matched and paid.
    office = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    office.goto(f"{site.url}/admin/{DEMO}/payments/statements")
    office.fill("#email", ORGANISER)
    office.fill("#password", PASSWORD)
    office.locator("form button[type=submit]").first.click()
    office.wait_for_url(f"{site.url}/admin/{DEMO}/payments/statements")
    statement = f'07/07/2027,"+95.00","TRANSFER FROM N FLINT REF {reference}","+1095.00"\r\n'
    office.set_input_files(
        "#statement",
        files=[{"name": "CSVData.csv", "mimeType": "text/csv", "buffer": statement.encode()}],
    )
    office.get_by_role("button", name="Upload and match").click()
    expect(office.get_by_text(re.compile(r"1 order paid")).first).to_be_visible()
    other.reload()
    expect(other.locator(".ticket-qr")).to_be_visible()

    # The organiser refunds Rosa's card payment in part, from her registration's page.
    with db.read() as session:
        rosa = session.exec(select(Registration).where(Registration.name == "Rosa Quill")).one()
        nadia = session.exec(select(Registration).where(Registration.name == "Nadia Flint")).one()
    assert nadia.status == RegistrationStatus.active.value
    office.goto(f"{site.url}/admin/{DEMO}/registrations/{rosa.ticket_code}")
    form = office.locator("form.refund-form")
    form.locator("input[name=refund_amount]").fill("45")
    form.locator("input[name=refund_reason]").fill("Could only come on the Saturday")
    form.get_by_role("button", name="Refund").click()
    expect(office.get_by_text("Refund made.")).to_be_visible()
    expect(office.get_by_text(re.compile(r"Refund of \$45"))).to_be_visible()
    with db.read() as session:
        payment = session.exec(
            select(Payment).where(Payment.method == "stripe", Payment.refunded_cents > 0)
        ).one()
    assert payment.state == PaymentState.partially_refunded.value
    at_stripe = stripe.client().v1.refunds.list(
        params={"payment_intent": payment.provider_payment_id or ""}
    )
    assert [r.amount for r in at_stripe.data] == [4500]
    context.close()
