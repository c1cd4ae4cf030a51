"""Walking a conference's pages in a language and finding words left in English.

In the pseudo-language every word confapp writes, and every organiser's text, comes out between
⟦ and ⟧ (confapp.translation.pseudo); so any other run of letters on a page is either data that
is never translated (a person's name, a room, a ticket code: `data_words` collects them from the
database) or a string nobody marked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from sqlmodel import select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import (
    Conference,
    Notice,
    ProgrammeSession,
    Registration,
    Room,
    Speaker,
    TicketType,
    Track,
    User,
    WebSession,
)
from confapp.tickets.tokens import display_code
from confapp.translation import PSEUDO_CLOSE, PSEUDO_OPEN
from tests.support import DEMO


def offer_languages(db: Database, languages: list[str], default: str | None = None) -> None:
    """The demo conference offered in `languages` (the default: the first)."""
    with db.transaction() as session:
        conference = session.exec(select(Conference).where(Conference.slug == DEMO)).one()
        conference.languages = languages
        conference.default_language = default or languages[0]
        conference.programme_version += 1


# The innermost pseudo run (a translated message may hold another one as a value).
_PSEUDO_RUN = re.compile(
    re.escape(PSEUDO_OPEN) + f"[^{PSEUDO_OPEN}{PSEUDO_CLOSE}]*" + re.escape(PSEUDO_CLOSE)
)
_LETTERS = re.compile(r"[^\W\d_]{2,}")
# The pseudo-language turns every ASCII letter into an accented one: a word of plain ASCII
# letters left on a page was never translated (a name such as Iñaki is one word, and data).
_WORD = re.compile(r"[^\W\d_]+")
_ASCII_WORD = re.compile(r"[A-Za-z]{2,}")
_VISIBLE_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label", "label"}


def content_words(db: Database) -> set[str]:
    """Organisers' texts as stored: the back office shows them so (its forms edit them)."""
    texts: list[str] = []
    with db.read() as session:
        for model in (Conference, Room, Track, ProgrammeSession, TicketType, Notice):
            for row in session.exec(select(model)):
                texts += [str(getattr(row, name) or "") for name in model.TRANSLATED]
                if model is ProgrammeSession:
                    texts += [item.get("title", "") for item in row.reading_list]
        for speaker in session.exec(select(Speaker)):
            texts += [speaker.bio]
    return {word for text in texts for word in _LETTERS.findall(text)}


def data_words(db: Database) -> set[str]:
    """Words on pages that are data, never translated: names of people and rooms, venues, time
    zones, codes, e-mail addresses."""
    words: set[str] = set()
    with db.read() as session:
        texts: list[str] = []
        for conference in session.exec(select(Conference)):
            texts += [
                conference.slug,
                conference.venue,
                conference.venue_address,
                conference.timezone,
                conference.currency,
                conference.url,
            ]
        for room in session.exec(select(Room)):
            texts += [room.name, room.slug]
        for speaker in session.exec(select(Speaker)):
            texts += [speaker.name, speaker.pronouns, speaker.affiliation, speaker.bio]
            texts += list(speaker.links)
        for ticket_type in session.exec(select(TicketType)):
            texts.append(ticket_type.code)
        for registration in session.exec(select(Registration)):
            code = registration.ticket_code
            texts += [registration.name, registration.email, code, display_code(code)]
        for programme_session in session.exec(select(ProgrammeSession)):
            # A reading list names books and articles: titles are never translated.
            texts += [item.get("title", "") for item in programme_session.reading_list]
        for user in session.exec(select(User)):
            texts.append(user.email)
        for web_session in session.exec(select(WebSession)):
            texts.append(web_session.user_agent)
    for text in texts:
        words |= set(_LETTERS.findall(text or ""))
    return words


class _PageText(HTMLParser):
    """The text a reader sees or hears, skipping scripts, styles and anything marked as being
    in another language (the switcher names each language in itself)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, skipped)

    def _skipping(self) -> bool:
        return any(skipped for _tag, skipped in self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        skipped = tag in ("script", "style", "code", "kbd", "samp") or (
            "lang" in values and tag != "html" and values["lang"] != "qps"
        )
        if tag not in ("br", "img", "input", "meta", "link", "hr", "source", "wbr", "area"):
            self._stack.append((tag, skipped))
        if self._skipping() or skipped:
            return
        for name, value in attrs:
            shown = name in _VISIBLE_ATTRIBUTES or (
                name == "value"
                and tag == "input"  # a <button>'s value is never shown
                and values.get("type") in ("submit", "button", "reset")
            )
            if shown and value:
                self.texts.append(value)

    def handle_endtag(self, tag: str) -> None:
        for position in range(len(self._stack) - 1, -1, -1):
            if self._stack[position][0] == tag:
                del self._stack[position:]
                break

    def handle_data(self, data: str) -> None:
        if not self._skipping() and data.strip():
            self.texts.append(data)


def page_texts(html: str) -> list[str]:
    reader = _PageText()
    reader.feed(html)
    reader.close()
    return reader.texts


def english_left(html: str, data: set[str]) -> list[str]:
    """Words on a pseudo-language page that are neither pseudo nor data, each with the text
    around it. The page's texts are joined first: one message may span several elements."""
    text = " ".join(" ".join(page_texts(html)).split())
    while True:
        shorter = _PSEUDO_RUN.sub(" ", text)
        if shorter == text:
            break
        text = shorter
    left: dict[str, str] = {}
    for found in _WORD.finditer(text):
        word = found.group(0)
        if (
            not _ASCII_WORD.fullmatch(word)
            or word in data
            or word.lower() == "confapp"
            or word in left
        ):
            continue
        left[word] = text[max(0, found.start() - 30) : found.end() + 30].strip()
    return [f"{word}: …{context}…" for word, context in left.items()]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)


_NOT_PAGES = re.compile(
    r"\.(ics|xml|json|csv|atom|png|svg|webmanifest|js|css)(\?|$)|/logout|/language|/api/|/sw\.js"
)


def crawl(
    client: TestClient, starts: Iterable[str], *, limit: int = 250, query: str = ""
) -> Iterator[tuple[str, str]]:
    """(path, HTML) of every page reachable by links from `starts` on this site, each once."""
    seen: set[str] = set()
    queue = list(starts)
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = client.get(
            path + (("&" if "?" in path else "?") + query if query else ""),
            follow_redirects=False,
        )
        assert response.status_code < 500, f"{path}: {response.status_code}"
        if response.is_redirect:
            queue.append(urlsplit(response.headers["location"]).path)
            continue
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        yield path, response.text
        reader = _Links()
        reader.feed(response.text)
        for href in reader.links:
            target = urljoin(path, href)
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or _NOT_PAGES.search(parts.path):
                continue
            local = parts.path + (f"?{parts.query}" if parts.query else "")
            if local not in seen and "lang=" not in local:
                queue.append(local)
