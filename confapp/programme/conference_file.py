"""Reading, checking and loading a conference file (TOML; format in docs/conference-file.md).

Loading is all-or-nothing: the whole file is parsed and checked, then checked against what the
database holds (places already taken), before anything is written; the import runs in one
transaction, and anything the database still refuses becomes the same kind of error. Records are
matched by their stable keys, so loading an edited file again updates the conference in place.

The file and the web editor share a conference. A session made on the web (`made_on_web`) that
the file lacks is kept, not cancelled, unless the caller asks for it (`cancel_web_sessions`);
sessions a file made and a later file lacks are cancelled as ever. Every load words what it
changes, record by record and field by field (`LoadReport.changes`), so that `confapp load` can
show it: always with `--dry-run`, which runs the load in a transaction that is then rolled back,
and on every load into a conference that already exists. Why every such load and not only when
the web changed something: versions go up with every change, a file's as much as the editor's,
so nothing stored tells a web edit since the last load from the last load itself; listing the
changes of every load into an existing conference covers that case, and an unchanged reload
lists nothing.

`draft = true` in `[conference]` counts only when the file creates the conference: its programme
then starts unpublished, for organisers only, until one of them publishes it. A file loaded into
an existing conference never publishes or unpublishes it (the report notes the difference).
"""

from __future__ import annotations

import functools
import re
import tomllib
import uuid as uuid_lib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError
from sqlalchemy import true
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, col, select

from confapp.db import Database
from confapp.models import (
    Conference,
    PersonRole,
    ProgrammeSession,
    Room,
    SessionPerson,
    SessionStatus,
    Speaker,
    TicketType,
    Track,
)
from confapp.programme import records
from confapp.programme.changes import (
    apply_changes,
    bump_programme_version,
    change_session,
    record_session_added,
    set_session_people,
)
from confapp.times import is_valid_zone, to_local, to_utc, utcnow
from confapp.translation import N_, _, ngettext, normal_tag, pgettext
from confapp.urls import RESERVED_SLUGS

# Session UUIDs derived from "<conference slug>/<session key>" are the same on every host that
# loads the same file, so calendar UIDs survive a fresh install.
SESSION_UUID_NAMESPACE = uuid_lib.UUID("5b0c8a8e-2f7e-4a8e-9a52-6f1c0c2f7a11")

Key = records.Slug
Text = records.LongText
Name = records.Name
MAX_PLACES = records.MAX_PLACES
Money = Annotated[Decimal, Field(ge=0, le=records.MAX_PRICE, max_digits=10, decimal_places=2)]
Colour = records.Colour
Link = records.Link
OptionalLink = records.OptionalLink


# {language: {field: text}}: a record's texts in the conference's other languages.
Translations = dict[str, dict[str, str]]
# The sections of a file whose texts may be given per language, and those texts (the models'
# TRANSLATED fields).
TRANSLATED_SECTIONS: dict[str, tuple[str, ...]] = {
    "conference": Conference.TRANSLATED,
    "rooms": Room.TRANSLATED,
    "tracks": Track.TRANSLATED,
    "sessions": ProgrammeSession.TRANSLATED,
    "ticket_types": TicketType.TRANSLATED,
}

_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$")


def _clock_time(value: Any) -> Any:
    """A time of day in the conference's zone: "09:30" (or a TOML local time, 09:30:00)."""
    if isinstance(value, time) and value.tzinfo is None and value.microsecond == 0:
        return value
    if isinstance(value, str) and (match := _CLOCK.match(value)):
        hour, minute, second = match.groups()
        return time(int(hour), int(minute), int(second or 0))
    shown = repr(value) if isinstance(value, str) else str(value)
    raise PydanticCustomError(
        "clock_time",
        "{problem}",
        {
            "problem": _('%(value)s is not a local time of day such as "09:30"')
            % {"value": shown[:40]}
        },
    )


# The daily programme hours: local wall-clock times, no date and no zone.
ClockTime = Annotated[time, BeforeValidator(_clock_time)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConferenceSpec(_Spec):
    slug: Key
    name: Name
    timezone: str
    start_date: date
    end_date: date
    venue: Name
    venue_address: Annotated[str, StringConstraints(max_length=300)] = ""
    description: Text = ""
    capacity: Annotated[int, Field(gt=0, le=MAX_PLACES)] | None = None
    url: OptionalLink = ""
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "AUD"
    solidarity_place_price: Money | None = None
    erase_after_days: Annotated[int, Field(ge=0, le=3650)] = 30
    day_starts: ClockTime | None = None
    day_ends: ClockTime | None = None
    # Only read when the file creates the conference (see the module's docstring).
    draft: bool = False
    # The interface languages offered, and the one plain strings are in (the first unless
    # told). Translated texts are tables of languages; see _split_languages.
    languages: list[str] = ["en"]
    default_language: str = ""
    translations: Translations = {}


class RoomSpec(records.RoomFields):
    key: records.RecordKey
    translations: Translations = {}


class TrackSpec(records.TrackFields):
    key: records.RecordKey
    translations: Translations = {}


class SpeakerSpec(records.SpeakerFields):
    key: records.RecordKey


class ReadingSpec(_Spec):
    title: Name
    url: Link


class SessionSpec(records.SessionFields):
    key: records.SessionKey
    # A file says what kind every session is; the editor makes a talk unless told.
    kind: records.SessionKind
    start: datetime
    end: datetime
    room: Key | None = None  # not placed yet
    track: Key | None = None
    speakers: list[Key] = []
    chairs: list[Key] = []
    reading: list[ReadingSpec] = []
    recording_url: OptionalLink = ""
    uuid: uuid_lib.UUID | None = None
    translations: Translations = {}


class TicketTypeSpec(records.TicketTypeFields):
    price: Money | None = None
    min_price: Money | None = None
    suggested_price: Money | None = None
    translations: Translations = {}


class ConferenceFileSpec(_Spec):
    conference: ConferenceSpec
    rooms: list[RoomSpec] = []
    tracks: list[TrackSpec] = []
    speakers: list[SpeakerSpec] = []
    sessions: list[SessionSpec] = []
    ticket_types: list[TicketTypeSpec] = []


class ConferenceFileError(Exception):
    """A conference file that cannot be loaded; the message names the file, the place and why
    (in the language in force where it was raised; pydantic's own reasons stay English)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "\n".join(problems))


# Why a load cancels, keeps or takes off sale a record its file lacks (a key of `_REASONS`).
Reason = Literal["not in the file", "made on the web"]


@dataclass
class RecordChange:
    """One record a load creates, changes, cancels, keeps or takes off sale, in words."""

    what: str  # "conference", "room", "track", "speaker", "session", "ticket type"
    key: str
    action: Literal["new", "changed", "cancelled", "kept", "off sale"]
    # For "changed": one entry per field, "room: great-hall → seminar-1", worded in the
    # language in force when the load ran (as its notes are).
    details: list[str] = field(default_factory=list)
    # For the others: why, a key of `_REASONS`, worded by `lines`.
    reason: Reason | None = None

    def lines(self) -> list[str]:
        """In the language in force: "changed session opening-rally:", then a field a line."""
        head = _(_CHANGE_HEADS[(self.action, self.what)]) % {"key": self.key}
        if self.action == "changed":
            return [f"{head}:", *(f"    {detail}" for detail in self.details)]
        return [f"{head}: {_(_REASONS[self.reason])}" if self.reason else head]


_REASONS: dict[Reason, str] = {
    "not in the file": N_("no longer in the file"),
    "made on the web": N_("made on the web, not in the file"),
}


# What happened to which kind of record, a message for each pair, so that a language can make
# the words agree ("sala nueva", "eje temático nuevo").
_CHANGE_HEADS = {
    ("new", "conference"): N_("new conference %(key)s"),
    ("new", "room"): N_("new room %(key)s"),
    ("new", "track"): N_("new track %(key)s"),
    ("new", "speaker"): N_("new speaker %(key)s"),
    ("new", "session"): N_("new session %(key)s"),
    ("new", "ticket type"): N_("new ticket type %(key)s"),
    ("changed", "conference"): N_("changed conference %(key)s"),
    ("changed", "room"): N_("changed room %(key)s"),
    ("changed", "track"): N_("changed track %(key)s"),
    ("changed", "speaker"): N_("changed speaker %(key)s"),
    ("changed", "session"): N_("changed session %(key)s"),
    ("changed", "ticket type"): N_("changed ticket type %(key)s"),
    ("cancelled", "session"): N_("cancelled session %(key)s"),
    ("kept", "session"): N_("kept session %(key)s"),
    ("off sale", "ticket type"): N_("off sale ticket type %(key)s"),
}


def _counted(kind: str, count: int) -> str:
    """How many records of a kind (a key of `LoadReport.created`) a load wrote: "7 rooms"."""
    forms = {
        "conference": ngettext("%(num)d conference", "%(num)d conferences", count),
        "rooms": ngettext("%(num)d room", "%(num)d rooms", count),
        "tracks": ngettext("%(num)d track", "%(num)d tracks", count),
        "speakers": ngettext("%(num)d speaker", "%(num)d speakers", count),
        "sessions": ngettext("%(num)d session", "%(num)d sessions", count),
        "ticket types": ngettext("%(num)d ticket type", "%(num)d ticket types", count),
    }
    return forms[kind] % {"num": count} if kind in forms else f"{count} {kind}"


@dataclass
class LoadReport:
    conference_slug: str
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    cancelled_sessions: list[str] = field(default_factory=list)
    ticket_types_off_sale: list[str] = field(default_factory=list)
    # Sessions made on the web that the file lacks, left as they are (not cancelled).
    kept_web_sessions: list[str] = field(default_factory=list)
    changes: list[RecordChange] = field(default_factory=list)
    # Things worth saying that are not changes (a `draft` the load did not apply).
    notes: list[str] = field(default_factory=list)
    # Rolled back: the counts and changes are what loading the file would do.
    dry_run: bool = False

    def count(self, bucket: dict[str, int], kind: str) -> None:
        bucket[kind] = bucket.get(kind, 0) + 1

    @property
    def changed(self) -> bool:
        return bool(
            self.created or self.updated or self.cancelled_sessions or self.ticket_types_off_sale
        )

    @property
    def created_the_conference(self) -> bool:
        return "conference" in self.created

    def change_lines(self) -> list[str]:
        """What the load changes, a record (and, for a changed one, a field) to a line."""
        return [line for change in self.changes for line in change.lines()]

    def summary(self) -> str:
        """One line on what the load wrote (or, dry, would write), in the language in force."""

        def counts(bucket: dict[str, int]) -> str:
            return ", ".join(_counted(kind, n) for kind, n in sorted(bucket.items())) or _(
                "nothing"
            )

        done = {
            "conference": self.conference_slug,
            "created": counts(self.created),
            "updated": counts(self.updated),
        }
        parts = [
            _(
                "%(conference)s (dry run, nothing was written): would create %(created)s; "
                "would update %(updated)s"
            )
            % done
            if self.dry_run
            else _("%(conference)s: created %(created)s; updated %(updated)s") % done
        ]
        if self.cancelled_sessions:
            count = len(self.cancelled_sessions)
            cancelled = (
                ngettext(
                    "would cancel %(num)d session no longer in the file",
                    "would cancel %(num)d sessions no longer in the file",
                    count,
                )
                if self.dry_run
                else ngettext(
                    "cancelled %(num)d session no longer in the file",
                    "cancelled %(num)d sessions no longer in the file",
                    count,
                )
            )
            parts.append(cancelled % {"num": count})
        if self.ticket_types_off_sale:
            count = len(self.ticket_types_off_sale)
            off_sale = (
                ngettext(
                    "would take off sale %(num)d ticket type no longer in the file: %(codes)s",
                    "would take off sale %(num)d ticket types no longer in the file: %(codes)s",
                    count,
                )
                if self.dry_run
                else ngettext(
                    "took off sale %(num)d ticket type no longer in the file: %(codes)s",
                    "took off sale %(num)d ticket types no longer in the file: %(codes)s",
                    count,
                )
            )
            parts.append(off_sale % {"num": count, "codes": ", ".join(self.ticket_types_off_sale)})
        if self.kept_web_sessions:
            count = len(self.kept_web_sessions)
            kept = (
                ngettext(
                    "would keep %(num)d session made on the web that is not in the file: %(slugs)s",
                    "would keep %(num)d sessions made on the web that are not in the file: "
                    "%(slugs)s",
                    count,
                )
                if self.dry_run
                else ngettext(
                    "kept %(num)d session made on the web that is not in the file: %(slugs)s",
                    "kept %(num)d sessions made on the web that are not in the file: %(slugs)s",
                    count,
                )
            )
            parts.append(kept % {"num": count, "slugs": ", ".join(self.kept_web_sessions)})
        return "; ".join(parts)


# ---- reading and checking -------------------------------------------------------------------


def read_conference_file(path: Path | str) -> ConferenceFileSpec:
    return parse_conference_text(_read_text(Path(path)), source=str(path))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConferenceFileError(
            str(path), [_("cannot read the file: %(reason)s") % {"reason": exc.strerror}]
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConferenceFileError(str(path), [_("the file is not UTF-8 text")]) from exc


def parse_conference_text(raw: str, source: str = "<text>") -> ConferenceFileSpec:
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConferenceFileError(
            source, [_("not valid TOML: %(error)s") % {"error": exc}]
        ) from exc
    return check_conference_data(data, raw=raw, source=source)


def check_conference_data(
    data: dict[str, Any], raw: str = "", source: str = "<data>"
) -> ConferenceFileSpec:
    plain, language_problems = _split_languages(data)
    if language_problems:
        raise ConferenceFileError(
            source, [_describe(raw, data, loc, msg) for loc, msg in language_problems]
        )
    try:
        spec = ConferenceFileSpec.model_validate(plain)
    except ValidationError as exc:
        problems = [
            _describe(raw, data, tuple(error["loc"]), error["msg"]) for error in exc.errors()
        ]
        raise ConferenceFileError(source, problems) from exc
    problems = [_describe(raw, data, loc, msg) for loc, msg in _cross_check(spec)]
    if problems:
        raise ConferenceFileError(source, problems)
    return spec


def _file_languages(data: dict[str, Any]) -> tuple[list[str], str]:
    conference = data.get("conference")
    conference = conference if isinstance(conference, dict) else {}
    languages = conference.get("languages", ["en"])
    if not isinstance(languages, list) or not languages:
        return ["en"], "en"
    tags = [normal_tag(str(t)) or str(t) for t in languages]
    default = conference.get("default_language") or tags[0]
    return tags, normal_tag(str(default)) or str(default)


def _split_languages(
    data: dict[str, Any],
) -> tuple[dict[str, Any], list[tuple[tuple[Any, ...], str]]]:
    """The file's data with each text given as a table of languages (`title = {en = "...",
    es = "..."}`) split into the default language's text, in the name, and the others, in the
    record's `translations`. A plain string is the default language's."""
    languages, default = _file_languages(data)
    problems: list[tuple[tuple[Any, ...], str]] = []
    plain = dict(data)

    def split(record: Any, fields: tuple[str, ...], loc: tuple[Any, ...]) -> Any:
        if not isinstance(record, dict) or not any(isinstance(record.get(f), dict) for f in fields):
            return record
        record = dict(record)
        translations: dict[str, dict[str, Any]] = {
            k: dict(v) for k, v in (record.get("translations") or {}).items()
        }
        for name in fields:
            texts = record.get(name)
            if not isinstance(texts, dict):
                continue
            by_language = {normal_tag(str(k)) or str(k): v for k, v in texts.items()}
            unknown = [k for k in by_language if k not in languages]
            if unknown:
                problems.append(
                    (
                        loc + (name,),
                        _("%(unknown)s is not one of the conference's languages (%(offered)s)")
                        % {"unknown": ", ".join(unknown), "offered": ", ".join(languages)},
                    )
                )
                continue
            if default not in by_language:
                problems.append(
                    (
                        loc + (name,),
                        _("gives no text in the default language, %(language)s")
                        % {"language": default},
                    )
                )
                continue
            record[name] = by_language.pop(default)
            for language, text in by_language.items():
                translations.setdefault(language, {})[name] = text
        record["translations"] = translations
        return record

    for section, fields in TRANSLATED_SECTIONS.items():
        value = plain.get(section)
        if section == "conference":
            plain[section] = split(value, fields, (section,))
        elif isinstance(value, list):
            plain[section] = [
                split(item, fields, (section, index)) for index, item in enumerate(value)
            ]
    return plain, problems


_TRANSLATED_SPECS: dict[str, type[BaseModel]] = {
    "conference": ConferenceSpec,
    "rooms": RoomSpec,
    "tracks": TrackSpec,
    "sessions": SessionSpec,
    "ticket_types": TicketTypeSpec,
}


def _translation_problems(spec: ConferenceFileSpec) -> list[tuple[tuple[Any, ...], str]]:
    """Each translated text checked as its name is (a title's length, say), in the
    conference's languages only."""
    conf = spec.conference
    default = conf.default_language or conf.languages[0]
    others = [language for language in conf.languages if language != default]
    problems: list[tuple[tuple[Any, ...], str]] = []
    for section, model in _TRANSLATED_SPECS.items():
        records_of: list[Any] = [conf] if section == "conference" else getattr(spec, section)
        for index, record in enumerate(records_of):
            loc: tuple[Any, ...] = (section,) if section == "conference" else (section, index)
            for language, texts in record.translations.items():
                if language not in others:
                    problems.append(
                        (
                            loc + ("translations", language),
                            _("%(unknown)s is not one of the conference's other languages")
                            % {"unknown": language},
                        )
                    )
                    continue
                for name, text in texts.items():
                    if name not in TRANSLATED_SECTIONS[section]:
                        problems.append(
                            (
                                loc + ("translations", language, name),
                                _("%(field)s is not a text given per language") % {"field": name},
                            )
                        )
                        continue
                    try:
                        _field_adapter(model, name).validate_python(text)
                    except ValidationError as exc:
                        problems += [
                            (loc + (name, language), str(error["msg"])) for error in exc.errors()
                        ]
    return problems


@functools.cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    return TypeAdapter(Annotated[info.annotation, *info.metadata])  # type: ignore[arg-type]


def _language_problems(conf: ConferenceSpec) -> list[tuple[tuple[Any, ...], str]]:
    problems: list[tuple[tuple[Any, ...], str]] = []
    for position, language in enumerate(conf.languages):
        if problem := records.offered_language_problem(language):
            problems.append((("conference", "languages", position), problem))
    if len(set(conf.languages)) != len(conf.languages):
        problems.append((("conference", "languages"), _("a language is listed twice")))
    if conf.default_language and conf.default_language not in conf.languages:
        problems.append(
            (
                ("conference", "default_language"),
                _("%(language)s is not one of the conference's languages")
                % {"language": repr(conf.default_language)},
            )
        )
    return problems


_FILE_DAYS_WORDING: dict[records.DaysProblem, str] = {
    "ends_before_it_starts": N_("the conference ends before it starts"),
    "too_many_days": records.TOO_MANY_DAYS,
}


def _cross_check(spec: ConferenceFileSpec) -> list[tuple[tuple[Any, ...], str]]:
    problems: list[tuple[tuple[Any, ...], str]] = []
    conf = spec.conference
    problems += _language_problems(conf)
    if not problems:
        problems += _translation_problems(spec)
    if conf.slug in RESERVED_SLUGS:
        problems.append(
            (
                ("conference", "slug"),
                _("%(slug)s is reserved for the app itself") % {"slug": repr(conf.slug)},
            )
        )
    if not is_valid_zone(conf.timezone):
        problems.append(
            (
                ("conference", "timezone"),
                _("%(zone)s is not an IANA time zone name") % {"zone": repr(conf.timezone)},
            )
        )
    days = records.conference_days_problems(
        conf.start_date, conf.end_date, conf.day_starts, conf.day_ends
    )
    for blamed, problem in days.items():
        if problem == "one_hour_only":
            # A file has a line for the hour given, none for the one left out: name that line.
            missing = blamed
            given = "day_ends" if missing == "day_starts" else "day_starts"
            problems.append(
                (("conference", given), _("give %(key)s too, or neither") % {"key": missing})
            )
        elif problem == "hours_backwards":
            problems.append(
                (
                    ("conference", "day_ends"),
                    _("the day ends (%(ends)s) before it starts (%(starts)s)")
                    % {"ends": f"{conf.day_ends:%H:%M}", "starts": f"{conf.day_starts:%H:%M}"},
                )
            )
        else:
            problems.append((("conference", blamed), _(_FILE_DAYS_WORDING[problem])))

    def unique(section: str, keys: list[str], what: str = "key") -> set[str]:
        seen: set[str] = set()
        for index, key in enumerate(keys):
            if key in seen:
                problems.append(((section, index, what), _used_twice(what, key)))
            seen.add(key)
        return seen

    rooms = unique("rooms", [r.key for r in spec.rooms])
    tracks = unique("tracks", [t.key for t in spec.tracks])
    speakers = unique("speakers", [s.key for s in spec.speakers])
    unique("sessions", [s.key for s in spec.sessions])
    fixed_uuids: set[uuid_lib.UUID] = set()
    for index, session in enumerate(spec.sessions):
        if session.uuid is not None:
            if session.uuid in fixed_uuids:
                problems.append(
                    (("sessions", index, "uuid"), _used_twice("uuid", str(session.uuid)))
                )
            fixed_uuids.add(session.uuid)
    unique("ticket_types", [t.code for t in spec.ticket_types], "code")

    for index, session in enumerate(spec.sessions):
        loc = ("sessions", index)
        if session.room is not None and session.room not in rooms:
            problems.append(
                (
                    (*loc, "room"),
                    _("there is no room with key %(key)s") % {"key": repr(session.room)},
                )
            )
        if session.track is not None and session.track not in tracks:
            problems.append(
                (
                    (*loc, "track"),
                    _("there is no track with key %(key)s") % {"key": repr(session.track)},
                )
            )
        billed: set[str] = set()
        for role in ("speakers", "chairs"):
            for key in getattr(session, role):
                if key not in speakers:
                    problems.append(
                        (
                            (*loc, role),
                            _("there is no speaker with key %(key)s") % {"key": repr(key)},
                        )
                    )
                elif key in billed:
                    problems.append(
                        ((*loc, role), _("speaker %(key)s is listed twice") % {"key": repr(key)})
                    )
                billed.add(key)
        if is_valid_zone(conf.timezone):
            start, end = to_utc(session.start, conf.timezone), to_utc(session.end, conf.timezone)
            if end <= start:
                problems.append(((*loc, "end"), _("the session ends before it starts")))
    for index, ticket in enumerate(spec.ticket_types):
        loc = ("ticket_types", index)
        if ticket.kind == "fixed" and ticket.price is None:
            problems.append(((*loc, "price"), _("a fixed-price ticket type needs a price")))
        if ticket.kind == "pay_what_you_can" and ticket.min_price is None:
            problems.append(
                ((*loc, "min_price"), _("pay-what-you-can needs a min_price (may be 0)"))
            )
        if ticket.from_solidarity_pool and ticket.kind != "free":
            # Translators: after "from_solidarity_pool:", the file's key; "can be" that.
            problems.append(((*loc, "from_solidarity_pool"), _("only a free ticket type can be")))
        if ticket.from_solidarity_pool and conf.solidarity_place_price is None:
            problems.append(
                ((*loc, "from_solidarity_pool"), _("set solidarity_place_price in [conference]"))
            )
    return problems


def _used_twice(key: str, value: str) -> str:
    # Translators: a key of the conference file ("key", "code", "uuid"), then its value.
    return _("%(key)s %(value)s is used twice") % {"key": key, "value": repr(value)}


def _describe(raw: str, data: dict[str, Any], loc: tuple[Any, ...], message: str) -> str:
    """'line 42, sessions[3] (key "x").room: there is no room ...'"""
    parts: list[str] = []
    for position, part in enumerate(loc):
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
            item = _item(data, loc[: position + 1])
            if isinstance(item, dict):
                ident = item.get("key") or item.get("code")
                if isinstance(ident, str):
                    # Translators: a place in the conference file, like sessions[3], and the
                    # key of the record there.
                    parts[-1] = _("%(place)s (key %(key)s)") % {
                        "place": parts[-1],
                        "key": repr(ident),
                    }
        else:
            parts.append(str(part))
    where = ".".join(parts) or _("file")
    value = _item(data, loc) if loc else None
    line = _line_of(raw, loc, value if isinstance(value, str) else "")
    if line:
        return _("line %(line)d, %(where)s: %(problem)s") % {
            "line": line,
            "where": where,
            "problem": message,
        }
    return f"{where}: {message}"


def _item(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _line_of(raw: str, loc: tuple[Any, ...], value: str = "") -> int | None:
    """Best-effort line number for a location like ('sessions', 3, 'room').

    Inside a list spread over several lines (`reading = [...]`), the line holding the offending
    `value`, when it is given and found there."""
    if not raw or not loc or not isinstance(loc[0], str):
        return None
    lines = raw.splitlines()
    section = loc[0]
    index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    rest = loc[2:] if index is not None else loc[1:]
    header = re.compile(
        rf"^\s*\[\[\s*{re.escape(section)}\s*\]\]"
        if index is not None
        else rf"^\s*\[\s*{re.escape(section)}\s*\]"
    )
    starts = [n for n, line in enumerate(lines) if header.match(line)]
    if not starts:
        return None
    block_start = starts[index] if index is not None and index < len(starts) else starts[0]
    if index is not None and index >= len(starts):
        return None
    block_end = next(
        (n for n in range(block_start + 1, len(lines)) if lines[n].lstrip().startswith("[")),
        len(lines),
    )
    if rest and isinstance(rest[0], str):
        field_re = re.compile(rf"^\s*{re.escape(rest[0])}\s*=")
        for n in range(block_start + 1, block_end):
            if field_re.match(lines[n]):
                if len(rest) > 1 and value:
                    return next(
                        (m + 1 for m in range(n, block_end) if value in lines[m]),
                        n + 1,
                    )
                return n + 1
    return block_start + 1


# ---- loading --------------------------------------------------------------------------------


def _cents(amount: Decimal | None) -> int | None:
    return None if amount is None else int((amount * 100).to_integral_value())


def session_uuid(conference_slug: str, session_key: str) -> str:
    return str(uuid_lib.uuid5(SESSION_UUID_NAMESPACE, f"{conference_slug}/{session_key}"))


def load_conference_file(
    db: Database,
    path: Path | str,
    *,
    dry_run: bool = False,
    cancel_web_sessions: bool = False,
) -> LoadReport:
    """Load a conference file in one transaction; with `dry_run`, roll it back and only report.

    A dry run goes through every step of a real load, the database's own checks included, so
    its report (and its errors) are those the real load would give.
    """
    source = str(path)
    raw = _read_text(Path(path))
    spec = parse_conference_text(raw, source=source)
    try:
        with db.transaction() as session:
            report = load_conference_spec(
                session, spec, raw=raw, source=source, cancel_web_sessions=cancel_web_sessions
            )
            if dry_run:
                session.rollback()
                report.dry_run = True
    except (IntegrityError, DataError) as exc:  # refused only at commit: no place to name
        raise ConferenceFileError(source, [_refused_by_database(_("file"), exc)]) from exc
    return report


def load_conference_spec(
    db: Session,
    spec: ConferenceFileSpec,
    *,
    raw: str = "",
    source: str = "<data>",
    cancel_web_sessions: bool = False,
) -> LoadReport:
    """Write a checked conference into the caller's transaction, or raise ConferenceFileError.

    `raw` (the file's text) and `source` (its name) only make error messages point at a line.
    Sessions made on the web that the file lacks are cancelled only with `cancel_web_sessions`.
    On an error the caller's transaction must be rolled back: part of the file may be written.
    """

    def refuse(problems: list[tuple[tuple[Any, ...], str]]) -> ConferenceFileError:
        data = spec.model_dump()
        return ConferenceFileError(
            source, [_describe(raw, data, loc, msg) for loc, msg in problems]
        )

    problems = _check_against_database(db, spec)
    if problems:
        raise refuse(problems)
    place = _Place()
    try:
        return _write_conference(db, spec, place, cancel_web_sessions=cancel_web_sessions)
    except (IntegrityError, DataError) as exc:
        loc, reason = _database_problem(place.loc, exc)
        raise refuse([(loc, reason)]) from exc


@dataclass
class _Place:
    """Where in the file the loader is writing, to name it if the database refuses the write."""

    loc: tuple[Any, ...] = ()


def _check_against_database(
    db: Session, spec: ConferenceFileSpec
) -> list[tuple[tuple[Any, ...], str]]:
    """What the file asks for that the data already there rules out: a capacity below the
    places already taken."""
    conference = db.exec(select(Conference).where(Conference.slug == spec.conference.slug)).first()
    if conference is None:
        return []
    problems: list[tuple[tuple[Any, ...], str]] = []
    capacity = spec.conference.capacity
    if capacity is not None and capacity < conference.places_taken:
        problems.append(
            (
                ("conference", "capacity"),
                _("capacity %(capacity)d is below the %(taken)d places already taken")
                % {"capacity": capacity, "taken": conference.places_taken},
            )
        )
    taken = {
        code: places_taken
        for code, places_taken in db.exec(
            select(TicketType.code, TicketType.places_taken).where(
                TicketType.conference_id == conference.id
            )
        )
    }
    for index, ticket in enumerate(spec.ticket_types):
        places_taken = taken.get(ticket.code, 0)
        if ticket.capacity is not None and ticket.capacity < places_taken:
            problems.append(
                (
                    ("ticket_types", index, "capacity"),
                    _(
                        "ticket type %(code)s: capacity %(capacity)d is below the %(taken)d "
                        "places already taken"
                    )
                    % {
                        "code": repr(ticket.code),
                        "capacity": ticket.capacity,
                        "taken": places_taken,
                    },
                )
            )
    return problems


def _refused_by_database(where: str, exc: IntegrityError | DataError) -> str:
    _place, reason = _database_problem((), exc)
    return f"{where}: {reason}"


def _database_problem(
    loc: tuple[Any, ...], exc: IntegrityError | DataError
) -> tuple[tuple[Any, ...], str]:
    """The place and the reason, in words, for a write the database refused."""
    said = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
    if "within_capacity" in said:
        # Checked before writing, so someone registered while the file was loading.
        return (*loc, "capacity"), _("the capacity is below the places already taken")
    if "uuid" in said and loc[:1] == ("sessions",):
        return (*loc, "uuid"), _("this uuid already belongs to another session, here or elsewhere")
    return loc, _("the database refused this: %(said)s") % {"said": said}


# The file's name for a stored field, where the two differ.
_FILE_KEYS = {
    "room_id": "room",
    "track_id": "track",
    "reading_list": "reading",
    "price_cents": "price",
    "min_price_cents": "min_price",
    "suggested_price_cents": "suggested_price",
    "solidarity_place_cents": "solidarity_place_price",
}
# Fields the file has no key for, named in words.
_FIELDS_IN_WORDS = {"position": N_("place in the file")}
_SHOWN_TEXT = 80  # characters of a text shown before and after a change (most titles whole)


@dataclass(frozen=True)
class _Wording:
    """How a load words a changed field for a person: file keys, slugs for ids, times in the
    conference's zone. `room_slugs` and `track_slugs` are needed for sessions only."""

    timezone: str
    room_slugs: dict[int, str] = field(default_factory=dict)
    track_slugs: dict[int, str] = field(default_factory=dict)

    def changed_fields(
        self, before: dict[str, Any], after: dict[str, Any], changed: set[str]
    ) -> list[str]:
        return [self.field(name, before[name], after[name]) for name in after if name in changed]

    def field(self, name: str, old: Any, new: Any) -> str:
        key = _(_FIELDS_IN_WORDS[name]) if name in _FIELDS_IN_WORDS else _FILE_KEYS.get(name, name)
        shown_old, shown_new = self.value(name, old), self.value(name, new)
        if shown_old == shown_new:  # long texts that differ further in
            # Translators: a key of the conference file ("abstract"), whose text changed.
            return _("%(key)s: changed") % {"key": key}
        return f"{key}: {shown_old} → {shown_new}"

    def value(self, name: str, value: Any) -> str:
        if value is None or value == "" or value == []:
            # Translators: a field of the conference file without a value ("room: not set").
            return _("not set")
        if name == "room_id":
            return self.room_slugs.get(value) or _("room #%(id)d") % {"id": value}
        if name == "track_id":
            return self.track_slugs.get(value) or _("track #%(id)d") % {"id": value}
        if name.endswith("_cents"):
            return str(Decimal(value).scaleb(-2))
        if name == "position":
            return str(value + 1)
        if name == "translations":  # which languages have texts: "es"; what changed, below
            return ", ".join(sorted(value)) or _("not set")
        if name == "reading_list":
            count = len(value)
            return ngettext("%(num)d item", "%(num)d items", count) % {"num": count}
        if isinstance(value, bool):
            if value:
                return pgettext("a yes-or-no field of the conference file", "true")
            return pgettext("a yes-or-no field of the conference file", "false")
        if isinstance(value, datetime):
            return f"{to_local(value, self.timezone):%Y-%m-%d %H:%M}"
        if isinstance(value, time):
            return f"{value:%H:%M}" if value.second == 0 else f"{value:%H:%M:%S}"
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        if isinstance(value, str):
            text = " ".join(value.split())
            if len(text) > _SHOWN_TEXT:
                text = text[: _SHOWN_TEXT - 1] + "…"
            return f'"{text}"'
        return str(value)


def _billed(people: list[tuple[int, str]], speaker_slugs: dict[int, str]) -> dict[str, list[str]]:
    """{"speakers": [...], "chairs": [...]}: the file's keys for (speaker_id, role) pairs."""
    return {
        f"{role.value}s": [speaker_slugs.get(id_, f"#{id_}") for id_, r in people if r == role]
        for role in PersonRole
    }


def _write_conference(
    db: Session, spec: ConferenceFileSpec, place: _Place, *, cancel_web_sessions: bool
) -> LoadReport:
    now = utcnow()
    conf_spec = spec.conference
    report = LoadReport(conference_slug=conf_spec.slug)
    programme_changed = False

    # Locked like the editor's writes, so a load and a web edit take turns.
    conference = db.exec(
        select(Conference).where(Conference.slug == conf_spec.slug).with_for_update()
    ).first()
    conf_values = conf_spec.model_dump(exclude={"solidarity_place_price", "draft"})
    conf_values["solidarity_place_cents"] = _cents(conf_spec.solidarity_place_price)
    conf_values["default_language"] = conf_spec.default_language or conf_spec.languages[0]
    place.loc = ("conference",)
    if conference is None:
        conference = Conference(**conf_values, created_at=now, updated_at=now)
        db.add(conference)
        db.flush()
        report.count(report.created, "conference")
        report.changes.append(RecordChange("conference", conference.slug, "new"))
        programme_changed = True
    else:
        before = {name: getattr(conference, name) for name in conf_values}
        changed = apply_changes(conference, conf_values, now)
        if changed:
            db.flush()
            report.count(report.updated, "conference")
            changed_fields = _Wording(conference.timezone).changed_fields(
                before, conf_values, changed
            )
            report.changes.append(
                RecordChange("conference", conference.slug, "changed", changed_fields)
            )
            programme_changed = True
        if conf_spec.draft != (conference.programme_published_at is None):
            stays = (
                _(
                    "the file says draft = %(draft)s, which counts only when a file creates the "
                    "conference: the programme of %(slug)s stays published."
                )
                if conference.programme_published_at
                else _(
                    "the file says draft = %(draft)s, which counts only when a file creates the "
                    "conference: the programme of %(slug)s stays unpublished."
                )
            )
            report.notes.append(
                stays % {"draft": str(conf_spec.draft).lower(), "slug": conference.slug}
            )
    assert conference.id is not None
    tz = conference.timezone
    wording = _Wording(tz)

    def upsert(
        model: Any,
        slug_field: str,
        key: str,
        values: dict[str, Any],
        kind: str,
        loc: tuple[Any, ...],
        what: str,
    ) -> Any:
        nonlocal programme_changed
        place.loc = loc
        record = db.exec(
            select(model).where(
                model.conference_id == conference.id, getattr(model, slug_field) == key
            )
        ).first()
        if record is None:
            record = model(conference_id=conference.id, **{slug_field: key}, **values)
            db.add(record)
            db.flush()
            report.count(report.created, kind)
            report.changes.append(RecordChange(what, key, "new"))
            programme_changed = True
            return record
        before = {name: getattr(record, name) for name in values}
        changed = apply_changes(record, values, now)
        if changed:
            db.flush()  # now, so that a refusal is blamed on this record
            report.count(report.updated, kind)
            details = wording.changed_fields(before, values, changed)
            report.changes.append(RecordChange(what, key, "changed", details))
            programme_changed = True
        return record

    rooms = {
        r.key: upsert(
            Room,
            "slug",
            r.key,
            {
                "name": r.name,
                "capacity": r.capacity,
                "step_free": r.step_free,
                "access_notes": r.access_notes,
                "translations": r.translations,
                "position": position,
            },
            "rooms",
            ("rooms", position),
            "room",
        )
        for position, r in enumerate(spec.rooms)
    }
    tracks = {
        t.key: upsert(
            Track,
            "slug",
            t.key,
            {
                "name": t.name,
                "colour": t.colour.lower(),
                "description": t.description,
                "translations": t.translations,
                "position": position,
            },
            "tracks",
            ("tracks", position),
            "track",
        )
        for position, t in enumerate(spec.tracks)
    }
    speakers = {
        s.key: upsert(
            Speaker,
            "slug",
            s.key,
            {
                "name": s.name,
                "bio": s.bio,
                "pronouns": s.pronouns,
                "affiliation": s.affiliation,
                "links": list(s.links),
                "needs_step_free": s.needs_step_free,
            },
            "speakers",
            ("speakers", position),
            "speaker",
        )
        for position, s in enumerate(spec.speakers)
    }
    for position, t in enumerate(spec.ticket_types):
        upsert(
            TicketType,
            "code",
            t.code,
            {
                "name": t.name,
                "kind": t.kind,
                "description": t.description,
                "price_cents": _cents(t.price) or 0,
                "min_price_cents": _cents(t.min_price) or 0,
                "suggested_price_cents": _cents(t.suggested_price),
                "capacity": t.capacity,
                "from_solidarity_pool": t.from_solidarity_pool,
                "requires_voucher": t.requires_voucher,
                "on_sale": True,  # again, if it had been taken off sale
                "translations": t.translations,
                "position": position,
            },
            "ticket types",
            ("ticket_types", position),
            "ticket type",
        )
    # A ticket type that left the file stops being sold but stays: issued tickets refer to it.
    place.loc = ("ticket_types",)
    codes_in_file = [t.code for t in spec.ticket_types]
    for ticket_type in db.exec(
        select(TicketType)
        .where(
            TicketType.conference_id == conference.id,
            TicketType.on_sale == true(),
            col(TicketType.code).not_in(codes_in_file),
        )
        .order_by(col(TicketType.position), col(TicketType.id))
    ):
        apply_changes(ticket_type, {"on_sale": False}, now)
        report.ticket_types_off_sale.append(ticket_type.code)
        report.changes.append(
            RecordChange("ticket type", ticket_type.code, "off sale", reason="not in the file")
        )
        programme_changed = True
    db.flush()

    existing = {
        s.slug: s
        for s in db.exec(
            select(ProgrammeSession)
            .where(ProgrammeSession.conference_id == conference.id)
            .order_by(col(ProgrammeSession.id))
        )
    }

    # Every room, track and speaker of the conference, the file's or not: a session may have
    # been in a room that this file no longer lists.
    def slugs(model: Any) -> dict[int, str]:
        query = select(model.id, model.slug).where(model.conference_id == conference.id)
        return {id_: slug for id_, slug in db.exec(query)}

    speaker_slugs = slugs(Speaker)
    wording = _Wording(tz, room_slugs=slugs(Room), track_slugs=slugs(Track))
    people_now: dict[int, list[SessionPerson]] = defaultdict(list)
    for person in db.exec(
        select(SessionPerson)
        .join(ProgrammeSession, col(SessionPerson.session_id) == col(ProgrammeSession.id))
        .where(ProgrammeSession.conference_id == conference.id)
    ):
        people_now[person.session_id].append(person)
    for index, s in enumerate(spec.sessions):
        place.loc = ("sessions", index)
        values: dict[str, Any] = {
            "title": s.title,
            "abstract": s.abstract,
            "kind": s.kind,
            "track_id": tracks[s.track].id if s.track else None,
            "room_id": rooms[s.room].id if s.room else None,
            "start": to_utc(s.start, tz),
            "end": to_utc(s.end, tz),
            "language": s.language,
            "status": s.status,
            "reading_list": [r.model_dump() for r in s.reading],
            "recording_url": s.recording_url,
            "translations": s.translations,
        }
        record = existing.get(s.key)
        details: list[str] = []
        if record is None:
            record = ProgrammeSession(
                conference_id=conference.id,
                slug=s.key,
                uuid=str(s.uuid) if s.uuid else session_uuid(conference.slug, s.key),
                created_at=now,
                updated_at=now,
                **values,
            )
            db.add(record)
            db.flush()
            report.count(report.created, "sessions")
            report.changes.append(RecordChange("session", s.key, "new"))
            record_session_added(db, conference, record, now)
            fields_changed = True
        else:
            before = {name: getattr(record, name) for name in values}
            changed = change_session(db, conference, record, values, now)
            details = wording.changed_fields(before, values, changed)
            fields_changed = bool(changed)
        people = [(speakers[k].id, PersonRole.speaker.value) for k in s.speakers]
        people += [(speakers[k].id, PersonRole.chair.value) for k in s.chairs]
        current = people_now.get(record.id or 0, [])
        billed_before = _billed(
            [(p.speaker_id, p.role) for p in sorted(current, key=lambda p: p.position)],
            speaker_slugs,
        )
        people_changed = set_session_people(db, record, people, now, current=current)
        if record.slug in existing and (fields_changed or people_changed):
            db.flush()  # now, so that a refusal is blamed on this session
            report.count(report.updated, "sessions")
            billed = _billed(people, speaker_slugs)
            details += [
                wording.field(role, billed_before[role], billed[role])
                for role in billed
                if billed_before[role] != billed[role]
            ]
            report.changes.append(RecordChange("session", s.key, "changed", details))
        programme_changed |= fields_changed or people_changed

    place.loc = ("sessions",)
    in_file = {s.key for s in spec.sessions}
    for slug, record in existing.items():
        if slug in in_file or record.status == SessionStatus.cancelled.value:
            continue
        if record.made_on_web and not cancel_web_sessions:
            report.kept_web_sessions.append(slug)
            report.changes.append(RecordChange("session", slug, "kept", reason="made on the web"))
            continue
        change_session(db, conference, record, {"status": SessionStatus.cancelled.value}, now)
        report.cancelled_sessions.append(slug)
        why: Reason = "made on the web" if record.made_on_web else "not in the file"
        report.changes.append(RecordChange("session", slug, "cancelled", reason=why))
        programme_changed = True

    place.loc = ("conference",)
    if report.created.get("conference") and not conf_spec.draft:
        # A file makes a public programme (unless it says it is a draft), published once it is
        # all written, so that its sessions are not logged as additions to the public changelog.
        conference.programme_published_at = now
    if programme_changed and report.created.get("conference") is None:
        bump_programme_version(conference, now)
    db.flush()
    return report
