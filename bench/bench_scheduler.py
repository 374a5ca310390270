"""Benchmark the scheduler: success -> first answer from the new model; one tick over 200 jobs.

Run: python bench/bench_scheduler.py [--poll-seconds N]
Targets (issue 4): the new model answers within one poll interval + 2 s of the provider
reporting success; one poll over 200 active jobs completes within 5 s against the emulator.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from admin.poller import tick
from admin.providers.base import TrainRequest
from emulators.sandbox import Sandbox
from storage import job_repo

ADMIN = "U0BENCHAD"
EXAMPLE = (
    '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
)


def swap_latency(poll_seconds: int) -> float:
    """Seconds from succeed_job at the provider to an answer from the new model."""
    with Sandbox.open(
        admins=frozenset({ADMIN}), run_scheduler=True, poll_seconds=poll_seconds
    ) as box:
        with box.deps.session_factory.begin() as session:
            job = job_repo.create_job(session, values=_job_values(box, 0))
            provider_id = job.provider_job_id
        box.slack.add_user("admin", user_id=ADMIN)
        user = box.slack.add_user("asker")
        channel = box.slack.add_channel("bench")
        time.sleep(poll_seconds / 2)  # succeed mid-interval, as the provider would
        started = time.perf_counter()
        model = box.openai.succeed_job(provider_id)
        while time.perf_counter() - started < poll_seconds + 30:
            asked = box.slack.post_as_user(user, channel, f"<@{box.slack.bot_user_id}> hi")
            if box.wait_for_turn(channel, asked.ts).model == model:
                return time.perf_counter() - started
            time.sleep(0.05)
        raise RuntimeError("the new model never answered")


def tick_over(jobs: int) -> float:
    with Sandbox.open() as box:
        with box.deps.session_factory.begin() as session:
            for i in range(jobs):
                job_repo.create_job(session, values=_job_values(box, i))
        for job_id in list(box.openai.jobs):
            box.openai.advance_job(job_id, "running")
        started = time.perf_counter()
        report = tick(box.deps.poller())
        elapsed = time.perf_counter() - started
        assert report.polled == jobs and report.errors == 0, report
        return elapsed


def _job_values(box: Sandbox, i: int) -> dict[str, object]:
    """A job created at the emulator through the real provider, as /finetune train does."""
    provider = box.deps.providers.get(None)  # the default provider, as train does
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.jsonl"
        path.write_text(EXAMPLE * 10)
        file_id = provider.upload_training_file(path, filename=f"bench-{i}.jsonl")
    snap = provider.create_job(TrainRequest(file_id, box.settings.base_model, provider.Options()))
    return {
        "provider": provider.name,
        "provider_job_id": snap.id,
        "dataset_id": None,
        "base_model": box.settings.base_model,
        "method": "supervised",
        "hyperparameters": {},
        "started_by": ADMIN,
        "channel_id": None,
        "status": snap.status,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--poll-seconds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args()
    latency = swap_latency(args.poll_seconds)
    print(
        f"success -> first answer from the new model: {latency:.2f} s "
        f"(poll interval {args.poll_seconds} s; target <= {args.poll_seconds + 2} s)"
    )
    elapsed = tick_over(args.jobs)
    print(f"one poll over {args.jobs} active jobs: {elapsed:.2f} s (target <= 5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
