"""Vouchers: tickets not on public sale (speakers, press), lower prices for those who need them,
and blocks of places held for a union branch, redeemed as race-proof as places are sold."""

from __future__ import annotations

import functools
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import anyio
import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import (
    Conference,
    Registration,
    TicketKind,
    TicketType,
    Voucher,
    VoucherEffect,
    utcnow,
)
from confapp.outbox import send_due_mail
from confapp.programme.conference_file import LoadReport
from confapp.registration.service import cancel_registration
from confapp.registration.voucher_setup import (
    VoucherSpec,
    create_vouchers,
    release_ended_vouchers,
    withdraw_voucher,
)
from confapp.settings import Settings
from tests.support import DEMO
from tests.support.databases import count
from tests.support.mail import Mailbox
from tests.support.pages import field_error
from tests.support.registrations import address_of, places_left, registration_id
from tests.support.servers import LiveServer, live_settings, post_json

ORGANISER = "organiser@example.org"


def demo_id(db: Database) -> int:
    with db.read() as session:
        conference = session.exec(select(Conference).where(Conference.slug == DEMO)).one()
        assert conference.id is not None
        return conference.id


def type_id(db: Database, code: str) -> int:
    with db.read() as session:
        found = session.exec(select(TicketType).where(TicketType.code == code)).one()
        assert found.id is not None
        return found.id


def add_speakers_ticket(db: Database) -> int:
    """A free ticket type the public never sees: speakers get it through their vouchers."""
    with db.transaction() as session:
        speakers = TicketType(
            conference_id=demo_id(db),
            code="speaker",
            name="Speaker",
            kind=TicketKind.free.value,
            requires_voucher=True,
            sort_order=99,
        )
        session.add(speakers)
        session.flush()
        assert speakers.id is not None
        return speakers.id


def make_voucher(db: Database, **spec: Any) -> str:
    (voucher,) = create_vouchers(db, demo_id(db), VoucherSpec(**spec), ORGANISER, None)
    return voucher.code


def register_with(client: TestClient, name: str, ticket_type: str, voucher: str) -> Any:
    body = {"name": name, "email": address_of(name), "ticket_type": ticket_type}
    return client.post(f"/api/{DEMO}/registrations", json={**body, "voucher": voucher})


def public_types(client: TestClient) -> list[str]:
    return [t["code"] for t in client.get(f"/api/{DEMO}/ticket-types").json()["ticket_types"]]


def test_a_speaker_ticket_is_hidden_from_the_public_and_opened_by_its_voucher(
    client: TestClient, db: Database
) -> None:
    speakers = add_speakers_ticket(db)
    code = make_voucher(db, ticket_type_ids=(speakers,), tag="speakers")
    assert "speaker" not in public_types(client)
    assert 'value="speaker"' not in client.get(f"/{DEMO}/register").text

    refused = client.post(
        f"/api/{DEMO}/registrations",
        json={"name": "Nobody", "email": "nobody@example.org", "ticket_type": "speaker"},
    )
    assert refused.status_code == 422
    assert "ticket_type" in refused.json()["fields"]

    page = client.get(f"/{DEMO}/register", params={"voucher": code.lower()})
    assert page.status_code == 200
    assert 'value="speaker"' in page.text
    assert "This code opens Speaker." in page.text

    answer = register_with(client, "Angela Davis", "speaker", code.lower())
    assert answer.status_code == 201, answer.text
    with db.read() as session:
        registration = session.get(Registration, registration_id(db, answer.json()["ticket"]))
        assert registration is not None and registration.ticket_type_id == speakers
        voucher = session.exec(select(Voucher).where(Voucher.code == code)).one()
        assert registration.voucher_id == voucher.id and voucher.uses == 1

    again = register_with(client, "Someone Else", "speaker", code)
    assert again.status_code == 422
    assert again.json()["fields"]["voucher"] == "This voucher code has been used up."


def test_a_voucher_changes_the_price_as_it_says(client: TestClient, db: Database) -> None:
    waged = type_id(db, "waged")
    half = make_voucher(db, effect=VoucherEffect.minus_percent.value, value=5000, max_uses=5)
    ten_off = make_voucher(db, effect=VoucherEffect.minus_amount.value, value=1000, max_uses=5)
    twenty = make_voucher(
        db, effect=VoucherEffect.set_price.value, value=2000, ticket_type_ids=(waged,)
    )
    paid = {}
    for name, code in [("Half Price", half), ("Ten Off", ten_off), ("Set Price", twenty)]:
        answer = register_with(client, name, "waged", code)
        assert answer.status_code == 201, answer.text
        with db.read() as session:
            found = session.get(Registration, registration_id(db, answer.json()["ticket"]))
            assert found is not None
            paid[name] = found.amount_cents
    assert paid == {"Half Price": 4750, "Ten Off": 8500, "Set Price": 2000}


def test_a_code_for_another_ticket_or_an_unknown_code_is_named_beside_the_field(
    client: TestClient, db: Database
) -> None:
    code = make_voucher(db, ticket_type_ids=(type_id(db, "concession"),))
    wrong_type = register_with(client, "Rosa", "waged", code)
    assert wrong_type.status_code == 422
    assert "voucher" in wrong_type.json()["fields"]

    unknown = register_with(client, "Rosa", "waged", "NOSUCHCODE")
    assert unknown.status_code == 422
    assert "no such voucher" in unknown.json()["fields"]["voucher"]

    form = client.post(
        f"/{DEMO}/register",
        data={"name": "Rosa", "email": "rosa@example.org", "ticket_type": "waged", "voucher": "X1"},
    )
    assert form.status_code == 422
    assert "no such voucher" in field_error(form.text, "voucher")
    assert count(db, Registration) == 0


def test_a_block_of_places_is_held_for_a_union_branch_until_used_or_withdrawn(
    client: TestClient, db: Database
) -> None:
    concession = type_id(db, "concession")
    before = places_left(client, "concession")
    assert before is not None
    code = make_voucher(
        db, ticket_type_ids=(concession,), max_uses=10, holds_places=True, tag="CFMEU branch"
    )
    assert places_left(client, "concession") == before - 10

    for name in ["Joe Hill", "Mother Jones"]:
        assert register_with(client, name, "concession", code).status_code == 201
    assert places_left(client, "concession") == before - 10  # theirs were held already

    ticket = register_with(client, "Big Bill", "concession", code).json()["ticket"]
    cancel_registration(db, registration_id(db, ticket))  # the use goes back to the block
    assert places_left(client, "concession") == before - 10
    with db.read() as session:
        assert session.exec(select(Voucher.uses).where(Voucher.code == code)).one() == 2

    with db.read() as session:
        voucher_id = session.exec(select(Voucher.id).where(Voucher.code == code)).one()
    assert withdraw_voucher(db, demo_id(db), voucher_id, ORGANISER, None)
    assert places_left(client, "concession") == before - 2  # the two tickets keep theirs
    assert not withdraw_voucher(db, demo_id(db), voucher_id, ORGANISER, None)
    assert places_left(client, "concession") == before - 2
    assert register_with(client, "Late Comer", "concession", code).status_code == 422


def test_the_unused_places_of_an_expired_block_go_back_once(
    client: TestClient, db: Database
) -> None:
    before = places_left(client, "waged")
    assert before is not None
    make_voucher(
        db,
        ticket_type_ids=(type_id(db, "waged"),),
        max_uses=4,
        holds_places=True,
        valid_until=utcnow() + timedelta(hours=1),
    )
    assert places_left(client, "waged") == before - 4
    assert release_ended_vouchers(db) == 0
    later = utcnow() + timedelta(hours=2)
    assert release_ended_vouchers(db, later) == 4
    assert release_ended_vouchers(db, later) == 0
    assert places_left(client, "waged") == before


def test_vouchers_sent_to_a_list_of_addresses_each_get_their_own_code_by_mail(
    mail_client: TestClient, db: Database, settings: Settings, mailbox: Mailbox
) -> None:
    addresses = ("press1@example.org", "press2@example.org", "press3@example.org")
    made = create_vouchers(
        db, demo_id(db), VoucherSpec(emails=addresses, tag="press"), ORGANISER, None
    )
    assert len({voucher.code for voucher in made}) == 3
    smtp = settings.with_overrides(smtp_host="127.0.0.1", smtp_port=mailbox.port)
    anyio.run(functools.partial(send_due_mail, db, smtp))
    mails = {str(m["To"]): m for m in mailbox.messages}
    assert set(mails) == set(addresses)
    for voucher in made:
        body = mails[voucher.sent_to].get_body(("plain",))
        assert body is not None and voucher.code in body.get_content()
    link = mailbox.link(f"/{DEMO}/register?voucher=")
    form = mail_client.get(link)
    assert form.status_code == 200
    assert "voucher-applied" in form.text


@pytest.mark.parametrize("people", [20])
def test_a_voucher_of_one_use_redeemed_by_many_at_once_gives_one_ticket(
    db: Database, demo: LoadReport, people: int
) -> None:
    with LiveServer(live_settings(db.url)) as server:
        speakers = add_speakers_ticket(db)
        code = make_voucher(db, ticket_type_ids=(speakers,))
        url = f"{server.url}/api/{DEMO}/registrations"
        bodies = [
            {
                "name": f"Person {n}",
                "email": f"p{n}@example.org",
                "ticket_type": "speaker",
                "voucher": code,
            }
            for n in range(people)
        ]
        with ThreadPoolExecutor(max_workers=people) as pool:
            answers = list(pool.map(lambda body: post_json(url, body), bodies))

    statuses = Counter(status for status, _ in answers)
    assert statuses[201] == 1
    assert statuses[201] + statuses[409] + statuses[422] == people
    refused = [body for status, body in answers if status != 201]
    assert all("voucher" in body["fields"] for body in refused)
    assert count(db, Registration) == 1
    with db.read() as session:
        assert session.exec(select(Voucher.uses).where(Voucher.code == code)).one() == 1


def test_the_ticket_types_api_lists_what_a_code_offers(client: TestClient, db: Database) -> None:
    speakers = add_speakers_ticket(db)
    code = make_voucher(db, ticket_type_ids=(speakers,))
    offered = client.get(f"/api/{DEMO}/ticket-types", params={"voucher": code}).json()
    by_code = {t["code"]: t for t in offered["ticket_types"]}
    assert by_code["speaker"]["voucher_price_cents"] == 0
    assert by_code["waged"]["voucher_price_cents"] is None

    unknown = client.get(f"/api/{DEMO}/ticket-types", params={"voucher": "NOPE"})
    assert unknown.status_code == 422
    assert "voucher" in unknown.json()["fields"]


def test_a_block_that_took_the_last_places_still_lets_its_own_people_in(
    client: TestClient, db: Database
) -> None:
    left = places_left(client, "free")
    assert left is not None
    code = make_voucher(
        db, ticket_type_ids=(type_id(db, "free"),), max_uses=left, holds_places=True
    )
    assert places_left(client, "free") == 0
    public = register_with(client, "Walk In", "free", "")
    assert public.status_code == 409 and public.json()["error"] == "sold_out"
    assert register_with(client, "Branch Member", "free", code).status_code == 201
