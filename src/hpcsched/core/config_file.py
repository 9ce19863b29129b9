"""The user's config file: where it is, what it may hold, and one-line errors when it is wrong.

``$HPCSCHED_CONFIG`` names the file; else ``$XDG_CONFIG_HOME/hpcsched/config.toml`` (the XDG
Base Directory spec, when the variable holds an absolute path); else
``~/.config/hpcsched/config.toml``. A file that does not exist is no error: every setting keeps
its built-in default. The file holds defaults only; a flag always overrides it, and for the
language model the environment does too (``HPCSCHED_LLM_URL`` > ``llm_url``).

Top-level keys: ``site`` (advise/watch ``--site``), ``procs`` (``--procs`` of simulate, compare,
report), ``partition`` (``--partition`` of run and campaign), ``llm_url``, ``llm_model``; and the
``[llm]`` table that :mod:`hpcsched.llm.settings` checks key by key.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from pydantic import BaseModel

ENV_CONFIG: Final = "HPCSCHED_CONFIG"
ENV_XDG: Final = "XDG_CONFIG_HOME"

#: each top-level setting and the type it must have, as the error message says it
SETTINGS: Final[dict[str, str]] = {
    "site": "a path (string)",
    "procs": "a positive integer",
    "partition": "a partition name (string)",
    "llm_url": "an http(s) URL (string)",
    "llm_model": "a model name (string)",
}
TABLES: Final = ("llm",)


class ConfigError(ValueError):
    """The config file cannot be used; the message is one line (file, key, what to do)."""


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The file in force: ``$HPCSCHED_CONFIG``, else under ``$XDG_CONFIG_HOME``, else ~/.config."""
    env = os.environ if env is None else env
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG]).expanduser()
    xdg = env.get(ENV_XDG, "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path("~/.config").expanduser()
    return base / "hpcsched" / "config.toml"


def read_file(path: Path) -> dict[str, Any]:
    """The whole TOML document of ``path`` (empty when the file does not exist), unchecked."""
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc} (check the file)") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc} (fix the file)") from None


def load_config(path: Path) -> dict[str, Any]:
    """The top-level settings ``path`` gives (only those it sets), checked: an unknown key or a
    value of the wrong type is a :class:`ConfigError` naming the file, its line and the key."""
    data = read_file(path)
    if not data:
        return {}
    text = path.read_text(encoding="utf-8")
    for key in data:
        if key not in SETTINGS and key not in TABLES:
            known = ", ".join([*SETTINGS, *(f"[{t}]" for t in TABLES)])
            raise ConfigError(
                f"{_where(path, text, key)}: unknown setting {key!r} (known: {known})"
            )
    settings = {key: value for key, value in data.items() if key in SETTINGS}
    from pydantic import ValidationError  # only when there is a file to check

    try:
        checked = _model().model_validate(settings)
    except ValidationError as exc:
        key = str(exc.errors()[0]["loc"][0])
        got = settings.get(key)
        raise ConfigError(
            f"{_where(path, text, key)}: {key} must be {SETTINGS[key]}, not {got!r} "
            f"({type(got).__name__})"
        ) from None
    values = {key: getattr(checked, key) for key in settings}
    if values.get("site"):
        values["site"] = str(Path(values["site"]).expanduser())
    return values


def _where(path: Path, text: str, key: str) -> str:
    """``file:line`` of the line setting ``key`` (tomllib keeps no positions), else ``file``."""
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=|^\s*\[\s*{re.escape(key)}\s*\]")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return f"{path}:{number}"
    return str(path)


@functools.cache
def _model() -> type[BaseModel]:
    """The pydantic model, built on first use so ``hpcsched --help`` never imports pydantic."""
    from pydantic import BaseModel, ConfigDict, Field

    class Settings(BaseModel):
        # strict: TOML has types, so "256" for procs is a mistake to show, not to coerce
        model_config = ConfigDict(extra="forbid", strict=True)

        site: str | None = None
        procs: int | None = Field(default=None, gt=0)
        partition: str | None = Field(default=None, min_length=1)
        llm_url: str | None = Field(default=None, min_length=1)
        llm_model: str | None = Field(default=None, min_length=1)

    return Settings
