"""Problems in a programme that an organiser must see before attendees do: two sessions in one
room at once, a speaker or chair in two places at once, a session outside the conference's days
or daily hours, more people starred than the room holds, a session with no room or no speaker
(a social needs none), a speaker who needs step-free access billed in a room that is not
(known to be) step-free.

Plain functions over a loaded `Programme`: the editor shows the clashes of the session being
worked on, the problems page lists them all, and the JSON API returns them with a change.
Cancelled sessions clash with nothing. Each clash names both sides, so the page can link them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from confapp.dates import short_date, weekday_and_times
from confapp.models import SessionKind
from confapp.programme.queries import Programme, SessionEntry
from confapp.translation import _, ngettext


class ClashKind(StrEnum):
    room_double_booked = "room_double_booked"
    person_double_booked = "person_double_booked"
    outside_conference_days = "outside_conference_days"
    outside_conference_hours = "outside_conference_hours"
    not_step_free = "not_step_free"
    room_too_small = "room_too_small"
    no_room = "no_room"
    no_speaker = "no_speaker"


# Kinds that name a pair of sessions: found from each side, so each session's list has it.
PAIRED_KINDS = frozenset({ClashKind.room_double_booked, ClashKind.person_double_booked})
# Kinds of session that have nobody billed (a social): "no speaker" is no problem for them.
KINDS_WITHOUT_SPEAKERS = frozenset({SessionKind.social.value})


@dataclass(frozen=True)
class Clash:
    kind: ClashKind
    session: str  # the session's slug
    other_session: str | None  # the slug of the session it clashes with, if any
    message: str  # what clashes with what, in words an organiser can act on (in the language
    # of the request that found it)

    def as_json(self) -> dict[str, str | None]:
        return {
            "kind": self.kind.value,
            "session": self.session,
            "other_session": self.other_session,
            "message": self.message,
        }


def _overlap(a: SessionEntry, b: SessionEntry) -> bool:
    return a.record.start < b.record.end and b.record.start < a.record.end


def _when(entry: SessionEntry) -> str:
    return weekday_and_times(entry.record.start, entry.record.end, entry.tz)


def _overlapping_pairs(entries: list[SessionEntry]) -> Iterable[tuple[SessionEntry, SessionEntry]]:
    """Pairs that overlap in time, by a sweep over start times (not every pair of sessions)."""
    ordered = sorted(entries, key=lambda e: (e.record.start, e.record.end, e.slug))
    for index, first in enumerate(ordered):
        for second in ordered[index + 1 :]:
            if second.record.start >= first.record.end:
                break
            yield first, second


def programme_clashes(programme: Programme, stars: Mapping[int, int] | None = None) -> list[Clash]:
    """Every clash in the programme; `stars` maps session ids to how many agendas starred them."""
    live = [entry for entry in programme.sessions if not entry.cancelled]
    clashes: list[Clash] = []

    by_room: dict[int, list[SessionEntry]] = defaultdict(list)
    for entry in live:
        if entry.room is not None and entry.room.id is not None:
            by_room[entry.room.id].append(entry)
    for entries in by_room.values():
        for first, second in _overlapping_pairs(entries):
            clashes += _both_ways(
                ClashKind.room_double_booked,
                first,
                second,
                lambda a, b: (
                    _("%(room)s is also booked for “%(title)s” (%(when)s).")
                    % {"room": a.room.name if a.room else "", "title": b.title, "when": _when(b)}
                ),
            )

    by_person: dict[int, list[SessionEntry]] = defaultdict(list)
    names: dict[int, str] = {}
    for entry in live:
        for person in {p.speaker.id: p for p in entry.people}.values():
            if person.speaker.id is not None:
                by_person[person.speaker.id].append(entry)
                names[person.speaker.id] = person.speaker.name
    for speaker_id, entries in by_person.items():
        name = names[speaker_id]

        def also_in(a: SessionEntry, b: SessionEntry, name: str = name) -> str:
            return _("%(name)s is also in “%(title)s” (%(when)s).") % {
                "name": name,
                "title": b.title,
                "when": _when(b),
            }

        for first, second in _overlapping_pairs(entries):
            clashes += _both_ways(ClashKind.person_double_booked, first, second, also_in)

    conference = programme.conference
    for entry in live:
        start_day, end_day = entry.local_start.date(), entry.local_end.date()
        if start_day < conference.start_date or end_day > conference.end_date:
            clashes.append(
                Clash(
                    ClashKind.outside_conference_days,
                    entry.slug,
                    None,
                    _("It is on %(day)s, outside the conference's days (%(first)s to %(last)s).")
                    % {
                        "day": short_date(entry.local_start, weekday=True, year=True),
                        "first": short_date(conference.start_date),
                        "last": short_date(conference.end_date, year=True),
                    },
                )
            )
        elif conference.day_starts is not None and conference.day_ends is not None:
            starts, ends = entry.local_start.time(), entry.local_end.time()
            if starts < conference.day_starts or ends > conference.day_ends or ends < starts:
                clashes.append(
                    Clash(
                        ClashKind.outside_conference_hours,
                        entry.slug,
                        None,
                        _("It runs %(when)s, outside the programme's hours (%(hours)s).")
                        % {
                            "when": _when(entry),
                            "hours": f"{conference.day_starts:%H:%M}–{conference.day_ends:%H:%M}",
                        },
                    )
                )
        if entry.room is not None and entry.room.step_free is not True:
            for person in entry.people:
                if person.speaker.needs_step_free:
                    needs = (
                        _("%(name)s needs step-free access; %(room)s is not step-free.")
                        if entry.room.step_free is False
                        else _(
                            "%(name)s needs step-free access; %(room)s is not known to be "
                            "step-free."
                        )
                    )
                    clashes.append(
                        Clash(
                            ClashKind.not_step_free,
                            entry.slug,
                            None,
                            needs % {"name": person.speaker.name, "room": entry.room.name},
                        )
                    )
        if entry.room is None:
            clashes.append(Clash(ClashKind.no_room, entry.slug, None, _("It has no room yet.")))
        elif entry.room.capacity and stars:
            starred = stars.get(entry.record.id or 0, 0)
            if starred > entry.room.capacity:
                clashes.append(
                    Clash(
                        ClashKind.room_too_small,
                        entry.slug,
                        None,
                        ngettext(
                            "%(count)d person starred it; %(room)s holds %(capacity)d.",
                            "%(count)d people starred it; %(room)s holds %(capacity)d.",
                            starred,
                        )
                        % {
                            "count": starred,
                            "room": entry.room.name,
                            "capacity": entry.room.capacity,
                        },
                    )
                )
        if not entry.speakers and entry.record.kind not in KINDS_WITHOUT_SPEAKERS:
            clashes.append(
                Clash(ClashKind.no_speaker, entry.slug, None, _("It has no speaker yet."))
            )
    return sorted(clashes, key=lambda c: (c.session, c.kind.value, c.other_session or ""))


Describe = Callable[[SessionEntry, SessionEntry], str]


def _both_ways(kind: ClashKind, a: SessionEntry, b: SessionEntry, say: Describe) -> list[Clash]:
    return [Clash(kind, a.slug, b.slug, say(a, b)), Clash(kind, b.slug, a.slug, say(b, a))]


def each_clash_once(clashes: list[Clash]) -> list[Clash]:
    """The clashes with a pair of sessions listed once, not once from each side: the side
    whose slug sorts first keeps it (two people double-booked in the same pair stay two)."""
    return [
        clash
        for clash in clashes
        if not (
            clash.kind in PAIRED_KINDS
            and clash.other_session is not None
            and clash.other_session < clash.session
        )
    ]


def clashes_of(clashes: list[Clash], session_slug: str) -> list[Clash]:
    """The clashes one session takes part in, for the editor and the JSON answer of a change."""
    return [clash for clash in clashes if clash.session == session_slug]


def clashes_in_place_of(
    programme: Programme, changed: SessionEntry, stars: Mapping[int, int] | None = None
) -> list[Clash]:
    """The clashes `changed` would take part in, were it in the programme in place of the
    session with its slug: a change's clashes in its new place, worked out without saving."""
    others = [entry for entry in programme.sessions if entry.slug != changed.slug]
    changed_programme = replace(programme, sessions=[*others, changed])
    return clashes_of(programme_clashes(changed_programme, stars), changed.slug)
