"""The programme's problems on one page: every clash once, explained, with links to both sides."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from confapp.admin.routes import admin_page, organiser_conference
from confapp.agenda.service import star_counts
from confapp.programme.clashes import each_clash_once, programme_clashes
from confapp.programme.queries import load_programme
from confapp.request_context import database


def problems_page(request: Request) -> Response:
    conference, _ = organiser_conference(request)
    with database(request).read() as session:
        programme = load_programme(session, conference, as_organiser=True)
        found = programme_clashes(programme, stars=star_counts(session, conference.id or 0))
    clashes = each_clash_once(found)  # two sessions in one room are one problem, not two
    titles = {entry.slug: entry.title for entry in programme.sessions}
    return admin_page(
        request,
        "admin/programme_problems.html",
        {"conference": conference, "clashes": clashes, "titles": titles},
    )


routes = [Route("/admin/{conference}/programme/problems", problems_page)]
