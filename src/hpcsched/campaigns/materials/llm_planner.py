"""The LLM sibling of the rule-based planner (``--planner llm``): goal + catalog in, plan out.

The model is given the goal and the tool catalog (one granularity per tool, chosen by the
knapsack under a token budget: :func:`~.catalog.offer`) and answers under a JSON schema
(:class:`~.plan_check.PlanReply`). The static validator (:func:`~.plan_check.validate`) accepts
or refuses the reply **before anything is submitted**; a refused reply is sent back once with
the validator's message (:func:`hpcsched.llm.structured.ask`), and if the second is refused too,
or the endpoint errs or misses its deadline, the rule-based plan is used and the record says so.
Nothing the model returns is executed: an accepted plan only selects catalog tools and sets
their arguments, which become the fields of the same :class:`~.planner.Plan` the rule-based
planner makes; the campaign builds its tasks from those fields alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from hpcsched.campaigns.materials.catalog import DEFAULT_BUDGET, Offer, offer
from hpcsched.campaigns.materials.plan_check import PlanReply, reply_schema, validate
from hpcsched.campaigns.materials.planner import GOALS, Plan, RuleBasedPlanner, goal_key
from hpcsched.campaigns.materials.surrogates import METHODS
from hpcsched.llm.client import ChatClient, Message
from hpcsched.llm.structured import ask

MAX_TOKENS: Final = 900

SYSTEM: Final = """You plan a materials-discovery campaign on an HPC cluster. You can only \
select tools from the catalog and set their arguments; you never run anything yourself.
Reply with JSON only: {"steps": [...]}. Each step has an id (a short name), a tool, the \
tool's arguments, and after (the ids of the steps it follows).
Rules:
- first a source step (search_datasets or generate_templates);
- one predict step per method (nn, rf, gnn), each after the source step;
- one drift_check step per predicted method, all with the same every;
- one validate, one log and one visualise step;
- use only the tools and argument ranges of the catalog."""


def example(batch: int, count: int, cpus: int) -> str:
    """A complete plan in the reply's format (numbers within the offered ranges): a small model
    follows an example better than rules; the validator checks whatever it writes."""
    steps: list[dict[str, Any]] = [
        {"id": "gen", "tool": "generate_templates", "count": count, "after": []}
    ]
    for m in METHODS:
        steps.append({"id": f"p-{m}", "tool": "predict", "method": m, "batch": batch,
                      "cpus": cpus, "after": ["gen"]})  # fmt: skip
    for m in METHODS:
        steps.append({"id": f"d-{m}", "tool": "drift_check", "method": m, "every": 20,
                      "after": [f"p-{m}"]})  # fmt: skip
    for tool, every in (("validate", 20), ("log", 10), ("visualise", 50)):
        steps.append({"id": tool[:3], "tool": tool, "every": every, "after": ["p-nn"]})
    return json.dumps({"steps": steps}, separators=(",", ":"))


def plan_messages(goal: str, catalog: Offer, batch: int, count: int, cpus: int) -> list[Message]:
    """The goal, the offered catalog and an example plan."""
    ex = example(batch, count, cpus)
    user = f"Goal: {goal}\nCatalog:\n{catalog.text()}\nExample plan:\n{ex}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


@dataclass
class PlanningRecord:
    """What the planner did, for the command's output and the benchmark."""

    requested: str = "llm"
    used: str = "rule"  #: llm or rule
    model: str | None = None
    first_valid: bool = False
    replies: int = 0
    problems: list[str] = field(default_factory=list)  #: the validator's, per refused reply
    reason: str | None = None  #: why the rule-based plan was used
    granularity: str = ""
    offered_tokens: int = 0
    budget: int = 0
    catalog_tokens: dict[str, int] = field(default_factory=dict)  #: tool/granularity -> tokens
    steps: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class LLMPlanner:
    """A :class:`~.planner.Planner`; :attr:`record` tells what the last :meth:`plan` did."""

    def __init__(
        self,
        client: ChatClient | None,
        *,
        max_cpus: int,
        budget: int = DEFAULT_BUDGET,
        why_no_client: str = "no language model configured",
    ) -> None:
        self.client = client
        self.max_cpus = max(1, max_cpus)
        self.budget = budget
        self.why_no_client = why_no_client
        self.record = PlanningRecord()
        self.accepted: PlanReply | None = None  #: the last reply the validator accepted

    def plan(
        self,
        goal_text: str,
        *,
        data: Path | None = None,
        materials: int | None = None,
        batch: int = 1,
        seed: int = 7,
    ) -> Plan:
        goal = goal_key(goal_text)
        rule = RuleBasedPlanner().plan(
            goal_text, data=data, materials=materials, batch=batch, seed=seed
        )
        catalog = offer(rule.structures, rule.structures, self.max_cpus, self.budget)
        self.accepted = None
        rec = self.record = PlanningRecord(
            granularity=catalog.granularity,
            offered_tokens=catalog.tokens,
            budget=self.budget,
            catalog_tokens=catalog.costs,
        )
        if self.client is None:
            rec.reason = self.why_no_client
            return rule
        rec.model = self.client.model_name()
        example_batch = 1 if catalog.granularity == "fine" else 20
        count = rule.structures
        calls_before = len(self.client.ledger.calls) if self.client.ledger else 0
        began = time.monotonic()
        result = ask(
            self.client,
            plan_messages(GOALS[goal], catalog, example_batch, count, 1),
            PlanReply,
            purpose=f"plan:{goal}:{catalog.granularity}",
            schema=reply_schema(catalog),
            check=lambda reply: validate(reply, catalog),
            max_tokens=MAX_TOKENS,
        )
        rec.seconds = round(time.monotonic() - began, 2)
        if self.client.ledger is not None:
            for call in self.client.ledger.calls[calls_before:]:
                rec.prompt_tokens += call.prompt_tokens or 0
                rec.completion_tokens += call.completion_tokens or 0
        rec.replies = len(result.raw)
        rec.problems = [_refusal(raw, catalog) for raw in result.raw]
        rec.problems = [p for p in rec.problems if p]
        if result.value is None:
            rec.reason = result.reason
            return rule
        rec.used, rec.first_valid = "llm", not result.retried
        self.accepted = result.value
        rec.steps = [s.describe() for s in result.value.steps]
        return to_plan(result.value, rule, rec.model)


def _refusal(raw: str, catalog: Offer) -> str:
    try:
        reply = PlanReply.model_validate_json(raw)
    except ValidationError as exc:
        return f"schema: {exc.errors()[0]['msg']}"
    return "; ".join(validate(reply, catalog))


def to_plan(reply: PlanReply, rule: Plan, model: str | None) -> Plan:
    """An accepted reply as a :class:`Plan` (``rule`` gives the goal's source and answer size)."""
    steps = {s.tool: s for s in reply.steps}
    predicts = [s for s in reply.steps if s.tool == "predict"]
    methods = tuple(m for m in METHODS if any(s.method == m for s in predicts))
    structures = rule.structures
    if "generate_templates" in steps and steps["generate_templates"].count:
        structures = min(structures, steps["generate_templates"].count)
    drift = next(s.every for s in reply.steps if s.tool == "drift_check")
    periods = {"drift": drift or 10}
    periods.update({t: steps[t].every or 10 for t in ("validate", "log", "visualise")})
    spec = dict(rule.spec)
    if spec.get("kind") == "synthetic":
        spec["n"] = structures
    text = [f"planned by {model or 'a language model'} (accepted by the static validator)"]
    text += [s.describe() for s in reply.steps]
    text.append(f"return the {rule.top} entries with the lowest enthalpy per atom")
    return replace(
        rule,
        spec=spec,
        structures=structures,
        batch=predicts[0].batch or 1,
        methods=methods,
        periods=periods,
        fit_cpus=max(s.cpus or 1 for s in predicts),
        steps=tuple(text),
    )
