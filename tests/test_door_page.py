"""The steward's scanner page: who may open it, that it is an installable offline app (manifest,
service worker with the scope it needs), that it runs no inline script, and that the decoder and
verifier it vendors carry their licences."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from starlette.testclient import TestClient

from confapp.db import Database
from confapp.resources import static_dir
from tests.support import DEMO
from tests.support.accounts import make_user, sign_in

DOOR = f"/door/{DEMO}"


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.sources: list[str] = []
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        # Data for a script (the page's words, type="application/json") runs nothing.
        if tag == "script" and named.get("type") != "application/json":
            self._in_script = True
            if named.get("src"):
                self.sources.append(named["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data)


def test_a_steward_opens_the_scanner_page(client: TestClient, db: Database) -> None:
    make_user(db, "steward@example.org", "steward", DEMO)
    sign_in(client, "steward@example.org")
    page = client.get(DOOR)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert csrf and csrf.group(1)
    body = re.search(r"<body[^>]*>", page.text)
    assert body
    conference = client.get(f"/api/{DEMO}/ticket-keys").json()["conference_id"]
    assert f'data-conference-id="{conference}"' in body.group(0)
    assert f'data-conference="{DEMO}"' in body.group(0)
    assert re.search(r'data-end-date="\d{4}-\d{2}-\d{2}"', body.group(0))
    assert f'href="{DOOR}/manifest.webmanifest"' in page.text
    for words in ("Start scanning", "Type a ticket code", "Find by name or code", "OFFLINE"):
        assert words in page.text


def test_an_organiser_opens_it_too_and_finds_it_on_the_conference_home(
    client: TestClient, db: Database
) -> None:
    make_user(db, "organiser@example.org", "organiser", DEMO)
    sign_in(client, "organiser@example.org")
    assert client.get(DOOR).status_code == 200
    assert f'href="{DOOR}"' in client.get(f"/admin/{DEMO}/").text


def test_a_steward_finds_the_scanner_from_the_back_office_home(
    client: TestClient, db: Database
) -> None:
    make_user(db, "steward@example.org", "steward", DEMO)
    sign_in(client, "steward@example.org")
    assert f'href="{DOOR}"' in client.get("/admin/").text


def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    answer = client.get(DOOR, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/login?next=%2Fdoor%2F" + DEMO


def test_an_access_coordinator_may_not_use_the_door(client: TestClient, db: Database) -> None:
    make_user(db, "access@example.org", "access-coordinator", DEMO)
    sign_in(client, "access@example.org")
    answer = client.get(DOOR)
    assert answer.status_code == 403
    assert "csrf-token" not in answer.text


def test_an_unknown_conference_has_no_door(client: TestClient, db: Database) -> None:
    make_user(db, "steward@example.org", "steward", DEMO)
    sign_in(client, "steward@example.org")
    assert client.get("/door/no-such-conference").status_code == 404
    assert client.get("/door/no-such-conference/sw.js").status_code == 404
    assert client.get("/door/no-such-conference/manifest.webmanifest").status_code == 404


def test_the_page_runs_no_inline_script(client: TestClient, db: Database) -> None:
    make_user(db, "steward@example.org", "steward", DEMO)
    sign_in(client, "steward@example.org")
    page = client.get(DOOR)
    scripts = _Scripts()
    scripts.feed(page.text)
    assert not scripts.inline
    assert not scripts.handlers
    assert "/static/door/scanner.js" in scripts.sources
    assert "/static/vendor/jsqr/jsQR.js" in scripts.sources
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for source in scripts.sources:
        assert client.get(source).status_code == 200, source


def test_the_manifest_makes_an_installable_app_scoped_to_the_door(client: TestClient) -> None:
    answer = client.get(f"{DOOR}/manifest.webmanifest")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(answer.text)
    assert manifest["start_url"] == DOOR
    assert manifest["scope"] == DOOR
    assert manifest["display"] == "standalone"
    assert manifest["name"] and manifest["short_name"]
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        image = client.get(icon["src"])
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/png"


def test_the_service_worker_is_javascript_with_the_scope_it_needs(client: TestClient) -> None:
    answer = client.get(f"{DOOR}/sw.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].split(";")[0] in {
        "text/javascript",
        "application/javascript",
    }
    # Served from /door/{conference}/, it must be allowed to control /door/{conference} itself.
    assert answer.headers["service-worker-allowed"] == DOOR
    assert (
        "no-store" in answer.headers["cache-control"]
        or "no-cache" in (answer.headers["cache-control"])
    )
    assert 'addEventListener("fetch"' in answer.text
    # The API is never kept by the worker: only the page and its files.
    for path in re.findall(r'"(/static/[^"]+\.[a-z]+)"', answer.text):
        assert client.get(path).status_code == 200, path


def test_the_vendored_decoder_and_verifier_carry_their_licences() -> None:
    vendor = static_dir() / "vendor"
    jsqr_licence = (vendor / "jsqr" / "LICENSE").read_text()
    assert "Apache License" in jsqr_licence
    assert (vendor / "jsqr" / "jsQR.js").stat().st_size > 10_000
    noble_licence = (vendor / "noble-ed25519" / "LICENSE").read_text()
    assert "MIT License" in noble_licence
    assert "export {" in (vendor / "noble-ed25519" / "index.js").read_text()
    # The page's own scripts load nothing from another site.
    for script in (static_dir() / "door").glob("*.js"):
        assert "http://" not in script.read_text() and "https://" not in script.read_text()
