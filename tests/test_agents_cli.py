"""`chat311 users ...` and `chat311 hours ...` against the real Redis, the accounts store rules, and what every
command says when the service's Redis is not there."""

from __future__ import annotations

import json
import subprocess

import pytest

from chat_server.agents.accounts import Account, AccountError, AccountStore
from chat_server.child_specs import free_port
from tests.support.agents import fresh_prefix
from tests.support.servers import chat311_env, run_chat311


def run(redis_url: str, prefix: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_chat311(chat311_env(redis_url, prefix, CHAT311_LOGGING__JSON="false"), *args, stdin=stdin)


async def test_users_cli(redis_server, redis_client) -> None:  # type: ignore[no-untyped-def]
    prefix = fresh_prefix()
    url = redis_server.url
    done = run(url, prefix, "users", "add", "maria", "--name", "María", "--role", "supervisor",
               "--languages", "en,es", "--max-chats", "4", "--password-stdin", stdin="a long secret pw\n")
    assert done.returncode == 0, done.stderr
    store = AccountStore(redis_client, prefix)
    account = await store.get("maria")
    assert account is not None and account.roles == ["supervisor"] and account.languages == ["en", "es"]
    assert account.max_chats == 4 and account.name == "María"
    stored = await redis_client.hget(f"{prefix}agent:maria", "pw_hash")
    assert stored.startswith(b"$argon2id$") and b"a long secret pw" not in stored
    assert await store.verify("maria", "a long secret pw") is not None
    # Duplicates, short passwords and bad roles are refused with a message.
    dup = run(url, prefix, "users", "add", "maria", "--name", "M", "--password-stdin", stdin="another secret\n")
    assert dup.returncode == 2 and "already exists" in dup.stderr
    short = run(url, prefix, "users", "add", "li", "--name", "Li", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "password" in short.stderr
    listing = run(url, prefix, "users", "list")
    assert "maria" in listing.stdout and "supervisor" in listing.stdout and "secret" not in listing.stdout
    changed = run(url, prefix, "users", "passwd", "maria", "--password-stdin", stdin="a new long password\n")
    assert changed.returncode == 0, changed.stderr
    assert await store.verify("maria", "a long secret pw") is None
    assert await store.verify("maria", "a new long password") is not None
    assert run(url, prefix, "users", "disable", "maria").returncode == 0
    assert await store.verify("maria", "a new long password") is None  # disabled
    assert run(url, prefix, "users", "enable", "maria").returncode == 0
    assert await store.verify("maria", "a new long password") is not None
    # Hours override from the command line (the supervisor's storm switch).
    closed = run(url, prefix, "hours", "close", "--minutes", "30", "--reason", "storm")
    assert closed.returncode == 0 and "open=False" in closed.stdout and "override=closed" in closed.stdout
    assert "override=None" in run(url, prefix, "hours", "clear").stdout
    too_long = run(url, prefix, "hours", "open", "--minutes", "9000")
    assert too_long.returncode == 2 and "4320" in too_long.stderr
    audit = await redis_client.xrange(f"{prefix}audit")
    overrides = [json.loads(f[b"detail"]) | {"by": f[b"actor"].decode()} for _, f in audit
                 if f[b"action"] == b"hours_override"]
    assert [(o["mode"], o["by"]) for o in overrides] == [("closed", "cli"), ("clear", "cli")]  # clear is audited too
    assert overrides[0]["reason"] == "storm" and overrides[0]["minutes"] == 30


async def test_account_validation(redis_client) -> None:  # type: ignore[no-untyped-def]
    store = AccountStore(redis_client, fresh_prefix())
    for bad in (Account("Bad Name", "x"), Account("ok", "x", roles=["god"]), Account("ok", "x", languages=["fr"]),
                Account("ok", "", roles=["agent"]), Account("ok", "x", max_chats=99),
                Account("ok", "Ana\u202eevil"), Account("ok", "Ana\u200bRuiz"), Account("ok", "Ana\nRuiz")):
        with pytest.raises(AccountError):
            await store.create(bad, "long enough password")
    with pytest.raises(AccountError, match="text-direction"):  # residents would read the name backwards
        await store.create(Account("ok", "Ana\u202eevil"), "long enough password")
    await store.create(Account("ana", "Ana María Ruiz-O'Neil"), "long enough password")  # accents and marks stay
    assert await store.verify("nobody", "whatever password") is None
    sup = Account("sue", "Sue", roles=["supervisor"])
    assert sup.has_role("agent") and sup.has_role("supervisor") and not sup.has_role("content")
    assert Account("cat", "Cat", roles=["content"]).takes_chats is False


@pytest.mark.parametrize("command", [("users", "list"), ("hours", "status"), ("apptokens", "list"),
                                     ("apikeys", "list"), ("tickets", "show", "311-1000001"), ("metrics",)])
def test_every_command_says_when_the_service_redis_cannot_be_reached(command: tuple[str, ...]) -> None:
    """Nothing listens on the port: each command exits 1 with what to do, not a connection traceback."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    done = run(url, fresh_prefix(), *command)
    assert done.returncode == 1, done.stderr
    assert "cannot reach Redis at" in done.stderr and "make run" in done.stderr
    assert "Traceback" not in done.stderr
