"""An organiser runs the conference's registration from the back office: opens and closes it,
sets capacities and ticket types, reads the access and childcare reports (as an access
coordinator does too), mails the attendees who agreed to it, and reads the audit log."""

from __future__ import annotations

import functools
import re
from typing import Any

import anyio
import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import AuditEntry, Conference, Notice, OutboxMail, TicketType
from confapp.outbox import send_due_mail
from confapp.programme.queries import get_conference
from confapp.registration.privacy import erase_attendee
from confapp.registration.service import cancel_registration
from confapp.settings import Settings
from tests.support import DEMO
from tests.support.accounts import (
    COORDINATOR,
    ORGANISER,
    csrf_token,
    make_user,
    sign_in,
    sign_in_organiser,
)
from tests.support.mail import Mailbox
from tests.support.pages import field_error, input_value
from tests.support.registrations import register, registration_id

ADMIN = f"/admin/{DEMO}"
SETTINGS = f"{ADMIN}/settings"
OPEN_SETTINGS = {"registration": "open", "capacity": "1200", "second_factor": "optional"}


# ---- helpers --------------------------------------------------------------------------------


def conference(db: Database) -> Conference:
    with db.read() as session:
        found = get_conference(session, DEMO)
    assert found is not None
    return found


def ticket_type(db: Database, code: str) -> TicketType:
    with db.read() as session:
        found = session.exec(select(TicketType).where(TicketType.code == code)).one()
    return found


def audit_entries(db: Database) -> list[tuple[str, str, str]]:
    """The audit log, oldest first: (action, actor, detail) of each entry."""
    with db.read() as session:
        entries = session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))
        return [(e.action, e.actor, e.detail) for e in entries]


def offered_codes(client: TestClient) -> list[str]:
    answer = client.get(f"/api/{DEMO}/ticket-types")
    return [t["code"] for t in answer.json()["ticket_types"]]


@pytest.fixture
def organiser(client: TestClient, db: Database) -> str:
    """The client signed in as an organiser of the demo conference; the session's CSRF token."""
    return sign_in_organiser(client, db)


def post(client: TestClient, path: str, token: str, **fields: str) -> Any:
    return client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


# ---- settings and ticket types --------------------------------------------------------------


def test_closing_registration_makes_the_form_say_closed_and_the_api_answer_409(
    client: TestClient, db: Database, organiser: str
) -> None:
    closed = post(client, SETTINGS, organiser, **(OPEN_SETTINGS | {"registration": "closed"}))
    assert closed.status_code == 303
    assert "Settings saved" in client.get(closed.headers["location"]).text

    form = client.get(f"/{DEMO}/register")
    assert "Online registration is closed" in form.text
    assert 'name="email"' not in form.text
    answer = client.post(
        f"/api/{DEMO}/registrations",
        json={"name": "Rosa", "email": "rosa@example.org", "ticket_type": "waged"},
    )
    assert answer.status_code == 409
    assert answer.json()["error"] == "registration_closed"

    assert post(client, SETTINGS, organiser, **OPEN_SETTINGS).status_code == 303
    assert "Online registration is closed" not in client.get(f"/{DEMO}/register").text
    register(client, "Rosa")
    changes = [a for a in audit_entries(db) if a[0] == "changed registration settings"]
    assert changes == [
        ("changed registration settings", ORGANISER, "registration_open yes→no"),
        ("changed registration settings", ORGANISER, "registration_open no→yes"),
    ]


def test_a_hidden_ticket_type_is_not_offered_and_can_go_back_on_sale(
    client: TestClient, db: Database, organiser: str
) -> None:
    path = f"{SETTINGS}/ticket-types/free"
    assert post(client, path, organiser, action="hide").status_code == 303

    assert "free" not in offered_codes(client)
    assert 'value="free"' not in client.get(f"/{DEMO}/register").text
    refused = client.post(
        f"/api/{DEMO}/registrations",
        json={"name": "Rosa", "email": "rosa@example.org", "ticket_type": "free"},
    )
    assert refused.status_code == 422
    settings_page = client.get(SETTINGS).text
    assert "hidden: not on sale" in settings_page

    assert post(client, path, organiser, action="show").status_code == 303
    assert "free" in offered_codes(client)
    register(client, "Rosa", ticket_type="free")
    assert [a[0] for a in audit_entries(db)][-2:] == ["hid ticket type", "showed ticket type"]


def test_an_organiser_adds_a_ticket_type_and_a_mistake_keeps_what_was_typed(
    client: TestClient, db: Database, organiser: str
) -> None:
    new = f"{SETTINGS}/ticket-types/new"
    typed = {
        "code": "day-pass",
        "name": "Saturday only",
        "description": "One day.",
        "kind": "fixed",
        "price": "",
        "capacity": "50",
    }
    refused = post(client, new, organiser, **typed)
    assert refused.status_code == 422
    assert field_error(refused.text, "price") == "A fixed-price ticket type needs a price."
    assert input_value(refused.text, "name") == "Saturday only"
    assert input_value(refused.text, "capacity") == "50"
    taken = post(client, new, organiser, **(typed | {"code": "waged", "price": "30"}))
    assert field_error(taken.text, "code") == "Another ticket type already has this code."

    assert post(client, new, organiser, **(typed | {"price": "30"})).status_code == 303
    offered = client.get(f"/api/{DEMO}/ticket-types").json()["ticket_types"]
    day_pass = next(t for t in offered if t["code"] == "day-pass")
    assert (day_pass["price_cents"], day_pass["places_left"]) == (3000, 50)
    assert offered[-1]["code"] == "day-pass"  # offered after the others

    edit = f"{SETTINGS}/ticket-types/day-pass"
    changed = post(client, edit, organiser, **(typed | {"action": "save", "price": "32.50"}))
    assert changed.status_code == 303
    assert ticket_type(db, "day-pass").price_cents == 3250
    register(client, "Rosa", ticket_type="day-pass")
    assert ("edited ticket type", ORGANISER, "day-pass: price_cents 3000→3250") in audit_entries(db)


def test_lowering_a_capacity_below_the_places_taken_is_refused_beside_the_field(
    client: TestClient, db: Database, organiser: str
) -> None:
    for name in ("Rosa", "Clara", "Alexandra"):
        register(client, name, ticket_type="pay-what-you-can", amount="20")
    edit = f"{SETTINGS}/ticket-types/pay-what-you-can"
    fields = {
        "action": "save",
        "name": "Pay what you can",
        "kind": "pay_what_you_can",
        "min_price": "10",
        "suggested_price": "40",
        "capacity": "2",
    }
    refused = post(client, edit, organiser, **fields)
    assert refused.status_code == 422
    assert "3 places are already taken" in (field_error(refused.text, "capacity") or "")
    assert input_value(refused.text, "capacity") == "2"
    assert ticket_type(db, "pay-what-you-can").capacity == 200

    refused = post(client, SETTINGS, organiser, **(OPEN_SETTINGS | {"capacity": "2"}))
    assert refused.status_code == 422
    assert "3 places are already taken" in (field_error(refused.text, "capacity") or "")
    assert input_value(refused.text, "capacity") == "2"
    assert conference(db).capacity == 1200

    assert post(client, edit, organiser, **(fields | {"capacity": "3"})).status_code == 303
    assert post(client, SETTINGS, organiser, **(OPEN_SETTINGS | {"capacity": "3"})).status_code
    assert (ticket_type(db, "pay-what-you-can").capacity, conference(db).capacity) == (3, 3)
    sold_out = client.post(
        f"/api/{DEMO}/registrations",
        json={"name": "Emma", "email": "emma@example.org", "ticket_type": "waged"},
    )
    assert sold_out.status_code == 409


def test_requiring_a_second_factor_needs_ones_own_first(
    client: TestClient, db: Database, organiser: str
) -> None:
    refused = post(client, SETTINGS, organiser, **(OPEN_SETTINGS | {"second_factor": "required"}))
    assert refused.status_code == 422
    assert "Set up a second factor for your own account first" in (
        field_error(refused.text, "second_factor") or ""
    )
    assert conference(db).second_factor_required is False


def test_a_settings_post_without_the_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, db: Database, organiser: str
) -> None:
    fields = OPEN_SETTINGS | {"registration": "closed", "capacity": "900"}
    refused = client.post(SETTINGS, data=fields, follow_redirects=False)
    assert refused.status_code == 403
    forged = post(client, SETTINGS, "not-the-token", **fields)
    assert forged.status_code == 403
    hide = client.post(f"{SETTINGS}/ticket-types/waged", data={"action": "hide"})
    assert hide.status_code == 403
    after = conference(db)
    assert (after.registration_open, after.capacity) == (True, 1200)
    assert ticket_type(db, "waged").on_sale
    assert not [a for a in audit_entries(db) if a[0] != "signed in"]


# ---- reports --------------------------------------------------------------------------------


def test_an_access_coordinator_sees_the_reports_and_nothing_else(
    client: TestClient, db: Database
) -> None:
    make_user(db, COORDINATOR, "access-coordinator", DEMO)
    sign_in(client, COORDINATOR)
    token = csrf_token(client)
    for page in ("reports/access", "reports/childcare"):
        assert client.get(f"{ADMIN}/{page}").status_code == 200, page
    for page in ("settings", "notices", "audit", "settings/ticket-types/waged"):
        assert client.get(f"{ADMIN}/{page}").status_code == 403, page
    assert post(client, SETTINGS, token, **OPEN_SETTINGS).status_code == 403
    assert post(client, f"{ADMIN}/notices", token, subject="x", body="y").status_code == 403
    home = client.get(f"{ADMIN}/").text
    assert "Access needs report" in home and "Mail attendees" not in home


def test_the_reports_show_what_the_access_team_needs_and_no_email_or_payment(
    client: TestClient, db: Database, organiser: str
) -> None:
    rosa = register(client, "Rosa", access_needs="Step-free access, please.")["code"]
    clara = register(
        client,
        "Clara",
        ticket_type="pay-what-you-can",
        amount="17",
        access_needs="Auslan interpreter",
        childcare={"children": 2, "ages": "3 and 6"},
    )["code"]
    erased = register(
        client, "Emma", access_needs="Quiet room", childcare={"children": 1, "ages": "2"}
    )["code"]
    cancelled = register(client, "Lucy", access_needs="Seat near the door")["code"]
    register(client, "Alexandra", childcare={"children": 1, "ages": "5"})
    register(client, "Nobody Special")
    erase_attendee(db, registration_id(db, erased))
    cancel_registration(db, registration_id(db, cancelled))

    access = client.get(f"{ADMIN}/reports/access")
    assert access.status_code == 200
    assert access.headers["cache-control"] == "no-store"
    for seen in ("Rosa", "Step-free access, please.", "Clara", "Auslan interpreter", "Waged"):
        assert seen in access.text
    assert rosa in access.text and clara in access.text
    for unseen in ("Emma", "Quiet room", "Lucy", "Seat near the door", "Alexandra"):
        assert unseen not in access.text
    childcare = client.get(f"{ADMIN}/reports/childcare")
    assert "Clara" in childcare.text and "3 and 6" in childcare.text
    assert "Alexandra" in childcare.text and "Emma" not in childcare.text
    assert "<strong>3 children</strong> from <strong>2 registrations</strong>" in childcare.text
    for report in (access.text, childcare.text):
        assert "@example.org" not in report  # the only address on the page is nobody's
        assert not re.search(r"\$\d|unpaid|paid", report, re.IGNORECASE)

    viewed = [a for a in audit_entries(db) if a[0].startswith("viewed ")]
    assert viewed == [
        ("viewed access report", ORGANISER, "2 registrations"),
        ("viewed childcare report", ORGANISER, "2 registrations"),
    ]


# ---- mail to attendees ----------------------------------------------------------------------


def preview(client: TestClient, token: str, audience: str) -> Any:
    return post(
        client,
        f"{ADMIN}/notices",
        token,
        subject="Room change",
        body="The Saturday plenary moves to the Main Hall.\n\nSee you there!",
        audience=audience,
    )


def recipients_in(page: str) -> int:
    match = re.search(r"<strong>(\d+) (?:person|people)</strong> will get this", page)
    assert match, "the preview says how many people get the notice"
    return int(match.group(1))


def test_a_notice_goes_to_the_active_registrations_that_consented_and_only_them(
    client: TestClient, db: Database, settings: Settings, organiser: str, mailbox: Mailbox
) -> None:
    rosa = register(client, "Rosa", email_consent=True)["code"]
    register(client, "Clara", ticket_type="concession", email_consent=True)
    register(client, "Lucy", email_consent=False)
    cancelled = register(client, "Emma", email_consent=True)["code"]
    erased = register(client, "Alexandra", email_consent=True)["code"]
    changed_mind = register(client, "Rosa Parks", email_consent=True)["code"]
    cancel_registration(db, registration_id(db, cancelled))
    erase_attendee(db, registration_id(db, erased))

    assert recipients_in(preview(client, organiser, "all").text) == 3
    waged = preview(client, organiser, "waged")
    assert recipients_in(waged.text) == 2
    assert "See you there!" in waged.text and "agreed to programme e-mails" in waged.text
    assert not db_notices(db)  # a preview sends nothing

    refused = post(client, f"{ADMIN}/notices", organiser, subject="", body="", audience="all")
    assert refused.status_code == 422
    assert field_error(refused.text, "subject") and field_error(refused.text, "body")

    sent = post(
        client,
        f"{ADMIN}/notices",
        organiser,
        subject="Room change",
        body="The Saturday plenary moves to the Main Hall.\n\nSee you there!",
        audience="waged",
        confirm="send",
    )
    assert sent.status_code == 303
    [notice] = db_notices(db)
    assert notice.recipients == 2
    with db.read() as session:
        queued = list(session.exec(select(OutboxMail).where(OutboxMail.kind == "notice")))
    assert {m.registration_id for m in queued} == {
        registration_id(db, rosa),
        registration_id(db, changed_mind),
    }
    assert {m.reference_id for m in queued} == {notice.id}
    assert ("sent notice", ORGANISER, f"notice {notice.id} to 2 recipients, audience waged") in (
        audit_entries(db)
    )
    # The same notice sent again a moment later is a double tap, not a second notice.
    again = post(
        client,
        f"{ADMIN}/notices",
        organiser,
        subject="Room change",
        body="The Saturday plenary moves to the Main Hall.\n\nSee you there!",
        audience="waged",
        confirm="send",
    )
    assert again.status_code == 409 and len(db_notices(db)) == 1

    # Between queueing and sending, one of them cancels: they get nothing.
    cancel_registration(db, registration_id(db, changed_mind))
    smtp = settings.with_overrides(smtp_host="127.0.0.1", smtp_port=mailbox.port)
    anyio.run(functools.partial(send_due_mail, db, smtp))
    notices = [m for m in mailbox.messages if m["Subject"] == "Room change"]
    assert [m["To"] for m in notices] == ["rosa@example.org"]
    text = notices[0].get_content()
    assert "The Saturday plenary moves to the Main Hall." in text
    assert "agreed to programme e-mails from Socialism 2027" in text
    assert "/my-ticket/" not in text and "/tickets/" not in text

    page = client.get(f"{ADMIN}/notices").text
    assert "2 recipients, 1 sent so far" in page


def db_notices(db: Database) -> list[Notice]:
    with db.read() as session:
        return list(session.exec(select(Notice)))


# ---- the audit log --------------------------------------------------------------------------


def test_the_audit_log_shows_who_did_what_newest_first_and_filters_by_action(
    client: TestClient, db: Database, organiser: str
) -> None:
    code = register(client, "Rosa", access_needs="Ramp")["code"]
    client.get(f"{ADMIN}/registrations/{code}")
    client.get(f"{ADMIN}/reports/access")
    post(client, f"{SETTINGS}/ticket-types/free", organiser, action="hide")

    page = client.get(f"{ADMIN}/audit")
    assert page.status_code == 200
    actions = re.findall(r"<td>(Viewed [a-z ]+|Took a ticket type off sale)</td>", page.text)
    assert actions == [
        "Took a ticket type off sale",
        "Viewed the access report",
        "Viewed a registration",
    ]
    assert code in page.text and ORGANISER in page.text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", page.text)
    assert "Rosa" not in page.text and "Ramp" not in page.text

    filtered = client.get(f"{ADMIN}/audit", params={"action": "viewed access report"})
    assert re.findall(r"<td>(Viewed [a-z ]+|Took a ticket type off sale)</td>", filtered.text) == [
        "Viewed the access report"
    ]
    assert '<option value="viewed access report" selected>Viewed the access report</option>' in (
        filtered.text
    )
    assert client.get(f"{ADMIN}/audit", params={"action": "nonsense"}).status_code == 422
    assert client.get(f"{ADMIN}/audit", params={"page": "2"}).status_code == 200
