"""Configuration: one YAML file plus CHAT311_* overrides, validated with messages naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chat_server.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_config_is_valid() -> None:
    config = load_config(ROOT / "chat311.yml", environ={})
    assert config.server.port == 8080
    assert config.language.supported == ["en", "es"]
    assert config.hours.timezone == "America/New_York"


def test_env_overrides_and_redis_url(tmp_path: Path) -> None:
    config = load_config(
        ROOT / "chat311.yml",
        environ={"CHAT311_SERVER__PORT": "9191", "CHAT311_LIMITS__MAX_MESSAGE_CHARS": "500",
                 "REDIS_URL": "redis://db.example:6379/2", "CHAT311_SERVER__ALLOWED_ORIGINS": "[https://city.gov]"},
    )
    assert config.server.port == 9191
    assert config.limits.max_message_chars == 500
    assert config.redis.url == "redis://db.example:6379/2"
    assert config.server.allowed_origins == ["https://city.gov"]


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("rasa:\n  timout_s: 3\n", "rasa.timout_s: unknown key (did you mean 'timeout_s'?)"),
        ("server:\n  port: eighty\n", "server.port: expected an integer, got 'eighty'"),
        ("limits:\n  max_message_chars: true\n", "limits.max_message_chars: expected an integer"),
        ("language:\n  supported: en\n", "language.supported: expected a list"),
        ("servr:\n  port: 1\n", "servr: unknown key (did you mean 'server'?)"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("server: [\n", "not valid YAML"),
        # probe U: the shipped token is public; Rasa's API (every conversation's tracker) must not take it remotely
        ("rasa:\n  url: http://10.0.0.5:5005\n", "rasa: token: a Rasa server off this machine needs your own"),
        ("rasa:\n  urls: [http://127.0.0.1:5005, http://rasa-2.city.internal:5005]\n", "rasa: token:"),
        ("server:\n  proxy_hops: 0\n", "server: proxy_hops must be 1 or more"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert message in str(info.value)


def test_a_remote_rasa_with_its_own_token_and_a_local_one_with_the_default_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.yml"
    path.write_text("rasa:\n  url: http://10.0.0.5:5005\n  token: a-secret-of-our-own\n")
    assert load_config(path, environ={}).rasa.url == "http://10.0.0.5:5005"
    path.write_text("rasa:\n  urls: [http://127.0.0.1:5005, http://localhost:5006, 'http://[::1]:5007']\n")
    assert len(load_config(path, environ={}).rasa.servers()) == 3


def test_bad_env_override_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"server\.port: expected an integer"):
        load_config(ROOT / "chat311.yml", environ={"CHAT311_SERVER__PORT": "lots"})


def test_cli_fails_fast_on_bad_config(tmp_path: Path) -> None:
    path = tmp_path / "typo.yml"
    path.write_text("server:\n  prot: 8080\n")
    result = subprocess.run([sys.executable, "-m", "chat_server.cli", "--config", str(path), "run"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2
    assert "server.prot: unknown key (did you mean 'port'?)" in result.stderr


@pytest.mark.parametrize("section", ["console", "routing"], ids=["new place", "old place (still accepted)"])
def test_console_settings_load_from_either_place(tmp_path: Path, section: str) -> None:
    path = tmp_path / f"{section}.yml"
    path.write_text(f"{section}:\n  session_ttl_s: 600\n  login_max_failures: 2\n  dispositions: [done]\n"
                    "  canned_responses: [{key: hi, en: Hello}]\n"
                    + ("routing:\n" if section != "routing" else "") + "  accept_timeout_s: 12\n")
    config = load_config(path, environ={})
    assert (config.console.session_ttl_s, config.console.login_max_failures) == (600, 2)
    assert config.console.dispositions == ["done"]
    assert [c.key for c in config.console.canned_responses] == ["hi"]
    assert config.routing.accept_timeout_s == 12
    # either environment form overrides the shipped file's console section, as the old one did before the move
    prefix = f"CHAT311_{section.upper()}__"
    shipped = load_config(ROOT / "chat311.yml", environ={f"{prefix}SESSION_TTL_S": "900",
                                                           f"{prefix}LOGIN_MAX_FAILURES": "3"})
    assert (shipped.console.session_ttl_s, shipped.console.login_max_failures) == (900, 3)
    assert [c.key for c in shipped.console.canned_responses][:1] == ["greeting"]
    via_overrides = load_config(path, environ={}, overrides={section: {"login_max_failures": 4}})
    assert via_overrides.console.login_max_failures == 4


def test_old_and_new_place_of_one_console_key_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "both.yml"
    path.write_text("routing:\n  session_ttl_s: 600\nconsole:\n  session_ttl_s: 900\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(path) in str(info.value)
    assert "both routing.session_ttl_s and console.session_ttl_s are set" in str(info.value)
    with pytest.raises(ConfigError, match="environment: both CHAT311_ROUTING__LOGIN_WINDOW_S and "
                                          "CHAT311_CONSOLE__LOGIN_WINDOW_S are set"):
        load_config(ROOT / "chat311.yml", environ={"CHAT311_ROUTING__LOGIN_WINDOW_S": "60",
                                                   "CHAT311_CONSOLE__LOGIN_WINDOW_S": "90"})
    with pytest.raises(ConfigError, match=r"console: login_max_failures_per_ip must be >= login_max_failures"):
        load_config(ROOT / "chat311.yml", environ={"CHAT311_ROUTING__LOGIN_MAX_FAILURES": "50"})


def test_servers_run_on_the_configured_event_loop() -> None:
    """`server.uvloop` picks the loop `chat311 run` and `serve` run on (uvloop by default)."""
    import asyncio

    from chat_server.runner import run_loop

    seen: list[str] = []

    async def main() -> None:
        seen.append(type(asyncio.get_running_loop()).__module__)

    for environ in ({}, {"CHAT311_SERVER__UVLOOP": "false"}):
        run_loop(load_config(ROOT / "chat311.yml", environ=environ), main())
    assert seen[0].startswith("uvloop") and seen[1].startswith("asyncio"), seen
