"""A token ledger for the planner's model calls, and the granularity comparison of the talk.

Each call is booked as prompt, reasoning and output tokens. When the model reports usage (the
OpenAI-compatible ``usage`` object: ``prompt_tokens``, ``completion_tokens`` and
``completion_tokens_details.reasoning_tokens``, reasoning being part of the completion) the ledger
books exactly that. When it does not, it estimates, and marks the call ``estimated``:

- **text → tokens**: ``ceil(characters / 4)``, OpenAI's rule of thumb ("one token generally
  corresponds to ~4 characters of text for common English text", OpenAI's Tokenizer page and
  Help Center article *What are tokens and how to count them?*). JSON and identifiers tokenise
  worse than prose, so this undercounts them a little; both sides are counted by the same rule.
- **reasoning**: ``REASONING_PER_OUTPUT × output tokens`` (default 2). This is our assumption,
  not a published constant: providers bill hidden reasoning as output but do not say how much a
  call will use (OpenAI's reasoning guide: "a few hundred to tens of thousands"). Set it to 0
  for a model without reasoning.

The comparison (Gainaru, Lopes & Pallez 2026) is between two ways for an agent to screen ``K``
candidate structures with ``M`` surrogate methods:

- **fine**: "propose one hypothesis → check → read the result", ``K·M`` times; each cycle is two
  calls (propose one (structure, method); read its one result and give a verdict);
- **coarse**: "propose N → check all with the surrogates → read N results at once", ``⌈K/N⌉``
  times; each cycle is two calls (propose N structures; read their ``N·M`` results, N verdicts).

Every call carries the same planner context (:data:`PLANNER_CONTEXT`: the goal, the tools and
the reply format) and no conversation history, the case most favourable to fine granularity (a
growing history would make fine cycles dearer still). The calls are built as real text and
counted by the rule above, so the saving follows from what is sent, not from a formula.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CHARS_PER_TOKEN = 4
REASONING_PER_OUTPUT = 2.0
METHODS = ("mace-mp-0", "chgnet", "m3gnet")

PLANNER_CONTEXT = """\
You are the planning agent of a materials-discovery campaign on an HPC system.
Goal: find stable UO2 candidate structures (fluorite-derived polymorphs, point defects and
oxygen-excess supercells) among the candidates of the campaign, ranked by energy above the
convex hull, and keep the most promising ones for DFT confirmation.
Tools you can ask for (each runs as a batch job on the cluster; you never run them yourself):
- surrogate(structure, method): relaxes the structure with a machine-learned interatomic
  potential and returns its energy per atom in eV and whether the relaxation converged.
  Methods: mace-mp-0 (most accurate, slowest), chgnet (magnetic moments, medium),
  m3gnet (fastest, least accurate). A result from an unconverged relaxation is not reliable.
- dft(structure): a VASP PBE+U relaxation; hours of compute, only for confirmed candidates.
Reply only with JSON lines, one object per line, no prose:
- to propose work: {"structure": ID, "method": NAME} (or without "method" for all methods);
- to judge a result: {"structure": ID, "verdict": "keep" | "drop"}.
Keep a structure when its energy is within 50 meV/atom of the best seen so far and at least two
methods agree; drop it otherwise. Do not propose a structure twice."""


def estimate_tokens(text: str) -> int:
    """Tokens of ``text`` by the 4-characters rule, rounded up (an empty text is 0 tokens)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Call:
    """One model call as booked."""

    step: str
    prompt: int
    reasoning: int
    output: int
    estimated: bool

    @property
    def total(self) -> int:
        return self.prompt + self.reasoning + self.output


@dataclass
class TokenLedger:
    """The planner's calls, in order, with their tokens; reported usage wins over estimates."""

    reasoning_per_output: float = REASONING_PER_OUTPUT
    calls: list[Call] = field(default_factory=list)

    def record_usage(self, step: str, usage: Mapping[str, Any]) -> Call:
        """Book a call from the model's own ``usage`` (OpenAI-compatible fields)."""
        details = usage.get("completion_tokens_details") or {}
        reasoning = int(details.get("reasoning_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        call = Call(
            step,
            int(usage.get("prompt_tokens") or 0),
            reasoning,
            completion - reasoning,
            estimated=False,
        )
        self.calls.append(call)
        return call

    def record_text(self, step: str, prompt: str, output: str) -> Call:
        """Book a call whose model reported no usage: estimate from the texts."""
        out = estimate_tokens(output)
        reasoning = math.ceil(self.reasoning_per_output * out)
        call = Call(step, estimate_tokens(prompt), reasoning, out, estimated=True)
        self.calls.append(call)
        return call

    def totals(self) -> dict[str, int]:
        return {
            "calls": len(self.calls),
            "prompt": sum(c.prompt for c in self.calls),
            "reasoning": sum(c.reasoning for c in self.calls),
            "output": sum(c.output for c in self.calls),
            "total": sum(c.total for c in self.calls),
        }


def structure_id(i: int) -> str:
    return f"UO2-{i + 1:04d}"


def method_name(m: int) -> str:
    return METHODS[m] if m < len(METHODS) else f"method-{m + 1}"


def proposal_line(i: int, m: int | None) -> str:
    item = {"structure": structure_id(i)} | ({} if m is None else {"method": method_name(m)})
    return json.dumps(item)


def result_line(i: int, m: int) -> str:
    energy = f"{-9.0 - (i * 7 + m) % 1000 / 1000:.3f}"  # fixed width, as a surrogate prints it
    return (
        f'{{"structure": "{structure_id(i)}", "method": "{method_name(m)}", '
        f'"energy_per_atom_eV": {energy}, "converged": true}}'
    )


def verdict_line(i: int) -> str:
    return json.dumps({"structure": structure_id(i), "verdict": "keep" if i % 3 else "drop"})


def propose_prompt(count: int, methods: int, context: str = PLANNER_CONTEXT) -> str:
    if count == 1:
        ask = "Propose the next structure and the one method to check it with."
    else:
        ask = f"Propose the next {count} structures; each is checked with all {methods} methods."
    return f"{context}\n\n{ask}"


def read_prompt(results: list[str], context: str = PLANNER_CONTEXT) -> str:
    return f"{context}\n\nResults:\n" + "\n".join(results) + "\n\nGive your verdicts."


@dataclass(frozen=True)
class Comparison:
    """Tokens of the fine and the coarse loop for one goal, and the coarse loop's saving."""

    structures: int
    methods: int
    batch: int
    fine: dict[str, int]
    coarse: dict[str, int]
    context_tokens: int

    @property
    def saving_pct(self) -> float:
        return 100.0 * (1.0 - self.coarse["total"] / self.fine["total"])


def compare_granularity(
    structures: int,
    methods: int,
    batch: int | None = None,
    reasoning_per_output: float = REASONING_PER_OUTPUT,
    context: str = PLANNER_CONTEXT,
) -> Comparison:
    """Book both loops for ``structures`` × ``methods`` (coarse batches of ``batch``, default all).

    ``context`` is what every call repeats: pass your own planner prompt to count with it.
    """
    if structures < 1 or methods < 1:
        raise ValueError("structures and methods must be at least 1")
    batch = structures if batch is None else batch
    if not 1 <= batch <= structures:
        raise ValueError(f"batch {batch} must be between 1 and the {structures} structures")
    fine = TokenLedger(reasoning_per_output)
    for i in range(structures):
        for m in range(methods):
            fine.record_text("propose", propose_prompt(1, methods, context), proposal_line(i, m))
            fine.record_text("read", read_prompt([result_line(i, m)], context), verdict_line(i))
    coarse = TokenLedger(reasoning_per_output)
    for first in range(0, structures, batch):
        ids = range(first, min(first + batch, structures))
        proposals = "\n".join(proposal_line(i, None) for i in ids)
        coarse.record_text("propose", propose_prompt(len(ids), methods, context), proposals)
        results = [result_line(i, m) for i in ids for m in range(methods)]
        verdicts = "\n".join(verdict_line(i) for i in ids)
        coarse.record_text("read", read_prompt(results, context), verdicts)
    return Comparison(
        structures, methods, batch, fine.totals(), coarse.totals(), estimate_tokens(context)
    )
