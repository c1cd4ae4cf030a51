"""Reading the programme: the conference and everything in it, shaped for pages, feeds and JSON."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import true
from sqlmodel import Session, col, select

from confapp.content import localized
from confapp.models import (
    Conference,
    ProgrammeSession,
    Room,
    SessionDoor,
    SessionPerson,
    SessionStatus,
    Speaker,
    StagedSession,
    TicketType,
    Track,
)
from confapp.times import to_local
from confapp.translation import N_, _, use_conference_language


@dataclass(frozen=True)
class Person:
    speaker: Speaker
    role: str


@dataclass
class SessionEntry:
    """A programme session with its room, track and people resolved."""

    record: ProgrammeSession
    room: Room | None
    track: Track | None
    people: list[Person]
    tz: str
    # The door on the day (a steward's "full"), shown on public pages; never in feeds.
    door: SessionDoor | None = None
    overflow_room: Room | None = None

    @property
    def full(self) -> bool:
        return self.door is not None and self.door.full_since is not None

    @property
    def slug(self) -> str:
        return self.record.slug

    @property
    def title(self) -> str:
        return self.record.title

    @property
    def cancelled(self) -> bool:
        return self.record.status == SessionStatus.cancelled.value

    @property
    def local_start(self) -> datetime:
        return to_local(self.record.start, self.tz)

    @property
    def local_end(self) -> datetime:
        return to_local(self.record.end, self.tz)

    @property
    def day(self) -> date:
        return self.local_start.date()

    @property
    def speakers(self) -> list[Speaker]:
        return [p.speaker for p in self.people if p.role == "speaker"]

    @property
    def chairs(self) -> list[Speaker]:
        return [p.speaker for p in self.people if p.role == "chair"]

    @property
    def duration_minutes(self) -> int:
        return int((self.record.end - self.record.start).total_seconds() // 60)

    @property
    def kind_name(self) -> str:
        """The session's kind as readers see it: "Talk", "Workshop"."""
        return kind_name(self.record.kind)


# What each kind of session is called on pages and in calendars (SessionKind's values).
KIND_NAMES = {
    "talk": N_("Talk"),
    "panel": N_("Panel"),
    "debate": N_("Debate"),
    "workshop": N_("Workshop"),
    "plenary": N_("Plenary"),
    "social": N_("Social"),
}


def kind_name(kind: str) -> str:
    """A session kind in the reader's language (an unknown one as it is stored, capitalised)."""
    name = KIND_NAMES.get(kind)
    return _(name) if name else kind.capitalize()


@dataclass
class Programme:
    conference: Conference
    rooms: list[Room]
    tracks: list[Track]
    speakers: list[Speaker]
    sessions: list[SessionEntry]
    sessions_by_speaker: dict[int, list[SessionEntry]] = field(default_factory=dict)
    doors: dict[int, SessionDoor] = field(default_factory=dict)  # by session id

    @property
    def tz(self) -> str:
        return self.conference.timezone

    @property
    def published(self) -> bool:
        return self.conference.programme_published_at is not None

    @property
    def days(self) -> list[date]:
        """Conference days, plus any day a session falls on outside them."""
        conf = self.conference
        days = {
            conf.start_date + timedelta(n)
            for n in range((conf.end_date - conf.start_date).days + 1)
        }
        days |= {entry.day for entry in self.sessions}
        return sorted(days)

    def track(self, slug: str) -> Track | None:
        return next((t for t in self.tracks if t.slug == slug), None)

    def room(self, slug: str) -> Room | None:
        return next((r for r in self.rooms if r.slug == slug), None)

    def speaker(self, slug: str) -> Speaker | None:
        return next((s for s in self.speakers if s.slug == slug), None)

    def session(self, slug: str) -> SessionEntry | None:
        return next((s for s in self.sessions if s.slug == slug), None)

    def in_language(self, language: str) -> Programme:
        """The programme as a reader of `language` sees it: organisers' words translated where
        they gave a translation (confapp.content); itself when they gave none."""
        conference = localized(self.conference, language)
        rooms = [localized(r, language) for r in self.rooms]
        tracks = [localized(t, language) for t in self.tracks]
        records = [localized(e.record, language) for e in self.sessions]
        unchanged = (
            conference is self.conference
            and all(a is b for a, b in zip(rooms, self.rooms, strict=True))
            and all(a is b for a, b in zip(tracks, self.tracks, strict=True))
            and all(r is e.record for r, e in zip(records, self.sessions, strict=True))
        )
        if unchanged:
            return self
        rooms_by_id = {r.id: r for r in rooms}
        tracks_by_id = {t.id: t for t in tracks}
        entries = [
            replace(
                entry,
                record=record,
                room=rooms_by_id.get(entry.room.id) if entry.room else None,
                track=tracks_by_id.get(entry.track.id) if entry.track else None,
                overflow_room=(
                    rooms_by_id.get(entry.overflow_room.id) if entry.overflow_room else None
                ),
            )
            for entry, record in zip(self.sessions, records, strict=True)
        ]
        by_speaker: dict[int, list[SessionEntry]] = defaultdict(list)
        for entry in entries:
            for person in entry.people:
                if person.speaker.id is not None:
                    by_speaker[person.speaker.id].append(entry)
        return Programme(
            conference, rooms, tracks, self.speakers, entries, dict(by_speaker), self.doors
        )


def list_conferences(db: Session) -> list[Conference]:
    return list(
        db.exec(select(Conference).order_by(col(Conference.start_date), col(Conference.slug)))
    )


class NotFound(LookupError):
    """What an address names does not exist. The app answers 404 with this message."""


def get_conference(db: Session, slug: str) -> Conference | None:
    return db.exec(select(Conference).where(Conference.slug == slug)).first()


def public_session(db: Session, conference: Conference, slug: str) -> ProgrammeSession:
    """A session the public may see and star; a draft programme's sessions are not there."""
    record = None
    if conference.programme_published_at is not None:
        record = db.exec(
            select(ProgrammeSession).where(
                ProgrammeSession.conference_id == conference.id, ProgrammeSession.slug == slug
            )
        ).first()
    if record is None:
        raise NotFound(_("There is no session at this address."))
    return record


def require_conference(db: Session, slug: str) -> Conference:
    """The conference a request is about. Also narrows the request's language to the best of
    the conference's languages for this reader (confapp.translation), so that everything
    rendered after it is in a language the conference offers."""
    conference = get_conference(db, slug)
    if conference is None:
        raise NotFound(_("There is no conference called “%(slug)s”.") % {"slug": slug})
    use_conference_language(conference.languages, conference.default_language)
    return conference


def list_ticket_types(
    db: Session, conference: Conference, *, on_sale_only: bool = False
) -> list[TicketType]:
    """The conference's ticket types in offer order; with `on_sale_only`, only those still sold
    (a type removed from the conference file stays, for the tickets already issued)."""
    on_sale = [TicketType.on_sale == true()] if on_sale_only else []
    return list(
        db.exec(
            select(TicketType)
            .where(TicketType.conference_id == conference.id, *on_sale)
            .order_by(col(TicketType.position), col(TicketType.id))
        )
    )


def load_programme(
    db: Session,
    conference: Conference,
    only_session: str | None = None,
    *,
    as_organiser: bool = False,
) -> Programme:
    """The whole programme in six queries, however many sessions there are; or, with
    `only_session` (a slug), the programme narrowed to that one session, for its page.

    An unpublished programme is empty (no sessions, so no speakers either) unless
    `as_organiser`: every public page, feed and export is built from this, so none of them
    can show a draft. `as_organiser` also shows a published programme's working copy: its
    sessions as staged (StagedSession), and staged new ones, which no public reader sees.
    """
    conf_id = conference.id
    if conference.programme_published_at is None and not as_organiser:
        return Programme(conference, [], [], [], [], {})
    narrow = [ProgrammeSession.slug == only_session] if only_session is not None else []
    rooms = list(
        db.exec(
            select(Room)
            .where(col(Room.conference_id) == conf_id)
            .order_by(col(Room.position), col(Room.id))
        )
    )
    tracks = list(
        db.exec(
            select(Track)
            .where(col(Track.conference_id) == conf_id)
            .order_by(col(Track.position), col(Track.id))
        )
    )
    speakers = list(
        db.exec(select(Speaker).where(Speaker.conference_id == conf_id).order_by(Speaker.name))
    )
    records = list(
        db.exec(
            select(ProgrammeSession)
            .where(ProgrammeSession.conference_id == conf_id, *narrow)
            .order_by(
                col(ProgrammeSession.start), col(ProgrammeSession.end), col(ProgrammeSession.title)
            )
        )
    )
    people_rows = db.exec(
        select(SessionPerson)
        .join(ProgrammeSession, col(SessionPerson.session_id) == col(ProgrammeSession.id))
        .where(ProgrammeSession.conference_id == conf_id, *narrow)
        .order_by(col(SessionPerson.session_id), col(SessionPerson.position))
    )
    # Session doors change on the day without touching programme_version: read each time.
    doors = {
        door.session_id: door
        for door in db.exec(
            select(SessionDoor)
            .join(ProgrammeSession, col(SessionDoor.session_id) == col(ProgrammeSession.id))
            .where(ProgrammeSession.conference_id == conf_id, *narrow)
        )
    }
    speakers_by_id = {s.id: s for s in speakers}
    rooms_by_id = {r.id: r for r in rooms}
    tracks_by_id = {t.id: t for t in tracks}
    people: dict[int, list[Person]] = defaultdict(list)
    for row in people_rows:
        people[row.session_id].append(Person(speakers_by_id[row.speaker_id], row.role))
    if as_organiser and conference.programme_published_at is not None:
        records = _with_staged(db, conference, records, people, speakers_by_id, only_session)

    entries = [
        SessionEntry(
            record=r,
            room=rooms_by_id.get(r.room_id) if r.room_id else None,
            track=tracks_by_id.get(r.track_id) if r.track_id else None,
            people=people.get(r.id or 0, []),
            tz=conference.timezone,
            door=doors.get(r.id or 0),
            overflow_room=_overflow_room(doors.get(r.id or 0), rooms_by_id),
        )
        for r in records
    ]
    by_speaker: dict[int, list[SessionEntry]] = defaultdict(list)
    for entry in entries:
        for person in entry.people:
            if person.speaker.id is not None:
                by_speaker[person.speaker.id].append(entry)
    # Speakers appear publicly only while they are billed for a session.
    billed = [s for s in speakers if s.id in by_speaker]
    return Programme(conference, rooms, tracks, billed, entries, dict(by_speaker), doors)


# What a staged session holds of a session: everything an editor may change.
STAGED_FIELDS = (
    "title",
    "abstract",
    "kind",
    "language",
    "status",
    "start",
    "end",
    "room_id",
    "track_id",
    "translations",
)


def stored_values(values: dict[str, Any]) -> dict[str, Any]:
    """Session values as a StagedSession keeps them: JSON, times as ISO 8601 in UTC."""
    return {
        name: value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value
        for name, value in values.items()
    }


def staged_values(staged: StagedSession) -> dict[str, Any]:
    """A StagedSession's values as a ProgrammeSession holds them."""
    return {
        name: datetime.fromisoformat(value).astimezone(UTC) if name in ("start", "end") else value
        for name, value in staged.values.items()
        if name in STAGED_FIELDS
    }


def staged_record(staged: StagedSession, public: ProgrammeSession | None) -> ProgrammeSession:
    """The session as the working copy has it: a transient record, never added to the unit of
    work. A staged new session has a negative id, so no public record is taken for it."""
    assert staged.id is not None
    base = public.model_dump() if public is not None else {}
    base.update(staged_values(staged))
    if public is None:
        base.update(
            id=-staged.id,
            uuid=staged.values.get("uuid", ""),
            conference_id=staged.conference_id,
            slug=staged.slug,
            made_on_web=True,
            created_at=staged.created_at,
        )
    base.update(version=staged.version, updated_at=staged.updated_at)
    return ProgrammeSession(**base)


def _with_staged(
    db: Session,
    conference: Conference,
    records: list[ProgrammeSession],
    people: dict[int, list[Person]],
    speakers_by_id: dict[int | None, Speaker],
    only_session: str | None,
) -> list[ProgrammeSession]:
    """`records` as the working copy has them; `people` is updated in place."""
    query = select(StagedSession).where(StagedSession.conference_id == conference.id)
    if only_session is not None:
        query = query.where(StagedSession.slug == only_session)
    staged_rows = list(db.exec(query))
    if not staged_rows:
        return records
    by_session = {row.session_id: row for row in staged_rows if row.session_id is not None}
    working = [staged_record(by_session[r.id], r) if r.id in by_session else r for r in records]
    for row in staged_rows:
        if row.session_id is None:
            working.append(staged_record(row, None))
    for row in staged_rows:
        key = row.session_id if row.session_id is not None else -(row.id or 0)
        people[key] = [
            Person(speakers_by_id[speaker_id], role)
            for speaker_id, role in row.people
            if speaker_id in speakers_by_id
        ]
    return sorted(working, key=lambda r: (r.start, r.end, r.title))


def _overflow_room(door: SessionDoor | None, rooms_by_id: dict[int | None, Room]) -> Room | None:
    if door is None or door.overflow_room_id is None:
        return None
    return rooms_by_id.get(door.overflow_room_id)
