"""Laying out one day of the programme as a grid: rooms as columns, time as rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from confapp.models import Room
from confapp.programme.queries import SessionEntry

SLOT_MINUTES = 5
LABEL_EVERY_MINUTES = 30


@dataclass(frozen=True)
class GridColumn:
    room: Room | None  # None: sessions not yet given a room

    @property
    def name(self) -> str:
        return self.room.name if self.room else "Room to be announced"


@dataclass(frozen=True)
class GridCell:
    entry: SessionEntry
    column: int  # CSS grid column line; 1 is the time column
    row_start: int  # CSS grid row lines; 1 is the header row
    row_end: int


@dataclass(frozen=True)
class TimeLabel:
    row: int
    text: str
    iso: str


@dataclass(frozen=True)
class DayGrid:
    columns: list[GridColumn]
    cells: list[GridCell]
    labels: list[TimeLabel]
    row_count: int


def _floor(value: datetime, minutes: int) -> datetime:
    return value - timedelta(
        minutes=value.minute % minutes, seconds=value.second, microseconds=value.microsecond
    )


def build_day_grid(entries: list[SessionEntry], rooms: list[Room]) -> DayGrid:
    """A grid for the given sessions (already narrowed to one day and any filters)."""
    if not entries:
        return DayGrid(columns=[], cells=[], labels=[], row_count=0)
    used_room_ids = {e.room.id for e in entries if e.room is not None}
    columns = [GridColumn(room) for room in rooms if room.id in used_room_ids]
    if any(e.room is None for e in entries):
        columns.append(GridColumn(None))
    column_of = {col.room.id if col.room else None: n + 2 for n, col in enumerate(columns)}

    first = _floor(min(e.local_start for e in entries), LABEL_EVERY_MINUTES)
    last = max(e.local_end for e in entries)

    def row(value: datetime, round_up: bool = False) -> int:
        # Measured in real elapsed time, so a day with a daylight-saving change lays out right.
        # (Aware datetimes sharing a tzinfo subtract as wall-clock times, hence UTC.)
        minutes = (value.astimezone(UTC) - first.astimezone(UTC)).total_seconds() / 60
        slots = -(-minutes // SLOT_MINUTES) if round_up else minutes // SLOT_MINUTES
        return int(slots) + 2

    row_count = max(row(last, round_up=True) - 2, 1)
    cells = [
        GridCell(
            entry=e,
            column=column_of[e.room.id if e.room else None],
            row_start=row(e.local_start),
            row_end=max(row(e.local_end, round_up=True), row(e.local_start) + 1),
        )
        for e in entries
    ]
    labels = []
    tick = first.astimezone(UTC)
    while tick < last.astimezone(UTC):
        local = tick.astimezone(first.tzinfo)
        labels.append(
            TimeLabel(row=row(local), text=local.strftime("%H:%M"), iso=local.isoformat())
        )
        tick += timedelta(minutes=LABEL_EVERY_MINUTES)
    return DayGrid(columns=columns, cells=cells, labels=labels, row_count=row_count)
