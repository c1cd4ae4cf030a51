"""The programme editor, for organisers: a day with rooms as columns where sessions are placed,
and a form per session to create, change, cancel and restore it.

It works without JavaScript (every change is a form); static/js/programme-editor.js adds
drag-to-move on top, through the JSON API and `check-move` below, with the same server checks.
Every write goes through confapp.programme.editing in one transaction that starts by locking
the conference. A change that makes new clashes is rolled back and shown to be confirmed; a
save naming a version that is no longer current is refused with what the other person changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from confapp import urls
from confapp.accounts.service import Principal
from confapp.admin.programme.audit_trail import audit_programme_edit, session_action
from confapp.admin.programme.session_form import (
    KINDS,
    ROLES,
    SessionForm,
    TheirChange,
    empty_form,
    form_errors,
    form_from_entry,
    form_from_fields,
    kind_name,
    merge_after_conflict,
    people_from_text,
    posted_fields,
    role_name,
    session_input,
)
from confapp.admin.routes import admin_page, organiser_conference
from confapp.agenda.service import star_counts
from confapp.dates import day_name
from confapp.db import Database
from confapp.models import Conference, Room, SessionStatus, Speaker
from confapp.programme.clashes import (
    PAIRED_KINDS,
    Clash,
    ClashKind,
    clashes_in_place_of,
    programme_clashes,
)
from confapp.programme.editing import (
    EditRefused,
    NeedsConfirmation,
    VersionConflict,
    conference_for_update,
    create_session,
    delete_session,
    find_working_session,
    new_clashes,
    read_version,
    session_clashes,
    update_session,
)
from confapp.programme.grid import assign_lanes
from confapp.programme.queries import (
    NotFound,
    Person,
    Programme,
    SessionEntry,
    load_programme,
)
from confapp.programme.working_copy import pending_changes, writes_to
from confapp.request_body import (
    CSRF_FIELD,
    BadRequestBody,
    bad_request_json,
    read_form_fields,
    read_json_object,
)
from confapp.request_context import database
from confapp.times import local_today, to_local
from confapp.translation import N_, _

# Problems that are the programme's to-do list rather than clashes a change makes: a session
# waiting for a room or a speaker is saved without asking (and still listed).
NOT_ASKED = frozenset({ClashKind.no_room, ClashKind.no_speaker})

ROW_MINUTES = 5  # the grid's row: sessions start and end on these
DROP_MINUTES = 15  # where a dragged session can land
LABEL_MINUTES = 30
DEFAULT_HOURS = (time(8), time(22))

STATUS_CONFLICT = N_(
    "Someone else changed this session since you opened it; nothing was saved. Here it is as "
    "it is now: cancel or restore it again if you still mean to."
)
NOTICES = {
    "saved": N_("Saved “%(title)s”."),
    "moved": N_("Moved “%(title)s”."),
    "undone": N_("“%(title)s” is back where it was."),
    "deleted": N_("Deleted “%(title)s”."),
    "cancelled": N_("Cancelled “%(title)s”."),
    "restored": N_("Restored “%(title)s”."),
    "conflict": N_(
        "Someone else changed “%(title)s” since this page was loaded; nothing was moved. "
        "Here is the programme as it is now."
    ),
}


# ---- addresses --------------------------------------------------------------------------------


def editor_path(conference_slug: str) -> str:
    return f"/admin/{quote(conference_slug)}/programme"


def day_path(conference_slug: str, day: date, **query: str) -> str:
    suffix = f"?{urlencode(query)}" if query else ""
    return f"{editor_path(conference_slug)}/day/{day.isoformat()}{suffix}"


def new_session_path(conference_slug: str, day: date | None = None) -> str:
    suffix = f"?day={day.isoformat()}" if day else ""
    return f"{editor_path(conference_slug)}/sessions/new{suffix}"


def session_form_path(conference_slug: str, session_slug: str) -> str:
    return f"{editor_path(conference_slug)}/sessions/{quote(session_slug)}"


def record_paths(conference_slug: str) -> dict[str, str]:
    """The other programme pages the editor's header links to."""
    base = editor_path(conference_slug)
    return {
        "speakers": f"{base}/speakers",
        "rooms": f"{base}/rooms",
        "tracks": f"{base}/tracks",
        "days": f"{base}/days",
        "problems": f"{base}/problems",
    }


# ---- saving -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Saved:
    slug: str
    title: str
    day: date  # local day it starts on, for going back to the grid


class _DryRun(Exception):
    """Rolls a trial change back after its clashes have been worked out."""


def _clashes_to_ask_about(before: list[Clash], after: list[Clash]) -> list[Clash]:
    return [clash for clash in new_clashes(before, after) if clash.kind not in NOT_ASKED]


def save_session(
    db: Database,
    conference_slug: str,
    session_slug: str | None,
    data: Mapping[str, Any],
    *,
    expected_version: int | None,
    confirmed: bool,
    dry_run: bool = False,
    principal: Principal | None = None,
) -> Saved:
    """Create (no slug) or change a session in one transaction (in the working copy of a
    published programme, unless every save is public). Raises EditRefused, VersionConflict,
    NotFound, or NeedsConfirmation when the change makes new clashes and is not `confirmed`
    (nothing is saved then); with `dry_run` nothing is ever saved."""
    by = principal.email if principal else ""
    with db.transaction() as session:
        conference = conference_for_update(session, conference_slug)
        stars = star_counts(session, conference.id or 0)
        if session_slug is None:
            before: list[Clash] = []
            record = create_session(session, conference, data, by=by)
            action, changed = "programme_session_added", {"title"}
        else:
            before = session_clashes(session, conference, session_slug, stars)
            status_before = find_working_session(session, conference, session_slug)[0].status
            record, changed = update_session(
                session, conference, session_slug, data, expected_version=expected_version, by=by
            )
            action = session_action(changed, status_before, record.status)
        after = session_clashes(session, conference, record.slug, stars)
        asked = _clashes_to_ask_about(before, after)
        if asked and not confirmed:
            raise NeedsConfirmation(asked)
        saved = Saved(record.slug, record.title, to_local(record.start, conference.timezone).date())
        if dry_run:
            raise _DryRun
        if changed:
            audit_programme_edit(
                session,
                principal,
                conference,
                action,
                f"{record.slug}: {', '.join(sorted(changed))}",
            )
        return saved


def clashes_a_move_makes(
    db: Database,
    conference_slug: str,
    session_slug: str,
    data: Mapping[str, Any],
    expected_version: int | None,
) -> list[Clash]:
    """The new clashes a change would make, worked out on the real data and rolled back."""
    try:
        save_session(
            db,
            conference_slug,
            session_slug,
            data,
            expected_version=expected_version,
            confirmed=False,
            dry_run=True,
        )
    except NeedsConfirmation as ask:
        return ask.clashes
    except _DryRun:
        pass
    return []


def _changed_entry(
    entry: SessionEntry, data: Mapping[str, Any], programme: Programme, speakers: list[Speaker]
) -> SessionEntry:
    """The session as a change (the editing service's input, already accepted) would leave it."""
    record: dict[str, Any] = {
        name: data[name] for name in ("title", "kind", "status") if name in data
    }
    for name in ("start", "end"):
        if isinstance(data.get(name), str):
            record[name] = datetime.fromisoformat(data[name]).astimezone(UTC)
    room, track, people = entry.room, entry.track, entry.people
    if "room" in data:
        room = programme.room(data["room"]) if data["room"] else None
        record["room_id"] = room.id if room else None
    if "track" in data:
        track = programme.track(data["track"]) if data["track"] else None
        record["track_id"] = track.id if track else None
    if "people" in data:
        by_slug = {speaker.slug: speaker for speaker in speakers}
        people = [
            Person(by_slug[item["speaker"]], item.get("role") or "speaker")
            for item in data["people"]
            if item.get("speaker") in by_slug
        ]
    return replace(
        entry, record=entry.record.model_copy(update=record), room=room, track=track, people=people
    )


def clashes_in_new_place(
    db: Database,
    programme: Programme,
    entry: SessionEntry,
    data: Mapping[str, Any],
    speakers: list[Speaker],
) -> list[Clash]:
    """Every clash a session would have after a change waiting to be confirmed ("Save
    anyway"): in its new room and time, none from where it is now."""
    with db.read() as session:
        stars = star_counts(session, programme.conference.id or 0)
    changed = _changed_entry(entry, data, programme, speakers)
    return clashes_in_place_of(programme, changed, stars)


# ---- the day view -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    room: Room
    first_line: int  # CSS grid column line; 1 is the time column
    lanes: int  # sessions overlapping in one room (a clash) sit side by side


@dataclass(frozen=True)
class Card:
    entry: SessionEntry
    column: int
    row_start: int
    row_end: int
    clashes: list[Clash]


@dataclass(frozen=True)
class DropSlot:
    row: int
    start: str  # ISO 8601 with the offset in force then: the browser computes no time zones
    label: str
    labelled: bool  # a time label is shown beside it


@dataclass(frozen=True)
class DayLayout:
    columns: list[Column]
    cards: list[Card]
    slots: list[DropSlot]
    row_count: int

    @property
    def lane_count(self) -> int:
        return sum(column.lanes for column in self.columns)


@dataclass(frozen=True)
class DayView:
    """How an organiser looks at a day, kept in the day's address (so it works without
    JavaScript and survives a reload): the rooms shown as columns, all unless some are chosen
    (eight rooms do not fit a laptop's width), narrow columns, and the day as a list per room
    instead of a grid (a phone shows two columns of a grid)."""

    rooms: list[Room]  # the rooms shown, in the programme's order
    chosen: bool  # only some rooms are shown
    compact: bool
    as_list: bool

    def query(
        self, *, all_rooms: bool = False, compact: bool | None = None, as_list: bool | None = None
    ) -> str:
        """The query string of this view ("" or "?..."), or of one changed: query(as_list=True)."""
        view = replace(
            self,
            chosen=self.chosen and not all_rooms,
            compact=self.compact if compact is None else compact,
            as_list=self.as_list if as_list is None else as_list,
        )
        pairs = [("room", room.slug) for room in view.rooms] if view.chosen else []
        if view.compact:
            pairs.append(("compact", "1"))
        if view.as_list:
            pairs.append(("view", "list"))
        return f"?{urlencode(pairs)}" if pairs else ""


def day_view(rooms: list[Room], chosen: list[str], compact: str, view: str) -> DayView:
    """The view a day's address asks for (`room` repeated, `compact=1`, `view=list`); a room
    slug that names no room is left out, and choosing none (or all) shows every room."""
    wanted = set(chosen)
    shown = [room for room in rooms if room.slug in wanted]
    only_some = 0 < len(shown) < len(rooms)
    return DayView(shown if only_some else rooms, only_some, compact == "1", view == "list")


def sessions_by_room(
    entries: list[SessionEntry], rooms: list[Room]
) -> list[tuple[Room, list[SessionEntry]]]:
    """Each room with its sessions in time order: the day as a list per room."""
    ordered = sorted(entries, key=lambda e: (e.record.start, e.record.end, e.slug))
    return [
        (room, [entry for entry in ordered if entry.room and entry.room.id == room.id])
        for room in rooms
    ]


def _on_the_hour(moment: datetime, round_up: bool = False) -> datetime:
    """The hour a local moment falls in (or the next one, rounding up), in UTC."""
    hour = moment.replace(minute=0, second=0, microsecond=0)
    if round_up and hour != moment:
        hour = (hour.astimezone(UTC) + timedelta(hours=1)).astimezone(moment.tzinfo)
    return hour.astimezone(UTC)


def _hours(
    day: date, entries: list[SessionEntry], conference: Conference
) -> tuple[datetime, datetime]:
    """When the day's grid opens and closes, in UTC: at the programme's daily hours when they
    are set, else at the hour of the day's first session (an evening-only day is not a page
    of empty morning); it closes at the later of the daily end and the last session's end. A
    session outside the daily hours still fits. A day with neither shows 08:00–22:00."""
    tz = ZoneInfo(conference.timezone)

    def at(clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)

    if conference.day_starts is not None and conference.day_ends is not None:
        opens, closes = at(conference.day_starts), at(conference.day_ends)
    elif entries:
        opens = _on_the_hour(min(entry.local_start for entry in entries))
        closes = _on_the_hour(max(entry.local_end for entry in entries), round_up=True)
    else:
        return at(DEFAULT_HOURS[0]), at(DEFAULT_HOURS[1])
    if entries:
        opens = min(opens, _on_the_hour(min(entry.local_start for entry in entries)))
        closes = max(closes, max(entry.record.end for entry in entries))
    return opens, closes


def lay_out_day(
    day: date,
    entries: list[SessionEntry],
    rooms: list[Room],
    conference: Conference,
    clashes_by_session: Mapping[str, list[Clash]],
) -> DayLayout:
    """Every room given a column (so a session can be dropped into an empty one; `rooms` may
    be the few an organiser chose to see), time down the side over the day's hours (see
    `_hours`). Rows are measured in elapsed time, so a day when the clocks change lays out
    right and each drop slot carries the offset in force at its time."""
    tz = ZoneInfo(conference.timezone)
    first, last = _hours(day, entries, conference)
    total = int((last - first).total_seconds() // 60)
    total += -total % DROP_MINUTES

    def row(moment: datetime, round_up: bool = False) -> int:
        minutes = (moment.astimezone(UTC) - first).total_seconds() / 60
        rows = -(-minutes // ROW_MINUTES) if round_up else minutes // ROW_MINUTES
        return int(rows) + 2

    columns: list[Column] = []
    lane_of: dict[str, int] = {}
    line = 2
    for room in rooms:
        lanes = assign_lanes(
            [entry for entry in entries if entry.room and entry.room.id == room.id]
        )
        lane_of.update(lanes)
        count = max(lanes.values(), default=0) + 1
        columns.append(Column(room, line, count))
        line += count
    line_of = {column.room.id: column.first_line for column in columns}
    cards = [
        Card(
            entry,
            line_of[entry.room.id] + lane_of[entry.slug],
            row(entry.record.start),
            max(row(entry.record.end, round_up=True), row(entry.record.start) + 1),
            clashes_by_session.get(entry.slug, []),
        )
        for entry in entries
        if entry.room is not None and entry.room.id in line_of
    ]
    per_slot = DROP_MINUTES // ROW_MINUTES
    slots = []
    for n in range(total // DROP_MINUTES):
        local = (first + timedelta(minutes=n * DROP_MINUTES)).astimezone(tz)
        slots.append(
            DropSlot(
                2 + n * per_slot,
                local.isoformat(),
                f"{local:%H:%M}",
                (n * DROP_MINUTES) % LABEL_MINUTES == 0,
            )
        )
    return DayLayout(columns, cards, slots, max(total // ROW_MINUTES, 1))


def _day_clashes(clashes: list[Clash], day_slugs: set[str]) -> list[Clash]:
    """The day's clashes, a pair of sessions once (not once from each side)."""
    listed = []
    for clash in clashes:
        if clash.session not in day_slugs:
            continue
        if (
            clash.kind in PAIRED_KINDS
            and clash.other_session in day_slugs
            and clash.other_session < clash.session
        ):
            continue
        listed.append(clash)
    return listed


def _parse_day(text: str) -> date | None:
    if len(text) != 10 or not text.isascii():
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _load(db: Database, conference: Conference) -> tuple[Programme, list[Clash]]:
    with db.read() as session:
        programme = load_programme(session, conference, as_organiser=True)
        clashes = programme_clashes(programme, stars=star_counts(session, conference.id or 0))
    return programme, clashes


def programme_home(request: Request) -> Response:
    """Today's day during the conference, else its first day."""
    conference, _principal = organiser_conference(request)
    programme, _clashes = _load(database(request), conference)
    today = local_today(conference.timezone)
    days = programme.days
    day = today if today in days else days[0]
    return RedirectResponse(day_path(conference.slug, day), status_code=303)


def day_page(request: Request) -> Response:
    conference, principal = organiser_conference(request)
    day = _parse_day(request.path_params["day"])
    programme, clashes = _load(database(request), conference)
    if day is None or day not in programme.days:
        raise NotFound(_("The programme has no such day."))
    entries = [entry for entry in programme.sessions if entry.day == day]
    by_session: dict[str, list[Clash]] = {}
    for clash in clashes:
        by_session.setdefault(clash.session, []).append(clash)
    view = day_view(
        programme.rooms,
        request.query_params.getlist("room"),
        request.query_params.get("compact", ""),
        request.query_params.get("view", ""),
    )
    layout = lay_out_day(day, entries, view.rooms, conference, by_session)
    shown_rooms = {room.id for room in view.rooms}
    day_slugs = {entry.slug for entry in entries}
    titles = {entry.slug: entry.title for entry in programme.sessions}
    notice = ""
    kind, slug = request.query_params.get("notice", ""), request.query_params.get("session", "")
    if kind in NOTICES and slug in titles:
        notice = _(NOTICES[kind]) % {"title": titles[slug]}
    elif kind == "deleted":  # gone from the programme: its title comes with the notice
        notice = _(NOTICES[kind]) % {"title": request.query_params.get("title", "")[:200]}
    return admin_page(
        request,
        "admin/programme/day.html",
        {
            "conference": conference,
            "programme": programme,
            "day": day,
            "layout": layout,
            "view": view,
            "room_lists": sessions_by_room(entries, view.rooms),
            "in_hidden_rooms": sum(
                1 for e in entries if e.room is not None and e.room.id not in shown_rooms
            ),
            "unscheduled": [entry for entry in entries if entry.room is None],
            "clashes": _day_clashes(clashes, day_slugs),
            "clashes_by_session": by_session,
            "titles": titles,
            "notice": notice,
            "csrf_token": principal.csrf_token or "",
            "working": working_copy_summary(database(request), conference),
            **_paths(conference),
        },
    )


def working_copy_summary(db: Database, conference: Conference) -> dict[str, Any]:
    """What the editor's header says about where saves go and what is pending."""
    with db.read() as session:
        count = len(pending_changes(session, conference))
    return {
        "writes_to": writes_to(conference),
        "pending_count": count,
        "changes_path": f"{editor_path(conference.slug)}/changes",
    }


def _paths(conference: Conference) -> dict[str, Any]:
    slug = conference.slug
    return {
        "paths": record_paths(slug),
        "editor_home": editor_path(slug),
        "day_path": lambda day, **query: day_path(slug, day, **query),
        "session_form_path": lambda session: session_form_path(slug, session),
        "new_session_path": lambda day=None: new_session_path(slug, day),
        "api_sessions_path": f"/api/{quote(slug)}/sessions/",
        "public_programme_path": urls.programme_path(slug),
    }


# ---- the session form -------------------------------------------------------------------------


@dataclass(frozen=True)
class ShownChange:
    """A change someone else made, in words."""

    label: str
    was: str
    now: str
    also_mine: bool


def _person_and_role(name: str, role: str) -> str:
    # Translators: a person billed for a session and their role in it ("speaker", "chair").
    return _("%(name)s (%(role)s)") % {"name": name, "role": role_name(role)}


def _describe(name: str, value: str, programme: Programme, speakers: list[Speaker]) -> str:
    if name == "room":
        room = programme.room(value)
        return room.name if room else _("no room yet")
    if name == "track":
        track = programme.track(value)
        return track.name if track else _("no track")
    if name == "people":
        names = {speaker.slug: speaker.name for speaker in speakers}
        people = [
            _person_and_role(names.get(slug, slug), role) for slug, role in people_from_text(value)
        ]
        return ", ".join(people) or _("nobody")
    if name == "day":
        day = _parse_day(value)
        return day_name(day) if day else value
    if name == "kind":
        return kind_name(value) if value else value
    if name == "end_next_day":
        return _("yes") if value else _("no")
    return value


def _shown_changes(
    changes: list[TheirChange], programme: Programme, speakers: list[Speaker]
) -> list[ShownChange]:
    shown = []
    for change in changes:
        if change.name == "abstract" or change.name.endswith(".abstract"):
            # The form only remembers a digest of an abstract.
            shown.append(ShownChange(change.label, "", _("changed"), change.also_mine))
            continue
        shown.append(
            ShownChange(
                change.label,
                _describe(change.name, change.was, programme, speakers),
                _describe(change.name, change.now, programme, speakers),
                change.also_mine,
            )
        )
    return shown


def _all_speakers(db: Database, conference: Conference) -> list[Speaker]:
    """Every speaker, billed or not: the programme lists only those billed for a session."""
    with db.read() as session:
        return list(
            session.exec(
                select(Speaker)
                .where(Speaker.conference_id == conference.id)
                .order_by(col(Speaker.name), col(Speaker.id))
            )
        )


def _session_form_page(
    request: Request,
    conference: Conference,
    principal: Principal,
    form: SessionForm,
    *,
    session_slug: str | None,
    errors: Mapping[str, str] | None = None,
    to_confirm: list[Clash] | None = None,
    conflict: list[TheirChange] | None = None,
    restoring: bool = False,
    status_code: int = 200,
) -> Response:
    db = database(request)
    programme, clashes = _load(db, conference)
    speakers = _all_speakers(db, conference)
    entry = programme.session(session_slug) if session_slug else None
    if session_slug is not None and entry is None:
        raise NotFound(_("There is no session at this address."))
    current_clashes = [c for c in clashes if entry and c.session == entry.slug]
    in_new_place = bool(to_confirm) and entry is not None
    if in_new_place and entry is not None:  # "Save anyway": the clashes where it would be
        change = (
            {"status": SessionStatus.confirmed.value}
            if restoring
            else session_input(form, conference.timezone, programme.days)[0]
        )
        current_clashes = clashes_in_new_place(db, programme, entry, change, speakers)
    action = (
        session_form_path(conference.slug, session_slug)
        if session_slug
        else new_session_path(conference.slug)
    )
    return admin_page(
        request,
        "admin/programme/session_form.html",
        {
            "conference": conference,
            "programme": programme,
            "entry": entry,
            "form": form,
            "values": form.values,
            "errors": dict(errors or {}),
            "to_confirm": to_confirm or [],
            "conflict": _shown_changes(conflict, programme, speakers) if conflict else None,
            "current_clashes": current_clashes,
            "in_new_place": in_new_place,
            "titles": {e.slug: e.title for e in programme.sessions},
            "speakers": speakers,
            "kinds": KINDS,
            "kind_name": kind_name,
            "roles": ROLES,
            "role_name": role_name,
            "action": action,
            "status_action": f"{action}/status" if session_slug else "",
            "delete_action": f"{action}/delete" if session_slug else "",
            # A restore that makes clashes is confirmed with its own small form.
            "form_kind": "status" if restoring else "session",
            "status_value": SessionStatus.confirmed.value,
            "csrf_token": principal.csrf_token or "",
            "working": working_copy_summary(db, conference),
            **_paths(conference),
        },
        status_code=status_code,
    )


def new_session_form(request: Request) -> Response:
    conference, principal = organiser_conference(request)
    day = _parse_day(request.query_params.get("day", ""))
    return _session_form_page(
        request,
        conference,
        principal,
        empty_form(day, tuple(conference.other_languages())),
        session_slug=None,
    )


def edit_session_form(request: Request) -> Response:
    conference, principal = organiser_conference(request)
    slug = request.path_params["session"]
    programme, _clashes = _load(database(request), conference)
    entry = programme.session(slug)
    if entry is None:
        raise NotFound(_("There is no session at this address."))
    return _session_form_page(
        request,
        conference,
        principal,
        form_from_entry(entry, tuple(conference.other_languages())),
        session_slug=slug,
    )


async def _read_form(request: Request) -> tuple[dict[str, str], dict[str, str]]:
    """The posted fields, and the fields refused as they were sent (a file, a NUL byte...),
    so the form comes back with the rest of what was typed."""
    try:
        fields = await read_form_fields(
            request, posted_fields(CSRF_FIELD, "status", "confirm_cancel")
        )
    except BadRequestBody as refused:
        if not refused.fields:
            raise
        return refused.values, dict(refused.fields)
    return fields, {}


def _save_from_form(
    request: Request,
    fields: dict[str, str],
    refused: dict[str, str],
    session_slug: str | None,
) -> Response:
    conference, principal = organiser_conference(request)
    db = database(request)
    languages = tuple(conference.other_languages())
    form = form_from_fields(fields, languages)
    with db.read() as session:
        days = load_programme(session, conference, as_organiser=True).days
    data, errors = session_input(form, conference.timezone, days)
    for name, reason in refused.items():
        errors.setdefault(name if name in form.values else "form", reason)

    def again(**extra: Any) -> Response:
        return _session_form_page(
            request, conference, principal, form, session_slug=session_slug, **extra
        )

    if errors:
        return again(errors=errors, status_code=422)
    try:
        saved = save_session(
            db,
            conference.slug,
            session_slug,
            data,
            expected_version=read_version(form.version) if session_slug else None,
            confirmed=fields.get("confirm_clashes") == "1",
            principal=principal,
        )
    except EditRefused as refusal:
        return again(errors=form_errors(refusal.fields, languages), status_code=422)
    except NeedsConfirmation as ask:
        return again(to_confirm=ask.clashes)
    except VersionConflict:
        assert session_slug is not None
        return _conflict_page(request, conference, principal, form, session_slug)
    return _back_to_day(conference, saved)


def _conflict_page(
    request: Request,
    conference: Conference,
    principal: Principal,
    form: SessionForm,
    session_slug: str,
) -> Response:
    programme, _clashes = _load(database(request), conference)
    entry = programme.session(session_slug)
    if entry is None:
        raise NotFound(_("This session was deleted meanwhile."))
    merged, changes = merge_after_conflict(
        form, form_from_entry(entry, tuple(conference.other_languages()))
    )
    return _session_form_page(
        request,
        conference,
        principal,
        merged,
        session_slug=session_slug,
        errors={
            "form": _("Someone else changed this session since you opened it. Nothing was saved.")
        },
        conflict=changes,
        status_code=409,
    )


def _back_to_day(conference: Conference, saved: Saved, notice: str = "saved") -> Response:
    target = day_path(conference.slug, saved.day, notice=notice, session=saved.slug)
    return RedirectResponse(f"{target}#session-{saved.slug}", status_code=303)


async def create_session_submit(request: Request) -> Response:
    fields, refused = await _read_form(request)
    return await run_in_threadpool(_save_from_form, request, fields, refused, None)


async def edit_session_submit(request: Request) -> Response:
    fields, refused = await _read_form(request)
    slug = request.path_params["session"]
    return await run_in_threadpool(_save_from_form, request, fields, refused, slug)


def _change_status(request: Request, fields: dict[str, str]) -> Response:
    """Cancel or restore: restoring can make clashes again, so it may ask first too."""
    conference, principal = organiser_conference(request)
    slug = request.path_params["session"]
    status = fields.get("status", "")
    if status not in (SessionStatus.cancelled.value, SessionStatus.confirmed.value):
        raise BadRequestBody(400, "invalid", _("Cancel or restore: nothing else."), "status")
    programme, _clashes = _load(database(request), conference)
    entry = programme.session(slug)
    if entry is None:
        raise NotFound(_("There is no session at this address."))
    if status == SessionStatus.cancelled.value and fields.get("confirm_cancel") != "1":
        # Cancelling tells every calendar and mails those who starred it: asked once, on a
        # page of its own, so it works without JavaScript.
        return admin_page(
            request,
            "admin/programme/confirm_cancel.html",
            {
                "conference": conference,
                "entry": entry,
                "action": f"{session_form_path(conference.slug, slug)}/status",
                "back": session_form_path(conference.slug, slug),
                "version": fields.get("version", ""),
                "status_value": status,
                "writes_to": writes_to(conference),
                "csrf_token": principal.csrf_token or "",
            },
        )
    try:
        saved = save_session(
            database(request),
            conference.slug,
            slug,
            {"status": status},
            expected_version=read_version(fields.get("version", "")),
            confirmed=fields.get("confirm_clashes") == "1",
            principal=principal,
        )
    except EditRefused as refusal:
        errors = {"form": "; ".join(refusal.fields.values())}
        return _session_form_page(
            request,
            conference,
            principal,
            form_from_entry(entry, tuple(conference.other_languages())),
            session_slug=slug,
            errors=errors,
            status_code=422,
        )
    except NeedsConfirmation as ask:
        return _session_form_page(
            request,
            conference,
            principal,
            form_from_entry(entry, tuple(conference.other_languages())),
            session_slug=slug,
            to_confirm=ask.clashes,
            restoring=True,
        )
    except VersionConflict:
        form = form_from_entry(entry, tuple(conference.other_languages()))
        return _session_form_page(
            request,
            conference,
            principal,
            form,
            session_slug=slug,
            errors={"form": _(STATUS_CONFLICT)},
            status_code=409,
        )
    cancelled = status == SessionStatus.cancelled.value
    return _back_to_day(conference, saved, notice="cancelled" if cancelled else "restored")


async def session_status_submit(request: Request) -> Response:
    fields, _refused = await _read_form(request)
    return await run_in_threadpool(_change_status, request, fields)


DRAFT_ONLY = N_(
    "The programme is published: cancel the session instead, so that calendars which have it "
    "are told."
)


def _delete_draft_session(request: Request, fields: dict[str, str]) -> Response:
    """Delete a session from a programme not yet published, or a new session that is only in
    the working copy. Once it is public a session is only ever cancelled, so that every
    calendar that has it hears so."""
    conference, principal = organiser_conference(request)
    slug = request.path_params["session"]
    try:
        with database(request).transaction() as db:
            locked = conference_for_update(db, conference.slug)
            record, staged = find_working_session(db, locked, slug)
            staged_new = staged is not None and staged.session_id is None
            if locked.programme_published_at is not None and not staged_new:
                raise EditRefused({"form": _(DRAFT_ONLY)})
            title, day = record.title, to_local(record.start, locked.timezone).date()
            delete_session(
                db,
                locked,
                slug,
                expected_version=read_version(fields.get("version", "")),
                by=principal.email,
            )
            audit_programme_edit(db, principal, locked, "programme_session_deleted", slug)
    except (EditRefused, VersionConflict) as refusal:
        programme, _clashes = _load(database(request), conference)
        entry = programme.session(slug)
        if entry is None:
            raise NotFound(_("There is no session at this address.")) from None
        if isinstance(refusal, VersionConflict):
            problem, status_code = _(STATUS_CONFLICT), 409
        else:
            problem, status_code = "; ".join(refusal.fields.values()), 422
        return _session_form_page(
            request,
            conference,
            principal,
            form_from_entry(entry, tuple(conference.other_languages())),
            session_slug=slug,
            errors={"form": problem},
            status_code=status_code,
        )
    target = day_path(conference.slug, day, notice="deleted", title=title)
    return RedirectResponse(target, status_code=303)


async def session_delete_submit(request: Request) -> Response:
    fields, _refused = await _read_form(request)
    return await run_in_threadpool(_delete_draft_session, request, fields)


# ---- drag to move: the clashes a move would make, before it is made ---------------------------

MOVE_FIELDS = ("room", "start", "end")


def _check_move(request: Request, body: dict[str, Any]) -> Response:
    conference, _principal = organiser_conference(request)
    data = {name: body[name] for name in MOVE_FIELDS if name in body}
    try:
        version = read_version(body.get("version"))
        clashes = clashes_a_move_makes(
            database(request), conference.slug, request.path_params["session"], data, version
        )
    except EditRefused as refusal:
        return bad_request_json(
            BadRequestBody(422, "invalid", _("This move cannot be made."), fields=refusal.fields)
        )
    except VersionConflict as conflict:
        return JSONResponse(
            {"error": "conflict", "detail": str(conflict), "version": conflict.current_version},
            status_code=409,
        )
    return JSONResponse({"new_clashes": [clash.as_json() for clash in clashes]})


async def check_move(request: Request) -> Response:
    """JSON for the editor's script: which new clashes a move would make (nothing is saved).
    The script asks before it moves, so a published programme never shows a move and its
    undoing to the public."""
    await run_in_threadpool(organiser_conference, request)  # before the body: refusals come first
    try:
        body = await read_json_object(request)
    except BadRequestBody as refused:
        return bad_request_json(refused)
    return await run_in_threadpool(_check_move, request, body)


routes = [
    Route("/admin/{conference}/programme", programme_home, methods=["GET"]),
    Route("/admin/{conference}/programme/day/{day}", day_page, methods=["GET"]),
    Route("/admin/{conference}/programme/sessions/new", new_session_form, methods=["GET"]),
    Route("/admin/{conference}/programme/sessions/new", create_session_submit, methods=["POST"]),
    Route(
        "/admin/{conference}/programme/sessions/{session}",
        edit_session_form,
        methods=["GET"],
        name="programme_editor_session",
    ),
    Route(
        "/admin/{conference}/programme/sessions/{session}", edit_session_submit, methods=["POST"]
    ),
    Route(
        "/admin/{conference}/programme/sessions/{session}/status",
        session_status_submit,
        methods=["POST"],
    ),
    Route(
        "/admin/{conference}/programme/sessions/{session}/delete",
        session_delete_submit,
        methods=["POST"],
    ),
    Route(
        "/admin/{conference}/programme/sessions/{session}/check-move",
        check_move,
        methods=["POST"],
    ),
]
