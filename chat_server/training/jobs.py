"""Train & test, publish and rollback — the background work behind the training page and CLI.

One training at a time across every chat_server process (Redis lock); its progress lives in
Redis so any process can show it. Steps: score the published model on the held-out file
(through the running Rasa server), `rasa train` the current training data into a new model
file, score that file (in a short-lived Rasa process), done — nothing reaches residents until
"Publish", which hot-swaps the model in every running Rasa server (`PUT /model` on each of
`rasa.urls`): Rasa loads the new model and keeps serving; conversations live in the Redis tracker
store and carry on. The result names each server and whether it took the model, so a server that
was down is known to still serve the old one. The model it replaced is remembered, so "Rollback"
is one more `PUT /model` on each server.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

from chat_server import bot_model
from chat_server.config import PROJECT_ROOT, Config
from chat_server.conversations.bot_client import describe
from chat_server.heldout import HeldoutRow, read_heldout
from chat_server.training.evaluate import score_model_file, score_running
from chat_server.training.nlu_eval import KbResolver, kb_resolver

log = logging.getLogger("chat311.training")
EPOCHS = re.compile(r"Epochs:\s+(\d+)%")
TRAINED_COMPONENTS = 1  # DIETClassifier prints epoch bars (bot/config.yml)


class Busy(Exception):
    """A training is already running somewhere."""


class PublishError(Exception):
    """No Rasa server took the model; the message says why (per server)."""


class TrainingJobs:
    def __init__(self, redis: Redis, config: Config) -> None:
        self.redis = redis
        self.config = config
        p = f"{config.redis.key_prefix}training"
        self.job_key, self.lock_key, self.history_key = f"{p}:job", f"{p}:lock", f"{p}:published"
        self.score_prefix = f"{p}:score:"
        self.task: asyncio.Task[None] | None = None

    # paths ----------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.config.resolve_path(self.config.training.data_dir)

    @property
    def heldout(self) -> Path:
        return self.config.resolve_path(self.config.training.heldout)

    @property
    def model_dir(self) -> Path:
        cfg = self.config.training.model_dir
        return self.config.resolve_path(cfg) if cfg else bot_model.model_dir()

    # state ----------------------------------------------------------------------
    async def job(self) -> dict[str, Any]:
        raw = await self.redis.get(self.job_key)
        job = json.loads(raw) if raw else {"status": "idle"}
        if job.get("status") == "running" and not await self.redis.exists(self.lock_key):
            job.update(status="failed", message="interrupted (the process running it stopped)")
        return job

    async def _save(self, job: dict[str, Any]) -> None:
        await self.redis.set(self.job_key, json.dumps(job))

    # train & test -----------------------------------------------------------------
    async def start(self, by: str) -> dict[str, Any]:
        ttl = int(self.config.training.train_timeout_s + 900)
        if not await self.redis.set(self.lock_key, by or "?", nx=True, ex=ttl):
            raise Busy("a training is already running")
        name = f"{bot_model.MODEL_PREFIX}content-{time.strftime('%Y%m%dT%H%M%S')}"
        job = {"id": name, "status": "running", "stage": "starting", "progress": 0, "by": by,
               "started_at": time.time(), "finished_at": None, "model_file": None, "before": None,
               "after": None, "message": ""}
        await self._save(job)
        self.task = asyncio.create_task(self._run(job))
        return job

    async def wait(self) -> dict[str, Any]:
        if self.task is not None:
            await self.task
        return await self.job()

    async def _stage(self, job: dict[str, Any], stage: str, progress: float, message: str = "") -> None:
        job.update(stage=stage, progress=round(progress, 1), message=message)
        await self._save(job)

    async def _run(self, job: dict[str, Any]) -> None:
        try:
            rows = read_heldout(self.heldout) if self.heldout.is_file() else []
            kb: KbResolver | None = None
            if rows:
                await self._stage(job, "loading the knowledge base", 1)
                kb = await asyncio.to_thread(kb_resolver)  # labels as nlu-eval does (faq → article topic)
                await self._stage(job, "scoring the published model", 2)
                try:
                    job["before"] = await self._score_published(rows, kb)
                except Exception as exc:  # Rasa down: still train; the page says why there is no "before"
                    log.warning("scoring the published model failed", extra={"error": str(exc)})
                    job["before_error"] = str(exc)[:500]
            await self._stage(job, "training", 10)
            model = await self._train(job)
            job["model_file"] = str(model)
            if kb is not None:
                await self._stage(job, "scoring the new model", 88)
                job["after"] = await score_model_file(model, rows, PROJECT_ROOT / "var" / "training", kb)
            job.update(status="done", stage="done", progress=100, finished_at=time.time(),
                       message="" if rows else f"no held-out file at {self.heldout}; not scored")
            await self._save(job)
            log.info("training done", extra={"model": model.name, "by": job["by"]})
        except Exception as exc:  # the page shows the reason; the server keeps running
            log.exception("training failed")
            job.update(status="failed", finished_at=time.time(), message=str(exc)[-2000:])
            await self._save(job)
        finally:
            await self.redis.delete(self.lock_key)

    async def _score_published(self, rows: list[HeldoutRow], kb: KbResolver) -> dict[str, Any] | None:
        url, status = await self._first_status()
        digest = hashlib.sha256(self.heldout.read_bytes()).hexdigest()[:12]
        key = f"{self.score_prefix}{status.get('model_file', '?')}:{digest}"
        cached = await self.redis.get(key)
        if cached:
            scores: dict[str, Any] = json.loads(cached)
            return scores
        result = await score_running(url, self.config.rasa.token, rows, kb)
        result["model_file"] = status.get("model_file")
        await self.redis.set(key, json.dumps(result), ex=30 * 86400)
        return result

    async def _train(self, job: dict[str, Any]) -> Path:
        self.model_dir.mkdir(parents=True, exist_ok=True)
        target = self.model_dir / f"{job['id']}.tar.gz"
        cmd = [
            str(bot_model.RASA_BIN), "train",
            "--config", str(bot_model.BOT_DIR / "config.yml"),
            "--domain", str(bot_model.BOT_DIR / "domain.yml"),
            "--data", *map(str, bot_model.training_files(self.data_dir)),
            "--out", str(self.model_dir),
            "--fixed-model-name", job["id"],
        ]
        log_path = PROJECT_ROOT / "var" / "log" / f"{job['id']}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=bot_model.BOT_DIR, env={**os.environ, **bot_model.rasa_env()},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        component, last_pct = 0, -1
        assert proc.stdout is not None
        deadline = time.monotonic() + self.config.training.train_timeout_s
        with open(log_path, "wb") as logf:
            while True:
                remaining = deadline - time.monotonic()
                try:
                    async with asyncio.timeout(max(remaining, 0.1)):
                        chunk = await proc.stdout.read(4096)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
                    limit = self.config.training.train_timeout_s
                    raise RuntimeError(f"training took longer than {limit:.0f} s") from None
                if not chunk:
                    break
                logf.write(chunk)
                matches = EPOCHS.findall(chunk.decode(errors="replace"))
                if matches:
                    for pct_text in matches:
                        pct = int(pct_text)
                        if pct < last_pct:
                            component = min(component + 1, TRAINED_COMPONENTS - 1)
                        last_pct = pct
                    share = (component + last_pct / 100) / TRAINED_COMPONENTS
                    if abs(10 + 75 * share - job["progress"]) >= 1:
                        await self._stage(job, "training", 10 + 75 * share)
        code = await proc.wait()
        if code != 0 or not target.exists():
            tail = log_path.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"rasa train failed (exit {code}); log {log_path}:\n{tail}")
        await self._stage(job, "training", 86)
        return target

    # publish / rollback ----------------------------------------------------------
    async def _status_of(self, session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
        async with session.get(f"{url}/status", params={"token": self.config.rasa.token}) as r:
            if r.status != 200:  # not raise_for_status: its message carries the URL with the token
                raise PublishError(f"HTTP {r.status}")
            return dict(await r.json())

    async def _first_status(self) -> tuple[str, dict[str, Any]]:
        """The first Rasa server (in `rasa.urls` order) that answers, and its `/status`."""
        failures = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for url in self.config.rasa.servers():
                try:
                    return url, await self._status_of(session, url)
                except (aiohttp.ClientError, TimeoutError, PublishError) as exc:
                    failures.append(f"{url} ({describe(exc)})")
        raise PublishError("no Rasa server answers: " + ", ".join(failures))

    async def rasa_status(self) -> dict[str, Any]:
        return (await self._first_status())[1]

    async def servers_status(self) -> list[dict[str, Any]]:
        """Each Rasa server and the model it serves: after a partial publish they may differ."""
        async def one(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
            try:
                return {"url": url, "ok": True, "model_file": (await self._status_of(session, url)).get("model_file")}
            except (aiohttp.ClientError, TimeoutError, PublishError) as exc:
                return {"url": url, "ok": False, "error": describe(exc)}

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            return list(await asyncio.gather(*(one(session, url) for url in self.config.rasa.servers())))

    async def _load_model(self, model_file: str) -> list[dict[str, Any]]:
        """`PUT /model` on every Rasa server at once: `[{url, ok, error}]`, raising if none took it."""
        path = Path(model_file)
        if not path.is_file():
            raise PublishError(f"model file {model_file} does not exist")

        async def load(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
            try:
                async with session.put(f"{url}/model", params={"token": self.config.rasa.token},
                                       json={"model_file": str(path.resolve())}) as r:
                    if r.status >= 300:
                        return {"url": url, "ok": False,
                                "error": f"Rasa refused the model (HTTP {r.status}): {(await r.text())[:500]}"}
            except (aiohttp.ClientError, TimeoutError) as exc:
                return {"url": url, "ok": False, "error": describe(exc)}
            return {"url": url, "ok": True, "error": None}

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
            servers = list(await asyncio.gather(*(load(session, url) for url in self.config.rasa.servers())))
        failed = [s for s in servers if not s["ok"]]
        if len(failed) == len(servers):
            raise PublishError("; ".join(f"{s['url']}: {s['error']}" for s in failed))
        if failed:
            log.warning("model not loaded on every Rasa server",
                        extra={"model": path.name, "failed": [s["url"] for s in failed]})
        return servers

    async def history(self, count: int = 20) -> list[dict[str, Any]]:
        return [json.loads(x) for x in await self.redis.lrange(self.history_key, 0, count - 1)]

    async def publish(self, by: str, model_file: str | None = None) -> dict[str, Any]:
        """Serve `model_file` (default: the last successful training) on every Rasa server; the entry's
        `servers` says which took it. Fails only when none did."""
        if model_file is None:
            job = await self.job()
            if job.get("status") != "done" or not job.get("model_file"):
                raise PublishError("nothing to publish: train a model first")
            model_file = str(job["model_file"])
        previous = self._locate_model(str((await self.rasa_status()).get("model_file") or ""))
        servers = await self._load_model(model_file)
        entry = {"action": "publish", "model_file": model_file, "previous": previous, "by": by, "ts": time.time(),
                 "servers": servers}
        await self.redis.lpush(self.history_key, json.dumps(entry))
        await self.redis.ltrim(self.history_key, 0, 199)
        log.info("model published", extra={"model": Path(model_file).name, "by": by})
        self._prune_models(keep={model_file, previous})
        return entry

    async def rollback(self, by: str) -> dict[str, Any]:
        """Serve the model the last publish (or rollback) replaced."""
        history = await self.history(1)
        if not history or not history[0].get("previous"):
            raise PublishError("there is no previous model to roll back to")
        last = history[0]
        target = self._locate_model(str(last["previous"]))
        servers = await self._load_model(target)
        entry = {"action": "rollback", "model_file": target, "previous": last["model_file"], "by": by,
                 "ts": time.time(), "servers": servers}
        await self.redis.lpush(self.history_key, json.dumps(entry))
        log.info("model rolled back", extra={"model": Path(target).name, "by": by})
        return entry

    def _locate_model(self, model_file: str) -> str:
        """The full path of a served model: Rasa's `/status` names only the file, which lives in
        the training model directory (content models) or the bot's model directory (`make train`)."""
        if not model_file or Path(model_file).is_absolute():
            return model_file
        name = Path(model_file).name
        for directory in (self.model_dir, bot_model.model_dir(), bot_model.BOT_DIR):
            if (directory / name).is_file():
                return str(directory / name)
        return model_file

    def _prune_models(self, keep: set[str]) -> None:
        """Keep the newest `keep_models` content models (and whatever is or was just served)."""
        bot_model.prune(self.model_dir.glob(f"{bot_model.MODEL_PREFIX}content-*.tar.gz"),
                        newest=self.config.training.keep_models, keep={Path(k).name for k in keep})
