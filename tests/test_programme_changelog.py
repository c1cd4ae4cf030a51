"""The public changelog: every session of a published programme moved, given another room,
cancelled, restored, renamed or added, newest first, on a page and in an Atom feed that a
second parser (feedparser) reads; and nothing at all while the programme is unpublished."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from html import unescape
from pathlib import Path

import feedparser
import pytest
from sqlmodel import func, select
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.db import Database
from confapp.models import ProgrammeChange
from confapp.programme import changelog
from confapp.programme.changes import bump_programme_version
from confapp.programme.conference_file import load_conference_file
from confapp.programme.queries import require_conference
from confapp.resources import demo_seed_path
from confapp.settings import Settings
from confapp.times import utcnow
from tests.support import DEMO
from tests.support.programme import LENIN, STATE, WAGES, edit_session, sydney

ATOM = "{http://www.w3.org/2005/Atom}"


def set_published(db: Database, published: bool) -> None:
    with db.transaction() as session:
        conference = require_conference(session, DEMO)
        conference.programme_published_at = utcnow() if published else None
        bump_programme_version(conference)


def load_with_a_new_session(db: Database, tmp_path: Path) -> None:
    """The organisers add a session to the conference file and load it again."""
    text = demo_seed_path().read_text(encoding="utf-8") + (
        "\n[[sessions]]\n"
        'key = "bread-and-roses"\n'
        'title = "Bread and roses: the 1912 Lawrence strike"\n'
        'kind = "talk"\n'
        "start = 2027-07-11T14:00:00\n"
        "end = 2027-07-11T15:00:00\n"
        'room = "seminar-1"\n'
        'speakers = ["liam-farrelly"]\n'
    )
    path = tmp_path / "conference.toml"
    path.write_text(text, encoding="utf-8")
    load_conference_file(db, path)


def changes_in(page: str) -> list[tuple[str, str, str]]:
    """(kind, the words a reader sees, the session link) of each change listed, in order."""
    found = []
    for kind, item in re.findall(
        r'<li id="change-\d+" data-kind="(\w+)">(.*?)</li>', page, flags=re.DOTALL
    ):
        link = re.search(r'<a href="([^"]+)">', item)
        words = " ".join(unescape(re.sub(r"<[^>]+>", "", item)).split())
        found.append((kind, words, link.group(1) if link else ""))
    return found


def logged_changes(db: Database) -> int:
    with db.read() as session:
        return session.exec(select(func.count()).select_from(ProgrammeChange)).one()


def test_the_changelog_lists_each_kind_of_change_newest_first_with_old_and_new(
    client: TestClient, db: Database, tmp_path: Path
) -> None:
    load_with_a_new_session(db, tmp_path)  # the oldest change
    edit_session(db, LENIN, start=sydney(10, 11, 30), end=sydney(10, 13))
    edit_session(db, STATE, room="foyer")
    edit_session(db, WAGES, status="cancelled")
    edit_session(db, WAGES, status="confirmed")
    edit_session(db, STATE, title="Can we vote our way there?")

    page = client.get(f"/{DEMO}/changes")

    assert page.status_code == 200
    listed = changes_in(page.text)
    assert [kind for kind, _, _ in listed] == ["title", "status", "status", "room", "time", "added"]
    renamed, restored, cancelled, new_room, moved, added = listed
    assert "Added: Bread and roses: the 1912 Lawrence strike" in added[1]
    assert "Sun 11 Jul 14:00–15:00" in added[1]
    assert added[2] == f"/{DEMO}/sessions/bread-and-roses"
    assert (
        "Renamed: Can we vote our way there? – “The state and revolution: can we vote our way "
        "to socialism?” → “Can we vote our way there?”" in renamed[1]
    )
    assert "Back on: Nurses, teachers" in restored[1] and "no longer cancelled" in restored[1]
    assert "Cancelled: Nurses, teachers" in cancelled[1]
    assert cancelled[2] == f"/{DEMO}/sessions/{WAGES}"
    assert "New room: Can we vote our way there? – Great Hall → Courtyard Foyer" in new_room[1]
    assert "Moved: Lenin and the 1903 congress" in moved[1]
    assert "Sat 10 Jul 09:30–11:00 → Sat 10 Jul 11:30–13:00" in moved[1]
    assert moved[2] == f"/{DEMO}/sessions/{LENIN}"
    assert "6 changes" in page.text and "Times are Australia/Sydney time" in page.text
    assert len(re.findall(r"<h1[ >]", page.text)) == 1

    # The programme links to it, and both pages name the feed for feed readers.
    programme = client.get(f"/{DEMO}/programme").text
    assert f'href="/{DEMO}/changes"' in programme
    alternate = (
        '<link rel="alternate" type="application/atom+xml" title="Socialism 2027: programme '
        f'changes" href="/{DEMO}/changes.atom">'
    )
    assert alternate in programme and alternate in page.text


def test_an_unpublished_programme_logs_nothing_and_has_no_changelog(
    client: TestClient, db: Database
) -> None:
    set_published(db, False)
    edit_session(db, LENIN, start=sydney(10, 11, 30), end=sydney(10, 13))
    edit_session(db, WAGES, status="cancelled")

    assert logged_changes(db) == 0
    page = client.get(f"/{DEMO}/changes")
    assert page.status_code == 404
    assert "The programme of Socialism 2027 is not published yet" in unescape(page.text)
    assert client.get(f"/{DEMO}/changes.atom").status_code == 404
    programme = client.get(f"/{DEMO}/programme").text
    assert "application/atom+xml" not in programme and f"/{DEMO}/changes" not in programme

    # Published, the changelog starts empty: drafts were never public, so never "changes".
    set_published(db, True)
    page = client.get(f"/{DEMO}/changes")
    assert page.status_code == 200
    assert "Nothing has changed since the programme was published" in page.text
    assert changes_in(page.text) == []
    feed = feedparser.parse(client.get(f"/{DEMO}/changes.atom").content)
    assert not feed.bozo and feed.entries == []

    # Taken back to a draft, what it logged while public is hidden again.
    edit_session(db, WAGES, status="confirmed")
    set_published(db, False)
    assert client.get(f"/{DEMO}/changes").status_code == 404
    assert client.get(f"/{DEMO}/changes.atom").status_code == 404


def test_the_atom_feed_parses_and_holds_the_changes_with_stable_ids(
    client: TestClient, db: Database
) -> None:
    start = utcnow() - timedelta(minutes=30)
    edit_session(db, LENIN, start, start=sydney(10, 11, 30), end=sydney(10, 13))
    edit_session(db, STATE, start + timedelta(minutes=1), title="Bread & roses <now>")

    answer = client.get(f"/{DEMO}/changes.atom")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(answer.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert feed.feed.title == "Socialism 2027: programme changes"
    assert feed.feed.id.startswith("urn:uuid:")
    renamed, moved = feed.entries
    assert renamed.title == "Renamed: Bread & roses <now>"
    assert renamed.summary == (
        "“The state and revolution: can we vote our way to socialism?” → “Bread & roses <now>”"
    )
    assert renamed.link == f"http://testserver/{DEMO}/sessions/{STATE}"
    assert moved.title == "Moved: Lenin and the 1903 congress: what was the split really about?"
    assert moved.summary == "Sat 10 Jul 09:30–11:00 → Sat 10 Jul 11:30–13:00"
    assert moved.link == f"http://testserver/{DEMO}/sessions/{LENIN}"
    assert datetime(*moved.updated_parsed[:6]) == start.replace(microsecond=0, tzinfo=None)
    assert len({renamed.id, moved.id}) == 2 and moved.id.startswith("urn:uuid:")

    # RFC 4287's required elements, read with a plain XML parser too.
    root = ET.fromstring(answer.content)
    assert root.tag == f"{ATOM}feed"
    for element in ("id", "title", "updated", "author/" + ATOM + "name"):
        assert root.find(ATOM + element) is not None, element
    assert root.find(f"{ATOM}link[@rel='self']").get("href") == (  # type: ignore[union-attr]
        f"http://testserver/{DEMO}/changes.atom"
    )
    for entry in root.findall(f"{ATOM}entry"):
        for element in ("id", "title", "updated", "link", "summary"):
            assert entry.find(ATOM + element) is not None, element

    # A later change adds an entry; the earlier ones keep their ids.
    edit_session(db, WAGES, status="cancelled")
    again = feedparser.parse(client.get(f"/{DEMO}/changes.atom").content)
    assert [e.id for e in again.entries[1:]] == [renamed.id, moved.id]
    assert again.entries[0].title.startswith("Cancelled: Nurses, teachers")


def test_the_feed_answers_304_until_a_change_and_every_process_sees_it_at_once(
    client: TestClient, db: Database, settings: Settings
) -> None:
    edit_session(db, LENIN, utcnow() - timedelta(minutes=5), room="seminar-2")
    first = client.get(f"/{DEMO}/changes.atom")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert first.headers["cache-control"] == "public, max-age=300"

    assert client.get(f"/{DEMO}/changes.atom", headers={"If-None-Match": etag}).status_code == 304
    since = client.get(f"/{DEMO}/changes.atom", headers={"If-Modified-Since": modified})
    assert since.status_code == 304

    # A second app process on the same database, with its own cache of built bodies.
    with TestClient(create_app(settings), raise_server_exceptions=False) as other_process:
        assert other_process.get(f"/{DEMO}/changes.atom").headers["etag"] == etag
        edit_session(db, WAGES, status="cancelled")
        for process in (client, other_process):
            fresh = process.get(f"/{DEMO}/changes.atom", headers={"If-None-Match": etag})
            assert fresh.status_code == 200
            assert fresh.headers["etag"] != etag
            assert len(feedparser.parse(fresh.content).entries) == 2


def test_a_long_changelog_comes_a_page_at_a_time(
    client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changelog, "PER_PAGE", 2)
    start = utcnow() - timedelta(hours=1)
    for minutes, hour in ((0, 12), (1, 13), (2, 14)):
        edit_session(
            db,
            LENIN,
            start + timedelta(minutes=minutes),
            start=sydney(10, hour),
            end=sydney(10, hour, 45),
        )

    first = client.get(f"/{DEMO}/changes")
    assert [words.split("→")[-1].strip() for _, words, _ in changes_in(first.text)] == [
        "Sat 10 Jul 14:00–14:45",
        "Sat 10 Jul 13:00–13:45",
    ]
    assert f'href="/{DEMO}/changes?page=2" rel="next"' in first.text
    second = client.get(f"/{DEMO}/changes?page=2")
    [(_, words, _)] = changes_in(second.text)
    assert words.endswith(
        "Moved: Lenin and the 1903 congress: what was the split really about? – "
        "Sat 10 Jul 09:30–11:00 → Sat 10 Jul 12:00–12:45"
    )
    assert f'href="/{DEMO}/changes" rel="prev"' in second.text
    for page in ("3", "0", "x", "-1"):
        assert client.get(f"/{DEMO}/changes?page={page}").status_code == 404, page
