"""A reader gets the conference in their language: from the switcher (remembered in a cookie
of its own), else their browser's Accept-Language, else the conference's default; pages say
which language they are in, point to the others, and are never served to a reader of another
language from a cache."""

from __future__ import annotations

import functools

import anyio
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.db import Database
from confapp.models import Registration
from confapp.outbox import send_due_mail
from confapp.settings import Settings
from tests.conftest import app_clock
from tests.support import DEMO
from tests.support.languages import offer_languages
from tests.support.mail import Mailbox


def test_a_spanish_browser_gets_the_programme_in_spanish(client: TestClient, db: Database) -> None:
    offer_languages(db, ["en-AU", "es"])
    page = client.get(f"/{DEMO}/programme", headers={"Accept-Language": "es-AR,es;q=0.9"})
    assert '<html lang="es" dir="ltr">' in page.text
    assert ">Programa</a>" in page.text
    assert "Accept-Language" in page.headers["vary"]
    assert "Cookie" in page.headers["vary"]


def test_a_language_the_conference_does_not_offer_falls_back_to_its_default(
    client: TestClient, db: Database
) -> None:
    offer_languages(db, ["en-AU"])
    page = client.get(f"/{DEMO}/programme", headers={"Accept-Language": "es"}).text
    assert '<html lang="en-AU" dir="ltr">' in page
    assert ">Programme</a>" in page
    assert 'class="language-switch"' not in page  # one language: nothing to switch


def test_the_switcher_remembers_the_choice_over_the_browsers(
    client: TestClient, db: Database
) -> None:
    offer_languages(db, ["en-AU", "es"])
    page = client.get(f"/{DEMO}/programme", headers={"Accept-Language": "en"}).text
    assert '<html lang="en-AU"' in page
    switch = f"/language?lang=es&amp;next=%2F{DEMO}%2Fprogramme"
    assert switch in page

    answer = client.get(switch.replace("&amp;", "&"), follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/{DEMO}/programme"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("confapp_language=es;")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie

    page = client.get(f"/{DEMO}/programme", headers={"Accept-Language": "en"}).text
    assert '<html lang="es"' in page
    assert 'aria-current="true" lang="es">Español</span>' in page


def test_the_switcher_goes_back_only_to_this_site(client: TestClient) -> None:
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        answer = client.get(
            "/language", params={"lang": "es", "next": elsewhere}, follow_redirects=False
        )
        assert answer.headers["location"] == "/"


def test_pages_point_to_their_other_languages(client: TestClient, db: Database) -> None:
    offer_languages(db, ["en-AU", "es"])
    page = client.get(f"/{DEMO}/speakers").text
    assert f'<link rel="alternate" hreflang="es" href="/{DEMO}/speakers?lang=es">' in page
    in_spanish = client.get(f"/{DEMO}/speakers?lang=es").text
    assert '<html lang="es"' in in_spanish
    assert 'hreflang="en-AU"' in in_spanish


def test_each_language_has_its_own_cached_page(client: TestClient, db: Database) -> None:
    offer_languages(db, ["en-AU", "es"])
    for _ in range(2):  # the second round comes from the cache
        english = client.get(f"/{DEMO}/programme", headers={"Accept-Language": "en"})
        spanish = client.get(f"/{DEMO}/programme", headers={"Accept-Language": "es"})
        assert '<html lang="en-AU"' in english.text
        assert '<html lang="es"' in spanish.text
        assert english.headers["etag"] != spanish.headers["etag"]
    # A browser revalidating its Spanish copy with the English ETag gets the Spanish page.
    again = client.get(
        f"/{DEMO}/programme",
        headers={"Accept-Language": "es", "If-None-Match": english.headers["etag"]},
    )
    assert again.status_code == 200
    assert '<html lang="es"' in again.text


def test_someone_who_registers_in_spanish_gets_their_ticket_mail_in_spanish(
    settings: Settings, demo: object, db: Database, mailbox: Mailbox
) -> None:
    offer_languages(db, ["en-AU", "es"])
    # No mail server yet: the ticket mail waits in the outbox.
    with TestClient(create_app(settings, clock=app_clock)) as client:
        answer = client.post(
            f"/api/{DEMO}/registrations",
            json={"name": "Rosa Quillfeather", "email": "rosa@example.org", "ticket_type": "waged"},
            headers={"Accept-Language": "es-ES,es;q=0.9"},
        )
        assert answer.status_code == 201
    with db.read() as session:
        registration = session.exec(select(Registration)).one()
    assert registration.language == "es"

    # Sent later, in no request of theirs: still in their language.
    smtp = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": mailbox.port})
    assert anyio.run(functools.partial(send_due_mail, db, smtp, now=app_clock())) == 1
    [message] = mailbox.messages
    assert message["Content-Language"] == "es"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Socialismo 2027" in text  # the conference's own name in Spanish
    assert "Con salario" in text  # the ticket type's
    assert "Hola" in text


def test_calendar_feeds_take_a_language_and_keep_their_uids(
    client: TestClient, db: Database
) -> None:
    offer_languages(db, ["en-AU", "es"])
    english = client.get(f"/{DEMO}/programme.ics").text
    spanish = client.get(f"/{DEMO}/programme.ics?lang=es").text
    assert "Opening rally: Another world is necessary" in english
    assert "Acto de apertura: otro mundo es necesario" in spanish.replace("\r\n ", "")
    uids = [line for line in english.splitlines() if line.startswith("UID:")]
    assert uids and uids == [line for line in spanish.splitlines() if line.startswith("UID:")]
