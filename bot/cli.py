"""The `tunebot` command: run, demo, db upgrade, and the offline dataset tools."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from admin.datasets.cli import add_dataset_commands
from bot.config import ConfigError, Settings, StoreSettings, TrainerSettings
from bot.logs import configure_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunebot",
        description="A Slack bot that answers from your team's fine-tuned model "
        "and lets admins fine-tune it from Slack.",
    )
    parser.add_argument("--version", action="version", version=f"tunebot {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="run the bot (HTTP on $PORT, or Socket Mode when SLACK_APP_TOKEN is set)",
        description="Upgrade the database, then serve Slack events, slash commands and "
        "interactivity on POST /slack/events and health on GET /healthz "
        "(Socket Mode when SLACK_APP_TOKEN is set); TUNEBOT_WEB_WORKERS processes share "
        "the port. Configured by environment variables or a .env file; see the README.",
    )
    run.set_defaults(func=_run)

    demo = commands.add_parser(
        "demo",
        help="play a scripted Slack session against local emulators (no credentials needed)",
        description="Start local emulators of Slack and OpenAI, run the real bot against "
        "them with a temporary SQLite database, play a short session and print the "
        "transcript. Needs no credentials and no network.",
    )
    demo.add_argument(
        "--local",
        action="store_true",
        help="train a tiny model for real on this CPU with the local trainer and serve it "
        "through an emulated vLLM (needs tunebot[train]; about a minute on 2 cores)",
    )
    demo.add_argument(
        "--keep",
        metavar="DIR",
        type=_keep_folder,
        help="keep the session's SQLite database and the loss chart PNG in DIR",
    )
    demo.set_defaults(func=_demo)

    sandbox = commands.add_parser(
        "sandbox",
        help="run local Slack and OpenAI emulators for your own `tunebot run` (no Slack needed)",
        description="Start emulators of the Slack and OpenAI APIs on 127.0.0.1 with a ready "
        "workspace (#sandbox with the bot in it, an admin and a member), print the "
        "environment variables that point `tunebot run` at them and a signed curl that "
        "mentions the bot, and serve until Ctrl-C.",
    )
    sandbox.add_argument(
        "--port",
        type=_port,
        default=3000,
        help="the port `tunebot run` will listen on (printed as PORT; default 3000)",
    )
    sandbox.add_argument(
        "--events-url",
        metavar="URL",
        help="where Slack sends events (default http://127.0.0.1:PORT/slack/events)",
    )
    sandbox.add_argument(
        "--slack-port",
        type=_port_or_any,
        default=3001,
        help="port of the Slack API emulator (default 3001; 0: any free port)",
    )
    sandbox.add_argument(
        "--openai-port",
        type=_port_or_any,
        default=3002,
        help="port of the OpenAI API emulator (default 3002; 0: any free port)",
    )
    sandbox.set_defaults(func=_sandbox)

    scheduler = commands.add_parser(
        "scheduler",
        help="run only the job poller (when `run` has TUNEBOT_SCHEDULER=off)",
        description="Poll fine-tuning jobs every TUNEBOT_POLL_SECONDS, swap in finished "
        "models and send notifications, without serving Slack. Several may run against "
        "one database.",
    )
    scheduler.set_defaults(func=_scheduler)

    trainer = commands.add_parser(
        "trainer",
        help="train queued `local` fine-tuning jobs on this machine (needs tunebot[train])",
        description="Claim queued jobs of the `local` provider from DATABASE_URL and train "
        "each as a LoRA adapter into TUNEBOT_MODEL_DIR, in a child process. Several may run "
        "against one PostgreSQL database; SIGTERM stops after the current step with a "
        "checkpoint and puts the job back in the queue.",
    )
    trainer.set_defaults(func=_trainer)
    _trainer_arguments(trainer)

    db = commands.add_parser("db", help="database maintenance", description="Database maintenance.")
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    db_upgrade = db_commands.add_parser(
        "upgrade",
        help="apply pending migrations to DATABASE_URL",
        description="Create or migrate the tunebot tables in DATABASE_URL "
        "(default: SQLite file tunebot.db in the working directory).",
    )
    db_upgrade.set_defaults(func=_db_upgrade)
    health = commands.add_parser(
        "healthcheck",
        help="exit 0 if the bot on $PORT answers /healthz (the Dockerfile's HEALTHCHECK)",
        description="Ask the running bot's GET /healthz on 127.0.0.1:$PORT; exit 0 when it "
        "reports the database up, 1 otherwise.",
    )
    health.set_defaults(func=_healthcheck)
    add_dataset_commands(commands)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tunebot")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _service_settings() -> Settings:
    """Settings for the long-running commands, which need real Slack and model credentials."""
    settings = Settings.from_env(service=True)
    _logging(settings)
    return settings


def _run(args: argparse.Namespace) -> int:
    from bot.runtime import run_forever

    return run_forever(_service_settings())


def _scheduler(args: argparse.Namespace) -> int:
    from bot.runtime import run_scheduler_forever

    run_scheduler_forever(_service_settings())
    return 0


def _trainer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="train at most one job, then exit")
    parser.add_argument(
        "--lease-seconds",
        type=int,
        default=120,
        help="how long a job stays this trainer's without a heartbeat (default 120)",
    )


def _trainer(args: argparse.Namespace) -> int:
    try:
        from trainer.cli import run
    except ImportError as error:
        print(f"tunebot trainer needs tunebot[train] installed ({error})", file=sys.stderr)
        return 2
    settings = TrainerSettings.from_env()
    _logging(settings)
    return run(args, settings)


def _demo(args: argparse.Namespace) -> int:
    if not _has_emulators("demo"):
        return 2
    if getattr(args, "local", False):
        from emulators.demo import play_local

        return play_local(sys.stdout)
    from emulators.demo import play

    return play(sys.stdout, keep=args.keep)


def _has_emulators(command: str) -> bool:
    """The emulators are a development tool the Docker image leaves out: say so in one line."""
    if importlib.util.find_spec("emulators") is not None:
        return True
    print(
        f"tunebot: {command} needs the emulators package, which this installation (the Docker "
        "image) leaves out; run it from a clone: pip install . && tunebot " + command,
        file=sys.stderr,
    )
    return False


def _sandbox(args: argparse.Namespace) -> int:
    if not _has_emulators("sandbox"):
        return 2
    from emulators.sandbox_serve import SandboxError, serve

    try:
        return serve(
            sys.stdout,
            port=args.port,
            events_url=args.events_url,
            slack_port=args.slack_port,
            openai_port=args.openai_port,
        )
    except SandboxError as error:
        print(f"tunebot: sandbox: {error}", file=sys.stderr)
        return 2


def _keep_folder(raw: str) -> Path:
    folder = Path(raw)
    if folder.exists() and not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{raw} is not a folder")
    if (folder / "tunebot.db").exists():
        raise argparse.ArgumentTypeError(f"{raw} already has a tunebot.db; choose a new folder")
    return folder


def _port(raw: str) -> int:
    port = _port_or_any(raw)
    if port == 0:
        raise argparse.ArgumentTypeError("a port is a number from 1 to 65535, not 0")
    return port


def _port_or_any(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, not {raw!r}")
    return port


def _db_upgrade(args: argparse.Namespace) -> int:
    from bot.startup import as_typed, check_database
    from storage.db import build_engine, upgrade

    settings = Settings.from_env()
    _logging(settings)
    engine = build_engine(settings.database_url)
    check_database(settings, engine)
    upgrade(engine, provider=settings.provider)
    print(f"database is up to date ({as_typed(settings.database_url)})")
    return 0


def _healthcheck(args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.request

    settings = Settings.from_env(env_file=None)
    url = f"http://127.0.0.1:{settings.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            healthy = response.status == 200
    except (urllib.error.URLError, OSError) as error:
        print(f"tunebot: {url} did not answer: {error}", file=sys.stderr)
        return 1
    print(f"{url}: {'healthy' if healthy else 'unhealthy'}")
    return 0 if healthy else 1


def _logging(settings: StoreSettings) -> None:
    configure_logging(settings.log_level, settings.secrets(), fmt=settings.log_format)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as error:
        print(f"tunebot: configuration error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        # A database or Slack that will not answer at start is for the person starting
        # tunebot to fix: one line saying which and why, like a configuration error.
        from bot.startup import is_startup_failure

        if not is_startup_failure(error):
            raise
        print(f"tunebot: cannot start: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
