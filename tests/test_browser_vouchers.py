"""A speaker registers on her phone with the code the organisers mailed her: a wrong code is
named beside its box, the right one opens the speaker ticket the public never sees, and she
lands on her own ticket page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect
from sqlmodel import select

from confapp.db import Database
from confapp.models import Conference, Registration, TicketKind, TicketType, Voucher
from confapp.registration.voucher_setup import VoucherSpec, create_vouchers
from tests.support.browser import assert_no_sideways_scroll, screenshot

SLUG = "socialism-2027"


def speaker_voucher(database_url: str) -> str:
    """A free ticket type only sold with a voucher, and a one-use voucher for it."""
    db = Database(database_url)
    try:
        with db.transaction() as session:
            conference = session.exec(select(Conference).where(Conference.slug == SLUG)).one()
            assert conference.id is not None
            conference_id = conference.id
            speakers = TicketType(
                conference_id=conference_id,
                code="speaker",
                name="Speaker",
                kind=TicketKind.free.value,
                requires_voucher=True,
            )
            session.add(speakers)
            session.flush()
            assert speakers.id is not None
            speakers_id = speakers.id
        spec = VoucherSpec(ticket_type_ids=(speakers_id,), tag="speakers")
        (voucher,) = create_vouchers(db, conference_id, spec, "organiser@example.org", None)
        return voucher.code
    finally:
        db.dispose()


def test_a_speaker_registers_on_her_phone_with_her_code(
    phone: Page, live_server: Any, sqlite_url: str, tmp_path: Path
) -> None:
    code = speaker_voucher(sqlite_url)
    phone.goto(f"{live_server.url}/{SLUG}/register")
    expect(phone.get_by_role("radio", name=re.compile(r"^Speaker"))).to_have_count(0)

    phone.get_by_label("Voucher code").fill("WRONG-CODE")
    phone.get_by_role("button", name="Use this code").click()
    expect(phone.locator("#voucher-error")).to_contain_text("no such voucher code")
    expect(phone.get_by_label("Voucher code")).to_have_value("WRONG-CODE")

    phone.get_by_label("Voucher code").fill(code.lower())
    phone.get_by_role("button", name="Use this code").click()
    expect(phone.locator("#voucher-applied")).to_have_text("This code opens Speaker.")
    assert_no_sideways_scroll(phone)
    screenshot(phone, tmp_path, "register-with-voucher")

    phone.get_by_role("radio", name=re.compile(r"^Speaker")).check()
    phone.get_by_label("Name", exact=True).fill("Angela Davis")
    phone.get_by_label("E-mail", exact=True).fill("angela@example.org")
    phone.get_by_role("button", name="Register").click()
    expect(phone).to_have_url(re.compile(r"/my-ticket/[A-Za-z0-9_-]{43}\?new=1$"))
    expect(phone.get_by_text("Angela Davis").first).to_be_visible()

    db = Database(sqlite_url)
    try:
        with db.read() as session:
            voucher = session.exec(select(Voucher)).one()
            registration = session.exec(select(Registration)).one()
        assert voucher.uses == 1 and registration.voucher_id == voucher.id
    finally:
        db.dispose()
