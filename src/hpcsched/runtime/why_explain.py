"""``hpcsched why RUN --explain``: a model's "root cause / next steps", checked against the journal.

For each root cause the model is shown the journal's facts (:mod:`.why_context`) and answers
under a JSON schema (:class:`WhyReply`). Every sentence is then read for references
(:func:`~hpcsched.llm.references.check_references`): a sentence naming a task id, file, exit
code, folder or number the journal does not hold, or holding shell text that is not the task's
own command, is dropped and counted; one naming nothing to check is shown marked. Nothing of the
reply is executed. Without an endpoint, or when the reply is late or invalid twice, the
deterministic advice stands, with a note saying why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field

from hpcsched.llm.client import ChatClient, LLMError, Message
from hpcsched.llm.references import Known, ReferenceCheck, check_references
from hpcsched.llm.structured import ask
from hpcsched.runtime.analyze import Diagnosis
from hpcsched.runtime.journal import RunRecord
from hpcsched.runtime.why_context import (
    FailureFacts,
    deterministic_advice,
    failure_facts,
    known_references,
)

MAX_TOKENS: Final = 320
MAX_CHARS: Final = 240
#: Root causes the model is asked about; the others get the deterministic advice.
MAX_ASKED: Final = 3

Line = Annotated[str, Field(min_length=1, max_length=MAX_CHARS)]


class WhyReply(BaseModel):
    """The reply: a few sentences of root cause, a few of next steps."""

    model_config = ConfigDict(extra="forbid")

    root_cause: list[Line] = Field(min_length=1, max_length=3)
    next_steps: list[Line] = Field(min_length=1, max_length=4)


SYSTEM: Final = """You analyse a failed task of a scientific workflow for its user, like \
PegasusAI: say what went wrong (root cause) and what to do next (next steps).
Rules:
- Use only the facts given. Name only the task ids, files, folders and exit codes that appear \
in the facts; copy them exactly.
- Do not write shell commands, code or paths that are not in the facts.
- Write short plain-English sentences: 1 to 3 for root_cause, 1 to 4 for next_steps.
- Reply with JSON only.
Example reply:
{"root_cause": ["Task make exited with code 2 because in.csv was missing."], \
"next_steps": ["Create in.csv before the task runs.", "Run the workflow again."]}"""


def why_messages(facts: FailureFacts) -> list[Message]:
    text = "Facts of the failed task:\n" + "\n".join(facts.lines())
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


@dataclass
class Explanation:
    """One root cause explained: by the model (each sentence checked) or deterministically."""

    facts: FailureFacts
    source: str  #: model or deterministic
    root_cause: list[ReferenceCheck] = field(default_factory=list)
    next_steps: list[ReferenceCheck] = field(default_factory=list)
    note: str | None = None  #: why the deterministic advice stands (or part of it)

    def checks(self) -> list[ReferenceCheck]:
        return [*self.root_cause, *self.next_steps]

    def counts(self) -> Counter[str]:
        if self.source != "model":
            return Counter()
        return Counter(c.status for c in self.checks() if "deterministic" not in c.found)

    def as_dict(self) -> dict[str, Any]:
        def status(c: ReferenceCheck) -> str:  # the facts' own text is not a checked claim
            deterministic = self.source == "deterministic" or "deterministic" in c.found
            return "deterministic" if deterministic else c.status

        def rows(checks: list[ReferenceCheck]) -> list[dict[str, Any]]:
            return [
                {"text": c.text, "status": status(c), "references": c.found, "reason": c.reason}
                for c in checks
            ]

        return {
            "task_id": self.facts.task_id,
            "source": self.source,
            "note": self.note,
            "facts": {k: v for k, v in vars(self.facts).items() if not k.startswith("_")},
            "root_cause": rows(self.root_cause),
            "next_steps": rows(self.next_steps),
            "counts": dict(self.counts()),
        }


@dataclass
class WhyExplanation:
    explanations: list[Explanation] = field(default_factory=list)
    model: str | None = None
    note: str = ""

    def counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for e in self.explanations:
            total.update(e.counts())
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "note": self.note,
            "counts": dict(self.counts()),
            "explanations": [e.as_dict() for e in self.explanations],
        }


def _deterministic(facts: FailureFacts, note: str | None) -> Explanation:
    cause, steps = deterministic_advice(facts)
    return Explanation(
        facts,
        "deterministic",
        [ReferenceCheck(t, "verified") for t in cause],
        [ReferenceCheck(t, "verified") for t in steps],
        note,
    )


def explain(
    record: RunRecord,
    diagnosis: Diagnosis,
    client: ChatClient | None,
    *,
    why_not: str = "no language model configured: set HPCSCHED_LLM_URL or pass --llm-url",
) -> WhyExplanation:
    """Every root cause explained; by the model when ``client`` answers, else deterministically."""
    every = failure_facts(record, diagnosis)
    out = WhyExplanation()
    if client is None:
        out.note = f"No model explanation ({why_not}); the deterministic advice stands."
        out.explanations = [_deterministic(f, None) for f in every]
        return out
    try:
        client.models(deadline=min(client.settings.deadline, 15.0))
    except LLMError as exc:
        out.note = f"No model explanation (the endpoint did not answer: {exc.kind}); the "
        out.note += "deterministic advice stands."
        out.explanations = [_deterministic(f, None) for f in every]
        return out
    out.model = client.model_name()
    for i, facts in enumerate(every):
        if i >= MAX_ASKED:
            out.explanations.append(_deterministic(facts, f"only {MAX_ASKED} causes are asked"))
            continue
        messages = why_messages(facts)
        known = known_references(record, every, "\n".join(facts.lines()))
        out.explanations.append(_ask_one(client, messages, facts, known))
    fallbacks = sum(e.source == "deterministic" for e in out.explanations)
    if fallbacks:
        out.note = f"{fallbacks} root cause(s) explained deterministically (see each note)."
    return out


def _ask_one(
    client: ChatClient, messages: list[Message], facts: FailureFacts, known: Known
) -> Explanation:
    result = ask(client, messages, WhyReply, purpose=f"why:{facts.task_id}", max_tokens=MAX_TOKENS)
    if result.value is None:
        return _deterministic(facts, f"the model gave no usable reply ({result.reason})")
    reply = result.value
    done = Explanation(
        facts,
        "model",
        [check_references(t, known) for t in reply.root_cause],
        [check_references(t, known) for t in reply.next_steps],
    )
    cause, steps = deterministic_advice(facts)
    for section, fallback in (("root_cause", cause), ("next_steps", steps)):
        checks: list[ReferenceCheck] = getattr(done, section)
        if not any(c.status == "verified" for c in checks):
            # no sentence of the model's section checks: the facts' own sentences are shown too
            checks += [ReferenceCheck(t, "verified", ["deterministic"]) for t in fallback]
            done.note = "a section without a verified sentence shows the deterministic text too"
    return done


def render_explanation(found: WhyExplanation) -> str:
    """Plain text: per root cause its facts, then Root cause / Next steps (dropped ones counted,
    never shown; unverifiable ones marked)."""
    lines: list[str] = []
    for e in found.explanations:
        f = e.facts
        by = found.model if e.source == "model" else "deterministic (no model)"
        lines += ["", f"── {f.task_id}: explained by {by}"]
        lines += [f"  {line}" for line in f.lines()[3:] if not line.startswith("blocks")]
        for title, checks in (("Root cause", e.root_cause), ("Next steps", e.next_steps)):
            lines.append(f"  {title}:")
            for c in checks:
                if c.status == "dropped":
                    continue  # counted below, never shown
                if e.source == "deterministic" or "deterministic" in c.found:
                    lines.append(f"    - {c.text}")
                elif c.status == "verified":
                    lines.append(f"    ✓ {c.text}")
                else:
                    lines.append(f"    ? {c.text}  (names nothing to check)")
        if e.source == "model":
            n = e.counts()
            lines.append(
                f"  {n['verified']} sentence(s) verified against the journal, "
                f"{n['unverifiable']} unverifiable (marked ?), {n['dropped']} dropped "
                "(a task id, file, exit code, path, number or shell text not in the journal)"
            )
        if e.note:
            lines.append(f"  note: {e.note}")
    if found.note:
        lines += ["", found.note]
    return "\n".join(lines)
