"""Horizontal job clustering (runtime/clustering.py): which jobs are grouped, how dependencies
map, the ``cluster:`` option's refusals, and clustered runs end to end (every member's outputs;
a failing member named, the members after it not run, its dependents blocked)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hpcsched.campaigns.task import Task
from hpcsched.runtime.clustering import RUNNER, ClusterSpec, cluster_tasks, levels
from hpcsched.runtime.workflow import WorkflowError, load_workflow

NOOP = "hpcsched.runtime.builtin_tasks:noop"
WRITE = "hpcsched.runtime.builtin_tasks:write"


def task(tid: str, depends: tuple[str, ...] = (), **fields: Any) -> Task:
    return Task(id=tid, callable=NOOP, depends=list(depends), **fields)


def members(t: Task) -> list[str]:
    assert t.callable == RUNNER
    return [m["id"] for m in t.kwargs["members"]]


def test_levels_are_longest_paths_from_a_source() -> None:
    tasks = [task("a"), task("b"), task("c", ("a",)), task("d", ("a", "c"))]
    assert levels(tasks) == {"a": 0, "b": 0, "c": 1, "d": 2}


def test_one_level_is_cut_into_clusters_of_at_most_size_in_file_order() -> None:
    tasks = [task(f"t{i}") for i in range(7)]
    out = cluster_tasks(tasks, {t.id: ClusterSpec(size=3) for t in tasks})
    assert [t.id for t in out] == ["merge_cluster_level0_1", "merge_cluster_level0_2", "t6"]
    assert [members(t) for t in out[:2]] == [["t0", "t1", "t2"], ["t3", "t4", "t5"]]
    assert out[2] == tasks[6]  # a chunk of one stays itself: a cluster would only add overhead


def test_a_lone_member_and_unopted_jobs_keep_their_ids() -> None:
    tasks = [task("a"), task("b"), task("c"), task("solo", kind="other")]
    specs = {i: ClusterSpec(size=2) for i in ("a", "b", "c", "solo")}
    out = cluster_tasks(tasks, specs)
    assert [t.id for t in out] == ["merge_cluster_level0_1", "c", "solo"]
    assert out[1].callable == NOOP and out[2].callable == NOOP


def test_dependencies_map_to_clusters_both_ways() -> None:
    # a1 a2 (level 0, label x) -> b1 b2 (level 1, label y) -> z; b2 also needs p (unclustered)
    tasks = [
        task("a1"),
        task("a2"),
        task("p"),
        task("b1", ("a1",)),
        task("b2", ("a2", "p")),
        task("z", ("b1", "b2")),
    ]
    specs = {i: ClusterSpec(size=10, label="x") for i in ("a1", "a2")}
    specs |= {i: ClusterSpec(size=10, label="y") for i in ("b1", "b2")}
    out = {t.id: t for t in cluster_tasks(tasks, specs)}
    assert set(out) == {"merge_x_level0_1", "p", "merge_y_level1_1", "z"}
    # a cluster depends on the union of its members' dependencies, mapped to their clusters
    assert out["merge_y_level1_1"].depends == ["merge_x_level0_1", "p"]
    # a job that depended on members depends on their cluster, once
    assert out["z"].depends == ["merge_y_level1_1"]
    order = [t.id for t in cluster_tasks(tasks, specs)]
    for t in out.values():  # topological
        assert all(order.index(d) < order.index(t.id) for d in t.depends)


def test_only_one_level_and_one_label_or_kind_share_a_cluster() -> None:
    tasks = [task("a", kind="k"), task("b", kind="k"), task("c", ("a",), kind="k")]
    tasks += [task("d", kind="other"), task("e", kind="other")]
    out = cluster_tasks(tasks, {t.id: ClusterSpec(size=5) for t in tasks})
    grouped = {t.id: members(t) for t in out if t.callable == RUNNER}
    assert grouped == {"merge_k_level0_1": ["a", "b"], "merge_other_level0_1": ["d", "e"]}
    assert next(t for t in out if t.id == "c").depends == ["merge_k_level0_1"]


def test_a_cluster_holds_the_most_and_plans_with_the_sum() -> None:
    tasks = [
        task("a", cpus=2, mem=10, runtime=1.0, retries=1, priority=3, outputs=["a.txt"]),
        task("b", cpus=1, mem=30, runtime=2.5, retries=0, priority=1, inputs=["in.txt"]),
    ]
    (merged,) = cluster_tasks(tasks, {t.id: ClusterSpec(size=2) for t in tasks})
    assert (merged.cpus, merged.mem, merged.runtime) == (2, 30, 3.5)
    assert (merged.retries, merged.priority) == (1, 1)
    assert (merged.inputs, merged.outputs) == (["in.txt"], ["a.txt"])
    assert merged.timeout is None  # not every member has one


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_yaml_option_on_defaults_and_on_jobs(tmp_path: Path) -> None:
    wf = load_workflow(
        write(
            tmp_path,
            """\
            defaults: {callable: hpcsched.runtime.builtin_tasks:noop, cluster: {size: 2}}
            jobs:
              - {id: a}
              - {id: b}
              - {id: c, cluster: {label: solo, size: 2}}
              - {id: d, cluster: {label: solo, size: 2}}
            """,
        )
    )
    assert {t.id: members(t) for t in wf.tasks} == {
        "merge_cluster_level0_1": ["a", "b"],
        "merge_solo_level0_1": ["c", "d"],
    }


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("cluster: 5", "wf.yaml:3: job 'a': 'cluster' is not {size, label}"),
        ("cluster: {size: 0}", "wf.yaml:3: job 'a': cluster size 0 is not a count"),
        ("cluster: {label: x}", "wf.yaml:3: job 'a': 'cluster' is not {size, label}"),
        ("cluster: {size: 2, lable: x}", "wf.yaml:3: job 'a': 'cluster' is not {size, label}"),
        ("cluster: {size: 2, label: 'a b'}", "wf.yaml:3: job 'a': cluster label 'a b' is not"),
        (
            "cluster: {size: 3}",
            "wf.yaml: jobs 'a' and 'b' share cluster 'cluster' at level 0 with sizes 3 and 2",
        ),
    ],
)
def test_bad_cluster_options_are_refused_in_one_line(
    tmp_path: Path, option: str, message: str
) -> None:
    text = f"jobs:\n  - id: a\n    {option}\n    command: 'true'\n"
    text += "  - id: b\n    command: 'true'\n    cluster: {size: 2}\n"
    with pytest.raises(WorkflowError) as err:
        load_workflow(write(tmp_path, text))
    assert str(err.value).replace(str(tmp_path) + "/", "").startswith(message)
    assert "\n" not in str(err.value)


def hpcsched(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_a_clustered_run_writes_every_members_outputs(tmp_path: Path) -> None:
    jobs = "".join(
        f"  - {{id: w{i}, callable: '{WRITE}', args: [out/w{i}.txt, '{i}'], "
        f"outputs: [out/w{i}.txt], cluster: {{size: 2}}}}\n"
        for i in range(5)
    )
    wf = write(
        tmp_path,
        f'jobs:\n{jobs}  - id: cat\n    command: "cat out/w*.txt > all.txt"\n'
        f"    inputs: [{', '.join(f'out/w{i}.txt' for i in range(5))}]\n    outputs: [all.txt]\n",
    )
    proc = hpcsched("run", str(wf), "--cpus", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["tasks"], summary["succeeded"]) == (4, 4)  # 2 + 2 clusters, 1 lone, cat
    assert (tmp_path / "all.txt").read_text() == "01234"
    rows = json.loads(hpcsched("tasks", str(tmp_path / "wf.run"), "--json").stdout)
    assert sorted(r["task"] for r in rows) == [
        "cat",
        "merge_cluster_level0_1",
        "merge_cluster_level0_2",
        "w4",
    ]


def test_a_failing_member_is_named_and_the_rest_do_not_run(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """\
        defaults: {cluster: {label: first, size: 3}}
        jobs:
          - {id: a1, command: "echo one > a1.txt", outputs: [a1.txt]}
          - {id: bad, command: "echo three; echo oops >&2; exit 3"}
          - {id: a2, command: "echo two > a2.txt", outputs: [a2.txt]}
          - id: b
            command: "cat a1.txt a2.txt > b.txt"
            inputs: [a1.txt, a2.txt]
            outputs: [b.txt]
        """,
    )
    proc = hpcsched("run", str(wf), "--cpus", "2")
    assert proc.returncode == 1
    assert (
        "merge_first_level0_1 failed (exit): ClusterMemberError: member 'bad' (2 of 3) failed: "
        in (proc.stdout + proc.stderr)
    )
    why = hpcsched("why", str(tmp_path / "wf.run")).stdout
    assert "member 'bad' (2 of 3) failed: exit 3" in why
    assert "stdout of bad:" in why and "three" in why and "oops" in why
    assert "blocks: b" in why
    attempt = next((tmp_path / "wf.run" / "attempts").glob("merge_first_level0_1*"))
    assert (attempt / "a1.stdout.txt").exists() and not (attempt / "a2.stdout.txt").exists()
    assert not (tmp_path / "a1.txt").exists()  # a failed cluster commits no output


def test_a_thousand_noops_in_clusters_of_fifty_run(tmp_path: Path) -> None:
    # the wall times (with and without clustering) are in the report, not asserted here
    jobs = "".join(f"  - id: t{i}\n" for i in range(1000))
    wf = write(tmp_path, f"defaults:\n  callable: {NOOP}\n  cluster: {{size: 50}}\njobs:\n{jobs}")
    proc = hpcsched("run", str(wf), "--cpus", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["tasks"], summary["succeeded"]) == (20, 20)


def test_run_members_stops_at_a_failing_callable_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpcsched.runtime.clustering import ClusterMemberError, run_members

    monkeypatch.chdir(tmp_path)
    specs = [
        Task(id="ok", callable="hpcsched.runtime.builtin_tasks:echo", args=[7]),
        Task(id="boom", callable="hpcsched.runtime.builtin_tasks:fail", args=["no disk"]),
        Task(id="after", command="touch after.txt"),
    ]
    dumped = [t.model_dump(mode="json") for t in specs]
    with pytest.raises(ClusterMemberError, match=r"member 'boom' \(2 of 3\) failed: RuntimeError"):
        run_members(dumped)
    assert not (tmp_path / "after.txt").exists()
    done = run_members([dumped[0], dumped[2]])["members"]
    assert [(m["id"], m["value"]) for m in done] == [("ok", 7), ("after", None)]
    assert (tmp_path / "after.txt").exists()
