"""The `chat311` command: run the service, train, evaluate, and manage accounts and keys.

Feature modules register their own sub-commands in chat_server/commands.py; this module imports
them and dispatches.
"""

from __future__ import annotations

import argparse

from chat_server.commands import COMMANDS, command, load_for_command


@command("run", "start the whole service (embedded Redis, Rasa, actions, chat_server)")(
    lambda p: p.add_argument("--workers", type=int, default=1, help="chat_server processes (default 1)")
)
def _run(args: argparse.Namespace) -> int:
    from chat_server.runner import main_run

    main_run(load_for_command(args), args.workers)
    return 0


@command("serve", "start one chat_server process only (Redis and Rasa already running)")(
    lambda p: p.add_argument("--reuse-port", action="store_true", help="share the port with sibling workers")
)
def _serve(args: argparse.Namespace) -> int:
    from chat_server.runner import main_serve

    main_serve(load_for_command(args), args.reuse_port)
    return 0


@command("check-config", "validate chat311.yml and environment overrides, then exit")(lambda p: None)
def _check(args: argparse.Namespace) -> int:
    load_for_command(args)
    print("chat311: configuration OK")
    return 0


@command("train", "train the bot if training_data/ or bot/ changed since the last model")(
    lambda p: p.add_argument("--force", action="store_true", help="train even if the model is current")
)
def _train(args: argparse.Namespace) -> int:
    from chat_server import bot_model

    bot_model.train(force=args.force)
    return 0


@command("nlu-eval", "evaluate the trained model on a CSV file (text,label,lang)")(
    lambda p: p.add_argument("rest", nargs=argparse.REMAINDER, help="FILE.csv [options]")
)
def _nlu_eval(args: argparse.Namespace) -> int:
    from chat_server.training import nlu_eval

    return int(nlu_eval.main(args.rest))


@command("safety-eval", "measure the emergency guard on a CSV file (text,label,lang)")(
    lambda p: p.add_argument("rest", nargs=argparse.REMAINDER, help="FILE.csv")
)
def _safety_eval(args: argparse.Namespace) -> int:
    from chat_server import safety_eval

    return safety_eval.main(args.rest)


def _load_feature_commands() -> None:
    """Import modules that register sub-commands (they call `command(...)` at import time)."""
    import importlib

    for module in ("chat_server.tickets.cli", "chat_server.agents.cli", "chat_server.channels.cli",
                   "chat_server.metrics.cli", "chat_server.training.cli", "chat_server.retention",
                   "chat_server.knowledge.cli"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def main(argv: list[str] | None = None) -> int:
    _load_feature_commands()
    parser = argparse.ArgumentParser(prog="chat311", description="chat311: 311 live chat and chatbot service")
    parser.add_argument("--config", help="config file (default: chat311.yml, or $CHAT311_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, configure, _) in sorted(COMMANDS.items()):
        p = sub.add_parser(name, help=help_text)
        configure(p)
    args = parser.parse_args(argv)
    return COMMANDS[args.command][2](args)


if __name__ == "__main__":
    raise SystemExit(main())
