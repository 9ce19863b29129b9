"""Decentralised job selection outliving crashed agents: the failure detector, the jobs of a dead
agent selected again in a new generation, the lock carried into later rounds (a split after a
crash resolves), and on the simulated network, over random seeds, losses, duplicates and up to
f crashes at random times: every job decided in bounded virtual time, none twice in one
generation, none started twice by a live agent, none stranded on a dead one."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcsched.swarm.agent import PROTOCOLS, Agent
from hpcsched.swarm.check import RunRecord, check
from hpcsched.swarm.crashes import FailureDetector
from hpcsched.swarm.messages import (
    COMMIT,
    HEARTBEAT,
    PROPOSE,
    JobSpec,
    Msg,
    make_jobs,
    quorum,
    site_capacities,
)
from hpcsched.swarm.netsim import NetModel, simulate
from hpcsched.swarm.vote import Event


def test_the_detector_suspects_after_silence_and_for_good() -> None:
    fd = FailureDetector(0, 3, suspect_after=1.0)
    fd.hear(1, 0.5)
    assert fd.check(1.2) == [2]  # never heard: silent since the start
    assert fd.check(1.5) == [] and fd.trusted(1.5) == [0, 1]
    assert fd.check(1.6) == [1]
    assert not fd.hear(1, 1.7)  # a suspect stays dead (crash-stop): its messages are ignored
    assert fd.trusted(1.7) == [0]


def test_a_quiet_agent_sends_heartbeats_and_a_silent_one_is_suspected() -> None:
    agent = Agent(0, site_capacities(3), "swarm", timeout=0.2)
    assert [o.msg.kind for o in agent.on_tick(0.05)] == [HEARTBEAT]
    assert agent.on_tick(0.06) == []  # one heartbeat per timeout/4
    beat = Msg(HEARTBEAT, -1, (-1, -1), 1, mid="1.1")
    for t in (0.3, 0.6, 0.9, 1.2):
        agent.on_message(beat, t)
        agent.on_tick(t)
    assert agent.detector.suspected == {2}  # silent for more than 5 timeouts


def test_a_job_of_a_dead_agent_is_selected_again_by_the_survivors() -> None:
    caps = site_capacities(3)  # quorum 2
    survivors = [Agent(a, caps, "swarm", timeout=0.2) for a in (1, 2)]
    job = JobSpec(5, 2, 10.0, 0.0)
    for a in survivors:
        a.on_job(job, 0.0)
        for sender in (0, 1 if a.id == 2 else 2):  # agent 0 was selected (gen 0)
            a.on_message(Msg(COMMIT, 5, (0, 0), sender, mid=f"{sender}.c"), 0.01)
        assert a.decided[5] == (0, 0) and a.watching == {5: 0}
    # agent 0 dies: the survivors hear each other (heartbeats), never it again
    outs: list[tuple[int, Msg]] = []
    t = 0.01
    while not all(a.gens.get(5) == 1 and 5 in a.decided for a in survivors) and t < 5.0:
        t += 0.05
        for a in survivors:
            outs += [(a.id, o.msg) for o in a.on_tick(t)]
        while outs:
            src, msg = outs.pop(0)
            for a in survivors:
                if a.id != src:
                    outs += [(a.id, o.msg) for o in a.on_message(msg, t)]
    assert all(a.detector.suspected == {0} for a in survivors)
    assert {a.decided[5][1] for a in survivors} in ({1}, {2})  # one survivor, generation 1
    assert 1.0 < t < 2.0  # suspected after suspect_after = 5 timeouts, then one round
    runs = [e for a in survivors for e in a.events if e.kind == "start"]
    assert [(e.job, e.gen) for e in runs] == [(5, 1)]


def test_an_ended_job_of_a_dead_agent_is_not_selected_again() -> None:
    agent = Agent(1, site_capacities(3), "swarm", timeout=0.2)
    agent.on_job(JobSpec(5, 2, 0.1, 0.0), 0.0)
    for sender in (0, 2):
        agent.on_message(Msg(COMMIT, 5, (0, 0), sender, mid=f"{sender}.c"), 0.01)
    agent.on_message(Msg(HEARTBEAT, -1, (-1, -1), 0, mid="0.h", ended=(5,)), 0.2)
    assert agent.watching == {}
    for t in (1.0, 2.0, 3.0):
        agent.on_message(Msg(HEARTBEAT, -1, (-1, -1), 2, mid=f"2.{t}"), t)
        agent.on_tick(t)
    assert agent.detector.suspected == {0} and agent.gens.get(5, 0) == 0


def test_a_later_round_carries_the_highest_lock_it_knows() -> None:
    # n = 4 (quorum 3), agent 3 dead. Agent 1 locked agent 0's round-0 ballot (it saw a
    # prepare quorum with agent 3's vote); agents 0 and 2 voted in round 1 for a proposal that
    # died with its proposer. Before locks were carried, agent 0 and 2 stayed unlocked and
    # agent 1 locked, and no ballot could reach three commits.
    caps = site_capacities(4)
    agents = [Agent(a, caps, "pbft", timeout=0.2) for a in range(3)]
    job = JobSpec(7, 1, 1.0, 0.0)
    for a in agents:
        a.pending[7] = job
        a.specs[7] = job
    v1 = agents[1]._vote(7, 0.0)
    v1.locked = (0, 0)
    for a in (agents[0], agents[2]):
        a.on_message(Msg(PROPOSE, 7, (1, 3), 3, mid="3.p", lock=(-1, 3)), 0.0)
    # agent 1's commit resent after a timeout reaches agent 2 only: 2 cannot adopt it (it
    # promised round 1) but learns it, and its round-2 proposal must carry it
    agents[2].on_message(Msg(COMMIT, 7, (0, 0), 1, mid="1.c", again=True), 0.2)
    v2 = agents[2].votes[7]
    assert v2.locked == (-1, -1) and v2.carried() == (0, 0)
    t, proposals = 0.2, []
    while not proposals:  # agent 2 ticks until its turn in the rotation (round 3)
        t += 0.25
        proposals = [o.msg for o in agents[2].on_tick(t) if o.msg.kind == PROPOSE]
    assert proposals[0].ballot == (3, 2) and proposals[0].lock == (0, 0)
    outs = [(2, proposals[0])]
    while outs:
        src, msg = outs.pop(0)
        for a in agents:
            if a.id != src:
                outs += [(a.id, o.msg) for o in a.on_message(msg, t)]
    assert [a.decided.get(7) for a in agents] == [(3, 0)] * 3  # agent 0, as agent 1 locked


def test_check_counts_generations() -> None:
    jobs = [JobSpec(0, 1, 1.0, 0.0), JobSpec(1, 1, 1.0, 0.0)]
    record = RunRecord("swarm", [4, 4, 4], jobs, crashed=[0])
    record.events = [
        Event("decided", 0, 1, 0, 0.1),
        Event("start", 0, 0, 0, 0.1),
        Event("decided", 0, 1, 2, 2.0, gen=1),
        Event("start", 0, 2, 2, 2.0, gen=1),
        Event("end", 0, 2, 2, 3.0, gen=1),
        Event("decided", 1, 1, 1, 0.1),
        Event("decided", 1, 1, 2, 2.0, gen=1),  # agent 1 did not crash: too early
        Event("start", 1, 2, 2, 2.0, gen=1),
        Event("start", 1, 1, 1, 2.0, gen=0),  # started twice by live agents
    ]
    verdict = check(record)
    assert verdict["reselected"] == 2 and verdict["early"] == [1] and verdict["twice"] == [1]
    assert verdict["stranded"] == [] and verdict["lost"] == []
    record.events = record.events[:2]
    assert check(record)["stranded"] == [0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_agent_crashed_while_running_jobs_strands_none(protocol: str) -> None:
    jobs = make_jobs(120, seed=4)
    record = simulate(jobs, site_capacities(5), protocol, crash=(0, jobs[60].arrival))
    verdict = check(record)
    ended = {e.job for e in record.events if e.kind == "end"}
    assert ended == {j.job_id for j in jobs}  # every job ran to its end somewhere
    assert verdict["stranded"] == [] and verdict["twice"] == [] and verdict["early"] == []
    assert verdict["reselected"] > 0


#: (agents, protocol, loss, duplicate, jitter, seed, crash): each left one of 60 jobs undecided
#: before locks were carried into later rounds (a split with the dead agent's lock unknown;
#: found by a random search of the simulated network, then kept exactly: rounding changes them)
SPLITS = [
    (3, "swarm", 0.24769977053251196, 0.017363836678768795, 19.703308630183713, 2653,
     (2, 0.1507423349733179)),
    (4, "swarm", 0.2427179634169489, 0.10003389482899812, 17.203091918459346, 9619,
     (0, 0.43119321799009014)),
    (6, "pbft", 0.2352894166938328, 0.05242145545980457, 16.5834321118615, 4134,
     (3, 0.33241538150326444)),
]  # fmt: skip


@pytest.mark.parametrize(("n", "protocol", "loss", "duplicate", "jitter", "seed", "crash"), SPLITS)
def test_a_split_after_a_crash_with_lost_messages_resolves(
    n: int, protocol: str, loss: float, duplicate: float, jitter: float, seed: int,
    crash: tuple[int, float],
) -> None:  # fmt: skip
    net = NetModel(latency=0.001, loss=loss, duplicate=duplicate, jitter=jitter)
    record = simulate(make_jobs(60, seed=seed), site_capacities(n), protocol, net=net, seed=seed,
                      crash=crash)  # fmt: skip
    verdict = check(record)
    assert verdict["lost"] == [] and verdict["twice"] == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    n=st.integers(3, 7),
    protocol=st.sampled_from(PROTOCOLS),
    loss=st.floats(0.0, 0.3),
    duplicate=st.floats(0.0, 0.2),
    jitter=st.floats(0.0, 20.0),
    seed=st.integers(0, 10_000),
)
def test_up_to_f_crashes_with_loss_lose_strand_and_repeat_nothing(
    data: st.DataObject, n: int, protocol: str, loss: float, duplicate: float, jitter: float,
    seed: int,
) -> None:  # fmt: skip
    f = n - quorum(protocol, n)  # crashes that leave a quorum alive
    dead = data.draw(st.lists(st.integers(0, n - 1), max_size=f, unique=True), label="dead")
    crashes = [(a, data.draw(st.floats(0.0, 2.0), label=f"crash of {a}")) for a in dead]
    jobs = make_jobs(40, seed=seed, interarrival=0.03)
    bound = jobs[-1].arrival + sum(j.runtime for j in jobs) + 30.0  # virtual s
    net = NetModel(latency=0.001, loss=loss, duplicate=duplicate, jitter=jitter)
    record = simulate(jobs, site_capacities(n), protocol, net=net, seed=seed, crashes=crashes,
                      until=bound)  # fmt: skip
    verdict = check(record)
    assert verdict["twice"] == [] and verdict["wrong_agent"] == [] and verdict["early"] == []
    assert verdict["lost"] == [], verdict  # liveness: decided within the bound
    assert verdict["stranded"] == [], verdict
    ended = {e.job for e in record.events if e.kind == "end"}
    assert ended == {j.job_id for j in jobs}


def test_a_locked_agent_refuses_a_proposal_carrying_an_older_lock() -> None:
    # the rule that keeps a selection: a voter locked at round 1 would undo it by voting for a
    # fresh proposal (or one carrying a round-0 lock), so it votes only for round >= 1 locks
    agent = Agent(0, site_capacities(3), "swarm")
    agent._vote(4, 0.0).locked = (1, 2)

    def votes(proposer: int, lock: tuple[int, int]) -> list[str]:
        msg = Msg(PROPOSE, 4, (2, proposer), proposer, mid=f"{proposer}.p", lock=lock)
        return [o.msg.kind for o in agent.on_message(msg, 0.1)]

    assert votes(1, (-1, 1)) == []
    assert votes(1, (0, 1)) == []
    assert votes(2, (1, 2)) == ["prepare"]
