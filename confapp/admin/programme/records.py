"""The programme's other records in the back office, working without JavaScript: speakers,
rooms and tracks (list, add, edit, delete while no session uses them), and the conference's
days, daily hours and publishing.

Every write goes through `confapp.programme.editing`, in the API's input shape: the forms'
strings are turned into it here (a checkbox into true or false, "yes"/"no"/"unknown" into
true/false/null, links one per line into a list). Each edit form carries the version it was
opened at, so a save that would overwrite someone else's change is refused (409) with what is
saved now beside what was typed.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, time
from typing import Any
from urllib.parse import urlencode

from babel.numbers import format_decimal
from sqlmodel import Session, col, func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from confapp import urls
from confapp.admin.auth import current_principal
from confapp.admin.programme.audit_trail import audit_programme_edit
from confapp.admin.programme.editor import editor_path, session_form_path
from confapp.admin.routes import admin_conference, admin_page, organiser_conference
from confapp.agenda.service import star_counts
from confapp.links import link_problem
from confapp.models import Conference, ProgrammeSession, Room, SessionPerson, Speaker, Track
from confapp.programme import editing, records
from confapp.programme.clashes import programme_clashes
from confapp.programme.editing import EditRefused, InUse, VersionConflict
from confapp.programme.queries import load_programme
from confapp.request_body import CSRF_FIELD, BadRequestBody, read_form_fields
from confapp.request_context import database
from confapp.translation import N_, _, babel_locale, ngettext

Record = Speaker | Room | Track
MAX_LINKS = records.MAX_LINKS
STEP_FREE_CHOICES = {"yes": True, "no": False, "unknown": None}
_HEX = re.compile(r"^#?[0-9a-fA-F]{6}$")
_CLOCK = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")
OTHER_LABELS = {"slug": N_("The address")}


def programme_admin_path(conference: Conference, rest: str) -> str:
    """A page below the programme editor's, /admin/{conference}/programme/..."""
    return f"{editor_path(conference.slug)}/{rest}"


def _sentence(label: str, reason: str) -> str:
    """The service's reasons are fragments ("must not be empty"); a form shows a sentence."""
    text = reason if reason[:1].isupper() else records.field_and_reason(label, reason)
    return text if text.endswith((".", "?", "!")) else text + "."


def _whole_number(text: str, label: str, errors: dict[str, str], name: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 7:
        errors[name] = _("%(field)s: enter a whole number (digits only), or leave it empty.") % {
            "field": label
        }
        return None
    value = int(text)
    if value > editing.MAX_CAPACITY:
        most = format_decimal(editing.MAX_CAPACITY, locale=babel_locale())
        errors[name] = _("%(field)s: at most %(most)s.") % {"field": label, "most": most}
        return None
    return value


# ---- what differs between speakers, rooms and tracks ---------------------------------------


def _speaker_input(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        name: form.get(name, "") for name in ("name", "pronouns", "affiliation", "bio")
    }
    lines = [
        (number, line.strip()) for number, line in enumerate(form.get("links", "").splitlines(), 1)
    ]
    links = [link for _, link in lines if link]
    for number, link in lines:
        if link and (link_problem(link) is not None or len(link) > records.MAX_LINK):
            errors["links"] = _(
                "Line %(number)d is not a web address: put one address on each line, "
                "each starting with https:// (or http://)."
            ) % {"number": number}
            break
    if len(links) > MAX_LINKS:
        errors["links"] = _("At most %(count)d links.") % {"count": MAX_LINKS}
    if "links" not in errors:
        data["links"] = links
    data["needs_step_free"] = "needs_step_free" in form
    return data, errors


def _speaker_values(speaker: Speaker) -> dict[str, str]:
    return {
        "name": speaker.name,
        "pronouns": speaker.pronouns,
        "affiliation": speaker.affiliation,
        "bio": speaker.bio,
        "links": "\n".join(speaker.links),
        "needs_step_free": "yes" if speaker.needs_step_free else "",
    }


def _room_input(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        "name": form.get("name", ""),
        "access_notes": form.get("access_notes", ""),
    }
    capacity = _whole_number(form.get("capacity", ""), _("Seats"), errors, "capacity")
    if "capacity" not in errors:
        data["capacity"] = capacity
    position = _whole_number(form.get("position", ""), _("Position"), errors, "position")
    if position is not None:
        data["position"] = position
    step_free = form.get("step_free", "")
    if step_free in STEP_FREE_CHOICES:
        data["step_free"] = STEP_FREE_CHOICES[step_free]
    else:
        errors["step_free"] = _("Say whether the room is step-free: yes, no or not known.")
    return data, errors


def _room_values(room: Room) -> dict[str, str]:
    return {
        "name": room.name,
        "capacity": "" if room.capacity is None else str(room.capacity),
        "access_notes": room.access_notes,
        "step_free": next(k for k, v in STEP_FREE_CHOICES.items() if v is room.step_free),
        "position": str(room.position),
    }


def _track_input(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        "name": form.get("name", ""),
        "description": form.get("description", ""),
    }
    # The typed colour wins over the picker: it is there for browsers without a picker and
    # for colours copied from elsewhere.
    colour = form.get("colour_text", "").strip() or form.get("colour", "").strip()
    if _HEX.match(colour):
        data["colour"] = "#" + colour.lstrip("#").lower()
    elif colour:
        errors["colour"] = _("Colour: six hexadecimal digits after a #, like #c0392b.")
    position = _whole_number(form.get("position", ""), _("Position"), errors, "position")
    if position is not None:
        data["position"] = position
    return data, errors


def _track_values(track: Track) -> dict[str, str]:
    return {
        "name": track.name,
        "colour": track.colour,
        "colour_text": "",
        "description": track.description,
        "position": str(track.position),
    }


@dataclass(frozen=True)
class RecordKind:
    """One of the three record kinds: its model, words, form fields and conversions."""

    model: type[Speaker] | type[Room] | type[Track]
    what: str  # "speaker"
    plural: str  # "speakers": the path segment and the template's name
    labels: dict[str, str]  # form field -> what the form calls it (marked N_: `_()` to show)
    read_form: Callable[[Mapping[str, str]], tuple[dict[str, Any], dict[str, str]]]
    form_values: Callable[[Any], dict[str, str]]
    blank: dict[str, str]
    check: Callable[..., dict[str, Any]]  # editing's reader, to explain every field at once
    translated: tuple[str, ...] = ()  # its fields given per language (the model's TRANSLATED)

    @property
    def fields(self) -> records.FormFields:
        return records.FormFields((*self.labels, "slug", "version"), self.translated)

    def translation_keys(self, conference: Conference) -> list[str]:
        return records.translation_keys(self.translated, conference.other_languages())

    def with_translations(
        self, data: dict[str, Any], form: Mapping[str, str], conference: Conference
    ) -> dict[str, Any]:
        """The editing service's input with the form's per-language texts in it."""
        if self.translated:
            data["translations"] = records.translations_in_form(
                form, self.translated, conference.other_languages()
            )
        return data

    def list_path(self, conference: Conference) -> str:
        return programme_admin_path(conference, self.plural)

    def record_path(self, conference: Conference, slug: str) -> str:
        return f"{self.list_path(conference)}/{slug}"

    @property
    def list_template(self) -> str:
        return f"admin/programme_records/{self.plural}.html"

    # The pages' words about this kind of record, each a whole message in the reader's language.

    def add_title(self) -> str:
        return {
            "speaker": _("Add a speaker"),
            "room": _("Add a room"),
            "track": _("Add a track"),
        }[self.what]

    def add_button(self) -> str:
        return {
            "speaker": _("Add the speaker"),
            "room": _("Add the room"),
            "track": _("Add the track"),
        }[self.what]

    def save_button(self) -> str:
        return {
            "speaker": _("Save the speaker"),
            "room": _("Save the room"),
            "track": _("Save the track"),
        }[self.what]

    def all_of_them(self) -> str:
        return {
            "speaker": _("All speakers"),
            "room": _("All rooms"),
            "track": _("All tracks"),
        }[self.what]

    def unused(self) -> str:
        return {
            "speaker": _("No session bills this speaker."),
            "room": _("No session uses this room."),
            "track": _("No session uses this track."),
        }[self.what]

    def cannot_delete(self, sessions: int) -> str:
        if self.what == "speaker":
            return ngettext(
                "Billed on %(num)d session, so it cannot be deleted: take it off it first.",
                "Billed on %(num)d sessions, so it cannot be deleted: take it off them first.",
                sessions,
            ) % {"num": sessions}
        return ngettext(
            "Used by %(num)d session, so it cannot be deleted: take it off it first.",
            "Used by %(num)d sessions, so it cannot be deleted: take it off them first.",
            sessions,
        ) % {"num": sessions}

    def changed_meanwhile(self) -> str:
        return {
            "speaker": _(
                "Someone else changed this speaker since you opened it, so it was not deleted. "
                "Check what is saved now, then delete it if you still mean to."
            ),
            "room": _(
                "Someone else changed this room since you opened it, so it was not deleted. "
                "Check what is saved now, then delete it if you still mean to."
            ),
            "track": _(
                "Someone else changed this track since you opened it, so it was not deleted. "
                "Check what is saved now, then delete it if you still mean to."
            ),
        }[self.what]


SPEAKERS = RecordKind(
    model=Speaker,
    what="speaker",
    plural="speakers",
    labels={
        "name": N_("Name"),
        "pronouns": N_("Pronouns"),
        "affiliation": N_("Affiliation"),
        "bio": N_("Biography"),
        "links": N_("Links"),
        "needs_step_free": N_("Needs step-free access"),
    },
    read_form=_speaker_input,
    form_values=_speaker_values,
    blank={"name": "", "pronouns": "", "affiliation": "", "bio": "", "links": ""},
    check=editing.read_speaker_input,
)
ROOMS = RecordKind(
    model=Room,
    what="room",
    plural="rooms",
    labels={
        "name": N_("Name"),
        "capacity": N_("Seats"),
        "access_notes": N_("Access notes"),
        "step_free": N_("Step-free"),
        "position": N_("Position"),
    },
    read_form=_room_input,
    form_values=_room_values,
    blank={"name": "", "capacity": "", "access_notes": "", "step_free": "unknown", "position": ""},
    check=editing.read_room_input,
    translated=Room.TRANSLATED,
)
TRACKS = RecordKind(
    model=Track,
    what="track",
    plural="tracks",
    labels={
        "name": N_("Name"),
        "colour": N_("Colour"),
        "colour_text": N_("Colour"),
        "description": N_("Description"),
        "position": N_("Position"),
    },
    read_form=_track_input,
    form_values=_track_values,
    blank={"name": "", "colour": "#555555", "colour_text": "", "description": "", "position": ""},
    check=editing.read_track_input,
    translated=Track.TRANSLATED,
)
KINDS = (SPEAKERS, ROOMS, TRACKS)


# ---- reading: the lists and one record ------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """A session a record is used by (for a speaker, with the role they are billed in)."""

    slug: str
    title: str
    role: str | None
    cancelled: bool


def _sessions_per_record(db: Session, kind: RecordKind, conference: Conference) -> dict[int, int]:
    conference_sessions = ProgrammeSession.conference_id == conference.id
    rows: Iterable[tuple[int | None, int]]
    if kind is SPEAKERS:
        rows = db.exec(
            select(SessionPerson.speaker_id, func.count(func.distinct(SessionPerson.session_id)))
            .join(ProgrammeSession, col(ProgrammeSession.id) == SessionPerson.session_id)
            .where(conference_sessions)
            .group_by(col(SessionPerson.speaker_id))
        )
    else:
        column = col(ProgrammeSession.room_id if kind is ROOMS else ProgrammeSession.track_id)
        rows = db.exec(
            select(column, func.count())
            .where(conference_sessions, column.is_not(None))
            .group_by(column)
        )
    return {record_id: count for record_id, count in rows if record_id is not None}


def _list_records(db: Session, kind: RecordKind, conference: Conference) -> list[Any]:
    model: Any = kind.model
    order = (model.name, model.id) if kind is SPEAKERS else (model.position, model.id)
    return list(db.exec(select(model).where(model.conference_id == conference.id).order_by(*order)))


def _uses(db: Session, kind: RecordKind, record: Record) -> list[Use]:
    if kind is SPEAKERS:
        rows = db.exec(
            select(ProgrammeSession, SessionPerson.role)
            .join(SessionPerson, col(SessionPerson.session_id) == ProgrammeSession.id)
            .where(SessionPerson.speaker_id == record.id)
            .order_by(col(ProgrammeSession.start), col(ProgrammeSession.title))
        )
        return [Use(s.slug, s.title, role, s.status == "cancelled") for s, role in rows]
    column = ProgrammeSession.room_id if kind is ROOMS else ProgrammeSession.track_id
    sessions = db.exec(
        select(ProgrammeSession)
        .where(column == record.id)
        .order_by(col(ProgrammeSession.start), col(ProgrammeSession.title))
    )
    return [Use(s.slug, s.title, None, s.status == "cancelled") for s in sessions]


def _find(db: Session, kind: RecordKind, conference: Conference, slug: str) -> Any:
    finders: dict[str, Callable[[Session, Conference, str], Any]] = {
        "speaker": editing.find_speaker,
        "room": editing.find_room,
        "track": editing.find_track,
    }
    return finders[kind.what](db, conference, slug)


# ---- pages ----------------------------------------------------------------------------------

DONE = {
    "added": N_("Added “%(name)s”."),
    "saved": N_("Saved “%(name)s”."),
    "unchanged": N_("Nothing to save: “%(name)s” was already so."),
    "deleted": N_("Deleted."),
}


def _common(conference: Conference, section: str) -> dict[str, Any]:
    days_path = programme_admin_path(conference, "days")
    problems_path = programme_admin_path(conference, "problems")
    return {
        "conference": conference,
        "section": section,
        "editor_path": editor_path(conference.slug),
        "days_path": days_path,
        "problems_path": problems_path,
        "nav": [
            ("speakers", _("Speakers"), SPEAKERS.list_path(conference)),
            ("rooms", _("Rooms"), ROOMS.list_path(conference)),
            ("tracks", _("Tracks"), TRACKS.list_path(conference)),
            ("days", _("Days, hours and publishing"), days_path),
            ("problems", _("Problems"), problems_path),
        ],
    }


def _list_view(
    request: Request,
    kind: RecordKind,
    conference: Conference,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    with database(request).read() as session:
        records = _list_records(session, kind, conference)
        counts = _sessions_per_record(session, kind, conference)
    message = ""
    done = request.query_params.get("done", "")
    if done in DONE:
        named = next((r for r in records if r.slug == request.query_params.get("slug")), None)
        if named is not None or done == "deleted":
            message = _(DONE[done])
            if done != "deleted":
                message %= {"name": named.name if named else ""}
    return admin_page(
        request,
        kind.list_template,
        {
            **_common(conference, kind.plural),
            "kind": kind,
            "records": [(r, counts.get(r.id, 0)) for r in records],
            "values": values or dict(kind.blank),
            "errors": errors or {},
            "message": message,
            "self_path": kind.list_path(conference),
        },
        status_code=status_code,
    )


def _record_view(
    request: Request,
    kind: RecordKind,
    conference: Conference,
    slug: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    conflict: list[tuple[str, str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    with database(request).read() as session:
        record = _find(session, kind, conference, slug)
        uses = _uses(session, kind, record)
    return admin_page(
        request,
        "admin/programme_records/record.html",
        {
            **_common(conference, kind.plural),
            "kind": kind,
            "record": record,
            "uses": uses,
            "values": values
            or {
                **kind.form_values(record),
                **(
                    records.translation_values(record, conference.other_languages())
                    if kind.translated
                    else {}
                ),
                "version": str(record.version),
            },
            "errors": errors or {},
            "conflict": conflict,
            "self_path": kind.record_path(conference, slug),
            "list_path": kind.list_path(conference),
            "delete_path": kind.record_path(conference, slug) + "/delete",
            "session_form_path": session_form_path,
        },
        status_code=status_code,
    )


def _done(path: str, what: str, slug: str = "") -> RedirectResponse:
    query = {"done": what, **({"slug": slug} if slug else {})}
    return RedirectResponse(f"{path}?{urlencode(query)}", status_code=303)


async def _read_form(
    request: Request, names: Collection[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The form's fields and, for fields that cannot be taken as they are (a control
    character, a file), the reasons; the CSRF token is noted either way, for require_role."""
    if isinstance(names, records.FormFields):
        wanted: Collection[str] = replace(names, fields=(CSRF_FIELD, *names.fields))
    else:
        wanted = (CSRF_FIELD, *names)
    try:
        form = await read_form_fields(request, wanted)
    except BadRequestBody as refused:
        if not refused.fields:
            raise
        return _one_line_end(refused.values), refused.fields
    return _one_line_end(form), {}


def _one_line_end(form: Mapping[str, str]) -> dict[str, str]:
    # Browsers send a textarea's line breaks as CR LF; store them as the file and API do.
    return {name: value.replace("\r\n", "\n") for name, value in form.items()}


def _typed(form: Mapping[str, str], names: Collection[str]) -> dict[str, str]:
    return {name: form.get(name, "") for name in names}


def _explained(kind: RecordKind, fields: Mapping[str, str]) -> dict[str, str]:
    """The service's reasons as sentences beside their fields (the hidden version's, above the
    form: only a damaged page can send a bad one)."""
    explained = {}
    for name, reason in fields.items():
        if name == "version":
            explained["form"] = _(
                "This page was damaged (its version is not a number); open it again."
            )
        elif name.startswith("translations."):
            explained[name] = _sentence(records.translated_field_label(name, kind.labels), reason)
        else:
            label = kind.labels.get(name) or OTHER_LABELS.get(name)
            explained[name] = _sentence(_(label) if label else _("This"), reason)
    return explained


def _refuse_all_at_once(
    kind: RecordKind,
    conference: Conference,
    data: Mapping[str, Any],
    form_errors: dict[str, str],
    *,
    creating: bool,
) -> None:
    """When the form's own checks refused a field, explain the others too, then refuse."""
    if not form_errors:
        return
    try:
        kind.check(
            {k: v for k, v in data.items() if k != "slug"},
            creating=creating,
            languages=conference.other_languages(),
        )
    except EditRefused as refused:
        raise EditRefused({**refused.fields, **form_errors}) from None
    raise EditRefused(form_errors)


def _list_page(kind: RecordKind) -> Callable[[Request], Response]:
    def page(request: Request) -> Response:
        return _list_view(request, kind, organiser_conference(request)[0])

    return page


def _create(kind: RecordKind) -> Callable[[Request], Awaitable[Response]]:
    def apply(request: Request, form: dict[str, str], problems: dict[str, str]) -> Response:
        conference, _principal = organiser_conference(request)
        values = _typed(form, (*kind.labels, "slug", *kind.translation_keys(conference)))
        data, errors = kind.read_form(form)
        kind.with_translations(data, form, conference)
        errors.update(problems)
        wanted = form.get("slug", "").strip()
        if wanted and (len(wanted) > 80 or not editing.SLUG_PATTERN.match(wanted)):
            errors["slug"] = _("The address takes lower-case letters, digits and dashes only.")
        elif wanted:
            data["slug"] = wanted
        try:
            with database(request).transaction() as session:
                locked = editing.conference_for_update(session, conference.slug)
                _refuse_all_at_once(kind, locked, data, errors, creating=True)
                slug = editing.create_record(session, locked, kind.model, data).slug
                audit_programme_edit(
                    session,
                    current_principal(request),
                    locked,
                    "programme_record_added",
                    f"{kind.what} {slug}",
                )
        except EditRefused as refused:
            return _list_view(
                request,
                kind,
                conference,
                values=values,
                errors=_explained(kind, refused.fields),
                status_code=422,
            )
        return _done(kind.list_path(conference), "added", slug)

    async def submit(request: Request) -> Response:
        form, problems = await _read_form(request, kind.fields)
        return await run_in_threadpool(apply, request, form, problems)

    return submit


def _record_page(kind: RecordKind) -> Callable[[Request], Response]:
    def page(request: Request) -> Response:
        conference, _principal = organiser_conference(request)
        return _record_view(request, kind, conference, request.path_params["slug"])

    return page


CHOICE_WORDS = {
    "needs_step_free": {"yes": N_("Yes"), "": N_("No")},
    "step_free": {"yes": N_("Yes"), "no": N_("No"), "unknown": N_("Not known")},
}


def _conflict_rows(
    kind: RecordKind, saved: Mapping[str, str], typed: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """(what, saved now, what you typed) for each field where the two differ."""
    typed = dict(typed)
    if typed.get("colour_text", "").strip():
        typed["colour"] = typed["colour_text"].strip()
    rows = []
    for name, label in kind.labels.items():
        if name not in saved or name == "colour_text":
            continue
        now, yours = saved[name].strip(), typed.get(name, "").strip()
        if name == "colour":
            now, yours = now.lower(), yours.lower()
        if now != yours:
            words = {value: _(word) for value, word in CHOICE_WORDS.get(name, {}).items()}
            rows.append((_(label), words.get(now, now), words.get(yours, yours)))
    return rows


def _save(kind: RecordKind) -> Callable[[Request], Awaitable[Response]]:
    def apply(request: Request, form: dict[str, str], problems: dict[str, str]) -> Response:
        conference, _principal = organiser_conference(request)
        slug = request.path_params["slug"]
        values = _typed(form, (*kind.labels, "version", *kind.translation_keys(conference)))
        data, errors = kind.read_form(form)
        kind.with_translations(data, form, conference)
        errors.update(problems)
        try:
            with database(request).transaction() as session:
                locked = editing.conference_for_update(session, conference.slug)
                expected = editing.read_version(form.get("version"))
                _refuse_all_at_once(kind, locked, data, errors, creating=False)
                record, changed = editing.update_record(
                    session, locked, kind.model, slug, data, expected_version=expected
                )
                if changed:
                    audit_programme_edit(
                        session,
                        current_principal(request),
                        locked,
                        "programme_record_changed",
                        f"{kind.what} {slug}: {', '.join(sorted(changed))}",
                    )
        except EditRefused as refused:
            return _record_view(
                request,
                kind,
                conference,
                slug,
                values=values,
                errors=_explained(kind, refused.fields),
                status_code=422,
            )
        except VersionConflict as conflict:
            return _conflict_view(request, kind, conference, slug, values, str(conflict))
        return _done(kind.list_path(conference), "saved" if changed else "unchanged", record.slug)

    async def submit(request: Request) -> Response:
        form, problems = await _read_form(request, kind.fields)
        return await run_in_threadpool(apply, request, form, problems)

    return submit


def _conflict_view(
    request: Request,
    kind: RecordKind,
    conference: Conference,
    slug: str,
    typed: dict[str, str],
    message: str,
) -> Response:
    """What the other organiser saved beside what this one typed; the form keeps what was
    typed and now carries the current version, so saving again is a deliberate choice."""
    with database(request).read() as session:
        record = _find(session, kind, conference, slug)
    saved = kind.form_values(record)
    return _record_view(
        request,
        kind,
        conference,
        slug,
        values={**typed, "version": str(record.version)},
        errors={"form": message},
        conflict=_conflict_rows(kind, saved, typed),
        status_code=409,
    )


def _delete(kind: RecordKind) -> Callable[[Request], Awaitable[Response]]:
    def apply(request: Request, form: dict[str, str], problems: dict[str, str]) -> Response:
        conference, _principal = organiser_conference(request)
        slug = request.path_params["slug"]
        try:
            with database(request).transaction() as session:
                locked = editing.conference_for_update(session, conference.slug)
                expected = editing.read_version(form.get("version"))
                editing.delete_record(session, locked, kind.model, slug, expected_version=expected)
                audit_programme_edit(
                    session,
                    current_principal(request),
                    locked,
                    "programme_record_deleted",
                    f"{kind.what} {slug}",
                )
        except EditRefused as refused:
            errors = _explained(kind, refused.fields)
            return _record_view(request, kind, conference, slug, errors=errors, status_code=422)
        except VersionConflict:
            message = kind.changed_meanwhile()
            return _record_view(
                request, kind, conference, slug, errors={"form": message}, status_code=409
            )
        except InUse as in_use:
            # Translators: why a record cannot be deleted, then that nothing was.
            message = _("%(reason)s Nothing was deleted.") % {"reason": in_use}
            return _record_view(
                request, kind, conference, slug, errors={"form": message}, status_code=409
            )
        return _done(kind.list_path(conference), "deleted")

    async def submit(request: Request) -> Response:
        form, problems = await _read_form(request, ("version",))
        return await run_in_threadpool(apply, request, form, problems)

    return submit


# ---- the conference's days, daily hours and publishing -------------------------------------

DAYS_FIELDS = ("start_date", "end_date", "day_starts", "day_ends", "opened")
DAYS_LABELS = {
    "start_date": N_("The first day"),
    "end_date": N_("The last day"),
    "day_starts": N_("The day's start"),
    "day_ends": N_("The day's end"),
}
DAYS_DONE = {
    "saved": N_("Days and hours saved."),
    "unchanged": N_("Nothing to save: the days and hours were already so."),
    "published": N_(
        "The programme is published: everyone can see it, and every change from now on "
        "is public at once and goes into the public changelog."
    ),
    "already": N_("The programme was already published."),
}


def _clock(value: time | None) -> str:
    return "" if value is None else value.strftime("%H:%M")


def _days_values(conference: Conference) -> dict[str, str]:
    values = {
        "start_date": conference.start_date.isoformat(),
        "end_date": conference.end_date.isoformat(),
        "day_starts": _clock(conference.day_starts),
        "day_ends": _clock(conference.day_ends),
    }
    return {**values, "opened": _days_signature(values)}


def _days_signature(values: Mapping[str, str]) -> str:
    """The days and hours as the form was opened with them: a save from a form opened before
    someone else changed them is refused rather than undoing that change."""
    return " ".join(values.get(name, "") or "-" for name in DAYS_LABELS)


def _read_days(
    form: Mapping[str, str],
) -> tuple[tuple[date, date, time | None, time | None] | None, dict[str, str]]:
    errors: dict[str, str] = {}
    dates: dict[str, date] = {}
    for name in ("start_date", "end_date"):
        text = form.get(name, "").strip()
        try:
            dates[name] = date.fromisoformat(text)
        except ValueError:
            errors[name] = _("%(field)s: enter a date, like 2027-07-09.") % {
                "field": _(DAYS_LABELS[name])
            }
    hours: dict[str, time | None] = {}
    for name in ("day_starts", "day_ends"):
        text = form.get(name, "").strip()
        hours[name] = None
        if not text:
            continue
        try:
            if not _CLOCK.match(text):
                raise ValueError(text)
            hours[name] = time.fromisoformat(text.zfill(5) if len(text) == 4 else text)
        except ValueError:
            errors[name] = _("%(field)s: enter a time of day like 09:30, or leave it empty.") % {
                "field": _(DAYS_LABELS[name])
            }
    if errors:
        return None, errors
    return (dates["start_date"], dates["end_date"], hours["day_starts"], hours["day_ends"]), {}


def _days_view(
    request: Request,
    conference: Conference,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    done = request.query_params.get("done", "")
    with database(request).read() as session:
        programme = load_programme(session, conference, as_organiser=True)
        clashes = programme_clashes(programme, stars=star_counts(session, conference.id or 0))
    return admin_page(
        request,
        "admin/programme_records/days.html",
        {
            **_common(conference, "days"),
            "values": values or _days_values(conference),
            "errors": errors or {},
            "message": _(DAYS_DONE[done]) if done in DAYS_DONE else "",
            "sessions": len(programme.sessions),
            "problems": len(clashes),
            "self_path": programme_admin_path(conference, "days"),
            "publish_path": programme_admin_path(conference, "publish"),
            "public_path": urls.programme_path(conference.slug),
            "changes_path": urls.changes_path(conference.slug),
        },
        status_code=status_code,
    )


def days_page(request: Request) -> Response:
    return _days_view(request, organiser_conference(request)[0])


class _DaysChangedMeanwhile(Exception):
    def __init__(self, saved: dict[str, str]) -> None:
        self.saved = saved


def _conflicting_days_message(saved: Mapping[str, str]) -> str:
    if saved["day_starts"]:
        message = _(
            "Someone else changed the days or hours since you opened this page; nothing was "
            "saved. Saved now: %(first)s to %(last)s, %(starts)s to %(ends)s each day. Your "
            "values are still in the form: save again to replace theirs with yours."
        )
    else:
        message = _(
            "Someone else changed the days or hours since you opened this page; nothing was "
            "saved. Saved now: %(first)s to %(last)s, no daily hours. Your values are still in "
            "the form: save again to replace theirs with yours."
        )
    return message % {
        "first": saved["start_date"],
        "last": saved["end_date"],
        "starts": saved["day_starts"],
        "ends": saved["day_ends"],
    }


def _save_days(request: Request, form: dict[str, str], problems: dict[str, str]) -> Response:
    conference, _principal = organiser_conference(request)
    values = _typed(form, DAYS_FIELDS)
    wanted, errors = _read_days(form)
    errors.update(problems)
    if wanted is None or errors:
        return _days_view(request, conference, values=values, errors=errors, status_code=422)
    try:
        with database(request).transaction() as session:
            locked = editing.conference_for_update(session, conference.slug)
            saved = _days_values(locked)
            # Opened before someone else's change, and not simply asking for what is saved now.
            if saved["opened"] not in (values["opened"], _days_signature(values)):
                raise _DaysChangedMeanwhile(saved)
            changed = editing.set_days_and_hours(session, locked, *wanted)
    except EditRefused as refused:
        errors = {
            name: _sentence(_(DAYS_LABELS[name]) if name in DAYS_LABELS else _("This"), why)
            for name, why in refused.fields.items()
        }
        return _days_view(request, conference, values=values, errors=errors, status_code=422)
    except _DaysChangedMeanwhile as meanwhile:
        return _days_view(
            request,
            admin_conference(request),
            values={**values, "opened": meanwhile.saved["opened"]},
            errors={"form": _conflicting_days_message(meanwhile.saved)},
            status_code=409,
        )
    return _done(programme_admin_path(conference, "days"), "saved" if changed else "unchanged")


async def days_submit(request: Request) -> Response:
    form, problems = await _read_form(request, DAYS_FIELDS)
    return await run_in_threadpool(_save_days, request, form, problems)


def _publish(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    with database(request).transaction() as session:
        locked = editing.conference_for_update(session, conference.slug)
        published = editing.publish_programme(session, locked)
        if published:
            audit_programme_edit(session, current_principal(request), locked, "programme_published")
    return _done(programme_admin_path(conference, "days"), "published" if published else "already")


async def publish_submit(request: Request) -> Response:
    await _read_form(request, ())
    return await run_in_threadpool(_publish, request)


def _kind_routes(kind: RecordKind) -> list[Route]:
    base = "/admin/{conference}/programme/" + kind.plural
    name = f"admin_programme_{kind.plural}"
    return [
        Route(base, _list_page(kind), methods=["GET"], name=name),
        Route(base, _create(kind), methods=["POST"], name=f"{name}_add"),
        Route(
            base + "/{slug}",
            _record_page(kind),
            methods=["GET"],
            name=f"admin_programme_{kind.what}",
        ),
        Route(
            base + "/{slug}",
            _save(kind),
            methods=["POST"],
            name=f"admin_programme_{kind.what}_save",
        ),
        Route(
            base + "/{slug}/delete",
            _delete(kind),
            methods=["POST"],
            name=f"admin_programme_{kind.what}_delete",
        ),
    ]


routes = [
    *(route for kind in KINDS for route in _kind_routes(kind)),
    Route("/admin/{conference}/programme/days", days_page, methods=["GET"]),
    Route("/admin/{conference}/programme/days", days_submit, methods=["POST"]),
    Route("/admin/{conference}/programme/publish", publish_submit, methods=["POST"]),
]
