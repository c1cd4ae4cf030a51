"""Paying by bank transfer: an organiser uploads the bank's statement, each credit carrying an
order's reference and its total pays that order (receipt, tickets by mail), the rest are listed
for a person to assign or ignore, and uploading a statement again changes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.db import Database
from confapp.models import (
    AuditEntry,
    BankStatement,
    BankStatementLine,
    Order,
    OrderStatus,
    OutboxMail,
    Payment,
    Receipt,
    Registration,
)
from confapp.programme.conference_file import LoadReport
from confapp.programme.queries import get_conference
from confapp.registration.bank_statements import (
    PRESETS,
    ImportReport,
    assign_line,
    ignore_line,
    import_statement,
    parse_statement,
    references_in,
)
from confapp.registration.orders import display_reference, save_payment_settings
from confapp.registration.payments import release_ended_holds
from confapp.settings import Settings
from confapp.times import utcnow
from tests.conftest import app_clock
from tests.support import DEMO
from tests.support.accounts import ORGANISER, STEWARD, make_user, sign_in, sign_in_organiser
from tests.support.registrations import register_person

ORGANISER_NAME = ORGANISER


def offer_bank_transfer(db: Database, preset: str = "au_commbank", currency: str = "") -> int:
    with db.transaction() as session:
        conference = get_conference(session, DEMO)
        assert conference is not None and conference.id is not None
        if currency:
            conference.currency = currency
            session.add(conference)
        save_payment_settings(
            session,
            conference.id,
            methods=["bank_transfer"],
            bank_account_name="X",
            bank_bsb="062-000",
            bank_account_number="12345678",
            statement_preset=preset,
        )
        return conference.id


def transfer_order(db: Database, name: str) -> Order:
    """A person registers for a waged ticket ($95) and chooses to pay by transfer."""
    registered = register_person(
        db,
        name=name,
        email=f"{name.lower()}@example.org",
        ticket_type="waged",
        payment_method="bank_transfer",
    )
    assert registered.order is not None
    return registered.order


def order_now(db: Database, order: Order) -> Order:
    with db.read() as session:
        found = session.get(Order, order.id)
    assert found is not None
    return found


def commbank(*lines: tuple[str, str, str, str]) -> bytes:
    """A CommBank NetBank export: no header; date, signed amount, description, balance."""
    return "".join(f'{d},"{a}","{text}","{b}"\r\n' for d, a, text, b in lines).encode()


def upload(
    db: Database, conference_id: int, data: bytes, name: str = "CSVData.csv"
) -> ImportReport:
    return import_statement(db, conference_id, name, data, ORGANISER_NAME)


def lines(db: Database) -> list[BankStatementLine]:
    with db.read() as session:
        return list(
            session.exec(select(BankStatementLine).order_by(col(BankStatementLine.id))).all()
        )


def counts(db: Database) -> dict[str, int]:
    with db.read() as session:
        return {
            model.__name__: len(session.exec(select(model)).all())
            for model in (BankStatement, BankStatementLine, Payment, Receipt, OutboxMail)
        }


def ticket_mails(db: Database, order: Order) -> list[OutboxMail]:
    with db.read() as session:
        registrations = session.exec(
            select(Registration.id).where(Registration.email == order.email)
        ).all()
        return list(
            session.exec(
                select(OutboxMail).where(
                    OutboxMail.kind == "ticket", col(OutboxMail.registration_id).in_(registrations)
                )
            ).all()
        )


def test_a_transfer_matched_from_a_commbank_statement_pays_the_order(
    db: Database, demo: LoadReport
) -> None:
    conference_id = offer_bank_transfer(db)
    order = transfer_order(db, "Nadia")
    reference = display_reference(order.reference)  # "KX7Q-2MPD", as the page shows it

    report = upload(
        db,
        conference_id,
        commbank(
            ("05/07/2027", "-12.00", "ACCOUNT FEE", "+1000.00"),
            ("06/07/2027", "+95.00", f"TRANSFER FROM N SMITH REF {reference}", "+1095.00"),
        ),
    )

    assert (report.credits, report.debits_skipped, report.matched) == (1, 1, 1)
    assert order_now(db, order).status == OrderStatus.paid.value
    with db.read() as session:
        payment = session.exec(select(Payment).where(Payment.order_id == order.id)).one()
        receipt = session.exec(select(Receipt).where(Receipt.payment_id == payment.id)).one()
        registration = session.exec(
            select(Registration).where(Registration.email == order.email)
        ).one()
    assert (payment.method, payment.state, payment.amount_cents) == (
        "bank_transfer",
        "confirmed",
        9500,
    )
    assert receipt.amount_cents == 9500 and receipt.method == "bank_transfer"
    assert (registration.status, registration.payment_status) == ("active", "paid")
    assert len(ticket_mails(db, order)) == 1
    [line] = lines(db)
    assert (line.state, line.order_id, line.payment_id) == ("matched", order.id, payment.id)
    assert line.reference_found == order.reference


def test_uploading_the_same_statement_twice_changes_nothing(db: Database, demo: LoadReport) -> None:
    conference_id = offer_bank_transfer(db)
    order = transfer_order(db, "Nadia")
    statement = commbank(
        ("06/07/2027", "+95.00", f"REF {order.reference.lower()}", "+1095.00"),
        ("06/07/2027", "+20.00", "GIFT FROM A FRIEND", "+1115.00"),
    )
    first = upload(db, conference_id, statement)
    before = counts(db)

    again = upload(db, conference_id, statement, name="the same file, renamed.csv")

    assert first.already_uploaded_at is None and first.matched == 1
    assert again.already_uploaded_at == first_uploaded_at(db)
    assert again.statement_id == first.statement_id
    assert (again.matched, again.partial, again.unmatched, again.known) == (0, 0, 0, 2)
    assert counts(db) == before
    assert len(ticket_mails(db, order)) == 1


def first_uploaded_at(db: Database) -> object:
    with db.read() as session:
        return session.exec(select(BankStatement.uploaded_at)).one()


def test_overlapping_statements_keep_each_line_once(db: Database, demo: LoadReport) -> None:
    conference_id = offer_bank_transfer(db)
    first, second = transfer_order(db, "Nadia"), transfer_order(db, "Omar")
    july_first_week = commbank(("06/07/2027", "+95.00", f"REF {first.reference}", "+1095.00"))
    july_so_far = july_first_week + commbank(
        ("08/07/2027", "+95.00", f"REF {second.reference}", "+1190.00")
    )
    upload(db, conference_id, july_first_week)

    report = upload(db, conference_id, july_so_far)

    assert (report.already_uploaded_at, report.known, report.matched) == (None, 1, 1)
    assert [line.order_id for line in lines(db)] == [first.id, second.id]
    assert order_now(db, second).status == OrderStatus.paid.value
    with db.read() as session:
        assert len(session.exec(select(Payment)).all()) == 2


def test_a_line_with_the_wrong_amount_is_listed_as_partial_and_the_order_stays_reserved(
    db: Database, demo: LoadReport
) -> None:
    conference_id = offer_bank_transfer(db)
    order = transfer_order(db, "Nadia")

    report = upload(
        db, conference_id, commbank(("06/07/2027", "+50.00", order.reference, "+1050.00"))
    )

    assert (report.matched, report.partial) == (0, 1)
    assert order_now(db, order).status == OrderStatus.reserved.value
    [line] = lines(db)
    assert (line.state, line.note, line.order_id, line.payment_id) == (
        "partial",
        "underpaid",
        order.id,
        None,
    )
    assert ticket_mails(db, order) == []

    # The rest arrives a week later: the two together pay the order.
    upload(db, conference_id, commbank(("13/07/2027", "+45.00", order.reference, "+1095.00")))
    assert order_now(db, order).status == OrderStatus.paid.value
    assert {line.state for line in lines(db)} == {"matched"}
    with db.read() as session:
        assert session.exec(select(Payment.amount_cents)).all() == [9500]


def test_more_than_the_total_pays_the_order_and_asks_a_person_about_the_rest(
    db: Database, demo: LoadReport
) -> None:
    conference_id = offer_bank_transfer(db)
    order = transfer_order(db, "Nadia")

    report = upload(
        db, conference_id, commbank(("06/07/2027", "+100.00", order.reference, "+1100.00"))
    )

    assert (report.orders_paid, report.matched, report.partial) == (1, 0, 1)
    assert order_now(db, order).status == OrderStatus.paid.value
    with db.read() as session:
        assert session.exec(select(Payment.amount_cents)).all() == [9500]  # what it cost
    [line] = lines(db)
    assert (line.state, line.note) == ("partial", "overpaid")
    assert line.payment_id is not None
    decision = ignore_line(db, line.id or 0, ORGANISER_NAME, conference_id=conference_id)
    assert decision.done and lines(db)[0].state == "ignored"


def test_an_order_already_paid_is_never_paid_twice(db: Database, demo: LoadReport) -> None:
    conference_id = offer_bank_transfer(db)
    order = transfer_order(db, "Nadia")
    upload(db, conference_id, commbank(("06/07/2027", "+95.00", order.reference, "+1095.00")))

    # They paid again by mistake the next day.
    report = upload(
        db, conference_id, commbank(("07/07/2027", "+95.00", order.reference, "+1190.00"))
    )

    assert (report.matched, report.partial) == (0, 1)
    assert [(line.state, line.note) for line in lines(db)] == [
        ("matched", ""),
        ("partial", "already_paid"),
    ]
    with db.read() as session:
        assert len(session.exec(select(Payment)).all()) == 1
        assert len(session.exec(select(Receipt)).all()) == 1
    assert len(ticket_mails(db, order)) == 1
    # Nor by hand.
    second = lines(db)[1]
    refused = assign_line(
        db, second.id or 0, order.reference, ORGANISER_NAME, conference_id=conference_id
    )
    assert not refused.done and "paid already" in refused.problem


def test_money_for_an_order_whose_hold_ended_takes_its_place_again(
    db: Database, demo: LoadReport
) -> None:
    conference_id = offer_bank_transfer(db)
    order = transfer_order(db, "Nadia")
    with db.transaction() as session:
        held = session.get(Order, order.id)
        assert held is not None
        held.hold_until = utcnow() - timedelta(seconds=1)
        session.add(held)
    assert release_ended_holds(db, "http://unused").expired == 1
    assert order_now(db, order).status == OrderStatus.expired.value

    upload(db, conference_id, commbank(("16/07/2027", "+95.00", order.reference, "+1095.00")))

    assert order_now(db, order).status == OrderStatus.paid.value
    assert len(ticket_mails(db, order)) == 1


def test_an_unmatched_line_assigned_by_hand_pays_the_order(db: Database, demo: LoadReport) -> None:
    conference_id = offer_bank_transfer(db)
    order = transfer_order(db, "Nadia")
    report = upload(
        db, conference_id, commbank(("06/07/2027", "+95.00", "N SMITH CONFERENCE", "+1095.00"))
    )
    assert report.unmatched == 1
    [line] = lines(db)
    assert line.state == "unmatched" and line.order_id is None

    unknown = assign_line(
        db, line.id or 0, "ZZZZ-ZZZZ", ORGANISER_NAME, conference_id=conference_id
    )
    assert not unknown.done and "ZZZZ-ZZZZ" in unknown.problem
    assigned = assign_line(
        db,
        line.id or 0,
        display_reference(order.reference).lower(),
        ORGANISER_NAME,
        conference_id=conference_id,
    )

    assert assigned.done and len(assigned.mail_ids) == 1
    assert order_now(db, order).status == OrderStatus.paid.value
    [line] = lines(db)
    assert (line.state, line.decided_by) == ("assigned", ORGANISER_NAME)
    assert line.payment_id is not None
    with db.read() as session:
        actions = session.exec(select(AuditEntry.action)).all()
    assert "bank_statement_line_assigned" in actions
    # Decided once: a second decision is refused.
    again = ignore_line(db, line.id or 0, ORGANISER_NAME, conference_id=conference_id)
    assert not again.done


def test_an_ignored_line_is_no_longer_to_decide(db: Database, demo: LoadReport) -> None:
    conference_id = offer_bank_transfer(db)
    upload(db, conference_id, commbank(("06/07/2027", "+250.00", "DONATION", "+1250.00")))
    [line] = lines(db)

    other_conference = ignore_line(db, line.id or 0, ORGANISER_NAME, conference_id=-1)
    decision = ignore_line(db, line.id or 0, ORGANISER_NAME, conference_id=conference_id)

    assert not other_conference.done
    assert decision.done
    [line] = lines(db)
    assert (line.state, line.decided_by) == ("ignored", ORGANISER_NAME)
    assert line.decided_at is not None


def test_a_sepa_file_with_decimal_commas_pays_the_order(db: Database, demo: LoadReport) -> None:
    conference_id = offer_bank_transfer(db, preset="sepa_camt_csv", currency="EUR")
    order = transfer_order(db, "Jürgen")
    statement = (
        '"Auftragskonto";"Buchungstag";"Valutadatum";"Buchungstext";"Verwendungszweck";'
        '"Beguenstigter/Zahlungspflichtiger";"Kontonummer/IBAN";"BIC (SWIFT-Code)";"Betrag";'
        '"Waehrung";"Info"\r\n'
        '"DE02120300000000202051";"03.07.27";"03.07.27";"ENTGELTABSCHLUSS";"Kontoführung";'
        '"";"";"";"-4,50";"EUR";"Umsatz gebucht"\r\n'
        '"DE02120300000000202051";"06.07.27";"06.07.27";"GUTSCHR. UEBERWEISUNG";'
        f'"Konferenz {display_reference(order.reference)} Danke";"Jürgen Müller";'
        '"DE89370400440532013000";"COBADEFFXXX";"95,00";"EUR";"Umsatz gebucht"\r\n'
    ).encode("cp1252")

    report = upload(db, conference_id, statement, name="20270706-1234-umsatz.CSV")

    assert (report.credits, report.debits_skipped, report.matched) == (1, 1, 1)
    assert order_now(db, order).status == OrderStatus.paid.value
    [line] = lines(db)
    assert (line.amount_cents, line.currency) == (9500, "EUR")
    assert "Jürgen Müller" in line.description


def test_a_malformed_file_gives_a_clear_error_and_changes_nothing(
    db: Database, demo: LoadReport
) -> None:
    conference_id = offer_bank_transfer(db)
    order = transfer_order(db, "Nadia")
    before = counts(db)

    report = upload(
        db,
        conference_id,
        commbank(
            ("06/07/2027", "+95.00", order.reference, "+1095.00"),
            ("31/06/2027", "+10.00", "ANOTHER", "+1105.00"),
            ("07/07/2027", "ninety", "AND ANOTHER", "+1195.00"),
        ),
    )

    assert report.problems == [
        "Line 2, column 1: “31/06/2027” is not a date like 31/12/2027.",
        "Line 3, column 2: “ninety” is not an amount like 1,234.56.",
    ]
    assert counts(db) == before
    assert order_now(db, order).status == OrderStatus.reserved.value
    # A spreadsheet, and a Westpac export read as CommBank's, are refused as clearly.
    spreadsheet = upload(db, conference_id, b"PK\x03\x04\x14\x00\x06\x00")
    assert "not a CSV file" in spreadsheet.problems[0]
    westpac = b"Bank Account,Date,Narrative,Debit Amount,Credit Amount,Balance\r\n"
    assert upload(db, conference_id, westpac).problems == [
        "Line 1, column 1: “Bank Account” is not a date like 31/12/2027."
    ]


@pytest.mark.parametrize(
    "description",
    [
        "REF KX7Q-2MPD",
        "kx7q2mpd",
        "TRANSFER FROM R LUXEMBURG KX7Q 2MPD",
        "INV:KX7Q2MPD/CONF",
        "DIRECT CREDIT 123456 KX7Q-2MPD SMITH",
    ],
)
def test_a_reference_is_found_however_the_bank_wrote_it(description: str) -> None:
    assert "KX7Q2MPD" in references_in(description)


@pytest.mark.parametrize(
    ("preset", "statement", "amount", "day"),
    ids=["westpac", "nab", "anz"],
    argvalues=[
        (
            "au_westpac",
            "Bank Account,Date,Narrative,Debit Amount,Credit Amount,Balance,Categories,Serial\r\n"
            "032000123456,06/07/2027,DEPOSIT KX7Q2MPD,,95.00,1095.00,DEP,\r\n"
            "032000123456,06/07/2027,ACCOUNT FEE,5.00,,1090.00,FEE,\r\n",
            9500,
            6,
        ),
        (
            "au_nab",
            "Date,Amount,Account Number,,Transaction Type,Transaction Details,Balance,Category,"
            "Merchant Name\r\n"
            "07 Jul 27,95.00,083000123456,,TRANSFER CREDIT,KX7Q2MPD,1095.00,Transfers,\r\n"
            "07 Jul 27,-5.00,083000123456,,FEE,FEE,1090.00,Fees,\r\n",
            9500,
            7,
        ),
        (
            "au_anz",
            '08/07/2027,"1,095.00","TRANSFER FROM N SMITH","KX7Q2MPD"\r\n'
            '08/07/2027,"-5.00","ACCOUNT FEE"\r\n',
            109500,
            8,
        ),
    ],
)
def test_the_australian_banks_exports_are_read(
    preset: str, statement: str, amount: int, day: int
) -> None:
    parsed = parse_statement(statement.encode(), PRESETS[preset])
    assert parsed.problems == []
    [line] = parsed.credits
    assert (line.amount_cents, line.booked_on.day, parsed.debits_skipped) == (amount, day, 1)
    assert "KX7Q2MPD" in line.description


# ---- the page ----------------------------------------------------------------------------


@pytest.fixture
def organiser_client(settings: Settings, demo: LoadReport) -> Iterator[TestClient]:
    """The app as it runs: the general body limit, which the statement upload is allowed past."""
    app = create_app(settings, clock=app_clock)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


PAGE = f"/admin/{DEMO}/payments/statements"


def test_an_organiser_uploads_a_statement_and_decides_a_line_on_the_page(
    organiser_client: TestClient, db: Database
) -> None:
    client = organiser_client
    conference_id = offer_bank_transfer(db)
    paid, by_hand = transfer_order(db, "Nadia"), transfer_order(db, "Omar")
    token = sign_in_organiser(client, db)
    assert client.get(PAGE).status_code == 200

    statement = commbank(
        ("06/07/2027", "+95.00", f"REF {paid.reference}", "+1095.00"),
        ("06/07/2027", "+95.00", "O KHAN REGO", "+1190.00"),
    )
    page = client.post(
        PAGE,
        data={"csrf_token": token, "format": ""},
        files={"statement": ("CSVData.csv", statement, "text/csv")},
    )

    assert page.status_code == 200, page.text
    assert "1 order paid; 1 line for a person to look at." in page.text
    assert "O KHAN REGO" in page.text
    assert order_now(db, paid).status == OrderStatus.paid.value
    line_id = int(re.findall(r'id="line-(\d+)"', page.text)[0])

    refused = client.post(
        f"{PAGE}/lines/{line_id}",
        data={"csrf_token": token, "action": "assign", "reference": "NOPE-NOPE"},
    )
    assert refused.status_code == 422
    assert f'id="reference-{line_id}-error"' in refused.text
    assert 'value="NOPE-NOPE"' in refused.text

    assigned = client.post(
        f"{PAGE}/lines/{line_id}",
        data={"csrf_token": token, "action": "assign", "reference": by_hand.reference},
        follow_redirects=False,
    )
    assert assigned.status_code == 303
    assert order_now(db, by_hand).status == OrderStatus.paid.value
    after = client.get(assigned.headers["location"])
    assert "Line assigned to the order." in after.text
    assert "Nothing to decide" in after.text
    assert "CSVData.csv" in after.text
    with db.read() as session:
        actions = set(session.exec(select(AuditEntry.action)).all())
        statement_row = session.exec(select(BankStatement)).one()
    assert {"bank_statement_uploaded", "bank_statement_line_assigned"} <= actions
    assert statement_row.conference_id == conference_id


def test_the_page_refuses_a_bad_file_with_the_reason_beside_the_field(
    organiser_client: TestClient, db: Database
) -> None:
    client = organiser_client
    offer_bank_transfer(db)
    token = sign_in_organiser(client, db)

    bad = client.post(
        PAGE,
        data={"csrf_token": token, "format": "au_commbank"},
        files={"statement": ("x.csv", b'06/07/2027,"lots","X","+1"\r\n', "text/csv")},
    )
    assert bad.status_code == 422
    assert 'id="statement-error"' in bad.text
    assert "Line 1, column 2" in bad.text

    none_chosen = client.post(
        PAGE,
        data={"csrf_token": token, "format": "au_commbank"},
        files={"statement": ("", b"", "application/octet-stream")},
    )
    assert none_chosen.status_code == 422
    assert "Choose the statement" in none_chosen.text

    too_large = client.post(
        PAGE,
        data={"csrf_token": token, "format": "au_commbank"},
        files={"statement": ("big.csv", b"x" * (2 * 1024 * 1024 + 1), "text/csv")},
    )
    assert too_large.status_code == 413
    assert "larger than 2 MB" in too_large.text

    forged = client.post(
        PAGE,
        data={"csrf_token": "forged", "format": "au_commbank"},
        files={"statement": ("x.csv", b"", "text/csv")},
    )
    assert forged.status_code == 403
    with db.read() as session:
        assert session.exec(select(BankStatement)).all() == []


def test_only_organisers_open_the_statements_page(
    organiser_client: TestClient, db: Database
) -> None:
    anonymous = organiser_client.get(PAGE, follow_redirects=False)
    assert anonymous.status_code in (303, 401)
    make_user(db, STEWARD, "steward", DEMO)
    sign_in(organiser_client, STEWARD)
    assert organiser_client.get(PAGE).status_code == 403
