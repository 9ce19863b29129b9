"""Issue 7: the work the materials campaign removes as obsolete, and what it measures, under every
policy (the campaign's logic, not the policy's).

- A drift check of a surrogate whose refit is running can change nothing (the campaign ignores
  its verdict, and the refit's end makes it a check of a replaced version): it never starts.
- A log task dropped as superseded hands its lines to the newer one: no line is lost.
- Utilisation and the cpu-seconds per kind count the part of an attempt inside the window, also
  of the attempts still running when it closes.
"""

from __future__ import annotations

import math
import re
from functools import cache
from pathlib import Path

import pytest

from hpcsched.campaigns.materials.campaign import MaterialsCampaign
from hpcsched.campaigns.materials.durations import DurationModel
from hpcsched.campaigns.materials.planner import GOALS, RuleBasedPlanner
from hpcsched.campaigns.materials.report import campaign_report
from hpcsched.campaigns.materials.run import run_sim
from hpcsched.campaigns.materials.stores import MemoryStore
from hpcsched.campaigns.materials.tasks import execute
from hpcsched.core.pool import Pool
from hpcsched.policies.registry import get_policy
from hpcsched.sim.campaign import CampaignTrace, simulate_campaign

PLANNER = RuleBasedPlanner()


@cache  # one run serves two tests
def simulate(policy: str, window: float) -> tuple[MaterialsCampaign, CampaignTrace]:
    """UO2, 5 structures per prediction task, 4 cpus: the stream crosses the drift early, so the
    surrogates are refitted (for minutes each) while drift checks keep falling due."""
    plan = PLANNER.plan(GOALS["uo2"], materials=600, batch=5)
    model = DurationModel()
    campaign = MaterialsCampaign(plan, window=window, lookahead=2, fit_cpus=2, durations=model)
    store = MemoryStore(plan.spec)
    trace = simulate_campaign(
        campaign,
        get_policy(policy),
        Pool.uniform(1, 4, source="sim"),
        duration=model.draw,
        outcome=lambda task: execute(task.kind, store, task.kwargs),
    )
    return campaign, trace


@pytest.mark.parametrize(("policy", "window"), [("prioritybf", 400.0), ("fcfs", 900.0)])
def test_no_drift_check_starts_while_its_surrogate_is_being_refitted(
    policy: str, window: float
) -> None:
    campaign, trace = simulate(policy, window)
    ends = {(tid, n): t for t, tid, n, _ in trace.ends}
    refits = [
        (tid.split("-")[1], start, ends[(tid, n)])
        for start, tid, n in trace.starts
        if tid.startswith("refit-")
    ]
    checks = [
        (tid.split("-")[1], start) for start, tid, _ in trace.starts if tid.startswith("drift-")
    ]
    assert refits and len(checks) > 20
    overlapping = [
        (method, at)
        for method, at in checks
        if any(m == method and begin < at < end for m, begin, end in refits)
    ]
    assert overlapping == []
    # they fell due and were removed from the queue, counted as obsolete
    assert campaign.tally.obsolete.get("drift", 0) > 0


def test_a_superseded_log_hands_its_lines_to_the_newer_one(tmp_path: Path) -> None:
    plan = PLANNER.plan(GOALS["uo2"], materials=300, batch=5)
    outcome = run_sim(plan, "prioritybf", 4, work_dir=tmp_path)  # no window: every group done
    assert outcome.report["obsolete_removed"].get("log", 0) > 0  # logs were dropped
    text = (tmp_path / "log" / "campaign.log").read_text()
    starts = [int(s) for s in re.findall(r"structures (\d+)-\d+:", text)]
    assert len(starts) == len(set(starts))  # no line twice
    # every group is logged, except those after the last log task fell due (none written since)
    logs = outcome.campaign.periodic["log"].submitted
    assert len(starts) >= logs * plan.every("log")
    assert sorted(starts) == list(range(0, plan.batch * len(starts), plan.batch))


def test_utilisation_counts_the_work_still_running_when_the_window_closes() -> None:
    window = 400.0
    campaign, trace = simulate("prioritybf", window)
    ends = {(tid, n): t for t, tid, n, _ in trace.ends}
    cpus = {"train": 2, "refit": 2}
    expected: dict[str, float] = {}
    for start, tid, n in trace.starts:
        kind = tid.split("-")[0]
        inside = max(0.0, min(ends[(tid, n)], window) - start) * cpus.get(kind, 1)
        expected[kind] = expected.get(kind, 0.0) + inside
    # some attempt was still running at the window's end: that is the case being checked
    assert any(start < window < ends[(tid, n)] for start, tid, n in trace.starts)
    report = campaign_report(campaign, clock="sim", policy="prioritybf", cpus=4, wall_seconds=0)
    by_kind = report["cpu_seconds_by_kind"]
    assert by_kind == pytest.approx({k: v for k, v in expected.items() if v > 0}, abs=0.1)
    assert report["utilisation"] == pytest.approx(sum(expected.values()) / (4 * window), abs=1e-3)
    assert not math.isclose(report["utilisation"], 1.0)
