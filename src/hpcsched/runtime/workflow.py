"""Load a YAML workflow (a static DAG of tasks) and refuse a bad one before anything runs.

The format follows the spirit of Pegasus' abstract YAML workflow: jobs name the files they read
and write, and the loader infers the edges, so a workflow rarely needs explicit ``depends``::

    name: optional-name               # optional, defaults to the file's stem
    defaults: {cpus: 1, retries: 1}   # optional, merged under every job's own fields
    jobs:
      - id: make
        command: "sh -c 'echo hello > a.txt'"
        outputs: [a.txt]
        priority: 1                   # priority class, 0 first
        runtime: 2                    # expected seconds, used by the policy
      - id: use
        command: "sh -c 'cat a.txt > b.txt'"
        inputs: [a.txt]               # written by 'make', so 'use' depends on 'make'
        outputs: [b.txt]
        depends: [make]               # explicit edges are merged with the inferred ones

A job takes every field of :class:`~hpcsched.campaigns.task.Task` (``mem`` accepts ``4G``).
A job (or ``defaults``) may also say ``cluster: {size: k}`` or ``cluster: {label: NAME, size: k}``
to run with the other short jobs of its level in clustered tasks (:mod:`.clustering`).
``defaults`` is a shallow merge: a job's own value replaces the default (lists are not joined).
Inputs and outputs are relative to the work directory, by default the workflow file's directory.

Every mistake is refused before anything runs, in one line ``FILE:LINE: what is wrong; what to
do``: a typo in the last job must not cost the hour the first ones took, nor a key given twice
(PyYAML keeps the last) run what the author did not write. Lines come from the composed node
tree and values are constructed from the same nodes, so the two cannot disagree.
"""

from __future__ import annotations

import difflib
import heapq
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hpcsched.campaigns.task import MOST_COUNT, Task
from hpcsched.core.pool import Pool
from hpcsched.core.yaml_guard import YamlRefusal, check_tree
from hpcsched.runtime.clustering import ClusterError, ClusterSpec, cluster_tasks

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: several times faster

TOP_LEVEL = ("name", "defaults", "jobs")
FIELDS = tuple(Task.model_fields)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class WorkflowError(ValueError):
    """A workflow that must not run. ``str(err)`` is ``FILE:LINE: what; fix`` on one line."""

    def __init__(self, file: str, line: int | None, what: str, fix: str) -> None:
        self.file, self.line = file, line
        where = file if line is None else f"{file}:{line}"
        super().__init__(" ".join(f"{where}: {what}; {fix}".splitlines()))  # one line, always


class DataPlan(Protocol):
    """Files a workflow format moves outside its jobs (Pegasus' replicas and stage-out)."""

    def stage_in(self) -> None: ...  # before the run; WorkflowError when it cannot
    def copy_out(self) -> list[str]: ...  # after the run (also a failed one): what it copied


@dataclass(frozen=True)
class Workflow:
    """A loaded workflow: tasks in topological order, each ``depends`` explicit ∪ inferred."""

    path: Path
    work_dir: Path
    tasks: list[Task]
    name: str = ""
    data: DataPlan | None = None
    #: outputs the format marks as not needed after the run (Pegasus' ``stageOut: false``)
    intermediates: frozenset[str] = frozenset()
    #: ``FILE:LINE: what is ignored; what happens instead``, one a line: warnings, not refusals
    notes: tuple[str, ...] = ()


def _line(node: Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 1  # an empty file: line 1


def _pairs(node: MappingNode) -> dict[str, tuple[Node, Node]]:
    """Key text -> (key node, value node), for looking up where a field is written."""
    return {k.value: (k, v) for k, v in node.value if isinstance(k, ScalarNode)}


def _known(field: str) -> str:
    hint = "".join(f"did you mean {c!r}? " for c in difflib.get_close_matches(field, FIELDS, 1))
    return f"{hint}known fields: {', '.join(FIELDS)}"


def _parse(text: bytes, file: str) -> tuple[Node | None, Any]:
    """The composed node tree and the Python value constructed from those same nodes."""
    loader = _Loader(text)
    try:
        if (root := loader.get_single_node()) is None:  # an empty file
            return None, None
        check_tree(root)  # duplicate keys, alias bombs: refused before anything is built
        return root, loader.construct_document(root)
    except YamlRefusal as exc:
        raise WorkflowError(file, exc.line, exc.what, exc.fix) from exc
    except RecursionError as exc:
        raise WorkflowError(file, None, "nested too deeply", "flatten the document") from exc
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise WorkflowError(file, None, f"{exc}", "write a smaller number") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        if exc.context_mark and mark and exc.context_mark.line != mark.line:
            what += f" (started at line {exc.context_mark.line + 1})"
        fix = "check the indentation, the quotes and the ':' after each key"
        line = mark.line + 1 if mark else None
        raise WorkflowError(file, line, f"YAML syntax error: {what}", fix) from exc
    except yaml.YAMLError as exc:  # e.g. bytes that are not UTF-8 text
        raise WorkflowError(file, None, f"not YAML text: {exc}", "save it as UTF-8") from exc
    finally:
        loader.dispose()


def _locate(loc: tuple[int | str, ...], job: MappingNode, defaults: MappingNode | None) -> int:
    """The line of the field at pydantic's ``loc`` (a default's line if the job lacks it)."""
    for pairs in (_pairs(job), _pairs(defaults) if defaults is not None else {}):
        if not loc or str(loc[0]) not in pairs:
            continue
        key, node = pairs[str(loc[0])]
        line = _line(key)
        for part in loc[1:]:
            if isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
            elif isinstance(node, MappingNode) and str(part) in _pairs(node):
                node = _pairs(node)[str(part)][1]
            else:
                break
            line = _line(node)
        return line
    return _line(job)


def _invalid(
    exc: ValidationError, file: str, label: str, job: MappingNode, defaults: MappingNode | None
) -> WorkflowError:
    """Pydantic's first complaint about a job, at the line of the field it concerns."""
    error = exc.errors()[0]
    loc: tuple[int | str, ...] = tuple(error["loc"])
    line = _locate(loc, job, defaults)
    if error["type"] == "extra_forbidden":
        what = f"job {label}: unknown field {loc[0]!r}"
        return WorkflowError(file, line, what, _known(str(loc[0])))
    message, _, hint = str(error["msg"]).removeprefix("Value error, ").partition("; ")
    if not loc:  # a rule about the whole job, e.g. exactly one of command or callable
        return WorkflowError(file, line, f"job {label}: {message}", hint or "fix the job")
    field = str(loc[0]) + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
    fix = hint or ("add it" if error["type"] == "missing" else "fix the value")
    return WorkflowError(file, line, f"job {label}: field {field!r}: {message}", fix)


def _structure(
    root: Node | None, data: Any, file: str
) -> tuple[SequenceNode, list[Any], MappingNode | None, dict[str, Any], Any]:
    """Check the top level; return the jobs (nodes and values), the defaults and the name."""
    if not isinstance(root, MappingNode):
        raise WorkflowError(file, _line(root), "the top level is not a mapping", "start with jobs:")
    top = _pairs(root)
    for key, (node, _) in top.items():
        if key not in TOP_LEVEL:
            fix = f"use only {', '.join(TOP_LEVEL)} (job fields go inside a job)"
            raise WorkflowError(file, _line(node), f"unknown top-level key {key!r}", fix)
    jobs_key, jobs_node = top.get("jobs", (root, None))
    if not isinstance(jobs_node, SequenceNode):
        fix = "add 'jobs:' with one '- id: NAME' list item per job"
        raise WorkflowError(file, _line(jobs_key), "there is no 'jobs' list", fix)
    if not jobs_node.value:
        raise WorkflowError(file, _line(jobs_key), "the 'jobs' list is empty", "add a job")
    defaults_key, defaults_node = top.get("defaults", (root, None))
    if not isinstance(defaults_node, MappingNode | None) and data["defaults"] is not None:
        fix = "write e.g. defaults: {cpus: 1, retries: 1}"
        raise WorkflowError(file, _line(defaults_key), "'defaults' is not a mapping", fix)
    defaults_node = defaults_node if isinstance(defaults_node, MappingNode) else None
    for key, (node, _) in _pairs(defaults_node).items() if defaults_node else ():
        if key == "id" or key not in (*FIELDS, "cluster"):  # every job would get the same id
            fix = "give each job its own id" if key == "id" else _known(key)
            raise WorkflowError(file, _line(node), f"{key!r} cannot be a default", fix)
    return jobs_node, data["jobs"], defaults_node, data.get("defaults") or {}, data.get("name")


def _cluster_spec(
    value: Any, file: str, label: str, job: MappingNode, defaults: MappingNode | None
) -> ClusterSpec:
    """A job's ``cluster: {size: k, label: NAME}`` (see :mod:`.clustering`), or the refusal."""
    line = _locate(("cluster",), job, defaults)
    fix = "write e.g. cluster: {size: 50} or cluster: {label: NAME, size: 50}"
    if not isinstance(value, dict) or set(value) - {"size", "label"} or "size" not in value:
        raise WorkflowError(file, line, f"job {label}: 'cluster' is not {{size, label}}", fix)
    size, name = value["size"], value.get("label", "")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MOST_COUNT:
        raise WorkflowError(file, line, f"job {label}: cluster size {size!r} is not a count", fix)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]*", name):
        what = f"job {label}: cluster label {name!r} is not a plain name"
        raise WorkflowError(file, line, what, "use letters, digits, '_', '.' or '-'")
    return ClusterSpec(size=size, label=name)


def _order(deps: list[set[int]]) -> tuple[list[int], list[int]]:
    """Kahn's algorithm, ties to the earliest job in the file: (order, []) or ([], a cycle)."""
    dependents: list[list[int]] = [[] for _ in deps]
    for i, mine in enumerate(deps):
        for d in mine:
            dependents[d].append(i)
    waiting = [len(mine) for mine in deps]
    ready = [i for i, count in enumerate(waiting) if count == 0]  # ascending, so a heap
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for d in dependents[i]:
            waiting[d] -= 1
            if waiting[d] == 0:
                heapq.heappush(ready, d)
    if len(order) == len(deps):
        return order, []
    stuck = set(range(len(deps))) - set(order)
    position: dict[int, int] = {}  # the walk so far, in order
    job = min(stuck)
    while job not in position:  # every job left waits for another job left: walk to a loop
        position[job] = len(position)
        job = min(d for d in deps[job] if d in stuck)
    cycle = list(position)[position[job] :]
    first = cycle.index(min(cycle))
    return [], cycle[first:] + cycle[:first]


def load_workflow(
    path: Path | str,
    pool: Pool | None = None,
    work_dir: Path | None = None,
    tc: Path | None = None,
    output_dir: Path | None = None,
) -> Workflow:
    """Read, check and order a workflow; :class:`WorkflowError` on any mistake, and (with
    ``pool``) on a job that could never fit, which would otherwise wait for ever. A Pegasus 5
    workflow (``pegasus: "5.0"``) is read by :mod:`.pegasus`, with its transformation catalog
    ``tc`` and ``output_dir`` for its ``stageOut`` files; other files take neither."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise WorkflowError(file, None, f"cannot read ({exc.strerror})", "check the path") from exc
    base = Path(work_dir).resolve() if work_dir is not None else path.resolve().parent
    root, data = _parse(text, file)
    from hpcsched.runtime.pegasus import is_pegasus, load_pegasus  # it imports this module

    if is_pegasus(root):
        assert isinstance(root, MappingNode) and isinstance(data, dict)
        return load_pegasus(root, data, file, base, pool, tc, output_dir)
    for flag, given in (("--tc", tc), ("--output-dir", output_dir)):
        if given is not None:
            what = f'{flag} is for Pegasus workflows (pegasus: "5.0"), and this is not one'
            raise WorkflowError(file, None, what, f"leave out {flag}")
    jobs_node, jobs, defaults_node, defaults, name = _structure(root, data, file)

    tasks: list[Task] = []
    nodes: list[MappingNode] = []
    id_lines: dict[str, int] = {}
    clusters: dict[str, ClusterSpec] = {}
    default_cluster = defaults.pop("cluster", None) if "cluster" in defaults else None
    for number, (node, raw) in enumerate(zip(jobs_node.value, jobs, strict=True), start=1):
        if not isinstance(node, MappingNode) or not isinstance(raw, dict):
            fix = "write it as '- id: NAME' followed by its fields"
            raise WorkflowError(file, _line(node), f"job #{number} is not a mapping", fix)
        label = repr(raw["id"]) if isinstance(raw.get("id"), str) else f"#{number}"
        cluster = raw.pop("cluster") if "cluster" in raw else default_cluster
        try:
            task = Task.model_validate({**defaults, **raw})
        except ValidationError as exc:
            raise _invalid(exc, file, label, node, defaults_node) from exc
        if cluster is not None:
            clusters[task.id] = _cluster_spec(cluster, file, label, node, defaults_node)
        line = _locate(("id",), node, None)
        if task.id in id_lines:
            what = f"job id {task.id!r} is used twice, at lines {id_lines[task.id]} and {line}"
            raise WorkflowError(file, line, what, "rename one of them")
        id_lines[task.id] = line
        if pool and (refusal := pool.refusal(task.cpus, task.gpus, task.mem, task.nodes)):
            field, reason = refusal
            line, fix = _locate((field,), node, defaults_node), f"lower {field} or run with more"
            raise WorkflowError(file, line, f"job {label} {reason}", fix)
        tasks.append(task)
        nodes.append(node)

    def key(entry: str) -> str:  # one spelling per file: ./a.txt, a.txt and /abs/a.txt all match
        return os.path.normpath(os.path.join(base, entry))

    producer: dict[str, int] = {}
    for i, task in enumerate(tasks):
        for j, output in enumerate(task.outputs):
            if (other := producer.setdefault(key(output), i)) != i:
                line = _locate(("outputs", j), nodes[i], defaults_node)
                what = f"jobs {tasks[other].id!r} (line {_line(nodes[other])}) and {task.id!r}"
                raise WorkflowError(file, line, f"{what} both output {output!r}", "keep one writer")

    index = {task.id: i for i, task in enumerate(tasks)}
    deps: list[set[int]] = []
    for i, task in enumerate(tasks):
        for j, dep in enumerate(task.depends):
            line = _locate(("depends", j), nodes[i], defaults_node)
            if dep == task.id:
                what, fix = f"job {task.id!r} depends on itself", f"remove {dep!r} from depends"
                raise WorkflowError(file, line, what, fix)
            if dep not in index:
                close = difflib.get_close_matches(dep, index, n=1)
                fix = f"did you mean {close[0]!r}?" if close else "fix the id or add that job"
                raise WorkflowError(file, line, f"job {task.id!r} depends on unknown {dep!r}", fix)
        inferred = {producer[k] for k in map(key, task.inputs) if k in producer}
        deps.append(({index[d] for d in task.depends} | inferred) - {i})

    order, cycle = _order(deps)
    if cycle:
        chain = " -> ".join(tasks[i].id for i in [*cycle, cycle[0]])
        notes = []
        for a, b in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
            if tasks[b].id not in tasks[a].depends:  # say which file made an inferred edge
                read = next(f for f in tasks[a].inputs if producer.get(key(f)) == b)
                notes.append(f", {tasks[a].id!r} reads {read!r}, which {tasks[b].id!r} writes")
        what = f"dependency cycle {chain} (each job depends on the next{''.join(notes)})"
        fix = "remove a depends entry or a file link to break it"
        raise WorkflowError(file, _line(nodes[cycle[0]]), what, fix)
    depends = [sorted({tasks[d].id for d in mine}) for mine in deps]
    tasks = [tasks[i].model_copy(update={"depends": depends[i]}) for i in order]
    if clusters:
        try:
            tasks = cluster_tasks(tasks, clusters)
        except ClusterError as exc:
            raise WorkflowError(file, None, str(exc), exc.fix) from exc
    return Workflow(path, base, tasks, str(path.stem if name is None else name))
