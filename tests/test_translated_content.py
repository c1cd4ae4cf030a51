"""Organisers give their words in the conference's other languages, in the back office's forms
and through the API: a session's title and abstract, a room's access notes, a track's name. Each
text is checked as its field is, a language the conference does not offer is refused, and
readers of that language get the text once the programme is published. On SQLite and
PostgreSQL."""

from __future__ import annotations

import functools
from html import unescape
from typing import Any

import anyio
import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import ProgrammeSession, Room
from confapp.outbox import send_due_mail
from confapp.settings import Settings
from tests.support import DEMO
from tests.support.accounts import (
    ORGANISER,
    api_token,
    csrf_token,
    make_team,
    sign_in,
    sign_in_organiser,
)
from tests.support.mail import Mailbox
from tests.support.openapi_contract import assert_matches_contract
from tests.support.pages import form_on, message_beside
from tests.support.registrations import address_of

OPENING = "opening-rally"
SESSION = "/api/{conference}/sessions/{session}"
ROOM = "/api/{conference}/rooms/{room}"


class Script:
    """An organiser's script with a Bearer token; every answer held to the OpenAPI document."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.headers = {"authorization": f"Bearer {token}"}

    def call(self, method: str, template: str, body: Any = None, **names: str) -> Any:
        path = template.format(conference=DEMO, **names)
        answer = self.client.request(method, path, json=body, headers=self.headers)
        assert answer.status_code < 500, answer.text
        assert_matches_contract(method.lower(), template, answer)
        return answer


@pytest.fixture
def script(client: TestClient, db: Database) -> Script:
    make_team(db)
    return Script(client, api_token(db, ORGANISER))


def publish(script: Script) -> None:
    answer = script.call("POST", "/api/{conference}/programme/publish", None)
    assert answer.status_code == 200, answer.text


def public_session(client: TestClient, slug: str, lang: str) -> dict[str, Any]:
    programme = client.get(f"/api/{DEMO}/programme?lang={lang}").json()
    return next(s for s in programme["sessions"] if s["slug"] == slug)


def stored_session(db: Database, slug: str) -> ProgrammeSession:
    with db.read() as session:
        return session.exec(select(ProgrammeSession).where(ProgrammeSession.slug == slug)).one()


def test_a_script_reads_every_language_of_a_session_and_changes_one_text_only(
    script: Script, client: TestClient, db: Database
) -> None:
    before = script.call("GET", SESSION, session=OPENING).json()["session"]
    spanish_abstract = before["translations"]["es"]["abstract"]
    assert before["translations"]["es"]["title"].startswith("Acto de apertura")
    assert before["title"].startswith("Opening rally")

    changed = script.call(
        "PATCH",
        SESSION,
        {"translations": {"es": {"title": "Acto de apertura: ¡otro mundo ya!"}}},
        session=OPENING,
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()["session"]["translations"]["es"]
    # The abstract was not sent, so it stays.
    assert after == {"title": "Acto de apertura: ¡otro mundo ya!", "abstract": spanish_abstract}
    # The programme is published: the change waits in the working copy.
    assert public_session(client, OPENING, "es")["title"].startswith("Acto de apertura: otro")

    publish(script)
    assert public_session(client, OPENING, "es")["title"] == "Acto de apertura: ¡otro mundo ya!"
    assert public_session(client, OPENING, "en-AU")["title"] == before["title"]
    assert stored_session(db, OPENING).translations["es"]["abstract"] == spanish_abstract


def test_an_empty_text_takes_a_translation_away_and_readers_get_the_default_language(
    script: Script, client: TestClient
) -> None:
    answer = script.call("PATCH", SESSION, {"translations": {"es": {"title": ""}}}, session=OPENING)
    assert answer.status_code == 200, answer.text
    assert "title" not in answer.json()["session"]["translations"]["es"]
    publish(script)
    shown = public_session(client, OPENING, "es")["title"]
    assert shown.startswith("Opening rally")


def test_a_translation_is_checked_like_its_field_and_refused_whole_with_the_reason(
    script: Script, db: Database
) -> None:
    before = stored_session(db, OPENING)
    answer = script.call(
        "PATCH",
        SESSION,
        {
            "title": "A new English title",
            "translations": {"es": {"title": "x" * 301}, "fr": {"title": "Meeting d'ouverture"}},
        },
        session=OPENING,
    )
    assert answer.status_code == 422, answer.text
    fields = answer.json()["fields"]
    assert fields["translations.es.title"] == "must be at most 300 characters"
    assert "fr" in fields["translations.fr"] and "es" in fields["translations.fr"]
    # Nothing was written, not even the valid English title.
    after = stored_session(db, OPENING)
    assert (after.title, after.translations, after.version) == (
        before.title,
        before.translations,
        before.version,
    )
    staged = script.call("GET", SESSION, session=OPENING).json()["session"]
    assert staged["title"] == before.title


def test_a_field_that_is_not_given_per_language_is_refused(script: Script) -> None:
    answer = script.call(
        "PATCH", SESSION, {"translations": {"es": {"kind": "taller"}}}, session=OPENING
    )
    assert answer.status_code == 422
    assert answer.json()["fields"] == {"translations.es.kind": "is not a text given per language"}


def test_a_script_gives_a_room_access_notes_in_spanish(
    script: Script, client: TestClient, db: Database
) -> None:
    notes = "Entrada sin escalones por Science Road, por las puertas norte con rampa."
    answer = script.call(
        "PATCH", ROOM, {"translations": {"es": {"access_notes": notes}}}, room="great-hall"
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["room"]["translations"] == {"es": {"access_notes": notes}}
    refused = script.call(
        "PATCH", ROOM, {"translations": {"es": {"name": "Gran Salón"}}}, room="great-hall"
    )
    assert refused.status_code == 422
    assert refused.json()["fields"] == {"translations.es.name": "is not a text given per language"}
    with db.read() as session:
        room = session.exec(select(Room).where(Room.slug == "great-hall")).one()
    assert room.translations == {"es": {"access_notes": notes}}
    # Rooms are not staged: a session in the room shows the notes to Spanish readers at once.
    assert notes in client.get(f"/{DEMO}/sessions/{OPENING}?lang=es").text
    assert notes not in client.get(f"/{DEMO}/sessions/{OPENING}?lang=en-AU").text


# --- the back office's forms ---------------------------------------------------------------


@pytest.fixture
def organiser(client: TestClient, db: Database) -> str:
    make_team(db)
    sign_in(client, ORGANISER)
    return csrf_token(client)


def session_form_path(slug: str) -> str:
    return f"/admin/{DEMO}/programme/sessions/{slug}"


def test_the_session_form_has_a_field_for_each_other_language_and_keeps_what_was_typed(
    client: TestClient, db: Database, organiser: str
) -> None:
    page = client.get(session_form_path(OPENING))
    assert page.status_code == 200
    assert 'for="translations.es.title">Title in Spanish</label>' in page.text
    assert 'for="translations.es.abstract">Abstract in Spanish</label>' in page.text
    sent = form_on(page.text, session_form_path(OPENING))
    assert sent["translations.es.title"].startswith("Acto de apertura")

    too_long = "y" * 301
    sent.update({"translations.es.title": too_long, "csrf_token": organiser})
    refused = client.post(session_form_path(OPENING), data=sent, follow_redirects=False)
    assert refused.status_code == 422
    beside = message_beside(refused.text, "translations.es.title")
    assert beside == "Title in Spanish must be at most 300 characters."
    assert form_on(refused.text, session_form_path(OPENING))["translations.es.title"] == too_long

    sent["translations.es.title"] = "Acto de apertura: el mundo que queremos"
    saved = client.post(session_form_path(OPENING), data=sent, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    again = form_on(client.get(session_form_path(OPENING)).text, session_form_path(OPENING))
    assert again["translations.es.title"] == "Acto de apertura: el mundo que queremos"


def test_the_track_form_takes_a_spanish_name_and_the_public_programme_shows_it(
    client: TestClient, db: Database, organiser: str
) -> None:
    path = f"/admin/{DEMO}/programme/tracks"
    listing = client.get(path)
    assert 'for="translations.es.name">Name in Spanish</label>' in listing.text
    added = client.post(
        path,
        data={
            "csrf_token": organiser,
            "name": "Housing",
            "translations.es.name": "Vivienda",
            "translations.es.description": "",
            "colour": "#336699",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    record = client.get(f"{path}/housing")
    assert 'value="Vivienda"' in record.text


def test_a_ticket_type_gets_a_spanish_name_that_the_spanish_registration_form_shows(
    client: TestClient, db: Database, organiser: str
) -> None:
    path = f"/admin/{DEMO}/settings/ticket-types/waged"
    sent = form_on(client.get(path).text, path)
    assert sent["translations.es.name"] == "Con salario"

    # The page's other form, posting to the same address, hides the type: this one saves.
    sent.update({"csrf_token": organiser, "action": "save", "translations.es.name": "z" * 201})
    refused = client.post(path, data=sent, follow_redirects=False)
    assert refused.status_code == 422
    assert (
        message_beside(refused.text, "translations.es.name")
        == "Name attendees see in Spanish must be at most 200 characters."
    )
    assert form_on(refused.text, path)["translations.es.name"] == "z" * 201

    sent["translations.es.name"] = "Con sueldo"
    saved = client.post(path, data=sent, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    spanish = client.get(f"/{DEMO}/register?lang=es").text
    assert "Con sueldo" in spanish and "Con salario" not in spanish
    assert "Con sueldo" not in client.get(f"/{DEMO}/register?lang=en-AU").text


def test_an_organiser_offers_the_conference_in_spanish_only_then_in_both_again(
    client: TestClient, db: Database, organiser: str
) -> None:
    path = f"/admin/{DEMO}/settings"
    page = client.get(path).text
    sent = form_on(page, f"{path}/languages")
    assert sent["languages"] == "en-AU, es"
    assert sent["default_language"] == "en-AU"
    assert sent["translations.es.name"] == "Socialismo 2027"

    refused = client.post(
        f"{path}/languages",
        data={
            **sent,
            "csrf_token": organiser,
            "languages": "en-AU, klingon",
            "default_language": "fr",
        },
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "'klingon' is not a language confapp has a catalogue for" in unescape(
        message_beside(refused.text, "languages")
    )
    assert unescape(message_beside(refused.text, "default_language")).startswith(
        "Default language must be one of the languages offered"
    )
    assert form_on(refused.text, f"{path}/languages")["languages"] == "en-AU, klingon"

    saved = client.post(
        f"{path}/languages",
        data={**sent, "csrf_token": organiser, "languages": "es", "default_language": "es"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    home = client.get(f"/{DEMO}/", headers={"Accept-Language": "en-AU"})
    assert '<html lang="es"' in home.text

    again = client.post(
        f"{path}/languages",
        data={"csrf_token": organiser, "languages": "en-au, es", "default_language": "en-AU"},
        follow_redirects=False,
    )
    assert again.status_code == 303, again.text
    # The Spanish name was kept while Spanish was the only language.
    assert "Socialismo 2027" in client.get(f"/{DEMO}/?lang=es").text
    assert '<html lang="en-AU"' in client.get(f"/{DEMO}/").text


def test_a_notice_goes_to_each_attendee_in_the_language_they_registered_in(
    client: TestClient, db: Database, settings: Settings, mailbox: Mailbox
) -> None:
    for name, language in (("Rosa Park", "es"), ("Lucy Parsons", "en-AU")):
        answer = client.post(
            f"/api/{DEMO}/registrations",
            json={
                "name": name,
                "email": address_of(name),
                "ticket_type": "waged",
                "email_consent": True,
            },
            headers={"Accept-Language": language},
        )
        assert answer.status_code == 201, answer.text
    organiser = sign_in_organiser(client, db)
    notices = f"/admin/{DEMO}/notices"
    notice = {
        "csrf_token": organiser,
        "subject": "Room change",
        "body": "The opening rally moves to the Quad.",
        "audience": "all",
        "translations.es.subject": "Cambio de sala",
        "translations.es.body": "",
    }
    refused = client.post(notices, data=notice)
    assert refused.status_code == 422
    assert message_beside(refused.text, "translations.es.body") == (
        "Write the message in this language too, or leave both empty."
    )
    assert form_on(refused.text, notices)["translations.es.subject"] == "Cambio de sala"

    notice["translations.es.body"] = "El acto de apertura pasa al Quad."
    preview = client.post(notices, data=notice)
    assert preview.status_code == 200
    # The send button's form carries every language's texts.
    confirm = form_on(preview.text.split('<h2 id="preview-title">')[1].split("<h2>")[0], notices)
    assert confirm["translations.es.body"] == "El acto de apertura pasa al Quad."
    sent = client.post(notices, data={**confirm, "confirm": "send"}, follow_redirects=False)
    assert sent.status_code == 303, sent.text

    smtp = settings.with_overrides(smtp_host="127.0.0.1", smtp_port=mailbox.port)
    anyio.run(functools.partial(send_due_mail, db, smtp))
    received = {
        m["To"]: m for m in mailbox.messages if m["Subject"] in ("Room change", "Cambio de sala")
    }
    spanish, english = received[address_of("Rosa Park")], received[address_of("Lucy Parsons")]
    assert spanish["Subject"] == "Cambio de sala"
    assert "El acto de apertura pasa al Quad." in spanish.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Socialismo 2027" in spanish.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert english["Subject"] == "Room change"
    assert "moves to the Quad" in english.get_body(("plain",)).get_content()  # type: ignore[union-attr]
