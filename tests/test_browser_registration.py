"""Registering on a phone in a real browser: fixing a mistake, landing on one's own ticket page
(the management link), starring sessions there, and a QR code that scans as the admission page,
which shows nobody's name.

The QR code is read back from what the browser actually painted (a screenshot of the `img`),
so the test catches a code that is cropped, blurred or scaled below what a door phone can read.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.support.browser import assert_no_sideways_scroll, fact, screenshot
from tests.support.qr import read_qr_codes

SLUG = "socialism-2027"
MANAGE_URL = re.compile(r"/my-ticket/[A-Za-z0-9_-]{43}\?new=1$")
ADMISSION_URL = re.compile(r"^http://127\.0\.0\.1:\d+/tickets/[A-Za-z0-9_-]{104}$")

NAME = "Rosa Quillfeather"
BAD_EMAIL = "rosa@@example"
EMAIL = "rosa.quillfeather@example.org"
ACCESS_NEEDS = "Step-free route please, and a seat near the front (hearing)."


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
    found = read_qr_codes(Image.open(png))
    assert found, f"no QR code could be read from {png}"
    return found[0]


def painted_qr(page: Page, folder: Path, name: str) -> str:
    """What a door phone reads from the QR code as the browser painted it on a phone."""
    qr = page.get_by_role("img", name=re.compile("QR code of your ticket"))
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0"), "the QR did not load"
    box = qr.bounding_box()
    assert box and box["width"] >= 250, f"the QR is only {box and box['width']}px wide"
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360, "the QR is cut off"
    png = folder / f"{name}.png"
    qr.screenshot(path=str(png))
    return decode_qr(png)


def served_qr(page: Page, base_url: str, folder: Path) -> str:
    """What the PNG of the QR code shown on the page holds."""
    img = page.get_by_role("img", name=re.compile("QR code of your ticket"))
    svg_path = img.get_attribute("src") or ""
    assert svg_path.endswith("/qr.svg"), svg_path
    png = folder / "served-qr.png"
    png.write_bytes(page.request.get(base_url + svg_path.removesuffix(".svg") + ".png").body())
    return decode_qr(png)


def register_by_api(page: Page, base_url: str, ticket_type: str) -> dict[str, Any]:
    response = page.request.post(
        f"{base_url}/api/{SLUG}/registrations",
        data={"name": NAME, "email": EMAIL, "ticket_type": ticket_type},
    )
    assert response.status == 201, response.text()
    return response.json()["ticket"]


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

    expect(phone).to_have_url(MANAGE_URL)
    expect(phone.get_by_role("heading", level=1)).to_have_text("Your ticket for Socialism 2027")
    expect(fact(phone, "Name")).to_have_text(NAME)
    expect(fact(phone, "Ticket")).to_have_text("Pay what you can")
    expect(fact(phone, "Price")).to_have_text("$12.50")
    expect(phone.get_by_text(ACCESS_NEEDS)).to_have_count(0)
    screenshot(phone, tmp_path, "ticket-phone")
    # The long link in the welcome notice wraps instead of widening the page (a phone would
    # zoom the whole ticket out, QR code and all).
    assert_no_sideways_scroll(phone)

    # The QR code is big enough for a door phone and reads back as the admission page, not as
    # this page's own (secret) address.
    admission_url = painted_qr(phone, tmp_path, "ticket-qr")
    assert ADMISSION_URL.match(admission_url), admission_url
    assert admission_url != phone.url and "/my-ticket/" not in admission_url

    # The link in the notice wraps whatever characters its random secret happens to hold: here
    # without a single '-' for the line to break at.
    phone.locator("code.manage-link").evaluate(
        "code => { code.textContent = code.textContent.replaceAll('-', 'x'); }"
    )
    assert_no_sideways_scroll(phone)


@pytest.mark.browser
def test_printed_ticket_leaves_out_the_site_header_and_the_cancel_link(
    phone: Page, live_server: Any, tmp_path: Path
) -> None:
    ticket = register_by_api(phone, live_server.url, "concession")

    phone.goto(ticket["manage_url"])
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
    assert decode_qr(png) == ticket["url"]


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
    ticket_url = register_by_api(phone, live_server.url, "waged")["manage_url"]
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
def test_the_ticket_addresses_are_never_sent_as_a_referer(phone: Page, live_server: Any) -> None:
    ticket = register_by_api(phone, live_server.url, "free")
    token = ticket["url"].rsplit("/", 1)[1]
    secret = ticket["manage_url"].rsplit("/", 1)[1]
    referers: list[tuple[str, str]] = []
    phone.on("request", lambda r: referers.append((r.url, r.headers.get("referer") or "")))

    phone.goto(ticket["manage_url"])
    expect(phone.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    phone.get_by_role("link", name="Cancel this ticket").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Cancel your ticket?")
    phone.get_by_role("link", name="No, keep it").click()
    phone.get_by_role("link", name="The programme").click()
    expect(phone.get_by_role("heading", level=1)).to_be_visible()
    # From the admission page too, where a steward's phone lands after scanning.
    phone.goto(ticket["url"])
    phone.get_by_role("link", name="About Socialism 2027").click()
    expect(phone.get_by_role("heading", level=1)).to_be_visible()

    assert len(referers) >= 8, referers
    leaks = [url for url, referer in referers if token in referer or secret in referer]
    assert leaks == [], f"these requests carried a ticket address as Referer: {leaks}"


@pytest.mark.browser
def test_person_stars_a_session_on_their_ticket_page_and_the_qr_shows_nobody_their_name(
    phone: Page, live_server: Any, tmp_path: Path
) -> None:
    phone.goto(f"{live_server.url}/{SLUG}/register")
    phone.get_by_role("radio", name=re.compile(r"^Waged")).check()
    phone.get_by_label("Name", exact=True).fill(NAME)
    phone.get_by_label("E-mail", exact=True).fill(EMAIL)
    phone.get_by_role("button", name="Register").click()

    # She lands on her own page, told she is registered, with the link to keep shown to her.
    expect(phone).to_have_url(MANAGE_URL)
    notice = phone.get_by_role("status").filter(has_text="You are registered")
    expect(notice).to_be_visible()
    own_link = phone.url.removesuffix("?new=1")
    expect(notice.locator("code.manage-link")).to_have_text(own_link)
    expect(fact(phone, "Name")).to_have_text(NAME)

    # She stars a session from the programme on that page.
    phone.get_by_text("Star sessions from the programme").click()
    star = phone.locator("details.star-more button.star").first
    title = star.get_attribute("data-title")
    assert title
    expect(star).to_have_attribute("aria-pressed", "false")
    star.click()
    expect(star).to_have_attribute("aria-pressed", "true")
    screenshot(phone, tmp_path, "ticket-phone-starred")

    # Reloaded, it is still starred, and in her agenda at the top of the page.
    phone.reload()
    expect(phone.locator("details.star-more button.star").first).to_have_attribute(
        "aria-pressed", "true"
    )
    agenda = phone.locator("section.agenda-on-ticket > ol.session-list")
    expect(agenda).to_contain_text(title)
    expect(phone.get_by_text("Nothing starred for this ticket yet")).to_have_count(0)

    # The QR code on her page, opened in the same browser, shows a ticket and not who holds it.
    # (Read from the image file: how it is painted on a phone is the first story's concern.)
    admission_url = served_qr(phone, live_server.url, tmp_path)
    assert ADMISSION_URL.match(admission_url), admission_url
    phone.goto(admission_url)
    expect(phone.get_by_role("heading", level=1)).to_have_text("A ticket for Socialism 2027")
    expect(phone.get_by_role("button", name="E-mail me the link to my ticket")).to_be_visible()
    body = phone.locator("body")
    expect(body).not_to_contain_text(NAME)
    expect(body).not_to_contain_text("Quillfeather")
    expect(body).not_to_contain_text(EMAIL)
    expect(body).not_to_contain_text(title)
    assert "/my-ticket/" not in phone.content()
    assert_no_sideways_scroll(phone)
    screenshot(phone, tmp_path, "admission-phone")
