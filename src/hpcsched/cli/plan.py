"""hpcsched plan tools / plan ledger: token-budget tool selection and the token ledger."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hpcsched.cli.errors import fail
from hpcsched.cli.options import JsonOpt, group

if TYPE_CHECKING:
    from hpcsched.plan.knapsack import Selection
    from hpcsched.plan.spec import ToolSpec


def _sig(value: float | None, digits: int = 6) -> float | None:
    """``value`` to ``digits`` significant digits: sums of utilities print as 3.51, not as
    3.5100000000000002 (issue 21)."""
    return None if value is None else float(f"{value:.{digits}g}")


def _selection_json(spec: ToolSpec, chosen: Selection, form: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for output, index in zip(spec.outputs, chosen.choice.tolist(), strict=True):
        option = output.options[index]
        rows.append(
            {
                "output": output.name,
                "option": option.name,
                "utility": _sig(option.utility),
                "tokens": option.tokens,
                "compute": option.compute,
            }
        )
    return {
        "name": spec.name,
        "method": chosen.method,
        **form,
        "utility": _sig(chosen.utility),
        "tokens": chosen.tokens,
        "compute": chosen.compute,
        "compute_unit": spec.compute_unit,
        "lp_bound": _sig(chosen.bound),
        "seconds": _sig(chosen.seconds, 3),
        "outputs": rows,
        **({"note": chosen.note} if chosen.note else {}),
    }


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
    as_json: JsonOpt = False,
) -> None:
    """Choose one task per required output within a token budget (multiple-choice knapsack).

    Budget form (--budget): the most utility within the budget. Cover form (--require-utility):
    the least tokens or compute that reaches the utility.
    """
    from hpcsched.cli.render_plan import selection_table
    from hpcsched.plan import METHODS, plan
    from hpcsched.plan.knapsack import InfeasibleError, TableSizeError
    from hpcsched.plan.spec import MOST_WEIGHT, SpecError, load_spec

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
    if require_utility is not None and not math.isfinite(require_utility):
        fail(f"--require-utility {require_utility} is not a finite number; give one, e.g. 2.5")
    if budget is not None and budget > MOST_WEIGHT:
        fail(f"--budget {budget} is above {MOST_WEIGHT:,}; count tokens in a coarser unit")
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
    except (InfeasibleError, TableSizeError) as exc:
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
    selection_table(result, f"{spec.name or spec_path.name}: {goal}")


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
    as_json: JsonOpt = False,
) -> None:
    """Token ledger: fine against coarse granularity for a goal of K structures × M methods.

    Fine: propose one hypothesis, check it, read its result, K·M times. Coarse: propose N, check
    them all with the surrogates, read the N·M results at once. Tokens are estimated at 4
    characters per token, reasoning as a multiple of the output.
    """
    from hpcsched.cli.render_plan import ledger_table
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
    ledger_table(comparison)


def register(app: typer.Typer) -> None:
    """Add the ``plan`` group (``tools``, ``ledger``) to ``app``."""
    plan_app = group(
        "Plan a reasoning agent's tool calls under a token budget, and count their tokens.",
        no_args_is_help=True,
    )
    plan_app.command("tools")(tools)
    plan_app.command("ledger")(ledger)
    app.add_typer(plan_app, name="plan")
