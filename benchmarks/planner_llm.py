"""How well does a model plan the materials campaign? ``--planner llm`` measured (not a test).

For each case (goal and number of structures: UO2 with 60 and 1,124, U–Si with 200 and all
111,276 by default) and each granularity the knapsack can offer (``fine``: a token budget large
enough for one structure per prediction task; ``coarse``: 10,000 tokens), the LLM planner
is asked ``--runs`` times (at temperature 0, the project's default, a rerun repeats the reply;
``--temperature`` varies it), and printed:

- **first replies that validate**: the share of first replies the static validator accepted;
- **submitted plans passing the validator**: every plan the planner handed on is validated again
  here, independently (must be 100 %); the rest fell back to the rule-based plan (share shown);
- **tokens and seconds per plan**: server-reported prompt + completion tokens of the planning
  calls (the refusal round included), and wall seconds;
- **fine vs coarse**: the real planning tokens per plan for each offered catalog, next to the
  projected tokens of an agent driving the campaign at that granularity (the plan ledger's
  count, :func:`hpcsched.plan.ledger.compare_granularity`, 4 characters per token) and its
  saving, beside the talk's −98 %.

Usage: ``python benchmarks/planner_llm.py [--url URL] [--cases uo2:60,usi:200] [--runs 1]
[--temperature 0] [--json]`` (``--url`` defaults to ``$HPCSCHED_LLM_URL``;
``scripts/llm-local.sh start``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections import Counter
from typing import Any

from hpcsched.campaigns.materials.catalog import offer, variant_tokens
from hpcsched.campaigns.materials.llm_planner import LLMPlanner
from hpcsched.campaigns.materials.plan_check import validate
from hpcsched.campaigns.materials.planner import GOALS
from hpcsched.llm import ChatClient, TokenLedger, load_settings

#: fine: everything fits; coarse: too small for fine predictions of any case (the knapsack then
#: offers the cheapest form of each tool)
BUDGETS = {"fine": 10**9, "coarse": 10_000}
TALK_SAVING_PCT = 98.0


def run_granularity(
    client: ChatClient, goal: str, materials: int, budget: int, runs: int, cpus: int
) -> dict[str, Any]:
    planner = LLMPlanner(client, max_cpus=cpus, budget=budget)
    outcomes: Counter[str] = Counter()
    tokens: list[int] = []
    seconds: list[float] = []
    submitted_valid = 0
    granularity = ""
    for _ in range(runs):
        planner.plan(GOALS[goal], materials=materials)
        rec = planner.record
        granularity = rec.granularity
        outcomes["first_valid"] += rec.first_valid
        outcomes["used_llm"] += rec.used == "llm"
        outcomes["fallback"] += rec.used == "rule"
        if planner.accepted is not None:  # validated again, independently of the planner
            catalog = offer(materials, materials, cpus, budget)
            submitted_valid += not validate(planner.accepted, catalog)
        tokens.append(rec.prompt_tokens + rec.completion_tokens)
        seconds.append(rec.seconds)
        print(
            f"  {granularity:<6} used {rec.used:<4} first valid {rec.first_valid!s:<5} "
            f"tokens {tokens[-1]:>5} ({rec.prompt_tokens} + {rec.completion_tokens}) "
            f"{rec.seconds:6.1f} s  {(rec.problems or [''])[0][:90]}",
            flush=True,
        )
    catalog = offer(materials, materials, cpus, budget)
    predict = catalog.tool("predict")
    assert predict is not None
    return {
        "granularity": granularity,
        "budget": budget,
        "runs": runs,
        "first_valid_share": outcomes["first_valid"] / runs,
        "submitted": outcomes["used_llm"],
        "submitted_passing_validator": submitted_valid,
        "fallback_share": outcomes["fallback"] / runs,
        "tokens_per_plan": statistics.mean(tokens),
        "seconds_per_plan": statistics.mean(seconds),
        "agent_tokens_projected": variant_tokens(predict, materials),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("HPCSCHED_LLM_URL"))
    parser.add_argument("--model", default=None)
    parser.add_argument("--cases", default="uo2:60,uo2:1124,usi:200,usi:111276",
                        help="goal:structures, comma-separated")  # fmt: skip
    parser.add_argument("--runs", type=int, default=1, help="plans per case and granularity")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--cpus", type=int, default=2, help="largest worker of the pool")
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds per call")
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = parser.parse_args()
    if not args.url:
        print("no endpoint: pass --url or set HPCSCHED_LLM_URL", file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items() if k != "HPCSCHED_CONFIG"}
    settings = load_settings(
        {"url": args.url, "model": args.model, "deadline": args.deadline,
         "timeout": args.deadline, "temperature": args.temperature},
        env={**env, "HPCSCHED_CONFIG": "/nonexistent"},
    )  # fmt: skip
    ledger = TokenLedger("benchmarks/planner_llm.py")
    rows = []
    with ChatClient(settings, ledger=ledger) as client:
        model = client.model_name()
        for case in args.cases.split(","):
            goal, materials = case.split(":")
            for name, budget in BUDGETS.items():
                print(f"{goal} {materials} structures, {name} catalog:", flush=True)
                row = run_granularity(client, goal, int(materials), budget, args.runs, args.cpus)
                rows.append({"goal": goal, "materials": int(materials), **row})
    for row in rows:
        passing = (
            f"{row['submitted_passing_validator'] / row['submitted']:.0%}"
            if row["submitted"]
            else "n/a (none submitted)"
        )
        print(
            f"{row['goal']} {row['materials']:>6} {row['granularity']:<6} first replies valid "
            f"{row['first_valid_share']:.0%}; submitted {row['submitted']}/{row['runs']}, "
            f"passing the validator {passing}; rule-based fallback {row['fallback_share']:.0%}; "
            f"{row['tokens_per_plan']:,.0f} tokens and {row['seconds_per_plan']:.1f} s per plan; "
            f"agent tokens projected for the campaign {row['agent_tokens_projected']:,}"
        )
    runs = sum(r["runs"] for r in rows)
    first = sum(r["first_valid_share"] * r["runs"] for r in rows)
    submitted = sum(r["submitted"] for r in rows)
    passing_all = sum(r["submitted_passing_validator"] for r in rows)
    print(
        f"all: first replies valid {first / runs:.0%} of {runs}; submitted {submitted}, "
        f"passing the validator {passing_all}"
    )
    for goal, materials in sorted({(r["goal"], r["materials"]) for r in rows}):
        by = {r["granularity"]: r for r in rows if (r["goal"], r["materials"]) == (goal, materials)}
        if "fine" not in by or "coarse" not in by:
            continue
        fine, coarse = by["fine"], by["coarse"]
        saving = 100 * (1 - coarse["agent_tokens_projected"] / fine["agent_tokens_projected"])
        print(
            f"{goal} {materials}: coarse vs fine tools: {saving:.1f} % fewer projected agent "
            f"tokens (the talk: {TALK_SAVING_PCT:.0f} %); planning tokens per plan "
            f"{fine['tokens_per_plan']:,.0f} (fine) vs {coarse['tokens_per_plan']:,.0f} (coarse)"
        )
    if args.json:
        print(json.dumps({"endpoint": settings.url, "model": model, "rows": rows,
                          "tokens": ledger.totals()}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
