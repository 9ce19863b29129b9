"""Pegasus 5 workflows (written by the Pegasus Python API) read into tasks: profiles, catalogs,
uses; and what cannot run here refused in one line with its file:line."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hpcsched.runtime.workflow import WorkflowError, load_workflow

api = pytest.importorskip("Pegasus.api")


def line_of(path: Path, text: str, after: str = "") -> int:
    """1-based line of the first ``text`` at or after the first ``after``."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if after in line)
    return next(i for i, line in enumerate(lines) if i >= start and text in line) + 1


def write(tmp: Path, *jobs: Any, tc: Any = None, rc: Any = None, name: str = "wf") -> Path:
    wf = api.Workflow(name)
    wf.add_jobs(*jobs)
    if tc is not None:
        wf.add_transformation_catalog(tc)
    if rc is not None:
        wf.add_replica_catalog(rc)
    wf.write(str(tmp / f"{name}.yml"))
    return tmp / f"{name}.yml"


def local(name: str, pfn: str = "/bin/cat", **kw: Any) -> Any:
    return api.Transformation(name, site="local", pfn=pfn, is_stageable=False, **kw)


def test_profiles_become_the_task_request(tmp_path: Path) -> None:
    tr = local("sim").add_pegasus_profile(cores=3, memory=512, runtime=40)
    job = (
        api.Job(tr, _id="sim")
        .add_args("-n", "2", api.File("in.txt"))
        .add_inputs("in.txt")
        .add_outputs("out.txt")
        .add_condor_profile(request_gpus=1)
        .add_pegasus_profile(max_walltime=2)  # minutes
        .add_dagman_profile(retry=4)
        .add_env(OMP_NUM_THREADS=3)
    )
    (tmp_path / "in.txt").write_text("x")
    task = load_workflow(
        write(tmp_path, job, tc=api.TransformationCatalog().add_transformations(tr))
    ).tasks[0]
    assert (task.cpus, task.gpus, task.mem, task.runtime, task.timeout) == (
        3,
        1,
        512 * 2**20,
        40,
        120,
    )
    assert (task.retries, task.env, task.kind) == (4, {"OMP_NUM_THREADS": "3"}, "sim")
    assert (task.inputs, task.outputs) == (["in.txt"], ["out.txt"])
    assert task.command == "exec /bin/cat -n 2 in.txt"


def test_job_profiles_win_over_the_transformation_and_condor_spellings_count(
    tmp_path: Path,
) -> None:
    tr = local("sim").add_pegasus_profile(cores=3).add_condor_profile(request_memory="2 GB")
    job = api.Job(tr, _id="sim").add_pegasus_profile(cores=1)
    wf = write(tmp_path, job, tc=api.TransformationCatalog().add_transformations(tr))
    task = load_workflow(wf).tasks[0]
    assert (task.cpus, task.mem) == (1, 2 * 2**30)


def test_a_tc_file_resolves_namespace_name_and_version(tmp_path: Path) -> None:
    tc = api.TransformationCatalog().add_transformations(
        local("keg", "/bin/true", namespace="diamond", version="4.0"),
        local("keg", "/bin/false", namespace="diamond", version="5.0"),
    )
    tc.write(str(tmp_path / "tc.yml"))
    job = api.Job("keg", namespace="diamond", version="4.0", _id="k")
    wf = write(tmp_path, job)
    assert load_workflow(wf, tc=tmp_path / "tc.yml").tasks[0].command == "exec /bin/true"
    with pytest.raises(WorkflowError) as refused:
        load_workflow(wf)
    assert str(refused.value).startswith(f"{wf}:{line_of(wf, 'type: job')}: job 'k': ")
    assert "'diamond::keg:4.0' is in no transformation catalog" in str(refused.value)


def test_inout_and_checkpoint_files_are_carried_through_the_job(tmp_path: Path) -> None:
    tr = local("step", str(tmp_path / "step.sh"))
    (tmp_path / "step.sh").write_text(
        '#!/bin/sh\necho step >> log.txt\necho "$(cat ck 2>/dev/null)x" > ck\n'
    )
    (tmp_path / "step.sh").chmod(0o755)
    (tmp_path / "log.txt").write_text("start\n")
    rc = api.ReplicaCatalog().add_replica("local", "log.txt", str(tmp_path / "log.txt"))
    jobs = [
        api.Job(tr, _id=f"s{i}").add_inputs(api.File("log.txt")).add_checkpoint(api.File("ck"))
        for i in (1, 2)
    ]
    flow = api.Workflow("wf").add_jobs(*jobs).add_dependency(jobs[0], children=[jobs[1]])
    flow.add_transformation_catalog(api.TransformationCatalog().add_transformations(tr))
    wf = tmp_path / "wf.yml"
    flow.add_replica_catalog(rc).write(str(wf))
    text = wf.read_text().replace("type: input", "type: inout")  # the API writes no inout
    wf.write_text(text)
    (tmp_path / "work").mkdir()
    run = [sys.executable, "-c", "from hpcsched.cli import main; main()", "run", str(wf)]
    done = subprocess.run(
        [*run, "--work-dir", str(tmp_path / "work")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "work" / "log.txt").read_text() == "start\nstep\nstep\n"
    assert (tmp_path / "work" / "ck").read_text() == "xx\n"  # the second run read the first's
    assert (tmp_path / "log.txt").read_text() == "start\n"  # the replica itself is untouched
    again = subprocess.run(
        [*run, "--work-dir", str(tmp_path / "work")], capture_output=True, text=True, check=False
    )
    assert again.returncode == 0 and "2 already done" in again.stdout  # the changed log is kept


DOCKER = api.Container("c", api.Container.DOCKER, image="docker://x")


@pytest.mark.parametrize(
    ("build", "text", "after", "what"),
    [
        (
            lambda tmp: (
                local("f", container=DOCKER),
                None,
            ),
            "- name: local",
            "transformations:",
            "runs in container 'c'",
        ),
        (
            lambda tmp: (
                api.Transformation("f", site="condorpool", pfn="/bin/cat", is_stageable=False),
                None,
            ),
            "- name: f",
            "transformations:",
            "no entry for site 'local' (sites: 'condorpool')",
        ),
        (
            lambda tmp: (local("f", "/no/such/program"), None),
            "- name: local",
            "transformations:",
            "'f': /no/such/program is not an executable file here",
        ),
        (
            lambda tmp: (local("f", "https://example.org/f"), None),
            "- name: local",
            "transformations:",
            "is at 'https://example.org/f', not a local file",
        ),
        (
            lambda tmp: (
                local("f"),
                api.ReplicaCatalog().add_replica("cloud", "in.txt", "s3://b/in.txt"),
            ),
            "- lfn: in.txt",
            "replicas:",
            "input 'in.txt' is at 's3://b/in.txt', not a local file",
        ),
    ],
)
def test_what_cannot_run_here_is_refused_at_its_line(
    tmp_path: Path, build: Any, text: str, after: str, what: str
) -> None:
    tr, rc = build(tmp_path)
    tc = api.TransformationCatalog().add_transformations(tr)
    if any(site.container for site in tr.sites.values()):
        tc.add_containers(DOCKER)
    job = api.Job(tr, _id="j").add_inputs("in.txt")
    wf = write(
        tmp_path,
        job,
        tc=tc,
        rc=rc or api.ReplicaCatalog().add_replica("local", "in.txt", "/etc/hostname"),
    )
    with pytest.raises(WorkflowError) as refused:
        load_workflow(wf)
    message = str(refused.value)
    assert message.startswith(f"{wf}:{line_of(wf, text, after)}: ")
    assert what in message and "\n" not in message


def test_a_sub_workflow_is_refused_on_the_command_line_in_one_line(tmp_path: Path) -> None:
    sub = api.SubWorkflow("inner.yml", is_planned=False)
    wf = write(tmp_path, sub)
    run = [sys.executable, "-c", "from hpcsched.cli import main; main()", "run", str(wf)]
    done = subprocess.run(run, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert f"{wf}:{line_of(wf, 'type: pegasusWorkflow')}: " in lines[0]
    assert "sub-workflow (pegasusWorkflow: inner.yml)" in lines[0]
    assert not (tmp_path / "wf.run").exists()  # refused before anything ran


def test_a_replica_whose_checksum_differs_is_refused_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("changed\n")
    digest = hashlib.sha256(b"original\n").hexdigest()
    rc = api.ReplicaCatalog().add_replica(
        "local", "in.txt", str(tmp_path / "in.txt"), checksum={"sha256": digest}
    )
    tr = local("cat")
    wf = write(
        tmp_path,
        api.Job(tr, _id="c").add_inputs("in.txt"),
        tc=api.TransformationCatalog().add_transformations(tr),
        rc=rc,
    )
    (tmp_path / "work").mkdir()
    run = [sys.executable, "-c", "from hpcsched.cli import main; main()", "run", str(wf)]
    done = subprocess.run(
        [*run, "--work-dir", str(tmp_path / "work")], capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
    out = (done.stdout + done.stderr).strip()
    assert out.startswith(f"hpcsched: error: {wf}:{line_of(wf, '- lfn: in.txt')}: replica of ")
    assert f"not {digest[:16]}" in out
    assert not (tmp_path / "work" / "in.txt").exists()


def test_tc_and_output_dir_are_refused_for_a_plain_workflow(tmp_path: Path) -> None:
    wf = tmp_path / "plain.yaml"
    wf.write_text("jobs:\n  - id: a\n    command: 'true'\n")
    with pytest.raises(WorkflowError, match="--output-dir is for Pegasus workflows"):
        load_workflow(wf, output_dir=tmp_path / "out")


@pytest.mark.parametrize(
    ("body", "line", "what"),
    [
        ('pegasus: "4.0"\nname: w\njobs: []\n', 1, "Pegasus format '4.0' is not read here"),
        ('pegasus: "5.0"\nname: w\nsites: []\njobs: []\n', 3, "unknown Pegasus top-level key"),
        ('pegasus: "5.0"\nname: w\njobs:\n- just a string\n', 4, "a job is not a mapping"),
        (
            'pegasus: "5.0"\nname: w\njobs:\n- {type: job, id: a, name: f, arguments: [],\n'
            "   uses: [{type: input}]}\n",
            5,
            "job 'a': a use is not 'lfn: NAME, type: ...'",
        ),
        (
            'pegasus: "5.0"\nname: w\njobs:\n- {type: job, id: a, name: f, arguments: [],\n'
            "   uses: []}\njobDependencies:\n- {id: a, children: [b]}\n",
            7,
            "jobDependencies name unknown job 'b'",
        ),
    ],
)
def test_a_malformed_pegasus_file_is_one_line_not_a_traceback(
    tmp_path: Path, body: str, line: int, what: str
) -> None:
    wf = tmp_path / "wf.yml"
    wf.write_text(body)
    (tmp_path / "transformations.yml").write_text(
        'pegasus: "5.0"\ntransformations:\n- name: f\n  sites: [{name: local, type: installed, '
        "pfn: /bin/true}]\n"
    )
    with pytest.raises(WorkflowError) as refused:
        load_workflow(wf)
    assert str(refused.value).startswith(f"{wf}:{line}: {what}")
