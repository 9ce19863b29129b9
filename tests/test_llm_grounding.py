"""The checks a model's sentence must pass: numbers with units and rounding, names, subjects."""

from __future__ import annotations

import pytest

from hpcsched.llm.grounding import Fact, check_sentence, mentions, unaccounted_digits

FACTS = {
    f.key: f
    for f in (
        Fact("jobs", 28476, "count", "jobs"),
        Fact("median_wait", 300, "seconds", "median wait", stat="median"),
        Fact("completed.median_wait", 324, "seconds", "median", subject="completed", stat="median"),
        Fact("failed.median_wait", 180, "seconds", "median", subject="failed", stat="median"),
        Fact("completed.share", 0.7209, "share", "share completed", subject="completed"),
        Fact("ratio.median_wait", 2.47, "ratio", "B / A", stat="median"),
        Fact("spearman", -0.31, "correlation", "rank correlation"),
        Fact("p95_wait", 7704, "seconds", "95th percentile wait", stat="p95"),
        Fact("peak_day", 194.3, "days", "peak", stat="peak"),
        Fact("mean_busy", 15.14, "number", "mean busy", stat="mean"),
        Fact("first_half_mean", 12.5, "number", "first half", stat="first_half"),
    )
}
NAMES = ["completed", "failed", "out_of_memory", "user 18", "3–4 processors", "KTH-SP2"]
GROUPS = ["completed", "failed", "out_of_memory", "user 18", "3–4 processors"]


def check(text: str, cited: tuple[str, ...] = ()) -> str:
    return check_sentence(text, FACTS, NAMES, cited, GROUPS).status


@pytest.mark.parametrize(
    "text",
    [
        "28,476 jobs were submitted.",
        "Completed jobs waited a median of 5 min.",  # 324 s shown as duration_text does
        "Completed jobs waited a median of 5.4 minutes.",
        "72% of jobs completed.",
        "72.1 percent of jobs completed.",
        "Under B the median wait was 2.5× that under A.",
        "The median wait was 2.47 times longer.",
        "Larger jobs waited less (rank correlation -0.31).",
        "The 95th percentile wait was 2.1 h.",  # 7704 s = 2.14 h, written with one decimal
        "The queue peaked on day 194.",
        "28.5k jobs ran on KTH-SP2.",
        "Failed jobs waited a median of 3 min, user 18 the most.",
        "The median wait was 5 min.",
    ],
)
def test_numbers_that_check_are_verified(text: str) -> None:
    assert check(text) == "verified", check_sentence(text, FACTS, NAMES, (), GROUPS).reason


@pytest.mark.parametrize(
    "text",
    [
        "Completed jobs waited a median of 3 min.",  # failed jobs' wait, said of completed ones
        "Completed jobs waited a median of 9 min.",
        "80% of jobs completed.",
        "The median wait was 3× longer.",
        "Twice as many jobs failed.",
        "The 95th percentile wait was 3.5 h.",
        "user 99 submitted most jobs.",  # not in the data (the digits are a claim)
        "user_99 submitted most jobs.",  # an identifier that is no name in the data
        "It peaked on 2024-03-01.",
    ],
)
def test_numbers_or_names_that_do_not_check_drop_the_sentence(text: str) -> None:
    assert check(text) == "dropped"


def test_the_relative_tolerance_is_two_percent() -> None:
    assert check("28,000 jobs were submitted.") == "verified"  # 1.7 % below 28,476
    assert check("27,800 jobs were submitted.") == "dropped"  # 2.4 % below


def test_sentences_without_numbers_are_unverifiable_and_names_still_checked() -> None:
    assert check("Most jobs completed; few ran out_of_memory.") == "unverifiable"
    assert check("Most jobs hit node_exploded.") == "dropped"


def test_the_rounding_shown_sets_the_tolerance() -> None:
    assert check("The 95th percentile wait was 2 h.") == "verified"  # 2.14 h rounds to 2 h
    assert check("The 95th percentile wait was 2.0 h.") == "dropped"  # 2.0 claims ±0.05 h
    assert check("The peak came 194.30 days in.") == "verified"


def test_units_are_read_and_converted() -> None:
    got = {
        (m.text, m.value, m.unit) for m in mentions("waited 12min, 3 h, 2 days, 41%, 1.5M, 2.5x")
    }
    assert ("12min", 720.0, "seconds") in got and ("3 h", 10800.0, "seconds") in got
    assert ("2 days", 172800.0, "seconds") in got and ("41%", 41.0, "percent") in got
    assert ("1.5M", 1.5e6, None) in got and ("2.5x", 2.5, "ratio") in got


def test_numbers_inside_names_are_names_and_the_audit_counts_every_digit() -> None:
    c = check_sentence("user 18 ran 28,476 jobs of 3–4 processors.", FACTS, NAMES)
    assert c.status == "verified" and unaccounted_digits(c) == 0
    c = check_sentence("user 18 ran 40 jobs.", FACTS, NAMES)
    assert c.status == "dropped" and unaccounted_digits(c) == 2


def test_cited_facts_are_tried_first_but_the_text_decides() -> None:
    c = check_sentence("Completed jobs waited 5 min.", FACTS, NAMES, ["jobs"], GROUPS)
    assert c.status == "verified" and c.numbers[0].fact == "completed.median_wait"


def test_a_number_must_be_about_what_the_sentence_names() -> None:
    # the overall median (5 min) said of failed jobs, whose median is 3 min
    assert check("The median wait of failed jobs was 5 min.") == "dropped"
    # a statistic named in the sentence must be the fact's
    assert check("The first half averaged 15.14 busy processors.") == "dropped"
    assert check("The first half saw 12.5 busy processors.") == "verified"
    assert check("The mean was 15.14 busy processors.") == "verified"
    assert check("The median of 28,476 jobs was 5 min.") == "verified"  # counts stay allowed
