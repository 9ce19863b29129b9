"""Slurm partitions as the separate pools of a replay.

A job runs only in its partition, so a replay of a Slurm table keeps each partition's capacity
apart. Partitions that share nodes compete for them, and are merged (transitively) into one pool,
as :meth:`hpcsched.advise.site.Site.pools` does for advice: the pool is the set of nodes, its
size the nodes (``unit="nodes"``) or their processors (``unit="cpus"``) it holds.

Where the nodes come from:

- a site file (``partitions.<name>.nodes`` and ``cpus_per_node``): :func:`pools_from_site`;
- the table itself, from sacct's ``NodeList`` (``sacct_nodelist``): every node a job of the
  partition ran on; this knows nodes, not their processors, so it serves ``unit="nodes"`` only:
  :func:`pools_from_nodelist`;
- ``sinfo`` (``node|partition|cpus`` rows, read by the ``slurm`` adapter): :func:`pools_from_sinfo`.

The engine sees one resource dimension per pool: a job asks for its units in its pool's
dimension and for nothing in the others, so the one capacity rule keeps every pool within its
size, and a reservation in one pool never holds back another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from hpcsched.advise.site import Site
from hpcsched.core.hostlist import expand_hostlist

#: partition -> {node: processors}; processors unknown (NodeList) are 0
Members = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class Pools:
    """The pools of a replay: names (partitions joined by ``+``), sizes in ``unit``, and the pool
    index of each partition."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    of_partition: Mapping[str, int]
    unit: str

    def describe(self) -> str:
        """``batch+debug 8 cpus, gpu 2 nodes``: what the user is told the replay ran on."""
        return ", ".join(
            f"{n} {s} {self.unit}" for n, s in zip(self.names, self.sizes, strict=True)
        )


def make_pools(members: Members, unit: str) -> Pools:
    """Merge partitions that share nodes; size each pool in ``unit``."""
    groups: list[tuple[set[str], set[str]]] = []  # (partitions, nodes)
    for name, nodes in members.items():
        parts, merged = {name}, set(nodes)
        for group in [g for g in groups if g[1] & merged]:
            parts |= group[0]
            merged |= group[1]
            groups.remove(group)
        groups.append((parts, merged))
    cpus: dict[str, int] = {}
    for nodes in members.values():
        for node, count in nodes.items():
            cpus[node] = max(cpus.get(node, 0), count)
    groups.sort(key=lambda g: sorted(g[0]))
    if unit == "cpus" and any(cpus[n] <= 0 for _, nodes in groups for n in nodes):
        raise ValueError(
            "the partitions' node processors are unknown (NodeList names nodes only); "
            "replay with --unit nodes, or give --site SITE.yaml"
        )
    sizes = tuple(
        len(nodes) if unit == "nodes" else sum(cpus[n] for n in nodes) for _, nodes in groups
    )
    names = tuple("+".join(sorted(parts)) for parts, _ in groups)
    of_partition = {p: i for i, (parts, _) in enumerate(groups) for p in parts}
    return Pools(names, sizes, of_partition, unit)


def pools_from_site(site: Site, unit: str) -> Pools:
    return make_pools(
        {
            name: dict.fromkeys(part.node_names, part.cpus_per_node)
            for name, part in site.partitions.items()
        },
        unit,
    )


def pools_from_nodelist(table: pl.DataFrame, unit: str) -> Pools:
    """Every node each partition's jobs ran on (sacct ``NodeList``); nodes only."""
    if "sacct_nodelist" not in table.columns:
        raise ValueError(
            "the table has no NodeList (sacct_nodelist): convert sacct output with NodeList, "
            "or give --site SITE.yaml"
        )
    members: dict[str, dict[str, int]] = {}
    pairs = table.select("partition", "sacct_nodelist").drop_nulls().unique()
    for partition, hostlist in pairs.iter_rows():
        if hostlist in ("", "None assigned", "(null)"):
            continue
        members.setdefault(partition, {}).update(dict.fromkeys(expand_hostlist(hostlist), 0))
    if not members:
        raise ValueError("no job's NodeList names a node; give --site SITE.yaml")
    return make_pools(members, unit)


def pools_from_sinfo(rows: Iterable[Mapping[str, str]], unit: str) -> Pools:
    """``sinfo --Node`` rows (``node``, ``partition``, ``cpus``) as the slurm adapter reads them."""
    members: dict[str, dict[str, int]] = {}
    for row in rows:
        members.setdefault(row["partition"], {})[row["node"]] = int(row["cpus"] or 0)
    if not members:
        raise ValueError("sinfo lists no nodes")
    return make_pools(members, unit)
