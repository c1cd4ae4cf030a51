"""Receipts: someone who paid opens their receipt from their ticket's page, prints it or saves
its PDF, with the GST in it shown when the conference shows tax, in the conference's language,
their name as they wrote it; no one else's link opens it; and receipts are numbered 1, 2, 3
without a gap, even when a payment's transaction fails after its number was taken."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from pypdf import PdfReader
from sqlmodel import Session, select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import (
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentMethod,
    PaymentState,
    PaymentStatus,
    Receipt,
    Registration,
    TaxMode,
)
from confapp.programme.conference_file import LoadReport
from confapp.programme.queries import get_conference
from confapp.registration.manage import new_manage_secret
from confapp.registration.orders import new_reference, save_payment_settings
from confapp.registration.payments import refund_payment
from confapp.registration.receipts import issue_receipt, receipt_attachment
from confapp.registration.service import RegisteredTicket
from confapp.times import utcnow
from confapp.translation import in_language
from tests.support import DEMO
from tests.support.languages import offer_languages
from tests.support.registrations import address_of, register_person

WAGED_CENTS = 9500  # the demo's waged ticket: $95


@pytest.fixture
def receipts_client(client: TestClient) -> TestClient:
    return client


@dataclass(frozen=True)
class Paid:
    """A paid order's registration: its ticket page's secret, the order, its receipts."""

    secret: str
    registration_id: int
    order_id: int
    reference: str


def _demo_id(session: Session) -> int:
    conference = get_conference(session, DEMO)
    assert conference is not None and conference.id is not None
    return conference.id


def show_tax(db: Database, mode: TaxMode, issuer: str = "") -> None:
    with db.transaction() as session:
        save_payment_settings(
            session, _demo_id(session), tax_mode=mode.value, receipt_issuer=issuer
        )


def pay_by_card(
    session: Session, registration_id: int, amount_cents: int, topup_cents: int = 0
) -> tuple[Order, Payment]:
    """An order for one registration, paid by card (the money arrived), inside the caller's
    transaction: the rows Stripe's confirmation writes, without Stripe."""
    conference_id = _demo_id(session)
    registration = session.get(Registration, registration_id)
    assert registration is not None
    registration.payment_status = PaymentStatus.paid.value
    session.add(registration)
    now = utcnow()
    order = Order(
        conference_id=conference_id,
        reference=new_reference(),
        method=PaymentMethod.stripe.value,
        status=OrderStatus.paid.value,
        total_cents=amount_cents + topup_cents,
        currency="AUD",
        payer_name=registration.name,
        paid_at=now,
    )
    session.add(order)
    session.flush()
    assert order.id is not None
    session.add(
        OrderItem(
            registration_id=registration_id,
            order_id=order.id,
            amount_cents=amount_cents,
            solidarity_topup_cents=topup_cents,
        )
    )
    payment = Payment(
        conference_id=conference_id,
        order_id=order.id,
        method=PaymentMethod.stripe.value,
        state=PaymentState.confirmed.value,
        amount_cents=amount_cents + topup_cents,
        currency="AUD",
        confirmed_at=now,
    )
    session.add(payment)
    session.flush()
    return order, payment


def register_waged(db: Database, name: str) -> RegisteredTicket:
    return register_person(db, name=name, email=address_of(name), ticket_type="waged")


def registered_and_paid(db: Database, name: str, topup_cents: int = 0) -> Paid:
    """Someone registers for a waged ticket and pays $95 (and a top-up) by card."""
    registration = register_waged(db, name)
    registration_id = registration.ticket.registration.id
    assert registration_id is not None
    with db.transaction() as session:
        order, payment = pay_by_card(session, registration_id, WAGED_CENTS, topup_cents)
        issue_receipt(session, payment, order)
        secret = new_manage_secret(session, registration_id)
        assert order.id is not None
        return Paid(secret, registration_id, order.id, order.reference)


def receipt_numbers(db: Database) -> list[int]:
    with db.read() as session:
        return sorted(r.number for r in session.exec(select(Receipt)))


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    return " ".join(reader.pages[0].extract_text().split())


def page_text(html: str) -> str:
    return " ".join(html.split())


def test_a_paid_ticket_opens_its_receipt_to_print_and_as_a_pdf(
    receipts_client: TestClient, db: Database
) -> None:
    show_tax(db, TaxMode.none, issuer="Socialist Alliance Inc.\nABN 12 345 678 901")
    paid = registered_and_paid(db, "Rosa Parks")

    ticket = receipts_client.get(f"/my-ticket/{paid.secret}")
    link = f"/my-ticket/{paid.secret}/receipts/1"
    assert f'href="{link}"' in ticket.text  # the ticket's page links its receipt

    page = receipts_client.get(link)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    text = page_text(page.text)
    for words in (
        "Socialist Alliance Inc.<br>ABN 12 345 678 901",
        "Receipt No. 1",
        "Received from: Rosa Parks",
        f"Order reference: {paid.reference[:4]}-{paid.reference[4:]}",
        "Paid by card",
        "Ticket: Waged, Rosa Parks",
        "$95",
    ):
        assert words in text
    assert f'href="{link}.pdf"' in page.text

    pdf = receipts_client.get(f"{link}.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == 'inline; filename="receipt-1.pdf"'
    assert pdf.headers["cache-control"] == "no-store"
    assert "object-src 'self'" in pdf.headers["content-security-policy"]  # Chrome's viewer
    printed = pdf_text(pdf.content)
    for words in (
        "Socialist Alliance Inc. ABN 12 345 678 901",
        "Receipt No. 1",
        "Received from: Rosa Parks",
        "Paid by card",
        "Ticket: Waged, Rosa Parks $95",
        "Total $95",
    ):
        assert words in printed
    # No tax shown by a conference that shows none.
    assert "GST" not in printed and "GST" not in text


def test_gst_is_shown_as_a_tenth_of_the_ticket_and_none_of_a_gift(
    receipts_client: TestClient, db: Database
) -> None:
    show_tax(db, TaxMode.gst_inclusive)
    paid = registered_and_paid(db, "Jack Mundey", topup_cents=2000)
    link = f"/my-ticket/{paid.secret}/receipts/1"

    # $95 holds $8.64 of GST; the $20 gift to the solidarity fund holds none.
    assert "Includes GST of $8.64" in receipts_client.get(link).text
    printed = pdf_text(receipts_client.get(f"{link}.pdf").content)
    assert "Gift to the solidarity fund $20" in printed
    assert "Total $115" in printed
    assert "Includes GST of $8.64" in printed


def test_no_one_else_opens_a_receipt(receipts_client: TestClient, db: Database) -> None:
    show_tax(db, TaxMode.none)
    paid = registered_and_paid(db, "Rosa Parks")
    other = registered_and_paid(db, "Jack Mundey")  # receipt No. 2
    unpaid = register_waged(db, "Joe Hill")

    for path in (
        f"/my-ticket/{paid.secret}/receipts/2",  # someone else's receipt
        f"/my-ticket/{paid.secret}/receipts/3",  # no such receipt
        f"/my-ticket/{paid.secret}/receipts/x1",
        f"/my-ticket/{unpaid.ticket.manage_secret}/receipts/1",  # nothing paid
        f"/my-ticket/{'A' * 43}/receipts/1",  # no such ticket
        f"/my-ticket/{paid.secret}/receipts/2.pdf",
        f"/my-ticket/{'A' * 43}/receipts/1.pdf",
    ):
        answer = receipts_client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["cache-control"] == "no-store", path
        assert "Jack Mundey" not in answer.text
    assert receipts_client.get(f"/my-ticket/{other.secret}/receipts/2").status_code == 200


def test_a_spanish_conference_gives_its_receipt_in_spanish(
    receipts_client: TestClient, db: Database
) -> None:
    offer_languages(db, ["es"])
    show_tax(db, TaxMode.gst_inclusive)
    paid = registered_and_paid(db, "Dolores Ibárruri")
    link = f"/my-ticket/{paid.secret}/receipts/1"

    page = receipts_client.get(link, headers={"Accept-Language": "en-AU"})
    assert '<html lang="es"' in page.text
    with in_language("es"), db.read() as session:
        registration = session.get(Registration, paid.registration_id)
        assert registration is not None
        attached = receipt_attachment(session, registration)
    assert attached is not None
    printed = pdf_text(receipts_client.get(f"{link}.pdf").content)
    assert pdf_text(attached[1]) == printed
    # Money and dates as Spanish writes them (the words come from the catalogue).
    assert "95 AUD" in printed and "8,64 AUD" in printed
    assert " de 20" in printed  # "… de julio de 2027"
    assert "Importe" in printed  # "Amount", already in the catalogue


def test_a_name_in_any_european_script_prints_on_the_pdf(
    receipts_client: TestClient, db: Database
) -> None:
    show_tax(db, TaxMode.none, issuer="Związek Zawodowy\nΣύλλογος · Союз")
    paid = registered_and_paid(db, "Zoë Ñúñez Łukasz Ψυχή Жанна")

    pdf = receipts_client.get(f"/my-ticket/{paid.secret}/receipts/1.pdf").content
    printed = pdf_text(pdf)
    assert "Received from: Zoë Ñúñez Łukasz Ψυχή Жанна" in printed
    assert "Związek Zawodowy Σύλλογος · Союз" in printed
    # The font goes with the file; nothing in it names software or people.
    reader = PdfReader(io.BytesIO(pdf))
    assert set(reader.metadata or {}) == {"/Title", "/CreationDate"}
    assert reader.metadata is not None and reader.metadata.title == "Receipt No. 1"
    assert reader.xmp_metadata is None
    # The same receipt gives the same bytes each time.
    assert receipts_client.get(f"/my-ticket/{paid.secret}/receipts/1.pdf").content == pdf


def test_the_ticket_mail_attaches_the_newest_receipt(db: Database, demo: LoadReport) -> None:
    show_tax(db, TaxMode.none)
    paid = registered_and_paid(db, "Rosa Parks")
    unpaid = register_waged(db, "Joe Hill")
    with db.read() as session:
        registration = session.get(Registration, paid.registration_id)
        assert registration is not None
        attached = receipt_attachment(session, registration)
        assert receipt_attachment(session, unpaid.ticket.registration) is None
    assert attached is not None
    filename, pdf = attached
    assert filename == "receipt-1.pdf"  # no one's name in a file name
    assert pdf.startswith(b"%PDF") and "Receipt No. 1" in pdf_text(pdf)


def test_receipts_are_numbered_without_a_gap(db: Database, demo: LoadReport) -> None:
    show_tax(db, TaxMode.none)
    for name in ("Rosa Parks", "Jack Mundey", "Joe Hill"):
        registered_and_paid(db, name)
    assert receipt_numbers(db) == [1, 2, 3]


def test_a_payment_that_fails_after_its_receipt_gives_its_number_back(
    receipts_client: TestClient, db: Database
) -> None:
    show_tax(db, TaxMode.none)
    registered_and_paid(db, "Rosa Parks")
    failing = register_waged(db, "Jack Mundey")
    failing_id = failing.ticket.registration.id
    assert failing_id is not None

    with pytest.raises(RuntimeError), db.transaction() as session:
        order, payment = pay_by_card(session, failing_id, WAGED_CENTS)
        assert issue_receipt(session, payment, order).number == 2
        raise RuntimeError("the connection dropped before the commit")

    assert receipt_numbers(db) == [1]
    paid = registered_and_paid(db, "Joe Hill")
    assert receipt_numbers(db) == [1, 2]
    assert receipts_client.get(f"/my-ticket/{paid.secret}/receipts/2").status_code == 200


def paid_by_transfer(db: Database, name: str, topup_cents: int = 0) -> tuple[Paid, int]:
    """Like registered_and_paid, by a transfer (refunded by hand); with the payment's id."""
    paid = registered_and_paid(db, name, topup_cents)
    with db.transaction() as session:
        payment = session.exec(select(Payment).where(Payment.order_id == paid.order_id)).one()
        payment.method = PaymentMethod.bank_transfer.value
        session.add(payment)
        assert payment.id is not None
        return paid, payment.id


def receipts_of(db: Database) -> list[Receipt]:
    with db.read() as session:
        return list(session.exec(select(Receipt).order_by(Receipt.number)).all())


def test_a_partial_refund_cancels_the_receipt_and_issues_one_for_what_was_kept(
    receipts_client: TestClient, db: Database
) -> None:
    show_tax(db, TaxMode.gst_inclusive)
    paid, payment_id = paid_by_transfer(db, "Jack Mundey", topup_cents=2000)
    refund_payment(db, "", payment_id, 4500, "Came one day of three", "organiser@example.org")

    first, cancellation, kept = receipts_of(db)
    assert (first.number, first.kind, first.amount_cents) == (1, "receipt", 11500)
    # The first receipt is never changed: a document of its own cancels it.
    assert (cancellation.number, cancellation.kind) == (2, "cancellation")
    assert cancellation.cancels_receipt_id == first.id
    assert (cancellation.amount_cents, cancellation.tax_cents) == (-11500, -first.tax_cents)
    # What was kept: $95 - $45 of ticket holds $4.55 of GST; the $20 gift none.
    assert (kept.number, kept.kind, kept.amount_cents, kept.tax_cents) == (3, "receipt", 7000, 455)
    assert [line["amount_cents"] for line in kept.lines] == [9500, 2000, -4500]

    page = page_text(receipts_client.get(f"/my-ticket/{paid.secret}/receipts/2").text)
    assert "Cancellation of receipt No. 1" in page
    assert "-$115" in page
    printed = pdf_text(receipts_client.get(f"/my-ticket/{paid.secret}/receipts/3.pdf").content)
    assert "Refunded -$45" in printed and "Total $70" in printed
    assert "Includes GST of $4.55" in printed
    ticket = receipts_client.get(f"/my-ticket/{paid.secret}").text
    assert all(f"/receipts/{n}" in ticket for n in (1, 2, 3))

    # The rest given back too: the standing receipt is cancelled, and nothing is kept.
    refund_payment(db, "", payment_id, 7000, "Could not come after all", "organiser@example.org")
    numbers = [(r.number, r.kind, r.amount_cents) for r in receipts_of(db)]
    assert numbers[3:] == [(4, "cancellation", -7000)]
    assert receipts_of(db)[3].cancels_receipt_id == kept.id


def test_a_payment_refunded_before_any_receipt_gets_no_cancellation(
    db: Database, demo: LoadReport
) -> None:
    registration = register_waged(db, "Clara Zetkin").ticket.registration
    with db.transaction() as session:
        _order, payment = pay_by_card(session, registration.id or 0, WAGED_CENTS)
        payment.method = PaymentMethod.bank_transfer.value
        session.add(payment)
        payment_id = payment.id or 0
    refund_payment(db, "", payment_id, WAGED_CENTS, "Came too late", "organiser@example.org")
    assert receipts_of(db) == []
