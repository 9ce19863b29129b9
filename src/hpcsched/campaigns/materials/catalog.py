"""The tool catalog the LLM planner chooses from, and which granularities it is offered.

The tools are the campaign's (after the reasoning-agent talk: search datasets, generate
templates, predict with the NN/RF/GNN surrogates, drift check, validate, log, visualise). A
plan can only *select* tools of this catalog and set their arguments; nothing else exists for
it. ``predict`` comes in two granularities: **fine** (one structure per task, so an agent reads
every result: ``batch`` = 1) and **coarse** (a batch of structures per task). Which granularity
the model is offered is chosen by the multiple-choice knapsack of :mod:`hpcsched.plan`
(exact DP) under a token budget: each variant costs the tokens an agent would spend driving the
campaign at that granularity (:func:`hpcsched.plan.ledger.compare_granularity`, the
4-characters rule, counted from real prompt text) plus the tokens of its description.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from hpcsched.campaigns.materials.surrogates import METHODS

#: The granularity of a coarse ``predict`` the token costs are counted with.
COARSE_BATCH: Final = 50
#: Structures the fine/coarse loops are counted on (then scaled: the cost per structure is flat).
COUNTED: Final = 200
#: Default token budget of the knapsack (UO2, 1,124 structures: fine ~2.5M tokens, coarse ~156k).
DEFAULT_BUDGET: Final = 200_000
#: The knapsack counts tokens in units of this many (its DP table is indexed by the budget).
UNIT: Final = 100


@dataclass(frozen=True)
class Arg:
    """One argument: ``int`` in [low, high], or ``method`` (one of the surrogates)."""

    kind: str
    low: int = 1
    high: int = 1


@dataclass(frozen=True)
class Variant:
    """One granularity of a tool, as the model sees it."""

    tool: str
    granularity: str  #: fine, coarse, or one (a tool with a single form)
    text: str
    args: dict[str, Arg] = field(default_factory=dict)
    utility: float = 1.0

    def line(self) -> str:
        def show(name: str, arg: Arg) -> str:
            if arg.kind == "method":
                return f"{name}: one of {', '.join(METHODS)}"
            if arg.low == arg.high:
                return f"{name}: {arg.low}"
            return f"{name}: integer {arg.low}..{arg.high}"

        args = "; ".join(show(n, a) for n, a in self.args.items()) or "no arguments"
        return f"- {self.tool} ({args}): {self.text}"


def variants(available: int, max_cpus: int) -> list[list[Variant]]:
    """Every tool with its variants, for a goal with ``available`` candidate structures and a
    pool whose largest worker has ``max_cpus`` cpus."""
    every = Arg("int", 1, 1000)
    method = Arg("method")
    return [
        [Variant("search_datasets", "one", "look the goal's composition up in the datasets")],
        [
            Variant(
                "generate_templates",
                "one",
                "make candidate structures to screen (count: how many)",
                {"count": Arg("int", 1, available)},
            )
        ],
        [
            Variant(
                "predict",
                "fine",
                "train the surrogate on cpus, then predict the enthalpy per atom of each "
                "structure, one structure per task (the agent reads every result); one step "
                "per method",
                {"method": method, "batch": Arg("int", 1, 1), "cpus": Arg("int", 1, max_cpus)},
                utility=1.0,
            ),
            Variant(
                "predict",
                "coarse",
                "train the surrogate on cpus, then predict the enthalpy per atom of a batch "
                "of structures per task; one step per method",
                {
                    "method": method,
                    "batch": Arg("int", 2, 1000),
                    "cpus": Arg("int", 1, max_cpus),
                },
                utility=0.9,
            ),
        ],
        [
            Variant(
                "drift_check",
                "one",
                "every N materials test a surrogate for drift; on drift it is refit (continual "
                "learning); one step per predicted method, all with the same every",
                {"method": method, "every": every},
            )
        ],
        [Variant("validate", "one", "every N materials validate the models", {"every": every})],
        [Variant("log", "one", "every N materials write the log", {"every": every})],
        [Variant("visualise", "one", "every N materials plot the best so far", {"every": every})],
    ]


def variant_tokens(variant: Variant, structures: int) -> int:
    """Tokens an agent spends with this variant: its description, plus for ``predict`` the
    fine or coarse loop over ``structures`` (counted on :data:`COUNTED`, then scaled)."""
    from hpcsched.plan.ledger import compare_granularity, estimate_tokens

    tokens = estimate_tokens(variant.line())
    if variant.tool == "predict":
        counted = max(1, min(structures, COUNTED))
        batch = 1 if variant.granularity == "fine" else min(COARSE_BATCH, counted)
        comparison = compare_granularity(counted, len(METHODS), batch)
        loop = comparison.fine if variant.granularity == "fine" else comparison.coarse
        tokens += math.ceil(loop["total"] * structures / counted)
    return tokens


@dataclass(frozen=True)
class Offer:
    """What the model is offered: one variant per tool, and what the knapsack saw."""

    chosen: list[Variant]
    tokens: int  #: the chosen variants' token cost
    budget: int
    costs: dict[str, int]  #: tool/granularity -> tokens

    @property
    def granularity(self) -> str:
        return next(v.granularity for v in self.chosen if v.tool == "predict")

    def tool(self, name: str) -> Variant | None:
        return next((v for v in self.chosen if v.tool == name), None)

    def text(self) -> str:
        return "\n".join(v.line() for v in self.chosen)


def offer(structures: int, available: int, max_cpus: int, budget: int = DEFAULT_BUDGET) -> Offer:
    """The variants of most utility whose agent tokens fit ``budget`` (exact knapsack DP); the
    cheapest variant of each tool when nothing fits."""
    from hpcsched.plan import plan
    from hpcsched.plan.knapsack import InfeasibleError, Instance

    tools = variants(available, max_cpus)
    tokens = [[variant_tokens(v, structures) for v in tool] for tool in tools]
    costs = {f"{v.tool}/{v.granularity}": t for tool, ts in zip(tools, tokens, strict=True)
             for v, t in zip(tool, ts, strict=True)}  # fmt: skip
    instance = Instance.from_lists(
        [[v.utility for v in tool] for tool in tools],
        [[math.ceil(t / UNIT) for t in ts] for ts in tokens],
    )
    try:
        choice = [int(i) for i in plan(instance, "dp", budget=budget // UNIT).choice]
    except InfeasibleError:
        choice = [min(range(len(ts)), key=ts.__getitem__) for ts in tokens]
    chosen = [tool[i] for tool, i in zip(tools, choice, strict=True)]
    spent = sum(ts[i] for ts, i in zip(tokens, choice, strict=True))
    return Offer(chosen, spent, budget, costs)
