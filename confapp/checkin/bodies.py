"""What a door device may send: a scan, a batch of offline admissions, a change to a session's
door. The limits live here once; the door's JSON API takes them from these models and the API's
contract is generated from them (confapp.openapi)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

MAX_DEVICE_LENGTH = 64
Method = Literal["scan", "code", "search"]
METHODS: tuple[str, ...] = get_args(Method)
MAX_SYNC_ADMISSIONS = 500
MAX_HEADCOUNT = 100_000  # more than any room holds; keeps a typo from storing nonsense
MAX_HEADCOUNT_CHANGE = 1_000

Device = Annotated[
    str,
    Field(
        max_length=MAX_DEVICE_LENGTH,
        description="The door device's own random id, kept with the check-in.",
    ),
]


class Checkin(BaseModel):
    scan: str = Field(
        min_length=1,
        description="The text read from the QR code (the ticket's URL, on any host), the bare "
        "admission token, or a ticket code as typed (any case, dashes and spaces optional).",
        examples=["ABCD-EFGH-IJKLM"],
    )
    device: Device = ""
    method: Method = Field(
        "scan",
        description="How the ticket was found: the camera (the default), a typed code, or a "
        "search by name.",
    )


class OfflineAdmission(BaseModel):
    scan: str
    admitted_at: datetime = Field(
        description="When the device let them in, with its UTC offset.",
        json_schema_extra={"format": "date-time"},
    )


class CheckinSync(BaseModel):
    """Admissions a door device made while offline, oldest first."""

    device: Annotated[Device, Field(min_length=1)]
    admissions: list[OfflineAdmission] = Field(max_length=MAX_SYNC_ADMISSIONS)


class SessionDoorChange(BaseModel):
    """At least one of full, headcount_change, headcount."""

    model_config = ConfigDict(extra="forbid")

    full: bool | None = Field(None, description="true: the room is full; false: not any more.")
    headcount_change: int | None = Field(
        None,
        ge=-MAX_HEADCOUNT_CHANGE,
        le=MAX_HEADCOUNT_CHANGE,
        description="Added to the headcount in one atomic step; it never goes below 0.",
    )
    headcount: int | None = Field(None, ge=0, le=MAX_HEADCOUNT)
