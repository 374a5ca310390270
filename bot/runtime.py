"""`tunebot run`: migrate, build the app, serve Slack over HTTP or Socket Mode until stopped."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass

from apscheduler.schedulers.base import BaseScheduler
from slack_bolt import App

from admin.scheduler import build_scheduler
from bot.app import build_app
from bot.config import Settings
from bot.deps import Deps, build_deps
from bot.server import HttpServer, build_wsgi
from storage.db import upgrade

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


def start(settings: Settings, *, host: str = "0.0.0.0") -> Running:
    """Start the bot in the background and return; used by `run`, the demo and tests."""
    deps = build_deps(settings)
    upgrade(deps.engine)
    app = build_app(deps)
    socket_handler = None
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket_handler = SocketModeHandler(app, app_token=settings.slack_app_token)
        socket_handler.connect()
        http = HttpServer(build_wsgi(None, deps.engine), host=host, port=settings.port).start()
        log.info("connected to Slack in Socket Mode; health on :%s/healthz", http.port)
    else:
        http = HttpServer(build_wsgi(app, deps.engine), host=host, port=settings.port).start()
        log.info("listening on :%s (POST /slack/events, GET /healthz)", http.port)
    scheduler = None
    if settings.run_scheduler:
        scheduler = build_scheduler(
            deps.poller(), poll_seconds=settings.poll_seconds, default_model=settings.base_model
        )
        scheduler.start()
    return Running(
        deps=deps, app=app, http=http, socket_handler=socket_handler, scheduler=scheduler
    )


def run_scheduler_forever(settings: Settings) -> None:
    """`tunebot scheduler`: only the poller, for deployments that run it apart from the bot."""
    deps = build_deps(settings)
    upgrade(deps.engine)
    scheduler = build_scheduler(
        deps.poller(), poll_seconds=settings.poll_seconds, default_model=settings.base_model
    )
    scheduler.start()
    log.info("scheduler started: polling every %s s", settings.poll_seconds)
    _wait_for_signal()
    scheduler.shutdown(wait=True)
    deps.close()


def _wait_for_signal() -> None:
    stopping = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %s: shutting down", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    stopping.wait()


def run_forever(settings: Settings) -> None:
    running = start(settings)
    _wait_for_signal()
    running.stop()
