"""Starlette's router, trying only the routes that could match a request's first path segment.

Starlette tries every route's regular expression in order until one matches. With some 150
routes, a calendar poll at the end of the list spent a quarter of its time there (bench/).
Routes whose first segment is a literal ("/admin/...", "/api/...", "/static") can only match
paths that begin with that literal, so each first segment gets a router holding its own routes
plus those whose first segment is a parameter ("/{conference}/..."), in their original order.
The first route to match is therefore always the one the full list would have chosen.
"""

from __future__ import annotations

# get_route_path lives in starlette._utils; starlette.routing only imports it (no re-export).
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Receive, Scope, Send

# The bucket of routes whose first segment is a parameter (or that are not plain paths).
_ANY = "{any}"


def first_literal_segment(route: BaseRoute) -> str:
    """The route's first path segment if it is a literal, else _ANY."""
    if not isinstance(route, Route | Mount):
        return _ANY
    first = route.path.lstrip("/").split("/", 1)[0]
    return _ANY if "{" in first else first


def first_segment(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


class FirstSegmentRouter(Router):
    _narrowed: dict[str, Router] | None = None

    def _router_for(self, segment: str) -> Router:
        if self._narrowed is None:
            # Built on the first request, after every route has been added.
            buckets = {first_literal_segment(route) for route in self.routes} | {_ANY}
            self._narrowed = {
                bucket: Router(
                    [r for r in self.routes if first_literal_segment(r) in (bucket, _ANY)],
                    redirect_slashes=self.redirect_slashes,
                    default=self.default,
                )
                for bucket in buckets
            }
        return self._narrowed.get(segment) or self._narrowed[_ANY]

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.routes:
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)  # url_for and the like see the whole app
        await self._router_for(first_segment(get_route_path(scope))).app(scope, receive, send)
