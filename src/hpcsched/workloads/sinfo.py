"""``sinfo --json``: the machine a job table ran on (its nodes and their processors).

Slurm's REST/JSON node records (https://slurm.schedmd.com/rest_api.html, ``nodes[].name`` and
``nodes[].cpus``, the same in data_parser v0.0.38 to v0.0.41) give the machine size that a
``sacct`` dump cannot: sacct names only the nodes some job ran on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Machine:
    """The nodes ``sinfo`` listed and their processors in all."""

    nodes: tuple[str, ...]
    cpus: int


def read_sinfo(path: str | Path) -> Machine:
    """The machine of a ``sinfo --json`` file; a ValueError of one line when it is not one."""
    where = str(path)
    try:
        document = json.loads(Path(path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{where}: cannot read it as sinfo --json ({exc})") from None
    records = document.get("nodes") if isinstance(document, dict) else None
    if not isinstance(records, list) or not records:
        raise ValueError(f"{where}: no 'nodes' list; write it with `sinfo --json`")
    names: dict[str, int] = {}  # a node in several partitions can be listed more than once
    for index, node in enumerate(records):
        name = node.get("name") if isinstance(node, dict) else None
        cpus = node.get("cpus") if isinstance(node, dict) else None
        if not isinstance(name, str) or type(cpus) is not int or cpus < 0:
            raise ValueError(f"{where}: nodes[{index}] has no name or no whole number of cpus")
        names[name] = cpus
    return Machine(tuple(names), sum(names.values()))
