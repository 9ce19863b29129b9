"""Is the grammar the constraint module? Three ways of asking a model for a scheduling action.

The instants are those of an EASY replay of a 10-job instance on (nodes, mem_gb, gpus) = (256,
2048, 8) at which a listed waiting job does not fit (so an infeasible start could be chosen);
each is put to the model three ways, with the prompt of ``--policy llm``
(:mod:`hpcsched.llmsched.prompt`):

- **enum schema** (the policy's): the reply's ``action`` is an ``enum`` of the feasible
  actions only; counted: replies that are valid (pydantic, and on the menu);
- **no schema**: the same prompt asking for the action as plain text; counted: replies that
  parse as an action (the whole reply, or its JSON ``action``), and of those, feasible ones;
  also, more leniently, replies that merely mention an action somewhere in their prose;
- **unmasked schema**: the ``enum`` lists every action of every listed job, feasible or not
  (what a constraint module checking after the fact lets through); counted: infeasible picks.

Usage: ``python benchmarks/llm_scheduler_grammar.py [--url URL] [--instants 5] [--json]``
(``--url`` defaults to ``$HPCSCHED_LLM_URL``; ``scripts/llm-local.sh start``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np

from hpcsched.llm import ChatClient, LLMError, load_settings
from hpcsched.llm.client import Message
from hpcsched.llmsched.actions import DELAY, Action, Menu, menu
from hpcsched.llmsched.prompt import ActionReply, feasible_text, messages, reply_schema
from hpcsched.policies.presets import PRESETS
from hpcsched.policies.view import Decision, SchedulerView
from hpcsched.sim.instance import SchedulingInstance
from hpcsched.sim.replay import replay

RESOURCES = ("nodes", "mem_gb", "gpus")
MENTION = re.compile(r"(StartJob|BackfillJob)\(job_id=\d+\)|\bDelay\b")
DEMAND = [
    [64, 512, 0], [128, 1024, 4], [32, 256, 0], [96, 512, 2], [16, 128, 0],
    [200, 1500, 8], [8, 64, 0], [48, 256, 2], [24, 512, 0], [4, 32, 0],
]  # fmt: skip


def ten_jobs() -> SchedulingInstance:
    n = len(DEMAND)
    return SchedulingInstance(
        name="ten-jobs",
        release=np.array([0, 0, 0, 5, 10, 10, 20, 30, 30, 40]),
        duration=np.array([100, 50, 80, 30, 60, 20, 40, 10, 90, 30]),
        demand=np.array(DEMAND),
        capacity=(256, 2048, 8),
        resources=RESOURCES,
        weight=np.ones(n, dtype=np.int64),
        user=tuple("aabbaccbab"),
        group=("",) * n,
    )


class Recorder:
    """EASY, keeping a copy of every view on which some listed job does not fit now."""

    name = "easy-recorder"

    def __init__(self) -> None:
        self.views: list[SchedulerView] = []

    def decide(self, view: SchedulerView) -> Decision:
        choices = menu(view, 12)
        starts = {a.job_id for a in choices.actions if a.kind == "StartJob"}
        if any(job.id not in starts for job in choices.listed) and len(choices.actions) > 1:
            self.views.append(replace(view, waiting=list(view.waiting), running=list(view.running)))
        return PRESETS["easy"].decide(view)


def unmasked(choices: Menu) -> list[str]:
    """Every action of every listed job, feasible or not."""
    texts = [f"StartJob(job_id={j.id})" for j in choices.listed]
    texts += [f"BackfillJob(job_id={j.id})" for j in choices.listed[1:]]
    return [*texts, DELAY.text]


def parse_plain(content: str) -> Action | None:
    """A plain-text reply read as an action: the whole text, else a JSON ``action``."""
    action = Action.parse(content.strip().strip("`").strip())
    if action is not None:
        return action
    try:
        data = json.loads(content)
    except ValueError:
        return None
    return Action.parse(str(data.get("action", ""))) if isinstance(data, dict) else None


def ask(client: ChatClient, prompt: list[Message], schema: dict[str, Any] | None) -> str | None:
    """The reply's text, or None (and a line on stderr) when the call fails."""
    try:
        reply = client.chat(prompt, schema=schema, schema_name="SchedulerAction", max_tokens=64)
    except LLMError as exc:
        print(f"  call failed: {exc}", file=sys.stderr)
        return None
    return reply.content


def chosen(content: str | None) -> Action | None:
    """The action of a schema-constrained reply, read with the policy's own model."""
    if content is None:
        return None
    try:
        return Action.parse(ActionReply.model_validate_json(content).action)
    except ValueError:
        return None


def measure(client: ChatClient, views: list[SchedulerView]) -> tuple[Counter[str], list[str]]:
    """The three ways of asking, at each instant; counts and a few telling replies."""
    counts: Counter[str] = Counter(instants=len(views))
    examples: list[str] = []
    for view in views:
        choices = menu(view, 12)
        prompt = messages(
            view, choices, resources=RESOURCES, completed=0, scratchpad=[], objective=None
        )
        counts["enum_valid"] += chosen(ask(client, prompt, reply_schema(choices.texts))) in (
            choices.actions
        )
        tail = "\nAnswer with the action only, e.g. StartJob(job_id=4)."
        plain = [prompt[0], {"role": "user", "content": prompt[-1]["content"] + tail}]
        text = ask(client, plain, None)
        if text is not None:
            action = parse_plain(text)
            counts["plain_parsed"] += action is not None
            counts["plain_feasible"] += action is not None and action in choices.actions
            counts["plain_mentions"] += MENTION.search(text) is not None
            if action is None and len(examples) < 2:
                examples.append(text[:120])
        every = unmasked(choices)
        wide = replace(choices, actions=[a for a in map(Action.parse, every) if a is not None])
        listed = prompt[-1]["content"].replace(feasible_text(choices), feasible_text(wide))
        assert listed != prompt[-1]["content"], "the unmasked prompt must list every action"
        pick = chosen(
            ask(client, [prompt[0], {"role": "user", "content": listed}], reply_schema(every))
        )
        if pick is not None:
            counts["unmasked_valid"] += 1
            if pick not in choices.actions:
                counts["unmasked_infeasible"] += 1
                if len(examples) < 4:
                    job = next(j for j in choices.listed if j.id == pick.job_id)
                    examples.append(
                        f"t={view.now:g}: chose {pick.text} needing {job.request} "
                        f"with {choices.free} free"
                    )
    return counts, examples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("HPCSCHED_LLM_URL"))
    parser.add_argument("--instants", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.url:
        print("no model endpoint: pass --url or set HPCSCHED_LLM_URL", file=sys.stderr)
        return 2
    instance = ten_jobs()
    recorder = Recorder()
    replay(instance.job_arrays(), recorder, instance.capacity, cycle=0)
    settings = load_settings({"url": args.url, "timeout": 120.0, "deadline": 120.0})
    began = time.monotonic()
    with ChatClient(settings) as client:
        counts, examples = measure(client, recorder.views[: args.instants])
    seconds = round(time.monotonic() - began, 1)
    if args.json:
        print(json.dumps({**counts, "seconds": seconds, "examples": examples}))
        return 0
    n = counts["instants"]
    print(f"instants with an infeasible start possible: {n}")
    print(f"enum schema (feasible only): {counts['enum_valid']}/{n} replies valid")
    print(
        f"no schema: {counts['plain_parsed']}/{n} parsed as an action, "
        f"{counts['plain_feasible']}/{n} feasible; "
        f"{counts['plain_mentions']}/{n} mention one somewhere in prose"
    )
    print(
        f"unmasked schema: {counts['unmasked_infeasible']}/{counts['unmasked_valid']} "
        "valid replies chose an infeasible action"
    )
    for line in examples:
        print(f"  e.g. {line!r}")
    print(f"({seconds} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
