"""Real Pegasus 5 workflows, written by the Pegasus Python API, run unchanged by `hpcsched run`:
the diamond, a split and a merge give the outputs their generators intend; a failing one names
its job and resumes once fixed."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

api = pytest.importorskip("Pegasus.api")


def hpcsched(*args: str | Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()", *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def diamond(tmp: Path, findrange_body: str) -> Path:
    """Pegasus' diamond: preprocess -> findrange x2 -> analyze, with a logged preprocess."""
    bin_ = tmp / "bin"
    bin_.mkdir(exist_ok=True)
    script(
        bin_ / "preprocess",
        f"echo ran >> {tmp}/pre.log\nin=$2; shift 3\n"  # -i IN -o OUT...
        'for o; do { echo pre; cat "$in"; } > "$o"; done\n',
    )
    script(bin_ / "findrange", findrange_body)
    script(bin_ / "analyze", 'echo "analyze $FLAVOUR"; cat "$@"\n')
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    (data / "f.a").write_text("hello\n")
    digest = hashlib.sha256(b"hello\n").hexdigest()

    tc = api.TransformationCatalog()
    exe = {}
    for name in ("preprocess", "findrange", "analyze"):
        tr = api.Transformation(name, site="local", pfn=str(bin_ / name), is_stageable=False)
        exe[name] = tr
        tc.add_transformations(tr)
    exe["findrange"].add_pegasus_profile(cores=2, runtime=5)
    rc = api.ReplicaCatalog().add_replica(
        "local", "f.a", str(data / "f.a"), checksum={"sha256": digest}
    )
    fa, fb1, fb2, fc1, fc2, fd = map(api.File, ("f.a", "f.b1", "f.b2", "f.c1", "f.c2", "f.d"))
    wf = api.Workflow("diamond")
    pre = (
        api.Job(exe["preprocess"], _id="preprocess")
        .add_args("-i", fa, "-o", fb1, fb2)
        .add_inputs(fa)
        .add_outputs(fb1, fb2, stage_out=False)
    )
    ranges = [
        api.Job(exe["findrange"], _id=f"findrange{i}")
        .add_args(b, c)
        .add_inputs(b)
        .add_outputs(c, stage_out=False)
        .add_dagman_profile(retry=1)
        for i, (b, c) in enumerate([(fb1, fc1), (fb2, fc2)], start=1)
    ]
    analyze = (
        api.Job(exe["analyze"], _id="analyze")
        .add_args(fc1, fc2)
        .add_inputs(fc1, fc2)
        .set_stdout(fd)
        .add_env(FLAVOUR="vanilla")
    )
    wf.add_jobs(pre, *ranges, analyze)
    wf.add_transformation_catalog(tc).add_replica_catalog(rc)
    wf.write(str(tmp / "diamond.yml"))
    return tmp / "diamond.yml"


GOOD_RANGE = '{ echo range; cat "$1"; } > "$2"\n'


def run(wf: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    work, out = tmp / "work", tmp / "out"
    work.mkdir(exist_ok=True)
    return hpcsched("run", wf, "--cpus", "2", "--work-dir", work, "--output-dir", out)


def test_the_pegasus_diamond_runs_and_stages_out_only_its_final_output(tmp_path: Path) -> None:
    wf = diamond(tmp_path, GOOD_RANGE)
    assert "pegasus: 5" in wf.read_text()  # what Workflow.write() made, unchanged
    done = run(wf, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4/4 succeeded" in done.stdout and "4 intermediate file(s) cleaned" in done.stdout
    branch = "range\npre\nhello\n"
    assert (tmp_path / "out" / "f.d").read_text() == "analyze vanilla\n" + branch * 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f.d"]  # stageOut false stays
    # stageOut false: deleted from the work directory after their last reader, as Pegasus'
    # cleanup jobs do; the final output and the replica's link stay
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["f.a", "f.d"]
    assert (tmp_path / "work" / "f.a").resolve() == (tmp_path / "data" / "f.a").resolve()


def test_a_failing_pegasus_job_is_named_and_the_run_resumes_once_fixed(tmp_path: Path) -> None:
    wf = diamond(tmp_path, 'case "$1" in *b2) echo "bad range" >&2; exit 3;; esac\n' + GOOD_RANGE)
    failed = run(wf, tmp_path)
    assert failed.returncode == 1
    # dagman RETRY 1: findrange2 tried twice; analyze, blocked, counts as failed too
    assert "2/4 succeeded, 1 failed, 1 blocked, 1 retried" in failed.stdout
    assert "findrange2 failed (exit)" in failed.stdout
    assert "blocks 1 task" in failed.stdout
    assert not (tmp_path / "out" / "f.d").exists()

    script(tmp_path / "bin" / "findrange", GOOD_RANGE)
    resumed = run(wf, tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "4/4 succeeded" in resumed.stdout and "2 already done" in resumed.stdout
    assert (tmp_path / "pre.log").read_text() == "ran\n"  # preprocess did not run again
    assert (tmp_path / "out" / "f.d").read_text().count("range\npre\nhello\n") == 2


def test_a_split_runs_real_programs_with_stdin_and_stdout(tmp_path: Path) -> None:
    (tmp_path / "lines.txt").write_text("a\nb b\nc c c\n")
    split = api.Transformation("split", site="local", pfn="/usr/bin/split", is_stageable=False)
    wc = api.Transformation("wc", site="local", pfn="/usr/bin/wc", is_stageable=False)
    tc = api.TransformationCatalog().add_transformations(split, wc)
    rc = api.ReplicaCatalog().add_replica("local", "lines.txt", str(tmp_path / "lines.txt"))
    parts = [api.File(f"part.{s}") for s in ("aa", "ab", "ac")]
    wf = api.Workflow("split").add_transformation_catalog(tc).add_replica_catalog(rc)
    wf.add_jobs(
        api.Job(split, _id="split")
        .add_args("-l", "1", api.File("lines.txt"), "part.")
        .add_inputs("lines.txt")
        .add_outputs(*parts, stage_out=False)
    )
    for part in parts:
        count = api.File(f"count.{part.lfn[-2:]}")
        wf.add_jobs(
            api.Job(wc, _id=f"wc_{part.lfn[-2:]}").add_args("-w").set_stdin(part).set_stdout(count)
        )
    wf.write(str(tmp_path / "split.yml"))
    done = run(tmp_path / "split.yml", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "out"
    assert [(out / f"count.{s}").read_text().strip() for s in ("aa", "ab", "ac")] == ["1", "2", "3"]


def test_a_merge_joins_its_parts_in_argument_order(tmp_path: Path) -> None:
    echo = api.Transformation("echo", site="local", pfn="/bin/echo", is_stageable=False)
    cat = api.Transformation(
        "cat", namespace="gnu", version="9", site="local", pfn="/bin/cat", is_stageable=False
    )
    wf = api.Workflow("merge").add_transformation_catalog(
        api.TransformationCatalog().add_transformations(echo, cat)
    )
    parts: list[object] = []
    for word in ("one", "two words", "$HOME;*"):  # words reach the program as written, unexpanded
        part = api.File(f"parts/{len(parts)}.txt")
        wf.add_jobs(
            api.Job(echo, _id=f"echo{len(parts)}")
            .add_args(f"'{word}'")
            .set_stdout(part, stage_out=False)
        )
        parts.append(part)
    merged = api.File("merged.txt")
    wf.add_jobs(api.Job(cat, _id="merge").add_args(*parts).add_inputs(*parts).set_stdout(merged))
    wf.write(str(tmp_path / "merge.yml"))
    done = run(tmp_path / "merge.yml", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "out" / "merged.txt").read_text() == "one\ntwo words\n$HOME;*\n"
    assert not (tmp_path / "out" / "parts").exists()


def test_the_readme_pegasus_example_runs_as_it_says(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (code,) = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "Pegasus" in b]
    (tmp_path / "words.txt").write_text("one two\n")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=60)
    done = hpcsched("run", tmp_path / "pipeline.yml", "--output-dir", tmp_path / "results")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "results" / "twice.txt").read_text() == "one two\n" * 2
