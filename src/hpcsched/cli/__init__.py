"""The ``hpcsched`` command: thin Typer wrappers, each a call into one package.

One module per command group; each has ``register(app)``, which adds its commands (or its group)
to the app, and this module calls them in the order ``--help`` lists them. Shared options are
in :mod:`.options`, user errors go through :mod:`.errors`, terminal output is in the ``render*``
modules. Heavy libraries are imported inside the commands, so ``hpcsched --help`` starts fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hpcsched.cli import (
    advise,
    agents,
    bench,
    bus,
    campaign,
    config,
    dashboard,
    llm,
    plan,
    predict,
    report,
    run,
    run_ops,
    simulate,
    swarm,
    trace,
    watch,
)
from hpcsched.cli.options import Group, flag

app = typer.Typer(
    help=(
        "Scheduling workbench and runtime: replay traces under scheduling policies, compare "
        "them, and run workflows with the same policies."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    cls=Group,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = version("hpcsched")
        except PackageNotFoundError:  # run from a source tree that was never installed
            from hpcsched import __version__ as text
        typer.echo(f"hpcsched {text}")
        raise typer.Exit


@app.callback()
def _root(
    ctx: typer.Context,
    show_version: Annotated[
        bool,
        flag("--version", help="print hpcsched's version and exit", callback=_print_version),
    ] = False,
) -> None:
    """Scheduling workbench and runtime: replay traces under scheduling policies, compare them,
    and run workflows with the same policies."""
    config.apply_file_defaults(ctx)


for _module in (
    simulate,
    run,
    run_ops,
    trace,
    report,
    bench,
    dashboard,
    predict,
    advise,
    campaign,
    plan,
    watch,
    agents,
    bus,
    swarm,
    llm,
    config,
):
    _module.register(app)


def _one_line_summaries(group: typer.Typer) -> None:
    """Each command's line in a listing is its docstring's first paragraph as one line (Typer
    would keep the docstring's line breaks there, splitting a sentence mid-way)."""
    for info in group.registered_commands:
        doc = info.help or (info.callback.__doc__ if info.callback else None) or ""
        if info.short_help is None and doc:
            info.short_help = " ".join(doc.strip().split("\n\n")[0].split())
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _one_line_summaries(sub.typer_instance)


_one_line_summaries(app)


def main() -> None:
    # `--dask` may come without a value (a LocalCluster): give Click the value it needs.
    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg == "--dask" and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            argv.insert(i + 1, "local")
            break
    app(args=argv, prog_name="hpcsched")


__all__ = ["app", "main"]
