"""The door's screens on a 360-px phone in headless Chromium, saying the right thing: a search
result's Admit button whole, and none for a cancelled ticket; times in the conference's zone,
24-hour, whatever the phone's zone and locale; an unpaid ticket's ADMITTED as the conference
chose (desk, collect, silent), online and offline; INVALID, WRONG CONFERENCE, CANCELLED and
ALREADY IN with what to do next; and an undo on the dashboard that asks once, with JavaScript
and without. Each story runs against SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from confapp.accounts.service import find_user, principal_for
from confapp.checkin.service import admit, standing_checkin
from confapp.checkin.unpaid_at_door import UnpaidAtDoor, set_unpaid_at_door
from confapp.db import Database
from confapp.models import Checkin, Conference, PaymentStatus
from confapp.programme.conference_file import check_conference_data, load_conference_spec
from confapp.programme.queries import get_conference
from confapp.programme.synthetic import synthetic_conference_data
from confapp.registration.manage import Ticket
from confapp.registration.orders import save_payment_settings
from confapp.registration.payments import release_ended_holds
from confapp.registration.service import cancel_registration, set_payment_status
from confapp.tickets.admission import registration_by_code
from confapp.times import to_local, utcnow
from tests.support import DEMO
from tests.support.accounts import ORGANISER, PASSWORD, STEWARD, make_user
from tests.support.browser import assert_no_sideways_scroll, screenshot
from tests.support.registrations import register_person
from tests.support.servers import LiveServer, live_settings

ZONE = "Australia/Sydney"  # the demo conference's
PHONE = {"width": 360, "height": 740}
LAPTOP = {"width": 1280, "height": 800}
OTHER = "red-books-fair"
HOUR_MINUTE = re.compile(r"\b([01]\d|2[0-3]):[0-5]\d\b")


@pytest.fixture
def door_server(db: Database, demo: object) -> Iterator[LiveServer]:
    """The demo conference on a real HTTP server, in this test's database (either engine)."""
    make_user(db, STEWARD, "steward", DEMO)
    make_user(db, ORGANISER, "organiser", DEMO)
    with LiveServer(live_settings(db.url)) as server:
        yield server


def phone_page(browser: Browser, **options: Any) -> Page:
    return browser.new_context(viewport=PHONE, is_mobile=True, **options).new_page()


def ticket_for(db: Database, name: str, slug: str = DEMO, ticket_type: str = "waged") -> Ticket:
    email = f"{name.lower().replace(' ', '.').replace('-', '.')}@example.org"
    return register_person(db, slug, name=name, email=email, ticket_type=ticket_type).ticket


def demo_conference(db: Database) -> Conference:
    with db.read() as session:
        conference = get_conference(session, DEMO)
    assert conference is not None
    return conference


def door_says(db: Database, choice: UnpaidAtDoor) -> None:
    with db.transaction() as session:
        user = find_user(session, ORGANISER)
        assert user is not None
        set_unpaid_at_door(session, demo_conference(db), choice, principal_for(session, user))


def standing(db: Database, ticket: Ticket) -> Checkin | None:
    with db.read() as session:
        return standing_checkin(session, ticket.registration.id or 0)


def wall_clock(moment: datetime) -> str:
    return to_local(moment, ZONE).strftime("%H:%M")


def sign_in_at(page: Page, url: str, email: str) -> None:
    page.goto(url)  # anonymous: on to sign in, then back
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(url + "*")


def open_door(page: Page, server: LiveServer) -> None:
    sign_in_at(page, f"{server.url}/door/{DEMO}", STEWARD)
    door_ready(page)


def door_ready(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-ready", "yes")
    expect(page.locator("body")).to_have_attribute("data-offline-ready", "yes")


def check(page: Page, typed: str, word: str) -> None:
    """Type a code (or a ticket's token, as its QR code holds it) and wait for the answer."""
    if page.locator("#answer").is_visible():
        page.click("#answer-next")
    page.fill("#code", typed)
    page.click("#code-form button[type=submit]")
    expect(page.locator("#answer-word")).to_have_text(word, timeout=15_000)


def test_search_results_fit_a_phone_and_a_cancelled_ticket_offers_no_admit(
    door_server: LiveServer, db: Database, browser: Browser, tmp_path: Path
) -> None:
    ticket_for(db, "Rosa Luxemburg-Quillfeather-Montgomery")
    gone = ticket_for(db, "Rosa Cancelled-Early")
    assert cancel_registration(db, gone.registration.id or 0)
    page = phone_page(browser)
    open_door(page, door_server)
    for width in (360, 390):
        page.set_viewport_size({"width": width, "height": 740})
        page.fill("#search", "Rosa")
        page.click("#search-form button[type=submit]")
        expect(page.locator("#search-status")).to_have_text("2 found.")
        rows = page.locator("#search-results li")
        active = rows.filter(has_text="Montgomery")
        admit_button = active.get_by_role("button", name="Admit Rosa Luxemburg")
        expect(admit_button).to_have_text("Admit")
        box = admit_button.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
        assert admit_button.evaluate("b => b.scrollWidth <= b.clientWidth"), "its word is clipped"
        cancelled = rows.filter(has_text="Cancelled-Early")
        expect(cancelled.get_by_role("button")).to_have_count(0)
        expect(cancelled).to_contain_text("Cancelled: this ticket lets nobody in.")
        expect(cancelled).to_contain_text("Send them to the desk.")
        assert_no_sideways_scroll(page)
        screenshot(page, tmp_path, f"search-{width}")
    admit_button.click()
    expect(page.locator("#answer-word")).to_have_text("ADMITTED")


def test_search_treats_a_held_place_as_unpaid_and_an_ended_hold_as_refused_as_a_scan_does(
    door_server: LiveServer, db: Database, browser: Browser
) -> None:
    with db.transaction() as session:
        save_payment_settings(
            session,
            demo_conference(db).id or 0,
            methods=["bank_transfer", "desk"],
            bank_account_name="Socialism Conference",
            bank_bsb="062-000",
            bank_account_number="12345678",
        )
    register_person(
        db,
        name="Rosa Ended-Hold",
        email="ended@example.org",
        payment_method="bank_transfer",
        ticket_type="waged",
    )
    assert release_ended_holds(db, "", utcnow() + timedelta(days=8)).expired == 1
    register_person(
        db,
        name="Rosa Held-Place",
        email="held@example.org",
        payment_method="bank_transfer",
        ticket_type="waged",
    )
    page = phone_page(browser)
    open_door(page, door_server)
    page.fill("#search", "Rosa")
    page.click("#search-form button[type=submit]")
    expect(page.locator("#search-status")).to_have_text("2 found.")
    rows = page.locator("#search-results li")
    ended = rows.filter(has_text="Ended-Hold")
    expect(ended).to_contain_text("not paid in time")
    expect(ended.get_by_role("button")).to_have_count(0)
    expect(ended).to_contain_text("Not paid in time: this ticket lets nobody in.")
    held = rows.filter(has_text="Held-Place")
    expect(held).to_contain_text("not yet in, not paid yet")
    held.get_by_role("button", name="Admit Rosa Held-Place").click()
    expect(page.locator("#answer-word")).to_have_text("ADMITTED")
    expect(page.locator("#answer-payment")).to_have_text("Unpaid: send them to the desk.")


def test_door_times_are_the_conference_s_24_hour_clock_whatever_the_phone_s_zone(
    door_server: LiveServer, db: Database, browser: Browser
) -> None:
    rosa = ticket_for(db, "Rosa Luxemburg")
    clara = ticket_for(db, "Clara Zetkin")
    page = phone_page(browser, timezone_id="America/New_York", locale="en-US")
    open_door(page, door_server)
    assert page.evaluate("new Date(Date.UTC(2027, 6, 10, 3, 27)).toLocaleTimeString()") == (
        "11:27:00 PM"  # the phone's own clock: New York, 12-hour
    )

    check(page, rosa.code, "ADMITTED")
    check(page, rosa.code, "ALREADY IN")
    admitted = standing(db, rosa)
    assert admitted is not None
    in_at = wall_clock(admitted.admitted_at)
    expect(page.locator("#answer-detail")).to_contain_text(f"In at {in_at} by {STEWARD}")
    expect(page.locator("#answer")).not_to_contain_text("M by")  # no AM / PM
    page.click("#answer-next")
    page.fill("#search", "Rosa")
    page.click("#search-form button[type=submit]")
    expect(page.locator("#search-results")).to_contain_text(f"in at {in_at}")

    # Offline the phone keeps its own record of the time, and shows it on the same clock.
    page.context.set_offline(True)
    check(page, clara.token, "ADMITTED (offline)")
    check(page, clara.token, "ALREADY IN")
    shown = page.locator("#answer-detail p").first.inner_text()
    page.context.set_offline(False)
    expect(page.locator("#offline-banner")).to_have_attribute("data-queue", "0", timeout=15_000)
    synced = standing(db, clara)
    assert synced is not None
    assert shown == f"In at {wall_clock(synced.admitted_at)} on this device"
    assert HOUR_MINUTE.search(shown)


def test_an_unpaid_ticket_s_admitted_says_what_the_conference_chose_online_and_offline(
    door_server: LiveServer, db: Database, browser: Browser, tmp_path: Path
) -> None:
    lines = {
        UnpaidAtDoor.desk: "Unpaid: send them to the desk.",
        UnpaidAtDoor.collect: "Unpaid: take the payment now.",
        UnpaidAtDoor.silent: None,
    }
    page = phone_page(browser)
    open_door(page, door_server)
    payment = page.locator("#answer-payment")
    for choice, line in lines.items():
        online = ticket_for(db, f"Online {choice.value}")
        offline = ticket_for(db, f"Offline {choice.value}")
        door_says(db, choice)
        page.reload()  # the door takes the choice and the unpaid list when it loads
        door_ready(page)
        check(page, online.code, "ADMITTED")
        if line:
            expect(payment).to_have_text(line)
            screenshot(page, tmp_path, f"unpaid-{choice.value}")
        else:
            expect(payment).to_be_hidden()
        page.context.set_offline(True)
        check(page, offline.token, "ADMITTED (offline)")
        if line:
            expect(payment).to_have_text(line)
        else:
            expect(payment).to_be_hidden()
        page.context.set_offline(False)
        expect(page.locator("#offline-banner")).to_have_attribute("data-queue", "0", timeout=15_000)

    # A paid ticket is only ADMITTED, online and offline.
    door_says(db, UnpaidAtDoor.desk)
    paid_online, paid_offline = ticket_for(db, "Paid Online"), ticket_for(db, "Paid Offline")
    with db.transaction() as session:
        for ticket in (paid_online, paid_offline):
            registration = registration_by_code(session, ticket.registration.ticket_code)
            assert registration is not None
            set_payment_status(session, registration, PaymentStatus.paid)
    page.reload()
    door_ready(page)
    check(page, paid_online.code, "ADMITTED")
    expect(payment).to_be_hidden()
    page.context.set_offline(True)
    check(page, paid_offline.token, "ADMITTED (offline)")
    expect(payment).to_be_hidden()


def test_refusals_say_what_the_steward_does_next(
    door_server: LiveServer, db: Database, browser: Browser, tmp_path: Path
) -> None:
    data = synthetic_conference_data(slug=OTHER, sessions=3, rooms=1, days=1)
    data["conference"]["name"] = "Red Books Fair"
    data["ticket_types"] = [{"code": "waged", "name": "Waged", "price": 50}]
    with db.transaction() as session:
        load_conference_spec(session, check_conference_data(data))
    theirs = ticket_for(db, "Ernst Thalmann", slug=OTHER)
    gone = ticket_for(db, "Gone Away")
    assert cancel_registration(db, gone.registration.id or 0)
    rosa = ticket_for(db, "Rosa Luxemburg")
    page = phone_page(browser)
    open_door(page, door_server)
    step = page.locator("#answer-next-step")

    check(page, "not-a-ticket-of-ours", "INVALID")
    expect(step).to_contain_text("Not a ticket of ours, or damaged.")
    expect(step).to_contain_text("search by name or code; if in doubt, send them to the desk.")
    screenshot(page, tmp_path, "invalid")
    check(page, theirs.code, "WRONG CONFERENCE")
    expect(step).to_have_text(
        "This ticket is for Red Books Fair, not for this conference. Send them to the desk."
    )
    screenshot(page, tmp_path, "wrong-conference")
    check(page, gone.code, "CANCELLED")
    expect(step).to_contain_text("This ticket was cancelled and lets nobody in.")
    check(page, rosa.code, "ADMITTED")
    expect(step).to_be_hidden()
    check(page, rosa.code, "ALREADY IN")
    expect(step).to_contain_text("If they went out and are coming back, let them through")
    assert_no_sideways_scroll(page)

    page.context.set_offline(True)  # the device alone cannot name the other conference
    check(page, theirs.token, "WRONG CONFERENCE")
    expect(step).to_have_text("This ticket is for another conference. Send them to the desk.")
    check(page, "not-a-ticket-of-ours", "INVALID")
    expect(step).to_contain_text("Not a ticket of ours, or damaged.")


def admitted_now(db: Database, ticket: Ticket) -> None:
    with db.transaction() as session:
        user = find_user(session, STEWARD)
        assert user is not None
        answer = admit(
            session,
            demo_conference(db),
            ticket.token,
            principal_for(session, user),
            now=datetime.now(UTC),
        )
    assert answer.result.value == "admitted"


def test_an_undo_on_the_dashboard_asks_once_with_javascript_and_without(
    door_server: LiveServer, db: Database, browser: Browser, tmp_path: Path
) -> None:
    rosa, clara = ticket_for(db, "Rosa Luxemburg"), ticket_for(db, "Clara Zetkin")
    admitted_now(db, rosa)
    admitted_now(db, clara)
    dashboard = f"{door_server.url}/admin/{DEMO}/door"

    # The dashboard is an organiser's page, used on a laptop.
    page = browser.new_context(viewport=LAPTOP).new_page()
    sign_in_at(page, dashboard, ORGANISER)
    undo_rosa = page.locator("form.undo-form").filter(has_text=rosa.code).get_by_role("button")
    undo_rosa.click()
    expect(undo_rosa).to_contain_text("Yes, undo")  # the first tap only asks
    assert standing(db, rosa) is not None
    screenshot(page, tmp_path, "undo-asks")
    undo_rosa.click()
    page.wait_for_url("**/door?done=undone*")
    expect(page.get_by_role("status")).to_contain_text("Admission undone")
    assert standing(db, rosa) is None and standing(db, clara) is not None

    no_script = browser.new_context(viewport=LAPTOP, java_script_enabled=False).new_page()
    sign_in_at(no_script, dashboard, ORGANISER)
    no_script.locator("form.undo-form").filter(has_text=clara.code).get_by_role("button").click()
    expect(no_script.locator("h1")).to_have_text("Undo this admission?")
    expect(no_script.locator("dl.facts")).to_contain_text("Clara Zetkin")
    screenshot(no_script, tmp_path, "undo-confirm")
    assert standing(db, clara) is not None  # asking changed nothing
    no_script.get_by_role("button", name="Yes, undo").click()
    no_script.wait_for_url("**/door?done=undone*")
    expect(no_script.get_by_role("status")).to_contain_text("Admission undone")
    assert standing(db, clara) is None
