"""The language-model scheduler (``--policy llm``): the grammar, the fallbacks, a live run.

(a) The menu of feasible actions is checked against an oracle written from the rules alone
(free capacity, EASY's shadow time and extra resources), and any sequence of menu actions keeps
the capacity. (b) Against the protocol double: invalid replies, a reply past the deadline and a
500 each give the EASY fallback, counted by reason, and the run completes with no violation
(``replay(strict=True)`` raises on any over-start). (c) Against the real local model: a 10-job
instance on nodes, memory and GPUs runs to the end with no violation.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.core.profile import Vector, fits, minus
from hpcsched.llm.settings import LLMSettings, SettingsError
from hpcsched.llmsched.actions import DELAY, Action, apply, easy_fallback, free_now, menu
from hpcsched.llmsched.policy import LlmPolicy
from hpcsched.llmsched.prompt import reply_schema
from hpcsched.policies.presets import PRESETS
from hpcsched.policies.view import RunningJob, SchedulerView, WaitingJob
from hpcsched.sim.instance import SchedulingInstance
from hpcsched.sim.replay import replay

from llm_double import Act, reply, serve
from llm_support import require_llm

NOW = 100.0
runner = CliRunner()


@st.composite
def views(draw: st.DrawFn) -> tuple[SchedulerView, int]:
    """A random instant: up to 3 resources, running jobs within capacity (some expected to end
    right now, which counts as free), 1-8 waiting jobs that each fit the machine."""
    k = draw(st.integers(1, 3))
    capacity = tuple(float(draw(st.integers(1, 16))) for _ in range(k))
    used = [0.0] * k
    running = []
    for i in range(draw(st.integers(0, 5))):
        room = [int(c - u) for c, u in zip(capacity, used, strict=True)]
        request = tuple(float(draw(st.integers(0, r))) for r in room)
        used = [u + r for u, r in zip(used, request, strict=True)]
        end = NOW + draw(st.sampled_from([0.0, 5.0, 10.0, 20.0, 35.0]))
        running.append(RunningJob(i, request, 50.0, end, end))
    waiting = [
        WaitingJob(
            100 + j,
            float(draw(st.integers(0, 100))),
            tuple(float(draw(st.integers(0, int(c)))) for c in capacity),
            float(draw(st.sampled_from([1, 5, 10, 15, 30, 60]))),
            user=draw(st.sampled_from("abc")),
        )
        for j in range(draw(st.integers(1, 8)))
    ]
    return SchedulerView(NOW, capacity, waiting, running), draw(st.integers(1, 10))


def _free_at(view: SchedulerView, t: float) -> Vector:
    free = view.capacity
    for job in view.running:
        if job.expected_end > t:
            free = minus(free, job.request)
    return free


def oracle(view: SchedulerView, listed_max: int) -> set[str]:
    """The feasible actions from the rules alone (module docstring of llmsched.actions)."""
    free = _free_at(view, view.now)
    queue = sorted(view.waiting, key=lambda j: (j.submit, j.id))
    listed = queue[:listed_max]
    found = {f"StartJob(job_id={j.id})" for j in listed if fits(j.request, free)}
    head = queue[0]
    if not fits(head.request, free):
        # free only grows until the shadow time: the head starts at the first end where it fits
        ends = sorted({r.expected_end for r in view.running if r.expected_end > view.now})
        shadow = next(t for t in ends if fits(head.request, _free_at(view, t)))
        extra = minus(_free_at(view, shadow), head.request)
        found |= {
            f"BackfillJob(job_id={j.id})"
            for j in listed[1:]
            if fits(j.request, free) and (view.now + j.estimate <= shadow or fits(j.request, extra))
        }
    if view.running:
        found.add("Delay")
    return found


@settings(max_examples=300, deadline=None)
@given(views())
def test_the_menu_is_exactly_the_feasible_actions(case: tuple[SchedulerView, int]) -> None:
    view, listed_max = case
    choices = menu(view, listed_max)
    assert set(choices.texts) == oracle(view, listed_max)
    assert len(choices.texts) == len(set(choices.texts))
    # the reply's grammar is the menu, word for word
    assert reply_schema(choices.texts)["properties"]["action"]["enum"] == choices.texts
    # the fallback is on the menu: EASY's own choice, never an action outside it
    assert easy_fallback(view, choices) in choices.actions


@settings(max_examples=200, deadline=None)
@given(views(), st.data())
def test_any_sequence_of_menu_actions_keeps_the_capacity(
    case: tuple[SchedulerView, int], data: st.DataObject
) -> None:
    view, listed_max = case
    for _ in range(20):
        choices = menu(view, listed_max)
        if not choices.actions:
            break
        action = data.draw(st.sampled_from(choices.actions))
        view = apply(view, action)
        assert all(x >= 0 for x in free_now(view)), f"{action.text} over-started"
        if not action.starts:
            break
    # with nothing running, a waiting job always fits, so Delay is never the only way out
    if not view.running and view.waiting:
        assert DELAY not in menu(view, listed_max).actions


def test_actions_are_spelled_and_read_back() -> None:
    for action in (Action("StartJob", 3), Action("BackfillJob", 17), DELAY, Action("Stop")):
        assert Action.parse(action.text) == action
    assert Action.parse("StartJob(job_id=3); rm -rf /") is None
    assert Action.parse("Start(3)") is None


# -- (b) the fallbacks, against the protocol double ----------------------------------------------


def _instance(capacity: tuple[int, ...], demand: list[list[int]], **kw: Any) -> SchedulingInstance:
    n = len(demand)
    return SchedulingInstance(
        name="t",
        release=np.array(kw.get("release", [0] * n)),
        duration=np.array(kw.get("duration", [10] * n)),
        demand=np.array(demand),
        capacity=capacity,
        resources=kw.get("resources", ("nodes",)),
        weight=np.ones(n, dtype=np.int64),
        user=tuple(kw.get("user", ["a"] * n)),
        group=("",) * n,
    )


def _double_settings(url: str) -> LLMSettings:
    return LLMSettings(url=url, retries=0, timeout=5.0, deadline=5.0)


def test_the_models_choice_is_applied_and_its_grammar_is_what_the_server_is_sent() -> None:
    # capacity 2: job 0 needs 2, jobs 1 and 2 need 1; the model starts job 2 first (EASY would
    # start 0), then backfills 1, which ends before the head's shadow time
    inst = _instance((2,), [[2], [1], [1]])
    acts = [
        reply(json.dumps({"action": "StartJob(job_id=2)", "reason": "small first"})),
        reply(json.dumps({"action": "BackfillJob(job_id=1)"})),
    ]
    with serve(*acts) as double:
        with LlmPolicy(("nodes",), (2,), settings=_double_settings(double.url)) as policy:
            schedule = replay(inst.job_arrays(), policy, inst.capacity, strict=True, cycle=0)
            stats = policy.stats()
        sent = [r["body"] for r in double.chats()]
    assert list(schedule.start) == [10.0, 0.0, 0.0]
    assert bool(schedule.backfilled[1]) and not schedule.backfilled[2]
    assert stats["decisions"] == 2 and stats["valid_first"] == 2 and stats["fallbacks"] == 0
    enums = [b["response_format"]["json_schema"]["schema"]["properties"]["action"]["enum"]
             for b in sent]  # fmt: skip
    assert enums[0] == ["StartJob(job_id=0)", "StartJob(job_id=1)", "StartJob(job_id=2)"]
    assert enums[1] == ["StartJob(job_id=1)", "BackfillJob(job_id=1)", "Delay"]
    # the reason is kept as text in the scratchpad the next prompt shows
    assert "StartJob(job_id=2) small first" in sent[1]["messages"][-1]["content"]


def test_invalid_late_and_failed_replies_fall_back_to_easy_counted_by_reason() -> None:
    # six jobs of 1 node on 2 nodes, all at t=0: four decisions, each with a different failure
    inst = _instance((2,), [[1]] * 6, duration=[10, 20, 10, 20, 10, 20])
    acts = [
        reply(json.dumps({"action": "StartJob(job_id=99)"})),  # not on the menu: retried
        reply("Start job 0 please"),  # not JSON: the second failure -> fallback (invalid)
        Act("reply", json.dumps({"action": "Delay"}), delay=2.0),  # past the deadline
        Act("status", status=500),  # the endpoint fails -> fallback (error)
    ]
    with serve(*acts) as double:
        settings_ = _double_settings(double.url)
        began = time.monotonic()
        with LlmPolicy(("nodes",), (2,), settings=settings_, deadline=0.5) as policy:
            schedule = replay(inst.job_arrays(), policy, inst.capacity, strict=True, cycle=0)
            stats = policy.stats()
    assert time.monotonic() - began < 10
    assert not np.isnan(schedule.start).any() and schedule.violations == 0
    reasons = stats["fallback_reasons"]
    assert reasons["invalid"] >= 1 and reasons["deadline"] >= 1 and reasons["error"] >= 1
    assert stats["retried"] >= 1
    assert stats["fallbacks"] == sum(reasons.values())
    assert stats["decisions"] == stats["valid_first"] + stats["valid_after_retry"] + sum(
        reasons.values()
    )
    assert policy.ledger.fallbacks[0]["reason"] == "invalid"
    # the late reply cost the deadline, not the reply's own 2 s
    assert stats["seconds_per_decision"]["p95"] < 1.5
    # EASY's choice stands in for the first decision: job 0 first, in queue order
    assert policy.history[0].action == "StartJob(job_id=0)" and policy.history[0].source == (
        "fallback"
    )


def test_when_every_reply_is_refused_the_policy_schedules_exactly_as_easy() -> None:
    # the fallback is EASY's first start, asked again after each: step by step, EASY's schedule
    rng = np.random.default_rng(7)
    n = 24
    inst = _instance(
        (16, 64),
        rng.integers(1, [17, 65], size=(n, 2)).tolist(),
        release=np.sort(rng.integers(0, 200, n)).tolist(),
        duration=rng.integers(5, 60, n).tolist(),
        resources=("nodes", "mem_gb"),
    )
    easy = replay(inst.job_arrays(), PRESETS["easy"], inst.capacity, strict=True, cycle=0)
    with (
        serve() as double,  # every reply "ok": refused twice, then the fallback
        LlmPolicy(
            inst.resources, inst.capacity, settings=_double_settings(double.url), max_listed=n
        ) as policy,
    ):
        mine = replay(inst.job_arrays(), policy, inst.capacity, strict=True, cycle=0)
    assert policy.stats()["decisions"] > 5
    assert list(mine.start) == list(easy.start)
    assert list(mine.backfilled) == list(easy.backfilled)


def test_without_an_endpoint_the_policy_is_refused_in_one_line() -> None:
    with pytest.raises(SettingsError, match="HPCSCHED_LLM_URL") as info:
        LlmPolicy(("nodes",), (4,), settings=LLMSettings())
    assert "\n" not in str(info.value)


def test_the_prompt_lists_at_most_max_listed_jobs_and_the_count_of_the_rest() -> None:
    inst = _instance((1,), [[1]] * 5)
    with serve() as double:  # every reply "ok" is invalid: fallbacks all the way
        with LlmPolicy(
            ("nodes",), (1,), settings=_double_settings(double.url), max_listed=2
        ) as policy:
            replay(inst.job_arrays(), policy, inst.capacity, strict=True, cycle=0)
        first = double.chats()[0]["body"]
    text = first["messages"][-1]["content"]
    assert "- job 0 " in text and "- job 1 " in text and "- job 2 " not in text
    assert "and 3 more not listed" in text
    assert policy.stats()["fallback_reasons"]["invalid"] >= 1


# -- the command line: simulate TRACE --policy llm -----------------------------------------------

SWF_HEADER = "; MaxProcs: 8\n; MaxNodes: 8\n; UnixStartTime: 0\n"


def _small_swf(tmp_path: Path) -> Path:
    """Twelve jobs of 1-8 processors on 8, from three users."""
    lines = []
    for i in range(12):
        procs, run = 1 + i % 8, 10 + 7 * (i % 5)
        fields = [
            i + 1,
            i * 5,
            -1,
            run,
            procs,
            -1,
            -1,
            procs,
            60,
            -1,
            1,
            i % 3,
            1,
            -1,
            1,
            1,
            -1,
            -1,
        ]
        lines.append(" ".join(str(f) for f in fields))
    path = tmp_path / "small.swf"
    path.write_text(SWF_HEADER + "\n".join(lines) + "\n")
    return path


def test_simulate_policy_llm_reports_what_the_model_did(tmp_path: Path) -> None:
    trace = _small_swf(tmp_path)
    with serve() as double:  # every reply is "ok": invalid, retried, then EASY's choice
        args = ["simulate", str(trace), "--policy", "llm", "--llm-url", double.url]
        as_json = runner.invoke(app, [*args, "--llm-deadline", "2", "--json"])
        first_run = [r["body"]["messages"][0]["content"] for r in double.chats()]
        shown = runner.invoke(app, [*args, "--objective", "favour fairness"])
        second_run = [r["body"]["messages"][0]["content"] for r in double.chats()][len(first_run) :]
    assert as_json.exit_code == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["policy"] == "llm" and data["jobs"] == 12 and data["violations"] == 0
    llm = data["llm"]
    assert llm["decisions"] > 0 and llm["fallback_reasons"]["invalid"] == llm["decisions"]
    assert llm["retried"] == llm["decisions"] and llm["deadline_s"] == 2.0
    assert shown.exit_code == 0, shown.stderr
    assert re.search(r"language model: \d+ decisions asked .* EASY fallbacks \(deadline 0, "
                     r"invalid \d+, error 0\)", shown.stdout)  # fmt: skip
    # the operator's words reach the prompt of the second run only
    assert second_run and all("favour fairness" in p for p in second_run)
    assert not any("favour fairness" in p for p in first_run)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--policy", "llm"], "--policy llm needs a language model: set HPCSCHED_LLM_URL"),
        (["--objective", "favour fairness"], "--objective applies to --policy llm only"),
    ],
)
def test_simulate_policy_llm_refuses_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str], message: str
) -> None:
    monkeypatch.delenv("HPCSCHED_LLM_URL", raising=False)
    result = runner.invoke(app, ["simulate", str(_small_swf(tmp_path)), *extra])
    assert result.exit_code != 0
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


# -- (c) the real local model --------------------------------------------------------------------

#: nodes, mem_gb, gpus of ten jobs on (256, 2048, 8): several block on memory or GPUs
TEN_JOBS = [
    [64, 512, 0], [128, 1024, 4], [32, 256, 0], [96, 512, 2], [16, 128, 0],
    [200, 1500, 8], [8, 64, 0], [48, 256, 2], [24, 512, 0], [4, 32, 0],
]  # fmt: skip


@pytest.mark.llm
def test_the_llm_policy_schedules_ten_jobs_with_the_real_model() -> None:
    live = require_llm()
    inst = _instance(
        (256, 2048, 8),
        TEN_JOBS,
        release=[0, 0, 0, 5, 10, 10, 20, 30, 30, 40],
        duration=[100, 50, 80, 30, 60, 20, 40, 10, 90, 30],
        resources=("nodes", "mem_gb", "gpus"),
        user=list("aabbaccbab"),
    )
    with LlmPolicy(inst.resources, inst.capacity, settings=live, deadline=4.0) as policy:
        schedule = replay(inst.job_arrays(), policy, inst.capacity, strict=True, cycle=0)
        stats = policy.stats()
    print(json.dumps(stats))  # shown with -s: the seconds and tokens per decision
    # the deadline holds, whatever the load on the server: ~10 decisions stay within a minute
    assert stats["seconds_per_decision"]["p95"] <= 4.0 + 1.0
    assert not np.isnan(schedule.start).any() and schedule.violations == 0
    assert stats["decisions"] > 0
    answered = stats["valid_first"] + stats["valid_after_retry"]
    assert answered + stats["fallbacks"] == stats["decisions"]
    assert stats["seconds_per_decision"]["mean"] > 0
