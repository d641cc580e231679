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
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert message in str(info.value)


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
