"""sacct readers on the real Slurm 22.05 samples in ../shared/data/sacct: jobs, steps and states
of each dump (all steps, -X, -D, every field), `sacct --json` agreeing with the text job for
job, and the derived Frontier CSVs (no header line, 1024-based units).

The crafted lines per README pitfall are in test_sacct_pitfalls.py and test_sacct_layout.py;
unreadable input in test_sacct_malformed.py."""

from __future__ import annotations

import polars as pl

from hpcsched.core.schema import CANONICAL_COLUMNS
from hpcsched.workloads.sacct import SacctRead, read_sacct
from hpcsched.workloads.sacct_json import read_sacct_json
from sacct_helpers import MB, epoch, job_row

from conftest import SHARED, require_shared

SACCT = SHARED / "data" / "sacct"


def _sample(name: str) -> SacctRead:
    return read_sacct(require_shared(SACCT / name))


SAMPLE_STATES = {"cancelled": 1, "completed": 22, "failed": 2, "out_of_memory": 1, "timeout": 1}


def test_sample_jobs_steps_and_states() -> None:
    r = _sample("local-slurm-sample.txt")
    assert (r.rows_read, r.jobs, r.steps, r.malformed) == (83, 27, 56, [])
    assert (r.requeues, r.duplicates, r.orphan_steps) == (0, 0, 0)
    t = r.table
    assert t.columns[: len(CANONICAL_COLUMNS)] == list(CANONICAL_COLUMNS)
    assert r.states() == SAMPLE_STATES
    assert not any("." in j for j in t["job_id"])  # steps never become jobs
    assert t["job_id"].n_unique() == 27
    assert set(t["source"]) == {"sacct"}
    assert t["backfilled"].to_list() == [False] * 27  # every job: SchedMain,StartRecieved
    # job 3: .batch 4176K, .extern 712K, .0 828K, .1 832K -> peak over the steps
    three = job_row(r, "3")
    assert (three["step_count"], three["mem_used"]) == (4, 4176 * 1024.0)
    assert (three["nodes"], three["cpus"], three["gpus"], three["mem_req"]) == (2, 4, 0, 400.0 * MB)
    assert (three["sacct_nodelist"], three["sacct_nodelist_nodes"]) == ("n[2,4]", 2)
    assert t["sacct_nodelist_nodes"].to_list() == t["nodes"].to_list()
    assert job_row(r, "23")["step_count"] == 2  # srun without sbatch: .extern and .0, no .batch
    one = job_row(r, "1")
    assert one["submit"] == epoch("2026-11-20T22:51:20")
    assert (one["start"], one["end"]) == (
        epoch("2026-11-20T22:51:22"),
        epoch("2026-11-20T22:51:23"),
    )
    assert (one["runtime"], one["timelimit"], one["name"], one["user"]) == (
        1.0,
        60.0,
        "basic",
        "root",
    )
    timeout = job_row(r, "8")  # Elapsed > Timelimit: slurmctld checks limits every ~30 s
    assert (timeout["state"], timeout["runtime"], timeout["timelimit"]) == ("timeout", 86.0, 60.0)
    assert (job_row(r, "7")["state"], job_row(r, "7")["sacct_cancelled_by"]) == ("cancelled", 0)
    assert (job_row(r, "6")["exit_code"], job_row(r, "6")["sacct_exit_signal"]) == (1, 0)
    assert (job_row(r, "21")["exit_code"], job_row(r, "21")["sacct_exit_signal"]) == (0, 11)
    assert job_row(r, "15")["state"] == "out_of_memory"
    arrays = t.filter(pl.col("array_id") == 9)
    assert arrays["job_id"].to_list() == ["9_1", "9_2", "9_3", "9_4", "9_5"]
    assert arrays["sacct_job_id_raw"].to_list() == ["24", "25", "26", "27", "9"]
    assert arrays["sacct_array_tasks"].to_list() == [1] * 5
    assert job_row(r, "10")["reason"] == "Dependency"
    assert t["sacct_line"][:3].to_list() == [2, 5, 8]
    assert t["sacct_flags"][0] == "SchedMain,StartRecieved"  # unmapped fields stay as text


def test_linuxproc_sample_backfill_flags_and_oom() -> None:
    r = _sample("local-slurm-sample-linuxproc.txt")
    assert (r.rows_read, r.jobs, r.steps, r.malformed) == (54, 26, 28, [])
    assert r.table["backfilled"].value_counts().sort("backfilled").rows() == [
        (False, 16),
        (True, 10),
    ]
    assert job_row(r, "2")["backfilled"] is True  # SchedBackfill,StartRecieved
    oom = job_row(r, "16")  # OverMemoryKill: FAILED 0:9, the step's MaxRSS shows the overrun
    assert (oom["state"], oom["exit_code"], oom["sacct_exit_signal"]) == ("failed", 0, 9)
    assert oom["mem_used"] == 424548 * 1024.0 > oom["mem_req"] == 50.0 * MB
    assert job_row(r, "2")["mem_used"] is None  # its only step printed no MaxRSS


def test_alloc_sample_is_the_same_jobs_without_steps() -> None:
    steps, alloc = _sample("local-slurm-sample.txt"), _sample("local-slurm-sample-alloc.txt")
    assert (alloc.rows_read, alloc.jobs, alloc.steps) == (27, 27, 0)
    # sacct -X prints TotalCPU/UserCPU/SystemCPU as 00:00:00: the job row sums them from steps
    cpu = ["sacct_totalcpu", "sacct_usercpu", "sacct_systemcpu"]
    assert set(alloc.table.select(cpu).unpivot()["value"]) == {"00:00:00"}
    skip = ("mem_used", "step_count", "sacct_line", *cpu)
    same = [c for c in steps.table.columns if c not in skip]
    assert alloc.table.select(same).equals(steps.table.select(same))
    assert alloc.table["step_count"].to_list() == [0] * 27
    assert alloc.table["mem_used"].null_count() == 27


def test_duplicates_sample_folds_the_requeued_attempt() -> None:
    plain, dup = _sample("local-slurm-sample.txt"), _sample("local-slurm-sample-duplicates.txt")
    assert (dup.rows_read, dup.jobs, dup.steps, dup.requeues, dup.duplicates) == (86, 27, 58, 1, 0)
    requeued = job_row(dup, "22")
    assert requeued["sacct_requeues"] == 1
    assert requeued["state"] == "completed"  # the final attempt, not the REQUEUED record
    assert requeued["submit"] == epoch("2026-11-20T22:51:28")
    assert requeued["step_count"] == 2
    assert requeued["mem_used"] == 1176 * 1024.0  # final .batch; the first attempt's was 1172K
    same = [c for c in plain.table.columns if c not in ("sacct_requeues", "sacct_line")]
    assert dup.table.select(same).equals(plain.table.select(same))
    assert dup.table.filter(pl.col("job_id") != "22")["sacct_requeues"].sum() == 0


def test_allfields_sample_any_order() -> None:
    """109 fields in alphabetical order: the same jobs as the 43-field dump."""
    plain, every = _sample("local-slurm-sample.txt"), _sample("local-slurm-sample-allfields.txt")
    assert (every.rows_read, every.jobs, every.steps, every.malformed) == (83, 27, 56, [])
    assert every.table.select(CANONICAL_COLUMNS).equals(plain.table.select(CANONICAL_COLUMNS))
    assert every.table["sacct_planned"].to_list() == plain.table["sacct_planned"].to_list()
    assert every.table["sacct_uid"][0] == "0"


def test_json_agrees_with_text_job_for_job() -> None:
    """`sacct --json` (22.05) holds the REQUEUED record, like `-D`: same jobs as the -D text."""
    text = _sample("local-slurm-sample-duplicates.txt")
    doc = read_sacct_json(require_shared(SACCT / "local-slurm-sample.sacct.json"))
    assert (doc.rows_read, doc.jobs, doc.steps, doc.requeues, doc.malformed) == (28, 27, 58, 1, [])
    a, b = text.table.sort("job_id"), doc.table.sort("job_id")  # sacct --json orders by id
    assert a["job_id"].to_list() == b["job_id"].to_list()
    common = [c for c in a.columns if c in b.columns]
    compared = {"eligible", "reason", "array_id", "step_count", "workdir", "sacct_job_id_raw"}
    compared |= {"sacct_array_tasks", "sacct_requeues", "sacct_exit_signal", "sacct_nodelist"}
    compared |= {"sacct_nodelist_nodes", "sacct_group", "sacct_cluster", "sacct_priority"}
    assert {*CANONICAL_COLUMNS, *compared} == set(common)
    # 22.05's JSON reports `exit 1` as SUCCESS/0 (text: 1:0); only that job differs
    exit_diff = a.filter(pl.col("exit_code") != b["exit_code"])["job_id"].to_list()
    assert exit_diff == ["6"]
    # sample quirk, not Slurm: the JSON's WorkDirs were rewritten differently from the text's
    text_dirs, json_dirs = set(a["workdir"]), set(b["workdir"])
    assert (text_dirs, json_dirs) == ({"/home/ci/work", "/home/ci"}, {"\\/home/ci/work", "/tmp"})
    rest = [c for c in common if c not in ("exit_code", "workdir")]
    assert a.select(rest).equals(b.select(rest))
    # JSON names the canceller, text gives its uid
    assert (
        job_row(text, "7")["sacct_cancelled_by"],
        job_row(doc, "7")["sacct_cancelled_by_user"],
    ) == (0, "root")
    plain = _sample("local-slurm-sample.txt").table.sort("job_id")  # without -D: all but the count
    same = [c for c in rest if c != "sacct_requeues"]
    assert plain.select(same).equals(b.select(same))


def test_frontier_noheader_csv_units() -> None:
    """Derived Frontier CSVs: AllocNodes as sacct prints it (1K, 4.50K: 1024-based units)."""
    path = require_shared(SACCT / "peer-ucs-frontier-backfill2021.csv")  # no header line
    r = read_sacct(path, delimiter=",", fields=["ElapsedRaw", "AllocNodes"])
    lines = path.read_text().split()
    assert (r.rows_read, r.jobs, r.malformed) == (len(lines), len(lines), [])
    nodes = dict(zip([line.split(",")[1] for line in lines], r.table["nodes"], strict=True))
    assert (nodes["1"], nodes["1K"], nodes["2K"], nodes["4.50K"]) == (1, 1024, 2048, 4608)
    assert r.table["runtime"].to_list() == [float(line.split(",")[0]) for line in lines]
    assert r.table["job_id"].null_count() == r.jobs  # no JobID field: every row is a job
    # a file with its own header ("Elapsed,Nodes"): with fields=[...] it is a bad data line
    path = require_shared(SACCT / "peer-ucs-frontier-backfill2023.csv")
    r = read_sacct(path, delimiter=",", fields=["ElapsedRaw", "AllocNodes"])
    assert [(m.line, m.reason) for m in r.malformed] == [
        (1, "field ElapsedRaw is not a number of seconds: 'Elapsed'")
    ]
    printed = [line.split(",")[1] for line in path.read_text().split()[1:]]
    nodes = dict(zip(printed, r.table["nodes"], strict=True))
    assert (nodes["1.50K"], nodes["2.50K"], r.jobs) == (1536, 2560, len(printed))
