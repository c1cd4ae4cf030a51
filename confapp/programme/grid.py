"""Laying out one day of the programme as a grid: rooms as columns, time as rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from confapp.models import Room
from confapp.programme.queries import SessionEntry
from confapp.translation import _

SLOT_MINUTES = 5
LABEL_EVERY_MINUTES = 30


@dataclass(frozen=True)
class GridColumn:
    room: Room | None  # None: sessions not yet given a room
    first_line: int = 2  # CSS grid column line where the room starts
    lanes: int = 1  # sessions that overlap in one room sit side by side, one lane each

    @property
    def name(self) -> str:
        return self.room.name if self.room else _("Room to be announced")


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

    @property
    def lane_count(self) -> int:
        return sum(column.lanes for column in self.columns)


def assign_lanes(entries: list[SessionEntry]) -> dict[str, int]:
    """A lane per session (by slug) so that sessions overlapping in time in one room never share
    one. Ties go by slug, so the public grid and the editor's day view agree."""
    lane_ends: list[datetime] = []
    lanes: dict[str, int] = {}
    for entry in sorted(entries, key=lambda e: (e.record.start, e.record.end, e.slug)):
        lane = next(
            (n for n, end in enumerate(lane_ends) if end <= entry.record.start), len(lane_ends)
        )
        if lane == len(lane_ends):
            lane_ends.append(entry.record.end)
        else:
            lane_ends[lane] = entry.record.end
        lanes[entry.slug] = lane
    return lanes


def _floor(value: datetime, minutes: int) -> datetime:
    return value - timedelta(
        minutes=value.minute % minutes, seconds=value.second, microseconds=value.microsecond
    )


def build_day_grid(entries: list[SessionEntry], rooms: list[Room]) -> DayGrid:
    """A grid for the given sessions (already narrowed to one day and any filters)."""
    if not entries:
        return DayGrid(columns=[], cells=[], labels=[], row_count=0)
    by_room: dict[int | None, list[SessionEntry]] = {}
    for entry in entries:
        by_room.setdefault(entry.room.id if entry.room else None, []).append(entry)
    ordered = [room.id for room in rooms if room.id in by_room]
    if None in by_room:
        ordered.append(None)
    rooms_by_id = {room.id: room for room in rooms}
    columns: list[GridColumn] = []
    lane_of: dict[str, int] = {}
    line = 2
    for room_id in ordered:
        lanes = assign_lanes(by_room[room_id])
        lane_of.update(lanes)
        count = max(lanes.values()) + 1
        columns.append(GridColumn(rooms_by_id.get(room_id) if room_id else None, line, count))
        line += count
    first_line_of = {
        column.room.id if column.room else None: column.first_line for column in columns
    }

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
            column=first_line_of[e.room.id if e.room else None] + lane_of[e.slug],
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
