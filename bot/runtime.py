"""`tunebot run`: migrate, build the app, serve Slack over HTTP or Socket Mode until stopped."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass

from apscheduler.schedulers.base import BaseScheduler
from slack_bolt import App

from admin.providers.settings import secret
from admin.scheduler import build_scheduler
from bot.app import build_app
from bot.config import Settings
from bot.deps import Deps, build_deps
from bot.server import HttpServer, build_asgi
from bot.startup import (
    SLACK_FAILURES,
    SlackUnavailable,
    check_database,
    check_slack,
    slack_failure,
)
from storage.db import build_engine, upgrade, upgrade_apart

log = logging.getLogger(__name__)


@dataclass
class Running:
    """A started bot: stop() shuts every part down."""

    deps: Deps
    app: App
    http: HttpServer
    socket_handler: object | None = None
    scheduler: BaseScheduler | None = None

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
        if self.socket_handler is not None:
            self.socket_handler.close()  # type: ignore[attr-defined]
        self.http.stop()
        self.deps.close()


def start(
    settings: Settings,
    *,
    host: str = "0.0.0.0",
    reuse_port: bool = False,
    migrate: bool = True,
    migrate_apart: bool = False,
) -> Running:
    """Start the bot in the background and return; used by `run`, the demo and tests.

    `migrate=False` is for web workers, whose database was upgraded before they started;
    `migrate_apart` runs the upgrade in a child process, for a bot that runs for long.
    """
    deps = build_deps(settings)
    try:
        # Slack first, on a quiet client: a refusal is then tunebot's one line, without the
        # SDK's, and opens no database (SQLite would leave an empty file behind).
        check_slack(settings)
        check_database(settings, deps.engine)
        try:
            app = build_app(deps)  # Bolt calls auth.test here
        except SLACK_FAILURES as error:
            raise slack_failure(settings, error) from None
        if migrate and migrate_apart:
            upgrade_apart(settings.database_url, provider=settings.provider)
        elif migrate:
            upgrade(deps.engine, provider=settings.provider)
    except BaseException:
        deps.close()
        raise
    return _serve(settings, deps, app, host=host, reuse_port=reuse_port)


def _serve(settings: Settings, deps: Deps, app: App, *, host: str, reuse_port: bool) -> Running:
    if deps.budget is not None:
        # This month's spend, read before the first answer and then in the background.
        deps.budget.start()
    socket_handler = None
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket_handler = SocketModeHandler(app, app_token=secret(settings.slack_app_token))
        try:
            socket_handler.connect()
        except SLACK_FAILURES as error:
            deps.close()
            raise slack_failure(settings, error, "SLACK_APP_TOKEN") from None
        http = HttpServer(build_asgi(None, deps.engine), host=host, port=settings.port).start()
        log.info("connected to Slack in Socket Mode; health on :%s/healthz", http.port)
    else:
        asgi = build_asgi(app, deps.engine)
        http = HttpServer(asgi, host=host, port=settings.port, reuse_port=reuse_port).start()
        log.info("listening on :%s (POST /slack/events, GET /healthz)", http.port)
    scheduler = None
    if settings.run_scheduler:
        scheduler = build_scheduler(
            deps.poller(),
            poll_seconds=settings.poll_seconds,
            default_model=deps.base_model,
            feedback_keep_days=settings.feedback_keep_days,
        )
        scheduler.start()
    return Running(
        deps=deps, app=app, http=http, socket_handler=socket_handler, scheduler=scheduler
    )


def run_scheduler_forever(settings: Settings) -> None:
    """`tunebot scheduler`: only the poller, for deployments that run it apart from the bot."""
    deps = build_deps(settings)
    try:
        check_database(settings, deps.engine)
        upgrade_apart(settings.database_url, provider=settings.provider)
    except BaseException:
        deps.close()
        raise
    scheduler = build_scheduler(
        deps.poller(),
        poll_seconds=settings.poll_seconds,
        default_model=deps.base_model,
        feedback_keep_days=settings.feedback_keep_days,
    )
    scheduler.start()
    log.info("scheduler started: polling every %s s", settings.poll_seconds)
    _wait_for_signal()
    scheduler.shutdown(wait=True)
    deps.close()


def _wait_for_signal() -> None:
    stopping = threading.Event()
    _stop_on_signal(stopping)
    stopping.wait()


def _stop_on_signal(stopping: threading.Event) -> None:
    """SIGTERM and SIGINT set `stopping`."""

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %s: shutting down", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


def run_forever(settings: Settings) -> int:
    """`tunebot run`: serve until SIGTERM or SIGINT; the exit status."""
    if settings.web_workers > 1:
        return _run_workers(settings)
    running = start(settings, migrate_apart=True)
    # The objects of the imports and the app live as long as the process: out of the
    # collector's reach, a full collection during the answers scans only what they made
    # (it had reached ~100 ms here, the slowest answer of a quiet bot).
    gc.freeze()
    _wait_for_signal()
    running.stop()
    return 0


def _run_workers(settings: Settings) -> int:
    """TUNEBOT_WEB_WORKERS processes, each a whole bot, sharing the HTTP port.

    One Python process runs Python code on one core at a time, so a burst of messages
    queues behind a single interpreter while other cores idle. The other workers are
    forked after the imports (the loaded code stays in memory the workers share) and
    before any thread, connection or pool exists; then this process serves as worker 0,
    the one that runs the scheduler, rather than idling as a supervisor that would hold
    a third copy of every page the workers write to. Each listens with SO_REUSEPORT and
    the kernel spreads connections across them. If a worker dies, the others are stopped
    and the exit status is 1, so a supervisor restarts the whole.
    """
    engine = build_engine(settings.database_url)
    try:
        check_slack(settings)  # here, not in each worker: one line, not a traceback per worker
        check_database(settings, engine)
        # Once, before the workers start, and in a child: no worker inherits Alembic.
        upgrade_apart(settings.database_url, provider=settings.provider)
    finally:
        engine.dispose()
    gc.freeze()  # keep the import-time objects out of the workers' collections (and pages)
    stopping = threading.Event()
    failed = threading.Event()
    # Before the forks, so no moment is left where SIGTERM would kill this process alone.
    _stop_on_signal(stopping)
    children: dict[int, int] = {}
    parent = os.getpid()
    for index in range(1, settings.web_workers):
        pid = os.fork()
        if pid == 0:
            _die_with(parent)
            os._exit(_worker(settings, index))
        children[pid] = index
    log.info("started %d more web workers: %s", len(children), sorted(children))

    def _watch() -> None:
        while children:
            pid, code = os.wait()
            index = children.pop(pid, -1)
            if index >= 0 and not stopping.is_set():
                log.error("web worker %d exited (wait status %d); stopping the others", index, code)
                failed.set()
                stopping.set()

    watcher = threading.Thread(target=_watch, name="tunebot-workers", daemon=True)
    watcher.start()
    running = None
    try:
        running = start(settings.with_overrides(web_workers=1), reuse_port=True, migrate=False)
        stopping.wait()
    except SlackUnavailable as error:
        log.error("web worker 0 could not start: %s", error)
        failed.set()
    except Exception:
        log.exception("web worker 0 failed")
        failed.set()
    finally:
        stopping.set()
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if running is not None:
            running.stop()
        watcher.join()
    return 1 if failed.is_set() else 0


def _die_with(parent: int) -> None:
    """Have the kernel stop this worker if worker 0 dies, even by SIGKILL (Linux)."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it died before the request was in place
            os._exit(1)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _worker(settings: Settings, index: int) -> int:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)  # worker 0's handlers are not ours
    try:
        own = settings.with_overrides(web_workers=1, run_scheduler=False)  # worker 0 runs it
        running = start(own, reuse_port=True, migrate=False)
        _wait_for_signal()
        running.stop()
        return 0
    except BaseException:
        log.exception("web worker %d failed", index)
        return 1
