"""An organiser edits the published programme in a working copy: saves stay among organisers
until "Publish changes" releases them together (one changelog entry group with its note, one
feed version, one change-mail batch), or "Discard" throws them away. On the day itself the
conference may make every save public instead."""

from __future__ import annotations

import functools
import re
from email.message import EmailMessage
from typing import Any

import anyio
from sqlmodel import col, select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import (
    Conference,
    OutboxMail,
    ProgrammeChange,
    ProgrammeChangeBatch,
    ProgrammeRelease,
    ProgrammeSession,
)
from confapp.outbox import send_due_mail
from confapp.programme.change_mail import PROGRAMME_CHANGES_MAIL
from confapp.settings import Settings
from tests.support import DEMO
from tests.support.accounts import (
    api_token,
    audit_actions,
    make_organiser,
    sign_in,
)
from tests.support.mail import Mailbox
from tests.support.openapi_contract import assert_matches_contract
from tests.support.pages import form_on
from tests.support.programme import LENIN, SATURDAY, STATE
from tests.support.registrations import register_and_star

EDITOR = f"/admin/{DEMO}/programme"
CHANGES = f"{EDITOR}/changes"


def public_session(client: TestClient, slug: str) -> dict[str, Any]:
    document = client.get(f"/api/{DEMO}/programme").json()
    return next(s for s in document["sessions"] if s["slug"] == slug)


def stored(db: Database, slug: str) -> ProgrammeSession:
    with db.read() as session:
        return session.exec(select(ProgrammeSession).where(ProgrammeSession.slug == slug)).one()


def programme_version(db: Database) -> int:
    with db.read() as session:
        return session.exec(select(Conference.programme_version)).one()


def save_form(client: TestClient, slug: str, **changes: str) -> Any:
    path = f"{EDITOR}/sessions/{slug}"
    fields = form_on(client.get(path).text, path)
    fields.update(changes)
    return client.post(path, data=fields, follow_redirects=False)


def organiser(client: TestClient, db: Database) -> TestClient:
    sign_in(client, make_organiser(db))
    return client


def test_a_save_stays_in_the_working_copy_until_the_changes_are_published(
    client: TestClient, db: Database
) -> None:
    organiser(client, db)
    public_before = public_session(client, LENIN)
    feed_before = client.get(f"/{DEMO}/sessions/{LENIN}.ics")
    version_before = programme_version(db)

    moved = save_form(client, LENIN, room="foyer", start="14:00", end="15:30")
    assert moved.status_code == 303, moved.text

    # The public programme, its calendar and its changelog are as they were...
    assert public_session(client, LENIN) == public_before
    assert client.get(f"/{DEMO}/sessions/{LENIN}.ics").content == feed_before.content
    assert programme_version(db) == version_before
    assert stored(db, LENIN).sequence == 0
    # ...while the editor shows the working copy and says what is not public yet.
    day = client.get(f"{EDITOR}/day/{SATURDAY}").text
    assert 'id="working-copy"' in day and "1 change is not public yet." in day
    card = re.search(rf'data-session="{LENIN}"[^>]*>', day)
    assert card is not None and 'data-room="foyer"' in card.group(0)
    assert f'data-start="{SATURDAY}T14:00:00+10:00"' in card.group(0)
    review = client.get(CHANGES)
    assert review.status_code == 200
    listed = review.text.split('id="pending-changes"')[1].split("</ul>")[0]
    assert "Lenin and the 1903 congress" in listed
    assert "The Refectory" in listed and "Courtyard Foyer" in listed

    publish = form_on(review.text, f"{CHANGES}/publish")
    publish["note"] = "Lenin moves to the foyer after lunch."
    done = client.post(f"{CHANGES}/publish", data=publish, follow_redirects=False)
    assert done.status_code == 303, done.text

    now_public = public_session(client, LENIN)
    assert now_public["room"] == "foyer"
    assert now_public["start"] == f"{SATURDAY}T14:00:00+10:00"
    assert stored(db, LENIN).sequence == 1
    assert programme_version(db) == version_before + 1  # one feed version for the release
    changelog = client.get(f"/{DEMO}/changes").text
    assert "Lenin moves to the foyer after lunch." in changelog
    with db.read() as session:
        [release] = session.exec(select(ProgrammeRelease)).all()
        changes = session.exec(select(ProgrammeChange)).all()
    assert release.note == "Lenin moves to the foyer after lunch."
    assert sorted(c.kind for c in changes) == ["room", "time"]
    assert {c.release_id for c in changes} == {release.id}
    assert client.get(CHANGES).text.count("Nothing is pending") == 1
    assert "programme_changes_published" in audit_actions(db)
    assert "programme_session_changed" in audit_actions(db)


def send_all(db: Database, settings: Settings, mailbox: Mailbox) -> None:
    smtp = settings.with_overrides(smtp_host="127.0.0.1", smtp_port=mailbox.port)
    anyio.run(functools.partial(send_due_mail, db, smtp))


def change_mails(mailbox: Mailbox) -> list[EmailMessage]:
    return [m for m in mailbox.messages if "starred" in str(m["Subject"])]


def test_three_saves_are_one_release_and_one_mail_to_whoever_starred_them(
    mail_client: TestClient, db: Database, settings: Settings, mailbox: Mailbox
) -> None:
    register_and_star(mail_client, "Rosa", consent=True, starred=[LENIN, STATE])
    organiser(mail_client, db)
    moved = save_form(mail_client, LENIN, start="14:00", end="15:30", confirm_clashes="1")
    assert moved.status_code == 303
    assert save_form(mail_client, LENIN, room="foyer").status_code == 303
    assert save_form(mail_client, STATE, title="State and revolution today").status_code == 303
    with db.read() as session:
        assert session.exec(select(ProgrammeChange)).all() == []  # nothing public, nothing mailed

    review = mail_client.get(CHANGES).text
    done = mail_client.post(
        f"{CHANGES}/publish", data=form_on(review, f"{CHANGES}/publish"), follow_redirects=False
    )
    assert done.status_code == 303

    with db.read() as session:
        [batch] = session.exec(select(ProgrammeChangeBatch)).all()
        [queued] = session.exec(
            select(OutboxMail).where(OutboxMail.kind == PROGRAMME_CHANGES_MAIL)
        ).all()
        changes = session.exec(select(ProgrammeChange).order_by(col(ProgrammeChange.id))).all()
    assert queued.reference_id == batch.id
    assert {c.mail_batch_id for c in changes} == {batch.id}
    send_all(db, settings, mailbox)
    [mail] = change_mails(mailbox)
    assert mail["To"] == "rosa@example.org"


def test_discarding_asks_once_and_leaves_the_public_programme_as_it_was(
    client: TestClient, db: Database
) -> None:
    organiser(client, db)
    before = public_session(client, LENIN)
    assert save_form(client, LENIN, title="A title tried out").status_code == 303
    review = client.get(CHANGES).text
    asked = client.post(f"{CHANGES}/discard", data=form_on(review, f"{CHANGES}/discard"))
    assert asked.status_code == 200 and "Yes, discard them" in asked.text
    assert "A title tried out" in client.get(f"{EDITOR}/sessions/{LENIN}").text  # not yet

    sure = form_on(asked.text, f"{CHANGES}/discard")
    assert sure["confirm"] == "1"
    done = client.post(f"{CHANGES}/discard", data=sure, follow_redirects=False)
    assert done.status_code == 303
    assert "A title tried out" not in client.get(f"{EDITOR}/sessions/{LENIN}").text
    assert public_session(client, LENIN) == before
    with db.read() as session:
        assert session.exec(select(ProgrammeChange)).all() == []
    assert "programme_changes_discarded" in audit_actions(db)


def test_a_clash_saved_anyway_is_listed_before_publishing_and_publishing_it_asks_once(
    client: TestClient, db: Database
) -> None:
    organiser(client, db)
    asked = save_form(client, STATE, room="refectory")  # Lenin is there at the same time
    assert asked.status_code == 200 and "clash" in asked.text.lower()
    confirmed = save_form(client, STATE, room="refectory", confirm_clashes="1")
    assert confirmed.status_code == 303
    assert public_session(client, STATE)["room"] != "refectory"  # the hall is not double-booked

    review = client.get(CHANGES).text
    clashes = review.split('id="working-copy-clashes"')[1].split("</section>")[0]
    assert "new: publishing makes it public" in clashes
    first = client.post(f"{CHANGES}/publish", data=form_on(review, f"{CHANGES}/publish"))
    assert first.status_code == 200 and "Publish anyway, with the clashes" in first.text
    assert public_session(client, STATE)["room"] != "refectory"
    again = form_on(first.text, f"{CHANGES}/publish")
    assert again["confirm_clashes"] == "1"
    assert client.post(f"{CHANGES}/publish", data=again, follow_redirects=False).status_code == 303
    assert public_session(client, STATE)["room"] == "refectory"


def test_a_new_session_is_public_only_once_published_and_may_be_deleted_before(
    client: TestClient, db: Database
) -> None:
    organiser(client, db)
    path = f"{EDITOR}/sessions/new"
    for title, start in (("Tried out", "19:00"), ("Kept", "20:00")):
        fields = form_on(client.get(f"{path}?day={SATURDAY}").text, path)
        end = f"{int(start[:2]) + 1}:00"
        fields.update(title=title, start=start, end=end, room="seminar-1", confirm_clashes="1")
        assert client.post(path, data=fields, follow_redirects=False).status_code == 303
    slugs = [s["slug"] for s in client.get(f"/api/{DEMO}/programme").json()["sessions"]]
    assert "tried-out" not in slugs and "kept" not in slugs
    assert client.get(f"/{DEMO}/sessions/kept").status_code == 404

    page = client.get(f"{EDITOR}/sessions/tried-out").text
    delete = form_on(page, f"{EDITOR}/sessions/tried-out/delete")
    gone = client.post(f"{EDITOR}/sessions/tried-out/delete", data=delete, follow_redirects=False)
    assert gone.status_code == 303
    assert client.get(f"{EDITOR}/sessions/tried-out").status_code == 404

    review = client.get(CHANGES).text
    client.post(f"{CHANGES}/publish", data=form_on(review, f"{CHANGES}/publish"))
    assert public_session(client, "kept")["room"] == "seminar-1"
    with db.read() as session:
        [added] = session.exec(select(ProgrammeChange)).all()
    assert added.kind == "added"


def test_every_save_public_is_a_choice_refused_while_changes_wait(
    client: TestClient, db: Database
) -> None:
    organiser(client, db)
    assert save_form(client, LENIN, title="Pending title").status_code == 303
    mode = form_on(client.get(CHANGES).text, f"{CHANGES}/mode")
    refused = client.post(f"{CHANGES}/mode", data={**mode, "publish_each_save": "1"})
    assert refused.status_code == 409 and "Publish or discard the pending changes first" in (
        refused.text
    )
    review = client.get(CHANGES).text
    client.post(f"{CHANGES}/publish", data=form_on(review, f"{CHANGES}/publish"))
    mode = form_on(client.get(CHANGES).text, f"{CHANGES}/mode")
    chosen = client.post(
        f"{CHANGES}/mode", data={**mode, "publish_each_save": "1"}, follow_redirects=False
    )
    assert chosen.status_code == 303
    assert 'id="every-save-public"' in client.get(f"{EDITOR}/day/{SATURDAY}").text
    assert save_form(client, LENIN, title="Public at once").status_code == 303
    assert public_session(client, LENIN)["title"] == "Public at once"
    assert "programme_mode_changed" in audit_actions(db)


def test_the_api_says_where_it_writes_and_publishes_pending_changes(
    client: TestClient, db: Database
) -> None:
    token = api_token(db, make_organiser(db))
    headers = {"authorization": f"Bearer {token}"}

    def call(method: str, template: str, body: Any = None, **names: str) -> Any:
        path = template.format(conference=DEMO, **names)
        answer = client.request(method, path, json=body, headers=headers)
        assert answer.status_code < 500, answer.text
        assert_matches_contract(method.lower(), template, answer)
        return answer

    session_path = "/api/{conference}/sessions/{session}"
    moved = call("PATCH", session_path, {"room": "refectory"}, session=STATE)
    assert moved.status_code == 200 and moved.json()["writes_to"] == "working-copy"
    assert call("GET", session_path, session=STATE).json()["session"]["room"] == "refectory"
    assert public_session(client, STATE)["room"] != "refectory"

    pending = call("GET", "/api/{conference}/programme/pending").json()
    assert [(p["session"], p["fields"]) for p in pending["pending"]] == [(STATE, ["room"])]
    assert any(c["kind"] == "room_double_booked" for c in pending["new_clashes"])

    asked = call("POST", "/api/{conference}/programme/publish", {"note": "Room swap"})
    assert asked.status_code == 409 and asked.json()["error"] == "clashes"
    assert public_session(client, STATE)["room"] != "refectory"
    refused = call("POST", "/api/{conference}/programme/publish", {"nope": 1})
    assert refused.status_code == 422 and "nope" in refused.json()["fields"]

    published = call(
        "POST", "/api/{conference}/programme/publish", {"note": "Room swap", "with_clashes": True}
    )
    assert published.status_code == 200, published.text
    assert published.json()["release"] == {
        "id": published.json()["release"]["id"],
        "sessions": 1,
        "changes": 1,
        "note": "Room swap",
    }
    assert public_session(client, STATE)["room"] == "refectory"

    call("PATCH", session_path, {"title": "Tried"}, session=LENIN)
    discarded = call("DELETE", "/api/{conference}/programme/pending")
    assert discarded.json() == {"discarded": 1, "writes_to": "working-copy"}
    assert call("GET", session_path, session=LENIN).json()["session"]["title"] != "Tried"


def test_a_room_a_pending_change_uses_cannot_be_deleted(client: TestClient, db: Database) -> None:
    token = api_token(db, make_organiser(db))
    headers = {"authorization": f"Bearer {token}"}
    made = client.post(
        f"/api/{DEMO}/rooms", json={"name": "Annex", "capacity": 30}, headers=headers
    )
    assert made.status_code == 201, made.text
    room = made.json()["room"]["slug"]
    moved = client.patch(f"/api/{DEMO}/sessions/{LENIN}", json={"room": room}, headers=headers)
    assert moved.status_code == 200
    refused = client.delete(f"/api/{DEMO}/rooms/{room}", headers=headers)
    assert refused.status_code == 409 and refused.json()["error"] == "in_use"
