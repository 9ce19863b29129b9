"""From a prediction to a submission the site accepts: time limit, memory, partition/QoS, chains.

The time limit is the calibrated upper bound of the run time (``hpcsched.predict.bound``), rounded
up to the site's granularity: a limit close to the real run time lets backfilling start the job
earlier (Tsafrir, Etsion & Feitelson, TPDS 2007), and a calibrated bound keeps the chance of being
killed at the limit near ``1 - coverage``. When the bound exceeds what a partition/QoS allows, the
job becomes a chain of parts joined by ``--dependency=afterok`` (each part must checkpoint).
A request no partition/QoS can take is refused with the rule it breaks, in one line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl

from hpcsched.advise.sbatch_script import MB, SbatchScript, parse_memory, parse_time
from hpcsched.advise.site import Partition, Qos, Site
from hpcsched.core.schema import JOB_TABLE_SCHEMA


class BoundModel(Protocol):
    """What advice needs of a fitted bound (``hpcsched.predict.bound.FittedBound``)."""

    def upper(self, jobs: pl.DataFrame) -> npt.NDArray[np.float64]: ...

    def point(self, jobs: pl.DataFrame) -> npt.NDArray[np.float64]: ...

    @property
    def known(self) -> int:
        """Jobs with a known outcome the bound was fitted on."""

    @property
    def needed(self) -> int:
        """The fewest such jobs the predictor learns from; below it nothing is learnt."""


class RefusalError(ValueError):
    """A request no partition/QoS of the site can take; ``str`` is one line naming the rule."""


@dataclass(frozen=True)
class Request:
    """What the script asks for, in SI units (totals over the job, as in the job table)."""

    nodes: int = 1
    cpus: int = 1
    gpus: int = 0
    mem: float | None = None  # bytes for the whole job; None: the site default
    timelimit: float | None = None
    partition: str | None = None
    qos: str | None = None
    account: str = ""
    name: str = ""

    def per_node(self, total: float) -> float:
        return total / self.nodes


#: Slurm keeps node, task, CPU and GPU counts in 32 bits (NO_VAL is 0xfffffffe).
MOST_COUNT: Final = 2**31 - 1


def _count(text: str, where: str, option: str, value: str) -> int:
    """A whole number of ASCII digits within :data:`MOST_COUNT`, or one refusal line."""
    if not re.fullmatch(r"[0-9]{1,10}", text):
        raise RefusalError(f"{where}: {option}={value[:40]} is not a whole number")
    number = int(text)
    if number > MOST_COUNT:
        raise RefusalError(f"{where}: {option}={value[:40]} is above Slurm's largest {MOST_COUNT}")
    return number


def _int(script: SbatchScript, option: str, default: int) -> int:
    value = script.get(option)
    if value is None:
        return default
    # --nodes=2-4: the minimum is what must fit
    number = _count(value.split("-")[0], script.where(option), option, value)
    if number < 1:
        raise RefusalError(f"{script.where(option)}: {option}={value} must be at least 1")
    return number


def _gpus(script: SbatchScript, nodes: int) -> int:
    for option, per_node in (("--gpus", 1), ("--gpus-per-node", nodes)):
        if (value := script.get(option)) is not None:
            return per_node * _count(value.rsplit(":", 1)[-1], script.where(option), option, value)
    for item in (script.get("--gres") or "").split(","):
        kind, _, rest = item.partition(":")
        if kind == "gpu":  # gpu, gpu:2, gpu:v100:2 (per node)
            count = rest.rsplit(":", 1)[-1] if rest else "1"
            where = script.where("--gres")
            return nodes * (_count(count, where, "--gres", item) if count.isdigit() else 1)
    return 0


def request_of(script: SbatchScript) -> Request:
    """The resources ``script`` asks for (sbatch defaults: one task per node, one CPU each)."""
    nodes = _int(script, "--nodes", 1)
    per_task = _int(script, "--cpus-per-task", 1)
    tasks = _int(script, "--ntasks", 0)
    if script.get("--ntasks-per-node") is not None:
        tasks = max(tasks, nodes * _int(script, "--ntasks-per-node", 1))
    cpus = max(tasks, nodes) * per_task  # sbatch's default: one task per node
    try:
        gpus = _gpus(script, nodes)
        mem = None
        if (value := script.get("--mem")) is not None:
            mem = parse_memory(value) * nodes
        elif (value := script.get("--mem-per-cpu")) is not None:
            mem = parse_memory(value) * cpus
        time = script.get("--time")
        timelimit = parse_time(time) if time is not None else None
    except ValueError as exc:
        raise RefusalError(f"{script.path}: {exc}; fix the #SBATCH line") from None
    return Request(
        nodes,
        cpus,
        gpus,
        mem,
        timelimit,
        script.get("--partition"),
        script.get("--qos"),
        script.get("--account") or "",
        script.get("--job-name") or "",
    )


@dataclass(frozen=True)
class Prediction:
    """The bound and point prediction for this job (seconds, bytes)."""

    runtime_upper: float
    runtime_point: float
    mem_upper: float | None = None
    coverage: float = 0.95
    note: str = ""  # why the run time is the script's own, when it is not learnt
    mem_note: str = ""  # why the memory is the script's own, when it is not learnt

    @property
    def runtime_learnt(self) -> bool:
        return not self.note


def job_row(request: Request, site: Site, *, user: str, now: float) -> pl.DataFrame:
    """The script as a one-row job table (the predictor's input columns)."""
    row = {
        "user": user,
        "account": request.account,
        "partition": request.partition or site.default_partition,
        "qos": request.qos or site.default_qos_name,
        "nodes": request.nodes,
        "cpus": request.cpus,
        "gpus": request.gpus,
        "mem_req": request.mem,
        "timelimit": request.timelimit,
        "submit": now,
        "name": request.name,
    }
    return pl.DataFrame([row], schema={k: JOB_TABLE_SCHEMA[k] for k in row})


def _shortfall(bound: BoundModel, option: str, what: str, verb: str = "kept") -> str:
    """One line saying why ``option`` is kept, or "" when ``bound`` learnt from enough jobs."""
    if bound.known >= bound.needed:
        return ""
    return (
        f"{option} {verb}: only {bound.known} past jobs with a known {what}, {bound.needed} needed"
    )


def predict(
    runtime: BoundModel, memory: BoundModel | None, jobs: pl.DataFrame, coverage: float
) -> Prediction:
    """Ask the fitted bounds about the one job in ``jobs``.

    Nothing that was not learnt is changed: a bound fitted on fewer jobs than its predictor needs
    (or not finite) leaves the script's own ``--time`` (with no ``--time`` the job is refused) and
    ``--mem``, and the note says why in one line.
    """
    requested = jobs["timelimit"][0]
    upper = float(runtime.upper(jobs)[0])
    point = float(runtime.point(jobs)[0])
    note = _shortfall(runtime, "--time", "run time")
    if not note and (not math.isfinite(upper) or upper <= 0):
        note = "--time kept: the history gives no finite bound for this job's run time"
    if note:
        if requested is None:
            raise RefusalError(
                f"the history cannot bound this job's run time ({note.split(': ', 1)[1]}) "
                "and the script has no --time; add #SBATCH --time or give a longer --history"
            )
        upper = point = float(requested)
    if not math.isfinite(point) or point <= 0:
        point = upper
    verb = "kept" if jobs["mem_req"][0] is not None else "not added"
    mem, mem_note = None, f"--mem {verb}: the history has no peak memory (mem_used)"
    if memory is not None:
        mem_note = _shortfall(memory, "--mem", "peak memory", verb)
        mem = None if mem_note else float(memory.upper(jobs)[0])
    mem = mem if mem is not None and math.isfinite(mem) and mem > 0 else None
    if mem is None and not mem_note:
        mem_note = f"--mem {verb}: the history gives no finite bound for this job's peak memory"
    return Prediction(upper, min(point, upper), mem, coverage, note, mem_note)


def round_up(value: float, step: float) -> float:
    return max(step, math.ceil(value / step - 1e-9) * step)


@dataclass(frozen=True)
class Option:
    """One way to submit the job: a partition and QoS, and the parts it runs as."""

    partition: str
    qos: str
    parts: tuple[float, ...]  # time limit of each part, s (one part: no chain)
    limit: float  # the longest time limit this partition/QoS allows, s
    mem_per_node: float  # bytes
    node_share: float  # node-equivalents billed (MAX_TRES share of a node, times nodes)
    cost_expected: float  # charge for the predicted run time
    cost_at_limit: float  # charge if every part runs to its limit

    @property
    def chained(self) -> bool:
        return len(self.parts) > 1


@dataclass
class Options:
    valid: list[Option] = field(default_factory=list)
    refused: dict[tuple[str, str], str] = field(default_factory=dict)  # (partition, qos) -> rule


def _rule_broken(request: Request, name: str, part: Partition, qos_name: str, qos: Qos) -> str:
    mb = request.per_node(request.mem or 0) / MB
    if request.nodes > part.node_limit:
        return f"needs {request.nodes} nodes, partition {name} allows {part.node_limit}"
    if qos.max_nodes is not None and request.nodes > qos.max_nodes:
        return f"needs {request.nodes} nodes, QoS {qos_name} allows {qos.max_nodes}"
    if part.qos is not None and qos_name not in part.qos:
        return f"QoS {qos_name} is not allowed in partition {name} (AllowQos={','.join(part.qos)})"
    if math.ceil(request.per_node(request.cpus)) > part.cpus_per_node:
        cpus = math.ceil(request.per_node(request.cpus))
        return f"needs {cpus} CPUs per node, partition {name} nodes have {part.cpus_per_node}"
    if math.ceil(request.per_node(request.gpus)) > part.gpus_per_node:
        gpus = math.ceil(request.per_node(request.gpus))
        return f"needs {gpus} GPUs per node, partition {name} nodes have {part.gpus_per_node}"
    if mb > part.mem_per_node / MB + 1e-9:
        have = part.mem_per_node / MB
        return f"needs {mb:.0f} MB memory per node, partition {name} nodes have {have:.0f} MB"
    return ""


def options(site: Site, request: Request, prediction: Prediction) -> Options:
    """Every partition x QoS, with its parts and cost, or the rule that rules it out."""
    out = Options()
    grain = site.walltime_granularity
    # a limit that was not learnt is the script's own: only Slurm's whole minutes, not the grain
    wall = round_up(prediction.runtime_upper, grain if prediction.runtime_learnt else 60)
    for pname, part in site.partitions.items():
        for qname, qos in site.qos.items():
            broken = _rule_broken(request, pname, part, qname, qos)
            limit = min(part.max_walltime, qos.max_walltime or math.inf)
            step = math.floor(limit / grain) * grain or math.floor(limit / 60) * 60
            count = 1 if wall <= limit else math.ceil(wall / step - 1e-9)
            if not broken and count > site.max_chain_parts:
                broken = (
                    f"needs {count} chained parts of {step / 60:.0f} min in partition {pname}, "
                    f"the site allows {site.max_chain_parts} (max_chain_parts)"
                )
            if broken:
                out.refused[pname, qname] = broken
                continue
            parts = (wall,) if count == 1 else (step,) * (count - 1) + (wall - (count - 1) * step,)
            parts = tuple(round_up(p, 60) for p in parts)
            mem_node = request.per_node(request.mem or 0)
            shares = [
                request.per_node(request.cpus) / part.cpus_per_node,
                mem_node / part.mem_per_node,
            ]
            if part.gpus_per_node:
                shares.append(request.per_node(request.gpus) / part.gpus_per_node)
            node_share = request.nodes * min(1.0, max(shares))
            rate = part.charge_rate * qos.charge_factor * node_share / 3600
            out.valid.append(
                Option(
                    pname,
                    qname,
                    parts,
                    limit,
                    mem_node,
                    node_share,
                    rate * prediction.runtime_point,
                    rate * sum(parts),
                )
            )
    return out


def sized(request: Request, site: Site, prediction: Prediction) -> Request:
    """``request`` with its memory set from the bound (or the site default when neither says)."""
    mem = request.mem
    if prediction.mem_upper is not None:
        per_node = round_up(prediction.mem_upper / request.nodes, site.memory_granularity)
        mem = per_node * request.nodes
    elif mem is None and site.default_mem_per_cpu is not None:
        mem = site.default_mem_per_cpu * request.cpus
    return Request(
        request.nodes,
        request.cpus,
        request.gpus,
        mem,
        request.timelimit,
        request.partition,
        request.qos,
        request.account,
        request.name,
    )


def refusal_line(request: Request, found: Options) -> str:
    """One line: the rule each candidate breaks, the script's own choice first."""
    wanted = [
        (p, q)
        for (p, q) in found.refused
        if (request.partition in (None, p)) and (request.qos in (None, q))
    ] or list(found.refused)
    rules: list[str] = []
    for key in wanted:
        if found.refused[key] not in rules:
            rules.append(found.refused[key])
    return "; ".join(rules)
