"""The back office's pages for one conference, and who may open each: one list, so the
conference home, the role checks in tests and the pages themselves agree."""

from __future__ import annotations

from dataclasses import dataclass

from confapp.models import ConferenceRoleName
from confapp.translation import _

ORGANISER = ConferenceRoleName.organiser.value
ACCESS_COORDINATOR = ConferenceRoleName.access_coordinator.value
STEWARD = ConferenceRoleName.steward.value

ORGANISERS = (ORGANISER,)
ACCESS_TEAM = (ORGANISER, ACCESS_COORDINATOR)


@dataclass(frozen=True)
class MenuItem:
    label: str
    suffix: str  # after /admin/{conference}/
    roles: tuple[str, ...]
    hint: str = ""


MENU = (
    MenuItem("Registrations", "registrations", ORGANISERS, "search, payment, cancel, resend"),
    MenuItem("Register someone at the desk", "desk", ORGANISERS, "cash on the day"),
    MenuItem("Ticket types and registration", "settings", ORGANISERS, "open, close, capacity"),
    MenuItem("Access needs report", "reports/access", ACCESS_TEAM),
    MenuItem("Childcare report", "reports/childcare", ACCESS_TEAM),
    MenuItem("Mail attendees", "notices", ORGANISERS, "to those who agreed"),
    MenuItem("People and invitations", "people", ORGANISERS, "organisers, coordinators, stewards"),
    MenuItem("Programme editor", "programme", ORGANISERS, "sessions by day and room"),
    MenuItem("Programme problems", "programme/problems", ORGANISERS, "clashes to sort out"),
    MenuItem("Speakers, rooms, tracks, days", "programme/speakers", ORGANISERS, "and publishing"),
    MenuItem("Door dashboard", "door", ORGANISERS, "admitted, conflicts, undo"),
    MenuItem("Session doors", "door/sessions", (ORGANISER, STEWARD), "full, headcount"),
    MenuItem(
        _("Door devices"), "door/devices", (ORGANISER, STEWARD), _("phones signed in, revoke")
    ),
    MenuItem("Audit log", "audit", ORGANISERS),
    MenuItem("Export registrations (CSV)", "registrations.csv", ORGANISERS),
)


def menu_for(roles: frozenset[str]) -> list[MenuItem]:
    return [item for item in MENU if roles & set(item.roles)]
