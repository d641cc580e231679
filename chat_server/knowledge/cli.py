"""`chat311 kb-eval`, `chat311 kb-calibrate` and `chat311 kb export` (registered into chat_server.cli at import)."""

from __future__ import annotations

import argparse

from chat_server.commands import command, load_for_command


def _rest(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="FILE.csv [options]; --help for options")


@command("kb-eval", "evaluate the knowledge base on a CSV file (text,topic_or_article_id,lang)")(_rest)
def _kb_eval(args: argparse.Namespace) -> int:
    from chat_server.knowledge import evaluate

    return evaluate.main(args.rest)


@command("kb-calibrate", "fit the knowledge base's weights and thresholds on the DEV set")(_rest)
def _kb_calibrate(args: argparse.Namespace) -> int:
    from chat_server.knowledge import calibrate

    return calibrate.main(args.rest)


@command("kb", "knowledge base content: `kb export DIR` writes the published articles as YAML files")(_rest)
def _kb(args: argparse.Namespace) -> int:
    from chat_server.knowledge import export

    if not args.rest or args.rest[0] != "export":
        print("usage: chat311 kb export DIR")
        return 2
    return export.main(args.rest[1:], load_for_command(args))
