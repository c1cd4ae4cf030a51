"""A synthetic conference of any size, for tests and the benchmark.

It produces the same data a conference file holds and goes through the same checks and loader,
so a big synthetic programme exercises exactly the code a real one does.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

from confapp.db import Database
from confapp.programme.conference_file import (
    LoadReport,
    check_conference_data,
    load_conference_spec,
)

KINDS = ["talk", "talk", "talk", "panel", "debate", "workshop"]
TOPICS = [
    "the general strike",
    "rank-and-file unionism",
    "the Paris Commune",
    "climate and capital",
    "tenants' unions",
    "the united front",
    "imperialism today",
    "the Russian Revolution",
    "women's liberation",
    "anti-racism",
    "student movements",
    "the state",
    "Palestine",
    "automation and work",
    "the 1970s upturn",
    "fascism and how to stop it",
]


def synthetic_conference_data(
    *,
    slug: str = "synthetic",
    sessions: int = 3000,
    rooms: int = 12,
    days: int = 3,
    tracks: int = 8,
    speakers: int | None = None,
    start_date: date = date(2027, 7, 9),
    timezone: str = "Australia/Sydney",
    seed: int = 1,
) -> dict[str, Any]:
    """A conference as a conference file would hold it (see docs/conference-file.md)."""
    rng = random.Random(seed)
    speakers = speakers or max(30, sessions // 2)
    room_list = [
        {
            "key": f"room-{n + 1}",
            "name": f"Room {n + 1}",
            "capacity": rng.choice([40, 80, 150, 400]),
        }
        for n in range(rooms)
    ]
    track_list = [
        {
            "key": f"track-{n + 1}",
            "name": f"Track {n + 1}",
            "colour": f"#{rng.randrange(0x202020, 0x707070):06x}",
        }
        for n in range(tracks)
    ]
    speaker_list = [
        {"key": f"speaker-{n + 1}", "name": f"Speaker {n + 1}", "bio": "A synthetic speaker."}
        for n in range(speakers)
    ]
    # Fill room/day/slot positions in order from 08:00, no overlaps by design, every session
    # inside its day (slots shrink to fit, from an hour down to ten minutes).
    slots_per_day = max(1, -(-sessions // (rooms * days)))
    length = min(60, (14 * 60 // slots_per_day) // 5 * 5)
    if length < 10:
        raise ValueError(f"{sessions} sessions do not fit in {rooms} rooms over {days} days")
    session_list = []
    speaker_busy: dict[tuple[int, int], set[str]] = {}
    for n in range(sessions):
        day, rest = divmod(n, rooms * slots_per_day)
        slot, room = divmod(rest, rooms)
        start = datetime.combine(start_date + timedelta(days=day), time(8, 0)) + timedelta(
            minutes=slot * length
        )
        busy = speaker_busy.setdefault((day, slot), set())
        people = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            key = f"speaker-{rng.randrange(speakers) + 1}"
            if key not in busy:
                busy.add(key)
                people.append(key)
        session_list.append(
            {
                "key": f"session-{n + 1}",
                "title": f"Session {n + 1}: {rng.choice(TOPICS)}",
                "kind": rng.choice(KINDS),
                "start": start,
                "end": start + timedelta(minutes=length),
                "room": room_list[room]["key"],
                "track": track_list[rng.randrange(tracks)]["key"],
                "abstract": "A synthetic session for testing and benchmarks.",
                "speakers": people,
            }
        )
    return {
        "conference": {
            "slug": slug,
            "name": f"Synthetic conference ({sessions} sessions)",
            "timezone": timezone,
            "start_date": start_date,
            "end_date": start_date + timedelta(days=days - 1),
            "venue": "Synthetic Hall",
        },
        "rooms": room_list,
        "tracks": track_list,
        "speakers": speaker_list,
        "sessions": session_list,
    }


def load_synthetic_conference(db: Database, **options: Any) -> LoadReport:
    spec = check_conference_data(synthetic_conference_data(**options), source="<synthetic>")
    with db.transaction() as session:
        return load_conference_spec(session, spec)
