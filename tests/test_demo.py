"""`tunebot demo` needs no credentials, and its transcript reads like the Slack session it plays."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulators.demo import as_seen

BASE = "gpt-4o-mini-2024-07-18"


@dataclass(frozen=True)
class Run:
    out: str
    cwd: Path
    kept: Path


def _demo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd)}
    return subprocess.run(
        [str(Path(sys.executable).parent / "tunebot"), "demo", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One demo session, kept in a folder, shared by the tests of its transcript."""
    cwd = tmp_path_factory.mktemp("demo")
    kept = cwd / "kept"
    result = _demo(cwd, "--keep", str(kept))
    assert result.returncode == 0, result.stderr
    return Run(result.stdout, cwd, kept)


def test_demo_plays_a_session_without_credentials(tmp_path: Path) -> None:
    result = _demo(tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "minji: @tunebot when do we deploy on Fridays?" in out
    assert f"tunebot [{BASE}]:" in out
    assert "Whose voice should tunebot learn?" in out
    assert "Stored as ds-1 and uploaded" in out
    assert "started job-1" in out
    assert "A new model is live" in out and "job-1-loss.png" in out
    assert "(clicks 👎 under the answer)" in out and "Suggest a better answer" in out
    assert "feedback-" in out and "Stored as ds-2" in out
    assert f"The whole loop worked: answered by ft:{BASE}" in out
    assert list(tmp_path.iterdir()) == []  # the demo's database lives in a temporary directory


def test_each_answer_names_its_model_once(run: Run) -> None:
    answers = [line for line in run.out.splitlines() if re.search(r"tunebot \[[^\]]+\]:", line)]
    assert len(answers) >= 3
    for answer in answers:
        model = re.search(r"tunebot \[([^\]]+)\]:", answer)
        assert model is not None and answer.count(model.group(1)) == 1, answer


def test_mentions_and_markup_read_as_a_person_sees_them(run: Run) -> None:
    assert "<@" not in run.out and "*" not in run.out
    assert "#general           tunebot: @admin started job-1 (" in run.out
    assert "tunebot: 🎉 A new model is live: " in run.out
    assert not re.search(r"(?<![\w:]):[a-z0-9_+-]+:(?![\w:])", run.out)  # no :emoji: codes
    assert "looks like a KakaoTalk export with 2 speakers" in run.out


def test_the_sample_export_has_no_duplicate_examples(run: Run) -> None:
    report = [line for line in run.out.splitlines() if line.startswith("DM")]
    assert any("Dataset is valid" in line for line in report)
    assert not any("duplicate" in line for line in report)


def test_the_announced_trained_tokens_are_the_estimate(run: Run) -> None:
    estimate = re.search(r"([\d,]+) billed tokens × (\d+) epochs", run.out)
    trained = re.search(r"trained tokens: ([\d,]+)", run.out)
    assert estimate is not None and trained is not None
    per_epoch, epochs = int(estimate.group(1).replace(",", "")), int(estimate.group(2))
    assert int(trained.group(1).replace(",", "")) == per_epoch * epochs


def test_a_short_training_reads_under_a_minute(run: Run) -> None:
    assert "training took under a minute" in run.out
    assert "0 min" not in run.out


def test_keep_leaves_the_database_and_the_loss_chart(run: Run) -> None:
    chart = run.kept / "job-1-loss.png"
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with sqlite3.connect(run.kept / "tunebot.db") as db:
        (model,) = db.execute("SELECT fine_tuned_model FROM jobs").fetchone()
    assert model.startswith(f"ft:{BASE}:")
    assert f"kept in {run.kept}: tunebot.db, job-1-loss.png" in run.out
    assert sorted(p.name for p in run.cwd.iterdir()) == ["kept"]


def test_keep_refuses_a_folder_with_a_database(tmp_path: Path) -> None:
    (tmp_path / "tunebot.db").write_bytes(b"")
    result = _demo(tmp_path, "--keep", str(tmp_path))
    assert result.returncode == 2
    assert "already has a tunebot.db" in result.stderr


@pytest.mark.parametrize(
    ("text", "seen"),
    [
        ("<@U0DEMOADM> started *job-1*", "@admin started job-1"),
        ("<@U0UNKNOWN> hi", "@U0UNKNOWN hi"),
        (
            "<@U0DEMOADM|adm> and <#C0DEMOGEN|general> and <#C0DEMOGEN>",
            "@admin and #general and #C0DEMOGEN",
        ),
        ("<!here> <!channel> <!subteam^S123|@oncall>", "@here @channel @oncall"),
        (":tada: *A new model is live*: `ft:x`", "🎉 A new model is live: ft:x"),
        (
            ":x: in `ft:gpt-4o-mini:org:x:id` or ft:a:x:b",
            "❌ in ft:gpt-4o-mini:org:x:id or ft:a:x:b",
        ),
        (":custom_emoji: stays", ":custom_emoji: stays"),
        (
            "<https://example.com|the docs> or <https://example.com>",
            "the docs or https://example.com",
        ),
        (
            "_italic_ and ~gone~ but snake_case_name stays",
            "italic and gone but snake_case_name stays",
        ),
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
        ("2 * 3 * 4", "2 * 3 * 4"),
    ],
)
def test_mrkdwn_is_rendered_as_slack_shows_it(text: str, seen: str) -> None:
    assert as_seen(text, {"U0DEMOADM": "admin"}) == seen
