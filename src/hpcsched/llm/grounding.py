"""Checking a model's sentence against the facts it was given: every number, every name.

A sentence is read, not trusted. Each number in its text is parsed with the unit written after
it (``12 min``, ``41%``, ``3.1 h``, ``2.5×``, ``1.2k``, ``twice``) and must equal one of the
facts, converted to the fact's unit, within :data:`REL_TOL` relative **or** within the rounding
the sentence shows (half a unit of the last digit written: ``3 h`` stands for 2.5–3.5 h, ``41%``
for 40.5–41.5 %), whichever is wider. The numbers the reply *claims* (its ``claims`` list) only
say where to look first; what counts is the text a person would read.

Names are checked too: an identifier-like token (letters with digits, ``_``, or an ISO date)
must be a name in the data (users, partitions, QoS, states, size classes, dates, the tables'
labels); a fact key (``user_1.jobs``, ``p25_wait``) is not one. A number glued to a known name
(``user42``) is part of the name.

A number is also tied to what it is about: a fact about a group (``completed.median_wait``)
checks only in a sentence that names that group, a fact about the whole table only in one that
names no group, and when a sentence names statistics (median, mean, 75th percentile, peak,
first half, ...) only facts that are one of those (or counts) check.

Outcome per sentence: **verified** (it has numbers and every one checks, and every name exists),
**dropped** (a number or a name does not check: the sentence is not shown), **unverifiable**
(no number to check: shown, marked as not checked).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

#: Relative tolerance of a stated number against its fact (2 %).
REL_TOL: Final = 0.02
#: Percentile levels that may be named ("95th percentile", "p95") without being a claim.
QUANTILE_LEVELS: Final = frozenset({5, 10, 25, 50, 75, 90, 95, 99})

Status = Literal["verified", "unverifiable", "dropped"]

#: Fact units: count, seconds, share (0-1), ratio, number, correlation, days, year.
_SECONDS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "min": 60, "mins": 60,
            "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600,
            "hours": 3600, "d": 86400, "day": 86400, "days": 86400, "week": 604800,
            "weeks": 604800}  # fmt: skip
_SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "millions": 1e6}
_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "hundred": 100,
          "thousand": 1000}  # fmt: skip

_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-−]?)(?P<num>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?"
    r"(?:\s?(?P<scale>k|thousand|millions?|(?-i:M))\b)?"
    r"(?:\s?(?P<unit>%|percent\b|per cent\b|×|x\b|times\b|-fold\b|fold\b"
    r"|(?:seconds?|secs?|s|minutes?|mins?|min|hours?|hrs?|hr|h|days?|d|weeks?)\b))?",
    re.IGNORECASE,
)
_WORD = re.compile(
    r"\b(?P<word>" + "|".join(_WORDS) + r"|half|twice|double|triple)\b", re.IGNORECASE
)
_PERCENTILE = re.compile(r"\b(\d+)(?:st|nd|rd|th)[\s-]+(?:percentile|quantile)|\bp(\d+)\b", re.I)
_HALVES = re.compile(r"\b(?:first|second|latter|former|other) half\b", re.IGNORECASE)
#: Words that name a statistic. A fact with ``stat`` matches a number only when the sentence
#: names that statistic or none at all.
STAT_WORDS: Final = {
    "median": ("median", "typical"),
    "mean": ("mean", "average", "on average"),
    "p25": ("25th", "first quartile", "lower quartile", "p25"),
    "p75": ("75th", "third quartile", "upper quartile", "p75"),
    "p95": ("95th", "p95"),
    "max": ("longest", "maximum", "max", "largest", "highest", "at most"),
    "peak": ("peak", "peaked", "highest", "maximum", "max"),
    "lowest": ("lowest", "minimum", "least"),  # not "min": that is minutes
    "first_half": ("first half",),
    "second_half": ("second half",),
}
_STATS: Final = {
    stat: re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b")
    for stat, words in STAT_WORDS.items()
}
_NUMERIC = re.compile(r"[-+]?[\d.,]+")
#: A number glued to its unit or an ordinal (``3h``, ``1.2k``, ``95th``): not a name.
_GLUED = re.compile(r"\d[\d,]*(?:\.\d+)?(?:k|m|x|s|h|d|min|mins|hrs?|st|nd|rd|th)", re.I)
_IDENT = re.compile(r"(?<![\w.])(?=[\w-]*[A-Za-z])(?=[\w-]*(?:\d|_))[\w-]+")


@dataclass(frozen=True)
class Fact:
    """One number the model may quote: its key, value (base unit), unit and meaning."""

    key: str
    value: float
    unit: str  #: count, seconds, share, ratio, number, correlation, days, year
    label: str
    shown: str = ""  #: the value as the report prints it
    #: the group the number is about (a state, a user, a size class): a sentence quoting it
    #: must name that group, so "completed jobs waited 3 min" cannot borrow failed jobs' wait
    subject: str | None = None
    #: the statistic it is (median, mean, p75, max, peak, first_half, ...): a sentence that
    #: names statistics must name this one, so "the first half averaged 15" cannot borrow the
    #: overall mean
    stat: str | None = None

    def as_line(self) -> str:
        return f"{self.key} = {self.shown or _plain(self.value)} ({self.label})"


@dataclass(frozen=True)
class Mention:
    """A number as written in a sentence."""

    text: str
    start: int
    end: int
    value: float  #: in the unit written (percent for %, seconds for durations)
    unit: str | None  #: percent, seconds, ratio, or None
    allowance: float  #: half a unit of the last digit written (same unit as ``value``)


@dataclass(frozen=True)
class NumberCheck:
    mention: Mention
    fact: str | None  #: the fact it matched, None when none did

    @property
    def ok(self) -> bool:
        return self.fact is not None


@dataclass
class SentenceCheck:
    text: str
    status: Status
    numbers: list[NumberCheck] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  #: names found in the data
    unknown_names: list[str] = field(default_factory=list)
    accepted_spans: list[tuple[int, int]] = field(default_factory=list)  #: checked text ranges
    note: str | None = None  #: another reason to drop it, given by the caller

    @property
    def reason(self) -> str | None:
        bad = [c.mention.text for c in self.numbers if not c.ok]
        parts = [f"number(s) not in the facts: {', '.join(bad)}"] if bad else []
        if self.note:
            parts.append(self.note)
        if self.unknown_names:
            parts.append(f"name(s) not in the data: {', '.join(self.unknown_names)}")
        return "; ".join(parts) or None


def check_sentence(
    text: str,
    facts: Mapping[str, Fact],
    names: Iterable[str] = (),
    cited: Iterable[str] = (),
    groups: Iterable[str] = (),
) -> SentenceCheck:
    """Check every number and identifier of ``text`` against ``facts`` and ``names``.

    ``groups`` are the names a number can be *about* (states, users, partitions, size
    classes): a sentence that names one can only quote facts about a group it names."""
    text = text.replace("\n", " ")
    known = {_dashes(n).lower() for n in names if n}
    tokens = known  # fact keys are not names: a sentence quoting ``user_1.jobs`` is not prose
    masked, spans, found = _mask_names(_dashes(text), known)
    levels = _percentile_spans(masked)
    masked = _blank(masked, levels)
    spans.extend(levels)
    unknown = [
        m.group(0)
        for m in _IDENT.finditer(masked)
        if m.group(0).lower() not in tokens and not _GLUED.fullmatch(m.group(0))
    ]
    cited_keys = [k for k in cited if k in facts]
    order = [facts[k] for k in cited_keys]
    order += [f for k, f in facts.items() if k not in cited_keys]
    named = {n.lower() for n in found}
    about = named & {_dashes(g).lower() for g in groups}
    order = [f for f in order if (_dashes(f.subject).lower() in named if f.subject else not about)]
    stats = stats_named(text)
    if stats:  # a sentence naming statistics quotes those, or counts
        order = [f for f in order if f.stat in stats or (f.stat is None and f.unit == "count")]
    checks = [NumberCheck(m, _match(m, order)) for m in mentions(masked)]
    spans.extend((c.mention.start, c.mention.end) for c in checks if c.ok)
    if unknown or any(not c.ok for c in checks):
        status: Status = "dropped"
    elif checks:
        status = "verified"
    else:
        status = "unverifiable"
    return SentenceCheck(text, status, checks, sorted(found), unknown, sorted(spans))


def stats_named(text: str) -> set[str]:
    """The statistics a sentence names (:data:`STAT_WORDS`)."""
    lower = text.lower()
    return {stat for stat, pattern in _STATS.items() if pattern.search(lower)}


def mentions(text: str) -> list[Mention]:
    """Every number of ``text`` with its unit (digits, then number words)."""
    out: list[Mention] = []
    for m in _NUMBER.finditer(text):
        digits = m.group("num").replace(",", "")
        frac = m.group("frac") or ""
        value = float(digits + frac)
        if m.group("sign"):
            value = -value
        step = 10.0 ** -(len(frac) - 1) if frac else 1.0
        scale = _SCALE.get((m.group("scale") or "").lower(), 1.0)
        unit, factor = _unit(m.group("unit"))
        out.append(
            Mention(
                m.group(0),
                m.start(),
                m.end(),
                value * scale * factor,
                unit,
                step / 2 * scale * factor,
            )
        )
    for w in _WORD.finditer(text):
        word = w.group("word").lower()
        if word == "half":
            out.append(Mention(w.group(0), w.start(), w.end(), 50.0, "percent", 0.5))
        elif word in ("twice", "double"):
            out.append(Mention(w.group(0), w.start(), w.end(), 2.0, "ratio", 0.05))
        elif word == "triple":
            out.append(Mention(w.group(0), w.start(), w.end(), 3.0, "ratio", 0.05))
        else:
            out.append(Mention(w.group(0), w.start(), w.end(), float(_WORDS[word]), None, 0.5))
    return sorted(out, key=lambda m: m.start)


def _unit(written: str | None) -> tuple[str | None, float]:
    if not written:
        return None, 1.0
    word = written.lower().strip()
    if word in ("%", "percent", "per cent"):
        return "percent", 1.0
    if word in ("×", "x", "times", "-fold", "fold"):
        return "ratio", 1.0
    return "seconds", float(_SECONDS[word])


def _match(mention: Mention, facts: list[Fact]) -> str | None:
    for fact in facts:
        for value, allowance in _as_fact_unit(mention, fact):
            if abs(value - fact.value) <= max(REL_TOL * abs(fact.value), allowance):
                return fact.key
    return None


def _as_fact_unit(m: Mention, fact: Fact) -> list[tuple[float, float]]:
    """The mention in ``fact``'s unit (value and rounding allowance), if the units agree."""
    if m.unit == "percent":
        return [(m.value / 100, m.allowance / 100)] if fact.unit == "share" else []
    if m.unit == "seconds":
        if fact.unit == "seconds":
            return [(m.value, m.allowance)]
        return [(m.value / 86400, m.allowance / 86400)] if fact.unit == "days" else []
    if m.unit == "ratio":
        return [(m.value, m.allowance)] if fact.unit == "ratio" else []
    if fact.unit in ("count", "number", "ratio", "correlation", "year", "days", "share"):
        return [(m.value, m.allowance)]
    return []


def _dashes(text: str) -> str:
    """En and em dashes as hyphens (same length, so spans stay put): ``3–4`` = ``3-4``."""
    return text.replace("–", "-").replace("—", "-")


def _mask_names(text: str, known: set[str]) -> tuple[str, list[tuple[int, int]], set[str]]:
    """``text`` with known names blanked (longest first), their spans, and the names found
    (``known`` and ``found`` are lower case; names are matched regardless of case).

    Names of several tokens (``3-4 processors``, ``cancelled (never started)``, dates) are
    found by pattern; a name that is only a number (SWF user ids, size class ``1``) never is:
    a bare number in a sentence is a claim to check, not a name. Single-token names are looked
    up token by token."""
    spans: list[tuple[int, int]] = []
    found: set[str] = set()
    special = sorted(
        (n for n in known if re.search(r"[\s\-()]", n) and not _NUMERIC.fullmatch(n)),
        key=len,
        reverse=True,
    )
    lower = text.lower()
    for name in special:
        if name not in lower:
            continue
        pattern = re.compile(r"(?<![\w])" + re.escape(name) + r"(?![\w])", re.IGNORECASE)
        for m in pattern.finditer(text):
            spans.append((m.start(), m.end()))
            found.add(name)
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    for m in re.finditer(r"[\w-]+", text):
        if m.group(0).lower() in known:
            found.add(m.group(0).lower())
            if any(c.isdigit() for c in m.group(0)):
                spans.append((m.start(), m.end()))
    return text, spans, found


def _percentile_spans(text: str) -> list[tuple[int, int]]:
    """Named percentile levels and "first/second half" (of a time span): words, not claims."""
    spans = [(m.start(), m.end()) for m in _HALVES.finditer(text)]
    for m in _PERCENTILE.finditer(text):
        level = int(m.group(1) or m.group(2))
        if level in QUANTILE_LEVELS:
            spans.append((m.start(), m.end()))
    return spans


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _plain(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def unaccounted_digits(check: SentenceCheck) -> int:
    """Digits of the sentence outside every checked span: 0 for a sentence fit to show.

    An audit independent of the parser's idea of a number: any digit a person would read must
    lie inside a verified number, a known name or a named percentile level."""
    covered = [False] * len(check.text)
    for start, end in check.accepted_spans:
        for i in range(start, min(end, len(check.text))):
            covered[i] = True
    return sum(1 for i, c in enumerate(check.text) if c.isdigit() and not covered[i])
