"""An organiser's draft programme stays theirs until they publish it: no public page, feed,
export or JSON shows a session, a speaker or a track before then, and all of them show the
programme the moment it is published, in the same request that follows."""

from __future__ import annotations

import json

import pytest
from icalendar import Calendar
from sqlmodel import select
from starlette.testclient import TestClient

from confapp import urls
from confapp.db import Database
from confapp.models import Conference, ProgrammeChange, ProgrammeSession, Speaker
from confapp.programme.editing import conference_for_update, publish_programme, update_session
from tests.support import DEMO
from tests.support.programme import publish_pending


def _unpublish(db: Database) -> tuple[str, str, str]:
    """Take the demo back to a draft; returns a session's slug and title and a speaker's slug."""
    with db.transaction() as session:
        conference = session.exec(select(Conference).where(Conference.slug == DEMO)).one()
        conference.programme_published_at = None
        conference.programme_version += 1
        record = session.exec(
            select(ProgrammeSession).where(ProgrammeSession.conference_id == conference.id)
        ).first()
        speaker = session.exec(
            select(Speaker).where(Speaker.conference_id == conference.id)
        ).first()
        assert record is not None and speaker is not None
        return record.slug, record.title, speaker.slug


@pytest.fixture
def draft(client: TestClient, db: Database) -> tuple[str, str, str]:
    return _unpublish(db)


def test_the_public_sees_no_session_speaker_or_track_of_a_draft(
    client: TestClient, draft: tuple[str, str, str]
) -> None:
    session_slug, title, speaker_slug = draft
    home = client.get(urls.conference_path(DEMO))
    assert home.status_code == 200
    assert "not published yet" in home.text and title not in home.text
    page = client.get(urls.programme_path(DEMO))
    assert page.status_code == 200
    assert "not published yet" in page.text and title not in page.text
    assert client.get(urls.session_path(DEMO, session_slug)).status_code == 404
    assert client.get(urls.speaker_path(DEMO, speaker_slug)).status_code == 404
    speakers = client.get(urls.speakers_path(DEMO))
    assert speakers.status_code == 200 and title not in speakers.text

    document = client.get(f"/api/{DEMO}/programme").json()
    assert document["sessions"] == [] and document["speakers"] == [] and document["tracks"] == []


def test_feeds_and_exports_of_a_draft_hold_no_events(
    client: TestClient, draft: tuple[str, str, str]
) -> None:
    session_slug, title, _ = draft
    feed = client.get(urls.programme_feed_path(DEMO))
    assert feed.status_code == 200
    assert Calendar.from_ical(feed.content).walk("VEVENT") == []
    assert client.get(urls.session_feed_path(DEMO, session_slug)).status_code == 404
    xml = client.get(urls.schedule_xml_path(DEMO))
    assert xml.status_code == 200 and title.encode() not in xml.content
    schedule = client.get(urls.schedule_json_path(DEMO))
    assert schedule.status_code == 200 and title not in schedule.text
    days = json.loads(schedule.text)["schedule"]["conference"]["days"]
    assert all(not events for day in days for events in day["rooms"].values())


def test_publishing_shows_everything_at_once_with_a_new_etag(
    client: TestClient, db: Database, draft: tuple[str, str, str]
) -> None:
    session_slug, title, speaker_slug = draft
    before = client.get(urls.programme_feed_path(DEMO))
    with db.transaction() as session:
        assert publish_programme(session, conference_for_update(session, DEMO))

    after = client.get(
        urls.programme_feed_path(DEMO), headers={"if-none-match": before.headers["etag"]}
    )
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    assert len(Calendar.from_ical(after.content).walk("VEVENT")) > 0
    assert title in client.get(urls.programme_path(DEMO)).text
    assert client.get(urls.session_path(DEMO, session_slug)).status_code == 200
    assert client.get(urls.speaker_path(DEMO, speaker_slug)).status_code == 200
    assert client.get(f"/api/{DEMO}/programme").json()["sessions"]


def test_changes_to_a_draft_are_not_logged_and_changes_after_publishing_are(
    client: TestClient, db: Database, draft: tuple[str, str, str]
) -> None:
    session_slug, _, _ = draft
    with db.transaction() as session:
        conference = conference_for_update(session, DEMO)
        update_session(
            session, conference, session_slug, {"title": "Draft title"}, expected_version=None
        )
    with db.read() as session:
        assert session.exec(select(ProgrammeChange)).first() is None

    with db.transaction() as session:
        conference = conference_for_update(session, DEMO)
        publish_programme(session, conference)
        update_session(
            session, conference, session_slug, {"title": "Public title"}, expected_version=None
        )
    with db.read() as session:  # in the working copy until the changes are published
        assert session.exec(select(ProgrammeChange)).first() is None
    publish_pending(db)
    with db.read() as session:
        changes = list(session.exec(select(ProgrammeChange)))
    assert [(c.kind, c.before, c.after) for c in changes] == [
        ("title", {"title": "Draft title"}, {"title": "Public title"})
    ]


def test_a_drafts_session_cannot_be_starred(
    client: TestClient, draft: tuple[str, str, str]
) -> None:
    session_slug, _, _ = draft
    answer = client.post(
        urls.star_path(DEMO, session_slug), data={"starred": "yes"}, follow_redirects=False
    )
    assert answer.status_code == 404
