"""Benchmark: signed event in -> first streamed text at the Slack emulator; RSS of `tunebot run`.

Run: python bench/bench_chat.py [--rounds N] [--think S]
(BENCH_DATABASE_URL=postgresql://... for PostgreSQL)
The bot runs as `tunebot run` in its own process, as deployed; the emulators and the load
generator run in this one. Targets (issue 2): p50 <= 30 ms and p99 <= 150 ms at 20
concurrent threads; idle RSS <= 150 MB. With --think the model waits S seconds before its
first words, long enough for the thread's "thinking" status to go out with every answer
(issue 20: it must not delay the first words).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from emulators.openai import OpenAIEmulator
from emulators.openai_chat import default_reply
from emulators.slack import SlackEmulator

STREAM_STARTS = {"chat.startStream", "chat.postMessage"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


class BotProcess:
    """`tunebot run` in a child process against the emulators of this one."""

    def __init__(
        self, slack: SlackEmulator, openai: OpenAIEmulator, workdir: str, *, workers: int = 1
    ) -> None:
        self.port = 38517
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            "SLACK_API_URL": slack.api_url,
            "OPENAI_API_KEY": openai.api_key,
            "OPENAI_BASE_URL": openai.base_url,
            "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL")
            or f"sqlite:///{Path(workdir) / 'bench.db'}",
            "PORT": str(self.port),
            "TUNEBOT_LOG_LEVEL": "ERROR",
            "TUNEBOT_WEB_WORKERS": str(workers),
        }
        command = [sys.executable, "-m", "bot.cli", "run"]
        self.process = subprocess.Popen(command, env=env, cwd=workdir)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("tunebot run did not become healthy")

    def memory_mb(self) -> tuple[float, float]:
        """(RSS, PSS) summed over `tunebot run` and its web workers, if any.

        With workers, RSS counts the memory they share once per process; PSS divides
        each shared page among its sharers, so its sum is what the processes really use.
        """
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids += [int(pid) for pid in children.read_text().split()]
        rss = pss = 0
        for pid in pids:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
            fields = {row.split(":")[0]: int(row.split()[1]) for row in rollup[1:]}
            rss += fields["Rss"]
            pss += fields["Pss"]
        return rss / 1024, pss / 1024

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


def measure_latency(slack: SlackEmulator, *, concurrency: int, rounds: int) -> list[float]:
    """Seconds from sending a signed mention to the first streamed text reaching Slack."""
    first_text: dict[str, float] = {}
    mention_sent: dict[str, float] = {}
    lock = threading.Lock()

    def on_deliver(envelope: dict[str, Any]) -> None:
        # The clock starts when the signed app_mention leaves for the bot; Slack sends the
        # twin `message` event independently, so its round trip is not the bot's overhead.
        event = envelope.get("event") or {}
        if event.get("type") == "app_mention":
            mention_sent.setdefault(event["ts"], time.perf_counter())

    def on_call(method: str, params: dict[str, Any]) -> None:
        if method in STREAM_STARTS and params.get("thread_ts"):
            with lock:
                first_text.setdefault(params["thread_ts"], time.perf_counter())
                arrived.setdefault(params["thread_ts"], threading.Event()).set()

    # Woken by the emulator rather than polling it: twenty pollers would take CPU from the bot
    # on this two-core machine and inflate the very latency being measured.
    arrived: dict[str, threading.Event] = {}
    slack.on_call = on_call
    slack.sender.on_deliver = on_deliver
    users = [slack.add_user(f"user{concurrency}-{i}") for i in range(concurrency)]
    channels = [slack.add_channel(f"bench-{concurrency}-{i}") for i in range(concurrency)]
    mention = f"<@{slack.bot_user_id}>"

    def one(i: int, r: int) -> float:
        delivery = slack.post_as_user(users[i], channels[i], f"{mention} question {r}")
        with lock:
            event = arrived.setdefault(delivery.ts, threading.Event())
        if not event.wait(timeout=30):
            raise RuntimeError(f"no answer to {channels[i]}:{delivery.ts} within 30 s")
        return first_text[delivery.ts] - mention_sent[delivery.ts]

    samples: list[float] = []
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for r in range(rounds):
            samples.extend(pool.map(lambda i, r=r: one(i, r), range(concurrency)))
    slack.on_call = None
    slack.sender.on_deliver = None
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20, help="rounds per concurrency level")
    parser.add_argument(
        "--workers", type=int, default=1, help="TUNEBOT_WEB_WORKERS for `tunebot run`"
    )
    parser.add_argument(
        "--think", type=float, default=0.0, help="seconds the model waits before it answers"
    )
    args = parser.parse_args()
    print(f"{'threads':>8} {'samples':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    with SlackEmulator() as slack, OpenAIEmulator() as openai, tempfile.TemporaryDirectory() as tmp:
        bot = BotProcess(slack, openai, tmp, workers=args.workers)
        if args.think:
            openai.reply = lambda model, messages: (
                time.sleep(args.think) or default_reply(model, messages)
            )
        try:
            time.sleep(2)
            idle = bot.memory_mb()
            slack.events_url = f"http://127.0.0.1:{bot.port}/slack/events"
            measure_latency(slack, concurrency=2, rounds=3)  # warm-up: vocabularies, pools
            for concurrency in (1, 20):
                runs = measure_latency(slack, concurrency=concurrency, rounds=args.rounds)
                samples = [s * 1000 for s in runs]
                print(
                    f"{concurrency:>8} {len(samples):>8} {statistics.median(samples):>8.1f} "
                    f"{percentile(samples, 99):>8.1f} {max(samples):>8.1f}"
                )
            busy = bot.memory_mb()
        finally:
            bot.stop()
    print(
        f"`tunebot run` with {args.workers} web worker(s): "
        f"idle RSS {idle[0]:.1f} MB (PSS {idle[1]:.1f} MB), "
        f"after the run RSS {busy[0]:.1f} MB (PSS {busy[1]:.1f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
