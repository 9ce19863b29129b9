"""RULES.yaml: what an agent consumes and which action each event calls for.

::

    subject: watch                  # events under hpcsched.events.watch (wildcards * and >)
    group: harp                     # the consumer group (a durable JetStream consumer)
    site: examples/site-local.yaml  # optional: partition MaxTime (else scontrol)
    rules:
      - name: timeout-resubmit
        when: {event: job-ended, state: timeout}
        action: resubmit
        limit_factor: 2             # new --time = old x 2, capped at the partition's MaxTime
        max_attempts: 2
      - name: refit-on-drift
        when: {event: prediction-drift}
        action: refit               # predict fit's run-time bound, written atomically to out:
        table: history.parquet      # paths relative to the rules file
        out: models/runtime
        threshold: 0.3              # optional: only when the event's error is >= 0.3
      - name: split-too-long
        when: {event: job-refused-too-long}   # from hpcsched watch --observe
        action: split               # a chain of parts that each fit MaxTime, afterok
        checkpointed: true          # the script restarts from its checkpoint (else: proposed)
    decider: {kind: llm, deadline: 5}   # optional: a model picks among the matching rules

The trigger is ``when:``, not ``on:``: YAML 1.1 (PyYAML) reads a bare ``on`` as ``true``.
Every mistake is one line ``FILE:LINE: what; what to do`` (a key given twice, which PyYAML would
resolve silently, is refused). :func:`matching` is the rule decision, with no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hpcsched.core.yaml_guard import YamlRefusal, check_tree

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NAME = r"^[A-Za-z0-9_-]+$"


class RulesError(ValueError):
    """A rules file that cannot be used; ``str(err)`` is ``FILE:LINE: what; fix`` on one line."""

    def __init__(self, file: str, line: int | None, what: str, fix: str) -> None:
        where = file if line is None else f"{file}:{line}"
        super().__init__(" ".join(f"{where}: {what}; {fix}".splitlines()))


class When(BaseModel):
    """The events a rule is for: the event name, and optionally its source and job state."""

    model_config = ConfigDict(extra="forbid")
    event: str = Field(min_length=1)
    source: str | None = None
    state: str | None = None  # the job table's canonical state (``timeout``); case is ignored

    @field_validator("state")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None

    def matches(self, event: Mapping[str, Any]) -> bool:
        if event.get("event") != self.event:
            return False
        if self.source is not None and event.get("source") != self.source:
            return False
        return self.state is None or str(event.get("state", "")).lower() == self.state


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=_NAME)
    when: When


class Resubmit(_Rule):
    """Resubmit the ended job with ``--time`` = old x ``limit_factor`` (capped at MaxTime)."""

    action: Literal["resubmit"]
    limit_factor: float = Field(default=2.0, gt=1.0, le=100.0, allow_inf_nan=False)
    max_attempts: int = Field(default=2, ge=1, le=100)


class FlagUser(_Rule):
    """Flag a user once ``after`` of their jobs asked for ``ratio`` x the time they used."""

    action: Literal["flag-user"]
    ratio: float = Field(default=10.0, gt=1.0, allow_inf_nan=False)
    after: int = Field(default=3, ge=1)


class Command(_Rule):
    """Run a shell command (the event in ``$HPCSCHED_EVENT``, the idempotency key in
    ``$HPCSCHED_KEY``); ``check`` (exit 0: already done) makes a restart exactly-once."""

    action: Literal["command"]
    run: str = Field(min_length=1)
    check: str | None = None
    timeout: float = Field(default=60.0, gt=0, allow_inf_nan=False)


class Ledger(_Rule):
    """Append ``KEY<TAB>TIME`` to a file: the cheapest real side effect (benchmarks, audits)."""

    action: Literal["ledger"]
    path: Path


class Refit(_Rule):
    """Fit ``predict fit``'s run-time bound on the job table ``table`` and write it to the model
    folder ``out`` (relative paths: from the rules file's folder); with ``threshold``, only for
    an event whose ``error`` (the drift a monitor measured) is at least that."""

    action: Literal["refit"]
    table: Path
    out: Path
    coverage: float = Field(default=0.95, gt=0.0, lt=1.0)
    threshold: float | None = Field(default=None, allow_inf_nan=False)


class Propose(_Rule):
    """``split`` a job whose limit exceeds its partition's MaxTime into a chain of parts that
    each fit. By default only proposed (the suggested pieces journaled): a batch script is its
    author's program (its steps, checkpoints and outputs are not declared), so cutting it into
    jobs cannot be done safely without them. With ``checkpointed: true`` the user declares that
    their script restarts from its own checkpoint, and the chain is submitted and the stuck job
    cancelled (:mod:`hpcsched.agents.splitter`)."""

    action: Literal["split"]
    threshold: float | None = Field(default=None, allow_inf_nan=False)
    checkpointed: bool = False


class Decider(BaseModel):
    """Who picks among the rules an event matches: ``rules`` (each matching rule acts) or
    ``llm`` (a language model picks one of their actions or none within ``deadline`` seconds;
    on a timeout, an error or an invalid reply the rules' decision stands)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["rules", "llm"] = "rules"
    deadline: float = Field(default=5.0, gt=0.0, le=300.0, allow_inf_nan=False)


Rule = Annotated[
    Resubmit | FlagUser | Command | Ledger | Refit | Propose, Field(discriminator="action")
]


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(default=">", min_length=1)
    group: str = Field(default="hpcsched-agents", pattern=_NAME)
    site: Path | None = None
    batch: int = Field(default=16, ge=1, le=1024)
    ack_wait: float = Field(default=30.0, gt=0, le=3600, allow_inf_nan=False)
    decider: Decider = Field(default_factory=Decider)
    rules: list[Rule] = Field(min_length=1)


def matching(rules: Rules, event: Mapping[str, Any]) -> list[Any]:
    """The rules an event calls, in file order (the rule decision: no I/O, no clock)."""
    return [rule for rule in rules.rules if rule.when.matches(event)]


def _line(node: Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 1


def _locate(root: Node, loc: tuple[int | str, ...]) -> int:
    """The line of the deepest node on pydantic's ``loc`` path that the file has."""
    node, line = root, _line(root)
    for part in loc:
        child: Node | None = None
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.value == str(part):
                    line, child = _line(key), value
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = _line(child)
        if child is None:
            break
        node = child
    return line


def _message(error: Any) -> tuple[str, str]:
    loc = [str(p) for p in error["loc"] if str(p) not in _ACTIONS]  # drop the union's tag
    where = ".".join(p if not p.isdigit() else f"[{p}]" for p in loc).replace(".[", "[")
    if error["type"] == "extra_forbidden":
        return f"unknown field {where!r}", "remove it or check its spelling"
    if error["type"] == "missing":
        return f"field {where!r} is missing", "add it"
    if error["type"] == "union_tag_invalid":
        what = f"{where}: unknown action {error['input'].get('action')!r}"
        return what, f"use one of {', '.join(sorted(_ACTIONS))}"
    return f"field {where!r}: {error['msg']}", "fix the value"


_ACTIONS = {"resubmit", "flag-user", "command", "ledger", "split", "refit"}


def _parse(file: str, raw: bytes) -> tuple[Node, Any]:
    loader = _Loader(raw)
    try:
        root = loader.get_single_node()
        if root is None:
            raise RulesError(file, 1, "the file is empty", "write 'rules:' with at least one rule")
        check_tree(root)  # duplicate keys, alias bombs: refused before anything is built
        return root, loader.construct_document(root)
    except YamlRefusal as exc:
        raise RulesError(file, exc.line, exc.what, exc.fix) from None
    except RecursionError:
        raise RulesError(file, None, "nested too deeply", "flatten the document") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        line = mark.line + 1 if mark else None
        fix = "check the indentation, the quotes and the ':' after each key"
        raise RulesError(file, line, f"YAML syntax error: {what}", fix) from None
    except (yaml.YAMLError, ValueError) as exc:
        what = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RulesError(file, None, f"not usable YAML: {what}", "save it as UTF-8") from None
    finally:
        loader.dispose()


def load_rules(path: Path | str) -> Rules:
    """Read and check a rules file; :class:`RulesError` (one line, file:line) on any mistake."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise RulesError(file, None, f"cannot read it ({exc.strerror})", "check the path") from None
    root, data = _parse(file, raw)
    if not isinstance(data, dict):
        raise RulesError(file, _line(root), "the top level is not a mapping", "start with rules:")
    # ``on:`` is read as a boolean by YAML 1.1 and as the string "on" where a loader in the same
    # process dropped YAML 1.1's booleans (found by CI: the full test session read it as "on")
    if True in data or "on" in data:
        raise RulesError(file, None, "'on:' at the top level", "triggers go in each rule's when:")
    for i, rule in enumerate(data.get("rules") or []):
        if isinstance(rule, dict) and (True in rule or "on" in rule):
            line = _locate(root, ("rules", i))
            raise RulesError(file, line, "rule has 'on:'", "write when: (YAML reads on as true)")
    try:
        rules = Rules.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = tuple(p for p in error["loc"] if str(p) not in _ACTIONS)
        if error["type"] == "union_tag_invalid":
            loc = (*loc, "action")  # the line of the action: itself
        what, fix = _message(error)
        raise RulesError(file, _locate(root, loc), what, fix) from None
    seen: dict[str, int] = {}
    for i, rule in enumerate(rules.rules):
        line = _locate(root, ("rules", i, "name"))
        if rule.name in seen:
            what = f"rule {rule.name!r} is named twice (first at line {seen[rule.name]})"
            raise RulesError(file, line, what, "rename one: the name is part of the action key")
        seen[rule.name] = line
        if isinstance(rule, Refit):  # a long-lived agent's working folder is anyone's guess
            rule.table = Path(path).resolve().parent / rule.table
            rule.out = Path(path).resolve().parent / rule.out
    return rules


__all__ = [
    "Command",
    "Decider",
    "FlagUser",
    "Ledger",
    "Propose",
    "Refit",
    "Resubmit",
    "Rules",
    "RulesError",
    "When",
    "load_rules",
    "matching",
]
