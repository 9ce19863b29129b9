"""``hpcsched config show/path``, and the config file's defaults handed to every command.

The file's ``site``, ``procs`` and ``partition`` become Click's ``default_map`` on the root
context, so each command whose option is ``--site``, ``--procs`` or ``--partition`` starts from
the file's value and a flag still overrides it (Click's order: command line > environment >
``default_map`` > the default). The language model's endpoint is not in the map: there the
environment outranks the file (flag > ``HPCSCHED_LLM_*`` > file), which ``llm/settings.py``
resolves itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import typer

from hpcsched.cli.errors import fail
from hpcsched.cli.options import JsonOpt, group

#: setting of the file -> the option it gives a default to, wherever a command has it
OPTIONS: Final = {"site": "--site", "procs": "--procs", "partition": "--partition"}
#: what each setting is when neither a flag nor the file gives it
BUILT_IN: Final = {
    "site": "none (advise needs --site; watch asks scontrol)",
    "procs": "none (the trace's header, or the nodes a sacct dump names)",
    "partition": "none (the cluster's default partition)",
    "llm_url": "none (no language model)",
    "llm_model": "none (the first model the endpoint lists)",
}


def file_settings() -> tuple[Path, dict[str, Any]]:
    """The config file in force and the settings it gives; a bad file is one error line."""
    from hpcsched.core.config_file import ConfigError, config_path, load_config

    path = config_path()
    try:
        return path, load_config(path)
    except ConfigError as exc:
        fail(str(exc))


def apply_file_defaults(ctx: typer.Context) -> None:
    """Give the root context a ``default_map`` from the file (nothing when there is none).
    ``config`` reads the file itself: ``config path`` must work while the file is broken."""
    if ctx.invoked_subcommand == "config":
        return
    _, settings = file_settings()
    given = {OPTIONS[key]: value for key, value in settings.items() if key in OPTIONS}
    if given:
        ctx.default_map = _default_map(ctx.command, given)


def _default_map(command: Any, given: dict[str, Any]) -> dict[str, Any]:
    """Click's nested ``default_map`` ({command: {param: value}}, groups nested) of every
    command that has one of the options in ``given``."""
    found: dict[str, Any] = {}
    for param in command.params:
        for opt in getattr(param, "opts", ()):
            if opt in given and param.name:
                found[param.name] = given[opt]
    for name, sub in getattr(command, "commands", {}).items():  # a group's commands
        inner = _default_map(sub, given)
        if inner:
            found[name] = inner
    return found


def from_file(ctx: typer.Context, name: str) -> bool:
    """Whether the command's parameter ``name`` has its value from the config file."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "DEFAULT_MAP"


def partition_for(ctx: typer.Context, slurm_mode: str, partition: str | None) -> str | None:
    """``--partition`` as the executor takes it: the file's partition is a default for
    ``--slurm-mode jobs``; steps run in the current allocation, where only a flag is an error."""
    if slurm_mode != "jobs" and from_file(ctx, "partition"):
        return None
    return partition


def effective() -> tuple[Path, list[dict[str, str]]]:
    """Each setting's value in force and where it comes from (env, file or default)."""
    from hpcsched.llm.settings import SettingsError, load_settings

    path, settings = file_settings()
    try:
        llm = load_settings({})
    except SettingsError as exc:
        fail(str(exc))
    rows = []
    for key, built_in in BUILT_IN.items():
        value: Any = settings.get(key)
        source = "file" if key in settings else "default"
        if key.startswith("llm_"):
            field = key.removeprefix("llm_")
            value = getattr(llm, field)
            origin = llm.sources.get(field, "default")
            source = origin if origin.startswith("env") else origin.split(" ")[0]
        rows.append(
            {
                "setting": key,
                "value": built_in if value is None else str(value),
                "source": source,
            }
        )
    return path, rows


def show(as_json: JsonOpt = False) -> None:
    """Print each setting in force and where it comes from: env, the file, or the default.
    A flag on a command overrides all of them."""
    path, rows = effective()
    exists = path.is_file()
    if as_json:
        typer.echo(json.dumps({"file": str(path), "exists": exists, "settings": rows}))
        return
    from hpcsched.cli.render_config import settings_table

    settings_table(path, exists, rows)


def path() -> None:
    """Print the config file's path ($HPCSCHED_CONFIG, else $XDG_CONFIG_HOME/hpcsched/config.toml,
    else ~/.config/hpcsched/config.toml), whether or not it exists yet."""
    from hpcsched.core.config_file import config_path

    typer.echo(str(config_path()))


def register(app: typer.Typer) -> None:
    """Add the ``config`` group (``show``, ``path``) to ``app``."""
    config_app = group(
        "The config file of defaults (~/.config/hpcsched/config.toml): what is in force.",
        no_args_is_help=True,
    )
    config_app.command("show")(show)
    config_app.command("path")(path)
    app.add_typer(config_app, name="config")
