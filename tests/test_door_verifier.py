"""The door page's verifier (static/door/verify.js, run under node) and the Python one give the
same answer on the same genuine, forged, tampered and foreign tokens: with the platform's
WebCrypto Ed25519 and with the vendored noble fallback a browser without it uses."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.resources import static_dir
from confapp.tickets.admission import revoked_tickets
from confapp.tickets.keys import signing_key_by_id
from confapp.tickets.tokens import display_code
from tests.support import DEMO
from tests.support.door_tokens import labelled_door_token_cases, python_says_valid
from tests.support.registrations import (
    code_of,
    conference_id_of,
    published_keys,
    register,
    token_of,
)

# Runs verify.js as an ES module: it reads the keys, conference and tokens on stdin and prints,
# for each way of checking a signature, the verdict on each token.
NODE_SCRIPT = """
import { parseScan, verifyToken, webCryptoSupportsEd25519 } from "./door/verify.js";
let input = "";
for await (const chunk of process.stdin) input += chunk;
const { keys, conference_id, revoked, tokens, scans } = JSON.parse(input);
const out = { webcrypto: [], noble: [], scans: [] };
for (const token of tokens) {
  out.webcrypto.push(await verifyToken(token, keys, conference_id, revoked));
  out.noble.push(await verifyToken(token, keys, conference_id, revoked, { useNoble: true }));
}
for (const scan of scans) out.scans.push(parseScan(scan));
out.webcrypto_has_ed25519 = webCryptoSupportsEd25519();
console.log(JSON.stringify(out));
"""


@pytest.fixture
def node_folder(tmp_path: Path) -> Path:
    """verify.js and the vendored noble beside it, as the page serves them, in an ES-module
    package for node."""
    if shutil.which("node") is None:
        pytest.skip("no Node.js: apt-get install nodejs (scripts/test.sh does it as root)")
    static = static_dir()
    (tmp_path / "door").mkdir()
    (tmp_path / "vendor" / "noble-ed25519").mkdir(parents=True)
    shutil.copy(static / "door" / "verify.js", tmp_path / "door" / "verify.js")
    shutil.copy(
        static / "vendor" / "noble-ed25519" / "index.js",
        tmp_path / "vendor" / "noble-ed25519" / "index.js",
    )
    (tmp_path / "package.json").write_text('{"type": "module"}')
    (tmp_path / "run.js").write_text(NODE_SCRIPT)
    return tmp_path


def run_node_verifier(folder: Path, **request: object) -> dict:
    answer = subprocess.run(
        ["node", "run.js"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=60,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def legacy_token(db: Database, token: str) -> str:
    """The version-1 form of a genuine ticket (no conference id), as issued before the split."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    with db.read() as session:
        key = signing_key_by_id(session, raw[1])
    assert key is not None
    signed = bytes([1, raw[1]]) + raw[6:14]
    return _encode(signed + Ed25519PrivateKey.from_private_bytes(key.private_key).sign(signed))


def test_the_door_verifier_agrees_with_the_python_one(
    client: TestClient, db: Database, node_folder: Path
) -> None:
    token = token_of(register(client))
    keys_json = client.get(f"/api/{DEMO}/ticket-keys").json()
    public_keys = published_keys(client)
    conference_id = conference_id_of(client)
    cases = labelled_door_token_cases(db, token)
    tokens = [case for _, case, _ in cases]
    verdicts = run_node_verifier(
        node_folder,
        keys=keys_json["keys"],
        conference_id=conference_id,
        revoked=[],
        tokens=tokens,
        scans=[],
    )
    for way in ("webcrypto", "noble"):
        for (label, case, expected), verdict in zip(cases, verdicts[way], strict=True):
            python = python_says_valid(case, public_keys, conference_id)
            assert python == expected, label
            assert (verdict["result"] == "admitted") == expected, (way, label, verdict)
    # The one genuine token, re-signed for another conference, is told apart from a forgery.
    foreign = next(i for i, c in enumerate(cases) if c[0].startswith("genuinely signed for"))
    assert verdicts["noble"][foreign]["result"] == "wrong_conference"
    assert verdicts["webcrypto"][foreign]["result"] == "wrong_conference"


def test_the_door_verifier_reads_codes_refuses_revoked_and_accepts_legacy_tokens(
    client: TestClient, db: Database, node_folder: Path
) -> None:
    kept = register(client)
    cancelled = register(client, email="clara@example.org")
    with db.transaction() as session:
        from confapp.tickets.admission import registration_by_code

        registration = registration_by_code(session, code_of(cancelled))
        assert registration is not None
        registration.status = "cancelled"
        session.add(registration)
    with db.read() as session:
        revoked = revoked_tickets(session, conference_id_of(client)).codes
    assert code_of(cancelled) in revoked
    # The door gets the list as served: codes spelled with dashes, as everywhere in the API.
    revoked = client.get(f"/api/{DEMO}/ticket-revocations").json()["revoked"]
    assert display_code(code_of(cancelled)) in revoked
    keys_json = client.get(f"/api/{DEMO}/ticket-keys").json()
    verdicts = run_node_verifier(
        node_folder,
        keys=keys_json["keys"],
        conference_id=keys_json["conference_id"],
        revoked=revoked,
        tokens=[token_of(kept), token_of(cancelled), legacy_token(db, token_of(kept))],
        scans=[kept["url"], token_of(kept), display_code(code_of(kept)).lower(), "hello", ""],
    )
    for way in ("webcrypto", "noble"):
        answers = [(v["result"], v["ticket_code"]) for v in verdicts[way]]
        assert answers == [
            ("admitted", code_of(kept)),
            ("cancelled", code_of(cancelled)),
            ("admitted", code_of(kept)),  # version 1 names no conference: the server decides
        ], way
    assert verdicts["scans"] == [
        {"token": token_of(kept)},
        {"token": token_of(kept)},
        {"code": code_of(kept)},
        {"token": "hello"},  # looks like a token; its check then says invalid
        None,
    ]
