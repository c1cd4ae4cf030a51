"""The import contract holds, and it would catch a lower layer importing a higher one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_of_the_package(tmp_path: Path) -> Path:
    shutil.copytree(
        REPO / "confapp", tmp_path / "confapp", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_code_keeps_its_layers(tmp_path: Path) -> None:
    result = lint_imports(copy_of_the_package(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_the_programme_importing_the_back_office_breaks_the_contract(tmp_path: Path) -> None:
    root = copy_of_the_package(tmp_path)
    queries = root / "confapp" / "programme" / "queries.py"
    queries.write_text(queries.read_text() + "\nfrom confapp.admin import menu  # noqa\n")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "confapp.programme.queries -> confapp.admin.menu" in result.stdout


def test_a_new_module_must_be_given_a_layer(tmp_path: Path) -> None:
    root = copy_of_the_package(tmp_path)
    (root / "confapp" / "somewhere_new.py").write_text('"""Not in any layer."""\n')
    result = lint_imports(root)
    assert result.returncode != 0
    assert "somewhere_new" in result.stdout + result.stderr
