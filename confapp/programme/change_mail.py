"""Mail about the sessions an attendee starred: one message per batch of programme changes, not
one per keystroke, to each active attendee who agreed to programme e-mails and starred a session
the batch changed.

Changes wait until the programme has been quiet for a while (an organiser moving a session
about settles on a place) or the oldest has waited long enough; then one transaction makes a
`ProgrammeChangeBatch`, stamps the changes with it and queues one outbox mail per recipient.
The stamp is a conditional UPDATE (`WHERE mail_batch_id IS NULL`), so when several app
processes batch at once, each change goes into exactly one batch and the others find nothing.
Each mail is built when it goes out, from the registration and stars as they are then: whoever
has cancelled, been erased, withdrawn consent or unstarred the sessions by then gets nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import ColumnElement, func, update
from sqlmodel import Session, col, select

from confapp import urls
from confapp.db import Database, rowcount, saved_ids
from confapp.mail_compose import compose_mail
from confapp.models import (
    AgendaStar,
    Conference,
    OutboxMail,
    ProgrammeChange,
    ProgrammeChangeBatch,
    ProgrammeSession,
    Registration,
    Room,
    SessionStatus,
    may_still_get_mail,
    may_still_get_mail_where,
)
from confapp.outbox import mail_builder, queue_mails
from confapp.programme.changelog import ChangeView, change_view
from confapp.settings import Settings
from confapp.times import utcnow

PROGRAMME_CHANGES_MAIL = "programme_changes"
# Mail once the programme has been still this long: an organiser at work saves many times.
QUIET_SECONDS = 600
# ...but never keep a change waiting longer than this, however busy the editing.
MAX_WAIT_SECONDS = 3600
# The order changes are listed in, for one session.
_KIND_ORDER = ("added", "status", "time", "room", "title")


def net_changes(changes: Iterable[ChangeView]) -> dict[int, list[ChangeView]]:
    """Per session id, what a batch changed: each kind from where it stood before the first
    change to where it stands after the last. A kind that ends where it began (moved and moved
    back) is left out, and so is a session left with nothing. A session added in the batch is
    one "added", with its latest time and title."""
    by_session: dict[int, dict[str, list[ChangeView]]] = defaultdict(lambda: defaultdict(list))
    for change in sorted(changes, key=lambda c: c.id):
        by_session[change.session_id][change.kind].append(change)
    net: dict[int, list[ChangeView]] = {}
    for session_id, kinds in by_session.items():
        if "added" in kinds:
            added = kinds["added"][0]
            after = dict(added.after or {})
            for kind in ("time", "title"):
                if kind in kinds:
                    after.update(kinds[kind][-1].after or {})
            net[session_id] = [replace(added, after=after)]
            continue
        listed = [
            replace(kinds[kind][-1], before=kinds[kind][0].before)
            for kind in _KIND_ORDER
            if kind in kinds and kinds[kind][0].before != kinds[kind][-1].after
        ]
        if listed:
            net[session_id] = listed
    return net


def _batch_views(db: Session, batch_id: int, only: set[int] | None = None) -> list[ChangeView]:
    narrow = [col(ProgrammeChange.session_id).in_(only)] if only is not None else []
    rows = db.exec(
        select(ProgrammeChange, ProgrammeSession)
        .join(ProgrammeSession, col(ProgrammeSession.id) == ProgrammeChange.session_id)
        .where(ProgrammeChange.mail_batch_id == batch_id, *narrow)
    ).all()
    return [change_view(change, session) for change, session in rows]


def _recipients(db: Session, conference_id: int, session_ids: Sequence[int]) -> list[int]:
    """Who may still get programme mail (active, not erased, agreed to programme e-mails, has
    an address) and starred one of these sessions in their ticket's agenda."""
    return saved_ids(
        db.exec(
            select(col(Registration.id))
            .join(AgendaStar, col(AgendaStar.agenda_key) == Registration.agenda_key)
            .where(
                Registration.conference_id == conference_id,
                *may_still_get_mail_where(programme_mail=True),
                col(AgendaStar.session_id).in_(session_ids),
            )
            .distinct()
            .order_by(col(Registration.id))
        )
    )


def _due(
    db: Database, now: datetime, quiet: timedelta, max_wait: timedelta
) -> list[tuple[int, datetime]]:
    """(conference id, newest unbatched change) for each published conference whose changes
    are ready to mail."""
    with db.read() as session:
        rows = session.exec(
            select(
                ProgrammeChange.conference_id,
                func.min(ProgrammeChange.at),
                func.max(ProgrammeChange.at),
            )
            .join(Conference, col(Conference.id) == ProgrammeChange.conference_id)
            .where(
                col(ProgrammeChange.mail_batch_id).is_(None),
                col(Conference.programme_published_at).is_not(None),
            )
            .group_by(col(ProgrammeChange.conference_id))
        ).all()
    return [
        (conference_id, newest)
        for conference_id, oldest, newest in rows
        if newest <= now - quiet or oldest <= now - max_wait
    ]


def _batch(session: Session, conference_id: int, which: ColumnElement[bool], now: datetime) -> bool:
    """Make a batch of the conference's unbatched changes that match `which` and queue its
    mails, in the caller's transaction. False: none were left to claim.

    The claim is a conditional UPDATE: on PostgreSQL a concurrent batcher waits for this row
    lock and then finds mail_batch_id set; on SQLite the write lock (BEGIN IMMEDIATE) orders
    them."""
    batch = ProgrammeChangeBatch(conference_id=conference_id, created_at=now)
    session.add(batch)
    session.flush()
    assert batch.id is not None
    claimed = session.execute(
        update(ProgrammeChange)
        .where(
            col(ProgrammeChange.conference_id) == conference_id,
            col(ProgrammeChange.mail_batch_id).is_(None),
            which,
        )
        .values(mail_batch_id=batch.id)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) == 0:
        session.delete(batch)
        return False
    changed = net_changes(_batch_views(session, batch.id))
    if changed:
        recipients = _recipients(session, conference_id, sorted(changed))
        queue_mails(session, PROGRAMME_CHANGES_MAIL, recipients, reference_id=batch.id)
    return True


def _make_batch(db: Database, conference_id: int, newest: datetime, now: datetime) -> bool:
    """Batch the conference's unbatched changes up to `newest` (those seen to be due; any
    saved since wait for their own quiet spell) and queue the mails. False: another process
    batched them first."""
    with db.transaction() as session:
        return _batch(session, conference_id, col(ProgrammeChange.at) <= newest, now)


def batch_release(session: Session, conference_id: int, release_id: int, now: datetime) -> None:
    """Mail a release's changes as one batch at once, in the caller's transaction: an
    organiser who publishes has settled, so there is no quiet spell to wait for."""
    _batch(session, conference_id, col(ProgrammeChange.release_id) == release_id, now)


def batch_programme_changes(
    db: Database,
    now: datetime,
    quiet_seconds: int = QUIET_SECONDS,
    max_wait_seconds: int = MAX_WAIT_SECONDS,
) -> int:
    """Batch every conference's programme changes that are ready and queue their mails (run
    by each app process's housekeeping; safe in several at once). Returns the batches made."""
    quiet, max_wait = timedelta(seconds=quiet_seconds), timedelta(seconds=max_wait_seconds)
    return sum(
        _make_batch(db, conference_id, newest, now)
        for conference_id, newest in _due(db, now, quiet, max_wait)
    )


# ---- the mail -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangedSession:
    """A starred session in the mail: as it stands now, and what the batch changed."""

    session: ProgrammeSession
    room: Room | None
    changes: list[ChangeView]
    url: str

    @property
    def cancelled(self) -> bool:
        return self.session.status == SessionStatus.cancelled.value


def _changed_starred_sessions(
    db: Session, registration: Registration, batch: ProgrammeChangeBatch, conference: Conference
) -> list[ChangedSession]:
    assert batch.id is not None
    starred = set(
        db.exec(
            select(AgendaStar.session_id).where(AgendaStar.agenda_key == registration.agenda_key)
        )
    )
    if not starred:
        return []
    changed = net_changes(_batch_views(db, batch.id, starred))
    now = utcnow()
    listed = []
    for session_id, changes in changed.items():
        record = db.get(ProgrammeSession, session_id)
        if record is None or record.end <= now:  # over by now: news of no use to anyone
            continue
        room = db.get(Room, record.room_id) if record.room_id is not None else None
        path = urls.session_path(conference.slug, record.slug)
        listed.append(ChangedSession(record, room, changes, path))
    return sorted(listed, key=lambda c: (c.session.start, c.session.title))


@mail_builder(PROGRAMME_CHANGES_MAIL)
def build_programme_changes_mail(
    session: Session, mail: OutboxMail, settings: Settings
) -> EmailMessage | None:
    """One attendee's changed starred sessions in one batch, or None if they should no longer
    hear of them."""
    registration = session.get(Registration, mail.registration_id) if mail.registration_id else None
    batch = session.get(ProgrammeChangeBatch, mail.reference_id) if mail.reference_id else None
    if (
        not may_still_get_mail(registration, programme_mail=True)
        or batch is None
        or registration.conference_id != batch.conference_id
        or not registration.agenda_key
    ):
        return None
    conference = session.get(Conference, batch.conference_id)
    if conference is None or conference.programme_published_at is None:
        return None
    changed = _changed_starred_sessions(session, registration, batch, conference)
    if not changed:
        return None
    origin = settings.public_origin
    return compose_mail(
        sender=settings.mail_from,
        to=registration.email,
        kind=PROGRAMME_CHANGES_MAIL,
        context={
            "conference": conference,
            "name": registration.name,
            "sessions": [replace(c, url=urls.absolute(origin, c.url)) for c in changed],
            "agenda_feed_url": urls.absolute(
                origin, urls.agenda_key_feed_path(registration.agenda_key)
            ),
            "changes_url": urls.absolute(origin, urls.changes_path(conference.slug)),
        },
    )
