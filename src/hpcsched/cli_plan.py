"""hpcsched plan tools / plan ledger: token-budget tool selection and the token ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hpcsched.cli_common import fail

if TYPE_CHECKING:
    from hpcsched.plan.knapsack import Selection
    from hpcsched.plan.ledger import Comparison
    from hpcsched.plan.spec import ToolSpec

plan_app = typer.Typer(
    help="Plan a reasoning agent's tool calls under a token budget, and count their tokens.",
    no_args_is_help=True,
)


def _selection_json(spec: ToolSpec, chosen: Selection, form: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for output, index in zip(spec.outputs, chosen.choice.tolist(), strict=True):
        option = output.options[index]
        rows.append(
            {
                "output": output.name,
                "option": option.name,
                "utility": option.utility,
                "tokens": option.tokens,
                "compute": option.compute,
            }
        )
    return {
        "name": spec.name,
        "method": chosen.method,
        **form,
        "utility": chosen.utility,
        "tokens": chosen.tokens,
        "compute": chosen.compute,
        "compute_unit": spec.compute_unit,
        "lp_bound": chosen.bound,
        "seconds": chosen.seconds,
        "outputs": rows,
    }


def _selection_table(result: dict[str, Any], title: str) -> None:
    from rich.table import Table

    from hpcsched.render import make_console

    table = Table(title=title)
    for header in (
        "output",
        "chosen task",
        "utility",
        "tokens",
        f"compute ({result['compute_unit']})",
    ):
        table.add_column(header, justify="left" if header in ("output", "chosen task") else "right")
    for row in result["outputs"]:
        table.add_row(
            row["output"],
            row["option"],
            f"{row['utility']:g}",
            f"{row['tokens']:,}",
            f"{row['compute']:,}",
        )
    table.add_section()
    table.add_row(
        "total", "", f"{result['utility']:.4g}", f"{result['tokens']:,}", f"{result['compute']:,}"
    )
    console = make_console()
    console.print(table)
    bound = result["lp_bound"]
    note = f"; LP bound {bound:,.4g}" if bound is not None else ""
    console.print(f"{result['method']} in {result['seconds'] * 1e3:.2f} ms{note}")


def tools(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="outputs and options")],
    budget: Annotated[
        int | None,
        typer.Option(help="token budget: the most utility within it (default: the spec's)"),
    ] = None,
    require_utility: Annotated[
        float | None,
        typer.Option(help="cover form instead: the least --minimize that reaches this utility"),
    ] = None,
    minimize: Annotated[
        str, typer.Option(help="cover form: minimise tokens or compute")
    ] = "tokens",
    method: Annotated[
        str,
        typer.Option(help="dp (exact), greedy (the talk's back-off), lp-greedy (Sinha–Zoltners)"),
    ] = "dp",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Choose one task per required output within a token budget (multiple-choice knapsack).

    Budget form (--budget): the most utility within the budget. Cover form (--require-utility):
    the least tokens or compute that reaches the utility.
    """
    from hpcsched.plan import METHODS, plan
    from hpcsched.plan.knapsack import InfeasibleError
    from hpcsched.plan.spec import SpecError, load_spec

    if method not in METHODS:
        fail(f"--method {method!r} is not known; use one of {', '.join(METHODS)}")
    if minimize not in ("tokens", "compute"):
        fail(f"--minimize {minimize!r} is not known; use tokens or compute")
    try:
        spec = load_spec(spec_path)
    except SpecError as exc:
        fail(str(exc))
    if require_utility is not None and budget is not None:
        fail("give either --budget or --require-utility, not both")
    if require_utility is None:
        budget = spec.budget if budget is None else budget
        if budget is None:
            fail(f"{spec_path}: no budget; pass --budget N or add 'budget: N' to the spec")
        if budget < 0:
            fail(f"--budget {budget} is negative; give the token budget as a whole number ≥ 0")
        form: dict[str, Any] = {"form": "budget", "budget": budget}
    else:
        form = {"form": "cover", "require_utility": require_utility, "minimize": minimize}
    try:
        chosen = plan(
            spec.instance(),
            method,
            budget=budget if require_utility is None else None,
            require_utility=require_utility,
            weight="compute" if minimize == "compute" and require_utility is not None else "tokens",
        )
    except InfeasibleError as exc:
        fail(f"{spec_path}: {exc}")
    result = {"spec": str(spec_path), **_selection_json(spec, chosen, form)}
    if as_json:
        typer.echo(json.dumps(result))
        return
    goal = (
        f"budget {budget:,} tokens"
        if require_utility is None
        else f"utility ≥ {require_utility:g}, least {minimize}"
    )
    _selection_table(result, f"{spec.name or spec_path.name}: {goal}")


def _ledger_table(comparison: Comparison) -> None:
    from rich.table import Table

    from hpcsched.render import make_console

    table = Table(
        title=f"{comparison.structures:,} structures × {comparison.methods} methods (coarse "
        f"batch {comparison.batch:,}; context {comparison.context_tokens:,} tokens per call)"
    )
    table.add_column("granularity")
    for header in ("calls", "prompt", "reasoning", "output", "total"):
        table.add_column(header, justify="right")
    for label, row in (
        ("fine: propose 1 → check → read 1", comparison.fine),
        ("coarse: propose N → check all → read N", comparison.coarse),
    ):
        table.add_row(
            label, *(f"{row[k]:,}" for k in ("calls", "prompt", "reasoning", "output", "total"))
        )
    console = make_console()
    console.print(table)
    console.print(
        f"coarse saves {comparison.saving_pct:.1f}% of the tokens (estimated: 4 chars/token)"
    )


def ledger(
    structures: Annotated[
        int, typer.Option(help="candidate structures K (the UO2 goal: 1124)")
    ] = 1124,
    methods: Annotated[int, typer.Option(help="surrogate methods M per structure")] = 3,
    batch: Annotated[
        int | None, typer.Option(help="coarse loop: structures per cycle N (default: all K)")
    ] = None,
    reasoning_per_output: Annotated[
        float, typer.Option(help="estimated reasoning tokens per output token (0: no reasoning)")
    ] = 2.0,
    context: Annotated[
        Path | None,
        typer.Option(help="a text file with your planner prompt, repeated by every call"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Token ledger: fine against coarse granularity for a goal of K structures × M methods.

    Fine: propose one hypothesis, check it, read its result, K·M times. Coarse: propose N, check
    them all with the surrogates, read the N·M results at once. Tokens are estimated at 4
    characters per token, reasoning as a multiple of the output.
    """
    from hpcsched.plan.ledger import PLANNER_CONTEXT, compare_granularity

    text = PLANNER_CONTEXT
    if context is not None:
        try:
            text = context.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--context {context}: cannot read it ({exc}); give a UTF-8 text file")
    if reasoning_per_output < 0:
        fail(f"--reasoning-per-output {reasoning_per_output} is negative; give 0 or more")
    try:
        comparison = compare_granularity(structures, methods, batch, reasoning_per_output, text)
    except ValueError as exc:
        fail(f"{exc}; check --structures, --methods and --batch")
    if as_json:
        payload = {
            "structures": comparison.structures,
            "methods": comparison.methods,
            "batch": comparison.batch,
            "reasoning_per_output": reasoning_per_output,
            "context_tokens": comparison.context_tokens,
            "fine": comparison.fine,
            "coarse": comparison.coarse,
            "saving_pct": comparison.saving_pct,
            "estimated": True,
        }
        typer.echo(json.dumps(payload))
        return
    _ledger_table(comparison)


def register(app: typer.Typer) -> None:
    """Add the ``plan`` group to ``app``."""
    plan_app.command("tools")(tools)
    plan_app.command("ledger")(ledger)
    app.add_typer(plan_app, name="plan")
