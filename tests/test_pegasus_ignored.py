"""What a Pegasus workflow asks for that does not happen here (hooks, metadata, registerReplica,
a site catalog, profiles not read, node labels) is one warning line each, with its file:line;
the workflow still runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

api = pytest.importorskip("Pegasus.api")


def hpcsched(*args: str | Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()", *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def line_of(path: Path, text: str, after: str = "") -> int:
    """1-based line of the first ``text`` at or after the first ``after``."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if after in line)
    return next(i for i, line in enumerate(lines) if i >= start and text in line) + 1


def decorated(tmp: Path) -> Path:
    """cat words.txt > copy.txt, with every extra the Pegasus API offers that runs nowhere here."""
    (tmp / "words.txt").write_text("one two\n")
    cat = api.Transformation("cat", site="local", pfn="/bin/cat", is_stageable=False)
    cat.add_metadata(owner="lab")
    words, copy = api.File("words.txt"), api.File("copy.txt")
    job = (
        api.Job(cat, _id="copy", node_label="the copy")
        .add_args(words)
        .add_inputs(words)
        .set_stdout(copy)  # registerReplica: true, the API's default
        .add_metadata(step="1")
        .add_condor_profile(universe="vanilla")
    )
    job.add_shell_hook(api.EventType.ERROR, "/bin/mail -s failed me")
    wf = api.Workflow("decorated").add_jobs(job)
    wf.add_shell_hook(api.EventType.END, "/bin/echo done")
    wf.add_metadata(author="me")
    wf.add_site_catalog(api.SiteCatalog().add_sites(api.Site("condorpool")))
    wf.add_transformation_catalog(api.TransformationCatalog().add_transformations(cat))
    wf.add_replica_catalog(api.ReplicaCatalog().add_replica("local", words, str(tmp / "words.txt")))
    wf.write(str(tmp / "decorated.yml"))
    return tmp / "decorated.yml"


def expected(wf: Path) -> list[str]:
    at = {
        "hooks": line_of(wf, "hooks:"),
        "metadata": line_of(wf, "metadata:"),
        "site": line_of(wf, "siteCatalog:"),
        "label": line_of(wf, "nodeLabel:"),
        "register": line_of(wf, "registerReplica: true"),
        "universe": line_of(wf, "universe:"),
        "job hooks": line_of(wf, "hooks:", after="- type: job"),
    }
    lines = {
        "hooks": "hooks of the workflow (shell on end: /bin/echo done) do not run here; follow "
        "the run with --events instead",
        "metadata": "metadata (3 places: the workflow, transformation 'cat', job 'copy') is "
        "not kept; there is no metadata catalog here",
        "site": "siteCatalog is not read; every job runs on this machine, as site 'local'",
        "label": "nodeLabel (1 place: job 'copy') is not shown here; job ids name the tasks",
        "register": "registerReplica: true (1 place: copy.txt) registers nothing; there is no "
        "replica catalog here (outputs stay in the work directory, stageOut ones go to "
        "--output-dir)",
        "universe": "profile condor.universe (1 place: job 'copy') is not read here; it has "
        "no effect",
        "job hooks": "hooks of job 'copy' (shell on error: /bin/mail -s failed me) do not run "
        "here; follow the run with --events instead",
    }
    order = sorted(at, key=at.__getitem__)
    return [f"hpcsched: warning: {wf}:{at[k]}: {lines[k]}" for k in order]


def test_each_ignored_key_is_one_warning_line_with_its_place_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    wf = decorated(tmp_path)
    (tmp_path / "work").mkdir()
    out = tmp_path / "out"
    done = hpcsched("run", wf, "--work-dir", tmp_path / "work", "--output-dir", out, "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == expected(wf)
    assert json.loads(done.stdout)["succeeded"] == 1
    assert (out / "copy.txt").read_text() == "one two\n"


def test_the_dry_run_lists_them_too(tmp_path: Path) -> None:
    wf = decorated(tmp_path)
    plan = hpcsched("run", wf, "--dry-run")
    assert plan.returncode == 0, plan.stderr
    text = plan.stdout.splitlines()
    start = text.index("ignored here (the workflow still runs):")
    assert text[start + 1 : start + 8] == [
        "  " + line.removeprefix("hpcsched: warning: ") for line in expected(wf)
    ]
    as_json = json.loads(hpcsched("run", wf, "--dry-run", "--json").stdout)
    assert as_json["ignored"] == [line.removeprefix("hpcsched: warning: ") for line in expected(wf)]


def test_a_plain_pegasus_workflow_warns_about_nothing_but_its_replica_registration(
    tmp_path: Path,
) -> None:
    cat = api.Transformation("cat", site="local", pfn="/bin/cat", is_stageable=False)
    words, copy = api.File("words.txt"), api.File("copy.txt")
    (tmp_path / "words.txt").write_text("w\n")
    job = api.Job(cat, _id="c").add_args(words).add_inputs(words)
    job.set_stdout(copy, register_replica=False)
    wf = api.Workflow("plain").add_jobs(job)
    wf.add_transformation_catalog(api.TransformationCatalog().add_transformations(cat))
    wf.add_replica_catalog(api.ReplicaCatalog().add_replica("local", words, "words.txt"))
    wf.write(str(tmp_path / "plain.yml"))
    done = hpcsched("run", tmp_path / "plain.yml")
    assert done.returncode == 0 and done.stderr == ""


def test_an_unknown_job_type_is_refused_at_its_line(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yml"
    wf.write_text(
        'pegasus: "5.0"\nname: w\njobs:\n- {type: condorJob, id: a, name: f, arguments: []}\n'
    )
    done = hpcsched("run", wf)
    assert done.returncode == 2
    assert done.stderr.startswith(f"hpcsched: error: {wf}:4: job 'a' has type 'condorJob'")
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_catalog_file_beside_the_workflow_is_reported_at_its_own_lines(tmp_path: Path) -> None:
    from hpcsched.runtime.workflow import load_workflow

    cat = api.Transformation("cat", site="local", pfn="/bin/cat", is_stageable=False)
    cat.add_metadata(owner="lab").add_profiles(
        api.Namespace.SELECTOR, key="execution.site", value="hpc"
    )
    api.TransformationCatalog().add_transformations(cat).write(
        str(tmp_path / "transformations.yml")
    )
    job = api.Job(cat, _id="c").add_args("x")
    api.Workflow("wf").add_jobs(job).write(str(tmp_path / "wf.yml"))
    tc = tmp_path / "transformations.yml"
    assert load_workflow(tmp_path / "wf.yml").notes == (
        f"{tc}:{line_of(tc, 'execution.site')}: profile selector.execution.site (1 place: "
        "transformation 'cat') is not read here; it has no effect",
        f"{tc}:{line_of(tc, 'metadata:')}: metadata (1 place: transformation 'cat') is not kept; "
        "there is no metadata catalog here",
    )
