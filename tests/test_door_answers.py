"""What the door's answers tell a steward, as plain functions (no HTTP): an unpaid ticket's
payment state and the conference's word on it, where a ticket of another conference belongs,
the unpaid list an offline door keeps, organisers choosing what the door says (audited), and
the admission an undo asks about. Then the same through the settings page and the JSON API."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select
from starlette.testclient import TestClient

from confapp.accounts.service import Principal, find_user, principal_for
from confapp.checkin.service import (
    NothingToUndo,
    Result,
    UnknownTicket,
    admission_to_undo,
    admit,
    answer_without_admitting,
    standing_checkin,
)
from confapp.checkin.unpaid_at_door import (
    UnpaidAtDoor,
    check_unpaid_at_door,
    set_unpaid_at_door,
    unpaid_tickets,
)
from confapp.db import Database
from confapp.models import AuditEntry, Conference, PaymentStatus
from confapp.programme.conference_file import check_conference_data, load_conference_spec
from confapp.programme.queries import get_conference
from confapp.programme.synthetic import synthetic_conference_data
from confapp.registration.manage import Ticket
from confapp.registration.privacy import erase_attendee
from confapp.registration.service import cancel_registration, set_payment_status
from confapp.tickets.admission import registration_by_code
from tests.support import DEMO
from tests.support.accounts import (
    ORGANISER,
    STEWARD,
    api_token,
    make_user,
    sign_in_organiser,
)
from tests.support.openapi_contract import assert_matches_contract
from tests.support.registrations import register_person

NOW = datetime(2027, 7, 10, 3, 27, tzinfo=UTC)  # 13:27 in Sydney
OTHER = "other-door"


def person(db: Database, email: str) -> Principal:
    with db.read() as session:
        user = find_user(session, email)
        assert user is not None
        return principal_for(session, user)


def demo_conference(db: Database) -> Conference:
    with db.read() as session:
        conference = get_conference(session, DEMO)
    assert conference is not None
    return conference


def ticket_for(db: Database, name: str, ticket_type: str = "waged") -> Ticket:
    email = f"{name.lower().replace(' ', '.')}@example.org"
    return register_person(db, name=name, email=email, ticket_type=ticket_type).ticket


def mark(db: Database, ticket: Ticket, status: PaymentStatus) -> None:
    with db.transaction() as session:
        registration = registration_by_code(session, ticket.registration.ticket_code)
        assert registration is not None
        set_payment_status(session, registration, status)


def door_says(db: Database, choice: UnpaidAtDoor) -> None:
    make_user(db, "chooser@example.org", "organiser", DEMO)
    with db.transaction() as session:
        set_unpaid_at_door(session, demo_conference(db), choice, person(db, "chooser@example.org"))


def scan(db: Database, ticket: Ticket | str) -> dict:
    text = ticket if isinstance(ticket, str) else ticket.token
    with db.transaction() as session:
        answer = admit(session, demo_conference(db), text, person(db, STEWARD), now=NOW)
    return answer.document("Australia/Sydney")


def test_an_unpaid_ticket_is_admitted_with_its_payment_state_and_the_conference_s_word(
    db: Database, demo: object
) -> None:
    make_user(db, STEWARD, "steward", DEMO)
    rosa = ticket_for(db, "Rosa Luxemburg")  # waged: to be paid
    answer = scan(db, rosa)
    assert answer["result"] == "admitted"
    assert answer["payment_status"] == "unpaid"
    assert answer["unpaid_at_door"] == "desk"  # the default: send them to the desk
    assert answer["admitted_at"] == "2027-07-10T13:27:00+10:00"

    clara = ticket_for(db, "Clara Zetkin")
    mark(db, clara, PaymentStatus.paid)
    door_says(db, UnpaidAtDoor.collect)
    paid = scan(db, clara)
    assert (paid["payment_status"], paid["unpaid_at_door"]) == ("paid", "collect")
    # A scan that admits nobody carries the same, read without a write transaction.
    with db.read() as session:
        again = answer_without_admitting(session, demo_conference(db), rosa.token)
    assert again is not None and again.result is Result.already_admitted
    assert again.document("UTC")["payment_status"] == "unpaid"
    assert again.document("UTC")["unpaid_at_door"] == "collect"


def test_a_ticket_of_another_conference_says_which_one_it_is_for(
    db: Database, demo: object
) -> None:
    make_user(db, STEWARD, "steward", DEMO)
    data = synthetic_conference_data(slug=OTHER, sessions=3, rooms=1, days=1)
    data["conference"]["name"] = "Red Books Fair"
    data["ticket_types"] = [{"code": "waged", "name": "Waged", "price": 50}]
    with db.transaction() as session:
        load_conference_spec(session, check_conference_data(data))
    with db.read() as session:
        other = get_conference(session, OTHER)
        assert other is not None
    email = "ernst@example.org"
    theirs = register_person(db, OTHER, name="Ernst", email=email, ticket_type="waged").ticket
    for text in (theirs.token, theirs.code):
        answer = scan(db, text)
        assert answer["result"] == "wrong_conference"
        assert answer["other_conference"] == "Red Books Fair"
        assert answer["attendee"] is None and answer["payment_status"] is None
    forged = scan(db, "not-a-ticket-at-all")
    assert forged["result"] == "invalid" and forged["other_conference"] is None


def test_an_offline_door_keeps_the_active_unpaid_tickets_unless_the_door_says_nothing(
    db: Database, demo: object
) -> None:
    unpaid = ticket_for(db, "Rosa Luxemburg")
    paid = ticket_for(db, "Clara Zetkin")
    mark(db, paid, PaymentStatus.paid)
    free = ticket_for(db, "Free Person", ticket_type="free")  # nothing to pay: waived
    cancelled = ticket_for(db, "Gone Away")
    assert cancel_registration(db, cancelled.registration.id or 0)
    erased = ticket_for(db, "Rub Out")
    assert erase_attendee(db, erased.registration.id or 0)

    with db.read() as session:
        kept = unpaid_tickets(session, demo_conference(db)).document()
    assert kept["unpaid_at_door"] == "desk"
    assert kept["unpaid"] == [unpaid.code]  # grouped, as everywhere in JSON
    assert paid.code not in kept["unpaid"] and free.code not in kept["unpaid"]

    door_says(db, UnpaidAtDoor.silent)
    with db.read() as session:
        silent = unpaid_tickets(session, demo_conference(db)).document()
    assert silent["unpaid_at_door"] == "silent" and silent["unpaid"] == []


def test_organisers_choose_what_the_door_says_and_the_change_is_audited(
    db: Database, demo: object
) -> None:
    assert check_unpaid_at_door("collect") == (UnpaidAtDoor.collect, "")
    choice, problem = check_unpaid_at_door("shout")
    assert choice is None and "send them to the desk" in problem
    door_says(db, UnpaidAtDoor.collect)
    assert demo_conference(db).unpaid_at_door == "collect"
    with db.transaction() as session:  # the same again changes nothing
        assert not set_unpaid_at_door(
            session, demo_conference(db), UnpaidAtDoor.collect, person(db, "chooser@example.org")
        )
    with db.read() as session:
        entries = session.exec(
            select(AuditEntry).where(AuditEntry.action == "changed door settings")
        ).all()
    assert [entry.detail for entry in entries] == ["unpaid_at_door desk→collect"]


def test_an_undo_first_shows_the_admission_it_would_undo_and_changes_nothing(
    db: Database, demo: object
) -> None:
    make_user(db, STEWARD, "steward", DEMO)
    rosa = ticket_for(db, "Rosa Luxemburg")
    scan(db, rosa)
    with db.read() as session:
        asked = admission_to_undo(session, demo_conference(db), rosa.code.lower())
        assert standing_checkin(session, rosa.registration.id or 0) is not None
    assert (asked.ticket_code, asked.name, asked.ticket_type) == (
        rosa.code,
        "Rosa Luxemburg",
        "Waged",
    )
    assert asked.admitted_at == NOW and asked.by == STEWARD
    clara = ticket_for(db, "Clara Zetkin")
    with db.read() as session:
        for code, refusal in ((clara.code, NothingToUndo), ("AAAA-BBBB-CCCCC", UnknownTicket)):
            try:
                admission_to_undo(session, demo_conference(db), code)
            except refusal:
                continue
            raise AssertionError(f"{code} should be refused with {refusal.__name__}")


# --- the same through the back office and the JSON API --------------------------------------


def test_an_organiser_sets_the_door_s_word_on_the_settings_page_and_a_bad_choice_is_kept(
    client: TestClient, db: Database
) -> None:
    csrf = sign_in_organiser(client, db)
    page = client.get(f"/admin/{DEMO}/settings")
    assert 'id="unpaid_at_door-desk" name="unpaid_at_door" value="desk" checked' in page.text
    refused = client.post(
        f"/admin/{DEMO}/settings/door", data={"csrf_token": csrf, "unpaid_at_door": "shout"}
    )
    assert refused.status_code == 422
    assert 'id="unpaid_at_door-error"' in refused.text  # the message beside the field
    assert 'aria-invalid="true"' in refused.text
    assert "checked" not in refused.text.split('id="unpaid_at_door"', 1)[1].split("</fieldset>")[0]
    assert 'id="registration-open" name="registration" value="open" checked' in refused.text
    saved = client.post(
        f"/admin/{DEMO}/settings/door",
        data={"csrf_token": csrf, "unpaid_at_door": "collect"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    after = client.get(saved.headers["location"])
    assert "the door says this about unpaid tickets" in after.text
    assert 'value="collect" checked' in after.text
    assert demo_conference(db).unpaid_at_door == "collect"


def test_a_steward_s_device_fetches_the_unpaid_list_as_documented(
    client: TestClient, db: Database
) -> None:
    make_user(db, STEWARD, "steward", DEMO)
    make_user(db, ORGANISER, "organiser", DEMO)
    rosa = ticket_for(db, "Rosa Luxemburg")
    path = f"/api/{DEMO}/door/unpaid-tickets"
    answer = client.get(path, headers={"authorization": f"Bearer {api_token(db, STEWARD)}"})
    assert answer.status_code == 200
    assert_matches_contract("get", "/api/{conference}/door/unpaid-tickets", answer)
    assert answer.json()["unpaid"] == [rosa.code]
    assert answer.json()["conference_id"] == demo_conference(db).id
    make_user(db, "attendee-helper@example.org", "access-coordinator", DEMO)
    token = api_token(db, "attendee-helper@example.org")
    assert client.get(path, headers={"authorization": f"Bearer {token}"}).status_code == 403
