"""The scheduling rules for the two policies that take their starts from outside: the language
model (``--policy llm``) and an offline plan executed as it stands (``PlannedStarts``, CP-SAT's
plans). Neither is in the registry (each needs an endpoint or a plan), so ``test_invariants.py``
does not reach them; here they run through every driver that accepts any policy (trace replay,
campaign simulation, the live pilot) on the same random workloads, against adversaries:

- the model is an OpenAI-compatible double over HTTP that answers each request with a random
  action from the grammar it was sent, an action outside it, prose, or an HTTP 500;
- the plan gives every job a random start, feasible or not.

Whatever they say: busy never exceeds capacity at any instant and every job starts exactly once.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcsched.llm.settings import LLMSettings
from hpcsched.llmsched.policy import LlmPolicy
from hpcsched.policies.planned import PlannedStarts
from hpcsched.policies.view import Policy
from invariant_drivers import CPUS, MEM, Job, Outcome, campaign_sim, pilot, replay_reference
from test_invariants import check_capacity, check_started_once, workloads

from llm_double import Act, reply, serve


def _pilot(jobs: list[Job], policy: Policy) -> Outcome:
    with tempfile.TemporaryDirectory() as tmp:
        return pilot(jobs, policy, Path(tmp) / "run")


DRIVERS: dict[str, Callable[[list[Job], Policy], Outcome]] = {
    "replay-reference": replay_reference,
    "campaign-sim": campaign_sim,
    "pilot": _pilot,
}


def _grammar(body: Any) -> list[str]:
    """The actions the request allows (the enum of its response schema)."""
    schema = body["response_format"]["json_schema"]["schema"]
    return list(schema["properties"]["action"]["enum"])


def adversary(seed: int) -> Callable[[Any], Act]:
    rng = random.Random(seed)

    def answer(body: Any) -> Act:
        roll = rng.random()
        if roll < 0.6:
            action = rng.choice(_grammar(body))
        elif roll < 0.75:
            action = f"StartJob(job_id={rng.randint(0, 40)})"  # maybe not on the menu
        elif roll < 0.85:
            return reply("start everything now, the users are waiting")
        elif roll < 0.9:
            return Act("status", status=500)
        else:
            action = rng.choice(["Delay", "Stop", "BackfillJob(job_id=0)"])
        return reply(json.dumps({"action": action, "reason": "adversary"}))

    return answer


@pytest.fixture(scope="module")
def model() -> Iterator[dict[str, Any]]:
    """One double for the module; each example sets its own adversary."""
    state: dict[str, Any] = {"answer": adversary(0)}
    with serve(answer=lambda body: state["answer"](body)) as double:
        state["url"] = double.url
        yield state


@pytest.mark.parametrize("driver", sorted(DRIVERS))
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(jobs=workloads(max_jobs=10), seed=st.integers(0, 2**16))
def test_whatever_the_model_answers_the_rules_hold(
    model: dict[str, Any], driver: str, jobs: list[Job], seed: int
) -> None:
    model["answer"] = adversary(seed)
    settings_ = LLMSettings(url=model["url"], retries=0, timeout=5.0, deadline=5.0)
    with LlmPolicy(("cpus", "mem"), (CPUS, int(MEM)), settings=settings_) as policy:
        out = DRIVERS[driver](jobs, policy)
        stats = policy.stats()
    check_capacity(jobs, out, 2)
    check_started_once(jobs, out)
    assert stats["decisions"] == stats["valid_first"] + stats["valid_after_retry"] + sum(
        stats["fallback_reasons"].values()
    )


class RandomPlan(Mapping[int, float]):
    """A planned start for any job id, drawn once per id: feasible or not, as a broken solver
    or a stale plan would give."""

    def __init__(self, seed: int, horizon: float) -> None:
        self._rng = random.Random(seed)
        self._horizon = horizon
        self._starts: dict[int, float] = {}

    def __getitem__(self, job_id: int) -> float:
        if job_id not in self._starts:
            self._starts[job_id] = float(self._rng.randint(0, int(self._horizon)))
        return self._starts[job_id]

    def __contains__(self, job_id: object) -> bool:
        return isinstance(job_id, int)

    def __iter__(self) -> Iterator[int]:
        return iter(self._starts)

    def __len__(self) -> int:
        return len(self._starts)


@pytest.mark.parametrize("driver", sorted(DRIVERS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=workloads(), seed=st.integers(0, 2**16))
def test_whatever_the_plan_says_the_rules_hold(driver: str, jobs: list[Job], seed: int) -> None:
    horizon = sum(j.submit + j.runtime for j in jobs) + 1
    out = DRIVERS[driver](jobs, PlannedStarts(RandomPlan(seed, horizon), name="random-plan"))
    check_capacity(jobs, out, 2)
    check_started_once(jobs, out)
