"""The programme's records as the JSON API sends and takes them, as models built on
confapp.programme.records: the OpenAPI document's components are generated from these
(`confapp.openapi`), so the contract states the same limits the editor and the file enforce.

The documents themselves are built as plain dicts (`as_json.py`, `admin/programme/api.py`):
they are built for every session of a programme at once, and a test holds their keys to these
models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from confapp.programme import records

VERSION_DESCRIPTION = (
    "Goes up with every saved change. Send it back as `If-Match` (or `version` in the body) "
    "and a change made by someone else since is refused with 409."
)
Version = Annotated[int, Field(ge=1, description=VERSION_DESCRIPTION)]
DateTime = Annotated[datetime, Field(json_schema_extra={"format": "date-time"})]


# A record as the API sends it: every field is always there; fields may be added later
# without breaking clients, so others are not forbidden. (Set on each document class: a
# base's config does not win over the records' `extra="forbid"`.)
SENT = ConfigDict(extra="ignore", json_schema_serialization_defaults_required=True)


class Document(records.Record):
    model_config = SENT


# ---- the public programme -------------------------------------------------------------------


class Room(Document, records.RoomPublicFields):
    model_config = SENT

    id: int
    slug: str


class Track(Document, records.TrackFields):
    model_config = SENT

    id: int
    slug: str


class Speaker(Document, records.SpeakerPublicFields):
    model_config = SENT

    id: int
    uuid: str = Field(json_schema_extra={"format": "uuid"})
    slug: str
    url: str = Field(description="The absolute path of the speaker's page.")


class SessionPerson(Document):
    model_config = SENT

    speaker: str = Field(description="The slug of an entry in `speakers`.")
    name: str
    role: Literal["speaker", "chair"]


class Reading(Document):
    model_config = SENT

    title: str
    url: str


class Session(Document, records.SessionFields):
    model_config = SENT

    id: int
    uuid: str = Field(json_schema_extra={"format": "uuid"}, description="Never changes.")
    slug: str
    start: DateTime = Field(
        description="In the conference's time zone, with its UTC offset.",
        examples=["2027-07-10T09:30:00+10:00"],
    )
    end: DateTime
    duration_minutes: int
    room: str | None = Field(description="The slug of an entry in `rooms`.")
    track: str | None = Field(description="The slug of an entry in `tracks`.")
    people: list[SessionPerson] = Field(description="In billing order.")
    reading_list: list[Reading]
    recording_url: str | None
    url: str = Field(description="The absolute path of the session's page.")
    sequence: int = Field(
        description="Goes up whenever start, end, room or status changes (the iCal SEQUENCE)."
    )
    updated_at: DateTime


# ---- what organisers see --------------------------------------------------------------------

TRANSLATIONS = (
    "Its texts in the conference's other languages, {language: {field: text}}, like "
    '{"es": {"title": "..."}}; the plain fields hold the default language\'s. Readers of a '
    "language get its text where there is one, else the default's. Sent, it replaces "
    "the texts given (others stay); an empty one takes its text away."
)
Translations = Annotated[
    dict[str, dict[str, str]], Field(description=TRANSLATIONS, examples=[{"es": {"name": "..."}}])
]


class OrganiserRoom(Room):
    """A room as organisers see it; `position` orders the columns."""

    model_config = SENT
    step_free: bool | None = Field(
        description="Whether the room has step-free access; null: nobody has said."
    )
    position: int
    translations: Translations
    version: Version


class OrganiserTrack(Track):
    """A track as organisers see it."""

    model_config = SENT
    position: int
    translations: Translations
    version: Version


class OrganiserSpeaker(Speaker):
    """A speaker as organisers see it, billed or not."""

    model_config = SENT
    needs_step_free: bool = Field(False, description=records.NEEDS_STEP_FREE)
    version: Version


class OrganiserSession(Session):
    """A session as organisers see it, drafts included."""

    model_config = SENT
    translations: Translations
    version: Version
    made_on_web: bool = Field(
        description="Made in the editor or this API, not by a conference file."
    )


# ---- what organisers send -------------------------------------------------------------------


class PersonInput(records.Record):
    speaker: records.Slug = Field(description="A speaker's slug.")
    role: Literal["speaker", "chair"] = "speaker"


People = list[
    Annotated[PersonInput, Field(title="Person")]
    | Annotated[records.Slug, Field(description="A speaker's slug, billed as a speaker.")]
]


class NewSession(records.SessionFields):
    # None when left out, but null is not a slug the API takes: not `| None`, so the schema
    # does not offer null.
    slug: records.SessionSlug = Field(  # type: ignore[assignment]
        None, description="Its address; made from the title if left out."
    )
    start: AwareDatetime = Field(
        description="ISO 8601 with a UTC offset (Z or +10:00); a time without one is refused.",
        examples=["2027-07-10T09:30:00+10:00"],
    )
    end: AwareDatetime = Field(description="After the start, and at most 24 hours after it.")
    room: records.Slug | None = Field(None, description="A room's slug; null takes it out.")
    track: records.Slug | None = Field(None, description="A track's slug, or null.")
    people: People = Field(
        [], description="Who is billed, in billing order; replaces the list as a whole."
    )
    translations: Translations = Field(default_factory=dict)


class _Change(records.Record):
    # None when left out, but not null when sent (see NewSession.slug).
    slug: str = Field(None, description="Only when creating; made from the name if left out.")  # type: ignore[assignment]
    version: Version = None  # type: ignore[assignment]


class SpeakerInput(_Change, records.SpeakerFields):
    """`name` is required to create one; a change takes any of the fields."""


class RoomInput(_Change, records.RoomFields, records.WithPosition):
    """`name` is required to create one; a change takes any of the fields. Its access notes
    may be given per language (`translations`)."""

    translations: Translations = Field(default_factory=dict)


class TrackInput(_Change, records.TrackFields, records.WithPosition):
    """`name` is required to create one; a change takes any of the fields. Its name and
    description may be given per language (`translations`)."""

    translations: Translations = Field(default_factory=dict)
