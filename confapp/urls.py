"""The one place that builds confapp's URLs, for pages, JSON, feeds and mail alike."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote, urlencode

from starlette.requests import Request

from confapp.request_context import app_settings

# Conference slugs cannot take these: they are the app's own top-level paths.
RESERVED_SLUGS = frozenset(
    {
        "api",
        "static",
        "tickets",
        "my-ticket",
        "my-order",
        "payments",
        "agenda",
        "admin",
        "door",
        "healthz",
        "favicon.ico",
    }
)


def conference_path(conference_slug: str) -> str:
    return f"/{quote(conference_slug)}/"


def programme_path(
    conference_slug: str,
    day: date | None = None,
    track: str | None = None,
    view: str | None = None,
) -> str:
    query = {
        key: value
        for key, value in (
            ("day", day.isoformat() if day else None),
            ("track", track),
            ("view", view),
        )
        if value
    }
    suffix = f"?{urlencode(query)}" if query else ""
    return f"/{quote(conference_slug)}/programme{suffix}"


def session_path(conference_slug: str, session_slug: str) -> str:
    return f"/{quote(conference_slug)}/sessions/{quote(session_slug)}"


def speakers_path(conference_slug: str) -> str:
    return f"/{quote(conference_slug)}/speakers"


def speaker_path(conference_slug: str, speaker_slug: str) -> str:
    return f"/{quote(conference_slug)}/speakers/{quote(speaker_slug)}"


def absolute(base_url: str, path: str) -> str:
    return f"{base_url.rstrip('/')}{path}"


def ticket_path(token: str) -> str:
    """The admission page: what the QR code holds. No personal data, no actions."""
    return f"/tickets/{token}"


def ticket_qr_path(token: str, fmt: str = "svg") -> str:
    return f"/tickets/{token}/qr.{fmt}"


def ticket_send_link_path(token: str) -> str:
    return f"/tickets/{token}/send-link"


def legacy_agenda_feed_path(token: str) -> str:
    """Agenda feeds subscribed to before tickets had a separate management link."""
    return f"/tickets/{token}/agenda.ics"


def manage_path(secret: str) -> str:
    """The attendee's own ticket page: name, QR, agenda, cancel, erase."""
    return f"/my-ticket/{secret}"


def manage_cancel_path(secret: str) -> str:
    return f"/my-ticket/{secret}/cancel"


def manage_star_path(secret: str, session_slug: str) -> str:
    return f"/my-ticket/{secret}/star/{quote(session_slug)}"


def manage_copy_stars_path(secret: str) -> str:
    return f"/my-ticket/{secret}/copy-stars"


def manage_pay_path(secret: str) -> str:
    """Where the ticket page's "Pay by card" button sends its POST: on to Stripe's page."""
    return f"/my-ticket/{secret}/pay"


def order_path(secret: str) -> str:
    """The page of an order for several tickets, for whoever pays for it."""
    return f"/my-order/{secret}"


def order_pay_path(secret: str) -> str:
    return f"/my-order/{secret}/pay"


def order_receipt_path(secret: str, number: int) -> str:
    return f"/my-order/{secret}/receipts/{number}"


def group_register_path(conference_slug: str) -> str:
    """The form for registering several people at once, paid by one order."""
    return f"/{quote(conference_slug)}/register/group"


def receipt_path(secret: str, number: int) -> str:
    return f"/my-ticket/{secret}/receipts/{number}"


# Where Stripe sends its webhooks: the URL organisers give in Stripe's dashboard.
STRIPE_WEBHOOK_PATH = "/payments/stripe/webhook"


def stripe_return_path(payment_id: int) -> str:
    """Where Stripe's page sends the browser back after paying (its success_url)."""
    return f"/payments/stripe/return/{payment_id}"


def stripe_cancel_path(payment_id: int) -> str:
    """Where Stripe's page sends the browser back when the person goes back unpaid."""
    return f"/payments/stripe/back/{payment_id}"


def ticket_keys_path(conference_slug: str) -> str:
    return f"/api/{quote(conference_slug)}/ticket-keys"


def ticket_revocations_path(conference_slug: str) -> str:
    return f"/api/{quote(conference_slug)}/ticket-revocations"


def register_path(conference_slug: str) -> str:
    return f"/{quote(conference_slug)}/register"


# ---- calendar feeds and schedule exports ----------------------------------------------------


def programme_feed_path(conference_slug: str) -> str:
    return f"/{quote(conference_slug)}/programme.ics"


def session_feed_path(conference_slug: str, session_slug: str) -> str:
    return f"{session_path(conference_slug, session_slug)}.ics"


def track_feed_path(conference_slug: str, track_slug: str) -> str:
    return f"/{quote(conference_slug)}/tracks/{quote(track_slug)}.ics"


def room_feed_path(conference_slug: str, room_slug: str) -> str:
    return f"/{quote(conference_slug)}/rooms/{quote(room_slug)}.ics"


def speaker_feed_path(conference_slug: str, speaker_slug: str) -> str:
    return f"{speaker_path(conference_slug, speaker_slug)}.ics"


def changes_path(conference_slug: str) -> str:
    return f"/{quote(conference_slug)}/changes"


def changes_feed_path(conference_slug: str) -> str:
    return f"/{quote(conference_slug)}/changes.atom"


def schedule_xml_path(conference_slug: str) -> str:
    return f"/{quote(conference_slug)}/schedule.xml"


def schedule_json_path(conference_slug: str) -> str:
    return f"/{quote(conference_slug)}/schedule.json"


def public_base_url(configured_base_url: str, request_base_url: str) -> str:
    """The origin for links that leave the site: CONFAPP_BASE_URL, else the request's."""
    return (configured_base_url or request_base_url).rstrip("/")


def site_origin(request: Request) -> str:
    """The origin for absolute links in a response (QR codes, feeds, JSON). Without
    CONFAPP_BASE_URL it is the address the person used, so a phone on the LAN gets a QR code
    that opens on that phone."""
    return public_base_url(app_settings(request).base_url, str(request.base_url))


def webcal_url(url: str) -> str:
    """The same feed as a webcal:// link, which opens the subscribe dialog of calendar apps."""
    return "webcal://" + url.split("://", 1)[-1]


def google_calendar_url(url: str) -> str:
    """Google Calendar's "add by URL" page for a feed (it polls every 8 to 24 hours)."""
    return "https://calendar.google.com/calendar/r?cid=" + quote(webcal_url(url), safe="")


def star_path(conference_slug: str, session_slug: str) -> str:
    return f"/{quote(conference_slug)}/sessions/{quote(session_slug)}/star"


def agenda_page_path(conference_slug: str) -> str:
    return f"/{quote(conference_slug)}/agenda"


def agenda_key_feed_path(key: str) -> str:
    return f"/agenda/{key}.ics"


def language_switch_path(language: str, next_path: str) -> str:
    """The language switcher's link: remembers `language` and goes back to `next_path`."""
    return "/language?" + urlencode({"lang": language, "next": next_path})
