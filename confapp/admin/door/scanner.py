"""The steward's scanner page at the door, and what makes it an offline app: its manifest and
its service worker, whose scope covers the page."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from confapp.admin.auth import (
    DEVICE_COOKIE,
    clear_device_cookie,
    door_conference_for,
    door_device_on,
)
from confapp.admin.door.devices import add_device_path, sign_in_again_path, sign_out_path
from confapp.admin.menu import ORGANISER, STEWARD
from confapp.admin.routes import admin_conference, admin_page
from confapp.resources import static_dir
from confapp.translation import _

# The service worker and manifest hold no attendee data and no secret: anyone may fetch them
# (browsers fetch a manifest without cookies). They change with a deploy, so no long caching.
SHORT_CACHE = "no-cache"


def door_path(conference_slug: str) -> str:
    return f"/door/{conference_slug}"


def scanner_page(request: Request) -> Response:
    conference, principal = door_conference_for(request, ORGANISER, STEWARD)
    base = door_path(conference.slug)
    device = door_device_on(request)
    response = admin_page(
        request,
        "door/scanner.html",
        {
            "conference": conference,
            "principal": principal,
            # A device's page carries its device's token, which stays good while the device
            # does, even if a person's sign-in on the phone ends meanwhile.
            "csrf_token": device.principal.csrf_token if device else principal.csrf_token or "",
            "door_path": base,
            "manifest_path": f"{base}/manifest.webmanifest",
            "service_worker_path": f"{base}/sw.js",
            "device": device,
            "add_device_path": add_device_path(conference.slug),
            "sign_out_path": sign_out_path(conference.slug),
            "sign_in_path": sign_in_again_path(conference.slug),
        },
    )
    if device is None and request.cookies.get(DEVICE_COOKIE):
        # Revoked or expired, and someone has signed in on the phone since: forget it.
        clear_device_cookie(response, conference.slug)
    return response


def manifest(request: Request) -> Response:
    conference = admin_conference(request)
    base = door_path(conference.slug)
    body = {
        "id": base,
        "name": f"{_('Door')} – {conference.name}",
        "short_name": _("Door"),
        "description": _("Check tickets in at %(conference)s, online or offline.")
        % {"conference": conference.name},
        "start_url": base,
        "scope": base,
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#000000",
        "theme_color": "#000000",
        "icons": [
            {"src": "/static/door/icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/static/door/icon-512.png", "sizes": "512x512", "type": "image/png"},
        ],
    }
    return Response(
        json.dumps(body, ensure_ascii=False),
        media_type="application/manifest+json",
        headers={"Cache-Control": SHORT_CACHE},
    )


def service_worker(request: Request) -> Response:
    conference = admin_conference(request)
    script = (static_dir() / "door" / "sw.js").read_bytes()
    return Response(
        script,
        media_type="text/javascript",
        headers={
            "Cache-Control": SHORT_CACHE,
            # Served from /door/{conference}/, it may control /door/{conference} itself.
            "Service-Worker-Allowed": door_path(conference.slug),
        },
    )


routes = [
    Route("/door/{conference}", scanner_page, name="door_scanner"),
    Route("/door/{conference}/manifest.webmanifest", manifest, name="door_manifest"),
    Route("/door/{conference}/sw.js", service_worker, name="door_service_worker"),
]
