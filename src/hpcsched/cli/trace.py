"""hpcsched trace convert | synth (and ``pull``, from :mod:`.pull`): job traces in and out;
``synth --scenario`` writes a SWARM scenario's workload (:mod:`.workloads.swarm_scenarios`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from hpcsched.cli import pull
from hpcsched.cli.errors import checked_output, fail, warn_implausible
from hpcsched.cli.options import TABLE_OUT_HELP, JsonOpt, StrictOpt, flag, group

FORMATS = ("sacct", "sacct-json", "swf")
SHOWN_MALFORMED = 5


def _return_freed_memory() -> None:
    """Have Polars' allocator (jemalloc) give freed pages back at once instead of keeping them
    for reuse: reading a 1M-job dump otherwise peaks at ~1.8 GB RSS instead of ~1.2 GB. It
    only takes effect before Polars is loaded (a fresh ``hpcsched`` process); a setting the
    user made is kept."""
    os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")


def convert(
    file: Annotated[
        Path,
        typer.Argument(help="sacct -P text, sacct --json, an SWF trace or a job table (.parquet)"),
    ],
    out: Annotated[Path, typer.Option(help=TABLE_OUT_HELP)],
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="input format: sacct, sacct-json or swf (default: .swf/.swf.gz -> swf, "
            "a JSON object -> sacct-json, else sacct)",
        ),
    ] = None,
    delimiter: Annotated[
        str, typer.Option(help="the field separator sacct was given (--delimiter); sacct only")
    ] = "|",
    fields: Annotated[
        str | None,
        typer.Option(
            help="comma-separated field names in --format order, for sacct --noheader output"
        ),
    ] = None,
    anonymize: Annotated[
        bool,
        flag(
            help="replace users, accounts, uids and paths by keyed HMAC-SHA256 pseudonyms "
            "(stable for one key; key: --anonymize-key, else $HPCSCHED_ANON_KEY, else "
            "~/.config/hpcsched/anon.key, created on first use)"
        ),
    ] = False,
    anonymize_key: Annotated[
        str | None, typer.Option(help="the key for --anonymize (implies --anonymize)")
    ] = None,
    as_json: JsonOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Convert an accounting dump, SWF trace or job table into a job table (Parquet, CSV,
    JSON Lines or SWF, by the --out name).

    Malformed lines are skipped and reported on stderr with file:line (--strict stops instead).
    """
    _return_freed_memory()
    from hpcsched.cli.render import status
    from hpcsched.workloads.export import TABLE_SUFFIXES, write_job_table
    from hpcsched.workloads.load import InputError, load_jobs, sniff
    from hpcsched.workloads.swf import SwfError

    if source is not None and source not in FORMATS:
        fail(f"--from {source!r} is not one of {', '.join(FORMATS)}")
    checked_output(out, *TABLE_SUFFIXES)  # before the read; the format follows the name
    names = [f.strip() for f in fields.split(",") if f.strip()] if fields is not None else None
    if names is not None and not names:
        fail("--fields is empty: give the sacct --format names, e.g. JobID,State,Elapsed")
    try:
        chosen = source or sniff(file, delimiter)  # a Parquet table is rewritten (anonymized)
    except InputError as exc:
        fail(str(exc))
    if chosen != "sacct" and (delimiter != "|" or names is not None):
        fail(f"--delimiter and --fields are for --from sacct, not {chosen}; drop them")
    with status(f"reading {file} as {chosen}"):
        try:  # filter None: an SWF trace as read, without the swf_index a filter adds
            loaded = load_jobs(
                file,
                kind=chosen,
                filter_name=None,
                strict=strict,
                delimiter=delimiter,
                fields=names,
            )
        except InputError as exc:
            fail(str(exc))
        table, malformed = loaded.table, loaded.malformed
        if anonymize or anonymize_key:
            from hpcsched.workloads.anonymize import anonymize as pseudonymise
            from hpcsched.workloads.anonymize import resolve_key

            try:
                key, _ = resolve_key(anonymize_key)
            except (OSError, ValueError) as exc:
                fail(f"cannot get the anonymization key: {exc}")
            table = pseudonymise(table, key)
        try:
            write_job_table(table, out, machine_procs=loaded.machine_procs)
        except SwfError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc} (check the path)")
    warn_implausible(file, loaded.implausible)
    if malformed:
        typer.echo(
            f"hpcsched: warning: {len(malformed)} malformed line(s) skipped in {file}"
            " (--strict stops at the first):",
            err=True,
        )
        for bad in malformed[:SHOWN_MALFORMED]:
            typer.echo(f"  {bad}", err=True)
    counts = table.group_by("state").len().sort("state").iter_rows()
    summary = {
        **loaded.counts,
        "malformed": len(malformed),
        "implausible": len(loaded.implausible),
        "states": {str(state): int(n) for state, n in counts},
        "source": chosen,
        "out": str(out),
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(
        f"wrote {summary['jobs']:,} jobs to {out} ({summary['rows_read']:,} rows read, "
        f"{summary['steps']:,} steps, {len(malformed):,} malformed)"
    )


def synth(
    jobs: Annotated[
        int, typer.Option(help="number of jobs (Lublin–Feitelson model, or --scenario's)")
    ],
    out: Annotated[
        Path,
        typer.Option(
            help="file to write (.gz => gzip); with --scenario a job table: .parquet, .csv, "
            ".jsonl or .swf[.gz] (the format follows the name)"
        ),
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="sacct (default): sacct -a -P -D text of a 9,408-node machine (jobs started by "
            "EASY backfilling, no node shared) with the Frontier study's 60 fields (+ JobID, "
            "User, NodeList, Elapsed, Timelimit) and step rows; swf: a Standard Workload Format "
            "trace (not with --scenario)",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed (same seed => same file)")] = 0,
    malformed: Annotated[
        int,
        typer.Option(help="number of deliberately broken lines to include (not with --scenario)"),
    ] = 0,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="one of the seven SWARM scenarios instead of the Lublin model: "
            "homogeneous_short, heterogeneous_mix, long_job_dominant, high_parallelism, "
            "resource_sparse, bursty_idle, adversarial (jobs with nodes, memory and GPUs for "
            "a 256-node, 2,048 GB, 128-GPU system; arrivals Gamma(n, λ))"
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a synthetic trace (deterministic by seed): realistic sacct/SWF text to test
    readers, or with --scenario a SWARM scenario's workload as a job table."""
    _return_freed_memory()
    if jobs < 1:
        fail(f"--jobs {jobs}: give at least 1 job")
    if malformed < 0:
        fail(f"--malformed {malformed}: give 0 or more broken lines")
    if scenario is not None:
        if fmt is not None or malformed:
            fail(
                "--format and --malformed are for the Lublin trace; with --scenario the --out "
                "name gives the format (.parquet, .csv, .jsonl, .swf): drop them"
            )
        _synth_scenario(scenario, jobs, seed, out, as_json=as_json)
        return
    from hpcsched.cli.render import status
    from hpcsched.workloads.sacct_synth import write_sacct, write_swf_trace

    fmt = fmt or "sacct"
    if fmt not in ("sacct", "swf"):
        fail(f"--format {fmt!r} is not sacct or swf")
    checked_output(out)
    try:
        with status(f"writing {jobs:,} synthetic jobs to {out}"):
            if fmt == "sacct":
                bad = write_sacct(out, jobs, seed=seed, malformed=malformed).malformed_lines
            else:
                bad = write_swf_trace(out, jobs, seed=seed, malformed=malformed)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc} (check the path)")
    if as_json:
        summary = {"jobs": jobs, "format": fmt, "seed": seed, "malformed_lines": bad}
        typer.echo(json.dumps({**summary, "out": str(out)}))
        return
    note = f", broken lines: {', '.join(map(str, bad[:10]))}" if bad else ""
    typer.echo(f"wrote {jobs:,} jobs to {out} ({fmt}{note})")


def _synth_scenario(scenario: str, jobs: int, seed: int, out: Path, *, as_json: bool) -> None:
    """``trace synth --scenario``: the workload written, one summary line (or JSON)."""
    from hpcsched.workloads.export import TABLE_SUFFIXES, table_format, write_job_table
    from hpcsched.workloads.swarm_scenarios import (
        SYSTEM,
        as_swf_jobs,
        describe,
        generate,
        scenario_error,
    )

    problem = scenario_error(scenario)
    if problem is not None:
        fail(f"--scenario: {problem}")
    checked_output(out, *TABLE_SUFFIXES)
    table = generate(scenario, jobs, seed)
    kind = table_format(out)
    try:
        written = as_swf_jobs(table) if kind.startswith("SWF") else table
        write_job_table(written, out, machine_procs=SYSTEM["nodes"])
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc} (check the path)")
    shape = describe(table)
    summary = {"scenario": scenario, "jobs": jobs, "seed": seed, **shape, "format": kind}
    if as_json:
        typer.echo(json.dumps({**summary, "out": str(out)}))
        return
    typer.echo(
        f"wrote {jobs:,} {scenario} jobs (seed {seed}) to {out} ({kind}): arrivals over "
        f"{shape['span_s']:,.0f} s, mean {shape['mean_nodes']:.1f} nodes and "
        f"{shape['mean_mem_gb']:.1f} GB, {100 * shape['gpu_share']:.1f} % with GPUs"
    )


def register(app: typer.Typer) -> None:
    """Add the ``trace`` group (``convert``, ``synth``, ``pull``) to ``app``."""
    trace_app = group("Read, write and collect job traces (sacct, sacct --json, SWF).")
    trace_app.command()(convert)
    trace_app.command()(synth)
    pull.register(trace_app)
    app.add_typer(trace_app, name="trace")
