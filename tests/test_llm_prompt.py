"""The language-model scheduler's prompt stays short at scale: the running jobs ending soonest and
the users who waited longest, with counts of the rest (every one of them made ~950 tokens at 50
jobs, ~10 s a decision with the local model)."""

from __future__ import annotations

from hpcsched.llmsched.actions import menu
from hpcsched.llmsched.prompt import LISTED_RUNNING, LISTED_USERS, state_lines
from hpcsched.policies.view import RunningJob, SchedulerView, WaitingJob


def test_the_prompt_lists_the_soonest_ends_and_the_longest_waiting_users() -> None:
    running = [
        RunningJob(100 + i, (1.0,), 0.0, 50.0 + (19 - i), 50.0 + (19 - i)) for i in range(20)
    ]
    waiting = [
        WaitingJob(i, float(i), (30.0,), 10.0, user=f"user_{i}") for i in range(10)
    ]  # user_0 arrived first: it waited longest
    view = SchedulerView(now=40.0, capacity=(32.0,), waiting=waiting, running=running)
    text = "\n".join(state_lines(view, menu(view, 12), completed=3))
    assert "Running jobs (20), soonest end first: 119 until 50, 118 until 51" in text
    assert f"and {20 - LISTED_RUNNING} more ending later" in text
    assert "111 until 58" not in text  # the ninth soonest is not listed
    assert "users who waited longest: user_0 1 waiting, longest 40 s; user_1" in text
    assert f"; {10 - LISTED_USERS} more users waiting less." in text
    assert "user_9 1 waiting" not in text
