"""Serving the app for the tests: free ports on loopback, the app on a real uvicorn in a thread
(LiveServer), `confapp serve` as its own operating-system process, and JSON over real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from confapp.app import create_app
from confapp.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for a live server on a free port, with links pointing at that port."""
    port = free_port()
    return Settings(
        database_url=database_url,
        seed_file="",
        port=port,
        base_url=f"http://127.0.0.1:{port}",
        housekeeping_seconds=0,
    ).with_overrides(**overrides)


class LiveServer:
    """The app served by a real uvicorn on loopback, in a thread of the test process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = settings.port
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def post_json(url: str, body: dict[str, Any], token: str | None = None) -> tuple[int, Any]:
    """POST `body` as JSON to a live server (with a Bearer token if given); the status and the
    decoded answer, also for an error status."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def all_at_once(calls: list[Any]) -> list[Any]:
    """Run each call in its own thread, released together; their results in order."""
    start = threading.Barrier(len(calls))

    def run(call: Any) -> Any:
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


@dataclass
class ServeProcess:
    """One `confapp serve` started as its own operating-system process."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_serve(
    name: str,
    database_url: str,
    folder: Path,
    *,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
) -> ServeProcess:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # Only what this test sets: no CONFAPP_* from the environment running the suite.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFAPP_")}
    env.update(
        CONFAPP_DATABASE_URL=database_url,
        CONFAPP_BASE_URL=url,
        CONFAPP_SEED_FILE="",
        CONFAPP_HOUSEKEEPING_SECONDS="0",
    )
    env.update(extra_env or {})
    log = folder / f"serve-{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "confapp.cli", "serve", "--port", str(port)),
                *("--workers", str(workers)),
            ],
            cwd=folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return ServeProcess(name, url, process, log)


def wait_until_healthy(server: ServeProcess, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"process {server.name} exited:\n{server.output()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"process {server.name} never answered /healthz:\n{server.output()}")


def stop_serve(server: ServeProcess) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=15)
