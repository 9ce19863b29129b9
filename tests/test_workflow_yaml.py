"""The YAML workflow loader: edges inferred from files, a deterministic order, and every mistake
refused before anything runs with ``FILE:LINE: what; fix`` on one line."""

from __future__ import annotations

import random
import textwrap
import time
from pathlib import Path

import pytest

from hpcsched.core.pool import Pool
from hpcsched.runtime.workflow import Workflow, WorkflowError, load_workflow

EXAMPLE = """
name: optional-name
defaults: {cpus: 1, retries: 1}
jobs:
  - id: make
    command: "sh -c 'echo hello > a.txt'"
    outputs: [a.txt]
    cpus: 1
    priority: 1
    runtime: 2
    retries: 2
  - id: use
    command: "sh -c 'cat a.txt > b.txt'"
    inputs: [a.txt]
    outputs: [b.txt]
    depends: [make]
"""


def write(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    """Write ``text`` so that its first non-blank line is line 1 of the file."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def load(
    tmp_path: Path, text: str, pool: Pool | None = None, work_dir: Path | None = None
) -> Workflow:
    return load_workflow(write(tmp_path, text), pool=pool, work_dir=work_dir)


def refused(tmp_path: Path, text: str, pool: Pool | None = None) -> str:
    with pytest.raises(WorkflowError) as info:
        load_workflow(write(tmp_path, text), pool=pool)
    message = str(info.value)
    assert "\n" not in message and message.count("; ") >= 1
    return message


def ids(workflow: Workflow) -> list[str]:
    return [task.id for task in workflow.tasks]


# --------------------------------------------------------------------------- loading


def test_example_loads_with_explicit_and_inferred_dependencies(tmp_path: Path) -> None:
    workflow = load(tmp_path, EXAMPLE)
    assert workflow.path == tmp_path / "wf.yaml"
    assert workflow.work_dir == tmp_path.resolve()
    assert workflow.name == "optional-name"
    assert ids(workflow) == ["make", "use"]
    make, use = workflow.tasks
    assert make.depends == [] and use.depends == ["make"]
    assert make.outputs == ["a.txt"] and use.inputs == ["a.txt"]
    assert (make.priority, make.runtime, make.retries) == (1, 2.0, 2)


def test_inference_alone_gives_the_same_dag(tmp_path: Path) -> None:
    explicit = load(tmp_path, EXAMPLE)
    inferred = load_workflow(
        write(tmp_path, EXAMPLE.replace("    depends: [make]\n", ""), "b.yaml")
    )
    assert "depends" not in (tmp_path / "b.yaml").read_text()
    assert [(t.id, t.depends) for t in inferred.tasks] == [
        (t.id, t.depends) for t in explicit.tasks
    ]


def test_defaults_merge_under_each_job(tmp_path: Path) -> None:
    workflow = load(
        tmp_path,
        """
        defaults: {cpus: 2, retries: 3, kind: sweep, inputs: [shared.dat]}
        jobs:
          - {id: a, command: "true"}
          - {id: b, command: "true", cpus: 8, inputs: []}
        """,
    )
    a, b = workflow.tasks
    assert (a.cpus, a.retries, a.kind, a.inputs) == (2, 3, "sweep", ["shared.dat"])
    assert (b.cpus, b.retries, b.kind, b.inputs) == (8, 3, "sweep", [])  # a job's own value wins
    assert workflow.name == "wf"  # no name: the file's stem


def test_mem_accepts_sizes(tmp_path: Path) -> None:
    workflow = load(
        tmp_path,
        """
        jobs:
          - {id: a, command: "true", mem: 4G}
          - {id: b, command: "true", mem: 512M}
          - {id: c, command: "true", mem: 1024}
        """,
    )
    assert [t.mem for t in workflow.tasks] == [4 * 1024**3, 512 * 1024**2, 1024.0]


def test_topological_order_breaks_ties_by_file_order(tmp_path: Path) -> None:
    workflow = load(
        tmp_path,
        """
        jobs:
          - {id: c, command: "true", depends: [b]}
          - {id: x, command: "true"}
          - {id: b, command: "true", inputs: [a.out]}
          - {id: a, command: "true", outputs: [a.out]}
          - {id: y, command: "true"}
        """,
    )
    # ready jobs are taken earliest-in-file first: b (line 3) becomes ready before y (line 5)
    assert ids(workflow) == ["x", "a", "b", "c", "y"]
    assert [t.depends for t in workflow.tasks] == [[], [], ["a"], ["b"], []]


def test_depends_is_explicit_union_inferred_sorted_deduplicated(tmp_path: Path) -> None:
    workflow = load(
        tmp_path,
        """
        jobs:
          - {id: z, command: "true", outputs: [z.out]}
          - {id: m, command: "true", outputs: [./sub/../m.out]}
          - {id: a, command: "true"}
          - id: last
            command: "true"
            inputs: [z.out, m.out, never-written.txt, z.out]
            depends: [a, z, a]
        """,
    )
    assert workflow.tasks[-1].id == "last"
    assert workflow.tasks[-1].depends == ["a", "m", "z"]


def test_inputs_and_outputs_are_relative_to_the_work_dir(tmp_path: Path) -> None:
    elsewhere = tmp_path / "run"
    text = f"""
        jobs:
          - {{id: a, command: "true", outputs: ["{elsewhere / "x.txt"}"]}}
          - {{id: b, command: "true", inputs: [x.txt]}}
        """
    assert load(tmp_path, text).tasks[1].depends == []  # x.txt is tmp_path/x.txt here
    workflow = load(tmp_path, text, work_dir=elsewhere)
    assert workflow.work_dir == elsewhere.resolve()
    assert workflow.tasks[1].depends == ["a"]


def test_a_job_may_read_and_rewrite_its_own_file(tmp_path: Path) -> None:
    workflow = load(tmp_path, 'jobs:\n  - {id: a, command: "true", inputs: [f], outputs: [f]}\n')
    assert workflow.tasks[0].depends == []


def test_anchors_and_merge_keys_are_not_duplicate_keys(tmp_path: Path) -> None:
    workflow = load(
        tmp_path,
        """
        jobs:
          - &base {id: a, command: "true", cpus: 2}
          - <<: *base
            id: b
            cpus: 4
        """,
    )
    assert [(t.id, t.command, t.cpus) for t in workflow.tasks] == [
        ("a", "true", 2),
        ("b", "true", 4),
    ]


def test_a_pool_that_fits_accepts(tmp_path: Path) -> None:
    workflow = load(tmp_path, EXAMPLE, pool=Pool.uniform(1, cpus=4, mem=8 * 1024**3))
    assert ids(workflow) == ["make", "use"]


def test_accepts_a_string_path(tmp_path: Path) -> None:
    assert ids(load_workflow(str(write(tmp_path, EXAMPLE)))) == ["make", "use"]


# --------------------------------------------------------------------------- refusals

REFUSALS = [
    ("syntax", "jobs:\n  - id: a\n    command: echo\n   cpus: 2\n", 4, "YAML syntax error"),
    ("syntax-colon", "jobs:\n  - id: a: b\n", 2, "mapping values are not allowed"),
    ("top-list", "- id: a\n  command: 'true'\n", 1, "top level is not a mapping"),
    ("empty-file", "", 1, "top level is not a mapping"),
    ("no-jobs", "name: x\n", 1, "no 'jobs' list"),
    ("jobs-mapping", "name: x\njobs:\n  a: {command: 'true'}\n", 2, "no 'jobs' list"),
    ("jobs-empty", "name: x\njobs: []\n", 2, "'jobs' list is empty"),
    ("job-scalar", "jobs:\n  - {id: a, command: 'true'}\n  - just-a-name\n", 3, "not a mapping"),
    (
        "duplicate-key",
        "jobs:\n  - id: a\n    command: 'true'\n    cpus: 2\n    cpus: 4\n",
        5,
        "'cpus' is given twice in one mapping (first at line 4)",
    ),
    (
        "duplicate-top-key",
        "jobs:\n  - {id: a, command: 'true'}\njobs:\n  - {id: b, command: 'true'}\n",
        3,
        "'jobs' is given twice",
    ),
    ("unknown-top", "default: {cpus: 2}\njobs:\n  - {id: a, command: 'true'}\n", 1, "'default'"),
    (
        "unknown-field",
        "jobs:\n  - id: a\n    command: 'true'\n    cpu: 2\n",
        4,
        "job 'a': unknown field 'cpu'; did you mean 'cpus'? known fields: id, command",
    ),
    (
        "one-action",
        "jobs:\n  - {id: a, command: 'true'}\n  - id: b\n    cpus: 2\n",
        3,
        "job 'b': give exactly one of command or callable",
    ),
    ("missing-id", "jobs:\n  - command: 'true'\n", 2, "job #1: field 'id': Field required; add it"),
    (
        "bad-mem",
        "jobs:\n  - id: a\n    command: x\n    mem: 4X\n",
        4,
        "field 'mem': '4X' is not a size; write e.g. 4G",
    ),
    (
        "nested-loc",
        "jobs:\n  - id: a\n    command: x\n    inputs:\n      - a.txt\n      - [b]\n",
        6,
        "field 'inputs[1]': Input should be a valid string",
    ),
    (
        "duplicate-id",
        "jobs:\n  - {id: a, command: 'true'}\n  - {id: b, command: 'true'}\n"
        "  - id: a\n    command: 'true'\n",
        4,
        "job id 'a' is used twice, at lines 2 and 4; rename one",
    ),
    (
        "unknown-dependency",
        "jobs:\n  - {id: make, command: 'true'}\n  - id: use\n    command: 'true'\n"
        "    depends:\n      - make\n      - mkae\n",
        7,
        "job 'use' depends on unknown 'mkae'; did you mean 'make'?",
    ),
    (
        "self-dependency",
        "jobs:\n  - id: a\n    command: 'true'\n    depends: [a]\n",
        4,
        "job 'a' depends on itself",
    ),
    (
        "cycle",
        "jobs:\n  - {id: x, command: 'true'}\n  - {id: a, command: 'true', depends: [b]}\n"
        "  - {id: b, command: 'true', depends: [c]}\n  - {id: c, command: 'true', depends: [a]}\n"
        "  - {id: d, command: 'true', depends: [c]}\n",
        3,
        "dependency cycle a -> b -> c -> a",
    ),
    (
        "inferred-cycle",
        "jobs:\n  - {id: x, command: 'true'}\n"
        "  - {id: b, command: 'true', inputs: [a.out], outputs: [b.out]}\n"
        "  - {id: a, command: 'true', inputs: [b.out], outputs: [a.out]}\n",
        3,
        "cycle b -> a -> b (each job depends on the next, 'b' reads 'a.out', which 'a' writes,",
    ),
    (
        "duplicate-output",
        "jobs:\n  - {id: a, command: 'true', outputs: [x.txt]}\n"
        "  - id: b\n    command: 'true'\n    outputs:\n      - y.txt\n      - ./x.txt\n",
        7,
        "jobs 'a' (line 2) and 'b' both output './x.txt'; keep one writer",
    ),
    (
        "defaults-unknown",
        "defaults:\n  cpus: 2\n  retry: 3\njobs:\n  - {id: a, command: 'true'}\n",
        3,
        "'retry' cannot be a default; did you mean 'retries'?",
    ),
    (
        "defaults-id",
        "defaults: {id: a}\njobs:\n  - {command: 'true'}\n",
        1,
        "'id' cannot be a default",
    ),
    (
        "defaults-bad-value",
        "defaults:\n  cpus: 0\njobs:\n  - {id: a, command: 'true'}\n",
        2,
        "job 'a': field 'cpus': Input should be greater than or equal to 1",
    ),
    ("defaults-list", "defaults: [1]\njobs:\n  - {id: a, command: x}\n", 1, "not a mapping"),
]


@pytest.mark.parametrize(
    ("text", "line", "phrase"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_refusals_name_the_line_and_the_fix(
    tmp_path: Path, text: str, line: int, phrase: str
) -> None:
    message = refused(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'wf.yaml'}:{line}: "), message
    assert phrase in message, message


def test_field_error_message_in_full(tmp_path: Path) -> None:
    text = """
    name: demo
    jobs:
      - id: other
        command: "true"
      - id: make
        command: "true"
        cpus: 0
    """
    message = refused(tmp_path, text)
    assert message.endswith(
        "wf.yaml:7: job 'make': field 'cpus': Input should be greater than or equal to 1; "
        "fix the value"
    )


@pytest.mark.parametrize(
    ("pool", "field", "line", "expected"),
    [
        (Pool.uniform(1, cpus=4), "cpus: 64", 4, "job 'big' needs 64 cpus, the pool has 4; "),
        (Pool.uniform(2, cpus=4), "nodes: 3", 4, "job 'big' needs 3 nodes, the pool has 2; "),
        (Pool.uniform(1, cpus=4, mem=1024**3), "mem: 4G", 4, "job 'big' needs 4G memory, "),
    ],
)
def test_a_job_the_pool_can_never_run_is_refused(
    tmp_path: Path, pool: Pool, field: str, line: int, expected: str
) -> None:
    text = f"jobs:\n  - id: big\n    command: 'true'\n    {field}\n"
    message = refused(tmp_path, text, pool=pool)
    assert f"wf.yaml:{line}: {expected}" in message
    name = field.split(":")[0]
    assert message.endswith(f"; lower {name} or run with more")


def test_pool_refusal_message_in_full(tmp_path: Path) -> None:
    text = "jobs:\n  - {id: small, command: 'true'}\n  - id: big\n    command: x\n    cpus: 64\n"
    message = refused(tmp_path, text, pool=Pool.uniform(1, cpus=4))
    assert message == (
        f"{tmp_path / 'wf.yaml'}:5: job 'big' needs 64 cpus, the pool has 4; "
        "lower cpus or run with more"
    )


def test_a_missing_file_is_a_workflow_error(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match=r"nope\.yaml: cannot read .*; check the path"):
        load_workflow(tmp_path / "nope.yaml")


def test_error_is_a_value_error_with_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:  # the hierarchy is the point
        load_workflow(write(tmp_path, "jobs: []\n"))
    assert isinstance(info.value, WorkflowError)
    assert (info.value.file, info.value.line) == (str(tmp_path / "wf.yaml"), 1)


# --------------------------------------------------------------------------- random DAGs


def random_dag(seed: int, size: int, back_edge: bool = False) -> tuple[str, dict[str, set[str]]]:
    """A random DAG as YAML, jobs shuffled in the file, each edge explicit or through a file.

    With ``back_edge``, one job also depends on a job that depends on it: a two-job cycle.
    """
    rng = random.Random(seed)
    names = [f"j{i:03d}" for i in range(size)]  # names[i] may depend only on names[:i]
    deps = {
        name: set(rng.sample(names[:i], min(i, rng.randint(0, 3)))) for i, name in enumerate(names)
    }
    extra = {name: set[str]() for name in names}
    if back_edge:
        late = max((n for n in names if deps[n]), key=names.index)
        extra[min(deps[late])].add(late)
    jobs = []
    for name in names:
        explicit = sorted({d for d in deps[name] if rng.random() < 0.5} | extra[name])
        inputs = sorted(f"{d}.out" for d in deps[name] - set(explicit))
        jobs.append(
            f"  - id: {name}\n    command: 'true'\n    outputs: [{name}.out]\n"
            f"    inputs: [{', '.join(inputs)}]\n    depends: [{', '.join(explicit)}]\n"
        )
    rng.shuffle(jobs)
    return "jobs:\n" + "".join(jobs), deps


@pytest.mark.parametrize("seed", range(5))
def test_random_dag_loads_in_topological_order(tmp_path: Path, seed: int) -> None:
    text, deps = random_dag(seed, 200)
    workflow = load_workflow(write(tmp_path, text))
    position = {task.id: i for i, task in enumerate(workflow.tasks)}
    assert sorted(position) == sorted(deps)
    for task in workflow.tasks:
        assert task.depends == sorted(deps[task.id])
        assert all(position[d] < position[task.id] for d in task.depends)


@pytest.mark.parametrize("seed", range(3))
def test_random_dag_with_a_back_edge_is_refused_as_a_cycle(tmp_path: Path, seed: int) -> None:
    text, _ = random_dag(seed, 200, back_edge=True)
    message = refused(tmp_path, text)
    assert "dependency cycle " in message
    chain = message.split("dependency cycle ")[1].split(" (")[0].split(" -> ")
    assert len(chain) == 3 and chain[0] == chain[-1]


def test_five_hundred_jobs_load_quickly(tmp_path: Path) -> None:
    text, _ = random_dag(1, 500)
    path = write(tmp_path, text)
    start = time.perf_counter()
    workflow = load_workflow(path)
    elapsed = time.perf_counter() - start
    assert len(workflow.tasks) == 500
    assert elapsed < 1.0, f"500 jobs took {elapsed:.2f}s"
