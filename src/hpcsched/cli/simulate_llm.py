"""``simulate TRACE --policy llm``: the language-model scheduler on a trace's one resource.

The policy is :class:`hpcsched.llmsched.policy.LlmPolicy` on a machine of ``capacity`` of the
replay's unit (cpus or nodes); ``--llm-deadline`` is its deadline per decision (default 5 s).
A trace of thousands of jobs asks the model thousands of times: give ``--window START:COUNT``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpcsched.cli.errors import fail

if TYPE_CHECKING:
    from hpcsched.llmsched.policy import LlmPolicy

DEFAULT_DEADLINE = 5.0


def llm_policy(
    unit: str,
    capacity: int,
    *,
    pooled: bool,
    objective: str | None,
    llm: tuple[str | None, str | None, float | None],
) -> LlmPolicy:
    """The policy, or one error line (no endpoint, partitions, a bad deadline)."""
    from hpcsched.cli.llm import llm_settings
    from hpcsched.llmsched.policy import LlmPolicy

    if pooled:
        fail("--policy llm schedules one machine: drop --partitions")
    url, model, deadline = llm
    settings = llm_settings(url, model, None)
    if not settings.configured:
        fail("--policy llm needs a language model: set HPCSCHED_LLM_URL or pass --llm-url")
    if deadline is not None and deadline <= 0:
        fail(f"--llm-deadline {deadline:g}: give the seconds per decision, e.g. 5")
    return LlmPolicy(
        (unit,),
        (capacity,),
        settings=settings,
        objective=objective,
        deadline=deadline or DEFAULT_DEADLINE,
    )


def summary(stats: dict[str, Any]) -> str:
    """One line on what the model did: decisions, fallbacks by reason, seconds and tokens."""
    reasons = ", ".join(f"{k} {v}" for k, v in stats["fallback_reasons"].items())
    seconds = stats["seconds_per_decision"]
    return (
        f"language model: {stats['decisions']} decisions asked ({stats['forced']} forced, not "
        f"asked), {stats['valid_first']} valid at once, {stats['retried']} retried, "
        f"{stats['fallbacks']} EASY fallbacks ({reasons}); {seconds['mean']:g} s per decision "
        f"(p95 {seconds['p95']:g}), {stats['prompt_tokens_per_reply']:g} prompt + "
        f"{stats['completion_tokens_per_reply']:g} completion tokens per reply"
    )
