"""hpcsched campaign materials: the materials-discovery campaign under a policy, sim or live."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hpcsched.cli.config import partition_for
from hpcsched.cli.errors import checked_output, fail
from hpcsched.cli.executors import make_executor
from hpcsched.cli.llm import DeadlineOpt, LedgerOpt, ModelOpt, UrlOpt
from hpcsched.cli.options import (
    DaskAddressOpt,
    DaskWorkersOpt,
    ExecutorOpt,
    JsonOpt,
    PartitionOpt,
    SlurmModeOpt,
    group,
)

if TYPE_CHECKING:
    from hpcsched.campaigns.api import Campaign
    from hpcsched.campaigns.materials.planner import Plan
    from hpcsched.campaigns.materials.run import Outcome
    from hpcsched.core.pool import Pool
    from hpcsched.runtime.executors.base import Executor

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``20m``, ``1.5h``, ``2d``; ``inf`` for no window."""
    if text.strip().lower() in ("inf", "none", "0"):
        return math.inf
    match = _DURATION.match(text.lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration; write e.g. 600, 20m or 1.5h")
    return float(match.group(1)) * _UNITS[match.group(2) or ""]


def materials(
    ctx: typer.Context,
    goal: Annotated[
        str, typer.Option(help="uo2 (a stable material for UO2) or usi (the U–Si study)")
    ] = "uo2",
    clock: Annotated[
        str, typer.Option(help="sim (virtual time, simulated durations) or live (real processes)")
    ] = "sim",
    policy: Annotated[
        str, typer.Option(help="scheduling policy preset: prioritybf, easy, fcfs, ...")
    ] = "prioritybf",
    window: Annotated[
        str,
        typer.Option(help="time window, e.g. 20m, 1h or 600 (seconds); inf runs to the end"),
    ] = "20m",
    cpus: Annotated[
        int | None,
        typer.Option(
            help="pool cpus (default: 8 in sim, 2 live; --executor dask/slurm: their workers)",
            min=1,
        ),
    ] = None,
    n_materials: Annotated[
        int | None,
        typer.Option(
            "--materials",
            help="structures to screen (default: 1,124 for UO2, 99 x 1,124 for U–Si)",
            min=1,
        ),
    ] = None,
    batch: Annotated[
        int, typer.Option(help="granularity: structures per prediction task", min=1)
    ] = 1,
    lookahead: Annotated[
        int | None,
        typer.Option(help="structures (batches) in flight (default: cpus / 3)", min=1),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="a CSV: composition,template,enthalpy_per_atom,features... "),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="live: folder for the work files and journal (default ./materials-GOAL)"),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the synthetic materials set")] = 7,
    executor: ExecutorOpt = "local",
    slurm_mode: SlurmModeOpt = "steps",
    partition: PartitionOpt = None,
    dask_address: DaskAddressOpt = None,
    dask_workers: DaskWorkersOpt = 2,
    planner: Annotated[
        str,
        typer.Option(
            help="rule (the rule-based planner) or llm (a language model selects tools from "
            "the catalog; its plan is checked by the static validator before anything runs, "
            "else the rule-based plan is used)"
        ),
    ] = "rule",
    token_budget: Annotated[
        int,
        typer.Option(
            help="--planner llm: token budget of the knapsack that picks the granularity of "
            "the tools the model is offered (fine or coarse predictions)",
            min=1,
        ),
    ] = 200_000,
    llm_url: UrlOpt = None,
    llm_model: ModelOpt = None,
    llm_deadline: DeadlineOpt = None,
    ledger: LedgerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plan a goal, run it under a policy for a time window, report what it achieved."""
    from hpcsched.campaigns.materials.planner import GOALS, PlanError
    from hpcsched.campaigns.materials.source import MaterialsInputError
    from hpcsched.policies.registry import get_policy

    if goal not in GOALS:
        fail(f"--goal {goal!r}: choose uo2 or usi")
    if clock not in ("sim", "live"):
        fail(f"--clock {clock!r}: choose sim or live")
    if planner not in ("rule", "llm"):
        fail(f"--planner {planner!r}: choose rule or llm")
    try:
        get_policy(policy)
        seconds = parse_duration(window)
    except ValueError as exc:
        fail(str(exc))
    if clock == "live" and math.isinf(seconds) and n_materials is None:
        fail("--clock live needs a finite --window or --materials (a full campaign takes hours)")
    if ledger is not None:  # appended to (an append log, not replaced), so not atomic
        checked_output(ledger, option="--ledger")
    if data is not None and not data.is_file():
        fail(f"--data {data}: no such file; give a CSV of composition,template,enthalpy_per_atom")
    runner = None
    if clock == "sim":
        if executor != "local":
            fail(f"--executor {executor} runs tasks live; give --clock live (sim runs none)")
    else:
        if executor != "local" and cpus is not None:
            fail(f"--cpus sizes the local pool; --executor {executor} plans on its own workers")
        folder = out or Path(f"materials-{goal}")
        if (folder / "run" / "journal.sqlite").exists():
            fail(f"{folder}: holds an earlier run; remove it or choose another --out")
        checked_output(folder, folder=True)
        runner = make_executor(
            executor,
            dask_address,
            dask_workers,
            slurm_mode,
            partition_for(ctx, slurm_mode, partition),
        )
    # the planner sizes resource requests by the largest worker of the pool the tasks will get
    largest = (
        runner.pool().largest.cpus if runner is not None else cpus or (8 if clock == "sim" else 2)
    )
    making = _Planning.start(planner, largest, token_budget, llm_url, llm_model, llm_deadline)
    try:
        plan = making.planner.plan(
            GOALS[goal], data=data, materials=n_materials, batch=batch, seed=seed
        )
    except (PlanError, MaterialsInputError) as exc:
        making.close()
        if runner is not None:  # a Dask cluster or Slurm allocation is not left behind
            runner.shutdown()
        fail(str(exc))
    making.close()
    if clock == "sim":
        report = _simulated(plan, policy, cpus or 8, seconds, lookahead, as_json)
    else:
        report = _live(plan, policy, cpus or 2, seconds, lookahead, folder, runner, as_json)
        making.write(folder / "llm-ledger.json")
    making.finish(report, ledger)
    if as_json:
        typer.echo(json.dumps(report))
    else:
        from hpcsched.cli.render_campaign import campaign_summary

        campaign_summary(report, plan.steps)


@dataclass
class _Planning:
    """The planner of ``--planner``, the model client and ledger of ``llm``."""

    planner: Any
    client: Any = None
    ledger: Any = None

    @classmethod
    def start(
        cls,
        kind: str,
        largest: int,
        budget: int,
        url: str | None,
        model: str | None,
        deadline: float | None,
    ) -> _Planning:
        from hpcsched.campaigns.materials.planner import RuleBasedPlanner

        if kind == "rule":
            return cls(RuleBasedPlanner())
        from hpcsched.campaigns.materials.llm_planner import LLMPlanner
        from hpcsched.cli.llm import llm_settings
        from hpcsched.llm import ChatClient, TokenLedger

        settings = llm_settings(url, model, deadline)
        ledger = TokenLedger("campaign materials --planner llm")
        if not settings.configured:
            why = "no language model configured: set HPCSCHED_LLM_URL or pass --llm-url"
            return cls(LLMPlanner(None, max_cpus=largest, budget=budget, why_no_client=why))
        client = ChatClient(settings, ledger=ledger)
        return cls(LLMPlanner(client, max_cpus=largest, budget=budget), client, ledger)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def write(self, path: Path) -> None:
        if self.ledger is not None:
            self.ledger.write(path)

    def finish(self, report: dict[str, Any], ledger_file: Path | None) -> None:
        """``--planner llm``: the planning record into the report (the key ``planner``), the
        ledger appended to ``ledger_file``. The rule-based planner's report is unchanged."""
        record = getattr(self.planner, "record", None)
        if record is None:
            return
        report["planner"] = record.as_dict()
        if self.ledger is not None:
            report["planner"]["ledger"] = self.ledger.totals()
            if ledger_file is not None:
                try:
                    self.ledger.append(ledger_file)
                except OSError as exc:
                    fail(f"cannot append the token ledger to {ledger_file}: {exc.strerror or exc}")


def _doing(plan: Any, policy: str, cpus: int, clock: str, quiet: bool) -> Any:
    """The spinner while the campaign runs (none with ``--json``)."""
    from contextlib import nullcontext

    from hpcsched.cli.render import status

    what = f"{plan.goal}: {plan.structures:,} structures, {policy}, {cpus} cpus ({clock})"
    return nullcontext() if quiet else status(f"running the materials campaign {what}")


def _simulated(
    plan: Any, policy: str, cpus: int, window: float, lookahead: int | None, quiet: bool
) -> dict[str, Any]:
    from hpcsched.campaigns.materials.run import run_sim

    with _doing(plan, policy, cpus, "sim", quiet):
        return run_sim(plan, policy, cpus, window, lookahead=lookahead).report


def _live(
    plan: Any,
    policy: str,
    cpus: int,
    window: float,
    lookahead: int | None,
    folder: Path,
    runner: Any,
    quiet: bool,
) -> dict[str, Any]:
    """Local processes over ``cpus``, or the ``runner`` (dask, slurm) over its own workers: a
    task planned on a pool larger than any worker would never find one."""
    from hpcsched.core.pool import Pool
    from hpcsched.runtime.executors.local import LocalExecutor

    pool = Pool.uniform(1, cpus, source="flags") if runner is None else runner.pool()
    executor = runner or LocalExecutor(max_workers=cpus)
    with _doing(plan, policy, pool.total.cpus, "live", quiet):
        outcome = live_campaign(plan, policy, window, folder, executor, pool, lookahead=lookahead)
    outcome.report["work_dir"] = str((folder / "work").resolve())
    return outcome.report


def live_campaign(
    plan: Plan,
    policy: str,
    window: float,
    folder: Path,
    executor: Executor,
    pool: Pool,
    *,
    lookahead: int | None = None,
) -> Outcome:
    """The campaign on real processes: the runtime's pilot drives ``executor`` (shut down at the
    end) over ``pool``; files go to ``folder/work``, the journal to ``folder/run``."""
    from hpcsched.campaigns.materials.run import LiveRun, run_live
    from hpcsched.policies.registry import get_policy
    from hpcsched.runtime.export import start_order
    from hpcsched.runtime.journal import JournalError, read_journal
    from hpcsched.runtime.pilot import Pilot

    run_dir = folder / "run"

    def drive(campaign: Campaign, work: Path) -> LiveRun:
        label = f"materials {plan.goal}"
        pilot = Pilot(campaign, get_policy(policy), pool, executor, run_dir, work, label=label)
        try:
            summary = pilot.run()
        except JournalError as exc:  # another process owns the run, a damaged journal, a full disk
            fail(str(exc))
        return LiveRun(summary.wall_seconds, start_order(read_journal(run_dir)))

    try:
        return run_live(plan, policy, pool, window, folder / "work", drive, lookahead=lookahead)
    finally:
        executor.shutdown()


def register(app: typer.Typer) -> None:
    """Add the ``campaign`` group (``materials``) to ``app``."""
    campaign_app = group(
        "Run AI-driven task campaigns (surrogates, drift detection, continual learning).",
        no_args_is_help=True,
    )
    campaign_app.command("materials")(materials)
    app.add_typer(campaign_app, name="campaign")
