"""The registrations desk: an organiser finds, opens and changes registrations, records payment
(the solidarity fund counts paid top-ups only), registers someone at the desk, exports CSV, and
scripts do the same through the JSON API. Every view and change is in the audit log, by ticket
code, never by name."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import AuditEntry, Conference, OutboxMail, Registration
from confapp.registration.desk import CSV_COLUMNS
from confapp.registration.privacy import erase_attendee
from confapp.tickets.admission import registration_by_code
from confapp.tickets.tokens import normalise_ticket_code
from tests.support import DEMO, registrations
from tests.support.accounts import (
    ORGANISER,
    PASSWORD,
    api_token,
    make_user,
    sign_in_organiser,
)
from tests.support.openapi_contract import assert_matches_contract
from tests.support.pages import field_error
from tests.support.registrations import places_left, register_person
from tests.support.servers import LiveServer

DESK = f"/admin/{DEMO}/registrations"
API = f"/api/{DEMO}/registrations"
PATCH_PATH = "/api/{conference}/registrations/{code}"
LIST_PATH = "/api/{conference}/registrations"


# ---- helpers --------------------------------------------------------------------------------


def register_online(client: TestClient, **fields: Any) -> dict[str, Any]:
    """Register as an attendee does, through the public API (as Rosa at rosa@example.org unless
    told otherwise); the ticket document."""
    return registrations.register(client, **{"name": "Rosa", "email": "rosa@example.org", **fields})


@pytest.fixture
def organiser(client: TestClient, db: Database) -> str:
    """The client signed in as an organiser of the demo conference; the session's CSRF token."""
    return sign_in_organiser(client, db)


def registration(db: Database, code: str) -> Registration:
    with db.read() as session:
        found = registration_by_code(session, normalise_ticket_code(code) or "")
        assert found is not None
        return found


def audit_log(db: Database) -> list[AuditEntry]:
    with db.read() as session:
        return list(session.exec(select(AuditEntry).order_by(col(AuditEntry.id))))


def actions_on(db: Database, code: str) -> list[str]:
    stored = normalise_ticket_code(code)
    return [e.action for e in audit_log(db) if e.ticket_code == stored]


def assert_no_one_named_in_the_log(db: Database, *personal: str) -> None:
    for entry in audit_log(db):
        for text in personal:
            assert text.lower() not in f"{entry.action} {entry.detail}".lower(), entry


def funded_places(client: TestClient) -> int:
    return client.get(f"/api/{DEMO}/ticket-types").json()["solidarity_pool_places_funded"]


def act(client: TestClient, token: str, code: str, action: str, **fields: str) -> Any:
    return client.post(
        f"{DESK}/{code}",
        data={"csrf_token": token, "action": action, **fields},
        follow_redirects=False,
    )


def shown_codes(page: str) -> list[str]:
    return re.findall(r'<span class="ticket-code">([A-Z2-7-]+)</span>', page)


def bearer(db: Database, email: str = ORGANISER) -> dict[str, str]:
    return {"authorization": f"Bearer {api_token(db, email)}"}


# ---- finding --------------------------------------------------------------------------------


def test_an_organiser_finds_a_registration_by_part_of_the_name_by_email_and_by_code(
    client: TestClient, db: Database, organiser: str
) -> None:
    rosa = register_online(client, name="Rosa Luxemburg", email="rosa@example.org")
    clara = register_online(client, name="Clara Zetkin", email="clara@example.org")

    by_name = client.get(DESK, params={"q": "luxem"})
    assert by_name.status_code == 200
    assert shown_codes(by_name.text) == [rosa["code"]]
    assert "Rosa Luxemburg" in by_name.text and "Clara" not in by_name.text

    by_email = client.get(DESK, params={"q": "CLARA@example"})
    assert shown_codes(by_email.text) == [clara["code"]]

    for typed in (rosa["code"], rosa["code"].replace("-", "").lower(), rosa["code"][:9].lower()):
        assert shown_codes(client.get(DESK, params={"q": typed}).text) == [rosa["code"]], typed

    everyone = client.get(DESK)
    assert shown_codes(everyone.text) == [clara["code"], rosa["code"]]  # newest first
    assert "2 registrations" in everyone.text

    viewed = [e for e in audit_log(db) if e.action == "viewed registrations"]
    assert len(viewed) == 6
    assert viewed[0].detail == "search" and viewed[-1].detail == "all"
    assert_no_one_named_in_the_log(db, "luxem", "clara", "rosa")


def test_filters_by_ticket_type_payment_and_status_with_counts_per_type(
    client: TestClient, db: Database, organiser: str
) -> None:
    waged = register_online(client, name="Wanda")
    concession = register_online(client, name="Connie", ticket_type="concession")
    free = register_online(client, name="Fred", ticket_type="free")
    assert act(client, organiser, waged["code"], "payment", payment_status="paid").is_redirect
    assert act(client, organiser, free["code"], "cancel").is_redirect

    def codes(**params: str) -> list[str]:
        page = client.get(DESK, params=params)
        assert page.status_code == 200
        return shown_codes(page.text)

    assert codes(ticket_type="concession") == [concession["code"]]
    assert codes(payment="paid") == [waged["code"]]
    assert codes(payment="unpaid") == [concession["code"]]
    assert codes(status="cancelled") == [free["code"]]
    assert codes(status="active", ticket_type="waged", payment="paid") == [waged["code"]]

    counts = client.get(API, headers={"x-csrf-token": organiser}).json()["counts"]
    by_type = {t["code"]: t for t in counts["ticket_types"]}
    assert (by_type["waged"]["active"], by_type["waged"]["paid"]) == (1, 1)
    assert (by_type["free"]["active"], by_type["free"]["cancelled"]) == (0, 1)
    assert by_type["waged"]["places_left"] == 499
    assert (counts["active"], counts["cancelled"], counts["unpaid"]) == (2, 1, 1)
    assert "Counts and places left" in client.get(DESK).text

    refused = client.get(DESK, params={"payment": "sometimes"})
    assert refused.status_code == 422
    assert field_error(refused.text, "payment")


def test_erased_registrations_show_as_erased_with_no_data(
    client: TestClient, db: Database, organiser: str
) -> None:
    gone = register_online(client, name="Gone Person", email="gone@example.org")
    assert erase_attendee(db, registration(db, gone["code"]).id or 0)

    page = client.get(DESK)
    assert "<em>erased</em>" in page.text and "Gone Person" not in page.text
    assert "gone@example.org" not in page.text
    one = client.get(f"{DESK}/{gone['code']}")
    assert one.status_code == 200 and "Erased registration" in one.text
    assert act(client, organiser, gone["code"], "payment", payment_status="paid").status_code == 409


# ---- changing -------------------------------------------------------------------------------


def test_the_solidarity_fund_grows_only_when_a_top_up_is_marked_paid_and_shrinks_on_refund(
    client: TestClient, db: Database, organiser: str
) -> None:
    claim = {"name": "Ana", "email": "ana@example.org", "ticket_type": "solidarity-place"}
    # A $100 pledge ($45 a place) opens no place until it is paid.
    pledge = register_online(client, name="Paula", solidarity_topup="100")
    assert funded_places(client) == 0
    assert client.post(f"/api/{DEMO}/registrations", json=claim).status_code == 409

    paid = act(client, organiser, pledge["code"], "payment", payment_status="paid")
    assert paid.status_code == 303
    assert paid.headers["location"] == f"{DESK}/{pledge['code']}?done=payment"
    assert "Payment recorded." in client.get(paid.headers["location"]).text
    assert funded_places(client) == 2
    assert registration(db, pledge["code"]).payment_status == "paid"

    assert act(client, organiser, pledge["code"], "payment", payment_status="refunded").is_redirect
    assert funded_places(client) == 0
    assert act(client, organiser, pledge["code"], "payment", payment_status="paid").is_redirect
    assert funded_places(client) == 2
    assert client.post(f"/api/{DEMO}/registrations", json=claim).status_code == 201

    changes = [a for a in actions_on(db, pledge["code"]) if a.startswith("changed")]
    assert changes == [
        "changed payment to paid",
        "changed payment to refunded",
        "changed payment to paid",
    ]
    assert_no_one_named_in_the_log(db, "Paula")


def test_cancelling_gives_the_place_back(client: TestClient, db: Database, organiser: str) -> None:
    ticket = register_online(client)
    taken = places_left(client, "waged")

    cancelled = act(client, organiser, ticket["code"], "cancel")

    assert cancelled.status_code == 303
    assert places_left(client, "waged") == (taken or 0) + 1
    assert registration(db, ticket["code"]).status == "cancelled"
    assert "cancelled" in actions_on(db, ticket["code"])
    # Cancelling twice changes nothing and writes nothing more.
    assert act(client, organiser, ticket["code"], "cancel").status_code == 303
    assert places_left(client, "waged") == (taken or 0) + 1
    assert actions_on(db, ticket["code"]).count("cancelled") == 1


def test_resend_queues_a_new_ticket_mail(client: TestClient, db: Database, organiser: str) -> None:
    ticket = register_online(client)
    registration_id = registration(db, ticket["code"]).id

    def mails() -> int:
        with db.read() as session:
            rows = session.exec(
                select(OutboxMail).where(OutboxMail.registration_id == registration_id)
            ).all()
            return len(rows)

    before = mails()
    resent = act(client, organiser, ticket["code"], "resend")
    assert resent.status_code == 303
    assert mails() == before + 1
    assert "resent ticket mail" in actions_on(db, ticket["code"])
    assert "The ticket mail is queued" in client.get(resent.headers["location"]).text


def test_an_organiser_corrects_details_checked_as_the_form_checks_them(
    client: TestClient, db: Database, organiser: str
) -> None:
    ticket = register_online(client, name="Rosa")
    fields = {
        "name": "Rosa L.",
        "email": "not an address",
        "access_needs": "Step-free\nseat",
        "childcare_children": "1",
        "childcare_ages": "4",
    }
    refused = act(client, organiser, ticket["code"], "edit", **fields)
    assert refused.status_code == 422
    assert "e-mail address" in (field_error(refused.text, "email") or "")
    assert 'value="Rosa L."' in refused.text  # what was typed is kept
    assert registration(db, ticket["code"]).name == "Rosa"

    saved = act(client, organiser, ticket["code"], "edit", **{**fields, "email": "rl@example.org"})
    assert saved.status_code == 303
    changed = registration(db, ticket["code"])
    assert (changed.name, changed.email, changed.childcare_ages) == (
        "Rosa L.",
        "rl@example.org",
        "4",
    )
    assert changed.access_needs == "Step-free\nseat"
    entry = next(e for e in audit_log(db) if e.action == "edited details")
    assert entry.detail == "name, email, access_needs, childcare_children, childcare_ages"
    assert_no_one_named_in_the_log(db, "Rosa", "rl@example.org", "Step-free")


# ---- the desk -------------------------------------------------------------------------------


def close_online_registration(db: Database) -> None:
    with db.transaction() as session:
        conference = session.exec(select(Conference).where(Conference.slug == DEMO)).one()
        conference.registration_open = False
        session.add(conference)


def test_the_desk_registers_someone_while_online_registration_is_closed(
    client: TestClient, db: Database, organiser: str
) -> None:
    close_online_registration(db)
    online = client.post(
        f"/api/{DEMO}/registrations",
        json={"name": "Late", "email": "late@example.org", "ticket_type": "waged"},
    )
    assert online.status_code == 409

    form = client.get(f"/admin/{DEMO}/desk")
    assert form.status_code == 200 and "Online registration is closed" in form.text
    done = client.post(
        f"/admin/{DEMO}/desk",
        data={
            "csrf_token": organiser,
            "name": "Nadia",
            "email": "nadia@example.org",
            "ticket_type": "waged",
            "solidarity_topup": "45",
        },
    )
    assert done.status_code == 200, done.text
    token = re.search(r'src="/tickets/([A-Za-z0-9_-]+)/qr\.svg"', done.text)
    code = re.search(r'<strong class="ticket-code">([A-Z2-7-]+)</strong>', done.text)
    manage = re.search(r"http://testserver(/my-ticket/[A-Za-z0-9_-]{43})", done.text)
    assert token and code and manage
    assert 'src="data:image/svg+xml;base64,' in done.text  # the management link as a QR code
    assert "on its way to nadia@example.org" in done.text

    desk_made = registration(db, code.group(1))
    assert (desk_made.name, desk_made.payment_status) == ("Nadia", "paid")  # cash on the day
    assert funded_places(client) == 1  # the paid top-up is in the fund at once
    assert client.get(f"/tickets/{token.group(1)}/qr.svg").status_code == 200
    assert "Nadia" in client.get(manage.group(1)).text
    with db.read() as session:
        queued = session.exec(
            select(OutboxMail).where(OutboxMail.registration_id == desk_made.id)
        ).all()
    assert len(queued) == 1
    assert actions_on(db, code.group(1)) == ["registered at the desk"]
    assert audit_log(db)[-1].detail == "payment paid"


def test_the_desk_takes_no_email_address_and_then_mails_nothing(
    client: TestClient, db: Database, organiser: str
) -> None:
    done = client.post(
        f"/admin/{DEMO}/desk",
        data={"csrf_token": organiser, "name": "Cash", "ticket_type": "free", "email": ""},
    )
    assert done.status_code == 200, done.text
    assert "Show this screen to Cash" in done.text and "on its way" not in done.text
    code = re.search(r'<strong class="ticket-code">([A-Z2-7-]+)</strong>', done.text)
    assert code
    made = registration(db, code.group(1))
    assert (made.email, made.payment_status) == ("", "waived")  # nothing to pay
    with db.read() as session:
        assert not session.exec(
            select(OutboxMail).where(OutboxMail.registration_id == made.id)
        ).all()


def test_the_desk_form_shows_mistakes_beside_the_fields(
    client: TestClient, db: Database, organiser: str
) -> None:
    refused = client.post(
        f"/admin/{DEMO}/desk",
        data={
            "csrf_token": organiser,
            "name": "",
            "email": "nope",
            "ticket_type": "pay-what-you-can",
            "amount": "2",
            "payment_status": "maybe",
        },
    )
    assert refused.status_code == 422
    for name in ("name", "email", "amount", "payment_status"):
        assert field_error(refused.text, name), name
    with db.read() as session:
        assert not session.exec(select(Registration)).all()


# ---- CSV ------------------------------------------------------------------------------------

AWKWARD_NAMES = [
    "Luxemburg, Rosa",
    'Rosa "Red" L.',
    "Line one\nLine two",
    '=HYPERLINK("http://evil.example","click")',
    "+61 400 000 000",
    "-2+3",
    "@SUM(A1)",
    "Łucja Żółć",
]


def test_the_csv_round_trips_awkward_names_and_neutralises_formulas(
    client: TestClient, db: Database, organiser: str
) -> None:
    codes = []
    for index, name in enumerate(AWKWARD_NAMES):
        ticket = register_online(
            client, name="placeholder", email=f"p{index}@example.org", access_needs="SECRET"
        )
        codes.append(ticket["code"])
        with db.transaction() as session:
            # Stored as is (the form folds line breaks; older data or a file might not).
            row = session.get(Registration, registration(db, ticket["code"]).id)
            assert row is not None
            row.name = name

    answer = client.get(f"/admin/{DEMO}/registrations.csv")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["cache-control"] == "no-store"
    assert answer.content.startswith(b"\xef\xbb\xbf")
    text = answer.content.decode("utf-8").removeprefix("\ufeff")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    by_code = {row[0]: dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]}
    assert set(by_code) == set(codes)
    for code, name in zip(codes, AWKWARD_NAMES, strict=True):
        expected = "'" + name if name[0] in "=+-@" else name
        assert by_code[code]["name"] == expected
    first = by_code[codes[0]]
    assert (first["ticket_type"], first["amount"], first["payment"]) == ("waged", "95.00", "unpaid")
    assert first["status"] == "active" and first["email_consent"] == "no"
    assert "SECRET" not in text  # access needs stay out of the export
    assert audit_log(db)[-1].action == "exported registrations"
    assert audit_log(db)[-1].detail == "8 rows; all"

    client.cookies.clear()
    by_token = client.get(f"/admin/{DEMO}/registrations.csv", headers=bearer(db))
    assert by_token.status_code == 200 and by_token.content == answer.content
    anonymous = client.get(f"/admin/{DEMO}/registrations.csv", follow_redirects=False)
    assert anonymous.status_code == 303


# ---- JSON -----------------------------------------------------------------------------------


def test_the_json_api_lists_and_patches_with_a_bearer_token(
    client: TestClient, db: Database
) -> None:
    make_user(db, ORGANISER, "organiser", DEMO)
    make_user(db, "steward@example.org", "steward", DEMO)
    ticket = register_online(client, name="Rosa", solidarity_topup="45", access_needs="SECRET")
    register_online(client, name="Clara", email="clara@example.org")
    headers = bearer(db)

    listed = client.get(API, params={"q": "rosa"}, headers=headers)
    assert listed.status_code == 200
    assert_matches_contract("get", LIST_PATH, listed)
    body = listed.json()
    assert body["matching"] == 1 and body["registrations"][0]["code"] == ticket["code"]
    assert "access_needs" not in body["registrations"][0] and "SECRET" not in listed.text
    assert listed.headers["cache-control"] == "no-store"

    path = PATCH_PATH.replace("{conference}", DEMO).replace("{code}", ticket["code"].lower())
    paid = client.patch(path, json={"payment_status": "paid"}, headers=headers)
    assert paid.status_code == 200, paid.text
    assert_matches_contract("patch", PATCH_PATH, paid)
    assert paid.json()["payment_status"] == "paid"
    assert funded_places(client) == 1

    bad = client.patch(path, json={"payment_status": "settled"}, headers=headers)
    assert bad.status_code == 422
    assert_matches_contract("patch", PATCH_PATH, bad)
    assert "payment_status" in bad.json()["fields"]
    for refused in ({"status": "active"}, {"email": "nope"}, {"colour": "red"}, {}):
        answer = client.patch(path, json=refused, headers=headers)
        assert answer.status_code == 422, refused
        assert_matches_contract("patch", PATCH_PATH, answer)
        assert set(answer.json()["fields"]) == set(refused) or refused == {}

    renamed = client.patch(
        path, json={"name": " Rosa  L. ", "email": "RL@Example.org"}, headers=headers
    )
    assert (renamed.json()["name"], renamed.json()["email"]) == ("Rosa L.", "RL@example.org")
    cancelled = client.patch(path, json={"status": "cancelled"}, headers=headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancelled_at"]
    assert funded_places(client) == 0  # a cancelled ticket's top-up leaves the fund

    unknown = PATCH_PATH.replace("{conference}", DEMO).replace("{code}", "AAAA-AAAA-AAAAA")
    missing = client.patch(unknown, json={"payment_status": "paid"}, headers=headers)
    assert missing.status_code == 404
    assert_matches_contract("patch", PATCH_PATH, missing)

    anonymous = client.patch(path, json={"payment_status": "paid"})
    assert anonymous.status_code == 401
    assert_matches_contract("patch", PATCH_PATH, anonymous)
    steward = client.patch(
        path, json={"payment_status": "paid"}, headers=bearer(db, "steward@example.org")
    )
    assert steward.status_code == 403
    assert_matches_contract("patch", PATCH_PATH, steward)
    assert client.get(API, headers=bearer(db, "steward@example.org")).status_code == 403

    assert erase_attendee(db, registration(db, ticket["code"]).id or 0)
    erased = client.patch(path, json={"payment_status": "refunded"}, headers=headers)
    assert erased.status_code == 409
    assert_matches_contract("patch", PATCH_PATH, erased)

    stored = normalise_ticket_code(ticket["code"])
    writes = [e for e in audit_log(db) if e.action not in ("viewed registrations",)]
    assert [e.action for e in writes] == [
        "changed payment to paid",
        "edited details",
        "cancelled",
    ]
    assert all(e.ticket_code == stored and e.actor == ORGANISER for e in writes)
    assert_no_one_named_in_the_log(db, "Rosa", "rl@example.org", "Clara")


def test_a_browser_session_patches_only_with_its_csrf_token(
    client: TestClient, db: Database, organiser: str
) -> None:
    ticket = register_online(client)
    path = f"{API}/{ticket['code']}"
    assert client.patch(path, json={"payment_status": "paid"}).status_code == 403
    answer = client.patch(
        path, json={"payment_status": "paid"}, headers={"x-csrf-token": organiser}
    )
    assert answer.status_code == 200
    assert registration(db, ticket["code"]).payment_status == "paid"


def test_a_form_post_without_the_csrf_token_changes_nothing(
    client: TestClient, db: Database, organiser: str
) -> None:
    ticket = register_online(client)
    refused = act(client, "", ticket["code"], "cancel")
    assert refused.status_code == 403
    assert registration(db, ticket["code"]).status == "active"


# ---- in a real browser ----------------------------------------------------------------------


def test_an_organiser_on_a_phone_finds_a_registration_marks_it_paid_and_exports_csv(
    live_server: LiveServer, phone: Any, tmp_path: Path
) -> None:
    db = Database(live_server.settings.database_url)
    try:
        make_user(db, ORGANISER, "organiser", DEMO)
        ticket = register_person(
            db,
            name="Rosa Luxemburg",
            email="rosa.luxemburg.long.address@example.org",
            ticket_type="waged",
        )
        register_person(db, name="Clara Zetkin", email="clara@example.org", ticket_type="waged")
        code = ticket.ticket.code
    finally:
        db.dispose()
    page = phone

    page.goto(f"{live_server.url}{DESK}")  # anonymous: the sign-in page, then back here
    page.fill("#email", ORGANISER)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{live_server.url}{DESK}")

    page.fill("#q", "luxem")
    page.click("button:has-text('Search')")
    page.wait_for_url("**/registrations?q=luxem*")
    assert page.locator(".desk-result").count() == 1
    fits = "document.documentElement.scrollWidth <= 360"
    assert page.evaluate(fits), "the list fits a 360-px phone"
    page.click("a:has-text('Rosa Luxemburg')")
    assert code in page.inner_text("main")

    page.select_option("#payment_status", "paid")
    page.click("button:has-text('Save payment')")
    page.wait_for_selector("text=Payment recorded.")
    assert page.evaluate(fits)

    page.click(".breadcrumb a")
    with page.expect_download() as download_info:
        page.click("text=Export CSV")
    saved = tmp_path / "registrations.csv"
    download_info.value.save_as(saved)
    text = saved.read_bytes().decode("utf-8").removeprefix("\ufeff")
    rows = {row[0]: row for row in csv.reader(io.StringIO(text, newline=""))}
    assert rows[code][1] == "Rosa Luxemburg" and rows[code][6] == "paid"
    assert len(rows) == 3  # the header and two registrations


def test_the_desk_hands_over_the_ticket_on_a_phone(live_server: LiveServer, phone: Any) -> None:
    db = Database(live_server.settings.database_url)
    try:
        make_user(db, ORGANISER, "organiser", DEMO)
    finally:
        db.dispose()
    page = phone
    page.goto(f"{live_server.url}/admin/{DEMO}/desk")
    page.fill("#email", ORGANISER)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"**/admin/{DEMO}/desk")
    page.check("#ticket-concession")
    page.fill("#name", "Nadia")
    page.click("button:has-text('Register and show the ticket')")
    page.wait_for_selector("text=Registered.")
    qr = page.locator(".ticket-qr img").first
    width = qr.evaluate("img => img.complete && img.naturalWidth")
    assert width and width > 0, "the ticket's QR code loads"
    assert qr.bounding_box()["width"] >= 250, "the QR code is big enough to photograph"
    assert page.evaluate("document.documentElement.scrollWidth <= 360")
    assert "/my-ticket/" in page.inner_text(".manage-link")


def test_reloading_the_handed_over_ticket_does_not_register_the_person_again(
    client: TestClient, db: Database, organiser: str
) -> None:
    sent = client.post(
        f"/admin/{DEMO}/desk",
        data={"csrf_token": organiser, "name": "Lee", "ticket_type": "free", "email": ""},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    handover = sent.headers["location"]
    assert re.fullmatch(rf"/admin/{DEMO}/registrations/[A-Z2-7-]+/handover", handover)
    with db.read() as session:
        before = session.exec(select(func.count()).select_from(Registration)).one()
    first, again = client.get(handover), client.get(handover)
    assert first.status_code == again.status_code == 200
    assert "Lee" in again.text
    with db.read() as session:
        assert session.exec(select(func.count()).select_from(Registration)).one() == before


def test_an_attendees_own_cancel_and_erasure_are_in_the_audit_log(
    client: TestClient, db: Database
) -> None:
    made = client.post(
        f"/api/{DEMO}/registrations",
        json={"name": "Rosa Self", "email": "self@example.org", "ticket_type": "waged"},
    ).json()["ticket"]
    manage = made["manage_url"].removeprefix("http://testserver")
    assert client.post(manage + "/cancel", data={}, follow_redirects=False).status_code == 303
    assert client.post(manage + "/cancel", data={"erase": "yes"}).status_code == 200
    assert actions_on(db, made["code"]) == ["cancelled by the attendee", "erased by the attendee"]
    assert_no_one_named_in_the_log(db, "Rosa Self", "self@example.org")


def test_a_refunded_attendee_still_sees_their_ticket_page(
    client: TestClient, db: Database, organiser: str
) -> None:
    made = client.post(
        f"/api/{DEMO}/registrations",
        json={"name": "Refunded", "email": "refund@example.org", "ticket_type": "waged"},
    ).json()["ticket"]
    changed = client.patch(
        f"/api/{DEMO}/registrations/{made['code']}",
        json={"payment_status": "refunded"},
        headers=bearer(db),
    )
    assert changed.status_code == 200, changed.text
    page = client.get(made["manage_url"].removeprefix("http://testserver"))
    assert page.status_code == 200 and "Refunded" in page.text


def test_the_csv_export_filters_exactly_as_the_desk_does(
    client: TestClient, db: Database, organiser: str
) -> None:
    unpaid = register_online(client, name="Una", email="una@example.org")
    paid = register_online(client, name="Paula", email="paula@example.org")
    cancelled = register_online(client, name="Carl", email="carl@example.org")
    erased = register_online(client, name="Erin", email="erin@example.org")
    assert act(client, organiser, paid["code"], "payment", payment_status="paid").is_redirect
    assert act(client, organiser, cancelled["code"], "cancel").is_redirect
    assert erase_attendee(db, registration(db, erased["code"]).id or 0)

    def on_the_desk(params: dict[str, str]) -> list[str]:
        page = client.get(DESK, params=params)
        assert page.status_code == 200
        return shown_codes(page.text)

    def in_the_csv(params: dict[str, str]) -> list[str]:
        answer = client.get(f"/admin/{DEMO}/registrations.csv", params=params)
        assert answer.status_code == 200
        text = answer.content.decode("utf-8").removeprefix("\ufeff")
        return [row[0] for row in list(csv.reader(io.StringIO(text, newline="")))[1:]]

    for payment in ["", "unpaid", "paid", "waived", "refunded"]:
        for status in ["", "active", "cancelled"]:
            params = {k: v for k, v in (("payment", payment), ("status", status)) if v}
            assert in_the_csv(params) == on_the_desk(params), params

    # Unpaid means money still to collect: active and unpaid, unless a status is asked for.
    assert in_the_csv({"payment": "unpaid"}) == [unpaid["code"]]
    assert set(in_the_csv({"payment": "unpaid", "status": "cancelled"})) == {
        cancelled["code"],
        erased["code"],
    }
    assert in_the_csv({"payment": "paid"}) == [paid["code"]]
    assert set(in_the_csv({})) == {c["code"] for c in (unpaid, paid, cancelled, erased)}
