"""`make lint` as part of `make test`: ruff over the project's code and mypy (strict) over the packages
listed in pyproject.toml, so CI fails on a type error the way it fails on a broken test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_finds_nothing() -> None:
    result = _run(str(BIN / "ruff"), "check", "chat_server", "tests", "bench", "bot/actions")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_packages_type_check() -> None:
    result = _run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout
