"""Pegasus 5 YAML workflows (``pegasus: "5.0"``, as ``Workflow.write()`` makes them), read natively.

A Pegasus abstract workflow becomes the project's own :class:`~hpcsched.runtime.workflow.Workflow`,
so the policy, journal, resume and ``why`` see nothing new. Schema:
``share/pegasus/schema/yaml/wf-5.0.yml`` in pegasus-isi/pegasus. Per job:

- ``name``/``namespace``/``version`` → the executable of the transformation catalog's ``local``
  entry (:mod:`.pegasus_catalogs`); ``arguments`` joined with spaces and split as Pegasus'
  kickstart does (quotes group words), run as argv: every word is shell-quoted, nothing expands.
  A File in the arguments is written as its LFN, the path where staging puts it.
- ``uses``: ``input`` → inputs, ``output`` → outputs (``stageOut``, default true, marks what
  ``--output-dir`` receives), ``inout`` → both (the linked input is copied first, so the job's
  writes reach the work directory only when it succeeds), ``optional`` inputs are copied in
  when present and ``optional`` outputs and ``checkpoint`` files copied out when written
  (checkpoints are copied back in on a retry); ``stdin``/``stdout``/``stderr`` redirect from/to
  those files.
- ``jobDependencies`` → ``depends``, merged with the edges the files imply.
- profiles (workflow < transformation < site entry < job): ``pegasus`` ``cores``, ``gpus``,
  ``memory`` (MB), ``runtime`` (s), ``maxwalltime`` (min); ``condor`` ``request_cpus``,
  ``request_gpus``, ``request_memory`` (MB); ``dagman`` ``RETRY``; ``env``.

Sub-workflows, containers, non-local sites and remote files are refused with ``FILE:LINE``;
what is accepted but does nothing here (hooks, metadata, ``registerReplica``, a site catalog,
profiles not read) is one warning line each (:mod:`.pegasus_ignored`), in ``Workflow.notes``.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError
from yaml.nodes import MappingNode, Node

from hpcsched.campaigns.task import Task
from hpcsched.core.pool import Pool
from hpcsched.runtime.pegasus_catalogs import (
    RC_FILE,
    TC_FILE,
    Catalogs,
    Executable,
    Where,
    merge_profiles,
    read_catalog_file,
    read_replicas,
    read_transformations,
    tc_key,
)
from hpcsched.runtime.pegasus_data import PegasusData
from hpcsched.runtime.pegasus_ignored import ignored
from hpcsched.runtime.workflow import Workflow, WorkflowError, _line, _order, _pairs

TOP_LEVEL = (
    "pegasus",
    "name",
    "version",
    "siteCatalog",
    "replicaCatalog",
    "transformationCatalog",
    "jobs",
    "jobDependencies",
    "profiles",
    "hooks",
    "metadata",
)
SUB_WORKFLOWS = ("pegasusWorkflow", "condorWorkflow", "dax", "dag")


def is_pegasus(root: Node | None) -> bool:
    return isinstance(root, MappingNode) and "pegasus" in _pairs(root)


def _number(profiles: dict[str, dict[str, Any]], *keys: tuple[str, str]) -> Any:
    for namespace, key in keys:
        for name, value in profiles.get(namespace, {}).items():
            if str(name).lower() == key.lower() and value is not None:
                return value
    return None


def _megabytes(value: Any) -> Any:
    """Pegasus and HTCondor memory: a bare number is MB; ``2 GB`` is read as written."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value * 1024**2
    text = str(value).strip()
    return f"{text}M" if text.replace(".", "", 1).isdigit() else text


def _fields(profiles: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Task fields from merged profiles (Pegasus' own keys before their HTCondor spellings)."""
    fields: dict[str, Any] = {}
    found = {
        "cpus": _number(profiles, ("pegasus", "cores"), ("condor", "request_cpus")),
        "gpus": _number(profiles, ("pegasus", "gpus"), ("condor", "request_gpus")),
        "mem": _number(profiles, ("pegasus", "memory"), ("condor", "request_memory")),
        "runtime": _number(profiles, ("pegasus", "runtime")),
        "timeout": _number(profiles, ("pegasus", "maxwalltime")),
        "retries": _number(profiles, ("dagman", "retry")),
    }
    for name, value in found.items():
        if value is not None:
            fields[name] = value
    if "mem" in fields:
        fields["mem"] = _megabytes(fields["mem"])
    if "timeout" in fields and isinstance(fields["timeout"], int | float):
        fields["timeout"] = fields["timeout"] * 60  # maxwalltime is in minutes
    if env := profiles.get("env"):
        fields["env"] = {str(k): str(v) for k, v in env.items()}
    return fields


def _command(
    argv: list[str], stdio: dict[str, str], inout: list[str], carry: list[str], work: Path
) -> str:
    """The shell line that runs ``argv`` with every word quoted (so no word is expanded), with
    the inout copies before and the optional/checkpoint files carried in and out around it."""
    q = shlex.quote
    ops = (("stdin", "<"), ("stdout", ">"), ("stderr", "2>"))
    redirect = "".join(f" {op} {q(stdio[name])}" for name, op in ops if name in stdio)
    run = shlex.join(argv) + redirect
    folders = {str(PurePosixPath(stdio[n]).parent) for n in ("stdout", "stderr") if n in stdio}
    before = [f"mkdir -p -- {q(d)} || exit 1" for d in sorted(folders - {"."})]
    before += [
        f"cp -- {q(f)} {q(f)}.hpcsched && mv -f -- {q(f)}.hpcsched {q(f)} || exit 1" for f in inout
    ]
    before += [
        f'if [ -f {q(str(work / f))} ]; then mkdir -p -- "$(dirname -- {q(f)})" && '
        f"cp -- {q(str(work / f))} {q(f)}; fi"
        for f in carry
    ]
    if not carry:
        return "\n".join([*before, f"exec {run}"])
    after = [
        f'if [ -f {q(f)} ]; then mkdir -p -- "$(dirname -- {q(str(work / f))})" && '
        f"mv -f -- {q(f)} {q(str(work / f))}; fi"
        for f in carry
    ]
    return "\n".join([*before, run, "rc=$?", *after, "exit $rc"])


def _lfn(value: Any, where: Where) -> str:
    lfn = str(value)
    path = PurePosixPath(lfn)
    if not path.parts or path.is_absolute() or ".." in path.parts:
        raise where.error(f"file {lfn!r} is not a relative name", "use a relative LFN")
    return lfn


class _Job:
    """One Pegasus job read into task fields, its files and where it was written."""

    def __init__(self, node: MappingNode, job: dict[str, Any], file: str) -> None:
        self.where = Where(file, _line(node))
        self.id = str(job.get("id", ""))
        self.job, self.node = job, node
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.inout: list[str] = []
        self.carry: list[str] = []  # optional inputs/outputs and checkpoints
        self.stage_out: list[str] = []
        self.scratch: list[str] = []  # outputs with stageOut false: deleted after their readers
        self.lines: dict[str, int] = {}
        pairs = _pairs(node)
        uses = pairs["uses"][1].value if "uses" in pairs else []
        for unode, use in zip(uses, job.get("uses") or [], strict=False):
            at = Where(file, _line(unode))
            if not isinstance(use, dict) or use.get("lfn") is None:
                raise at.error(f"job {self.id!r}: a use is not 'lfn: NAME, type: ...'", "fix it")
            lfn, kind = _lfn(use.get("lfn"), at), str(use.get("type", "input"))
            self.lines[lfn] = at.line
            if use.get("optional") or kind == "checkpoint":
                self.carry.append(lfn)
            elif kind == "input":
                self.inputs.append(lfn)
            elif kind == "output":
                self.outputs.append(lfn)
            elif kind == "inout":
                self.inout.append(lfn)
            elif kind != "none":
                raise at.error(
                    f"job {self.id!r}: unknown use type {kind!r}",
                    "use input, output, inout, checkpoint or none",
                )
            if kind in ("output", "inout", "checkpoint") and use.get("stageOut", True):
                self.stage_out.append(lfn)
            elif kind == "output" and not use.get("optional"):
                self.scratch.append(lfn)
        self.stdio = {
            k: _lfn(job[k], self.where) for k in ("stdin", "stdout", "stderr") if job.get(k)
        }
        for name, lfn in self.stdio.items():  # stdio files are uses even when not listed
            bucket = self.inputs if name == "stdin" else self.outputs
            if lfn not in self.inputs + self.outputs + self.inout + self.carry:
                bucket.append(lfn)

    def task(self, exe: Executable, top: Any, work: Path) -> Task:
        try:
            argv = shlex.split(" ".join(str(a) for a in self.job.get("arguments") or []))
        except ValueError as exc:
            raise self.where.error(f"job {self.id!r}: arguments: {exc}", "close the quote") from exc
        profiles = merge_profiles(top, exe.profiles, self.job.get("profiles"))
        fields = {
            "id": self.id,
            "command": _command([exe.path, *argv], self.stdio, self.inout, self.carry, work),
            "inputs": self.inputs + self.inout,
            "outputs": self.outputs + self.inout,
            "kind": str(self.job.get("name")),
            **_fields(profiles),
        }
        try:
            return Task.model_validate(fields)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"])
            what = f"job {self.id!r}: {field}: {error['msg']} (from its profiles)"
            raise self.where.error(what, "fix the profile") from exc


def _catalogs(
    root: MappingNode, data: dict[str, Any], file: str, base: Path, tc: Path | None
) -> tuple[Catalogs, list[str]]:
    """The catalogs, and what the workflow and its catalog files ask for that is ignored here."""
    found, notes = Catalogs(), ignored(root, file)
    top = _pairs(root)
    if "transformationCatalog" in top:
        read_transformations(
            top["transformationCatalog"][1], data["transformationCatalog"], file, found
        )
    folder = Path(file).resolve().parent
    for path in (
        [tc] if tc is not None else [folder / TC_FILE] if (folder / TC_FILE).is_file() else []
    ):
        node, value, tc_file = read_catalog_file(path)
        read_transformations(node, value, tc_file, found)
        notes += ignored(node, tc_file) if isinstance(node, MappingNode) else []
    if "replicaCatalog" in top:
        read_replicas(top["replicaCatalog"][1], data["replicaCatalog"], file, folder, found)
    if (folder / RC_FILE).is_file():
        node, value, rc_file = read_catalog_file(folder / RC_FILE)
        read_replicas(node, value, rc_file, folder, found)
        notes += ignored(node, rc_file) if isinstance(node, MappingNode) else []
    return found, notes


def load_pegasus(
    root: MappingNode,
    data: dict[str, Any],
    file: str,
    base: Path,
    pool: Pool | None = None,
    tc: Path | None = None,
    output_dir: Path | None = None,
) -> Workflow:
    """The Pegasus workflow ``root``/``data`` of ``file`` as a :class:`Workflow` whose ``data``
    links replicas in and copies outputs out; :class:`WorkflowError` on anything that cannot run."""
    top = _pairs(root)
    if not str(data.get("pegasus")).startswith("5"):
        what = f"Pegasus format {data.get('pegasus')!r} is not read here"
        raise WorkflowError(file, _line(top["pegasus"][1]), what, "write it with Pegasus 5 (5.0)")
    for key, (node, _) in top.items():
        if key not in TOP_LEVEL and not key.startswith("x-"):
            raise WorkflowError(
                file,
                _line(node),
                f"unknown Pegasus top-level key {key!r}",
                f"use only {', '.join(TOP_LEVEL)}",
            )
    catalogs, notes = _catalogs(root, data, file, base, tc)
    jobs_node = top["jobs"][1] if "jobs" in top else root
    if not getattr(jobs_node, "value", None) or not isinstance(data.get("jobs"), list):
        raise WorkflowError(file, _line(jobs_node), "there are no jobs", "add a job")
    jobs: list[_Job] = []
    for node, job in zip(jobs_node.value, data["jobs"], strict=True):
        if not isinstance(job, dict):
            raise WorkflowError(file, _line(node), "a job is not a mapping", "write its fields")
        kind = str(job.get("type", "job"))
        if kind in SUB_WORKFLOWS:
            what = f"job {job.get('id')!r} is a sub-workflow ({kind}: {job.get('file')})"
            fix = "run that workflow with its own hpcsched run (sub-workflows do not run here)"
            raise WorkflowError(file, _line(node), what, fix)
        if kind != "job":
            what = f"job {job.get('id')!r} has type {kind!r}"
            raise WorkflowError(file, _line(node), what, "use type: job")
        jobs.append(_Job(node, job, file))
    tasks = [_task(j, catalogs, data.get("profiles"), base, pool, jobs) for j in jobs]
    depends = _depends(jobs, top, data, file)
    order, cycle = _order(depends)
    if cycle:
        chain = " -> ".join(jobs[i].id for i in [*cycle, cycle[0]])
        raise jobs[cycle[0]].where.error(f"dependency cycle {chain}", "break it")
    ordered = [
        tasks[i].model_copy(update={"depends": sorted(jobs[d].id for d in depends[i])})
        for i in order
    ]
    written = {f for j in jobs for f in j.outputs}  # an inout file starts from a replica
    replicas, unlisted = {}, {}
    for j in jobs:
        for lfn in j.inputs + j.inout:
            if lfn in written:
                continue
            entry = catalogs.replicas.get(lfn)
            if isinstance(entry, WorkflowError):
                raise entry
            if entry is None:
                unlisted[lfn] = Where(file, j.lines.get(lfn, j.where.line))
            else:
                replicas[lfn] = entry
    stage_out = tuple(dict.fromkeys(f for j in jobs for f in j.stage_out))
    rewritten = frozenset(f for j in jobs for f in j.inout)
    plan = PegasusData(base, replicas, unlisted, stage_out, output_dir, rewritten)
    name = str(data.get("name") or Path(file).stem)
    scratch = frozenset(f for j in jobs for f in j.scratch)
    return Workflow(
        Path(file), base, ordered, name, data=plan, intermediates=scratch, notes=tuple(notes)
    )


def _task(
    job: _Job, catalogs: Catalogs, profiles: Any, base: Path, pool: Pool | None, jobs: list[_Job]
) -> Task:
    if not job.id:
        raise job.where.error("a job has no id", "give it one")
    if sum(1 for other in jobs if other.id == job.id) > 1:
        raise job.where.error(f"job id {job.id!r} is used twice", "rename one of them")
    spec = job.job
    key = tc_key(str(spec.get("name", "")), spec.get("namespace"), spec.get("version"))
    exe = catalogs.executables.get(key)
    if exe is None:
        known = ", ".join(sorted(catalogs.executables)) or "none"
        what = f"job {job.id!r}: transformation {key!r} is in no transformation catalog"
        raise job.where.error(what, f"add it (known: {known}) or give --tc FILE")
    if isinstance(exe, WorkflowError):
        raise exe
    if not (os.path.isfile(exe.path) and os.access(exe.path, os.X_OK)):
        what = f"transformation {key!r}: {exe.path} is not an executable file here"
        raise exe.where.error(what, "fix its local PFN or make the file executable")
    task = job.task(exe, profiles, base)
    if pool and (refusal := pool.refusal(task.cpus, task.gpus, task.mem, task.nodes)):
        raise job.where.error(f"job {job.id!r} {refusal[1]}", "lower its profile or run with more")
    return task


def _depends(
    jobs: list[_Job], top: dict[str, tuple[Node, Node]], data: dict[str, Any], file: str
) -> list[set[int]]:
    """Each job's parents: ``jobDependencies`` plus the writer of each file it reads."""
    index = {j.id: i for i, j in enumerate(jobs)}
    depends: list[set[int]] = [set() for _ in jobs]
    writer: dict[str, int] = {}
    for i, j in enumerate(jobs):
        for lfn in j.outputs:
            if (other := writer.setdefault(lfn, i)) != i:
                what = f"jobs {jobs[other].id!r} and {j.id!r} both output {lfn!r}"
                raise WorkflowError(file, j.lines.get(lfn, j.where.line), what, "keep one writer")
    for i, j in enumerate(jobs):
        for lfn in j.inputs + j.inout:
            if lfn in writer and writer[lfn] != i:
                depends[i].add(writer[lfn])
    pairs = top["jobDependencies"][1].value if "jobDependencies" in top else []
    for node, edge in zip(pairs, data.get("jobDependencies") or [], strict=False):
        for child in [edge.get("id"), *(edge.get("children") or [])]:
            if str(child) not in index:
                what = f"jobDependencies name unknown job {child!r}"
                raise WorkflowError(file, _line(node), what, "fix the id or add that job")
        for child in edge.get("children") or []:
            depends[index[str(child)]].add(index[str(edge["id"])])
    return depends
