"""Workflows as DAGs: WfFormat instances, bottom level and upward rank, the DAG-aware orders and
classes, ``simulate`` of a workflow against max(critical path, work / N)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hpcsched.campaigns.dag import bottom_level_classes, dag_bound, dag_ranks
from hpcsched.core.pool import Pool
from hpcsched.policies.registry import get_policy
from hpcsched.runtime.wfformat import WfFormatError, read_instance
from hpcsched.sim.workflow import simulate_workflow

runner = CliRunner()

# the diamond A -> (B, C) -> D with runtimes 10, 20, 30, 5 s: critical path A-C-D = 45 s,
# work 65 s; on 1 cpu the makespan is 65 s, on 2 cpus 45 s
RUNTIMES = {"A": 10.0, "B": 20.0, "C": 30.0, "D": 5.0}
PARENTS: dict[str, list[str]] = {"A": [], "B": ["A"], "C": ["A"], "D": ["B", "C"]}
SIZES = {"a.out": 0, "b.out": 0, "c.out": 2.5e10}  # C's output takes 20 s at 10 Gb/s


def _diamond_15() -> dict[str, Any]:
    """A WfFormat 1.5 instance, as the schema (wfcommons/WfFormat) writes it."""
    outputs = {"A": ["a.out"], "B": ["b.out"], "C": ["c.out"], "D": []}
    spec = [
        {
            "name": tid,
            "id": tid,
            "parents": PARENTS[tid],
            "children": [c for c, ps in PARENTS.items() if tid in ps],
            "inputFiles": [f for p in PARENTS[tid] for f in outputs[p]],
            "outputFiles": outputs[tid],
        }
        for tid in ("D", "B", "C", "A")  # not in topological order: the reader sorts
    ]
    files = [{"id": name, "sizeInBytes": size} for name, size in SIZES.items()]
    execution = [
        {"id": tid, "runtimeInSeconds": RUNTIMES[tid], "coreCount": 1, "memoryInBytes": 1000}
        for tid in RUNTIMES
    ]
    return {
        "name": "diamond",
        "schemaVersion": "1.5",
        "workflow": {
            "specification": {"tasks": spec, "files": files},
            "execution": {"makespanInSeconds": 45, "executedAt": "x", "tasks": execution},
        },
    }


def _diamond_14() -> dict[str, Any]:
    tasks = [
        {
            "name": tid,
            "id": tid,
            "type": "compute",
            "runtimeInSeconds": RUNTIMES[tid],
            "cores": 1,
            "parents": PARENTS[tid],
            "files": [],
        }
        for tid in RUNTIMES
    ]
    return {"name": "diamond", "schemaVersion": "1.4", "workflow": {"tasks": tasks}}


@pytest.fixture
def diamond(tmp_path: Path) -> Path:
    path = tmp_path / "diamond.json"
    path.write_text(json.dumps(_diamond_15()))
    return path


def test_the_diamond_s_bottom_levels_upward_ranks_and_classes(diamond: Path) -> None:
    instance = read_instance(diamond)
    assert [t.id for t in instance.tasks] == ["A", "B", "C", "D"]  # parents first
    assert instance.tasks[3].depends == ["B", "C"]
    ranks = dag_ranks(instance.tasks)
    assert {tid: r.bottom_level for tid, r in ranks.items()} == {
        "A": 45.0,
        "B": 25.0,
        "C": 35.0,
        "D": 5.0,
    }
    # HEFT adds C -> D's 25 GB at 10 Gb/s (20 s) to C's and so to A's rank
    ranked = dag_ranks(instance.tasks, transfers=instance.transfers)
    assert instance.transfers[("C", "D")] == pytest.approx(20.0)
    assert {tid: r.upward_rank for tid, r in ranked.items()} == pytest.approx(
        {"A": 65.0, "B": 25.0, "C": 55.0, "D": 5.0}
    )
    assert bottom_level_classes(ranks) == {"A": 0, "C": 1, "B": 2, "D": 3}


@pytest.mark.parametrize(("cpus", "makespan", "bound"), [(1, 65.0, 65.0), (2, 45.0, 45.0)])
@pytest.mark.parametrize("version", [_diamond_15, _diamond_14])
def test_the_diamond_s_makespan_and_lower_bound(
    tmp_path: Path, version: Any, cpus: int, makespan: float, bound: float
) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(version()))
    dag = read_instance(path)
    run = simulate_workflow(dag.tasks, get_policy("easy"), Pool.uniform(1, cpus), dag.runtimes)
    assert run.makespan == makespan
    assert run.bound.critical_path == 45.0
    assert run.bound.work == 65.0
    assert run.bound.lower_bound == bound


def test_the_dag_order_changes_the_start_order(diamond: Path) -> None:
    dag = read_instance(diamond)
    one = Pool.uniform(1, 1)
    orders = {
        order: simulate_workflow(dag.tasks, get_policy("fcfs", order=order), one, dag.runtimes)
        for order in ("fcfs", "bottom-level", "upward-rank")
    }
    assert orders["fcfs"].trace.order == ["A", "B", "C", "D"]  # submission order after A
    assert orders["bottom-level"].trace.order == ["A", "C", "B", "D"]  # C's path is longer
    assert orders["upward-rank"].trace.order == ["A", "C", "B", "D"]


def test_bottom_level_classes_start_the_top_quartile_first(diamond: Path) -> None:
    dag = read_instance(diamond)
    one = Pool.uniform(1, 1)
    run = simulate_workflow(
        dag.tasks, get_policy("prioritybf"), one, dag.runtimes, classes="bottom-level"
    )
    assert run.trace.order == ["A", "C", "B", "D"]


def test_simulate_prints_the_makespan_against_the_bound(diamond: Path) -> None:
    from hpcsched.cli import app

    result = runner.invoke(app, ["simulate", str(diamond), "--cpus", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "diamond.json — easy: 4 tasks on 2 cpus",
        "  makespan              45.00 s",
        "  critical path         45.00 s",
        "  work / 2              32.50 s",
        "  lower bound           45.00 s  (the larger of the two)",
        "  ratio                 1.000  (makespan / lower bound)",
        "  classes: the tasks' own priority",
    ]
    one = runner.invoke(app, ["simulate", str(diamond), "--cpus", "1", "--json"])
    summary = json.loads(one.output)
    assert (summary["makespan"], summary["lower_bound"], summary["ratio"]) == (65.0, 65.0, 1.0)


def test_simulate_a_workflow_yaml_with_its_runtimes(tmp_path: Path) -> None:
    from hpcsched.cli import app

    jobs = "".join(
        f"  - {{id: {tid}, command: 'true', runtime: {RUNTIMES[tid]:g}, "
        f"depends: [{', '.join(PARENTS[tid])}]}}\n"
        for tid in RUNTIMES
    )
    (tmp_path / "wf.yaml").write_text("jobs:\n" + jobs)
    result = runner.invoke(
        app, ["simulate", str(tmp_path / "wf.yaml"), "--cpus", "1", "--order", "bottom-level"]
    )
    assert result.exit_code == 0, result.output
    assert "  makespan              65.00 s" in result.output.splitlines()
    assert result.output.startswith("wf.yaml — easy,order=bottom-level: 4 tasks on 1 cpus")


def test_a_workflow_without_a_machine_size_or_with_a_cycle_is_one_line(
    diamond: Path, tmp_path: Path
) -> None:
    from hpcsched.cli import app

    result = runner.invoke(app, ["simulate", str(diamond)])
    assert result.exit_code != 0
    assert "a workflow names no machine; give its size with --cpus N" in result.output
    looped = _diamond_15()
    looped["workflow"]["specification"]["tasks"][3]["parents"] = ["D"]  # A after D
    (tmp_path / "loop.json").write_text(json.dumps(looped))
    with pytest.raises(WfFormatError, match="the tasks' parents form a cycle"):
        read_instance(tmp_path / "loop.json")


def test_dag_bound_counts_cores(diamond: Path) -> None:
    dag = read_instance(diamond)
    wide = [t.model_copy(update={"cpus": 2}) for t in dag.tasks]
    bound = dag_bound(wide, 4, weight=lambda t: dag.runtimes[t.id])
    assert (bound.work, bound.lower_bound) == (130.0, 45.0)


def test_recorded_memory_counts_against_the_machine_s_memory(diamond: Path) -> None:
    from hpcsched.cli import app

    def makespan(*extra: str) -> float:
        result = runner.invoke(app, ["simulate", str(diamond), "--cpus", "2", "--json", *extra])
        assert result.exit_code == 0, result.output
        value: float = json.loads(result.output)["makespan"]
        return value

    assert makespan() == 45.0  # memory not counted: B and C side by side
    assert makespan("--mem", "1500") == 65.0  # 1000 bytes each: B and C one after the other
    small = runner.invoke(app, ["simulate", str(diamond), "--cpus", "2", "--mem", "500"])
    assert small.exit_code != 0
    assert "task 'A' needs 1000B memory, the pool has 500B; raise --cpus or --mem" in small.output
