"""An organiser makes vouchers in the back office: a code for each speaker by e-mail, a block of
places for a union branch, mistakes named beside their field; lists them by tag, downloads
them, withdraws one."""

from __future__ import annotations

import csv
import io
import re
import tomllib

from sqlmodel import select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import OutboxMail, Registration, Voucher
from confapp.programme.conference_file import check_conference_data as spec_of
from confapp.programme.export import export_conference
from tests.support import DEMO
from tests.support.accounts import audit_actions, sign_in_organiser
from tests.support.databases import count
from tests.support.pages import field_error, input_value
from tests.support.registrations import places_left

PAGE = f"/admin/{DEMO}/vouchers"


def test_an_organiser_mails_each_speaker_a_code_and_lists_them_by_tag(
    client: TestClient, db: Database
) -> None:
    token = sign_in_organiser(client, db)
    made = client.post(
        PAGE,
        data={
            "csrf_token": token,
            "tag": "speakers",
            "emails": "angela@example.org\nkeeanga@example.org",
            "effect": "free",
            "max_uses": "1",
        },
        follow_redirects=True,
    )
    assert made.status_code == 200
    assert "2 vouchers made." in made.text
    assert count(db, OutboxMail) == 2
    assert "angela@example.org" in made.text

    listing = client.get(PAGE, params={"tag": "speakers"})
    assert listing.text.count("<code>") == 2
    download = client.get(f"{PAGE}.csv", params={"tag": "speakers"})
    rows = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert {row["sent_to"] for row in rows} == {"angela@example.org", "keeanga@example.org"}
    assert all(row["effect"] == "free" and row["uses"] == "0" for row in rows)
    assert "exported vouchers" in audit_actions(db)


def test_a_mistake_is_named_beside_its_field_and_what_was_typed_is_kept(
    client: TestClient, db: Database
) -> None:
    token = sign_in_organiser(client, db)
    page = client.post(
        PAGE,
        data={
            "csrf_token": token,
            "tag": "CFMEU branch",
            "count": "3",
            "effect": "minus_percent",
            "value": "150",
            "holds_places": "yes",
        },
    )
    assert page.status_code == 422
    assert "percentage" in field_error(page.text, "value")
    assert "one ticket type" in field_error(page.text, "ticket_type")
    assert input_value(page.text, "tag") == "CFMEU branch"
    assert input_value(page.text, "count") == "3"
    assert count(db, Voucher) == 0


def test_a_block_for_a_union_branch_keeps_its_places_until_withdrawn(
    client: TestClient, db: Database
) -> None:
    token = sign_in_organiser(client, db)
    before = places_left(client, "concession")
    assert before is not None
    made = client.post(
        PAGE,
        data={
            "csrf_token": token,
            "tag": "CFMEU branch",
            "code": "cfmeu 2027",
            "max_uses": "50",
            "ticket_type": "concession",
            "holds_places": "yes",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    assert places_left(client, "concession") == before - 50
    with db.read() as session:
        voucher = session.exec(select(Voucher)).one()
    assert voucher.code == "CFMEU2027"

    taken = client.post(PAGE, data={"csrf_token": token, "code": "CFMEU2027"})
    assert taken.status_code == 422
    assert "already" in field_error(taken.text, "code")

    withdrawn = client.post(
        f"{PAGE}/{voucher.id}/withdraw", data={"csrf_token": token}, follow_redirects=False
    )
    assert withdrawn.status_code == 303
    assert places_left(client, "concession") == before
    assert "Withdrawn" in client.get(PAGE).text
    assert {"created vouchers", "withdrew voucher"} <= set(audit_actions(db))


def test_a_ticket_type_only_sold_with_a_voucher_is_hidden_and_kept_in_the_conference_file(
    client: TestClient, db: Database
) -> None:
    token = sign_in_organiser(client, db)
    added = client.post(
        f"/admin/{DEMO}/settings/ticket-types/new",
        data={
            "csrf_token": token,
            "code": "speaker",
            "name": "Speaker",
            "kind": "free",
            "requires_voucher": "yes",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    offered = client.get(f"/api/{DEMO}/ticket-types").json()["ticket_types"]
    assert "speaker" not in [t["code"] for t in offered]
    editor = client.get(f"/admin/{DEMO}/settings/ticket-types/speaker")
    assert re.search(r'id="requires_voucher"[^>]*checked', editor.text)

    with db.read() as session:
        exported = tomllib.loads(export_conference(session, DEMO))
    speaker = next(t for t in exported["ticket_types"] if t["code"] == "speaker")
    assert speaker["requires_voucher"] is True
    assert spec_of(exported).ticket_types[-1].requires_voucher


def test_the_desk_redeems_a_voucher_of_the_union_block_at_its_price(
    client: TestClient, db: Database
) -> None:
    token = sign_in_organiser(client, db)
    client.post(
        PAGE,
        data={
            "csrf_token": token,
            "code": "BRANCH",
            "max_uses": "2",
            "ticket_type": "waged",
            "effect": "set_price",
            "value": "20",
        },
    )
    person = {"csrf_token": token, "name": "Nadia", "ticket_type": "waged"}
    wrong = client.post(f"/admin/{DEMO}/desk", data={**person, "voucher": "BRANCHX"})
    assert wrong.status_code == 422
    assert "no such voucher" in field_error(wrong.text, "voucher")
    assert input_value(wrong.text, "voucher") == "BRANCHX"
    assert input_value(wrong.text, "name") == "Nadia"

    done = client.post(f"/admin/{DEMO}/desk", data={**person, "voucher": "branch"})
    assert done.status_code == 200, done.text
    with db.read() as session:
        voucher = session.exec(select(Voucher)).one()
        registration = session.exec(
            select(Registration).where(Registration.voucher_id == voucher.id)
        ).one()
    assert voucher.uses == 1
    assert (registration.name, registration.amount_cents) == ("Nadia", 2000)
