"""Issue 16, item 4: conservative backfilling live. Before the scheduler core, ``hpcsched run`` of
300 or more independent ``sleep 0.01`` tasks with ``--policy conservative --cpus 2`` died with
``policy 'conservative' started more than the pool holds`` (the live dispatcher's own view let an
overrun end at ``now + 1``). The run of 1,000 must now succeed, and never have more than two
tasks running at once."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from fault_harness import final_json, hpcsched


def test_a_thousand_short_tasks_run_under_conservative(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    jobs = "".join(f"  - id: t{i}\n    command: 'sleep 0.01'\n" for i in range(1000))
    wf.write_text("jobs:\n" + jobs)
    proc = hpcsched("run", str(wf), "--policy", "conservative", "--cpus", "2", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "1000/1000 succeeded, 0 failed, 0 retried" in proc.stdout
    assert "(conservative, local)" in proc.stdout
    # the journal's own record: at most two attempts ran at any instant
    out = tmp_path / "attempts.parquet"
    export = hpcsched("export", str(tmp_path / "wf.run"), "--out", str(out))
    assert export.returncode == 0, export.stderr
    table = pl.read_parquet(out)
    assert table.height == 1000
    starts = table["start"].to_list()
    ends = table["end"].to_list()
    for t in starts:
        assert sum(s <= t < e for s, e in zip(starts, ends, strict=True)) <= 2
    again = hpcsched("run", str(wf), "--policy", "conservative", "--cpus", "2", "--json")
    assert final_json(again)["replayed"] == 1000  # all done: nothing runs twice
