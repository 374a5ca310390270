"""`tunebot demo` and `tunebot sandbox`: the emulators' own commands, added to `tunebot`.

The emulators package registers them under the `tunebot.commands` entry points (pyproject),
the way a plugin package would; `tunebot` (bot/cli.py) loads that group and never names
these commands or this package. Each entry point is a function that adds one subcommand
whose `func` runs it. This module imports only argparse: the emulators load when a command
runs, not when `tunebot --help` lists it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

Commands = argparse._SubParsersAction  # what `add_subparsers()` returns


def demo(commands: Commands[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "demo",
        help="play a scripted Slack session against local emulators (no credentials needed)",
        description="Start local emulators of Slack and OpenAI, run the real bot against "
        "them with a temporary SQLite database, play a short session and print the "
        "transcript. Needs no credentials and no network.",
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help="train a tiny model for real on this CPU with the local trainer and serve it "
        "through an emulated vLLM (needs tunebot[train]; about a minute on 2 cores)",
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        type=_keep_folder,
        help="keep the session's SQLite database and the loss chart PNG in DIR",
    )
    parser.set_defaults(func=_demo)


def sandbox(commands: Commands[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "sandbox",
        help="run local Slack and OpenAI emulators for your own `tunebot run` (no Slack needed)",
        description="Start emulators of the Slack and OpenAI APIs on 127.0.0.1 with a ready "
        "workspace (#sandbox with the bot in it, an admin and a member), print the "
        "environment variables that point `tunebot run` at them and a signed curl that "
        "mentions the bot, and serve until Ctrl-C.",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=3000,
        help="the port `tunebot run` will listen on (printed as PORT; default 3000)",
    )
    parser.add_argument(
        "--events-url",
        metavar="URL",
        help="where Slack sends events (default http://127.0.0.1:PORT/slack/events)",
    )
    parser.add_argument(
        "--slack-port",
        type=_port_or_any,
        default=3001,
        help="port of the Slack API emulator (default 3001; 0: any free port)",
    )
    parser.add_argument(
        "--openai-port",
        type=_port_or_any,
        default=3002,
        help="port of the OpenAI API emulator (default 3002; 0: any free port)",
    )
    parser.set_defaults(func=_sandbox)


def _demo(args: argparse.Namespace) -> int:
    if args.local:
        from emulators.demo import play_local

        return play_local(sys.stdout)
    from emulators.demo import play

    return play(sys.stdout, keep=args.keep)


def _sandbox(args: argparse.Namespace) -> int:
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
