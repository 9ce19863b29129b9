"""A long-lived agent: consume events as a member of a consumer group, decide by rules, act
through the adapters, journal each action with the event that caused it.

The order of one event's handling is what makes its effects exactly-once (see
:mod:`hpcsched.agents.journal`): for each rule the event calls, a key ``EVENT_ID/RULE``; a key
with a result is passed over (a redelivery); otherwise intent, act, result; the bus message is
acknowledged after all of its keys have results (:func:`hpcsched.bus.consumer.tail` acknowledges
after ``on_event`` returns). On start, intents left without a result by a crash are settled first:
the world is checked for their effect, and only what is not there is done.

With ``decider: {kind: llm}`` the event's matching rules are first offered to a language model
(:mod:`hpcsched.agents.decider`); its decision, or the rules' after a fallback, is journaled
per event before any action, so a redelivery reuses it instead of asking again.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcsched.agents.actions import (
    ActionError,
    Resubmitter,
    append_ledger,
    check_command,
    check_ledger,
    run_command,
)
from hpcsched.agents.decider import Decision, LLMDecider
from hpcsched.agents.journal import ActionJournal, Intent
from hpcsched.agents.refit import check_refit, refit_model, wants_refit
from hpcsched.agents.rules import (
    Command,
    FlagUser,
    Ledger,
    Propose,
    Refit,
    Resubmit,
    Rules,
    matching,
)
from hpcsched.agents.split import suggest_split
from hpcsched.agents.splitter import Splitter
from hpcsched.slurm.adapter import SlurmAdapter, SlurmError

#: Fault injection for the crash tests: ``intended`` kills the agent (SIGKILL) after its first
#: intent is journaled, before the effect; ``acted`` right after the effect, before its result
#: is journaled (the worst moment to die).
KILL_AT_ENV = "HPCSCHED_AGENTS_KILL_AT"

Say = Callable[[str], None]


@dataclass
class AgentStats:
    events: int = 0  # handed by the bus
    unreadable: int = 0  # not a JSON object
    acted: int = 0  # effects done now
    found: int = 0  # effects a crash left unjournaled, found in the world on restart
    redelivered: int = 0  # actions already journaled (a redelivery), passed over
    skipped: int = 0  # decided not to act (attempts exhausted, limit reached)
    recorded: int = 0  # proposals and user flags (no outside effect)
    failed: int = 0
    by_llm: int = 0  # events the language model decided
    fallbacks: int = 0  # events the rules decided because the model's reply was not used

    def line(self) -> str:
        decided = ""
        if self.by_llm or self.fallbacks:
            decided = f", {self.by_llm:,} decided by the model, {self.fallbacks:,} fallbacks"
        return (
            f"{self.events:,} events, {self.acted:,} acted, {self.found:,} found done after a "
            f"crash, {self.redelivered:,} redelivered, {self.skipped:,} skipped, "
            f"{self.recorded:,} recorded, {self.failed:,} failed{decided}"
        )


class Agent:
    """One agent over one state folder (its journal); see the module doc."""

    def __init__(
        self,
        rules: Rules,
        journal: ActionJournal,
        *,
        resubmitter: Resubmitter | None = None,
        decider: LLMDecider | None = None,
        say: Say | None = None,
        max_chain_parts: int | None = None,
    ) -> None:
        self.rules, self.journal = rules, journal
        self.resubmitter = resubmitter
        self.max_chain_parts = max_chain_parts
        self.decider = decider
        self.say = say or (lambda _line: None)
        self.stats = AgentStats()
        self._kill_at = os.environ.get(KILL_AT_ENV, "")

    # -- the two halves of an action -----------------------------------------------------------

    def _resubmitter(self) -> Resubmitter:
        if self.resubmitter is None:  # made when first needed: a rules file without resubmit
            self.resubmitter = Resubmitter(SlurmAdapter(), say=self.say)  # runs no Slurm command
        return self.resubmitter

    def _splitter(self) -> Splitter:
        return Splitter(self._resubmitter(), self.max_chain_parts)

    def _act(self, rule: Any, intent: Intent) -> dict[str, Any]:
        if isinstance(rule, Resubmit):
            return self._resubmitter().act(intent)
        if isinstance(rule, Propose):
            return self._splitter().act(intent)
        if isinstance(rule, Command):
            return run_command(rule, intent)
        if isinstance(rule, Refit):
            return refit_model(rule, intent)
        assert isinstance(rule, Ledger)
        return append_ledger(rule, intent)

    def _check(self, rule: Any, intent: Intent) -> dict[str, Any] | None:
        if isinstance(rule, Resubmit):
            return self._resubmitter().check(intent)
        if isinstance(rule, Command):
            return check_command(rule, intent)
        if isinstance(rule, Ledger):
            return check_ledger(rule, intent)
        if isinstance(rule, Refit):
            return check_refit(rule, intent)
        if isinstance(rule, Propose):
            return self._splitter().check(intent)
        return None

    def _do(self, rule: Any, intent: Intent) -> None:
        """Act and journal the result (an intent is already journaled)."""
        if self._kill_at == "intended":
            os.kill(os.getpid(), signal.SIGKILL)
        try:
            result = self._act(rule, intent)
        except ActionError as exc:
            self.journal.finish(intent.key, "failed", {"error": str(exc)})
            self.stats.failed += 1
            self.say(f"{intent.key}: {rule.action} failed: {exc}")
            return
        if self._kill_at == "acted":
            os.kill(os.getpid(), signal.SIGKILL)
        self.journal.finish(intent.key, "done", result)
        self.stats.acted += 1
        made = (
            f" -> {result.get('made') or result.get('model')}"
            if result.keys() & {"made", "model"}
            else ""
        )
        self.say(f"{intent.key}: {rule.action}{made}")

    # -- restart ---------------------------------------------------------------------------------

    def recover(self) -> int:
        """Settle the intents a crash left without a result: the effect found in the world is
        journaled, the one not there is done. The number settled."""
        by_name = {rule.name: rule for rule in self.rules.rules}
        pending = self.journal.pending()
        for intent in pending:
            rule = by_name.get(intent.rule)
            if rule is None:
                self.journal.finish(intent.key, "failed", {"error": "rule no longer in the file"})
                self.stats.failed += 1
                continue
            found = self._check(rule, intent)
            if found is not None:
                self.journal.finish(intent.key, "found", found)
                self.stats.found += 1
                self.say(f"{intent.key}: {rule.action} was done before the crash; journaled")
            else:
                if isinstance(rule, Command) and rule.check is None:
                    self.say(f"{intent.key}: no check command; running it again (at least once)")
                self._do(rule, intent)
        return len(pending)

    # -- one event ---------------------------------------------------------------------------------

    def handle(self, seq: int, data: bytes) -> None:
        """Every rule the event calls, each at most once (see the module doc)."""
        self.stats.events += 1
        try:
            event = json.loads(data)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            self.stats.unreadable += 1
            return
        event_id = str(event.get("event_id") or f"seq-{seq}")
        fresh = []
        for rule in matching(self.rules, event):
            key = f"{event_id}/{rule.name}"
            if self.journal.status(key) is not None:
                self.stats.redelivered += 1  # a pending intent was settled by recover()
                continue
            fresh.append((rule, key))
        offered = [rule for rule, _ in fresh if not isinstance(rule, FlagUser)]
        decision = self._decision(event_id, event, offered) if offered else None
        for rule, key in fresh:
            intent = Intent(key, event_id, rule.name, rule.action, seq, event, {}, time.time())
            if decision is not None and not isinstance(rule, FlagUser):
                intent = _with(intent, decision.plan())
                if rule.name not in decision.chosen:
                    why = f"the model chose {decision.choice}"
                    self.journal.record(intent, "skipped", {"reason": why})
                    self.stats.skipped += 1
                    continue
            self._decide_and_act(rule, intent, event)

    def _decision(
        self, event_id: str, event: dict[str, Any], offered: list[Any]
    ) -> Decision | None:
        """The decider's choice among ``offered``, kept in the journal before any action (a
        redelivery reuses it); None with the rules deciding alone."""
        if self.decider is None:
            return None
        kept = self.journal.decision_of(event_id)
        if kept is not None:
            return Decision.from_dict(kept)
        decision = self.decider.decide(event, offered)
        self.journal.decide(event_id, decision.by, decision.fallback, decision.as_dict())
        if decision.by == "llm":
            self.stats.by_llm += 1
            self.say(f"{event_id}: the model chose {decision.choice} ({decision.reason})")
        else:
            self.stats.fallbacks += 1
            self.say(
                f"{event_id}: the rules decide (the model's reply not used: {decision.reason})"
            )
        return decision

    def _decide_and_act(self, rule: Any, intent: Intent, event: dict[str, Any]) -> None:
        if isinstance(rule, FlagUser):
            self._flag(rule, intent, event)
            return
        if isinstance(rule, Propose) and not rule.checkpointed:
            max_times = self.resubmitter.max_times if self.resubmitter is not None else {}
            proposal = suggest_split(event, max_times)
            self.journal.record(_with(intent, {**intent.plan, **proposal}), "proposed", {})
            self.stats.recorded += 1
            return
        plan: dict[str, Any] = {}
        if isinstance(rule, Propose):  # checkpointed: carried out
            try:
                plan = self._splitter().plan(event)
            except SlurmError as exc:  # e.g. a partition scontrol does not know
                self.journal.record(intent, "failed", {"error": str(exc)})
                self.stats.failed += 1
                return
            if plan["decision"] != "split":
                status = "refused" if plan["decision"] == "refuse" else "skipped"
                self.journal.record(_with(intent, plan), status, {"reason": plan["reason"]})
                self.stats.skipped += 1
                self.say(f"{intent.key}: not split ({plan['reason']})")
                return
        if isinstance(rule, Refit):
            why_not = wants_refit(rule, event)
            if why_not is not None:
                self.journal.record(intent, "skipped", {"reason": why_not})
                self.stats.skipped += 1
                return
            plan = {"table": str(rule.table), "out": str(rule.out), "coverage": rule.coverage}
        if isinstance(rule, Resubmit):
            job_id = str(event.get("job_id", ""))
            try:
                plan = self._resubmitter().plan(rule, event, self.journal.attempt_of(job_id))
            except SlurmError as exc:  # e.g. a partition scontrol does not know
                self.journal.record(intent, "failed", {"error": str(exc)})
                self.stats.failed += 1
                self.say(f"{intent.key}: cannot decide: {exc}")
                return
            if plan["decision"] != "resubmit":
                plan = {**intent.plan, **plan}
                self.journal.record(_with(intent, plan), "skipped", {"reason": plan["reason"]})
                self.stats.skipped += 1
                self.say(f"{intent.key}: not resubmitted ({plan['reason']})")
                return
        intent = _with(intent, {**intent.plan, **plan})
        self.journal.intend(intent)
        self._do(rule, intent)

    def _flag(self, rule: FlagUser, intent: Intent, event: dict[str, Any]) -> None:
        user = str(event.get("user") or "")
        runtime, limit = event.get("runtime"), event.get("timelimit")
        if not user or not isinstance(runtime, int | float) or not isinstance(limit, int | float):
            return
        ratio = float(limit) / max(float(runtime), 1.0)
        if not math.isfinite(ratio):
            return
        plan = {"user": user, "ratio": ratio, "threshold": rule.ratio, "after": rule.after}
        if self.journal.count_usage(_with(intent, plan), user, ratio, rule.ratio, rule.after):
            self.stats.recorded += 1
            self.say(f"{intent.key}: flagged {user} ({rule.after} jobs at >= {rule.ratio:g}x)")


def _with(intent: Intent, plan: dict[str, Any]) -> Intent:
    return Intent(
        intent.key, intent.event_id, intent.rule, intent.action, intent.seq, intent.event,
        plan, intent.intent_at,
    )  # fmt: skip


def state_folder(path: Path | None, group: str) -> Path:
    """``--state`` or ``$XDG_STATE_HOME/hpcsched/agents/GROUP``."""
    if path is not None:
        return path
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "hpcsched" / "agents" / group


def run_agent(
    rules: Rules,
    server: str,
    folder: Path,
    *,
    until_idle: float | None,
    say: Say,
    max_times: dict[str, float] | None = None,
    max_chain_parts: int | None = None,
) -> Agent:
    """Own ``folder``, settle what a crash left, then consume ``rules.subject`` as a member of
    ``rules.group`` until idle for ``until_idle`` s (None: until Ctrl-C)."""
    from hpcsched.bus.address import parse_address
    from hpcsched.bus.consumer import TailOptions, run_sync, tail
    from hpcsched.runtime.lock import RunLock

    address = parse_address(f"{server.rstrip('/')}/{rules.subject}", wildcards=True)
    with RunLock(folder):
        journal = ActionJournal(folder)
        decider = make_decider(rules, say)
        try:
            agent = Agent(
                rules,
                journal,
                resubmitter=Resubmitter(SlurmAdapter(), max_times, say),
                decider=decider,
                say=say,
                max_chain_parts=max_chain_parts,
            )
            settled = agent.recover()
            if settled:
                say(f"settled {settled} action(s) a crash had cut short")
            options = TailOptions(
                group=rules.group,
                follow=until_idle is None,
                idle=until_idle if until_idle is not None else 1.0,
                batch=rules.batch,
                ack_wait=rules.ack_wait,
            )
            run_sync(tail(address, options, agent.handle))
        finally:
            journal.close()
            if decider is not None and decider.client is not None:
                decider.client.close()
                if decider.client.ledger is not None and decider.client.ledger.calls:
                    decider.client.ledger.append(folder / LLM_LEDGER)
    return agent


#: The token ledger of the decider's calls, one JSON line per run, beside the journal.
LLM_LEDGER = "llm-ledger.jsonl"


def make_decider(rules: Rules, say: Say) -> LLMDecider | None:
    """The language-model decider a rules file asks for (None: the rules decide). Without a
    usable endpoint it still stands, deciding by the rules and counting each such event."""
    if rules.decider.kind != "llm":
        return None
    from hpcsched.llm.client import ChatClient
    from hpcsched.llm.ledger import TokenLedger
    from hpcsched.llm.settings import SettingsError, load_settings

    deadline = rules.decider.deadline
    try:
        settings = load_settings({"deadline": deadline, "timeout": deadline})
    except SettingsError as exc:
        say(f"decider: {exc}; the rules decide every event")
        return LLMDecider(None, deadline, str(exc))
    if not settings.configured:
        say("decider: no language model configured (HPCSCHED_LLM_URL); the rules decide")
        return LLMDecider(None, deadline)
    return LLMDecider(ChatClient(settings, ledger=TokenLedger("agents run")), deadline)
