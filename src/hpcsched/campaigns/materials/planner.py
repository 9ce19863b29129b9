"""Goals to a task plan: the rule-based planner (an LLM planner plugs in behind the same call).

The two goals of the talk:

- "propose a stable material for UO2": look the composition up in the datasets; if no
  structure with an enthalpy exists, generate template structures (1,124 for UO2); predict the
  enthalpy per atom of each with the three surrogates; return the lowest (10 by default).
- "reproduce the U–Si study": the same for every composition Si/(Si+U) = 0.01 ... 0.99 in steps
  of 0.01 (templates interleaved over compositions, so any prefix covers the whole range); return
  the 100 lowest.

The plan also fixes the priorities (predictions and continual learning high, class 0; the
processing of a finished structure, class 1; drift detection every 10 materials, validation every
10, logging every 5, visualisation every 100 low, class 2) and the granularity: one structure per
prediction task, or a batch of N.
A :class:`Planner` is anything with ``plan(goal_text, ...) -> Plan``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hpcsched.campaigns.materials.source import USI_COMPOSITIONS, open_source, source_spec
from hpcsched.campaigns.materials.surrogates import METHODS

GOALS = {
    "uo2": "propose a stable material for UO2",
    "usi": "reproduce the U–Si study",
}
UO2_TEMPLATES = 1124  # candidate structures for UO2 reported in the talk
USI_TEMPLATES = 1124  # templates per composition (assumption: as many as for UO2)
HIGH, MEDIUM, LOW = 0, 1, 2
PERIODS = {"drift": 10, "validate": 10, "log": 5, "visualise": 100}  # in materials


class PlanError(ValueError):
    """A goal the planner cannot turn into a plan (one line: what and what to do)."""


@dataclass(frozen=True)
class Plan:
    goal: str  # uo2 | usi
    text: str
    spec: dict[str, Any]  # rebuilds the materials source anywhere
    structures: int  # candidates to screen, in order
    batch: int  # structures per prediction task
    top: int  # how many lowest-enthalpy entries the answer has
    methods: tuple[str, ...] = METHODS
    periods: dict[str, int] = field(default_factory=lambda: dict(PERIODS))
    steps: tuple[str, ...] = ()
    fit_cpus: int = 2  # cpus a surrogate's fit asks for (at most the largest worker's)

    def every(self, kind: str) -> int:
        """A period in prediction groups (a batch of N counts as N materials)."""
        return max(1, round(self.periods[kind] / self.batch))


class Planner(Protocol):
    def plan(
        self,
        goal_text: str,
        *,
        data: Path | None = None,
        materials: int | None = None,
        batch: int = 1,
        seed: int = 7,
    ) -> Plan: ...


def goal_key(goal_text: str) -> str:
    text = goal_text.lower().replace("–", "-")
    if text in GOALS:
        return text
    if re.search(r"stable material for uo2\b", text):
        return "uo2"
    if re.search(r"\bu-si\b", text) and "study" in text:
        return "usi"
    known = "; ".join(f"{k} ({v!r})" for k, v in GOALS.items())
    raise PlanError(f"cannot plan goal {goal_text!r}; the rule-based planner knows {known}")


class RuleBasedPlanner:
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
        if batch < 1:
            raise PlanError(f"batch {batch}: a prediction task holds at least 1 structure")
        steps: list[str] = []
        if data is not None:
            spec = source_spec(goal, 0, data=data)
            available = open_source(spec).n
            steps.append(f"found {available} structures of the goal's compositions in {data}")
        else:
            available = UO2_TEMPLATES if goal == "uo2" else USI_COMPOSITIONS * USI_TEMPLATES
            steps.append("found no structure with an enthalpy in the datasets")
            steps.append(
                f"generate {available:,} template structures"
                + (" over Si/(Si+U) = 0.01..0.99" if goal == "usi" else " of UO2")
            )
        structures = available if materials is None else min(materials, available)
        if materials is not None and data is None:
            structures = materials  # the synthetic generator makes as many as asked
        if structures < 1:
            raise PlanError("--materials must be at least 1")
        if data is None:
            spec = source_spec(goal, structures, seed)
        top = 10 if goal == "uo2" else 100
        steps += [
            f"predict the enthalpy per atom of {structures:,} structures with "
            f"{', '.join(METHODS)} ({batch} per task), high priority",
            "analyse each structure that may still enter the answer (class 1); remove the analyses "
            "later structures make obsolete",
            "drift detection every 10 materials, validation every 10, logging every 5, "
            "visualisation every 100, low priority; continual learning on drift, high priority",
            f"return the {top} entries with the lowest enthalpy per atom",
        ]
        return Plan(goal, GOALS[goal], spec, structures, batch, top, steps=tuple(steps))
