"""A model's plan read as data, and the static validator that accepts or refuses it.

The reply (:class:`PlanReply`) is a list of steps, each a tool of the offered catalog with its
arguments and the steps it comes after. Before anything is submitted, :func:`validate` checks:

- every tool is one the catalog offered (nothing else can be run: a plan only selects tools);
- every argument is one the tool takes, of its type and within its range (``method`` one of the
  surrogates, integers within the catalog's bounds);
- step ids are unique, ``after`` names existing steps and the steps form no cycle;
- resource requests fit the pool (``cpus`` at most the largest worker's);
- the campaign's periodic tasks are present: a drift check for every predicted method (one
  period for all), validate, log and visualise; and a source (datasets or templates) that every
  prediction comes after;
- one ``predict`` per method, all with the same batch (the campaign has one granularity).

An accepted plan becomes the same :class:`~.planner.Plan` the rule-based planner returns.
"""

from __future__ import annotations

import re
from graphlib import CycleError, TopologicalSorter
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from hpcsched.campaigns.materials.catalog import Offer
from hpcsched.campaigns.materials.surrogates import METHODS

MAX_STEPS: Final = 16
#: A source, three predictions, three drift checks, validate, log and visualise.
MIN_STEPS: Final = 10
PERIODIC: Final = ("validate", "log", "visualise")
ARGS: Final = ("method", "batch", "cpus", "every", "count")
_ID: Final = re.compile(r"[A-Za-z][\w-]{0,31}")


class Step(BaseModel):
    """One selected tool with its arguments (unused ones null)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=32)
    tool: str = Field(max_length=40)
    method: str | None = Field(default=None, max_length=16)
    batch: int | None = None
    cpus: int | None = None
    every: int | None = None
    count: int | None = None
    after: list[str] = Field(default_factory=list, max_length=8)

    def describe(self) -> str:
        args = ", ".join(f"{a} {getattr(self, a)}" for a in ARGS if getattr(self, a) is not None)
        after = f" after {', '.join(self.after)}" if self.after else ""
        return f"{self.id}: {self.tool}({args}){after}"


class PlanReply(BaseModel):
    """The model's plan: steps selected from the catalog."""

    model_config = ConfigDict(extra="forbid")

    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)


def reply_schema(offer: Offer) -> dict[str, object]:
    """The reply's JSON schema, one object form per offered tool with exactly its arguments and
    their ranges (a constrained decoder then writes only offered tools and valid arguments; the
    validator checks all the same, for endpoints that ignore schemas)."""
    forms: list[dict[str, object]] = []
    for variant in offer.chosen:
        props: dict[str, object] = {
            "id": {"type": "string", "minLength": 1, "maxLength": 32},
            "tool": {"const": variant.tool},
        }
        for name, arg in variant.args.items():
            if arg.kind == "method":
                props[name] = {"enum": list(METHODS)}
            elif arg.high - arg.low < 64:  # an enum: grammars keep to it, not all to ranges
                props[name] = {"enum": list(range(arg.low, arg.high + 1))}
            else:
                props[name] = {"type": "integer", "minimum": arg.low, "maximum": arg.high}
        props["after"] = {"type": "array", "items": {"type": "string"}, "maxItems": 8}
        forms.append(
            {"type": "object", "properties": props, "required": list(props),
             "additionalProperties": False}
        )  # fmt: skip
    steps = {"type": "array", "items": {"anyOf": forms}, "minItems": MIN_STEPS,
             "maxItems": MAX_STEPS}  # fmt: skip
    return {"type": "object", "properties": {"steps": steps}, "required": ["steps"],
            "additionalProperties": False}  # fmt: skip


def validate(reply: PlanReply, offer: Offer) -> list[str]:
    """The validator's problems (each one line, for the user and for the model); [] accepts."""
    problems: list[str] = []
    ids = [s.id for s in reply.steps]
    if len(set(ids)) != len(ids):
        problems.append(
            f"step ids must be unique: {', '.join(sorted({i for i in ids if ids.count(i) > 1}))}"
        )
    for step in reply.steps:
        if not _ID.fullmatch(step.id):
            problems.append(f"step id {step.id!r}: use letters, digits, '-' and '_' only")
        problems += _step_problems(step, offer, set(ids))
    graph = {s.id: set(s.after) & set(ids) for s in reply.steps}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        problems.append(f"the steps form a cycle: {' -> '.join(map(str, exc.args[1]))}")
        return list(dict.fromkeys(problems))
    problems += _campaign_problems(reply, graph)
    return list(dict.fromkeys(problems))  # each problem once


def _step_problems(step: Step, offer: Offer, ids: set[str]) -> list[str]:
    variant = offer.tool(step.tool)
    if variant is None:
        known = ", ".join(v.tool for v in offer.chosen)
        return [f"step {step.id}: unknown tool {step.tool!r}; the catalog has {known}"]
    out: list[str] = []
    for name in ARGS:
        value = getattr(step, name)
        arg = variant.args.get(name)
        if arg is None:
            if value is not None:
                out.append(f"step {step.id}: {step.tool} takes no {name} (set it to null)")
        elif value is None:
            out.append(f"step {step.id}: {step.tool} needs {name}")
        elif arg.kind == "method":
            if value not in METHODS:
                out.append(f"step {step.id}: method {value!r} is not one of {', '.join(METHODS)}")
        elif not isinstance(value, int) or not arg.low <= value <= arg.high:
            what = "cpus beyond the pool's largest worker" if name == "cpus" else name
            out.append(f"step {step.id}: {what} {value} not in {arg.low}..{arg.high}")
    for dep in step.after:
        if dep not in ids:
            out.append(f"step {step.id}: after {dep!r}, which is not a step")
        elif dep == step.id:
            out.append(f"step {step.id}: comes after itself")
    return out


def _ancestors(graph: dict[str, set[str]], node: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(node, ()))
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo += graph.get(n, ())
    return seen


def _campaign_problems(reply: PlanReply, graph: dict[str, set[str]]) -> list[str]:
    out: list[str] = []
    by_tool: dict[str, list[Step]] = {}
    for step in reply.steps:
        by_tool.setdefault(step.tool, []).append(step)
    predicts = by_tool.get("predict", [])
    methods = [s.method for s in predicts]
    if not predicts:
        out.append("no predict step: add one per surrogate method")
    if len(set(methods)) != len(methods):
        out.append("one predict step per method (a method is predicted twice)")
    if len({s.batch for s in predicts}) > 1:
        out.append("every predict step must use the same batch")
    sources = {s.id for s in reply.steps if s.tool in ("search_datasets", "generate_templates")}
    if not sources:
        out.append("no source: add search_datasets or generate_templates before the predictions")
    for s in predicts:
        if sources and not _ancestors(graph, s.id) & sources:
            out.append(
                f"step {s.id}: predict must come after a source step ({', '.join(sorted(sources))})"
            )
    drift = by_tool.get("drift_check", [])
    missing = sorted({m for m in methods if m} - {s.method for s in drift})
    if missing:
        out.append(f"periodic task missing: drift_check for {', '.join(missing)}")
    if len({s.every for s in drift}) > 1:
        out.append("every drift_check must use the same every")
    for tool in PERIODIC:
        if tool not in by_tool:
            out.append(f"periodic task missing: {tool}")
        elif len(by_tool[tool]) > 1:
            out.append(f"{tool} appears twice: one step per periodic task")
    return out
