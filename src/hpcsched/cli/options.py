"""The options several commands share, declared once, and how flags look in ``--help``.

A shared option is an ``Annotated`` type: a command takes it as ``name: XOpt = default``, so the
flag, its help and its Python name are the same wherever it appears (``--json`` is ``as_json:
JsonOpt`` in every command that prints JSON). Options only one command has stay beside it.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup


def flag(*decls: str, help: str, callback: Any = None) -> Any:
    """An on/off option. Typer prints the value type ``<bool>`` after every option, which for a
    flag reads as if it took a value; an empty metavar leaves only ``--x`` (or ``--x/--no-x``).
    A ``callback`` makes it eager (``--version``: acts before any other option is checked)."""
    if callback is not None:
        return typer.Option(*decls, help=help, metavar="", callback=callback, is_eager=True)
    return typer.Option(*decls, help=help, metavar="")


class Group(TyperGroup):
    """A command group whose flags, and its commands', are shown without ``<bool>``: ``--help``,
    Typer's own ``--install-completion``/``--show-completion`` and any flag declared without
    :func:`flag`."""

    def get_help_option(self, ctx: Any) -> Any:
        return _quiet(super().get_help_option(ctx))

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False):
                _quiet(param)
        return params

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:  # a command builds its help option once and keeps it
            command.help = reflow(command.help)
            _quiet(command.get_help_option(ctx))
            for param in command.params:
                if getattr(param, "is_flag", False):
                    _quiet(param)
        return command


def reflow(text: str | None) -> str | None:
    """A docstring's paragraphs as flowing text: Typer joins the lines of the first paragraph
    only, so the others kept their source line breaks and Rich wrapped them again, raggedly.
    A paragraph with an indented or bulleted line, or click's no-rewrap mark, keeps its lines."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    kept = ("\b", " ", "-", "*", "$")
    return "\n\n".join(
        p if any(line.startswith(kept) for line in p.splitlines()) else p.replace("\n", " ")
        for p in paragraphs
    )


def _quiet(option: Any) -> Any:
    if option is not None:
        option.metavar = ""
    return option


def group(help: str, *, no_args_is_help: bool = False) -> typer.Typer:
    """A command group (``hpcsched trace``, ``predict``, ...) whose flags show no value."""
    return typer.Typer(help=help, no_args_is_help=no_args_is_help, cls=Group)


# -- output -------------------------------------------------------------------------------------

JsonOpt = Annotated[
    bool, flag("--json", help="print the result as JSON: one line, the last one on stdout")
]
StrictOpt = Annotated[bool, flag(help="stop at the first malformed line")]

# -- replaying a trace (simulate, compare) --------------------------------------------------------

FilterOpt = Annotated[
    str, typer.Option("--filter", help="input filter: none, strong (SC'15) or rlscheduler (SC'20)")
]
EstimateOpt = Annotated[
    str,
    typer.Option(help="what the policy plans with: requested (user walltime), exact, or a column"),
]
#: --out of a command that writes a job table (hpcsched.workloads.export.TABLE_SUFFIXES)
TABLE_OUT_HELP = (
    "job table to write: .parquet, .csv, .jsonl or .swf[.gz] (the format follows the name)"
)
#: ``hpcsched.policies.classes.DEFAULT_CLASSES``, written here so the CLI starts without Polars
DEFAULT_CLASSES = "size"
ClassesOpt = Annotated[
    str,
    typer.Option(
        help="priority classes (PriorityBF's; every policy's per-class table): size[:90,80], "
        "column:NAME, user:a,b, partition:..., qos:...; for a workflow bottom-level (quartiles)"
    ),
]
ProtocolOpt = Annotated[
    str | None,
    typer.Option(
        help="replay environment: default, or rlscheduler (Zhang et al. SC'20: sticky head, "
        "processors back at end events, their ten 1,024-job windows averaged unless --window); "
        "default: rlscheduler with --filter rlscheduler"
    ),
]
ReleaseOpt = Annotated[
    str,
    typer.Option(
        help="when a job joins the queue: eligible (Slurm's eligible time when the table has "
        "it: held, --begin and dependent jobs) or submit"
    ),
]
ProcsOpt = Annotated[
    int | None, typer.Option(help="machine size in processors (default: the trace header)")
]
UnitOpt = Annotated[
    str,
    typer.Option(
        help="what a job is allocated: cpus (processors) or nodes (whole nodes, Slurm's "
        "exclusive or node-granular allocation; the machine size is then --nodes)"
    ),
]
NodesOpt = Annotated[
    int | None, typer.Option(min=1, help="machine size in nodes, for --unit nodes")
]
SiteOpt = Annotated[
    Path | None,
    typer.Option(
        help="site policy (YAML, see examples/site-local.yaml): partitions, QoS, priority weights"
    ),
]
PartitionsOpt = Annotated[
    str,
    typer.Option(
        help="partitions as separate pools: none (one machine), site (--site's nodes), "
        "nodelist (the nodes the table's jobs ran on; --unit nodes) or sinfo (the local Slurm)"
    ),
]
CycleOpt = Annotated[
    float | None,
    typer.Option(
        help="when the policy decides: once an instant (0) or every SECONDS, as Slurm's "
        "scheduler passes (bf_interval); default: after every event (pyss)"
    ),
]
KillOpt = Annotated[bool, flag(help="kill jobs that run past their timelimit")]

# -- where live tasks run (run, campaign materials --clock live) ----------------------------------

ExecutorOpt = Annotated[
    str, typer.Option(help="local (processes here), dask, or slurm (job steps or jobs)")
]
SlurmModeOpt = Annotated[
    str,
    typer.Option(
        help="with --executor slurm: steps (srun inside this salloc/sbatch allocation) "
        "or jobs (one sbatch job per task)"
    ),
]
PartitionOpt = Annotated[
    str | None,
    typer.Option(help="with --slurm-mode jobs: the partition (default: the cluster's)"),
]
DaskAddressOpt = Annotated[
    str | None, typer.Option(help="Dask scheduler, e.g. tcp://host:8786 (default: local)")
]
DaskWorkersOpt = Annotated[int, typer.Option(help="workers of the local Dask cluster")]
