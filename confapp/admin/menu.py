"""The back office's pages for one conference, and who may open each: one list, so the
conference home, the role checks in tests and the pages themselves agree. Labels and hints are
kept in English (msgids) and translated where shown."""

from __future__ import annotations

from dataclasses import dataclass

from confapp.models import ConferenceRoleName
from confapp.translation import N_

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
    MenuItem(
        N_("Registrations"), "registrations", ORGANISERS, N_("search, payment, cancel, resend")
    ),
    MenuItem(N_("Register someone at the desk"), "desk", ORGANISERS, N_("cash on the day")),
    MenuItem(
        N_("Ticket types and registration"), "settings", ORGANISERS, N_("open, close, capacity")
    ),
    MenuItem(
        N_("Payments"), "settings/payments", ORGANISERS, N_("card, transfer, receipts, refunds")
    ),
    MenuItem(N_("Vouchers"), "vouchers", ORGANISERS, N_("speakers, press, blocks of places")),
    MenuItem(N_("Bank statements"), "payments/statements", ORGANISERS, N_("match transfers")),
    MenuItem(N_("Access needs report"), "reports/access", ACCESS_TEAM),
    MenuItem(N_("Childcare report"), "reports/childcare", ACCESS_TEAM),
    MenuItem(N_("Mail attendees"), "notices", ORGANISERS, N_("to those who agreed")),
    MenuItem(
        N_("People and invitations"),
        "people",
        ORGANISERS,
        N_("organisers, coordinators, stewards"),
    ),
    MenuItem(N_("Programme editor"), "programme", ORGANISERS, N_("sessions by day and room")),
    MenuItem(N_("Programme problems"), "programme/problems", ORGANISERS, N_("clashes to sort out")),
    MenuItem(
        N_("Speakers, rooms, tracks, days"),
        "programme/speakers",
        ORGANISERS,
        N_("and publishing"),
    ),
    MenuItem(N_("Door dashboard"), "door", ORGANISERS, N_("admitted, conflicts, undo")),
    MenuItem(N_("Session doors"), "door/sessions", (ORGANISER, STEWARD), N_("full, headcount")),
    MenuItem(
        N_("Door devices"), "door/devices", (ORGANISER, STEWARD), N_("phones signed in, revoke")
    ),
    MenuItem(N_("Audit log"), "audit", ORGANISERS),
    MenuItem(N_("Export registrations (CSV)"), "registrations.csv", ORGANISERS),
)


def menu_for(roles: frozenset[str]) -> list[MenuItem]:
    return [item for item in MENU if roles & set(item.roles)]
