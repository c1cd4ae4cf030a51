"""Public calendar feeds (.ics) and schedule exports (schedule.xml, schedule.json).

No login and no cookie: a calendar app fetches these by URL alone, every hour or so, and gets
a 304 while nothing has changed.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from confapp import urls
from confapp.calendar.publish import Feed, build_feed_for, feed_cache_key
from confapp.http_cache import app_body_cache, built_body_response
from confapp.programme.published_state import published_state
from confapp.request_context import database


async def _serve(request: Request, feed: Feed) -> Response:
    conference_slug = request.path_params["conference"]
    base_url = urls.site_origin(request)
    # An unknown conference, session, track, room or speaker raises NotFound: a 404 page.
    state = await published_state(request, conference_slug)
    db, programmes = database(request), request.app.state.programme_cache
    built = await app_body_cache(request).get_or_build_in_thread(
        feed_cache_key(state, feed, base_url),
        lambda: build_feed_for(db, programmes, state, feed, base_url),
    )
    headers = {
        # Public data without credentials: web-based schedule viewers may fetch it.
        "Access-Control-Allow-Origin": "*",
        "Content-Disposition": f'inline; filename="{feed.filename(conference_slug)}"',
    }
    return built_body_response(request, built, headers)


async def programme_feed(request: Request) -> Response:
    return await _serve(request, Feed("ics"))


async def session_feed(request: Request) -> Response:
    return await _serve(request, Feed("ics", "session", request.path_params["session"]))


async def track_feed(request: Request) -> Response:
    return await _serve(request, Feed("ics", "track", request.path_params["track"]))


async def room_feed(request: Request) -> Response:
    return await _serve(request, Feed("ics", "room", request.path_params["room"]))


async def speaker_feed(request: Request) -> Response:
    return await _serve(request, Feed("ics", "speaker", request.path_params["speaker"]))


async def schedule_xml_export(request: Request) -> Response:
    return await _serve(request, Feed("xml"))


async def schedule_json_export(request: Request) -> Response:
    return await _serve(request, Feed("json"))


# Mounted before the programme's routes: "/{conference}/sessions/{session}" would otherwise
# take "x.ics" as a session slug. Slugs never contain a dot, so "{session}.ics" is unambiguous.
routes: list[Route] = [
    Route("/{conference}/programme.ics", programme_feed, name="programme_feed"),
    Route("/{conference}/sessions/{session}.ics", session_feed, name="session_feed"),
    Route("/{conference}/tracks/{track}.ics", track_feed, name="track_feed"),
    Route("/{conference}/rooms/{room}.ics", room_feed, name="room_feed"),
    Route("/{conference}/speakers/{speaker}.ics", speaker_feed, name="speaker_feed"),
    Route("/{conference}/schedule.xml", schedule_xml_export, name="schedule_xml"),
    Route("/{conference}/schedule.json", schedule_json_export, name="schedule_json"),
]
