"""`tunebot demo` needs no credentials: the transcript shows who asked and which model answered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_plays_a_session_without_credentials(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "tunebot"), "demo"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "minji: @tunebot when do we deploy on Fridays?" in out
    assert "tunebot [gpt-4o-mini-2024-07-18]:" in out
    assert "Whose voice should tunebot learn?" in out
    assert "Stored as *ds-1* and uploaded" in out
    assert "started *job-1*" in out
    assert "A new model is live" in out and "job-1-loss.png" in out
    assert "(clicks 👎 under the answer)" in out and "Suggest a better answer" in out
    assert "*feedback-" in out and "Stored as *ds-2*" in out
    assert "The whole loop worked: answered by ft:gpt-4o-mini-2024-07-18" in out
    assert list(tmp_path.iterdir()) == []  # the demo's database lives in a temporary directory
