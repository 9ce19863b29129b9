"""hpcsched advise against a REAL Slurm (start one with `sudo bash scripts/slurm-local.sh start`).

The advised scripts must pass ``sbatch --test-only`` on the cluster examples/site-local.yaml
describes, and a chain written by advise must run its parts in order. Without a cluster these
skip, or fail under CI=true, with the one-line reason (the fixture of tests/test_slurm_live.py).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from hpcsched.advise import advise, submit_chain
from hpcsched.advise.plan import Prediction
from hpcsched.advise.sbatch_script import parse_script
from hpcsched.advise.site import load_site
from hpcsched.advise.whatif import Queue, read_squeue
from hpcsched.slurm import SlurmAdapter, SlurmError

pytestmark = pytest.mark.slurm

EXAMPLE_SITE = Path(__file__).resolve().parents[1] / "examples" / "site-local.yaml"
JOB_ARGS = ["-o", "/dev/null", "--chdir=/tmp"]  # jobs write nothing into the checkout


def live_queue(slurm: SlurmAdapter) -> Queue:
    return read_squeue(slurm.squeue(), now=time.time(), source="squeue --json")


SCRIPT = (
    "#!/bin/bash\n#SBATCH -J hs-advise\n#SBATCH -n 2\n#SBATCH -t 10\n#SBATCH --mem=300M\ntrue\n"
)


def test_every_advised_option_passes_sbatch_test_only(slurm: SlurmAdapter, tmp_path: Path) -> None:
    site = load_site(EXAMPLE_SITE)
    script = parse_script(SCRIPT, "job.sbatch")
    advice = advise(script, site, live_queue(slurm), Prediction(40 * 60, 30 * 60, 900 * 1024**2))
    assert not advice.found.refused  # every partition/QoS of the site exists on the cluster
    path = tmp_path / "advised.sbatch"
    path.write_text(advice.scripts[0])
    slurm.run(["sbatch", "--test-only", *JOB_ARGS, str(path)])  # raises if Slurm rejects it
    for row in advice.rows:  # and every row of the what-if table, as its first part
        o = row.option
        limit = f"--time={int(o.parts[0] // 60)}"
        args = [f"--partition={o.partition}", f"--qos={o.qos}", limit, *JOB_ARGS]
        slurm.run(["sbatch", "--test-only", *args, str(path)])
    # the site's limit is the cluster's: 40 min in debug is refused by Slurm itself, which is
    # why advise chains it there
    debug = next(r for r in advice.rows if r.option.partition == "debug")
    assert debug.option.parts == (1800, 600)
    with pytest.raises(SlurmError, match="time limit"):
        slurm.run(["sbatch", "--test-only", "-p", "debug", "-t", "40", *JOB_ARGS, str(path)])


def test_a_chain_runs_its_parts_in_order(slurm: SlurmAdapter, tmp_path: Path) -> None:
    # a site whose debug partition allows 1 minute, so a 150 s bound needs 3 parts of 1 min
    site_text = EXAMPLE_SITE.read_text().replace('max_walltime: "30:00"', "max_walltime: 1")
    site_text = site_text.replace("walltime_granularity: 5 ", "walltime_granularity: 1 ")
    assert "max_walltime: 1 " in site_text and "walltime_granularity: 1 " in site_text
    (tmp_path / "site.yaml").write_text(site_text)
    log = tmp_path / "order.log"
    body = (
        f'echo "$SLURM_JOB_NAME start $(date +%s.%N)" >> {log}\nsleep 1\n'
        f'echo "$SLURM_JOB_NAME end $(date +%s.%N)" >> {log}\n'
    )
    text = "#!/bin/bash\n#SBATCH -J hs-chain\n#SBATCH -p debug\n#SBATCH --mem=100M\n" + body
    advice = advise(
        parse_script(text, "chain.sbatch"),
        load_site(tmp_path / "site.yaml"),
        live_queue(slurm),
        Prediction(150, 140),
    )
    assert advice.chosen.option.parts == (60, 60, 60)
    paths = [tmp_path / f"chain.part{k}.sbatch" for k in (1, 2, 3)]
    for path, part in zip(paths, advice.scripts, strict=True):
        path.write_text(part)
    chain = tmp_path / "submit-chain.sh"
    chain.write_text(submit_chain(paths))
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(chain), *JOB_ARGS], capture_output=True, text=True, timeout=60, check=True
    )
    ids = [line.rsplit(" ", 1)[-1] for line in done.stdout.splitlines()]
    assert len(ids) == 3 and all(i.isdigit() for i in ids), done.stdout
    try:
        queue = live_queue(slurm)
        waiting = queue.skipped.get("has a dependency (assumed eligible now)", [])
        assert ids[2] in waiting  # part 3 waits on part 2 (afterok)
        assert slurm.scontrol_show_job(ids[2])["Dependency"].startswith(f"afterok:{ids[1]}")
        while time.monotonic() - started < 60:
            lines = log.read_text().splitlines() if log.exists() else []
            if len(lines) == 6:
                break
            time.sleep(0.5)
    finally:
        for job_id in ids:
            slurm.scancel(job_id)
    events = [line.split() for line in lines]
    assert len(events) == 6, f"the chain did not finish within 60 s: {events}"
    names = [f"hs-chain.part{k}" for k in (1, 2, 3)]
    assert [(name, what) for name, what, _ in events] == [
        (name, what) for name in names for what in ("start", "end")
    ]
    times = [float(t) for _, _, t in events]
    assert times == sorted(times)  # each part started after the previous one ended
