"""Where the templates, static files and demo seed are, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _resource_dir(name: str) -> Path:
    # A wheel carries them inside the package (see pyproject's force-include); an editable
    # install or a plain checkout has them at the repository root.
    installed = _PACKAGE_DIR / name
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / name


def templates_dir() -> Path:
    return _resource_dir("templates")


def static_dir() -> Path:
    return _resource_dir("static")


def seed_dir() -> Path:
    return _resource_dir("seed")


def demo_seed_path() -> Path:
    return seed_dir() / "socialism-2027.toml"


def migrations_dir() -> Path:
    return _PACKAGE_DIR / "migrations"
