"""The `tunebot` command: run, scheduler, trainer, db upgrade, the offline dataset tools, and
the commands installed packages add through the `tunebot.commands` entry points."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from admin.datasets.cli import add_dataset_commands
from bot.config import ConfigError, Settings, StoreSettings, TrainerSettings
from bot.logs import configure_logging

# A package adds commands to `tunebot` as it adds providers: through entry points, each a
# function that adds one subcommand to the `add_subparsers()` it is given.
COMMANDS = "tunebot.commands"


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser for `argv`: with every installed command, unless `argv` names a built-in
    one (`tunebot run` loads no other package's command, so holds none of its modules)."""
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
    if not argv or argv[0] not in commands.choices:
        _add_installed_commands(commands)
    return parser


def _add_installed_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for point in sorted(entry_points(group=COMMANDS), key=lambda p: p.name):
        if point.name in commands.choices:
            continue  # a built-in command keeps its name
        package = point.module.split(".")[0]
        try:
            add = point.load()
        except ModuleNotFoundError as error:
            if (error.name or "").split(".")[0] != package:
                raise
            _left_out(commands, point.name, package)
        else:
            add(commands)


def _left_out(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, package: str
) -> None:
    """A command whose package this installation leaves out (the Docker image has no
    emulators) is still listed, and says so in one line, whatever follows it."""
    parser = commands.add_parser(
        name,
        help=f"(needs the {package} package, not installed here)",
        add_help=False,
        prefix_chars="\0",  # every word after the name, `--help` too, is one it ignores
    )
    parser.add_argument("ignored", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def say(args: argparse.Namespace) -> int:
        print(
            f"tunebot: {name} needs the {package} package, which this installation (the "
            f"Docker image) leaves out; run it from a clone: pip install . && tunebot {name}",
            file=sys.stderr,
        )
        return 2

    parser.set_defaults(func=say)


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
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
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
