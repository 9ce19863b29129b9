"""Intermediate files (Pegasus' ``stageOut: false``) deleted after their last reader, as
Pegasus' cleanup jobs do, journaled so that a resumed run does not re-run their producer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

api = pytest.importorskip("Pegasus.api")


def hpcsched(*args: str | Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()", *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def program(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\necho {path.name} >> {path.parent.parent}/ran.log\n{body}")
    path.chmod(0o755)


def chain(tmp: Path, b_body: str = 'cat "$1" > "$2"\n') -> Path:
    """a -> b -> c: a writes x.txt (stageOut false, read by b only), b y.txt, c z.txt."""
    bin_ = tmp / "bin"
    bin_.mkdir(exist_ok=True)
    program(bin_ / "a", 'echo data > "$1"\n')
    program(bin_ / "b", b_body)
    program(bin_ / "c", 'cat "$1" > "$2"\n')
    tc = api.TransformationCatalog()
    exe = {}
    for name in "abc":
        exe[name] = api.Transformation(name, site="local", pfn=str(bin_ / name), is_stageable=False)
        tc.add_transformations(exe[name])
    x, y, z = api.File("x.txt"), api.File("y.txt"), api.File("z.txt")
    wf = api.Workflow("chain").add_transformation_catalog(tc)
    wf.add_jobs(
        api.Job(exe["a"], _id="a").add_args(x).add_outputs(x, stage_out=False),
        api.Job(exe["b"], _id="b").add_args(x, y).add_inputs(x).add_outputs(y),
        api.Job(exe["c"], _id="c").add_args(y, z).add_inputs(y).add_outputs(z),
    )
    wf.write(str(tmp / "chain.yml"))
    (tmp / "work").mkdir(exist_ok=True)
    return tmp / "chain.yml"


def run(tmp: Path, *more: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = hpcsched(
        "run", tmp / "chain.yml", "--work-dir", tmp / "work", "--output-dir", tmp / "out", "--json",
        *more,
    )  # fmt: skip
    return done, json.loads(done.stdout.strip().splitlines()[-1])


def ran(tmp: Path) -> list[str]:
    return (tmp / "ran.log").read_text().split()


def test_an_intermediate_goes_after_its_last_reader_and_a_resume_reruns_nothing(
    tmp_path: Path,
) -> None:
    chain(tmp_path)
    done, summary = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert (summary["succeeded"], summary["cleaned"]) == (3, 1)
    assert not (tmp_path / "work" / "x.txt").exists()  # stageOut false, read by b: gone
    assert (tmp_path / "work" / "z.txt").read_text() == "data\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["y.txt", "z.txt"]
    assert ran(tmp_path) == ["a", "b", "c"]

    again, summary = run(tmp_path)
    assert again.returncode == 0, again.stderr
    assert (summary["replayed"], summary["cleaned"]) == (3, 0)
    assert "re-run" not in again.stderr  # the cleaned file is not "a missing output"
    assert ran(tmp_path) == ["a", "b", "c"]  # nothing ran again


def test_a_failed_reader_keeps_the_file_and_the_resume_cleans_it(tmp_path: Path) -> None:
    chain(tmp_path, b_body="exit 4\n")
    failed, summary = run(tmp_path)
    assert failed.returncode == 1
    assert (summary["failed"], summary["blocked"], summary["cleaned"]) == (1, 1, 0)
    assert (tmp_path / "work" / "x.txt").read_text() == "data\n"  # a retry needs it

    program(tmp_path / "bin" / "b", 'cat "$1" > "$2"\n')
    resumed, summary = run(tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert (summary["succeeded"], summary["replayed"], summary["cleaned"]) == (3, 1, 1)
    assert ran(tmp_path) == ["a", "b", "b", "c"]  # a did not run again
    assert not (tmp_path / "work" / "x.txt").exists()


def test_a_run_killed_after_the_cleanup_resumes_without_its_producer(tmp_path: Path) -> None:
    chain(tmp_path)
    once = f"[ -e {tmp_path}/killed ] || {{ touch {tmp_path}/killed; kill -9 $PPID; }}\n"
    program(tmp_path / "bin" / "c", once + 'cat "$1" > "$2"\n')  # kills the runtime once
    killed = hpcsched("run", tmp_path / "chain.yml", "--work-dir", tmp_path / "work")
    assert killed.returncode == -9
    assert not (tmp_path / "work" / "x.txt").exists()  # b succeeded before c killed the run
    resumed, summary = run(tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "re-run" not in resumed.stderr
    assert ran(tmp_path) == ["a", "b", "c", "c"]  # only the killed task ran again
    assert (summary["replayed"], summary["succeeded"]) == (2, 3)
    assert (tmp_path / "out" / "z.txt").read_text() == "data\n"


def test_cleanup_none_keeps_intermediates(tmp_path: Path) -> None:
    chain(tmp_path)
    done, summary = run(tmp_path, "--cleanup", "none")
    assert done.returncode == 0, done.stderr
    assert summary["cleaned"] == 0
    assert (tmp_path / "work" / "x.txt").read_text() == "data\n"


def test_a_rerun_reader_of_a_cleaned_file_runs_its_producer_again_and_says_why(
    tmp_path: Path,
) -> None:
    chain(tmp_path)
    assert run(tmp_path)[0].returncode == 0
    rerun, summary = run(tmp_path, "--rerun", "b")
    assert rerun.returncode == 0, rerun.stderr
    assert "a: re-run (its output x.txt was cleaned up and b reads it)" in rerun.stderr
    assert ran(tmp_path) == ["a", "b", "c", "a", "b", "c"]
    assert summary["cleaned"] == 1 and not (tmp_path / "work" / "x.txt").exists()


def test_plain_workflows_keep_their_files_unless_asked(tmp_path: Path) -> None:
    wf = tmp_path / "plain.yaml"
    wf.write_text(
        "jobs:\n"
        "  - {id: make, command: \"sh -c 'echo hi > a.txt'\", outputs: [a.txt]}\n"
        "  - {id: use, command: \"sh -c 'cat a.txt > b.txt'\", inputs: [a.txt], outputs: [b.txt]}\n"
    )
    kept = hpcsched("run", wf, "--json")
    assert kept.returncode == 0 and json.loads(kept.stdout)["cleaned"] == 0
    assert (tmp_path / "a.txt").exists()
    asked = hpcsched("run", wf, "--json", "--cleanup", "inplace", "--run-dir", tmp_path / "r2")
    assert asked.returncode == 0 and json.loads(asked.stdout)["cleaned"] == 1
    assert not (tmp_path / "a.txt").exists() and (tmp_path / "b.txt").read_text() == "hi\n"
    bad = hpcsched("run", wf, "--cleanup", "always")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "hpcsched: error: --cleanup always: give none (keep every file) or inplace"
    )


def test_the_plan_frees_a_file_only_when_its_producer_and_every_reader_succeeded() -> None:
    from hpcsched.campaigns.task import Task
    from hpcsched.runtime.cleanup import cleanup_for, plan_cleanup

    def task(tid: str, inputs: list[str], outputs: list[str]) -> Task:
        return Task(id=tid, command="true", inputs=inputs, outputs=outputs)

    tasks = [
        task("a", [], ["./x", "log"]),
        task("b", ["x"], ["y"]),
        task("c", ["x"], ["z"]),
        task("d", ["log"], ["log"]),  # log has two writers: never deleted
        task("e", [], ["unread"]),
    ]
    plan = plan_cleanup(tasks, {"x", "log", "unread"})
    assert plan.readers == {"x": frozenset({"b", "c"}), "unread": frozenset()}
    assert plan.due({"a", "b"}) == []
    assert plan.due({"a", "b", "c"}) == ["x"]
    assert plan.due({"e"}) == ["unread"]  # no reader: gone once written, as Pegasus does
    assert plan.files_of(tasks[2]) == ["x"]
    assert cleanup_for(tasks, None, None) is None  # the project's format keeps every file
    assert cleanup_for(tasks, {"x"}, "none") is None
    asked = cleanup_for(tasks, None, "inplace")  # outputs another task reads, one writer
    assert asked is not None and set(asked.producer) == {"x"}


def test_run_help_documents_cleanup() -> None:
    shown = hpcsched("run", "--help").stdout
    assert "--cleanup" in shown and "none|inplace" in shown
    assert "default: inplace for Pegasus" in " ".join(shown.replace("│", " ").split())
