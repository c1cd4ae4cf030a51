"""Registering on a phone in a real browser: fixing a mistake, getting a ticket that scans.

The QR code is read back from what the browser actually painted (a screenshot of the `img`),
so the test catches a code that is cropped, blurred or scaled below what a door phone can read.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Locator, Page, expect

SLUG = "socialism-2027"
TICKET_URL = re.compile(r"/tickets/[A-Za-z0-9_-]{99}$")

NAME = "Rosa Quillfeather"
BAD_EMAIL = "rosa@@example"
EMAIL = "rosa.quillfeather@example.org"
ACCESS_NEEDS = "Step-free route please, and a seat near the front (hearing)."


def screenshot(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_no_sideways_scroll(page: Page) -> None:
    # Against the page's own width, not window.innerWidth: in a mobile context Chromium widens
    # the layout viewport (and innerWidth with it) to fit content that is too wide.
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


def fact(page: Page, term: str) -> Locator:
    """The <dd> that follows the <dt> called `term` on the ticket."""
    return page.locator(f"dl.facts dt:text-is('{term}') + dd")


def assert_message_beside(page: Page, field_id: str, words: str) -> None:
    """The field's message is in the field's own block, just above its box, and tied to it."""
    field = page.locator(f"#{field_id}")
    message = page.locator(f"#{field_id}-error")
    expect(message).to_be_visible()
    expect(message).to_contain_text(words)
    expect(page.locator(".field", has=field).locator(f"#{field_id}-error")).to_have_count(1)
    expect(field).to_have_attribute("aria-invalid", "true")
    described_by = (field.get_attribute("aria-describedby") or "").split()
    assert f"{field_id}-error" in described_by, described_by
    field_box, message_box = field.bounding_box(), message.bounding_box()
    assert field_box and message_box
    gap = field_box["y"] - (message_box["y"] + message_box["height"])
    assert 0 <= gap <= 24, f"the message for {field_id} is {gap}px away from its box"


def decode_qr(png: Path) -> str:
    found = zxingcpp.read_barcodes(Image.open(png))
    assert found, f"no QR code could be read from {png}"
    return found[0].text


@pytest.mark.browser
def test_person_on_a_phone_fixes_a_mistake_and_gets_a_ticket_that_scans(
    phone: Page, live_server: Any, tmp_path: Path
) -> None:
    phone.goto(f"{live_server.url}/{SLUG}/register")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Register for Socialism 2027")
    assert_no_sideways_scroll(phone)
    screenshot(phone, tmp_path, "register-phone")

    # She picks pay-what-you-can but types less than the minimum, and mistypes her address.
    pay_what_you_can = phone.get_by_role("radio", name=re.compile(r"^Pay what you can"))
    pay_what_you_can.check()
    phone.get_by_label("Amount you will pay").fill("5")
    phone.get_by_label("Name", exact=True).fill(NAME)
    phone.get_by_label("E-mail", exact=True).fill(BAD_EMAIL)
    phone.get_by_label("Access needs").fill(ACCESS_NEEDS)
    phone.get_by_role("button", name="Register").click()

    # The form comes back with a summary and each message beside its field ...
    expect(phone).to_have_url(f"{live_server.url}/{SLUG}/register")
    summary = phone.get_by_role("alert")
    expect(summary).to_be_visible()
    expect(summary.get_by_role("link")).to_have_count(2)
    assert_message_beside(phone, "amount", "$10")
    assert_message_beside(phone, "email", "e-mail address")
    expect(phone.locator("#name-error")).to_have_count(0)

    # ... and everything she typed is still there.
    expect(pay_what_you_can).to_be_checked()
    expect(phone.get_by_label("Amount you will pay")).to_have_value("5")
    expect(phone.get_by_label("Name", exact=True)).to_have_value(NAME)
    expect(phone.get_by_label("E-mail", exact=True)).to_have_value(BAD_EMAIL)
    expect(phone.get_by_label("Access needs")).to_have_value(ACCESS_NEEDS)
    assert_no_sideways_scroll(phone)
    screenshot(phone, tmp_path, "register-phone-mistakes")

    # The summary's link takes her to the amount box.
    summary.get_by_role("link", name=re.compile(r"\$10")).click()
    expect(phone).to_have_url(re.compile(r"#amount$"))

    # She fixes both and registers.
    phone.get_by_label("Amount you will pay").fill("12.50")
    phone.get_by_label("E-mail", exact=True).fill(EMAIL)
    phone.get_by_role("button", name="Register").click()

    expect(phone).to_have_url(TICKET_URL)
    expect(phone.get_by_role("heading", level=1)).to_have_text("Your ticket for Socialism 2027")
    expect(fact(phone, "Name")).to_have_text(NAME)
    expect(fact(phone, "Ticket")).to_have_text("Pay what you can")
    expect(fact(phone, "Price")).to_have_text("$12.50")
    expect(phone.get_by_text(ACCESS_NEEDS)).to_have_count(0)
    screenshot(phone, tmp_path, "ticket-phone")

    # The QR code is big enough for a door phone and reads back as this very page.
    qr = phone.get_by_role("img", name=re.compile("QR code of your ticket"))
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0"), "the QR did not load"
    box = qr.bounding_box()
    assert box and box["width"] >= 250, f"the QR is only {box and box['width']}px wide"
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360, "the QR is cut off"
    png = tmp_path / "ticket-qr.png"
    qr.screenshot(path=str(png))
    assert decode_qr(png) == phone.url


@pytest.mark.browser
def test_printed_ticket_leaves_out_the_site_header_and_the_cancel_link(
    phone: Page, live_server: Any, tmp_path: Path
) -> None:
    response = phone.request.post(
        f"{live_server.url}/api/{SLUG}/registrations",
        data={"name": NAME, "email": EMAIL, "ticket_type": "concession"},
    )
    assert response.status == 201, response.text()
    ticket_url = response.json()["ticket"]["url"]

    phone.goto(ticket_url)
    header = phone.locator("header.site-header")
    cancel = phone.get_by_role("link", name="Cancel this ticket")
    qr = phone.get_by_role("img", name=re.compile("QR code of your ticket"))
    expect(header).to_be_visible()
    expect(cancel).to_be_visible()

    phone.emulate_media(media="print")
    expect(header).to_be_hidden()
    expect(cancel).to_be_hidden()
    expect(phone.locator("footer.site-footer")).to_be_hidden()
    # What the door needs is still on paper.
    expect(qr).to_be_visible()
    expect(fact(phone, "Name")).to_have_text(NAME)
    expect(phone.locator(".ticket-code")).to_be_visible()
    screenshot(phone, tmp_path, "ticket-phone-print")
    png = tmp_path / "ticket-qr-print.png"
    qr.screenshot(path=str(png))
    assert decode_qr(png) == ticket_url


def wait_for_a_failed_mail_attempt(page: Page, ticket_url: str) -> None:
    """The live server has no SMTP server: the confirmation's first attempt fails at once."""
    deadline = time.monotonic() + 10
    while not re.search(r"attempt failed|no mail server", page.request.get(ticket_url).text()):
        assert time.monotonic() < deadline, "the confirmation mail was never tried"
        time.sleep(0.1)


@pytest.mark.browser
def test_ticket_page_fits_a_phone_when_the_confirmation_mail_has_not_gone(
    phone: Page, live_server: Any, tmp_path: Path
) -> None:
    response = phone.request.post(
        f"{live_server.url}/api/{SLUG}/registrations",
        data={"name": NAME, "email": EMAIL, "ticket_type": "waged"},
    )
    assert response.status == 201, response.text()
    ticket_url = response.json()["ticket"]["url"]
    wait_for_a_failed_mail_attempt(phone, ticket_url)

    phone.goto(ticket_url)
    expect(phone.locator(".mail-status")).to_contain_text(
        re.compile(r"attempt failed|no mail server")
    )
    screenshot(phone, tmp_path, "ticket-phone-mail-not-sent")
    qr = phone.get_by_role("img", name=re.compile("QR code of your ticket"))
    box = qr.bounding_box()
    assert box and box["width"] >= 250
    assert_no_sideways_scroll(phone)


@pytest.mark.browser
def test_the_ticket_address_is_never_sent_as_a_referer(phone: Page, live_server: Any) -> None:
    response = phone.request.post(
        f"{live_server.url}/api/{SLUG}/registrations",
        data={"name": NAME, "email": EMAIL, "ticket_type": "free"},
    )
    assert response.status == 201, response.text()
    ticket_url = response.json()["ticket"]["url"]
    token = ticket_url.rsplit("/", 1)[1]
    referers: list[tuple[str, str]] = []
    phone.on("request", lambda r: referers.append((r.url, r.headers.get("referer") or "")))

    phone.goto(ticket_url)
    expect(phone.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    phone.get_by_role("link", name="Cancel this ticket").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Cancel your ticket?")
    phone.get_by_role("link", name="No, keep it").click()
    phone.get_by_role("link", name="The programme").click()
    expect(phone.get_by_role("heading", level=1)).to_be_visible()

    assert len(referers) >= 6, referers
    leaks = [url for url, referer in referers if token in referer]
    assert leaks == [], f"these requests carried the ticket URL as Referer: {leaks}"
