"""The router that narrows by first path segment answers every address exactly as Starlette's
own router would: same route, same parameters, same 404, 405 and trailing-slash redirects."""

from __future__ import annotations

import itertools
import re

from starlette.routing import BaseRoute, Match, Router
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.routing import FirstSegmentRouter, first_segment
from confapp.settings import Settings

# Parameter values that are also literal segments of other routes: where narrowing could go wrong.
VALUES = ["x1", "admin", "api", "static", "programme", "speakers", "sessions", "programme.ics"]


def first_match(routes: list[BaseRoute], path: str, method: str) -> tuple[object, dict] | None:
    scope = {"type": "http", "path": path, "method": method, "root_path": "", "headers": []}
    partial = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return route, child.get("path_params", {})
        if match is Match.PARTIAL and partial is None:
            partial = (route, child.get("path_params", {}))
    return partial


def addresses(routes: list[BaseRoute]) -> list[str]:
    found = {"/", "/nowhere", "/admin", "/static/css/confapp.css"}
    for route in routes:
        path = getattr(route, "path", "")
        names = re.findall(r"\{[^}]+\}", path)
        for values in itertools.product(VALUES, repeat=len(names)):
            address = path
            for value in values:
                address = re.sub(r"\{[^}]+\}", value, address, count=1)
            found.update({address, address.rstrip("/") or "/", address + "/"})
    return sorted(found)


def test_every_address_reaches_the_route_the_full_list_would_choose(sqlite_url: str) -> None:
    app = create_app(Settings.from_env().with_overrides(database_url=sqlite_url))
    router = app.router
    assert isinstance(router, FirstSegmentRouter)
    every_route = list(router.routes)
    checked = 0
    for address in addresses(every_route):
        for method in ("GET", "POST", "DELETE"):
            narrowed: Router = router._router_for(first_segment(address))
            assert first_match(narrowed.routes, address, method) == first_match(
                every_route, address, method
            ), address
            checked += 1
    assert checked > 1000


def test_the_app_still_answers_redirects_404s_and_405s_as_before(client: TestClient) -> None:
    assert client.get("/healthz").text == "ok"
    assert client.get("/no-such-conference/programme").status_code == 404
    assert client.delete("/healthz").status_code == 405
    moved = client.get("/socialism-2027", follow_redirects=False)
    assert moved.status_code in (307, 308) and moved.headers["location"].endswith(
        "/socialism-2027/"
    )
