"""hpcsched advise: #SBATCH parsing, the site file, planning, chains, refusals, the what-if table.

Planning is tested with a stand-in bound (any object with ``upper``/``point``, the interface of
``hpcsched.predict.bound.FittedBound``); the command line runs the real predictor.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from hpcsched.advise import Advice, advise, submit_chain
from hpcsched.advise.plan import Prediction, RefusalError, job_row, predict, request_of
from hpcsched.advise.sbatch_script import (
    MARK,
    format_memory,
    format_time,
    parse_memory,
    parse_script,
    parse_time,
    rewrite,
)
from hpcsched.advise.site import SiteError, expand_hostlist, load_site
from hpcsched.advise.whatif import Queue, load_squeue, read_squeue
from hpcsched.cli import app

from conftest import SHARED, require_shared

EXAMPLE_SITE = Path(__file__).resolve().parents[1] / "examples" / "site-local.yaml"
SACCT = SHARED / "data" / "sacct"
GB = 1024**3
MB = 1024**2

SCRIPT = """#!/bin/bash
#SBATCH --job-name=relax
#SBATCH -N 1 -n 2   # two tasks
#SBATCH -t 60
#SBATCH --mem=500M
## SBATCH --time=9 (a comment, not a directive)
# set up
module load vasp
srun ./relax
#SBATCH --time=5
"""


class StandInBound:
    """A test double of FittedBound: fixed upper/point answers for every job."""

    def __init__(self, upper: float, point: float, known: int = 1000) -> None:
        self.upper_value, self.point_value = upper, point
        self.known, self.needed = known, 100
        self.seen: list[pl.DataFrame] = []

    def upper(self, jobs: pl.DataFrame) -> np.ndarray:
        self.seen.append(jobs)
        return np.full(jobs.height, self.upper_value)

    def point(self, jobs: pl.DataFrame) -> np.ndarray:
        return np.full(jobs.height, self.point_value)


def idle() -> Queue:
    return Queue([], 1_000_000.0)


# -- the script ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45", 45 * 60),
        ("45:30", 45 * 60 + 30),
        ("1:00:00", 3600),
        ("2-12", 2 * 86400 + 12 * 3600),
        ("1-02:30", 86400 + 2 * 3600 + 30 * 60),
        ("1-02:30:15", 86400 + 2 * 3600 + 30 * 60 + 15),
    ],
)
def test_slurm_time_formats(text: str, seconds: int) -> None:
    assert parse_time(text) == seconds
    assert parse_time(format_time(seconds)) == pytest.approx(np.ceil(seconds / 60) * 60)


def test_time_and_memory_edge_cases() -> None:
    assert parse_time("UNLIMITED") is None
    assert format_time(61) == "00:02:00"  # Slurm limits are whole minutes: round up
    assert format_time(36 * 3600) == "1-12:00:00"
    with pytest.raises(ValueError, match="not a Slurm time"):
        parse_time("1h")
    assert parse_memory("4G") == 4 * GB
    assert parse_memory("2000") == 2000 * MB  # a bare number is MB, as for --mem
    assert format_memory(3 * GB) == "3G"
    assert format_memory(300 * MB + 1) == "301M"


def test_directives_in_every_form_stop_at_the_first_command() -> None:
    script = parse_script(
        "#!/bin/bash\n#SBATCH --time=1:00:00 --qos high\n#SBATCH -N2 -c 4\n"
        "#SBATCH --gres=gpu:v100:2\n#SBATCH --mem 4G -p batch\necho hi\n#SBATCH -t 5\n",
        "job.sbatch",
    )
    assert script.get("--time") == "1:00:00"
    assert script.get("--qos") == "high"
    assert script.get("--partition") == "batch"
    request = request_of(script)
    assert (request.nodes, request.cpus, request.gpus) == (2, 8, 4)  # gres and mem per node
    assert request.mem == 8 * GB
    assert request.timelimit == 3600
    assert script.where("--mem") == "job.sbatch:5"


def test_rewrite_round_trip_keeps_every_other_line_verbatim() -> None:
    script = parse_script(SCRIPT, "job.sbatch")
    assert rewrite(script, {}) == SCRIPT
    changed = rewrite(
        script,
        {"--time": ("00:30:00", "bound"), "--qos": ("low", "cheapest"), "--nodes": ("1", "")},
    )
    again = parse_script(changed)
    assert again.get("--time") == "00:30:00"
    assert again.get("--qos") == "low"
    assert again.get("--ntasks") == "2"  # the other option of a rewritten line survives
    kept = [line for line in changed.splitlines() if not line.startswith(MARK)]
    original = SCRIPT.splitlines()
    assert [line for line in kept if line in original] == [
        line for line in original if line in kept
    ]
    assert sum(line not in original for line in kept) == 2  # only the --time and --qos lines
    assert f"{MARK} --time changed (bound); was: #SBATCH -t 60" in changed
    assert f"{MARK} --qos added (cheapest)" in changed
    assert changed.index("--qos=low") < changed.index("module load vasp")
    assert changed.endswith("srun ./relax\n#SBATCH --time=5\n")  # after a command: not a directive


def test_a_script_line_sbatch_would_reject_is_reported_with_its_line() -> None:
    with pytest.raises(ValueError, match=r"^job.sbatch:2: 'oops' is not an sbatch option"):
        parse_script("#!/bin/bash\n#SBATCH oops\n", "job.sbatch")


# -- the site file ------------------------------------------------------------------------------


def test_example_site_matches_the_local_cluster() -> None:
    site = load_site(EXAMPLE_SITE)
    assert site.partitions["debug"].max_walltime == 30 * 60
    assert site.partitions["batch"].max_walltime == 2 * 3600
    assert site.partitions["debug"].node_limit == 4
    assert site.default_partition == "debug"
    assert set(site.qos) == {"normal", "high", "low"}
    assert site.pools()["debug"] == site.pools()["batch"]  # one set of nodes
    assert expand_hostlist("n[1-2],gpu[08-10]") == ["n1", "n2", "gpu08", "gpu09", "gpu10"]


@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        (("    cpus_per_node: 2\n", "    cpus_per_node: zero\n", 1), 18, "cpus_per_node"),
        (('max_walltime: "2:00:00"', "max_walltime: 2h", 1), 24, "not a Slurm time"),
        (("    gpus_per_node: 0\n", "    gpus_per_node: 0\n    colour: red\n", 1), 21, "colour"),
        (("policy: easy", "policy: fastest-first", 1), 7, "unknown policy 'fastest-first'"),
        (("default_qos: normal", "default_qos: urgent", 1), 12, "'urgent' is not among qos"),
        (("  low:\n", "  low\n", 1), 37, "expected ':' (started at line 36)"),
    ],
)
def test_site_errors_are_one_line_with_file_and_line(
    tmp_path: Path, edit: tuple[str, str, int], line: int, message: str
) -> None:
    old, new, count = edit
    text = EXAMPLE_SITE.read_text()
    assert old in text
    path = tmp_path / "site.yaml"
    path.write_text(text.replace(old, new, count))
    with pytest.raises(SiteError) as caught:
        load_site(path)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{path}:{line}: "), text
    assert message in text


# -- planning -----------------------------------------------------------------------------------


def plan(
    text: str,
    upper: float,
    point: float,
    *,
    mem: float | None = None,
    queue: Queue | None = None,
    prefer: str = "cheapest",
) -> Advice:
    """Advice for ``text`` on the example site with a given bound (idle machine by default)."""
    script = parse_script(text, "job.sbatch")
    site = load_site(EXAMPLE_SITE)
    return advise(script, site, queue or idle(), Prediction(upper, point, mem), prefer=prefer)


def test_predict_asks_the_bound_about_the_script_as_a_job_row() -> None:
    site = load_site(EXAMPLE_SITE)
    request = request_of(parse_script(SCRIPT, "job.sbatch"))
    runtime, memory = StandInBound(1500.0, 1000.0), StandInBound(300 * MB, 250 * MB)
    row = job_row(request, site, user="alice", now=5.0)
    prediction = predict(runtime, memory, row, 0.9)
    assert (prediction.runtime_upper, prediction.runtime_point) == (1500.0, 1000.0)
    assert prediction.mem_upper == 300 * MB
    seen = runtime.seen[0].row(0, named=True)
    assert seen["timelimit"] == 3600 and seen["cpus"] == 2 and seen["mem_req"] == 500 * MB
    assert (seen["user"], seen["partition"], seen["qos"]) == ("alice", "debug", "normal")
    no_bound = predict(StandInBound(np.inf, np.nan), None, row, 0.9)
    assert no_bound.runtime_upper == 3600 and "--time kept" in no_bound.note
    with pytest.raises(RefusalError, match="has no --time"):
        predict(StandInBound(np.inf, np.nan), None, row.with_columns(timelimit=None), 0.9)


def test_a_job_that_fits_gets_the_rounded_bound_and_sized_memory() -> None:
    advice = plan(SCRIPT, 21 * 60 + 5, 15 * 60, mem=333 * MB)
    assert len(advice.scripts) == 1
    out = parse_script(advice.scripts[0])
    assert out.get("--time") == "00:25:00"  # 21 min rounded up to the site's 5 min
    assert out.get("--mem") == "400M"  # 333 MB rounded up to 100 MB
    assert not advice.chosen.option.chained
    assert f"{MARK} --time changed (95% bound of the predicted run time 21 min" in advice.scripts[0]
    assert advice.found.refused == {}
    assert len(advice.rows) == 6  # 2 partitions x 3 QoS


def test_a_bound_over_the_partition_limit_becomes_a_chain(tmp_path: Path) -> None:
    pinned = SCRIPT.replace("#SBATCH -t 60", "#SBATCH -t 60 -p debug")
    advice = plan(pinned, 70 * 60, 65 * 60)
    option = advice.chosen.option
    assert option.partition == "debug"
    assert option.parts == (1800, 1800, 600)
    assert len(advice.scripts) == 3
    for k, text in enumerate(advice.scripts, start=1):
        out = parse_script(text)
        assert out.get("--job-name") == f"relax.part{k}"
        assert parse_time(out.get("--time") or "") == option.parts[k - 1]
        assert f"part {k} of 3" in text
        assert "must write checkpoints" in text
        assert "--dependency=afterok" in text
    paths = [tmp_path / f"relax.part{k}.sbatch" for k in (1, 2, 3)]
    chain = submit_chain(paths)
    assert chain.count("sbatch --parsable") == 3
    assert 'dep=("--dependency=afterok:$jid")' in chain
    assert chain.index("relax.part1") < chain.index("relax.part2") < chain.index("relax.part3")
    # the same bound in batch (2 h limit) needs no chain, and the table says so
    batch = [r for r in advice.rows if r.option.partition == "batch"]
    assert all(r.option.parts == (70 * 60,) for r in batch)


def test_a_chain_that_needs_too_many_parts_is_refused() -> None:
    with pytest.raises(RefusalError, match=r"needs 11 chained parts of 30 min in partition debug"):
        plan(SCRIPT.replace("-t 60", "-t 60 -p debug"), 5.5 * 3600, 5 * 3600)


def test_a_request_over_the_limits_is_refused_naming_the_rule() -> None:
    with pytest.raises(RefusalError) as caught:
        plan(SCRIPT.replace("-N 1 -n 2", "-N 8"), 600, 500)
    assert (
        str(caught.value)
        == "needs 8 nodes, partition debug allows 4; needs 8 nodes, partition batch allows 4"
    )
    with pytest.raises(
        RefusalError, match=r"^needs 3000 MB memory per node, partition debug nodes"
    ):
        plan(SCRIPT.replace("--mem=500M", "--mem=3000M"), 600, 500)
    with pytest.raises(RefusalError, match=r"^needs 2 GPUs per node, partition debug nodes have 0"):
        plan(SCRIPT.replace("--mem=500M", "--gres=gpu:2"), 600, 500)
    with pytest.raises(RefusalError, match=r"job.sbatch:4: --partition=gpu is not defined"):
        plan(SCRIPT.replace("-t 60", "-t 60 -p gpu"), 600, 500)


# -- the what-if table --------------------------------------------------------------------------

TWO_POOLS = """
name: two-pools
policy: easy
partitions:
  shared: {nodes: "s[1-2]", max_walltime: "4:00:00", cpus_per_node: 4, mem_per_node: 8G,
           charge_rate: 1.0, default: true}
  express: {nodes: "e[1-2]", max_walltime: "1:00:00", cpus_per_node: 4, mem_per_node: 8G,
            charge_rate: 3.0}
qos:
  normal: {priority: 10}
"""


def squeue_job(job_id: int, state: str, partition: str, cpus: int, minutes: int, **extra: object):
    job = {
        "job_id": job_id,
        "job_state": state,
        "partition": partition,
        "qos": "normal",
        "priority": 100,
        "time_limit": minutes,
        "submit_time": 1000,
        "start_time": 1000 if state == "RUNNING" else 0,
        "end_time": 1000 + minutes * 60 if state == "RUNNING" else 0,
        "eligible_time": 1000,
        "last_sched_evaluation": 1000,
        "tres_req_str": f"cpu={cpus},mem=1G,node=1,billing={cpus}",
        "array_task_string": "",
        "dependency": "",
        "state_reason": "None",
    }
    return {**job, **extra}


def test_what_if_marks_fastest_and_cheapest_on_a_crafted_queue(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(TWO_POOLS)
    site = load_site(tmp_path / "site.yaml")
    # the cheap pool is full for 90 minutes; the express pool (3x the price) is idle
    queue = read_squeue(
        {
            "jobs": [
                squeue_job(1, "RUNNING", "shared", 4, 90, tres_alloc_str="cpu=4,mem=1G,node=1"),
                squeue_job(2, "RUNNING", "shared", 4, 120, tres_alloc_str="cpu=4,mem=1G,node=1"),
                squeue_job(3, "PENDING", "shared", 4, 30),
            ]
        }
    )
    assert queue.now == 1000
    script = parse_script("#!/bin/bash\n#SBATCH -n 4\nsrun x\n", "job.sbatch")
    advice = advise(script, site, queue, Prediction(20 * 60, 15 * 60))
    rows = {r.option.partition: r for r in advice.rows}
    assert rows["express"].start == queue.now
    # behind the running job (90 min) and the pending one queued before it (30 min)
    assert rows["shared"].start == pytest.approx(queue.now + 120 * 60)
    assert rows["express"].end == pytest.approx(queue.now + 15 * 60)
    assert rows["express"].fastest and not rows["express"].cheapest
    assert rows["shared"].cheapest and not rows["shared"].fastest
    assert rows["shared"].option.cost_expected == pytest.approx(
        rows["express"].option.cost_expected / 3
    )
    assert advice.chosen is rows["shared"]  # the default never pays more to start earlier
    fast = advise(script, site, queue, Prediction(20 * 60, 15 * 60), prefer="fastest")
    assert fast.chosen.option.partition == "express"


def test_a_pinned_partition_that_breaks_a_rule_names_the_way_out(tmp_path: Path) -> None:
    text = TWO_POOLS.replace("charge_rate: 3.0}", "charge_rate: 3.0, max_nodes: 1}")
    (tmp_path / "site.yaml").write_text(text)
    site = load_site(tmp_path / "site.yaml")
    script = parse_script("#!/bin/bash\n#SBATCH -N 2 -p express\nsrun x\n", "job.sbatch")
    with pytest.raises(RefusalError) as caught:
        advise(script, site, idle(), Prediction(600, 500))
    assert str(caught.value) == (
        "needs 2 nodes, partition express allows 1 (partition shared with QoS normal could take "
        "it: change the script or pass --any-partition)"
    )
    chosen = advise(script, site, idle(), Prediction(600, 500), any_partition=True).chosen
    assert chosen.option.partition == "shared"


def test_slurm_23_json_wrappers_and_arrays_are_read(tmp_path: Path) -> None:
    wrapped = squeue_job(
        7,
        "PENDING",
        "shared",
        2,
        0,
        job_state=["PENDING"],
        time_limit={"set": True, "infinite": False, "number": 45},
        priority={"set": True, "infinite": False, "number": 5},
        array_task_string="1-9:2%2",
    )
    held = squeue_job(9, "PENDING", "shared", 1, 5, priority={"set": True, "number": 0})
    queue = read_squeue({"jobs": [wrapped, {"job_id": 8}, held]}, now=2000.0)
    assert len(queue.jobs) == 5  # tasks 1, 3, 5, 7, 9
    assert {j.seconds for j in queue.jobs} == {45 * 60}
    assert queue.jobs[0].eligible == 2000.0
    assert queue.skipped["held (never starts by itself)"] == ["9"]
    assert queue.skipped["malformed (KeyError: 'job_state')"] == ["squeue: jobs[1]"]


def test_the_real_squeue_json_of_slurm_22_05() -> None:
    path = require_shared(SACCT / "local-slurm-squeue-during.json")
    queue = load_squeue(path)
    assert queue.now == 1795215082  # the last scheduler pass the file shows
    by_id: dict[str, list] = {}
    for job in queue.jobs:
        by_id.setdefault(job.job_id, []).append(job)
    assert {j for j, jobs in by_id.items() if jobs[0].running} == {"1", "4", "6", "7", "13", "23"}
    assert by_id["7"][0].seconds == 300  # ends at start + 5 min, 300 s after now
    assert len(by_id["9"]) == 5  # the pending array 9_[1-5%2]
    assert by_id["3"][0].cpus == 4 and by_id["3"][0].nodes == 2
    assert by_id["19"][0].mem == 3000 * MB
    assert queue.skipped["held (never starts by itself)"] == ["16"]
    assert queue.skipped["has a dependency (assumed eligible now)"] == ["10", "11", "12"]
    advice = plan(SCRIPT, 20 * 60, 15 * 60, queue=queue, prefer="fastest")
    start = {(r.option.partition, r.option.qos): r.start - queue.now for r in advice.rows}
    # QoS high (priority 100) jumps the pending normal jobs; low waits behind them
    assert start["debug", "high"] < start["debug", "normal"] <= start["debug", "low"]
    assert start["debug", "normal"] > 0
    assert "19" in queue.skipped["larger than a node of its partition (never starts; ignored)"]
    assert advice.chosen.option.qos == "high"
    assert plan(SCRIPT, 20 * 60, 15 * 60, queue=queue).chosen.option.qos == "low"


# -- the command --------------------------------------------------------------------------------


def synthetic_history(path: Path, jobs: int = 150) -> None:
    """Jobs of one user that run ~20 min of a 60 min request and use ~300 MB of 1 GB."""
    rng = np.random.default_rng(7)
    submit = 1.79e9 + np.cumsum(rng.exponential(600, jobs))
    runtime = rng.lognormal(np.log(1200), 0.2, jobs)
    frame = pl.DataFrame(
        {
            "job_id": [str(i) for i in range(jobs)],
            "user": "alice",
            "account": "chem",
            "partition": "debug",
            "qos": "normal",
            "submit": submit,
            "start": submit + 30,
            "end": submit + 30 + runtime,
            "runtime": runtime,
            "timelimit": 3600.0,
            "nodes": 1,
            "cpus": 2,
            "gpus": 0,
            "mem_req": float(GB),
            "mem_used": rng.lognormal(np.log(300 * MB), 0.1, jobs),
            "state": "completed",
            "name": "relax",
        }
    )
    frame.write_parquet(path)


def test_cli_writes_the_advised_script_from_a_learnt_bound(tmp_path: Path) -> None:
    synthetic_history(tmp_path / "history.parquet")
    (tmp_path / "job.sbatch").write_text(SCRIPT)
    args = ["advise", str(tmp_path / "job.sbatch"), "--history", str(tmp_path / "history.parquet")]
    args += ["--site", str(EXAMPLE_SITE), "--user", "alice", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    upper = report["prediction"]["runtime_upper"]
    assert 1200 < upper < 3600  # learnt: above the typical run, below the 60 min request
    written = Path(report["files"][0])
    assert written == tmp_path / "job.advised.sbatch"
    out = parse_script(written.read_text())
    assert parse_time(out.get("--time") or "") == np.ceil(upper / 300) * 300
    assert parse_memory(out.get("--mem") or "") < 500 * MB
    assert sum(row["advised"] for row in report["what_if"]) == 1
    assert "idle machine" in " ".join(report["notes"])


def test_cli_on_a_real_sacct_history_and_queue_and_its_refusal(tmp_path: Path) -> None:
    from hpcsched.workloads.load import write_table
    from hpcsched.workloads.sacct import read_sacct

    sample = require_shared(SACCT / "local-slurm-sample.txt")
    write_table(read_sacct(sample).table, tmp_path / "h.parquet")
    (tmp_path / "job.sbatch").write_text(SCRIPT.replace("-t 60", "-t 45 -p debug"))
    queue = str(SACCT / "local-slurm-squeue-during.json")
    args = ["advise", str(tmp_path / "job.sbatch"), "--history", str(tmp_path / "h.parquet")]
    args += ["--site", str(EXAMPLE_SITE), "--queue", queue, "--user", "root"]
    (tmp_path / "out").mkdir()  # a missing folder is refused, not made (issue 22, finding 13)
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out" / "relax.sbatch")])
    assert result.exit_code == 0, result.output
    assert "--time kept: only 27 past jobs with a known run time, 100 needed" in result.stdout
    assert "ADVISED" in result.stdout and "cheapest" in result.stdout
    chain = tmp_path / "out" / "submit-chain.sh"
    assert chain.exists() and (tmp_path / "out" / "relax.part2.sbatch").exists()
    assert not (tmp_path / "out" / "relax.part3.sbatch").exists()  # 45 min = 30 + 15
    (tmp_path / "big.sbatch").write_text(SCRIPT.replace("-N 1 -n 2", "-N 8"))
    args[1] = str(tmp_path / "big.sbatch")
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2
    assert refused.stderr.strip().count("\n") == 0
    assert "refused: needs 8 nodes, partition debug allows 4" in refused.stderr
