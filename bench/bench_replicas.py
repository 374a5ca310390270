"""Benchmark: tunebot scaled out on one PostgreSQL - N web processes, 2 schedulers, 2 trainers.

Run: python bench/bench_replicas.py [--web 1 2 4] [--rounds N] [--jobs J]
(BENCH_DATABASE_URL=postgresql://user@host:port/db names the server; each N gets a fresh
database on it, created and dropped here. Default: the machine's 127.0.0.1:5432.)

Every part runs as deployed, in its own process: `tunebot run` with TUNEBOT_WEB_WORKERS=N
(N processes behind one port, as N replicas behind one Service; TUNEBOT_SCHEDULER=off),
two `tunebot scheduler` processes and two `tunebot trainer` processes. The OpenAI emulator
runs in a process of its own and finishes each fine-tuning job a few seconds after it starts;
the Slack emulator and the load generator run in this one.

For each N, under the chat load of bench_chat.py (20 conversations at once) and job churn
(an admin DMs a dataset with split=, then `/finetune train` every few seconds; each job
succeeds, is evaluated on the held-out part, swaps and is announced), it reports replies per
second, first-text p50/p99 and memory per process, and checks what must happen once across
processes: one reply to a mention Slack delivered three times (its retries arriving while
the first delivery is being answered, at whichever worker the kernel picks), one swap and
one announcement per job.

Target (issue 21): first-text p99 under 100 ms at 20 concurrent conversations with 2 web
workers on 2 cores. The trainers claim no work here: the bench uses a hosted provider so that
training does not take the cores the web workers are measured on; their lease and claim are
tested in tests/test_trainer*.py.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from bench_chat import STREAM_STARTS, percentile
from sqlalchemy.engine import make_url

from emulators.openai import OpenAIEmulator
from emulators.slack import SlackEmulator
from storage.db import build_engine

ADMIN = "U0BENCHADM"
PORT = 38527
FINISHED = {"succeeded", "failed", "cancelled"}
JOB = re.compile(r"\bjob-\d+\b")


# -- the OpenAI emulator, in a process of its own --------------------------------------------


def _openai_process(pipe: Connection, job_seconds: float) -> None:
    """Serve the OpenAI API; succeed each job `job_seconds` after it was created; answer
    "report" with the jobs, and stop on "stop"."""
    with OpenAIEmulator() as openai:
        pipe.send((openai.base_url, openai.api_key))
        stopping = threading.Event()

        def finish_jobs() -> None:
            while not stopping.wait(0.2):
                for job_id, job in openai.jobs.items():
                    if job["status"] in FINISHED:
                        continue
                    if time.time() - job["created_at"] >= job_seconds:
                        openai.succeed_job(job_id)

        threading.Thread(target=finish_jobs, daemon=True).start()
        while (message := pipe.recv()) != "stop":
            if message == "report":
                pipe.send(openai.jobs)
        stopping.set()


@contextmanager
def openai_in_a_process(job_seconds: float) -> Iterator[tuple[str, str, Connection, int]]:
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=_openai_process, args=(theirs, job_seconds), daemon=True
    )
    process.start()
    base_url, api_key = ours.recv()
    try:
        yield base_url, api_key, ours, process.pid or 0
    finally:
        ours.send("stop")
        process.join(timeout=10)


# -- the processes ---------------------------------------------------------------------------


def _pids(root: int) -> list[int]:
    """`root` and its children (the web workers `tunebot run` forks)."""
    children = Path(f"/proc/{root}/task/{root}/children")
    return [root] + ([int(p) for p in children.read_text().split()] if children.exists() else [])


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of one process in MB. PSS splits pages shared with other processes (the
    web workers share the code `tunebot run` loaded before forking), so PSS sums honestly."""
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    fields = {row.split(":")[0]: int(row.split()[1]) for row in rollup[1:]}
    return fields["Rss"] / 1024, fields["Pss"] / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Deployment:
    """`tunebot run` (N web processes), 2 schedulers and 2 trainers on one database."""

    def __init__(self, env: dict[str, str], workdir: str, *, web: int) -> None:
        self.env = env
        self.workdir = workdir
        self.kinds: dict[str, list[subprocess.Popen[bytes]]] = {}
        self.web = self._start("web", "run", TUNEBOT_WEB_WORKERS=str(web), TUNEBOT_SCHEDULER="off")
        deadline = time.monotonic() + 90
        while not self._healthy():
            if time.monotonic() > deadline or self.web.poll() is not None:
                raise RuntimeError("tunebot run did not become healthy")
            time.sleep(0.2)
        # After the web process migrated the database, so that no two processes race to.
        for _ in range(2):
            self._start("scheduler", "scheduler")
            self._start("trainer", "trainer")
        while len(_pids(self.web.pid)) < web:
            time.sleep(0.1)

    def _start(self, kind: str, command: str, **extra: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", command],
            env=self.env | extra,
            cwd=self.workdir,
        )
        self.kinds.setdefault(kind, []).append(process)
        return process

    @staticmethod
    def _healthy() -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=1)
            return True
        except OSError:
            return False

    def memory(self) -> dict[str, list[tuple[float, float]]]:
        """(RSS, PSS) in MB of each process, by kind; the web workers one by one."""
        table = {"web": [memory_mb(pid) for pid in _pids(self.web.pid)]}
        for kind in ("scheduler", "trainer"):
            table[kind] = [memory_mb(p.pid) for p in self.kinds[kind]]
        return table

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far, by kind (the web workers summed)."""
        table = {"web": sum(cpu_seconds(pid) for pid in _pids(self.web.pid))}
        for kind in ("scheduler", "trainer"):
            table[kind] = sum(cpu_seconds(p.pid) for p in self.kinds[kind])
        return table

    def settle(self, timeout: float = 90.0) -> None:
        """Wait until every process has started up (imports, connections): under 2% of a
        core over a second, so that no start-up is counted as load."""
        deadline = time.monotonic() + timeout
        before = sum(self.cpu().values())
        while time.monotonic() < deadline:
            time.sleep(1.0)
            now = sum(self.cpu().values())
            if now - before < 0.02:
                return
            before = now

    def alive(self) -> bool:
        return all(p.poll() is None for ps in self.kinds.values() for p in ps)

    def stop(self) -> None:
        for processes in self.kinds.values():
            for process in processes:
                process.terminate()
        for processes in self.kinds.values():
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


@contextmanager
def fresh_database(server: str, name: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server at `server`, dropped afterwards."""
    url = make_url(server)
    admin = url.set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the load --------------------------------------------------------------------------------


class Load:
    """Chat load through the Slack emulator: timings of the first text of each answer."""

    def __init__(self, slack: SlackEmulator) -> None:
        self.slack = slack
        self.lock = threading.Lock()
        self.sent: dict[str, float] = {}
        self.first_text: dict[str, float] = {}
        self.arrived: dict[str, threading.Event] = {}
        slack.on_call = self._on_call
        slack.sender.on_deliver = self._on_deliver

    def _on_deliver(self, envelope: dict[str, Any]) -> None:
        event = envelope.get("event") or {}
        if event.get("type") == "app_mention":
            self.sent.setdefault(event["ts"], time.perf_counter())

    def _on_call(self, method: str, params: dict[str, Any]) -> None:
        if method in STREAM_STARTS and params.get("thread_ts"):
            with self.lock:
                self.first_text.setdefault(params["thread_ts"], time.perf_counter())
                self.arrived.setdefault(params["thread_ts"], threading.Event()).set()

    def ask(self, user: str, channel: str, text: str) -> float:
        delivery = self.slack.post_as_user(user, channel, f"<@{self.slack.bot_user_id}> {text}")
        with self.lock:
            event = self.arrived.setdefault(delivery.ts, threading.Event())
        if not event.wait(timeout=30):
            raise RuntimeError(f"no answer to {channel}:{delivery.ts} within 30 s")
        return self.first_text[delivery.ts] - self.sent[delivery.ts]

    def burst(
        self, concurrency: int, *, rounds: int = 0, seconds: float = 0.0, tag: str
    ) -> tuple[list[float], float]:
        """bench_chat.py's load: `concurrency` people in their own channels ask at once, and
        the next round starts when every one has the first words of an answer; `rounds`
        rounds, or as many as start within `seconds`. First-text latencies (s), wall time (s)."""
        users = [self.slack.add_user(f"{tag}-u{i}") for i in range(concurrency)]
        channels = [self.slack.add_channel(f"{tag}-c{i}") for i in range(concurrency)]
        samples: list[float] = []
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            r = 0
            while r < rounds or time.perf_counter() - started < seconds:
                samples.extend(
                    pool.map(
                        lambda i, r=r: self.ask(users[i], channels[i], f"question {r}"),
                        range(concurrency),
                    )
                )
                r += 1
        return samples, time.perf_counter() - started


def retried_mentions(slack: SlackEmulator, count: int) -> list[tuple[str, str]]:
    """Mentions Slack delivers three times: retries 1 and 2 arrive together while the first
    delivery is being answered, at whichever workers the kernel picks; (channel, ts) of each."""
    user = slack.add_user("retry-asker")
    asked = []
    for i in range(count):
        channel = slack.add_channel(f"retry-{i}")
        delivery = slack.post_as_user(user, channel, f"<@{slack.bot_user_id}> once please {i}")
        mention = delivery.event_ids[-1]
        retries = [
            threading.Thread(target=slack.redeliver, args=(mention,), kwargs={"retry_num": n})
            for n in (1, 2)
        ]
        for retry in retries:
            retry.start()
        for retry in retries:
            retry.join()
        asked.append((channel, delivery.ts))
    return asked


def churn(slack: SlackEmulator, jobs: int, every: float, stop: threading.Event) -> list[str]:
    """`/finetune train ds-1` every `every` seconds, `jobs` times: what the bot answered."""
    answers = []
    for _ in range(jobs):
        if stop.wait(every):
            break
        status, body = slack.send_slash_command(ADMIN, "C0BENCHNTF", "/finetune", "train ds-1")
        answers.append(f"{status} {body[:80]}")
    return answers


def upload_dataset(slack: SlackEmulator) -> None:
    """The admin DMs a 40-example chat JSONL with split=0.25; waits until it is stored."""
    lines = [
        {
            "messages": [
                {"role": "user", "content": f"How do we deploy service {i}?"},
                {"role": "assistant", "content": f"Service {i} deploys on Tuesdays."},
            ]
        }
        for i in range(40)
    ]
    content = "".join(json.dumps(line) + "\n" for line in lines).encode()
    dm = slack.open_dm(ADMIN)
    file = slack.add_file(ADMIN, "faq.jsonl", content)
    delivery = slack.post_as_user(ADMIN, dm, "split=0.25", files=[file])

    def stored() -> bool:
        return any("Stored as" in (m.get("text") or "") for m in slack.messages(dm, delivery.ts))

    slack.wait_for(stored, timeout=60)


# -- one N -----------------------------------------------------------------------------------


def run_once(server: str, web: int, args: argparse.Namespace) -> dict[str, Any]:
    with (
        fresh_database(server, f"tunebot_bench_replicas_{web}") as database,
        SlackEmulator() as slack,
        openai_in_a_process(args.job_seconds) as (base_url, api_key, openai, openai_pid),
        tempfile.TemporaryDirectory() as workdir,
    ):
        notify = slack.add_channel("tunebot-jobs", channel_id="C0BENCHNTF")
        slack.add_user("admin", user_id=ADMIN)
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            "SLACK_API_URL": slack.api_url,
            "OPENAI_API_KEY": api_key,
            "OPENAI_BASE_URL": base_url,
            "DATABASE_URL": database,
            "PORT": str(PORT),
            "TUNEBOT_LOG_LEVEL": "ERROR",
            "TUNEBOT_ADMINS": ADMIN,
            "TUNEBOT_NOTIFY_CHANNEL": notify,
            "TUNEBOT_POLL_SECONDS": "1",
            # Each job is evaluated on its held-out part; the margin lets every candidate
            # go live, so that each job swaps and the swaps can be counted.
            "TUNEBOT_EVAL_MARGIN": "100",
            "TUNEBOT_MODEL_DIR": str(Path(workdir) / "models"),
        }
        deployment = Deployment(env, workdir, web=web)
        try:
            slack.events_url = f"http://127.0.0.1:{PORT}/slack/events"
            deployment.settle()
            idle = deployment.memory()
            load = Load(slack)
            load.burst(
                2, rounds=3, tag="warm"
            )  # vocabularies, pools, each worker's first connection
            upload_dataset(slack)
            one, _ = load.burst(1, rounds=args.rounds, tag="one")
            stop = threading.Event()
            churned: list[str] = []
            churner = threading.Thread(
                target=lambda: churned.extend(churn(slack, args.jobs, args.every, stop))
            )
            churner.start()
            before = deployment.cpu() | _emulators_cpu(openai_pid)
            twenty, wall = load.burst(20, seconds=args.seconds, tag="twenty")
            after = deployment.cpu() | _emulators_cpu(openai_pid)
            churner.join()
            retried = retried_mentions(slack, args.retries)
            jobs = _wait_for_jobs(database, args.jobs, timeout=120)
            time.sleep(3)  # anything sent twice would arrive by now
            busy = deployment.memory()
            alive = deployment.alive()
        finally:
            deployment.stop()
            slack.on_call = None
            slack.sender.on_deliver = None
        openai.send("report")
        provider_jobs = openai.recv()
        return {
            "web": web,
            "one": one,
            "twenty": twenty,
            "replies_per_s": len(twenty) / wall,
            # Per reply, in ms of CPU, during the 20-conversation load (job churn included).
            "cpu_ms_per_reply": {k: (after[k] - before[k]) * 1000 / len(twenty) for k in after},
            "idle": idle,
            "busy": busy,
            "alive": alive,
            "churn": churned,
            "checks": _once_only(slack, notify, retried, database, jobs, provider_jobs),
        }


def _emulators_cpu(openai_pid: int) -> dict[str, float]:
    """PostgreSQL's processes (this machine's server), this process (the Slack emulator and
    the load) and the OpenAI emulator's."""
    return {
        "postgres": _postgres_cpu(),
        "bench+slack": cpu_seconds(os.getpid()),
        "openai": cpu_seconds(openai_pid),
    }


def _postgres_cpu() -> float:
    """CPU seconds of the server's processes now running (its pooled connections among them)."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                total += cpu_seconds(int(comm.parent.name))
        except OSError:
            continue  # it ended meanwhile
    return total


def _wait_for_jobs(database: str, expected: int, *, timeout: float) -> list[tuple[str, str]]:
    """(job id, stage) of every job once all have reached a final stage."""
    engine = build_engine(database)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as connection:
                rows = connection.execute(sa.text("SELECT id, stage FROM jobs")).all()
            done = [r for r in rows if r[1] in {"live", "held_back", "failed", "cancelled"}]
            if (len(rows) >= expected and len(done) == len(rows)) or time.monotonic() > deadline:
                return [(str(r[0]), str(r[1])) for r in rows]
            time.sleep(0.5)
    finally:
        engine.dispose()


def _once_only(
    slack: SlackEmulator,
    notify: str,
    retried: list[tuple[str, str]],
    database: str,
    jobs: list[tuple[str, str]],
    provider_jobs: dict[str, Any],
) -> dict[str, Any]:
    replies = [
        sum(1 for m in slack.messages(channel, ts) if m.get("bot_id") and m.get("ts") != ts)
        for channel, ts in retried
    ]
    engine = build_engine(database)
    with engine.connect() as connection:
        swaps = Counter(
            str(row[0])
            for row in connection.execute(
                sa.text("SELECT set_by_job FROM model_history WHERE set_by_job IS NOT NULL")
            )
        )
    engine.dispose()
    # A job's announcements: ":tada: A new model is live ... from job-3", ":warning: *job-3
    # was held back*", ":x: ... job-3 failed".
    announced: Counter[str] = Counter()
    for message in slack.messages(notify):
        text = message.get("text") or ""
        named = JOB.search(text)
        if message.get("bot_id") and text.startswith((":tada:", ":warning:", ":x:")) and named:
            announced[named.group(0)] += 1
    stages = Counter(stage for _, stage in jobs)
    return {
        "retried_mentions": len(retried),
        "replies_per_retried_mention": sorted(Counter(replies).items()),
        "jobs": len(jobs),
        "provider_jobs": len(provider_jobs),
        "stages": dict(stages),
        "swaps_per_job": sorted(Counter(swaps[f"job-{j}"] for j, s in jobs if s == "live").items()),
        "announcements_per_job": sorted(Counter(announced[f"job-{j}"] for j, _ in jobs).items()),
    }


# -- the report ------------------------------------------------------------------------------


def report(result: dict[str, Any]) -> None:
    web = result["web"]
    one = [s * 1000 for s in result["one"]]
    twenty = [s * 1000 for s in result["twenty"]]
    busy = result["busy"]
    print(f"\n== {web} web process(es), 2 schedulers, 2 trainers ==")
    print(
        f"first text, 1 conversation:   p50 {statistics.median(one):6.1f} ms  "
        f"p99 {percentile(one, 99):6.1f} ms  ({len(one)} answers)"
    )
    print(
        f"first text, 20 conversations: p50 {statistics.median(twenty):6.1f} ms  "
        f"p99 {percentile(twenty, 99):6.1f} ms  ({len(twenty)} answers, "
        f"{result['replies_per_s']:.1f} replies/s)"
    )
    for kind, rows in busy.items():
        rss = ", ".join(f"{r:.0f}" for r, _ in rows)
        pss = sum(p for _, p in rows)
        print(f"memory after the load, {kind:9}: RSS {rss} MB; PSS total {pss:.0f} MB")
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in result["cpu_ms_per_reply"].items())
    print(f"CPU per reply under the 20-conversation load (ms): {cpu}")
    print(f"all processes still running: {result['alive']}")
    print("once-only:", json.dumps(result["checks"]))


def _p99(result: dict[str, Any]) -> float:
    return percentile([s * 1000 for s in result["twenty"]], 99)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--web", type=int, nargs="+", default=[1, 2, 4], help="web processes")
    parser.add_argument("--rounds", type=int, default=20, help="questions of one person alone")
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="how long 20 people ask (the churn's span)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each N")
    parser.add_argument("--jobs", type=int, default=8, help="fine-tuning jobs during the load")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between jobs")
    parser.add_argument("--job-seconds", type=float, default=3.0, help="each job's training")
    parser.add_argument("--retries", type=int, default=10, help="mentions delivered 3 times")
    args = parser.parse_args()
    server = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    # Alternated (1, 2, 4, 1, 2, 4, ...): a machine whose speed drifts over the minutes
    # (shared, throttled) then weighs on every N alike.
    results = [run_once(server, web, args) for _ in range(args.repeat) for web in args.web]
    for result in results:
        report(result)
    print(
        f"\n{'web':>4} {'replies/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'PSS MB (all)':>13}"
        "   (20 conversations; the median run of each N, then every run's p99)"
    )
    for web in args.web:
        runs = sorted((r for r in results if r["web"] == web), key=_p99)
        middle = runs[len(runs) // 2]
        twenty = [s * 1000 for s in middle["twenty"]]
        pss = sum(p for rows in middle["busy"].values() for _, p in rows)
        every = ", ".join(f"{_p99(r):.0f}" for r in runs)
        print(
            f"{web:>4} {middle['replies_per_s']:>10.1f} {statistics.median(twenty):>8.1f} "
            f"{percentile(twenty, 99):>8.1f} {pss:>13.0f}   ({every})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
