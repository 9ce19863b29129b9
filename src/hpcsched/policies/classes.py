"""Priority classes from a rule (0 is the highest class).

Rules, as written on the command line:

- ``size`` or ``size:90,80`` — job-size percentiles (the PriorityBF paper): jobs above the 90th
  percentile of nodes (processors when the table has no node counts) are class 0, jobs below the
  80th are class 2, the rest class 1.
- ``column:NAME`` — an integer column of the job table.
- ``user:alice,bob`` (also ``partition:``, ``qos:``, ``account:``) — listed values are class 0,
  the rest class 1; ``qos:high=0,normal=1,low=2`` maps values to classes, others get the next one.
"""

from __future__ import annotations

import polars as pl

LIST_FIELDS = ("user", "partition", "qos", "account")


def _size_column(table: pl.DataFrame) -> str:
    if "nodes" in table.columns and table["nodes"].null_count() < table.height:
        return "nodes"
    return "cpus"


def assign_classes(table: pl.DataFrame, rule: str) -> pl.Series:
    """The ``priority_class`` column (Int32) that ``rule`` gives ``table``."""
    kind, _, arg = rule.partition(":")
    kind = kind.strip()
    if kind == "size":
        high, low = (90.0, 80.0)
        if arg:
            parts = [float(p) for p in arg.split(",")]
            if len(parts) != 2 or not 0 <= parts[1] <= parts[0] <= 100:
                raise ValueError(
                    f"size rule {rule!r}: give size:HIGH,LOW with 0 <= LOW <= HIGH <= 100"
                )
            high, low = parts
        size = table[_size_column(table)].cast(pl.Float64)
        p_high = size.quantile(high / 100, interpolation="linear")
        p_low = size.quantile(low / 100, interpolation="linear")
        classes = pl.select(
            pl.when(size > p_high).then(0).when(size < p_low).then(2).otherwise(1)
        ).to_series()
        return classes.cast(pl.Int32).alias("priority_class")
    if kind == "column":
        if arg not in table.columns:
            raise ValueError(f"class rule {rule!r}: the table has no column {arg!r}")
        return table[arg].cast(pl.Int32).fill_null(0).alias("priority_class")
    if kind in LIST_FIELDS:
        if not arg:
            raise ValueError(
                f"class rule {rule!r}: list the values, e.g. {kind}:a,b or {kind}:a=0,b=1"
            )
        mapping: dict[str, int] = {}
        for item in arg.split(","):
            value, _, cls = item.partition("=")
            mapping[value.strip()] = int(cls) if cls else 0
        default = max(mapping.values()) + 1
        values = table[kind].cast(pl.String)
        return (
            values.replace_strict(mapping, default=default, return_dtype=pl.Int32)
            .fill_null(default)
            .alias("priority_class")
        )
    if kind == "bottom-level":
        raise ValueError(
            "class rule 'bottom-level' needs a workflow's DAG; give a WfCommons instance, a "
            "workflow YAML or an exported run with depends"
        )
    raise ValueError(
        f"unknown class rule {rule!r}; use size[:90,80], column:NAME, or "
        + ", ".join(f"{f}:..." for f in LIST_FIELDS)
    )


#: the class rule ``simulate`` and ``compare`` use unless told otherwise (PriorityBF's own)
DEFAULT_CLASSES = "size"


def describe_classes(table: pl.DataFrame, rule: str) -> str:
    """One line saying what the classes of ``rule`` are on ``table`` (for tables and JSON)."""
    kind, _, arg = rule.partition(":")
    kind = kind.strip()
    if kind == "size":
        high, low = (float(p) for p in arg.split(",")) if arg else (90.0, 80.0)
        column = _size_column(table)
        size = table[column].cast(pl.Float64)
        p_high = size.quantile(high / 100, interpolation="linear")
        p_low = size.quantile(low / 100, interpolation="linear")
        return (
            f"size: class 0 = more than {p_high:g} {column} (P{high:g}), class 2 = fewer than "
            f"{p_low:g} (P{low:g}), class 1 between"
        )
    if kind == "column":
        return f"column {arg}: its integer value is the class"
    return (
        f"{kind}: "
        + ", ".join(
            f"{item.partition('=')[0].strip()} = class {item.partition('=')[2] or 0}"
            for item in arg.split(",")
        )
        + ", others the next class"
    )
