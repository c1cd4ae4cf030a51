"""The `confapp` command as a newcomer runs it, and a plain `pip install .` that works anywhere."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import time
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

from confapp.db import Database
from confapp.migrate import upgrade_to_head
from confapp.programme.conference_file import load_conference_file
from confapp.resources import demo_seed_path
from tests.support import DEMO
from tests.support.servers import free_port, start_serve, stop_serve, wait_until_healthy

REPO = Path(__file__).resolve().parent.parent


def run_confapp(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "confapp.cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_for(url: str, process: subprocess.Popen[str], seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"server exited: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing answered at {url}")


def serve(
    command: list[str], cwd: Path, port: int, drop: tuple[str, ...] = ()
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFAPP_") and k not in drop}
    return subprocess.Popen(
        [*command, "serve", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    try:
        output, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


def test_serve_with_no_configuration_creates_the_database_and_serves_the_demo(
    tmp_path: Path,
) -> None:
    port = free_port()
    process = serve([sys.executable, "-m", "confapp.cli"], tmp_path, port)
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz", process) == "ok"
        home = wait_for(f"http://127.0.0.1:{port}/{DEMO}/", process)
        assert "Socialism 2027" in home
    finally:
        output = stop(process)
    assert (tmp_path / "confapp.sqlite3").exists()
    assert f"http://127.0.0.1:{port}/{DEMO}/" in output
    assert "Loaded the demo conference" in output
    assert "/tickets/" not in output

    # A second start finds the conference already there and loads nothing.
    process = serve([sys.executable, "-m", "confapp.cli"], tmp_path, port)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
    finally:
        output = stop(process)
    assert "Loaded the demo conference" not in output


def test_serve_with_several_workers(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "confapp.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--database-url",
            f"sqlite:///{tmp_path / 'multi.sqlite3'}",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(6):
            assert DEMO in wait_for(f"http://127.0.0.1:{port}/api/{DEMO}/programme", process)
    finally:
        output = stop(process)
    assert output.count("Started server process") == 2
    assert (tmp_path / "multi.sqlite3").exists()


def test_load_reports_a_broken_file_and_changes_nothing(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    seed = (REPO / "seed" / f"{DEMO}.toml").read_text(encoding="utf-8")
    good = tmp_path / "good.toml"
    good.write_text(seed, encoding="utf-8")
    loaded = run_confapp("load", str(good), "--database-url", database, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert "created 1 conference" in loaded.stdout

    broken = tmp_path / "broken.toml"
    broken.write_text(seed.replace('kind = "talk"', 'kind = "lecture"', 1), encoding="utf-8")
    result = run_confapp("load", str(broken), "--database-url", database, cwd=tmp_path)
    assert result.returncode == 2
    assert str(broken) in result.stderr
    assert "nothing was changed" in result.stderr
    assert ".kind: Input should be 'talk'" in result.stderr
    assert "Traceback" not in result.stderr

    again = run_confapp("load", str(good), "--database-url", database, cwd=tmp_path)
    assert "created nothing; updated nothing" in again.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        timeout=300,
    )
    return next(out.glob("confapp-*.whl"))


def test_the_wheel_carries_templates_static_files_seed_and_migrations(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "confapp/templates/base.html" in names
    assert "confapp/static/css/confapp.css" in names
    assert f"confapp/seed/{DEMO}.toml" in names
    assert any(n.startswith("confapp/migrations/versions/0001") for n in names)
    assert "confapp/migrations/env.py" in names


def test_an_installed_wheel_serves_the_demo_from_any_directory(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=False, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # The dependencies come from the environment running the tests (the project's .venv):
    # its site-packages go on the new environment's path, after the new one's own.
    new_site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (new_site / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import confapp.resources as r; print(r.templates_dir())"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert str(env_dir) in where, "the installed copy, not the checkout, must be used"

    port = free_port()
    process = serve([str(env_dir / "bin" / "confapp")], elsewhere, port, drop=("PYTHONPATH",))
    try:
        page = wait_for(f"http://127.0.0.1:{port}/{DEMO}/programme", process)
        css = wait_for(f"http://127.0.0.1:{port}/static/css/confapp.css", process)
    finally:
        stop(process)
    assert "Programme" in page and ".programme-grid" in css


def test_with_several_workers_confapps_own_log_lines_still_reach_the_log(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A mail that cannot go out is logged with its level and logger by a worker process of
    `confapp serve --workers 2`, as by a single process."""
    db = Database(sqlite_url)
    upgrade_to_head(db.engine)
    load_conference_file(db, demo_seed_path())
    db.dispose()
    closed_port = str(free_port())  # nothing listens there: every delivery fails
    server = start_serve(
        "workers",
        sqlite_url,
        tmp_path,
        extra_env={"CONFAPP_SMTP_HOST": "127.0.0.1", "CONFAPP_SMTP_PORT": closed_port},
        workers=2,
    )
    try:
        wait_until_healthy(server)
        body = {"name": "Rosa Logline", "email": "rosa@example.org", "ticket_type": "waged"}
        request = urllib.request.Request(
            f"{server.url}/api/{DEMO}/registrations",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert answer.status == 201
        deadline = time.monotonic() + 30
        while "confapp.mail:" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.2)
        [line] = [line for line in server.output().splitlines() if "confapp.mail:" in line]
        assert line.startswith("WARNING") and "not sent" in line
        assert "rosa@example.org" not in server.output()  # and nothing personal
    finally:
        stop_serve(server)
