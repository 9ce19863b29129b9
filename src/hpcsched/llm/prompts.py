"""The narrator's prompts and reply schema: "Insight" of one chart, "Compare" of two tables.

Adapted from the two AI actions of the Frontier/Andes workflow (Borch, Maheshwari, Wozniak,
Ferreira da Silva, "An LLM-enabled workflow for understanding and evolving HPC scheduling
practices", WISDOM @ ICPP 2025): *Insight* explains one chart of the Slurm data to system
administrators (scheduling behaviour, efficiency, usage patterns, what to act on); *Compare*
contrasts the same view of two data sets. Two changes, both for grounding: the model is given
the chart's facts as ``key = value`` lines (never the picture), and must answer with
:class:`Narrative` JSON in which every number it writes is also claimed with the fact's key.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from hpcsched.llm.client import Message
from hpcsched.llm.grounding import Fact

MAX_SENTENCES: Final = 4
MAX_CLAIMS: Final = 4
MAX_CHARS: Final = 240

_RULES = f"""Rules:
- Use only the facts listed. Do not compute new numbers: copy each number exactly as shown,
  with its unit (for example "12 min", "41%", "1,234").
- For every number in a sentence, add a claim: the fact key and its value.
- Name only the users, states, partitions or groups that appear in the facts.
- Write 1 to {MAX_SENTENCES} short sentences in plain English, most important first.
- Reply with JSON only.
"""

#: A one-shot example: small models follow an example better than rules.
_EXAMPLE = """Example. Facts:
jobs = 500 (jobs)
failed.median_wait = 4 min (median wait of failed jobs)
Reply:
{"sentences": [{"claims": [{"fact": "failed.median_wait", "value": 240}], "text": \
"The median wait of failed jobs was 4 min."}, {"claims": [{"fact": "jobs", "value": 500}], \
"text": "The table has 500 jobs."}]}"""

#: The last line of every prompt: the pattern a small model follows best.
_ASK = "Write each sentence as: The <meaning> was <value exactly as shown>."

INSIGHT_SYSTEM: Final = f"""You are an HPC operations analyst. You explain one chart of a \
cluster's job accounting data (Slurm or a workload trace) to system administrators: what it \
shows about scheduling behaviour, efficiency and usage, and what may be worth acting on.
{_RULES}{_EXAMPLE}"""

COMPARE_SYSTEM: Final = f"""You are an HPC operations analyst. You compare the same view of \
two job tables (for example a real month and a simulated policy, or two months) for system \
administrators: what differs most, and by how much. Facts of the first table start with "A.", \
of the second with "B."; "ratio." facts are the second divided by the first.
{_RULES}{_EXAMPLE}"""


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fact: str
    value: float


class Sentence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claims: list[Claim] = Field(max_length=MAX_CLAIMS)
    text: str = Field(min_length=1, max_length=MAX_CHARS)


class Narrative(BaseModel):
    """The reply: a few sentences, each with the facts its numbers come from."""

    model_config = ConfigDict(extra="forbid")

    sentences: list[Sentence] = Field(min_length=1, max_length=MAX_SENTENCES)


def narrative_schema(keys: Sequence[str]) -> dict[str, Any]:
    """:class:`Narrative`'s JSON schema with ``fact`` limited to ``keys`` (claims come first,
    so a constrained decoder picks the facts before it writes the sentence)."""
    claim = {
        "type": "object",
        "properties": {"fact": {"type": "string", "enum": list(keys)}, "value": {"type": "number"}},
        "required": ["fact", "value"],
        "additionalProperties": False,
    }
    sentence = {
        "type": "object",
        "properties": {
            "claims": {"type": "array", "items": claim, "maxItems": MAX_CLAIMS},
            "text": {"type": "string", "minLength": 1, "maxLength": MAX_CHARS},
        },
        "required": ["claims", "text"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "sentences": {
                "type": "array",
                "items": sentence,
                "minItems": 1,
                "maxItems": MAX_SENTENCES,
            }
        },
        "required": ["sentences"],
        "additionalProperties": False,
    }


def unknown_keys(narrative: Narrative, keys: Iterable[str]) -> list[str]:
    """Claims naming a fact that was not given (a schema-valid reply can still do this when the
    server ignores ``enum``)."""
    known = set(keys)
    return [
        f"unknown fact key {c.fact!r}"
        for s in narrative.sentences
        for c in s.claims
        if c.fact not in known
    ]


def _fact_lines(facts: Iterable[Fact]) -> str:
    return "\n".join(f.as_line() for f in facts)


def insight_messages(title: str, facts: Iterable[Fact], context: str = "") -> list[Message]:
    """The Insight prompt for one chart."""
    lead = f"Chart: {title}\n" + (f"Data: {context}\n" if context else "")
    user = f"{lead}Facts (key = value (meaning)):\n{_fact_lines(facts)}\n{_ASK}"
    return [{"role": "system", "content": INSIGHT_SYSTEM}, {"role": "user", "content": user}]


def compare_messages(title: str, names: tuple[str, str], facts: Iterable[Fact]) -> list[Message]:
    """The Compare prompt for one view of two tables (A and B)."""
    user = (
        f"View: {title}\nA = {names[0]}\nB = {names[1]}\n"
        f"Facts (key = value (meaning)):\n{_fact_lines(facts)}\n{_ASK}"
    )
    return [{"role": "system", "content": COMPARE_SYSTEM}, {"role": "user", "content": user}]


def user_message(text: str, images: Sequence[bytes] = (), *, images_allowed: bool) -> Message:
    """A user message; PNG ``images`` become image parts only when the endpoint takes them
    (the ``images`` capability flag), else they are left out."""
    if not images or not images_allowed:
        return {"role": "user", "content": text}
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    for png in images:
        url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return {"role": "user", "content": parts}
