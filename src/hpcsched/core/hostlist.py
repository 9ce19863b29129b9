"""Slurm hostlists (``n[1-4]``, ``gpu[01-02,7],login1``) expanded into node names.

The syntax is Slurm's (https://slurm.schedmd.com/hostlist.html, ``scontrol show hostnames``):
comma-separated names, each with bracket groups of numbers and ranges that keep their zero
padding. A list is sized before it is expanded, so ``n[1-100000000]`` is refused, not listed.
Used by the site policy (a partition's ``Nodes=``) and by the analytics (the distinct nodes a
``sacct`` NodeList names).
"""

from __future__ import annotations

import re
from typing import Final

#: The most names one hostlist may expand to (the largest machines have ~10^5 nodes).
MOST_NODES: Final = 1_000_000

_ITEM = re.compile(r"[^,\[]*(?:\[[^\]]*\][^,\[]*)*")
_NUMBER = re.compile(r"[0-9]{1,18}")


def _ranges(text: str, spec: str) -> list[tuple[str, str]]:
    """(low, high) of each part of a bracket group, checked to be ASCII numbers."""
    out = []
    for part in spec.split(","):
        low, _, high = part.partition("-")
        if not _NUMBER.fullmatch(low) or (high and not _NUMBER.fullmatch(high)):
            raise ValueError(f"{text[:60]!r} is not a Slurm hostlist (e.g. n[1-4],gpu[01-02])")
        out.append((low, high or low))
    return out


def hostlist_size(text: str) -> int:
    """How many names :func:`expand_hostlist` would give, computed without expanding."""
    total = 0
    for item in filter(None, (i.strip() for i in _ITEM.findall(text))):
        count = 1
        for spec in re.findall(r"\[([^\]]*)\]", item):
            count *= sum(max(int(high) - int(low) + 1, 0) for low, high in _ranges(text, spec))
        total += count
    return total


def expand_hostlist(text: str, limit: int = MOST_NODES) -> list[str]:
    """Node names in a Slurm hostlist: ``n[1-4]``, ``gpu[01-02,7],login1``; a list of more
    than ``limit`` names is refused before anything is expanded (``n[1-100000000]`` is sized,
    not listed)."""
    if (size := hostlist_size(text)) > limit:
        raise ValueError(f"{text[:60]!r} names {size:,} nodes, more than {limit:,}")
    return _expand(text)


def _expand(text: str) -> list[str]:
    names: list[str] = []
    for item in filter(None, (i.strip() for i in _ITEM.findall(text))):
        match = re.match(r"([^\[]*)\[([^\]]*)\](.*)", item)
        if match is None:
            names.append(item)
            continue
        prefix, ranges, rest = match.groups()
        for low, high in _ranges(text, ranges):
            for number in range(int(low), int(high) + 1):
                names += _expand(f"{prefix}{number:0{len(low)}d}{rest}")
    return names
