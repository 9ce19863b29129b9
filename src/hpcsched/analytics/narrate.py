"""Grounded narration of a report: "Insight" of each view, or "Compare" of two tables, checked.

For each view (the overall summary and every chart) the facts behind it
(:mod:`~hpcsched.analytics.chart_facts`) go to the model with the Insight prompt (one table)
or the Compare prompt (two). The reply is schema-constrained (:class:`~hpcsched.llm.prompts.
Narrative`) and every sentence is checked (:func:`~hpcsched.llm.grounding.check_sentence`):
verified sentences are shown, those without a number to check are shown marked, those with a
number or a name that does not check are dropped, and the three counts are reported.

The deterministic insights never depend on this: without an endpoint, when it cannot be
reached, errs or misses its deadline, the report is what it is without narration, plus one line
saying why (:attr:`Narration.note`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from hpcsched.analytics.chart_facts import VIEWS, ChartFacts, chart_facts, paired
from hpcsched.analytics.derive import Prepared
from hpcsched.llm.client import ChatClient, LLMError
from hpcsched.llm.grounding import REL_TOL, SentenceCheck, check_sentence
from hpcsched.llm.prompts import (
    MAX_CHARS,
    Narrative,
    compare_messages,
    insight_messages,
    narrative_schema,
    unknown_keys,
)
from hpcsched.llm.settings import redact_url
from hpcsched.llm.structured import ask

#: Tokens a narration reply may use (four short sentences with their claims).
MAX_TOKENS: Final = 400
#: Facts sent per view (its first, headline ones; three times as many, A, B and B / A, to
#: compare).
MAX_FACTS: Final = 6  # on KTH-SP2 SmolLM2-135M: 3 of 12 numbers checked with 6, 2 of 39 with all
#: Deadline misses after which the remaining views are not asked (the endpoint is too slow).
MAX_MISSES: Final = 2
#: How the report states the tolerance.
TOLERANCE_TEXT: Final = (
    f"a number checks when it equals a fact within {REL_TOL:.0%} relative or within the "
    "rounding it is written with (3 h: 2.5-3.5 h), and the group it is about is named"
)


@dataclass
class ViewNarration:
    """The narration of one view: the checked sentences, or why there are none."""

    key: str
    title: str
    kind: str  #: insight or compare
    checks: list[SentenceCheck] = field(default_factory=list)
    facts: int = 0
    reason: str | None = None  #: why no sentence came from the model

    def counts(self) -> Counter[str]:
        return Counter(c.status for c in self.checks)

    def shown(self) -> list[SentenceCheck]:
        return [c for c in self.checks if c.status != "dropped"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "kind": self.kind,
            "facts": self.facts,
            "reason": self.reason,
            "counts": dict(self.counts()),
            "sentences": [
                {
                    "text": c.text,
                    "status": c.status,
                    "reason": c.reason,
                    "numbers": [
                        {"text": n.mention.text, "value": n.mention.value, "fact": n.fact}
                        for n in c.numbers
                    ],
                    "names": c.names,
                }
                for c in self.checks
            ],
        }


@dataclass
class Narration:
    """Every view's narration, the one-line note for the user, and the model used."""

    views: dict[str, ViewNarration] = field(default_factory=dict)
    note: str = ""
    model: str | None = None

    def counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for view in self.views.values():
            total.update(view.counts())
        return total

    def summary(self) -> str:
        """One line: who narrated, and verified / unverifiable / dropped."""
        c = self.counts()
        if not self.views or not sum(c.values()):
            return self.note
        text = (
            f"Narration by {self.model or 'a language model'}: {c['verified']} sentence(s) "
            f"verified, {c['unverifiable']} unverifiable (no number; shown marked), "
            f"{c['dropped']} dropped (a number or name did not check)."
        )
        return f"{text} {self.note}".strip()

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "note": self.note,
            "summary": self.summary(),
            "tolerance": TOLERANCE_TEXT,
            "counts": dict(self.counts()),
            "views": {k: v.as_dict() for k, v in self.views.items()},
        }


def unavailable(reason: str) -> Narration:
    """No narration: the deterministic insights stand alone, and the note says why."""
    return Narration(note=f"No narration ({reason}); the deterministic insights stand alone.")


def narrate(
    client: ChatClient,
    preps: Sequence[Prepared],
    *,
    names: Sequence[str] = ("A", "B"),
    capacity: Sequence[float | None] = (None, None),
    views: Sequence[str] | None = None,
    max_facts: int = MAX_FACTS,
) -> Narration:
    """Narrate every view of one table (Insight) or of two (Compare), each sentence checked."""
    url = redact_url(client.settings.url or "")
    try:
        client.models(deadline=min(client.settings.deadline, 15.0))
    except LLMError as exc:
        return unavailable(f"the language model at {url} did not answer: {exc.kind}")
    out = Narration(model=client.model_name())
    misses = 0
    for key in views or list(VIEWS):
        facts = _facts(preps, key, capacity, names)
        kind = "compare" if len(preps) == 2 else "insight"
        view = ViewNarration(key, facts.title, kind, facts=len(facts.facts))
        out.views[key] = view
        if not facts.facts:
            view.reason = "the table has no data for this view"
            continue
        if misses >= MAX_MISSES:
            view.reason = "not asked: the endpoint missed its deadline twice"
            continue
        # the first facts of a view are its headline ones; a small model copies a short list
        # more faithfully. Sentences are still checked against every fact of the view.
        sent = list(facts.facts.values())[: max_facts * (3 if kind == "compare" else 1)]
        if kind == "compare":
            messages = compare_messages(facts.title, (names[0], names[1]), sent)
        else:
            messages = insight_messages(facts.title, sent, names[0])
        result = ask(
            client,
            messages,
            Narrative,
            purpose=f"{kind}:{key}",
            schema=narrative_schema([f.key for f in sent]),
            check=lambda n, f=facts: unknown_keys(n, f.facts),  # type: ignore[misc]
            max_tokens=MAX_TOKENS,
        )
        if result.value is None:
            view.reason = result.reason
            misses += bool(result.reason and result.reason.startswith("deadline"))
            if result.reason and result.reason.startswith("connect"):
                out.note = f"The language model at {url} stopped answering."
                break
            continue
        view.checks = _checked(result.value, facts)
    failed = [v.key for v in out.views.values() if v.reason and v.facts]
    if failed and not out.note:
        out.note = f"{len(failed)} view(s) without narration (see insights.json)."
    return out


def _checked(narrative: Narrative, facts: ChartFacts) -> list[SentenceCheck]:
    """Every sentence checked; a repeat of an earlier one, or one cut off at the length limit
    (a constrained decoder stops mid-word there), is dropped with that reason."""
    out: list[SentenceCheck] = []
    seen: set[str] = set()
    for sentence in narrative.sentences:
        cited = [c.fact for c in sentence.claims]
        check = check_sentence(sentence.text, facts.facts, facts.names, cited, facts.groups)
        norm = " ".join(sentence.text.split()).lower()
        if norm in seen:
            check.status, check.note = "dropped", "repeats an earlier sentence"
        elif len(sentence.text) >= MAX_CHARS:
            check.status, check.note = "dropped", f"cut off at {MAX_CHARS} characters"
        seen.add(norm)
        out.append(check)
    return out


def _facts(
    preps: Sequence[Prepared], key: str, capacity: Sequence[float | None], names: Sequence[str]
) -> ChartFacts:
    found = [chart_facts(p, key, c) for p, c in zip(preps, capacity, strict=False)]
    for facts, name in zip(found, names, strict=False):
        facts.names.append(name)  # a sentence may name the table it is about
    if len(found) == 1:
        return found[0]
    if not found[0].facts or not found[1].facts:
        return ChartFacts(key, found[0].title)
    return paired(found[0], found[1])
