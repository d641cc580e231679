"""The resident copy (chat_server/resident_texts/<language>.yml): checked at startup with errors that
name the file and key, the phone number and staffed hours taken from config, and the bot reading the
same files."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from chat_server import texts
from chat_server.config import Config, ConfigError, load_config
from chat_server.texts import TEXTS_DIR, TextsError, describe_week, load_texts, text

ROOT = Path(__file__).resolve().parent.parent
DAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
Change = Callable[[dict], object]
DAYS_ES = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")


@pytest.fixture()
def copy_dir(tmp_path: Path) -> Path:
    for lang in ("en", "es"):
        shutil.copy(TEXTS_DIR / f"{lang}.yml", tmp_path / f"{lang}.yml")
    return tmp_path


def _edit(directory: Path, lang: str, change: Change) -> None:
    path = directory / f"{lang}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_shipped_copy_loads_in_both_languages() -> None:
    copy = load_texts()
    assert copy.days == {"en": DAYS_EN, "es": DAYS_ES}
    for section in ("server", "bot"):
        assert all(set(v) == {"en", "es"} for v in copy.sections[section].values()), section


@pytest.mark.parametrize(("lang", "change", "field", "words"), [
    ("es", lambda d: d["server"].pop("too_long"), "server.too_long", "missing"),
    ("es", lambda d: d["server"].update(too_long="Demasiado largo."), "server.too_long", "placeholders"),
    ("es", lambda d: d["bot"].update(extra_key="hola"), "bot.extra_key", "not in"),
    ("en", lambda d: d["server"].update(busy="  "), "server.busy", "non-empty"),
    ("en", lambda d: d["server"].update(busy="Wait {a moment"), "server.busy", "bad {placeholder}"),
    ("es", lambda d: d.update(days=d["days"][:6]), "days", "7 day names"),
    ("en", lambda d: d.pop("bot"), "bot", "mapping"),
])
def test_invalid_copy_is_refused_naming_the_file_and_key(copy_dir: Path, lang: str, change: Change, field: str,
                                                          words: str) -> None:
    _edit(copy_dir, lang, change)
    with pytest.raises(TextsError) as err:
        load_texts(copy_dir)
    message = str(err.value)
    assert f"{lang}.yml: {field}:" in message and words in message, message


def test_a_key_written_twice_is_refused(copy_dir: Path) -> None:
    """Two `photo_noted` texts in one file: YAML kept the later one without a word, and residents got the wrong
    text. Now an error that names the file, the key and both lines."""
    path = copy_dir / "es.yml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "server:\n", "server:\n  busy: Un momento.\n", 1), encoding="utf-8")
    with pytest.raises(TextsError) as err:
        load_texts(copy_dir)
    assert "es.yml" in str(err.value) and "'busy' is written twice" in str(err.value), str(err.value)


def test_the_bot_cannot_be_given_a_config_value(copy_dir: Path) -> None:
    """The action server has no chat_server config, so {phone_311} in a bot text would reach residents raw."""
    for lang in ("en", "es"):
        _edit(copy_dir, lang, lambda d: d["bot"].update(ask_photo="Call {phone_311}"))
    with pytest.raises(TextsError, match=r"en\.yml: bot\.ask_photo: the bot cannot fill"):
        load_texts(copy_dir)


def test_no_phone_number_or_hours_are_written_in_the_copy() -> None:
    """They come from config: the copy says {phone_311} and {staffed_hours}."""
    for lang in ("en", "es"):
        raw = (TEXTS_DIR / f"{lang}.yml").read_text(encoding="utf-8")
        assert "336-7600" not in raw
        assert "7 am" not in raw and "7 pm" not in raw


@pytest.fixture()
def restore_config() -> Iterator[None]:
    yield
    texts.use_config(Config())


def test_phone_number_and_hours_come_from_config(tmp_path: Path, restore_config: None) -> None:
    path = tmp_path / "chat311.yml"
    path.write_text("contact:\n  phone_311: 980-555-0311\nhours:\n  weekly:\n    mon: ['08:00-17:00']\n"
                    "    tue: ['08:00-17:00']\n    sat: ['09:00-13:00']\n", encoding="utf-8")
    texts.use_config(load_config(path))
    assert text("no_escalation", "en").startswith(
        "Live agents are not available right now. You can call 311 (980-555-0311), Monday–Tuesday 8 am–5 pm; "
        "Saturday 9 am–1 pm, or")
    spanish = text("no_escalation", "es")
    assert "(980-555-0311), de lunes a martes de 8 am a 5 pm; los sábados de 9 am a 1 pm," in spanish
    assert "980-555-0311" in text("bot_unavailable", "es")


def test_the_default_config_tells_the_city_defaults(restore_config: None) -> None:
    assert "call 311 (704-336-7600), Monday–Friday 7 am–7 pm," in text("no_escalation", "en")
    assert "311 (704-336-7600), de lunes a viernes de 7 am a 7 pm," in text("no_escalation", "es")


def test_a_phone_number_that_is_not_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chat311.yml"
    path.write_text("contact:\n  phone_311: call us\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="phone_311"):
        load_config(path)


@pytest.mark.parametrize(("weekly", "en", "es"), [
    ({d: ["07:00-19:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
     "Monday–Friday 7 am–7 pm", "de lunes a viernes de 7 am a 7 pm"),
    ({"mon": ["07:00-12:00", "13:00-19:30"], "sun": ["10:00-24:00"]},
     "Monday 7 am–12 pm and 1 pm–7:30 pm; Sunday 10 am–midnight",
     "los lunes de 7 am a 12 pm y de 1 pm a 7:30 pm; los domingos de 10 am a medianoche"),
    ({"mon": ["07:00-19:00"], "wed": ["07:00-19:00"]}, "Monday 7 am–7 pm; Wednesday 7 am–7 pm",
     "los lunes de 7 am a 7 pm; los miércoles de 7 am a 7 pm"),
    ({}, "no staffed hours", "sin horario de atención"),
])
def test_staffed_hours_read_as_residents_say_them(weekly: dict[str, list[str]], en: str, es: str) -> None:
    assert describe_week(weekly, "en", DAYS_EN) == en
    assert describe_week(weekly, "es", DAYS_ES) == es


def test_a_placeholder_the_caller_left_out_stays_visible_instead_of_failing() -> None:
    assert text("too_long", "en") == "That message is too long ({limit} characters at most). Please shorten it."
    assert text("too_long", "es", limit=800).startswith("Ese mensaje es demasiado largo (máximo 800 caracteres)")


def test_the_bot_reads_its_copy_from_the_same_files() -> None:
    script = ("import sys; sys.path.insert(0, 'bot'); from actions.texts import t; "
              "print(t('ask_photo', 'es')); print(t('submit', 'en'))")
    out = subprocess.run([str(ROOT / "bot" / ".venv" / "bin" / "python"), "-c", script], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True).stdout.splitlines()
    shipped = load_texts().sections["bot"]
    assert out == [shipped["ask_photo"]["es"], shipped["submit"]["en"]]
