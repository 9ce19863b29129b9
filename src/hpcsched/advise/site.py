"""The site policy a submission must respect (SITE.yaml): partitions, QoS, charging, granularity.

Field names follow ``slurm.conf`` and ``sacctmgr``: a partition's ``Nodes``, ``MaxTime``,
``MaxNodes``; a node's ``CPUs``, ``RealMemory``, ``Gres``; a QoS's ``Priority``, ``MaxWall``,
``MaxTRESPerJob=node=N``, ``UsageFactor`` (here ``charge_factor``). Times are Slurm time strings
(``30`` = 30 minutes, ``2:00:00``, ``1-00``); a bare number is minutes, as for ``sbatch -t``.
Memory is a Slurm size (``2000M``, ``4G``); a bare number is megabytes, as for ``--mem``.

Charging (``charge_rate``, units per node-hour) bills the largest share of a node the job holds
on each node, like Slurm's ``PriorityFlags=MAX_TRES`` billing
(https://slurm.schedmd.com/tres.html#billing), times the QoS ``charge_factor``.

Every mistake is one line ``FILE:LINE: what; what to do``. Every number has a stated bound
(:data:`MOST_SECONDS`, :data:`MOST_BYTES`, :data:`MOST_COUNT`, :data:`MOST_NODES`; no NaN or
infinity), node ranges are counted before they are expanded, and the YAML is checked for
duplicate keys and alias bombs before it is built (:mod:`hpcsched.core.yaml_guard`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hpcsched.advise.sbatch_script import parse_memory, parse_time
from hpcsched.core.hostlist import MOST_NODES as MOST_NODES  # re-exported: the site bounds
from hpcsched.core.hostlist import expand_hostlist
from hpcsched.core.hostlist import hostlist_size as hostlist_size
from hpcsched.core.yaml_guard import YamlRefusal, check_tree

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Bounds of a site's numbers: ten years of time, 2^53 bytes (8 PiB) of memory, Slurm's 32-bit
#: counts, a million nodes in one partition (the largest machines have ~10^5).
MOST_SECONDS: Final = 3650 * 86400.0
MOST_BYTES: Final = float(2**53)
MOST_COUNT: Final = 2**31 - 1


def _finite(value: Any) -> Any:
    """A YAML number as a float, refusing what has none (10**400 would overflow float())."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
        raise ValueError(f"a number of {value.bit_length()} bits is beyond any bound")
    return value


def _seconds(value: Any) -> Any:
    value = _finite(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value) * 60  # minutes, as sbatch -t reads a bare number
    if isinstance(value, str):
        seconds = parse_time(value)
        if seconds is None:
            raise ValueError("UNLIMITED is not allowed here; give a time such as 2:00:00")
        return seconds
    return value


def _bytes(value: Any) -> Any:
    value = _finite(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value) * 1024 * 1024  # megabytes, as sbatch --mem reads a bare number
    if isinstance(value, str):
        return parse_memory(value)
    return value


Seconds = Annotated[
    float, BeforeValidator(_seconds), Field(gt=0, le=MOST_SECONDS, allow_inf_nan=False)
]
Bytes = Annotated[float, BeforeValidator(_bytes), Field(gt=0, le=MOST_BYTES, allow_inf_nan=False)]
Factor = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]


class Misfit(Exception):  # noqa: N818 -- not a ValueError, so pydantic lets it through
    """A rule between fields, with the ``loc`` of the field to blame (pydantic's own errors
    from a model validator have no location, so they could not point at a line)."""

    def __init__(self, loc: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class Partition(BaseModel):
    """A Slurm partition (slurm.conf ``PartitionName``) and the nodes it holds."""

    model_config = ConfigDict(extra="forbid")

    nodes: str = Field(description="hostlist of the partition's nodes (slurm.conf Nodes=)")
    max_walltime: Seconds
    max_nodes: int | None = Field(
        None, gt=0, le=MOST_COUNT, description="MaxNodes; default: every node"
    )
    cpus_per_node: int = Field(gt=0, le=MOST_COUNT)
    mem_per_node: Bytes
    gpus_per_node: int = Field(0, ge=0, le=MOST_COUNT)
    charge_rate: Factor = Field(1.0, description="charge units per node-hour")
    default: bool = False
    qos: list[str] | None = Field(None, description="AllowQos; default: every QoS")
    priority_job_factor: int = Field(1, ge=0, le=65533, description="PriorityJobFactor")

    @property
    def node_names(self) -> list[str]:
        return expand_hostlist(self.nodes)

    @property
    def node_limit(self) -> int:
        count = len(self.node_names)
        return count if self.max_nodes is None else min(self.max_nodes, count)


class Qos(BaseModel):
    """A Slurm QoS (``sacctmgr show qos``): its priority, limits and charge factor."""

    model_config = ConfigDict(extra="forbid")

    priority: int = Field(0, ge=-MOST_COUNT, le=MOST_COUNT)
    max_walltime: Seconds | None = None
    max_nodes: int | None = Field(None, gt=0, le=MOST_COUNT, description="MaxTRESPerJob=node=N")
    charge_factor: Factor = Field(1.0, description="UsageFactor")


class Priority(BaseModel):
    """slurm.conf's multifactor priority settings (``scontrol show config``), for replays
    (:mod:`hpcsched.policies.multifactor`)."""

    model_config = ConfigDict(extra="forbid")

    weight_age: int = Field(0, ge=0, le=MOST_COUNT, description="PriorityWeightAge")
    weight_fairshare: int = Field(0, ge=0, le=MOST_COUNT, description="PriorityWeightFairshare")
    weight_job_size: int = Field(0, ge=0, le=MOST_COUNT, description="PriorityWeightJobSize")
    weight_partition: int = Field(0, ge=0, le=MOST_COUNT, description="PriorityWeightPartition")
    weight_qos: int = Field(0, ge=0, le=MOST_COUNT, description="PriorityWeightQOS")
    max_age: Seconds = Field(7 * 86400.0, description="PriorityMaxAge")
    decay_half_life: Seconds = Field(7 * 86400.0, description="PriorityDecayHalfLife")
    favor_small: bool = Field(False, description="PriorityFavorSmall")


class Scheduler(BaseModel):
    """slurm.conf's ``SchedulerParameters`` that time a replay's starts
    (:mod:`hpcsched.policies.slurm_sched`); slurm.conf(5)'s defaults."""

    model_config = ConfigDict(extra="forbid")

    bf_interval: float = Field(30.0, gt=0, le=10800, description="bf_interval, seconds")
    bf_resolution: float = Field(60.0, gt=0, le=3600, description="bf_resolution, seconds")


class Site(BaseModel):
    """A site's submission policy: what a job may ask for, what it costs, how the queue runs."""

    model_config = ConfigDict(extra="forbid")

    name: str = "site"
    policy: str = Field("easy", description="the hpcsched policy that models the scheduler")
    walltime_granularity: Seconds = 60.0
    memory_granularity: Bytes = 1024 * 1024
    default_mem_per_cpu: Bytes | None = None
    max_chain_parts: int = Field(10, gt=0, le=1000)
    partitions: dict[str, Partition] = Field(min_length=1)
    qos: dict[str, Qos] = Field(min_length=1)
    default_qos: str | None = None
    charge_unit: str = Field(
        "SU", min_length=1, max_length=20, description="what a charge is counted in (SU, core-h)"
    )
    priority: Priority | None = Field(None, description="PriorityType=priority/multifactor")
    scheduler: Scheduler | None = Field(None, description="SchedulerType=sched/backfill")

    @model_validator(mode="after")
    def _consistent(self) -> Site:
        if self.walltime_granularity % 60:
            raise Misfit(("walltime_granularity",), "must be whole minutes (Slurm limits are)")
        defaults = [n for n, p in self.partitions.items() if p.default]
        if len(defaults) > 1:
            where = ("partitions", defaults[1], "default")
            raise Misfit(where, f"partitions {defaults} all say default: true; keep one")
        if self.default_qos is not None and self.default_qos not in self.qos:
            raise Misfit(
                ("default_qos",), f"{self.default_qos!r} is not among qos: {self.qos_names}"
            )
        for name, part in self.partitions.items():
            unknown = [q for q in part.qos or [] if q not in self.qos]
            if unknown:
                where = ("partitions", name, "qos")
                raise Misfit(where, f"unknown QoS {unknown}; known: {self.qos_names}")
            try:
                nodes = part.node_names
            except ValueError as exc:
                raise Misfit(("partitions", name, "nodes"), str(exc)) from None
            if not nodes:
                raise Misfit(("partitions", name, "nodes"), f"{part.nodes!r} names no node")
        from hpcsched.policies.registry import get_policy

        try:
            get_policy(self.policy)
        except ValueError as exc:
            raise Misfit(("policy",), str(exc)) from None
        return self

    @property
    def qos_names(self) -> str:
        return ", ".join(self.qos)

    @property
    def default_partition(self) -> str:
        return next(
            (n for n, p in self.partitions.items() if p.default), next(iter(self.partitions))
        )

    @property
    def default_qos_name(self) -> str:
        return self.default_qos or ("normal" if "normal" in self.qos else next(iter(self.qos)))

    def pools(self) -> dict[str, frozenset[str]]:
        """Partition -> every node it can compete for (partitions sharing nodes, transitively)."""
        sets = {name: frozenset(p.node_names) for name, p in self.partitions.items()}
        groups: list[set[str]] = []
        for nodes in sets.values():
            merged = set(nodes)
            for group in [g for g in groups if g & merged]:
                merged |= group
                groups.remove(group)
            groups.append(merged)
        return {
            name: frozenset(next(g for g in groups if nodes <= g)) for name, nodes in sets.items()
        }


class SiteError(ValueError):
    """A site file that cannot be used; ``str(err)`` is ``FILE:LINE: what; what to do``."""


def _line_of(root: Node, loc: tuple[int | str, ...]) -> int:
    """The line of the deepest YAML node along pydantic's ``loc``."""
    node = root
    line = node.start_mark.line + 1
    for key in loc:
        if isinstance(node, MappingNode):
            pairs = {k.value: (k, v) for k, v in node.value if isinstance(k, ScalarNode)}
            if str(key) not in pairs:
                break
            key_node, node = pairs[str(key)]
            line = key_node.start_mark.line + 1
        elif isinstance(node, SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load_site(path: str | Path) -> Site:
    """Read and check a site file; raise :class:`SiteError` with ``file:line`` on any mistake."""
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteError(f"cannot read {p}: {exc.__class__.__name__} (check the path)") from None
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            check_tree(root)  # duplicate keys, alias bombs: refused before anything is built
        data = loader.construct_document(root) if root is not None else None
    except YamlRefusal as exc:
        raise SiteError(f"{p}:{exc.line}: {exc.what}; {exc.fix}") from None
    except RecursionError:
        raise SiteError(f"{p}: nested too deeply; flatten the document") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise SiteError(f"{p}: {exc}; write a smaller number") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        what = str(exc.problem)
        if exc.context_mark and mark and exc.context_mark.line != mark.line:
            what += f" (started at line {exc.context_mark.line + 1})"
        raise SiteError(
            f"{p}{line}: YAML syntax error: {what}; check indentation, quotes and colons"
        ) from None
    except yaml.YAMLError as exc:
        what = str(exc).splitlines()[0]
        raise SiteError(f"{p}: not YAML text ({what}); save it as UTF-8") from None
    finally:
        loader.dispose()
    if root is None or not isinstance(data, dict):
        raise SiteError(f"{p}:1: a site file is a mapping with partitions: and qos:; see --help")
    try:
        return Site.model_validate(data)
    except Misfit as exc:
        field = ".".join(str(k) for k in exc.loc)
        raise SiteError(
            f"{p}:{_line_of(root, exc.loc)}: {field}: {exc}; fix it (see examples/site-local.yaml)"
        ) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        field = ".".join(str(k) for k in loc) or "site"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SiteError(
            f"{p}:{_line_of(root, loc)}: {field}: {message}; fix it (see examples/site-local.yaml)"
        ) from None
