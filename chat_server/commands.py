"""The registry of `chat311` sub-commands, apart from the top-level CLI that dispatches them.

Feature packages register their commands here (`@command(name, help)(configure)` on the run
function) and load the configuration with `load_for_command`; the top-level `chat_server.cli` imports
them and builds the parser. Keeping the registry here means no feature module imports the CLI
that imports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from chat_server import texts
from chat_server.config import Config, ConfigError, load_config
from chat_server.logsetup import setup_logging

Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, Configure, Run]] = {}


def command(name: str, help_text: str) -> Callable[[Configure], Callable[[Run], Run]]:
    def wrap_configure(configure: Configure) -> Callable[[Run], Run]:
        def wrap_run(run: Run) -> Run:
            COMMANDS[name] = (help_text, configure, run)
            return run
        return wrap_run
    return wrap_configure


def load_for_command(args: argparse.Namespace) -> Config:
    """The configuration named by --config (or the default), with logging set up; exit 2 if invalid."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"chat311: invalid configuration: {exc}\n")
        raise SystemExit(2) from exc
    setup_logging(config.logging.level, config.logging.json)
    texts.use_config(config)
    return config
