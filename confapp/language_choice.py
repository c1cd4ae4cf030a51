"""Which language a request is answered in, and the switcher that changes it.

The reader's choice, best first: `?lang=` on the address (what hreflang links and shared links
carry), then the switcher's cookie `confapp_language` (a cookie of its own: it holds a language
tag and nothing else, and is never read for anything else), then Accept-Language. A conference's
pages then narrow it to the languages the conference offers (`use_conference_language`).

Every response says it varies by Accept-Language and Cookie, so that no cache hands a page in one
language to a reader of another.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from confapp.translation import (
    normal_tag,
    parse_accept_language,
    set_wanted_languages,
    shipped_languages,
)

LANGUAGE_COOKIE = "confapp_language"
LANGUAGE_PARAMETER = "lang"
# A year: the reader chose it, and it says nothing about them but the language.
_COOKIE_SECONDS = 365 * 24 * 3600


def wanted_by(request: Request) -> tuple[str, ...]:
    """What the reader asked for, best first."""
    wanted: list[str] = []
    if tag := normal_tag(request.query_params.get(LANGUAGE_PARAMETER, "")):
        wanted.append(tag)
    if tag := normal_tag(request.cookies.get(LANGUAGE_COOKIE, "")):
        wanted.append(tag)
    wanted += parse_accept_language(request.headers.get("accept-language", ""))
    return tuple(dict.fromkeys(wanted))


class LanguageMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        set_wanted_languages(wanted_by(Request(scope)))

        async def send_varying(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                vary = [v.strip() for v in headers.get("vary", "").split(",") if v.strip()]
                for name in ("Accept-Language", "Cookie"):
                    if name.lower() not in {v.lower() for v in vary}:
                        vary.append(name)
                headers["vary"] = ", ".join(vary)
            await send(message)

        await self.app(scope, receive, send_varying)


def local_next(value: str | None) -> str:
    """Where to go back to: a path on this site, never another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


async def choose_language(request: Request) -> Response:
    """The switcher: GET /language?lang=es&next=/conference/... remembers the choice and goes
    back. A GET, so that the switcher is a plain link that works without JavaScript; it changes
    nothing but the reader's own cookie."""
    tag = normal_tag(request.query_params.get(LANGUAGE_PARAMETER, "")) or ""
    next_path = local_next(request.query_params.get("next"))
    response = RedirectResponse(next_path, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    if tag and tag.split("-")[0] in {s.split("-")[0] for s in shipped_languages()}:
        response.set_cookie(
            LANGUAGE_COOKIE,
            tag,
            max_age=_COOKIE_SECONDS,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


routes = [Route("/language", choose_language)]
