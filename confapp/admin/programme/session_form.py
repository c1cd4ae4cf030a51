"""The programme editor's session form: its fields, turned into the editing service's input
(a local day and clock times become ISO 8601 instants with the conference's UTC offset) and
back, and what to show when someone else saved the session first.

Plain functions over strings and records, tested without HTTP. The form keeps, in hidden
`was_*` fields, what the organiser saw when they opened it: after a version conflict that tells
what the other person changed from what this one changed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

from confapp.dates import day_name
from confapp.models import PersonRole, ProgrammeSession, SessionKind
from confapp.programme.queries import SessionEntry
from confapp.programme.records import (
    FieldReason,
    FormFields,
    field_and_reason,
    translated_field_label,
    translation_keys,
    translation_values,
    translations_in_form,
)
from confapp.times import wall_clock_instant
from confapp.translation import N_, _

# The fields a person types or picks; `people` comes from the person_N / role_N rows.
SESSION_FIELDS = (
    "title",
    "kind",
    "day",
    "start",
    "end",
    "end_next_day",
    "room",
    "track",
    "abstract",
    "language",
)
# Compared with what the organiser saw (was_*) after a version conflict.
COMPARED_FIELDS = (
    "title",
    "kind",
    "day",
    "start",
    "end",
    "end_next_day",
    "room",
    "track",
    "people",
    "language",
    "abstract",
)
# What the form calls each field (translated where shown: `_(FIELD_LABELS[name])`).
FIELD_LABELS = {
    "title": N_("Title"),
    "kind": N_("Kind"),
    "day": N_("Day"),
    "start": N_("Start"),
    "end": N_("End"),
    "end_next_day": N_("Ends after midnight"),
    "room": N_("Room"),
    "track": N_("Track"),
    "people": N_("Speakers and chairs"),
    "language": N_("Language"),
    "abstract": N_("Abstract"),
}
MAX_PEOPLE = 40
SPARE_PEOPLE_ROWS = 2
MIN_PEOPLE_ROWS = 3
PERSON_FIELDS = tuple(
    name for n in range(1, MAX_PEOPLE + 1) for name in (f"person_{n}", f"role_{n}")
)
WAS_FIELDS = tuple(f"was_{name}" for name in COMPARED_FIELDS)
FORM_FIELDS = (*SESSION_FIELDS, *PERSON_FIELDS, *WAS_FIELDS, "version", "confirm_clashes")
# The title and abstract in the conference's other languages ("translations.es.title"), and
# what the form showed of them ("was_translations.es.title").
TRANSLATED = ProgrammeSession.TRANSLATED


def posted_fields(*more: str) -> FormFields:
    """Every name the session form may post."""
    return FormFields((*FORM_FIELDS, *more), TRANSLATED, prefixes=("", "was_"))


KINDS = [kind.value for kind in SessionKind]
ROLES = [role.value for role in PersonRole]
# The kinds and roles in words, for the form's choices (the values sent stay the codes).
KIND_NAMES = {
    "talk": N_("talk"),
    "panel": N_("panel"),
    "debate": N_("debate"),
    "workshop": N_("workshop"),
    "plenary": N_("plenary"),
    "social": N_("social"),
}
ROLE_NAMES = {"speaker": N_("speaker"), "chair": N_("chair")}


def kind_name(kind: str) -> str:
    """A session kind in words ("talk"; the form's choices capitalise it); an unknown one as
    it is."""
    return _(KIND_NAMES[kind]) if kind in KIND_NAMES else kind


def role_name(role: str) -> str:
    """A person's role as the form offers it ("speaker", "chair")."""
    return _(ROLE_NAMES[role]) if role in ROLE_NAMES else role


# ASCII digits only: "²".isdigit() is true and int("٣") is 3, neither belongs in a time.
_CLOCK = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$")


@dataclass
class SessionForm:
    """What the form holds, as typed: strings, and the people rows as (speaker slug, role)."""

    values: dict[str, str]
    people: list[tuple[str, str]]
    version: str = ""
    was: dict[str, str] = field(default_factory=dict)
    languages: tuple[str, ...] = ()  # the conference's other languages: a field each

    def compared_names(self) -> tuple[str, ...]:
        return (*COMPARED_FIELDS, *translation_keys(TRANSLATED, self.languages))

    def compared(self) -> dict[str, str]:
        """The values compared after a conflict, people and abstracts in their short forms."""
        values = {name: self.values.get(name, "") for name in self.compared_names()}
        values["people"] = people_text(self.people)
        for name in values:
            if name == "abstract" or name.endswith(".abstract"):
                values[name] = abstract_digest(self.values.get(name, ""))
        return values

    def people_rows(self) -> list[tuple[str, str]]:
        """The people, then empty rows to add more (a page without JavaScript has no "add")."""
        rows = list(self.people)
        spare = max(SPARE_PEOPLE_ROWS, MIN_PEOPLE_ROWS - len(rows))
        rows += [("", PersonRole.speaker.value)] * min(spare, MAX_PEOPLE - len(rows))
        return rows


def people_text(people: list[tuple[str, str]]) -> str:
    return ",".join(f"{role}:{slug}" for slug, role in people)


def people_from_text(text: str) -> list[tuple[str, str]]:
    """The (speaker slug, role) pairs of a people_text, e.g. from a was_people field."""
    pairs = []
    for item in text.split(","):
        role, _, slug = item.partition(":")
        if slug:
            pairs.append((slug, role))
    return pairs


def tidy_text(text: str) -> str:
    """Browsers send a textarea's line breaks as CRLF: stored as LF, so re-saving an
    unchanged abstract is no change."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def abstract_digest(text: str) -> str:
    # Only a digest goes into the hidden field: the abstract itself may be 20,000 characters.
    return hashlib.sha256(tidy_text(text).encode()).hexdigest()[:16]


def empty_form(day: date | None, languages: tuple[str, ...] = ()) -> SessionForm:
    values = {name: "" for name in (*SESSION_FIELDS, *translation_keys(TRANSLATED, languages))}
    values.update(kind=SessionKind.talk.value, language="en", day=day.isoformat() if day else "")
    return SessionForm(values, [], languages=languages)


def form_from_entry(entry: SessionEntry, languages: tuple[str, ...] = ()) -> SessionForm:
    """The edit form of a session as it stands, remembering what it showed (was_*)."""
    start, end = entry.local_start, entry.local_end
    values = {
        "title": entry.title,
        "kind": entry.record.kind,
        "day": start.date().isoformat(),
        "start": f"{start:%H:%M}",
        "end": f"{end:%H:%M}",
        "end_next_day": "1" if end.date() > start.date() else "",
        "room": entry.room.slug if entry.room else "",
        "track": entry.track.slug if entry.track else "",
        "abstract": entry.record.abstract,
        "language": entry.record.language,
        **translation_values(entry.record, languages),
    }
    form = SessionForm(
        values,
        [(p.speaker.slug, p.role) for p in entry.people],
        str(entry.record.version),
        languages=languages,
    )
    form.was = form.compared()
    return form


def form_from_fields(fields: Mapping[str, str], languages: tuple[str, ...] = ()) -> SessionForm:
    """The form as posted (or as far as it could be read), everything typed kept."""
    names = (*SESSION_FIELDS, *translation_keys(TRANSLATED, languages))
    values = {name: fields.get(name, "") for name in names}
    people = []
    for n in range(1, MAX_PEOPLE + 1):
        slug = fields.get(f"person_{n}", "").strip()
        if slug:
            people.append((slug, fields.get(f"role_{n}", "") or PersonRole.speaker.value))
    form = SessionForm(values, people, fields.get("version", "").strip(), languages=languages)
    form.was = {
        name: fields[f"was_{name}"] for name in form.compared_names() if f"was_{name}" in fields
    }
    return form


def _clock(text: str) -> time | None:
    match = _CLOCK.match(text.strip())
    if match is None:
        return None
    return time(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def session_input(
    form: SessionForm, tz_name: str, days: list[date]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The editing service's input (the API's shape) from the form, and the fields the form
    itself refuses (a day that is not the conference's, a time that is not a time, or one the
    clocks skip). The service checks the rest (end after start, a title, known slugs)."""
    values = form.values
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        "title": tidy_text(values.get("title", "")),
        "kind": values.get("kind", ""),
        "room": values.get("room") or None,
        "track": values.get("track") or None,
        "abstract": tidy_text(values.get("abstract", "")),
        "language": values.get("language", "").strip(),
        "people": [{"speaker": slug, "role": role} for slug, role in form.people],
    }
    if form.languages:
        typed = {name: tidy_text(value) for name, value in values.items()}
        data["translations"] = translations_in_form(typed, TRANSLATED, form.languages)
    day = next((d for d in days if d.isoformat() == values.get("day", "").strip()), None)
    if day is None:
        errors["day"] = _("Choose one of the conference's days.")
    clocks: dict[str, time] = {}
    for name in ("start", "end"):
        clock = _clock(values.get(name, ""))
        if clock is None:
            errors[name] = (
                _("Enter the start time as hours and minutes, like 09:30.")
                if name == "start"
                else _("Enter the end time as hours and minutes, like 09:30.")
            )
        else:
            clocks[name] = clock
    if day is None:
        return data, errors
    for name, on_day in (
        ("start", day),
        ("end", day + timedelta(days=1) if values.get("end_next_day") else day),
    ):
        if name not in clocks:
            continue
        moment = wall_clock_instant(on_day, clocks[name], tz_name)
        if moment is None:
            errors[name] = _(
                "%(time)s does not happen on %(day)s in %(zone)s: the clocks skip that hour "
                "when daylight saving starts. Choose another time."
            ) % {
                "time": f"{clocks[name]:%H:%M}",
                "day": day_name(on_day, year=True, in_sentence=True),
                "zone": tz_name,
            }
        else:
            data[name] = moment.isoformat()
    return data, errors


# The service's field names that the form shows under other names.
SERVICE_TO_FORM_FIELD = {"people": "person_1", "status": "form", "slug": "title"}


def field_label(name: str) -> str:
    """What the form calls a field, a per-language one included ("Title in Spanish")."""
    if name.startswith("translations."):
        return translated_field_label(name, FIELD_LABELS)
    return _(FIELD_LABELS[name]) if name in FIELD_LABELS else name.capitalize()


def form_errors(
    service_errors: Mapping[str, str], languages: tuple[str, ...] = ()
) -> dict[str, str]:
    """The editing service's reasons, keyed by the form field they belong beside."""
    errors: dict[str, str] = {}
    shown = {*SESSION_FIELDS, *translation_keys(TRANSLATED, languages), "person_1", "form"}
    for name, reason in service_errors.items():
        target = SERVICE_TO_FORM_FIELD.get(name, name)
        if target not in shown:
            target = "form"
        # Reasons worded about the field ("must not be empty") read as a sentence after its name.
        if isinstance(reason, FieldReason):
            people = name == "people"
            label = _("The list of speakers and chairs") if people else field_label(name)
            message = field_and_reason(label, reason)
        else:
            message = reason[:1].upper() + reason[1:]
        if not message.endswith("."):
            message += "."
        errors.setdefault(target, message)
    return errors


@dataclass(frozen=True)
class TheirChange:
    """A field someone else changed while this organiser had the form open."""

    name: str
    label: str
    was: str  # as this organiser saw it
    now: str  # as it is now
    also_mine: bool  # this organiser changed it too (and their value is in the form)


def merge_after_conflict(
    mine: SessionForm, current: SessionForm
) -> tuple[SessionForm, list[TheirChange]]:
    """After a version conflict: the form again, on the current version, holding the current
    values except where this organiser had changed something (their input is kept), and the
    list of what the other person changed. Saving it then changes only what this one meant to,
    never quietly undoes the other's change."""
    mine_now = mine.compared()
    theirs = current.compared()
    merged_values = dict(mine.values)
    merged_people = list(mine.people)
    changes = []
    for name in mine.compared_names():
        seen = mine.was.get(name)
        i_changed = seen is not None and mine_now[name] != seen
        they_changed = theirs[name] != seen if seen is not None else theirs[name] != mine_now[name]
        if not i_changed:
            if name == "people":
                merged_people = list(current.people)
            else:
                merged_values[name] = current.values[name]
        if they_changed:
            changes.append(
                TheirChange(name, field_label(name), seen or "", theirs[name], i_changed)
            )
    merged = SessionForm(
        merged_values, merged_people, current.version, current.compared(), mine.languages
    )
    return merged, changes
