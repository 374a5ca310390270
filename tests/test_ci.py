"""CI checks what the tools are configured for: lint, format and types gate the test run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = (ROOT / ".ci" / "run").read_text()


def _commands() -> list[str]:
    """The script's command lines, without comments, blanks and continuation noise."""
    lines = [line.strip() for line in SCRIPT.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _position(command: str) -> int:
    commands = _commands()
    matches = [i for i, line in enumerate(commands) if re.fullmatch(command, line)]
    assert matches, f".ci/run does not run `{command}`"
    return matches[0]


def test_ci_stops_at_the_first_failing_command() -> None:
    assert "set -euo pipefail" in _commands()


def test_ci_runs_ruff_lint_format_and_mypy_before_the_tests() -> None:
    tests = _position(r"pytest")
    for check in (r"ruff check \.", r"ruff format --check \.", r"mypy"):
        assert _position(check) < tests, f"`{check}` runs after pytest"


def test_ci_installs_the_test_extra_before_the_checks() -> None:
    # ruff, mypy and hadolint come from the test extra: a fresh machine has none of them.
    install = _position(r"pip install --quiet -e '\.\[test\]'")
    assert install < _position(r"ruff check \.")
