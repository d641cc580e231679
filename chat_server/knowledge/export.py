"""`chat311 kb export DIR`: write the published articles back as YAML files, so staff edits can be
reviewed and committed (`chat311 kb export training_data/knowledge && git diff`).

Why an export step and not writing the file on every publish: several processes (maybe on several
hosts, maybe with a read-only install directory) serve the same Redis, and a repository change
deserves a reviewed commit; Redis stays the live copy, files the reviewed one. Each article goes
to the file it was loaded from (`<department folder>/<id>.yml`), an article written on the content page to its
department's folder (`other/` for a department no file has yet); retired articles' files are removed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import yaml

from chat_server import redis_connect
from chat_server.knowledge.store import ArticleStore, Version
from chat_server.redis_values import text as redis_text


def article_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=110)


def write_articles(versions: dict[str, Version], out_dir: Path) -> list[Path]:
    """Write each published article to its file; only files whose content changed are rewritten."""
    written = []
    folders = {v.data["department"]: Path(v.file).parent.as_posix() for v in versions.values() if v.data and v.file}
    for article_id, version in sorted(versions.items()):
        if version.data is None:
            continue
        path = out_dir / (version.file or f"{folders.get(version.data['department'], 'other')}/{article_id}.yml")
        text = article_yaml(version.data)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


async def _export(redis_url: str, prefix: str, out_dir: Path) -> tuple[list[Path], list[Path]]:
    redis = redis_connect.async_client(redis_url)
    try:
        store = ArticleStore(redis, prefix)
        current = await store.all_current()
        retired = []
        for article_id in set(await redis.hkeys(f"{store.kb_prefix}ver")) - {a.encode() for a in current}:
            history = await store.history(redis_text(article_id))
            if history and history[0].file and (out_dir / history[0].file).exists():
                (out_dir / history[0].file).unlink()
                retired.append(out_dir / history[0].file)
        return write_articles(current, out_dir), retired
    finally:
        await redis.aclose()


def main(argv: list[str], config: Any) -> int:
    ap = argparse.ArgumentParser(prog="chat311 kb export", description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=Path, help="where to write <department>/<id>.yml (e.g. training_data/knowledge)")
    args = ap.parse_args(argv)
    try:
        written, removed = asyncio.run(_export(config.redis.effective_url(), config.redis.key_prefix, args.dir))
    except OSError as exc:
        print(f"kb export: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    for path in removed:
        print(f"removed {path} (retired)")
    print(f"{len(written)} written, {len(removed)} removed")
    return 0
