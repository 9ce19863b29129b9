"""Where the language model is and how long to wait for it: flags > environment > config file.

- Environment: ``HPCSCHED_LLM_URL``, ``HPCSCHED_LLM_MODEL``, ``HPCSCHED_LLM_API_KEY``.
- File: ``~/.config/hpcsched/config.toml`` (``$XDG_CONFIG_HOME``, or ``HPCSCHED_CONFIG`` names
  another; :mod:`hpcsched.core.config_file`): top-level ``llm_url``, ``llm_model``, or section
  ``[llm]`` with ``url``, ``model``, ``timeout``, ``deadline``, ``retries``, ``max_tokens``,
  ``temperature``, ``images``, ``schema_mode``.

The API key comes from the environment only. A config file holding one is refused (files get
copied, committed and backed up), and the key is a :class:`pydantic.SecretStr`: reprs show
``**********``, and :func:`redact` removes it from any text before it reaches an error message,
a log or a file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from hpcsched.core.config_file import ConfigError, load_config, read_file
from hpcsched.core.config_file import config_path as core_config_path

ENV_URL: Final = "HPCSCHED_LLM_URL"
ENV_MODEL: Final = "HPCSCHED_LLM_MODEL"
ENV_KEY: Final = "HPCSCHED_LLM_API_KEY"

#: The keys the ``[llm]`` section may hold (never the key itself).
FILE_KEYS: Final = (
    "url",
    "model",
    "timeout",
    "deadline",
    "retries",
    "max_tokens",
    "temperature",
    "images",
    "schema_mode",
)

SchemaMode = Literal["auto", "json_schema", "json_object"]


class SettingsError(ValueError):
    """A setting the user gave cannot be used; the message is one line (what, where, what to do)."""


class LLMSettings(BaseModel):
    """One endpoint and the limits of every call to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None  #: base URL of the OpenAI-compatible API (``.../v1``)
    model: str | None = None  #: model name; None: the first of ``/v1/models``
    api_key: SecretStr | None = None
    timeout: float = Field(default=60.0, gt=0)  #: seconds one HTTP attempt may take
    deadline: float = Field(default=120.0, gt=0)  #: seconds one call may take, retries included
    retries: int = Field(default=2, ge=0, le=10)  #: re-sends after a 5xx or a connection error
    max_tokens: int = Field(default=512, gt=0)
    temperature: float = Field(default=0.0, ge=0, le=2)
    images: bool = False  #: the endpoint takes image parts (a vision model); else none are sent
    #: how to ask for JSON: OpenAI's ``json_schema``, ``json_object`` + ``schema`` (the form
    #: llama-cpp-python's server takes), or ``auto`` (the first, then the second on a 400/422)
    schema_mode: SchemaMode = "auto"
    #: where each value came from (flag, env, file or default), for ``hpcsched llm check``
    sources: dict[str, str] = Field(default_factory=dict)

    @property
    def configured(self) -> bool:
        return bool(self.url)

    def endpoint(self, path: str) -> str:
        """``path`` (``chat/completions``, ``models``) under the base URL."""
        if not self.url:
            raise SettingsError(f"no language model endpoint: set {ENV_URL} or pass --llm-url")
        return f"{self.url.rstrip('/')}/{path.lstrip('/')}"

    def secret(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key else None

    def public(self) -> dict[str, Any]:
        """Every setting fit to print or write: the key only as whether it is set."""
        data = self.model_dump(exclude={"api_key", "sources"})
        data["api_key"] = "set" if self.api_key else "not set"
        return data


def normalise_url(url: str) -> str:
    """A base URL ending in ``/v1`` when the user gave only a host (``http://127.0.0.1:8765``)."""
    text = url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            f"LLM URL {redact_url(text)!r} is not an http(s) URL (e.g. http://127.0.0.1:8765/v1)"
        )
    return text + "/v1" if parts.path in ("", "/") else text


def redact_url(url: str) -> str:
    """The URL without user:password (a key may sit there too)."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
        return parts._replace(netloc=netloc).geturl()
    return url


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every secret replaced by ``***`` (keys of 4 characters or more)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file in force (:func:`hpcsched.core.config_file.config_path`)."""
    return core_config_path(env)


def read_config(path: Path) -> dict[str, Any]:
    """The ``[llm]`` section of ``path``, with the top-level ``llm_url``/``llm_model`` as its
    ``url``/``model`` (empty when the file does not exist)."""
    try:
        data = read_file(path)
        top = load_config(path)
    except ConfigError as exc:
        raise SettingsError(str(exc)) from None
    section = data.get("llm", {})
    if not isinstance(section, dict):
        raise SettingsError(f"{path}: [llm] must be a table (write [llm] on a line of its own)")
    if "api_key" in section:
        raise SettingsError(
            f"{path}: [llm] holds api_key; keys are read from {ENV_KEY} only, never from a file "
            "(remove the line and export the variable)"
        )
    unknown = sorted(set(section) - set(FILE_KEYS))
    if unknown:
        raise SettingsError(
            f"{path}: [llm] has unknown key(s) {', '.join(unknown)} (known: {', '.join(FILE_KEYS)})"
        )
    merged = dict(section)
    for key, name in (("url", "llm_url"), ("model", "llm_model")):
        if name in top:
            if key in section:
                raise SettingsError(
                    f"{path}: both {name} and [llm] {key} are set; keep one of them"
                )
            merged[key] = top[name]
    return merged


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> LLMSettings:
    """The settings in force: each value from the flags, else the environment, else the file.

    ``flags`` with a value of None count as not given."""
    env = os.environ if env is None else env
    file_path = path or config_path(env)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, value in read_config(file_path).items():
        values[key], sources[key] = value, f"file {file_path}"
    for key, name in (("url", ENV_URL), ("model", ENV_MODEL)):
        if env.get(name):
            values[key], sources[key] = env[name], f"env {name}"
    for key, value in (flags or {}).items():
        if value is not None:
            values[key], sources[key] = value, "flag"
    if env.get(ENV_KEY):
        values["api_key"], sources["api_key"] = SecretStr(env[ENV_KEY]), f"env {ENV_KEY}"
    if values.get("url"):
        values["url"] = normalise_url(str(values["url"]))
    try:
        return LLMSettings(**values, sources=sources)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = sources.get(str(first["loc"][0]), "default") if first["loc"] else "settings"
        field = ".".join(str(p) for p in first["loc"])
        raise SettingsError(f"LLM setting {field} ({where}): {first['msg']}") from None
