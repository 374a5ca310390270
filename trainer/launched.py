"""Training under a launcher (`accelerate launch` for data parallel on several GPUs).

The worker starts `<launcher> -m trainer.launched SPEC MESSAGES CONTROL` as a subprocess. Every
rank trains; rank 0 alone appends the messages as JSON lines to MESSAGES. The worker writes
`cancel` or `shutdown` into CONTROL, which each rank reads at the end of every step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainer.runner import FINAL, OnMessage, Outcome, Tick, describe_exit
from trainer.spec import Message, Stop, TrainSpec


def run_launched(
    spec: TrainSpec,
    launch: list[str],
    *,
    on_message: OnMessage,
    tick: Tick = lambda: None,
    every: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    work = Path(spec.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    spec_path, messages, control = work / "spec.json", work / "messages.jsonl", work / "control"
    spec_path.write_text(json.dumps(spec.to_json()))
    messages.write_text("")
    control.write_text("")
    command = [*launch, "-m", "trainer.launched", str(spec_path), str(messages), str(control)]
    process = subprocess.Popen(command, start_new_session=True)
    read = 0
    final: Outcome | None = None
    try:
        while final is None:
            alive = process.poll() is None
            with messages.open(encoding="utf-8") as source:
                source.seek(read)
                lines = source.readlines()
                if lines and not lines[-1].endswith("\n"):
                    lines.pop()  # half-written: read it next time
                read += sum(len(line.encode()) for line in lines)
            for line in lines:
                kind, data = json.loads(line)
                message = Message(kind)
                on_message(message, data)
                if message in FINAL:
                    final = Outcome(message, data)
            if final is not None:
                break
            if not alive:
                final = Outcome(
                    Message.ERROR, {"kind": "crash", "message": describe_exit(process.returncode)}
                )
                break
            stop = tick()
            if stop is not None:
                control.write_text(str(stop))
            sleep(every if not lines else 0)
    finally:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return final


def main(argv: list[str]) -> int:
    from trainer.child import train

    spec_path, messages, control = (Path(a) for a in argv[:3])
    spec = TrainSpec(**json.loads(spec_path.read_text()))
    rank0 = int(os.environ.get("RANK", "0")) == 0
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the worker asks through CONTROL
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def report(kind: Message, data: dict[str, Any]) -> None:
        if rank0:
            with messages.open("a", encoding="utf-8") as out:
                out.write(json.dumps([str(kind), data]) + "\n")

    def asked() -> Stop | None:
        word = control.read_text().strip() if control.exists() else ""
        return Stop(word) if word else None

    train(spec, report, asked)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
