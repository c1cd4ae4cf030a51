"""Changing the programme from the web: sessions, speakers, rooms, tracks, days and hours.

Plain functions over a database session inside the caller's transaction (`db.transaction()`),
shared by the editor's forms and the JSON API. Input arrives in the API's shape (strings,
numbers, ISO 8601 times with an offset, slugs for rooms, tracks and speakers); the forms turn
their fields into that shape first. A refused input raises `EditRefused` with a reason per
field and writes nothing; a write naming a version that is no longer current raises
`VersionConflict`, so two organisers never overwrite each other silently.

Every saved change bumps the conference's programme_version in the same transaction, which is
what moves every feed's ETag in every app process at once, and goes through
`confapp.programme.changes`, which logs public changes once the programme is published. Once
it is published, sessions are saved to its working copy instead (confapp.programme.
working_copy) unless the conference makes every save public: those saves touch neither the
public sessions nor the programme version until an organiser publishes them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlmodel import Session, col, func, select

from confapp.models import (
    Conference,
    PersonRole,
    ProgrammeSession,
    Room,
    SessionPerson,
    SessionStatus,
    Speaker,
    StagedSession,
    Track,
)
from confapp.programme import documents, records, working_copy
from confapp.programme.changes import (
    apply_changes,
    bump_programme_version,
    change_session,
    record_session_added,
    set_session_people,
)
from confapp.programme.clashes import Clash, clashes_of, programme_clashes
from confapp.programme.queries import NotFound, load_programme, staged_record
from confapp.programme.records import FieldReason
from confapp.times import utcnow
from confapp.translation import N_, _
from confapp.urls import RESERVED_SLUGS

# "new" would collide with the editor's own /programme/sessions/new and similar pages.
UNAVAILABLE_SLUGS = RESERVED_SLUGS | {"new"}
SLUG_PATTERN = re.compile(records.SLUG_PATTERN)
MAX_SESSION_HOURS = 24
MAX_CAPACITY = records.MAX_PLACES


class EditRefused(Exception):
    """Input that cannot be saved; `fields` maps each field to the reason, in plain words."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = dict(fields)
        super().__init__("; ".join(f"{name}: {why}" for name, why in self.fields.items()))


_CHANGED_MEANWHILE = {
    "session": N_(
        "Someone else changed this session since you opened it (it is now version "
        "%(version)d). Nothing was saved."
    ),
    "speaker": N_(
        "Someone else changed this speaker since you opened it (it is now version "
        "%(version)d). Nothing was saved."
    ),
    "room": N_(
        "Someone else changed this room since you opened it (it is now version "
        "%(version)d). Nothing was saved."
    ),
    "track": N_(
        "Someone else changed this track since you opened it (it is now version "
        "%(version)d). Nothing was saved."
    ),
}


class VersionConflict(Exception):
    """Someone saved the record since the version the writer started from; the message is in
    the language of the request that raised it."""

    def __init__(self, what: str, current_version: int) -> None:
        self.current_version = current_version
        super().__init__(_(_CHANGED_MEANWHILE[what]) % {"version": current_version})


class InUse(Exception):
    """A record that other records still point at cannot be deleted."""


class NeedsConfirmation(Exception):
    """The change makes new clashes; the browser asks before saving it anyway."""

    def __init__(self, clashes: list[Clash]) -> None:
        self.clashes = clashes
        super().__init__("; ".join(clash.message for clash in clashes))


# --- reading input ------------------------------------------------------------------------


def slugify(text: str, max_length: int = 80) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:max_length].strip("-")
    return slug or "item"


def _moment(data: Mapping[str, Any], name: str, errors: dict[str, str]) -> datetime | None:
    value = data.get(name)
    if not isinstance(value, str):
        errors[name] = FieldReason(
            _("must be a date and time in ISO 8601 with an offset, e.g. 2027-07-03T10:00+10:00")
        )
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        errors[name] = FieldReason(
            _("is not a date and time in ISO 8601, e.g. 2027-07-03T10:00+10:00")
        )
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        errors[name] = FieldReason(
            _("needs a UTC offset (e.g. +10:00 or Z), so the time is not ambiguous")
        )
        return None
    if not 2000 <= moment.year <= 2200:
        errors[name] = FieldReason(_("is not a plausible year"))
        return None
    return moment


def _slug_of(
    db: Session,
    model: Any,
    conference: Conference,
    data: Mapping[str, Any],
    name: str,
    errors: dict[str, str],
) -> tuple[bool, int | None]:
    """(given, id) for a field naming a room or track by slug; null or "" clears it."""
    if name not in data:
        return False, None
    value = data[name]
    if value is None or value == "":
        return True, None
    if not isinstance(value, str):
        errors[name] = FieldReason(_("must be a slug or null"))
        return True, None
    record = db.exec(
        select(model).where(model.conference_id == conference.id, model.slug == value)
    ).first()
    if record is None:
        missing = (
            _("there is no room “%(slug)s” in this conference")
            if model is Room
            else _("there is no track “%(slug)s” in this conference")
        )
        errors[name] = missing % {"slug": value}
        return True, None
    return True, record.id


def _people(
    db: Session, conference: Conference, data: Mapping[str, Any], errors: dict[str, str]
) -> list[tuple[int, str]] | None:
    if "people" not in data:
        return None
    value = data["people"]
    if not isinstance(value, list):
        errors["people"] = FieldReason(
            _('must be a list of {"speaker": slug, "role": "speaker" or "chair"}')
        )
        return None
    wanted: list[tuple[str, str]] = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            item = {"speaker": item, "role": PersonRole.speaker.value}
        if not isinstance(item, dict) or not isinstance(item.get("speaker"), str):
            errors["people"] = _("item %(number)d must name a speaker by slug") % {
                "number": index + 1
            }
            return None
        role = item.get("role", PersonRole.speaker.value)
        if role not in [r.value for r in PersonRole]:
            errors["people"] = _("item %(number)d: role must be speaker or chair") % {
                "number": index + 1
            }
            return None
        wanted.append((item["speaker"], role))
    slugs = {slug for slug, _ in wanted}
    found = {
        s.slug: s.id
        for s in db.exec(
            select(Speaker).where(
                Speaker.conference_id == conference.id, col(Speaker.slug).in_(slugs)
            )
        )
        if s.id is not None  # always: read from the database
    }
    missing = sorted(slugs - set(found))
    if missing:
        errors["people"] = _("no speaker called %(slugs)s") % {
            "slugs": ", ".join(f"“{m}”" for m in missing)
        }
        return None
    if len(set(wanted)) != len(wanted):
        errors["people"] = FieldReason(_("names the same person twice in the same role"))
        return None
    return [(found[slug], role) for slug, role in wanted]


@dataclass
class SessionInput:
    values: dict[str, Any]
    people: list[tuple[int, str]] | None


SESSION_FIELDS = frozenset(
    {
        "title",
        "start",
        "end",
        "room",
        "track",
        "status",
        "people",
        "kind",
        "abstract",
        "language",
        "translations",
    }
)


def read_session_input(
    db: Session,
    conference: Conference,
    data: Mapping[str, Any],
    *,
    current: ProgrammeSession | None = None,
) -> SessionInput:
    """Check a session's new values (all of them to create one, any of them to change one)."""
    errors: dict[str, str] = {}
    unknown = sorted(set(data) - SESSION_FIELDS - {"version", "slug"})
    for name in unknown:
        errors[name] = FieldReason(_("is not a field of a session"))
    values: dict[str, Any] = {}
    creating = current is None
    if current is not None and "slug" in data and data["slug"] != current.slug:
        errors["slug"] = _("cannot be changed: links and feeds use it")
    for name in ("start", "end"):
        if creating or name in data:
            moment = _moment(data, name, errors)
            if moment is not None:
                values[name] = moment
    start = values.get("start", current.start if current else None)
    end = values.get("end", current.end if current else None)
    if start is not None and end is not None and "start" not in errors and "end" not in errors:
        if end <= start:
            errors["end"] = FieldReason(_("must be after the start"))
        elif end - start > timedelta(hours=MAX_SESSION_HOURS):
            errors["end"] = _("a session may last at most %(hours)d hours") % {
                "hours": MAX_SESSION_HOURS
            }
    for name, model in (("room", Room), ("track", Track)):
        given, record_id = _slug_of(db, model, conference, data, name, errors)
        if given and name not in errors:
            values[f"{name}_id"] = record_id
    own = {
        name: value.strip() if isinstance(value, str) else value
        for name, value in data.items()
        if name in records.SessionFields.model_fields
    }
    if own.get("language") == "":
        own["language"] = "en"
    checked, refused = records.check_fields(records.SessionFields, own, creating=creating)
    values.update(checked)
    errors.update(refused)
    if "translations" in data:
        sent, refused = records.check_translations(
            records.SessionFields,
            ProgrammeSession.TRANSLATED,
            data["translations"],
            conference.other_languages(),
        )
        errors.update(refused)
        values["translations"] = records.merge_translations(
            current.translations if current else {}, sent
        )
    people = _people(db, conference, data, errors)
    if errors:
        raise EditRefused(errors)
    return SessionInput(values, people)


def read_version(value: Any) -> int | None:
    """The version a writer started from: a number, or an ETag/If-Match like "3" or W/"3"."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise EditRefused({"version": FieldReason(_("must be a whole number"))})
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit() or len(text) > 9:
        raise EditRefused({"version": FieldReason(_("must be a whole number"))})
    return int(text)


def _check_version(what: str, record: Any, expected: int | None) -> None:
    if expected is not None and record.version != expected:
        raise VersionConflict(what, record.version)


def conference_for_update(db: Session, slug: str) -> Conference:
    """The conference, locked until the transaction ends (on PostgreSQL; SQLite writers take
    turns anyway): edits that bump programme_version then take turns, so no two changes ever
    share a version, and a version check cannot race a concurrent save."""
    conference = db.exec(
        select(Conference).where(Conference.slug == slug).with_for_update()
    ).first()
    if conference is None:
        raise NotFound(_("There is no conference called “%(slug)s”.") % {"slug": slug})
    return conference


# --- sessions -----------------------------------------------------------------------------


def find_session(db: Session, conference: Conference, slug: str) -> ProgrammeSession:
    """The public (or draft) session, as stored."""
    record = _public_session(db, conference, slug)
    if record is None:
        raise NotFound(_("There is no session at this address."))
    return record


def _public_session(db: Session, conference: Conference, slug: str) -> ProgrammeSession | None:
    return db.exec(
        select(ProgrammeSession).where(
            ProgrammeSession.conference_id == conference.id, ProgrammeSession.slug == slug
        )
    ).first()


def find_working_session(
    db: Session, conference: Conference, slug: str
) -> tuple[ProgrammeSession, StagedSession | None]:
    """The session as the editor sees it: its staged working copy (a transient record) when it
    has one, else the stored session."""
    staged = working_copy.find_staged(db, conference, slug)
    public = _public_session(db, conference, slug)
    if staged is not None:
        return staged_record(staged, public), staged
    if public is None:
        raise NotFound(_("There is no session at this address."))
    return public, None


def _free_slug(
    db: Session, model: Any, conference: Conference, wanted: str, max_length: int = 80
) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`... cut short to fit the column (80 characters for
    speakers, rooms and tracks), whichever this conference does not have yet."""

    def numbered(n: int) -> str:
        suffix = f"-{n}"
        return wanted[: max_length - len(suffix)].rstrip("-") + suffix

    # Every numbered form shares this prefix (slugify leaves no runs of dashes to strip).
    prefix = wanted[: max_length - 12]
    taken = set(
        db.exec(
            select(model.slug).where(
                model.conference_id == conference.id, col(model.slug).startswith(prefix)
            )
        )
    )
    if model is ProgrammeSession:  # a staged new session holds its slug too
        taken |= set(
            db.exec(
                select(StagedSession.slug).where(
                    StagedSession.conference_id == conference.id,
                    col(StagedSession.slug).startswith(prefix),
                )
            )
        )
    if wanted not in taken and wanted not in UNAVAILABLE_SLUGS:
        return wanted
    n = 2
    while numbered(n) in taken:
        n += 1
    return numbered(n)


def _new_slug(
    db: Session, model: Any, conference: Conference, data: Mapping[str, Any], source: str
) -> str:
    given = data.get("slug")
    if given in (None, ""):
        return _free_slug(db, model, conference, slugify(source))
    if not isinstance(given, str) or not SLUG_PATTERN.match(given) or len(given) > 80:
        raise EditRefused({"slug": FieldReason(_("must be lower-case letters, digits and dashes"))})
    exists = db.exec(
        select(model.id).where(model.conference_id == conference.id, model.slug == given)
    ).first()
    if exists is None and model is ProgrammeSession:
        exists = working_copy.find_staged(db, conference, given)
    if given in UNAVAILABLE_SLUGS:
        raise EditRefused(
            {"slug": _("“%(slug)s” is kept for the site's own pages") % {"slug": given}}
        )
    if exists is not None:
        raise EditRefused({"slug": _("“%(slug)s” is taken in this conference") % {"slug": given}})
    return given


def create_session(
    db: Session,
    conference: Conference,
    data: Mapping[str, Any],
    now: datetime | None = None,
    *,
    by: str = "",
) -> ProgrammeSession:
    """A new session: in the working copy once the programme is published (the record returned
    is then transient), else saved (public at once if every save is public)."""
    now = now or utcnow()
    checked = read_session_input(db, conference, data)
    assert conference.id is not None
    slug = _new_slug(db, ProgrammeSession, conference, data, checked.values["title"])
    if working_copy.staging(conference):
        staged = working_copy.stage_new_session(
            db, conference, slug, checked.values, checked.people, by=by, now=now
        )
        return staged_record(staged, None)
    record = ProgrammeSession(
        conference_id=conference.id,
        slug=slug,
        made_on_web=True,
        created_at=now,
        updated_at=now,
        **checked.values,
    )
    db.add(record)
    db.flush()
    if checked.people:
        set_session_people(db, record, checked.people, now, current=[])
        record.version = 1
    record_session_added(db, conference, record, now)
    bump_programme_version(conference, now)
    db.flush()
    return record


def update_session(
    db: Session,
    conference: Conference,
    slug: str,
    data: Mapping[str, Any],
    *,
    expected_version: int | None,
    now: datetime | None = None,
    by: str = "",
) -> tuple[ProgrammeSession, set[str]]:
    """Save changes to a session; returns it (as the working copy has it, once published) and
    the names of the fields that changed."""
    now = now or utcnow()
    if working_copy.staging(conference):
        working, staged = find_working_session(db, conference, slug)
        checked = read_session_input(db, conference, data, current=working)
        _check_version("session", working, expected_version)
        staged, changed = working_copy.stage_session_change(
            db, conference, working, staged, checked.values, checked.people, by=by, now=now
        )
        if staged is None:
            return working, changed
        return staged_record(staged, _public_session(db, conference, slug)), changed
    record = find_session(db, conference, slug)
    checked = read_session_input(db, conference, data, current=record)
    _check_version("session", record, expected_version)
    version = record.version
    changed = change_session(db, conference, record, checked.values, now)
    if checked.people is not None and set_session_people(db, record, checked.people, now):
        changed.add("people")
    if changed:
        # Fields and people each bump the version; one save is still one version.
        record.version = version + 1
        bump_programme_version(conference, now)
    db.flush()
    return record, changed


def delete_session(
    db: Session,
    conference: Conference,
    slug: str,
    *,
    expected_version: int | None,
    now: datetime | None = None,
    by: str = "",
) -> str:
    """Remove a session: before publishing it simply goes; once the programme is public it is
    cancelled instead, so calendars that have it are told (in the working copy, until the
    changes are published; a staged new session simply goes). Returns "deleted" or
    "cancelled"."""
    now = now or utcnow()
    if working_copy.staging(conference):
        working, staged = find_working_session(db, conference, slug)
        _check_version("session", working, expected_version)
        if staged is not None and staged.session_id is None:
            working_copy.unstage_new_session(db, staged)
            return "deleted"
        working_copy.stage_session_change(
            db,
            conference,
            working,
            staged,
            {"status": SessionStatus.cancelled.value},
            None,
            by=by,
            now=now,
        )
        return "cancelled"
    record = find_session(db, conference, slug)
    _check_version("session", record, expected_version)
    if conference.programme_published_at is None:
        for person in db.exec(select(SessionPerson).where(SessionPerson.session_id == record.id)):
            db.delete(person)
        # The models declare no relationship, so the unit of work does not know the people
        # rows must go first: flushed together, the session's DELETE could come first and
        # break their foreign key.
        db.flush()
        db.delete(record)
        bump_programme_version(conference, now)
        db.flush()
        return "deleted"
    if change_session(db, conference, record, {"status": SessionStatus.cancelled.value}, now):
        bump_programme_version(conference, now)
    db.flush()
    return "cancelled"


def session_clashes(
    db: Session, conference: Conference, slug: str, stars: Mapping[int, int] | None = None
) -> list[Clash]:
    """The clashes one session takes part in, as the programme now stands in this transaction."""
    programme = load_programme(db, conference, as_organiser=True)
    return clashes_of(programme_clashes(programme, stars), slug)


def new_clashes(before: list[Clash], after: list[Clash]) -> list[Clash]:
    """Clashes a change made: those after it that were not there before (by kind and other side)."""
    seen = {(c.kind, c.other_session) for c in before}
    return [c for c in after if (c.kind, c.other_session) not in seen]


# --- speakers, rooms, tracks --------------------------------------------------------------


_NO_SUCH_RECORD = {
    "speaker": N_("There is no speaker called “%(slug)s”."),
    "room": N_("There is no room called “%(slug)s”."),
    "track": N_("There is no track called “%(slug)s”."),
}


def _find(db: Session, model: Any, conference: Conference, slug: str, what: str) -> Any:
    record = db.exec(
        select(model).where(model.conference_id == conference.id, model.slug == slug)
    ).first()
    if record is None:
        raise NotFound(_(_NO_SUCH_RECORD[what]) % {"slug": slug})
    return record


def find_speaker(db: Session, conference: Conference, slug: str) -> Speaker:
    speaker: Speaker = _find(db, Speaker, conference, slug, "speaker")
    return speaker


def find_room(db: Session, conference: Conference, slug: str) -> Room:
    room: Room = _find(db, Room, conference, slug, "room")
    return room


def find_track(db: Session, conference: Conference, slug: str) -> Track:
    track: Track = _find(db, Track, conference, slug, "track")
    return track


_NOT_A_FIELD = {
    "speaker": N_("is not a field of a speaker"),
    "room": N_("is not a field of a room"),
    "track": N_("is not a field of a track"),
}


def _refuse_unknown(data: Mapping[str, Any], known: set[str], what: str) -> dict[str, str]:
    return {
        name: FieldReason(_(_NOT_A_FIELD[what])) for name in sorted(set(data) - known - {"version"})
    }


def _check_record(
    model: type[records.Record],
    data: Mapping[str, Any],
    what: str,
    *,
    creating: bool,
    translated: tuple[str, ...] = (),
    languages: Sequence[str] = (),
) -> dict[str, Any]:
    """A speaker's, room's or track's values, checked against its model in
    confapp.programme.records: text is taken without surrounding spaces, as a form sends it.
    `translated` names its fields given per language in `translations`, in `languages`."""
    known = set(model.model_fields) - {"translations"} | ({"translations"} if translated else set())
    errors = _refuse_unknown(data, known, what)
    # The slug is made or checked when creating, and the version read, by the callers.
    given = {
        name: value.strip() if isinstance(value, str) else value
        for name, value in data.items()
        if name in model.model_fields and name not in {"slug", "version", "translations"}
    }
    if given.get("capacity") == "":
        given["capacity"] = None
    values, refused = records.check_fields(model, given, creating=creating)
    errors.update(refused)
    if translated and "translations" in data:
        values["translations"], refused = records.check_translations(
            model, translated, data["translations"], languages
        )
        errors.update(refused)
    if errors:
        raise EditRefused(errors)
    if "position" in values:
        values["position"] = values["position"] or 0
    if "colour" in values:
        values["colour"] = values["colour"].lower()
    return values


SPEAKER_FIELDS = set(documents.SpeakerInput.model_fields)
ROOM_FIELDS = set(documents.RoomInput.model_fields)
TRACK_FIELDS = set(documents.TrackInput.model_fields)


def read_speaker_input(
    data: Mapping[str, Any], *, creating: bool, languages: Sequence[str] = ()
) -> dict[str, Any]:
    return _check_record(documents.SpeakerInput, data, "speaker", creating=creating)


def read_room_input(
    data: Mapping[str, Any], *, creating: bool, languages: Sequence[str] = ()
) -> dict[str, Any]:
    return _check_record(
        documents.RoomInput,
        data,
        "room",
        creating=creating,
        translated=Room.TRANSLATED,
        languages=languages,
    )


def read_track_input(
    data: Mapping[str, Any], *, creating: bool, languages: Sequence[str] = ()
) -> dict[str, Any]:
    return _check_record(
        documents.TrackInput,
        data,
        "track",
        creating=creating,
        translated=Track.TRANSLATED,
        languages=languages,
    )


_READERS = {Speaker: read_speaker_input, Room: read_room_input, Track: read_track_input}
_WHAT = {Speaker: "speaker", Room: "room", Track: "track"}
_USED_IN_THE_WORKING_COPY = {
    "speaker": N_(
        "This speaker is used by sessions in the working copy; move them or take it off them "
        "first, or discard those pending changes."
    ),
    "room": N_(
        "This room is used by sessions in the working copy; move them or take it off them "
        "first, or discard those pending changes."
    ),
    "track": N_(
        "This track is used by sessions in the working copy; move them or take it off them "
        "first, or discard those pending changes."
    ),
}
_STILL_USED = {
    "speaker": N_("This speaker is still used by sessions; move them or take it off them first."),
    "room": N_("This room is still used by sessions; move them or take it off them first."),
    "track": N_("This track is still used by sessions; move them or take it off them first."),
}


def create_record(
    db: Session,
    conference: Conference,
    model: type[Speaker] | type[Room] | type[Track],
    data: Mapping[str, Any],
    now: datetime | None = None,
) -> Any:
    """Create a speaker, room or track from API-shaped input."""
    assert conference.id is not None
    now = now or utcnow()
    values = _READERS[model](data, creating=True, languages=conference.other_languages())
    if "translations" in values:
        values["translations"] = records.merge_translations({}, values["translations"])
    slug = _new_slug(db, model, conference, data, values["name"])
    if issubclass(model, Room | Track) and "position" not in values:  # not a Speaker
        last = db.exec(
            select(func.max(model.position)).where(model.conference_id == conference.id)
        ).first()
        values["position"] = (last or 0) + 1
    record = model(conference_id=conference.id, slug=slug, updated_at=now, **values)
    db.add(record)
    bump_programme_version(conference, now)
    db.flush()
    return record


def update_record(
    db: Session,
    conference: Conference,
    model: type[Speaker] | type[Room] | type[Track],
    slug: str,
    data: Mapping[str, Any],
    *,
    expected_version: int | None,
    now: datetime | None = None,
) -> tuple[Any, set[str]]:
    now = now or utcnow()
    record = _find(db, model, conference, slug, _WHAT[model])
    if "slug" in data and data["slug"] != slug:
        raise EditRefused({"slug": _("cannot be changed: links and feeds use it")})
    values = _READERS[model](
        {k: v for k, v in data.items() if k != "slug"},
        creating=False,
        languages=conference.other_languages(),
    )
    _check_version(_WHAT[model], record, expected_version)
    if "translations" in values:
        values["translations"] = records.merge_translations(
            record.translations, values["translations"]
        )
    changed = apply_changes(record, values, now)
    if changed:
        bump_programme_version(conference, now)
    db.flush()
    return record, changed


def delete_record(
    db: Session,
    conference: Conference,
    model: type[Speaker] | type[Room] | type[Track],
    slug: str,
    *,
    expected_version: int | None,
    now: datetime | None = None,
) -> None:
    """Delete a speaker, room or track that no session uses."""
    record = _find(db, model, conference, slug, _WHAT[model])
    _check_version(_WHAT[model], record, expected_version)
    used: SessionPerson | ProgrammeSession | None
    if model is Speaker:
        used = db.exec(select(SessionPerson).where(SessionPerson.speaker_id == record.id)).first()
    elif model is Room:
        used = db.exec(
            select(ProgrammeSession).where(ProgrammeSession.room_id == record.id)
        ).first()
    else:
        used = db.exec(
            select(ProgrammeSession).where(ProgrammeSession.track_id == record.id)
        ).first()
    if used is None and record.id is not None:
        if model is Speaker:
            staged_use = working_copy.staged_speaker_users(db, conference, record.id)
        else:
            field: Literal["room_id", "track_id"] = "room_id" if model is Room else "track_id"
            staged_use = working_copy.staged_room_or_track_users(db, conference, field, record.id)
        if staged_use:
            raise InUse(_(_USED_IN_THE_WORKING_COPY[_WHAT[model]]))
    if used is not None:
        raise InUse(_(_STILL_USED[_WHAT[model]]))
    db.delete(record)
    bump_programme_version(conference, now or utcnow())
    db.flush()


# --- the conference: days, hours, publishing ----------------------------------------------


_DAYS_WORDING: dict[records.DaysProblem, str] = {
    "ends_before_it_starts": N_("must be on or after the first day"),
    # Not records.TOO_MANY_DAYS: the form puts the field's name first ("The last day must...").
    "too_many_days": N_("must be at most a month after the first day"),
    "one_hour_only": N_("give both hours, or neither"),
    "hours_backwards": N_("must be after the day starts"),
}


def set_days_and_hours(
    db: Session,
    conference: Conference,
    start_date: date,
    end_date: date,
    day_starts: time | None,
    day_ends: time | None,
    now: datetime | None = None,
) -> set[str]:
    problems = records.conference_days_problems(start_date, end_date, day_starts, day_ends)
    if problems:
        raise EditRefused({field: _(_DAYS_WORDING[problem]) for field, problem in problems.items()})
    now = now or utcnow()
    values = {
        "start_date": start_date,
        "end_date": end_date,
        "day_starts": day_starts,
        "day_ends": day_ends,
    }
    changed = apply_changes(conference, values, now)
    if changed:
        bump_programme_version(conference, now)
    db.flush()
    return changed


def set_languages(
    db: Session,
    conference: Conference,
    languages: list[str],
    default_language: str,
    translations: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> set[str]:
    """The interface languages a conference offers, its default among them, and its name and
    description in the others (`translations`, as an edit sends them). Texts kept for a language
    no longer offered stay stored, unused, until it is offered again. Returns what changed."""
    errors: dict[str, str] = {}
    for language in languages:
        if problem := records.offered_language_problem(language):
            errors.setdefault("languages", problem)
    if not languages:
        errors["languages"] = FieldReason(_("must name at least one language"))
    elif len(set(languages)) != len(languages):
        errors["languages"] = _("a language is listed twice")
    if default_language not in languages:
        errors["default_language"] = FieldReason(
            _("must be one of the languages offered (%(languages)s)")
            % {"languages": ", ".join(languages) or "—"}
        )
    values: dict[str, Any] = {"languages": languages, "default_language": default_language}
    if translations is not None and not errors:
        others = [language for language in languages if language != default_language]
        sent, refused = records.check_translations(
            records.ConferenceTexts, Conference.TRANSLATED, translations, others
        )
        errors.update(refused)
        values["translations"] = records.merge_translations(conference.translations, sent)
    if errors:
        raise EditRefused(errors)
    now = now or utcnow()
    changed = apply_changes(conference, values, now)
    if changed:
        bump_programme_version(conference, now)  # pages and feeds offer other languages now
    db.flush()
    return changed


def publish_programme(db: Session, conference: Conference, now: datetime | None = None) -> bool:
    """Make the programme public; from now on changes collect in its working copy (or, if the
    conference makes every save public, are public at once), and what is published is logged."""
    if conference.programme_published_at is not None:
        return False
    now = now or utcnow()
    conference.programme_published_at = now
    bump_programme_version(conference, now)
    db.flush()
    return True
