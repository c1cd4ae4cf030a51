"""An attendee's ticket: the QR code and the admission token a door device checks offline, the
admission page the code opens (which shows nobody anything personal), the attendee's own page
behind a separate secret link, cancelling, and the revocation list for offline doors."""

from __future__ import annotations

import base64
import re
from datetime import date
from html.parser import HTMLParser
from urllib.parse import urlsplit

import cairosvg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import OutboxMail, Registration
from confapp.programme.conference_file import check_conference_data, load_conference_spec
from confapp.programme.synthetic import synthetic_conference_data
from confapp.tickets.admission import admission_token, registration_by_code
from confapp.tickets.keys import retire_signing_key, rotate_signing_key, signing_key_by_id
from confapp.tickets.tokens import InvalidTicketToken, sign_ticket, verify_ticket_token
from tests.support import DEMO
from tests.support.qr import read_qr_codes
from tests.support.registrations import (
    EMAIL,
    NAME,
    code_of,
    conference_id_of,
    places_left,
    published_keys,
    register,
    token_of,
)

# ---- helpers: what a client of the app sees ------------------------------------------------


def path_of(url: str) -> str:
    return urlsplit(url).path


def decode_qr(png: bytes) -> list[str]:
    return read_qr_codes(png)


def decode_svg_qr(svg: bytes) -> list[str]:
    return decode_qr(cairosvg.svg2png(bytestring=svg, output_width=600, background_color="white"))


def fresh_private_key() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def registration_of(db: Database, ticket: dict) -> Registration:
    with db.read() as session:
        registration = registration_by_code(session, code_of(ticket))
    assert registration is not None
    return registration


def legacy_token(db: Database, ticket: dict) -> str:
    """A version-1 token, as tickets were signed before tokens named their conference:
    base64url(1 | key id | code 8 bytes | Ed25519 signature over the bytes before it)."""
    registration = registration_of(db, ticket)
    with db.read() as session:
        key = signing_key_by_id(session, registration.signing_key_id)
    assert key is not None
    code = code_of(ticket)
    signed = bytes([1, key.key_id]) + base64.b32decode(code + "=" * (-len(code) % 8))
    signature = Ed25519PrivateKey.from_private_bytes(key.private_key).sign(signed)
    return base64.urlsafe_b64encode(signed + signature).decode("ascii").rstrip("=")


def link_mails(db: Database, registration_id: int) -> int:
    with db.read() as session:
        return len(
            session.exec(
                select(OutboxMail).where(
                    OutboxMail.registration_id == registration_id,
                    OutboxMail.kind == "manage_link",
                )
            ).all()
        )


def load_second_conference(db: Database, slug: str = "second-2027") -> str:
    data = synthetic_conference_data(
        slug=slug, sessions=4, rooms=1, tracks=1, days=1, start_date=date(2027, 9, 1)
    )
    data["ticket_types"] = [{"code": "waged", "name": "Waged", "price": 60}]
    with db.transaction() as session:
        load_conference_spec(session, check_conference_data(data))
    return slug


class TicketPage(HTMLParser):
    """The parts of a ticket page a person looks at: images, the facts list, the ticket card."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.forms: list[str] = []
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
        if tag == "a":
            self.links.append(attributes.get("href") or "")
        if tag == "form":
            self.forms.append(attributes.get("action") or "")
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


# ---- the QR code and the admission page it opens --------------------------------------------


def test_qr_codes_carry_the_admission_url_and_nothing_personal(client: TestClient) -> None:
    ticket = register(client)
    url = ticket["url"]
    assert url.startswith("http://testserver/tickets/")

    png = client.get(ticket["qr_png_url"])
    assert png.headers["content-type"] == "image/png"
    [scanned] = decode_qr(png.content)
    assert scanned == url

    svg = client.get(ticket["qr_svg_url"])
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert decode_svg_qr(svg.content) == [url]

    # The code is the admission URL, never the attendee's own (management) link.
    assert "/my-ticket/" not in scanned
    assert ticket["manage_url"] not in scanned
    assert client.get(scanned).status_code == 200

    # Anyone glancing at the code over a shoulder learns nothing about the person.
    for personal in (NAME, "Luxemburg", EMAIL, "rosa.luxemburg"):
        assert personal.lower() not in scanned.lower()
        assert personal.encode().lower() not in base64.urlsafe_b64decode(token_of(ticket) + "=")


def test_opening_the_qr_code_shows_no_name_email_ticket_type_price_or_cancel_link(
    client: TestClient,
) -> None:
    ticket = register(client, solidarity_topup="20", access_needs="A seat by the aisle")
    scanned = decode_qr(client.get(ticket["qr_png_url"]).content)[0]

    response = client.get(scanned)

    assert response.status_code == 200
    assert "A ticket for Socialism 2027" in response.text
    page = TicketPage(response.text)
    lowered = response.text.lower()
    for personal in (NAME, "Rosa", "Luxemburg", EMAIL, "rosa.luxemburg", "A seat by the aisle"):
        assert personal.lower() not in lowered, personal
    # Nor the ticket type, the price, the code to read out, or the payment.
    for detail in ("Waged", "$95", "$20", ticket["code"], "Not yet paid", "solidarity top-up"):
        assert detail not in response.text, detail
    assert page.facts == {}
    # Nothing leads from the QR code to the attendee's own page or to cancelling.
    assert "/my-ticket/" not in response.text
    assert path_of(ticket["manage_url"]) not in response.text
    assert not [link for link in page.links if "cancel" in link or "erase" in link]
    assert page.forms == [f"/tickets/{token_of(ticket)}/send-link"]
    assert "E-mail me the link to my ticket" in response.text
    # The token in the address is a credential: nothing keeps it, nothing passes it on.
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_whoever_holds_the_qr_code_cannot_cancel_or_erase_the_ticket(client: TestClient) -> None:
    before = places_left(client, "waged")
    ticket = register(client)

    for data in ({}, {"erase": "yes"}):
        refused = client.post(f"{ticket['url']}/cancel", data=data, follow_redirects=False)
        assert refused.status_code in (404, 405), refused.status_code
    assert client.get(f"{ticket['url']}/cancel").status_code in (404, 405)

    assert places_left(client, "waged") == before - 1
    assert client.get(ticket["url"]).status_code == 200
    assert NAME in client.get(ticket["manage_url"]).text


# ---- the signed token ----------------------------------------------------------------------


def test_a_door_device_checks_tickets_offline_with_only_the_public_keys(
    client: TestClient, db: Database
) -> None:
    ticket = register(client)
    token = token_of(ticket)
    keys = published_keys(client)

    verified = verify_ticket_token(token, keys)
    assert verified.ticket_code == code_of(ticket)
    assert verified.key_id in keys
    # The token names its conference, so a door of another conference refuses it offline.
    assert verified.conference_id == conference_id_of(client)
    assert len(token) == 104  # still fits a small, easily scanned QR code

    # Signing the same ticket again (for the mail, for the page) gives the very same token.
    with db.read() as session:
        registration = registration_by_code(session, verified.ticket_code)
        assert registration is not None
        assert admission_token(session, registration) == token
    assert client.get(ticket["qr_svg_url"]).content == client.get(ticket["qr_svg_url"]).content

    conference_id = verified.conference_id
    middle = len(token) // 2
    tampered = [
        token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :],
        token[:10] + ("A" if token[10] != "A" else "B") + token[11:],  # inside the ticket code
        token[:4] + ("A" if token[4] != "A" else "B") + token[5:],  # inside the conference id
        token[:-1],
        token[: len(token) // 2],
    ]
    forged_same_key_id = sign_ticket(
        verified.ticket_code, conference_id, verified.key_id, fresh_private_key()
    )
    unknown_key_id = max(keys) + 1
    forged_unknown_key = sign_ticket(
        verified.ticket_code, conference_id, unknown_key_id, fresh_private_key()
    )
    assert unknown_key_id not in keys
    for bad in [*tampered, forged_same_key_id, forged_unknown_key]:
        assert bad != token
        with pytest.raises(InvalidTicketToken):
            verify_ticket_token(bad, keys)
        # The site is no easier to fool than the door device.
        assert client.get(f"/tickets/{bad}").status_code == 404


def test_a_ticket_signed_for_another_conference_is_refused(
    client: TestClient, db: Database
) -> None:
    other = load_second_conference(db)
    ticket = register(client, conference=other)
    demo_id, other_id = conference_id_of(client), conference_id_of(client, other)
    assert demo_id != other_id
    registration = registration_of(db, ticket)
    assert registration.conference_id == other_id
    with db.read() as session:
        key = signing_key_by_id(session, registration.signing_key_id)
    assert key is not None

    # A genuine signature with the real key, over this real ticket, but naming the demo.
    for_the_demo = sign_ticket(code_of(ticket), demo_id, key.key_id, key.private_key)
    verified = verify_ticket_token(for_the_demo, published_keys(client))
    assert (verified.ticket_code, verified.conference_id) == (code_of(ticket), demo_id)

    for suffix in ("", "/qr.svg", "/qr.png"):
        assert client.get(f"/tickets/{for_the_demo}{suffix}").status_code == 404, suffix
    client.post(f"/tickets/{for_the_demo}/send-link", follow_redirects=False)
    assert link_mails(db, registration.id or 0) == 0

    # The same ticket signed for its own conference is the one the app issued, and opens.
    assert sign_ticket(code_of(ticket), other_id, key.key_id, key.private_key) == token_of(ticket)
    assert client.get(ticket["url"]).status_code == 200


def test_a_legacy_version_1_ticket_still_opens_its_admission_page_and_agenda_feed(
    client: TestClient, db: Database
) -> None:
    ticket = register(client)
    legacy = legacy_token(db, ticket)
    assert len(legacy) == 99

    verified = verify_ticket_token(legacy, published_keys(client))
    assert (verified.ticket_code, verified.conference_id) == (code_of(ticket), None)

    page = client.get(f"/tickets/{legacy}")
    assert page.status_code == 200
    assert "A ticket for Socialism 2027" in page.text
    assert NAME not in page.text and "/my-ticket/" not in page.text
    assert page.headers["cache-control"] == "no-store"
    [scanned] = decode_qr(client.get(f"/tickets/{legacy}/qr.png").content)
    assert scanned == f"http://testserver/tickets/{legacy}"

    # Calendars subscribed to a legacy ticket's agenda keep getting it ...
    feed = client.get(f"/tickets/{legacy}/agenda.ics")
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    assert feed.text.startswith("BEGIN:VCALENDAR")
    # ... but a version-2 token opens no agenda: new tickets' agendas have their own key.
    assert client.get(f"{ticket['url']}/agenda.ics").status_code == 404
    assert client.get(ticket["agenda_feed_url"]).status_code == 200


def test_after_a_key_rotation_old_tickets_work_until_their_key_is_retired(
    client: TestClient, db: Database
) -> None:
    old_ticket = register(client)
    old_key_id = verify_ticket_token(token_of(old_ticket), published_keys(client)).key_id

    new_key_id = rotate_signing_key(db)
    assert new_key_id != old_key_id
    new_ticket = register(client, ticket_type="concession", email="clara@example.org")
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


# ---- the attendee's own page, behind the management link ------------------------------------


def test_the_management_link_shows_the_name_and_a_qr_code_of_the_admission_url(
    client: TestClient,
) -> None:
    ticket = register(client)
    response = client.get(ticket["manage_url"])
    assert response.status_code == 200
    page = TicketPage(response.text)

    assert page.facts["Name"] == NAME
    assert page.facts["Ticket"] == "Waged"
    assert page.facts["Price"] == "$95"
    [qr] = page.qr_images(token_of(ticket))
    for fmt in ("svg", "png"):
        image = client.get(f"/tickets/{token_of(ticket)}/qr.{fmt}")
        assert image.status_code == 200
        scanned = decode_svg_qr(image.content) if fmt == "svg" else decode_qr(image.content)
        # What the door scans is the admission URL, never this page's own address.
        assert scanned == [ticket["url"]]
        assert ticket["manage_url"] not in scanned[0] and "/my-ticket/" not in scanned[0]
    cancel = f"{path_of(ticket['manage_url'])}/cancel"
    assert cancel in page.links
    # The page shows the secret link: no cache keeps it, no Referer carries it off.
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert client.get(cancel).headers["cache-control"] == "no-store"


def test_management_page_shows_the_big_qr_and_the_ticket_and_prints_on_a6(
    client: TestClient,
) -> None:
    ticket = register(client)
    response = client.get(ticket["manage_url"])
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

    # The secret in the address is the ticket: no Referer carries it off, no cache keeps it.
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "no-store" in response.headers["cache-control"]
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


def test_ticket_pages_do_not_weaken_no_referrer_in_their_html(client: TestClient) -> None:
    ticket = register(client)
    for address in (ticket["url"], ticket["manage_url"], f"{ticket['manage_url']}/cancel"):
        page = client.get(address)
        assert page.status_code == 200, address
        # A <meta name="referrer"> replaces the header's policy for the document (HTML spec).
        for policy in re.findall(r'<meta name="referrer" content="([^"]*)"', page.text):
            assert policy == "no-referrer"


def test_a_forged_or_unknown_ticket_link_says_so_plainly(client: TestClient) -> None:
    ticket = register(client)
    key_id = max(published_keys(client))
    forged = sign_ticket(code_of(ticket), conference_id_of(client), key_id, fresh_private_key())
    for token in (forged, "not-a-ticket", token_of(ticket)[:-3]):
        response = client.get(f"/tickets/{token}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "This is not a valid ticket" in response.text
        assert "Traceback" not in response.text
        assert "InvalidTicketToken" not in response.text
        assert NAME not in response.text
        assert response.headers["referrer-policy"] == "no-referrer"
        assert client.get(f"/tickets/{token}/qr.png").status_code == 404

    secret = path_of(ticket["manage_url"]).rsplit("/", 1)[1]
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for link in (wrong, secret[:-1], "not-a-link", token_of(ticket)):
        for suffix in ("", "/cancel"):
            response = client.get(f"/my-ticket/{link}{suffix}")
            assert response.status_code == 404
            assert "This is not a valid ticket link" in response.text
            assert NAME not in response.text
            assert response.headers["referrer-policy"] == "no-referrer"


# ---- cancelling ----------------------------------------------------------------------------


def test_cancelling_from_the_management_link_asks_first_then_gives_the_place_back(
    client: TestClient,
) -> None:
    before = places_left(client, "waged")
    ticket = register(client)
    assert places_left(client, "waged") == before - 1
    manage = path_of(ticket["manage_url"])
    cancel_url = f"{manage}/cancel"

    confirm = client.get(cancel_url)
    assert confirm.status_code == 200
    assert "Cancel your ticket?" in confirm.text
    assert re.search(r'<form method="post" action="/my-ticket/[^"]+/cancel"', confirm.text)
    # Looking at the question (or a link preview fetching it) cancels nothing.
    assert places_left(client, "waged") == before - 1
    still_valid = client.get(manage)
    assert "This ticket is cancelled" not in still_valid.text
    assert TicketPage(still_valid.text).qr_images(token_of(ticket))

    done = client.post(cancel_url, data={}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == manage
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
    ticket = register(client, ticket_type="concession")
    response = client.post(f"{ticket['manage_url']}/cancel", data={"erase": "yes"})
    assert response.status_code == 200
    assert "details are erased" in response.text
    assert NAME not in response.text
    assert response.headers["cache-control"] == "no-store"
    assert places_left(client, "concession") == before
    for gone in (
        ticket["manage_url"],
        f"{ticket['manage_url']}/cancel",
        ticket["url"],
        ticket["qr_png_url"],
    ):
        assert client.get(gone).status_code == 404, gone


# ---- the revocation list, for doors that go offline ----------------------------------------


def test_the_revocation_list_names_cancelled_and_erased_tickets_and_nobody(
    client: TestClient,
) -> None:
    address = f"/api/{DEMO}/ticket-revocations"
    empty = client.get(address)
    assert empty.status_code == 200
    assert empty.json() == {
        "conference": DEMO,
        "conference_id": conference_id_of(client),
        "revoked": [],
    }

    cancelled = register(client)
    erased = register(
        client, ticket_type="concession", name="Clara Zetkin", email="clara@example.org"
    )
    kept = register(client, ticket_type="free", name="Lucy Parsons", email="lucy@example.org")
    assert client.get(address).json()["revoked"] == []

    client.post(f"{cancelled['manage_url']}/cancel", data={})
    first = client.get(address)
    assert first.json()["revoked"] == [cancelled["code"]]
    etag = first.headers["etag"]
    # A door polling with what it has is told nothing changed, without the list.
    unchanged = client.get(address, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""

    client.post(f"{erased['manage_url']}/cancel", data={"erase": "yes"})
    second = client.get(address)
    assert second.json()["revoked"] == sorted([ticket["code"] for ticket in (cancelled, erased)])
    assert second.headers["etag"] != etag
    assert client.get(address, headers={"If-None-Match": etag}).status_code == 200
    for person in (NAME, EMAIL, "Clara", "clara@example.org", "Lucy", "lucy@example.org"):
        assert person.lower() not in second.text.lower()

    client.post(f"{kept['manage_url']}/cancel", data={})
    third = client.get(address)
    assert kept["code"] in third.json()["revoked"] and len(third.json()["revoked"]) == 3
    assert third.headers["etag"] not in (etag, second.headers["etag"])
    again = client.get(address, headers={"If-None-Match": third.headers["etag"]})
    assert again.status_code == 304

    missing = client.get("/api/no-such-conference/ticket-revocations")
    assert missing.status_code == 404


def test_the_revocation_list_is_per_conference(client: TestClient, db: Database) -> None:
    other = load_second_conference(db)
    elsewhere = register(client, conference=other)
    client.post(f"{elsewhere['manage_url']}/cancel", data={})

    assert client.get(f"/api/{DEMO}/ticket-revocations").json()["revoked"] == []
    listed = client.get(f"/api/{other}/ticket-revocations").json()
    assert listed["revoked"] == [elsewhere["code"]]
    assert listed["conference_id"] == conference_id_of(client, other)
