"""Every insight's numbers recomputed independently (plain Python) on a crafted table."""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np
import polars as pl
import pytest

from hpcsched.analytics.insights import FAILURE_STATES, Insight, insights, pct
from hpcsched.analytics.insights_compare import compare_insights
from hpcsched.core.durations import duration_text

STATES = ["completed"] * 6 + ["failed", "timeout", "cancelled", "out_of_memory"]


def _jobs(seed: int, n: int = 120, slow: float = 1.0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        submit = float(rng.uniform(0, 5e5))
        state = STATES[int(rng.integers(len(STATES)))]
        never = state == "cancelled" and rng.random() < 0.4
        wait = float(rng.exponential(3600 * slow) * (1 + i % 7))
        run = float(rng.uniform(10, 20000))
        nodes = int(2 ** rng.integers(0, 8))
        rows.append(
            {
                "job_id": str(i),
                "user": f"u{int(rng.integers(6))}",
                "partition": ["batch", "gpu", "debug"][i % 3],
                "submit": submit,
                "start": None if never else submit + wait,
                "end": submit + (wait if never else wait + run),
                "runtime": None if never else run,
                "timelimit": run * float(rng.choice([1.05, 2.0, 8.0])) if not never else 3600.0,
                "nodes": nodes,
                "cpus": nodes * 4,
                "state": state,
                "backfilled": None if never else bool(rng.random() < 0.4),
                "sacct_cancelled_by": 1000 if state == "cancelled" and i % 2 else None,
            }
        )
    return rows


def _table(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, infer_schema_length=None)


@pytest.fixture(scope="module")
def crafted() -> tuple[list[dict[str, Any]], dict[str, Insight]]:
    rows = _jobs(11)
    found = {i.key: i for i in insights(_table(rows), capacity=512)}
    return rows, found


def test_overview_and_waits(crafted: tuple[list[dict[str, Any]], dict[str, Insight]]) -> None:
    rows, found = crafted
    ov = found["overview"].numbers
    submits = [r["submit"] for r in rows]
    assert ov["jobs"] == len(rows) and ov["users"] == len({r["user"] for r in rows})
    assert ov["submit_span"] == pytest.approx(max(submits) - min(submits))
    assert ov["completed"] == sum(r["state"] == "completed" for r in rows)
    waits = [r["start"] - r["submit"] for r in rows if r["start"] is not None]
    w = found["wait"].numbers
    assert w["started"] == len(waits)
    assert w["median_wait"] == pytest.approx(statistics.median(waits))
    assert w["mean_wait"] == pytest.approx(statistics.fmean(waits))
    assert w["p95_wait"] == pytest.approx(float(np.percentile(waits, 95)))
    assert duration_text(statistics.median(waits)) in found["wait"].text


def test_walltime_and_backfill(crafted: tuple[list[dict[str, Any]], dict[str, Insight]]) -> None:
    rows, found = crafted
    done = [r["runtime"] / r["timelimit"] for r in rows if r["state"] == "completed"]
    wt = found["walltime_overestimate"].numbers
    assert wt["completed_with_limit"] == len(done)
    assert wt["under_quarter_share"] == pytest.approx(sum(x < 0.25 for x in done) / len(done))
    assert wt["median_ratio"] == pytest.approx(statistics.median(done))
    assert found["walltime_overestimate"].text.startswith(pct(wt["under_quarter_share"]))
    started = [r for r in rows if r["start"] is not None]
    back = [r["start"] - r["submit"] for r in started if r["backfilled"]]
    rest = [r["start"] - r["submit"] for r in started if not r["backfilled"]]
    bf = found["backfill"].numbers
    assert bf["backfilled"] == len(back)
    assert bf["backfilled_share"] == pytest.approx(len(back) / len(started))
    assert bf["median_wait_backfilled"] == pytest.approx(statistics.median(back))
    assert bf["median_wait_other"] == pytest.approx(statistics.median(rest))
    text = found["backfill"].text
    assert duration_text(statistics.median(back)) in text
    assert duration_text(statistics.median(rest)) in text


def test_cancelled_timeouts_and_failures(
    crafted: tuple[list[dict[str, Any]], dict[str, Insight]],
) -> None:
    rows, found = crafted
    cancelled = [r for r in rows if r["state"] == "cancelled"]
    c = found["cancelled"].numbers
    assert c["cancelled"] == len(cancelled)
    assert c["cancelled_share"] == pytest.approx(len(cancelled) / len(rows))
    assert c["cancelled_by_user"] == sum(r["sacct_cancelled_by"] is not None for r in cancelled)
    assert c["never_started"] == sum(r["start"] is None for r in cancelled)
    assert 0 < c["cancelled_by_user"] < c["cancelled"]
    timed = [r for r in rows if r["state"] == "timeout"]
    t = found["timeouts"].numbers
    assert t["timeouts"] == len(timed)
    hours = sum(r["nodes"] * r["runtime"] for r in timed) / 3600
    assert t["size_hours"] == pytest.approx(hours)
    total = sum(r["nodes"] * r["runtime"] for r in rows if r["runtime"] is not None) / 3600
    assert t["size_hours_share"] == pytest.approx(hours / total)
    for by in ("user", "partition"):
        counts: dict[str, list[int]] = {}
        for r in rows:
            counts.setdefault(r[by], [0, 0])
            counts[r[by]][0] += r["state"] in FAILURE_STATES
            counts[r[by]][1] += 1
        expected = sorted(
            ((-f, name, f, n) for name, (f, n) in counts.items() if f), key=lambda x: x[:2]
        )
        top = found[f"failing_{by}"].numbers["top"]
        assert [(d[by], d["failed"], d["jobs"]) for d in top] == [e[1:] for e in expected[:3]]
        assert found[f"failing_{by}"].numbers["failed"] == sum(
            r["state"] in FAILURE_STATES for r in rows
        )


def test_wait_by_size_and_utilisation(
    crafted: tuple[list[dict[str, Any]], dict[str, Insight]],
) -> None:
    rows, found = crafted
    by_class: dict[int, list[float]] = {}
    for r in rows:
        if r["start"] is not None:
            k = int(np.ceil(np.log2(r["nodes"])))
            by_class.setdefault(k, []).append(r["start"] - r["submit"])
    kept = sorted(k for k, v in by_class.items() if len(v) >= 5)
    ws = found["wait_by_size"].numbers
    assert ws["small_median_wait"] == pytest.approx(statistics.median(by_class[kept[0]]))
    assert ws["large_median_wait"] == pytest.approx(statistics.median(by_class[kept[-1]]))
    assert ws["large_class"] == f"{2 ** (kept[-1] - 1) + 1}–{2 ** kept[-1]}"
    ran = [r for r in rows if r["start"] is not None]
    span = max(r["end"] for r in ran) - min(r["submit"] for r in ran)
    area = sum(r["cpus"] * (r["end"] - r["start"]) for r in ran)
    u = found["utilisation"].numbers
    assert u["utilisation"] == pytest.approx(area / (512 * span))
    events = sorted([(r["start"], r["cpus"]) for r in ran] + [(r["end"], -r["cpus"]) for r in ran])
    level, peak = 0, 0
    for _, delta in events:  # ends before starts at equal times: sorted by (time, delta)
        level += delta
        peak = max(peak, level)
    assert u["peak"] == pytest.approx(peak / 512)
    assert pct(area / (512 * span)) in found["utilisation"].text


def test_each_insight_is_one_sentence_and_absent_without_data() -> None:
    found = insights(_table(_jobs(5)))
    assert all(i.text.count(". ") == 0 and i.text.endswith(".") for i in found)
    bare = pl.DataFrame(
        {"submit": [0.0, 60.0], "start": [30.0, 600.0], "end": [90.0, 700.0], "nodes": [1, 2]}
    )
    keys = {i.key for i in insights(bare)}
    assert "walltime_overestimate" not in keys and "backfill" not in keys
    assert {"overview", "wait", "utilisation"} <= keys
    assert "machine size is unknown" in next(
        i.text for i in insights(bare) if i.key == "utilisation"
    )


def test_compare_insights_contrast_two_tables() -> None:
    a, b = _jobs(1), _jobs(1, slow=6.0)
    found = {i.key: i for i in compare_insights(_table(a), _table(b), names=("easy", "fcfs"))}
    medians = []
    bslds = []
    for rows in (a, b):
        ran = [r for r in rows if r["start"] is not None]
        waits = [r["start"] - r["submit"] for r in ran]
        medians.append(statistics.median(waits))
        bslds.append(
            statistics.fmean(
                max(1.0, (w + (r["end"] - r["start"])) / max(r["end"] - r["start"], 10.0))
                for w, r in zip(waits, ran, strict=True)
            )
        )
    assert found["compare_wait"].numbers["median_wait"] == pytest.approx(medians)
    assert found["compare_bsld"].numbers["avg_bsld"] == pytest.approx(bslds)
    text = found["compare_wait"].text
    assert "easy" in text and "fcfs" in text and f"{medians[1] / medians[0]:.1f}× longer" in text
    assert found["compare_jobs"].numbers["jobs"] == [len(a), len(b)]
    assert "compare_utilisation" in found and "compare_backfill" in found


def test_compare_with_one_known_machine_size_uses_busy_processors_for_both() -> None:
    a, b = _table(_jobs(1)), _table(_jobs(1, slow=6.0))
    unknown = {i.key: i for i in compare_insights(a, b)}["compare_utilisation"]
    one_known = {i.key: i for i in compare_insights(a, b, capacity=(None, 8.0))}
    mixed = one_known["compare_utilisation"]
    assert "mean_busy_cpus" in mixed.numbers and "not a fraction" in mixed.text
    assert mixed.numbers["mean_busy_cpus"] == pytest.approx(unknown.numbers["mean_busy_cpus"])
