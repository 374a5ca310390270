"""`tunebot demo --local`: a KakaoTalk export in, a trained adapter out, its answer after,
printed as `tunebot demo` prints a session, with nothing else on stderr."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.local_helpers import require_train_extra

require_train_extra()

TUNEBOT = str(Path(sys.executable).parent / "tunebot")


def test_the_local_demo_trains_an_adapter_that_answers_from_the_export(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    result = subprocess.run(
        [TUNEBOT, "demo", "--local"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1200,  # a loaded machine, not a measurement (that is in the README)
    )
    text = result.stdout
    assert result.returncode == 0, text + result.stderr
    assert re.search(r"^\(trainer\) +step \d+/\d+, loss", text, re.MULTILINE)
    answer = text.split("minji: @tunebot")[1]
    assert "tunebot [tunebot-" in answer and "금요일 오후 세 시에 해요!" in answer
    # Rendered as Slack shows it, as `tunebot demo` renders it: no mention, emoji or bold
    # markup; the models named as a reader knows them, never by a temporary folder.
    assert "#general           tunebot: 🎉 A new model is live: tunebot-" in text
    assert "@admin started job-1 (local-1) at Local trainer (vLLM): ds-1 on " in text
    assert "<@" not in text and "*" not in text and "`" not in text
    assert not re.search(r"(?<![\w:]):[a-z0-9_+-]+:(?![\w:])", text)
    assert tempfile.gettempdir() not in text and "tunebot-demo-local-" not in text
    assert "tunebot-demo/tiny-llama, a tiny Llama with random weights" in text
    # Hugging Face's progress bars and deprecation notices stay out of the terminal.
    assert result.stderr == ""
    assert list(tmp_path.iterdir()) == []  # everything lived in a temporary folder
