"""How well does a model plan the materials campaign? ``--planner llm`` measured (not a test).

For each granularity the knapsack can offer (``fine``: a token budget large enough for one
structure per prediction task; ``coarse``: the default budget), the LLM planner is asked
``--runs`` times for the goal, and printed:

- **first replies that validate**: the share of first replies the static validator accepted;
- **submitted plans passing the validator**: every plan the planner handed on is validated again
  here, independently (must be 100 %); the rest fell back to the rule-based plan (share shown);
- **tokens and seconds per plan**: server-reported prompt + completion tokens of the planning
  calls (the refusal round included), and wall seconds;
- **fine vs coarse**: the real planning tokens per plan for each offered catalog, next to the
  projected tokens of an agent driving the campaign at that granularity (the plan ledger's
  count, :func:`hpcsched.plan.ledger.compare_granularity`, 4 characters per token) and its
  saving, beside the talk's −98 %.

Usage: ``python benchmarks/planner_llm.py [--url URL] [--runs 5] [--goal uo2] [--materials N]
[--json]`` (``--url`` defaults to ``$HPCSCHED_LLM_URL``; ``scripts/llm-local.sh start``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections import Counter
from typing import Any

from hpcsched.campaigns.materials.catalog import DEFAULT_BUDGET, offer, variant_tokens
from hpcsched.campaigns.materials.llm_planner import LLMPlanner
from hpcsched.campaigns.materials.plan_check import validate
from hpcsched.campaigns.materials.planner import GOALS
from hpcsched.llm import ChatClient, TokenLedger, load_settings

BUDGETS = {"fine": 10**9, "coarse": DEFAULT_BUDGET}
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
    parser.add_argument("--goal", default="uo2", choices=sorted(GOALS))
    parser.add_argument("--materials", type=int, default=1124)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cpus", type=int, default=2, help="largest worker of the pool")
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds per call")
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = parser.parse_args()
    if not args.url:
        print("no endpoint: pass --url or set HPCSCHED_LLM_URL", file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items() if k != "HPCSCHED_CONFIG"}
    settings = load_settings(
        {"url": args.url, "model": args.model, "deadline": args.deadline, "timeout": args.deadline},
        env={**env, "HPCSCHED_CONFIG": "/nonexistent"},
    )
    ledger = TokenLedger("benchmarks/planner_llm.py")
    rows = []
    with ChatClient(settings, ledger=ledger) as client:
        model = client.model_name()
        for name, budget in BUDGETS.items():
            print(f"{name} catalog (token budget {budget:,}), {args.runs} plans:", flush=True)
            rows.append(
                run_granularity(client, args.goal, args.materials, budget, args.runs, args.cpus)
            )
    for row in rows:
        passing = (
            f"{row['submitted_passing_validator'] / row['submitted']:.0%}"
            if row["submitted"]
            else "n/a (none submitted)"
        )
        print(
            f"{row['granularity']:<6} first replies valid {row['first_valid_share']:.0%}; "
            f"submitted {row['submitted']}/{row['runs']}, passing the validator {passing}; "
            f"rule-based fallback {row['fallback_share']:.0%}; "
            f"{row['tokens_per_plan']:,.0f} tokens and {row['seconds_per_plan']:.1f} s per plan; "
            f"agent tokens projected for the campaign {row['agent_tokens_projected']:,}"
        )
    by = {r["granularity"]: r for r in rows}
    if "fine" in by and "coarse" in by:
        saving = 100 * (
            1 - by["coarse"]["agent_tokens_projected"] / by["fine"]["agent_tokens_projected"]
        )
        print(
            f"coarse vs fine tools: {saving:.1f} % fewer projected agent tokens "
            f"(the talk: {TALK_SAVING_PCT:.0f} %); planning tokens per plan "
            f"{by['fine']['tokens_per_plan']:,.0f} (fine) vs "
            f"{by['coarse']['tokens_per_plan']:,.0f} (coarse)"
        )
    if args.json:
        print(json.dumps({"endpoint": settings.url, "model": model, "goal": args.goal,
                          "materials": args.materials, "rows": rows,
                          "tokens": ledger.totals()}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
