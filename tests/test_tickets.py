"""An attendee's ticket: the QR code, the signed token a door device checks offline, the ticket
page, and cancelling."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import cairosvg
import pytest
import zxingcpp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.registration.service import find_registration
from confapp.tickets.keys import retire_signing_key, rotate_signing_key
from confapp.tickets.ticket import ticket_token
from confapp.tickets.tokens import InvalidTicketToken, sign_ticket, verify_ticket_token
from tests.conftest import DEMO

NAME = "Rosa Luxemburg"
EMAIL = "rosa.luxemburg@example.org"


# ---- helpers: what a client of the app sees ------------------------------------------------


def register(client: TestClient, ticket_type: str = "waged", **fields: object) -> dict:
    body = {"name": NAME, "email": EMAIL, "ticket_type": ticket_type, **fields}
    response = client.post(f"/api/{DEMO}/registrations", json=body)
    assert response.status_code == 201, response.text
    return response.json()["ticket"]


def token_of(ticket: dict) -> str:
    return ticket["url"].rsplit("/", 1)[1]


def published_keys(client: TestClient) -> dict[int, bytes]:
    """What a door device downloads once, before the doors open: id -> raw public key."""
    response = client.get(f"/api/{DEMO}/ticket-keys")
    assert response.status_code == 200
    return {key["id"]: base64.b64decode(key["public_key"]) for key in response.json()["keys"]}


def places_left(client: TestClient, ticket_type: str) -> int:
    types = client.get(f"/api/{DEMO}/ticket-types").json()["ticket_types"]
    return next(t["places_left"] for t in types if t["code"] == ticket_type)


def decode_qr(png: bytes) -> list[str]:
    return [code.text for code in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def fresh_private_key() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


class TicketPage(HTMLParser):
    """The parts of a ticket page a person looks at: images, the facts list, the ticket card."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.facts: dict[str, str] = {}
        self.card_text = ""
        self._in_card = 0
        self._term = ""
        self._open: str | None = None
        self._buffer = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes)
        if tag == "article" and "ticket" in (attributes.get("class") or "").split():
            self._in_card += 1
        if tag in {"dt", "dd"}:
            self._open, self._buffer = tag, ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "article" and self._in_card:
            self._in_card -= 1
        if tag == self._open == "dt":
            self._term = self._buffer.strip()
        elif tag == self._open == "dd":
            self.facts[self._term] = " ".join(self._buffer.split())
        if tag == self._open:
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            self._buffer += data
        if self._in_card:
            self.card_text += data

    def qr_images(self, token: str) -> list[dict[str, str | None]]:
        return [i for i in self.images if (i.get("src") or "").startswith(f"/tickets/{token}/qr.")]


# ---- the QR code ---------------------------------------------------------------------------


def test_qr_codes_carry_the_ticket_url_and_nothing_personal(client: TestClient) -> None:
    ticket = register(client)
    url = ticket["url"]
    assert url.startswith("http://testserver/tickets/")

    png = client.get(ticket["qr_png_url"])
    assert png.headers["content-type"] == "image/png"
    [scanned] = decode_qr(png.content)
    assert scanned == url

    svg = client.get(ticket["qr_svg_url"])
    assert svg.headers["content-type"].startswith("image/svg+xml")
    rendered = cairosvg.svg2png(bytestring=svg.content, output_width=600, background_color="white")
    assert decode_qr(rendered) == [url]

    # What a phone camera reads opens the ticket.
    page = client.get(scanned)
    assert page.status_code == 200
    facts = TicketPage(page.text).facts
    assert facts["Name"] == NAME
    assert facts["Ticket"] == "Waged"

    # Anyone glancing at the code over a shoulder learns nothing about the person.
    for personal in (NAME, "Luxemburg", EMAIL, "rosa.luxemburg"):
        assert personal.lower() not in scanned.lower()
        assert personal.encode().lower() not in base64.urlsafe_b64decode(token_of(ticket) + "=")


# ---- the signed token ----------------------------------------------------------------------


def test_a_door_device_checks_tickets_offline_with_only_the_public_keys(
    client: TestClient, db: Database
) -> None:
    ticket = register(client)
    token = token_of(ticket)
    keys = published_keys(client)

    verified = verify_ticket_token(token, keys)
    assert verified.ticket_code == ticket["code"].replace("-", "")
    assert verified.key_id in keys
    assert len(token) <= 100  # fits a small, easily scanned QR code

    # Signing the same ticket again (for the mail, for the page) gives the very same token.
    with db.read() as session:
        registration = find_registration(session, verified.ticket_code)
        assert registration is not None
        assert ticket_token(session, registration) == token
    assert client.get(ticket["qr_svg_url"]).content == client.get(ticket["qr_svg_url"]).content

    middle = len(token) // 2
    tampered = [
        token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :],
        token[:4] + ("A" if token[4] != "A" else "B") + token[5:],  # inside the ticket code
        token[:-1],
        token[: len(token) // 2],
    ]
    forged_same_key_id = sign_ticket(verified.ticket_code, verified.key_id, fresh_private_key())
    unknown_key_id = max(keys) + 1
    forged_unknown_key = sign_ticket(verified.ticket_code, unknown_key_id, fresh_private_key())
    assert unknown_key_id not in keys
    for bad in [*tampered, forged_same_key_id, forged_unknown_key]:
        assert bad != token
        with pytest.raises(InvalidTicketToken):
            verify_ticket_token(bad, keys)
        # The site is no easier to fool than the door device.
        assert client.get(f"/tickets/{bad}").status_code == 404


def test_after_a_key_rotation_old_tickets_work_until_their_key_is_retired(
    client: TestClient, db: Database
) -> None:
    old_ticket = register(client)
    old_key_id = verify_ticket_token(token_of(old_ticket), published_keys(client)).key_id

    new_key_id = rotate_signing_key(db)
    assert new_key_id != old_key_id
    new_ticket = register(client, "concession", email="clara@example.org")
    keys = published_keys(client)
    assert set(keys) == {old_key_id, new_key_id}
    assert verify_ticket_token(token_of(new_ticket), keys).key_id == new_key_id
    assert verify_ticket_token(token_of(old_ticket), keys).key_id == old_key_id
    assert client.get(old_ticket["url"]).status_code == 200
    assert client.get(new_ticket["url"]).status_code == 200

    assert retire_signing_key(db, old_key_id)
    keys = published_keys(client)
    assert set(keys) == {new_key_id}
    with pytest.raises(InvalidTicketToken):
        verify_ticket_token(token_of(old_ticket), keys)
    assert client.get(old_ticket["url"]).status_code == 404
    assert client.get(old_ticket["qr_png_url"]).status_code == 404
    assert client.get(new_ticket["url"]).status_code == 200


# ---- the ticket page -----------------------------------------------------------------------


def test_ticket_page_shows_the_big_qr_and_the_ticket_and_prints_on_a6(
    client: TestClient,
) -> None:
    ticket = register(client)
    response = client.get(ticket["url"])
    assert response.status_code == 200
    page = TicketPage(response.text)

    [qr] = page.qr_images(token_of(ticket))
    assert qr["src"] == f"/tickets/{token_of(ticket)}/qr.svg"
    assert int(qr["width"] or 0) >= 300
    assert qr["alt"]
    assert page.facts["Name"] == NAME
    assert page.facts["Ticket"] == "Waged"
    card = " ".join(page.card_text.split())
    for expected in ("Socialism 2027", "9–11 July 2027", "Ironbark Building, University of Sydney"):
        assert expected in card
    assert ticket["code"] in card  # to read out at the door if the scanner fails

    # The token in the address is the ticket: no Referer carries it off, no shared cache keeps it.
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "private" in response.headers["cache-control"]
    assert "public" not in response.headers["cache-control"]
    for image in (ticket["qr_svg_url"], ticket["qr_png_url"]):
        assert client.get(image).headers["referrer-policy"] == "no-referrer"

    # Printed, it fits an A6 card, without the links and the advice around the ticket.
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', response.text)
    assert stylesheet is not None
    css = client.get(stylesheet.group(1))
    assert css.status_code == 200
    # A named page: only the ticket prints on A6, not the programme.
    assert re.search(r"\.ticket\s*\{[^}]*page:\s*ticket", css.text)
    assert re.search(r"@page ticket\s*\{[^}]*size:\s*A6", css.text)
    print_rules = re.findall(r"@media print\s*\{(.*?)\n\}", css.text, re.DOTALL)
    assert any(re.search(r"\.no-print[^{]*\{[^}]*display:\s*none", rules) for rules in print_rules)
    assert 'class="no-print"' in response.text


def test_ticket_page_does_not_weaken_no_referrer_in_its_html(client: TestClient) -> None:
    ticket = register(client)
    for address in (ticket["url"], f"{ticket['url']}/cancel"):
        page = client.get(address).text
        # A <meta name="referrer"> replaces the header's policy for the document (HTML spec).
        for policy in re.findall(r'<meta name="referrer" content="([^"]*)"', page):
            assert policy == "no-referrer"


def test_a_forged_or_unknown_ticket_link_says_so_plainly(client: TestClient) -> None:
    ticket = register(client)
    code = ticket["code"].replace("-", "")
    key_id = max(published_keys(client))
    forged = sign_ticket(code, key_id, fresh_private_key())
    for token in (forged, "not-a-ticket", token_of(ticket)[:-3]):
        response = client.get(f"/tickets/{token}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "This is not a valid ticket link" in response.text
        assert "Traceback" not in response.text
        assert "InvalidTicketToken" not in response.text
        assert NAME not in response.text
        assert response.headers["referrer-policy"] == "no-referrer"
        assert client.get(f"/tickets/{token}/qr.png").status_code == 404


# ---- cancelling ----------------------------------------------------------------------------


def test_cancelling_asks_first_then_gives_the_place_back(client: TestClient) -> None:
    before = places_left(client, "waged")
    ticket = register(client)
    assert places_left(client, "waged") == before - 1
    cancel_url = f"{ticket['url']}/cancel"

    confirm = client.get(cancel_url)
    assert confirm.status_code == 200
    assert "Cancel your ticket?" in confirm.text
    assert re.search(r'<form method="post" action="/tickets/[^"]+/cancel"', confirm.text)
    # Looking at the question (or a link preview fetching it) cancels nothing.
    assert places_left(client, "waged") == before - 1
    still_valid = client.get(ticket["url"])
    assert "This ticket is cancelled" not in still_valid.text
    assert TicketPage(still_valid.text).qr_images(token_of(ticket))

    done = client.post(cancel_url, data={}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"/tickets/{token_of(ticket)}"
    page = client.get(done.headers["location"])
    assert page.status_code == 200
    assert "This ticket is cancelled" in page.text
    assert TicketPage(page.text).qr_images(token_of(ticket)) == []
    assert places_left(client, "waged") == before

    # Cancelling twice does not give the place back twice.
    client.post(cancel_url, data={})
    assert places_left(client, "waged") == before


def test_cancelling_with_erase_removes_the_ticket_and_the_person(client: TestClient) -> None:
    before = places_left(client, "concession")
    ticket = register(client, "concession")
    response = client.post(f"{ticket['url']}/cancel", data={"erase": "yes"})
    assert response.status_code == 200
    assert "details are erased" in response.text
    assert NAME not in response.text
    assert places_left(client, "concession") == before
    assert client.get(ticket["url"]).status_code == 404
    assert client.get(ticket["qr_png_url"]).status_code == 404
    assert client.get(f"{ticket['url']}/cancel").status_code == 404
