"""Field parsers for ``sacct`` output: units, durations, times, JobIDs, TRES and hostlists.

Each field kind has one regular expression (:data:`PATTERNS`) that says which printed values are
valid (empty included); the bulk reader checks columns with it in Polars and
:func:`bad_value` uses the same pattern to name the first bad field of a rejected line. The
value parsers below assume the value passed that check. Formats follow the sacct man page
(https://slurm.schedmd.com/sacct.html) and Slurm's ``convert_num_unit``/``secs2time_str``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Final

import polars as pl

from hpcsched.slurm.states import SLURM_JOB_STATES

_NUM: Final = r"\d+(?:\.\d+)?"
_HOST: Final = r"[A-Za-z0-9_.\-]+(?:\[[0-9,\-]+\][A-Za-z0-9_.\-]*)*"
#: Printed JobIDs: ``123``, array task ``123_4``, pending array ``123_[1-10%5]``, het component
#: ``123+0``, then an optional step ``.batch``/``.extern``/``.interactive``/``.TBD``/``.N``
#: with an optional het component (``123.0+1``).
JOBID_PATTERN: Final = r"^\d+(?:_(?:\d+|\[[0-9,%:\-]+\]))?(?:\+\d+)?(?:\.[A-Za-z0-9]+(?:\+\d+)?)?$"
_DATE: Final = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"
_DURATION: Final = r"^(?:(?P<d>\d+)-)?(?:(?P<h>\d+):)?(?P<m>\d+):(?P<s>\d+(?:\.\d+)?)$"

#: Field kind -> valid printed values (the empty string is always valid: steps leave fields blank).
PATTERNS: Final[dict[str, str]] = {
    "jobid": JOBID_PATTERN,
    # %FT%T, or epoch seconds (SLURM_TIME_FORMAT=%s); Unknown = not yet, None = never
    "time": rf"^(?:{_DATE}|\d+|Unknown|None)?$",
    # [D-]HH:MM:SS, MM:SS, MM:SS.mmm (CPU times); INVALID = negative; limits may be unlimited
    "duration": r"^(?:(?:\d+-)?(?:\d+:)?\d+:\d+(?:\.\d+)?|INVALID|UNLIMITED|Partition_Limit)?$",
    "seconds": r"^(?:-?\d+|INVALID)?$",
    "minutes": r"^(?:\d+|UNLIMITED|Partition_Limit|INVALID)?$",
    "count": rf"^(?:{_NUM}[KMGTPE]?)?$",
    "memory": rf"^(?:{_NUM}[KMGTPE]?[nc]?)?$",
    "exit": r"^(?:\d+:\d+)?$",
    "tres": r"^(?:[^=,]+=[^=,]*(?:,[^=,]+=[^=,]*)*)?$",
    "hostlist": rf"^(?:{_HOST}(?:,{_HOST})*|None assigned|\(null\))?$",
}
WHAT: Final[dict[str, str]] = {
    "jobid": "a JobID",
    "time": "a time (YYYY-MM-DDTHH:MM:SS)",
    "duration": "a duration ([D-]HH:MM:SS)",
    "seconds": "a number of seconds",
    "minutes": "a number of minutes",
    "count": "a count",
    "memory": "a memory size",
    "exit": "an exit code (status:signal)",
    "tres": "a TRES list (type=value,...)",
    "hostlist": "a hostlist",
}
#: sacct field (lower case) -> kind, for the fields the job table is computed from.
FIELD_KINDS: Final[dict[str, str]] = {
    "jobid": "jobid",
    "jobidraw": "jobid",
    **dict.fromkeys(("submit", "start", "end", "eligible"), "time"),
    **dict.fromkeys(("elapsed", "timelimit"), "duration"),
    "elapsedraw": "seconds",
    "timelimitraw": "minutes",
    **dict.fromkeys(
        ("nnodes", "allocnodes", "reqnodes", "ncpus", "alloccpus", "reqcpus", "maxrss"), "count"
    ),
    "reqmem": "memory",
    "exitcode": "exit",
    **dict.fromkeys(("alloctres", "reqtres"), "tres"),
    "nodelist": "hostlist",
}
_COMPILED: Final = {kind: re.compile(p) for kind, p in PATTERNS.items()}
#: 1024-based suffixes (Slurm's convert_num_unit); the suffix is absolute, a bare number is
#: in the field's own unit (bytes for MaxRSS, MB for ReqMem and TRES mem, 1 for counts).
_UNIT_POWER: Final = {"K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
MB: Final = 1024.0**2
NULL_HOSTLISTS: Final = ("", "None assigned", "(null)")


def bad_value(kind: str, value: str) -> bool:
    """True when ``value`` is not a valid printed value of this kind (the scalar twin of the
    vectorised checks)."""
    if not _COMPILED[kind].match(value):
        return True
    if kind == "time" and re.fullmatch(_DATE, value):
        try:
            datetime.strptime(value, "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return True
    return kind == "hostlist" and value not in NULL_HOSTLISTS and hostlist_count(value) is None


def valid_expr(col: pl.Expr, kind: str) -> pl.Expr:
    """Vectorised :func:`bad_value` negated (times and hostlists are finished by the callers)."""
    return col.str.contains(PATTERNS[kind])


def size_expr(col: pl.Expr, bare_unit: float) -> pl.Expr:
    """``2K`` -> 2048 x the suffix's unit; a bare number x ``bare_unit`` (Float64, null if
    empty). The ``n``/``c`` of legacy ReqMem is skipped here (see :func:`per_expr`). String
    slicing, not a regular expression: this runs on every step's MaxRSS."""
    body = pl.when(col.str.tail(1).is_in(["n", "c"])).then(col.str.head(-1)).otherwise(col)
    power = body.str.tail(1).replace_strict(_UNIT_POWER, default=None, return_dtype=pl.Float64)
    number = pl.when(power.is_null()).then(body).otherwise(body.str.head(-1))
    scale = pl.when(power.is_null()).then(pl.lit(bare_unit)).otherwise(pl.lit(1024.0).pow(power))
    return number.cast(pl.Float64, strict=False) * scale


def per_expr(col: pl.Expr) -> pl.Expr:
    """Legacy ReqMem suffix (before Slurm 21.08): ``n`` per node, ``c`` per CPU, else ""."""
    last = col.str.tail(1)
    return pl.when(last.is_in(["n", "c"])).then(last).otherwise(pl.lit(""))


def count_expr(col: pl.Expr) -> pl.Expr:
    """A count printed with units (``1.50K`` = 1536 nodes) as Int64."""
    return size_expr(col, 1.0).round().cast(pl.Int64)


def duration_expr(col: pl.Expr) -> pl.Expr:
    """``[D-]HH:MM:SS``, ``MM:SS`` or ``MM:SS.mmm`` -> seconds (Float64); anything else null."""
    g = col.str.extract_groups(_DURATION)

    def part(name: str) -> pl.Expr:
        return g.struct.field(name).cast(pl.Float64)

    return (
        part("d").fill_null(0.0) * 86400.0
        + part("h").fill_null(0.0) * 3600.0
        + part("m") * 60.0
        + part("s")
    )


def time_expr(col: pl.Expr, tz: str) -> pl.Expr:
    """Epoch seconds of a time printed in zone ``tz`` (``%FT%T`` or epoch digits), else null.

    sacct prints times in the local zone of the machine that ran it, without saying which; the
    caller knows. Ambiguous local times (the hour repeated when clocks go back) take the earlier
    instant; times that do not exist in ``tz`` are null (and the row is reported).
    """
    parsed = col.str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False)
    if tz != "UTC":
        parsed = parsed.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    epoch = parsed.dt.epoch("us").cast(pl.Float64) / 1e6
    return (
        pl.when(col.str.contains(r"^\d+$"))
        .then(col.cast(pl.Float64, strict=False))
        .otherwise(epoch)
    )


def tres_expr(col: pl.Expr, key: str) -> pl.Expr:
    """The printed value of one TRES in a ``type[/name]=value,...`` list (null if absent)."""
    return col.str.extract(rf"(?:^|,){re.escape(key)}=([^,]*)")


def tres_gpus_expr(col: pl.Expr) -> pl.Expr:
    """GPUs in a TRES list: ``gres/gpu=N``; else the sum of typed ``gres/gpu:<type>=N``; else 0
    for a non-empty list and null for an empty one."""
    plain = count_expr(tres_expr(col, "gres/gpu"))
    typed = col.str.extract_all(r"(?:^|,)gres/gpu:[^=,]+=[0-9.]+[KMGTPE]?")
    typed_sum = typed.list.eval(count_expr(pl.element().str.extract(r"=(.*)$"))).list.sum()
    return pl.when(col == "").then(None).otherwise(plain.fill_null(typed_sum))


def gres_gpus_expr(col: pl.Expr) -> pl.Expr:
    """GPUs in a legacy AllocGRES/ReqGRES value (``gpu:2``, ``gpu:v100:2(IDX:0-1)``)."""
    counts = col.str.extract_all(r"gpu(?::[^:,(]+)?:\d+")
    total = counts.list.eval(pl.element().str.extract(r":(\d+)$").cast(pl.Int64)).list.sum()
    return pl.when(col == "").then(None).otherwise(total)


# --- hostlists -------------------------------------------------------------------------------

_ENTRY = re.compile(r"[^,\[]*(?:\[[^\]]*\][^,\[]*)*")
_GROUP = re.compile(r"\[([^\]]*)\]")


def range_count(spec: str) -> int | None:
    """Items in a range list: ``1-3,5`` -> 4; array specs may add ``:step`` and ``%limit``."""
    total = 0
    for item in spec.split("%", 1)[0].split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", item)
        if not match:
            return None
        low, high, step = match.group(1), match.group(2), match.group(3) or "1"
        if high is None:
            total += 1
        elif int(high) < int(low) or int(step) < 1:
            return None
        else:
            total += (int(high) - int(low)) // int(step) + 1
    return total


def hostlist_count(text: str) -> int | None:
    """Hosts in a Slurm hostlist (``n[1-3,5]`` -> 4, ``n[1-2],gpu[3-4]`` -> 4, ``a[1-2]b[1-3]``
    -> 6); null for ``None assigned`` and for text that is not a hostlist."""
    if text in NULL_HOSTLISTS or not _COMPILED["hostlist"].match(text):
        return None
    total = 0
    for entry in _ENTRY.findall(text):
        if not entry:
            continue
        hosts = 1
        for spec in _GROUP.findall(entry):
            count = range_count(spec)
            if count is None:
                return None
            hosts *= count
        total += hosts
    return total


def hostlist_counts(nodelists: pl.Series) -> pl.Series:
    """:func:`hostlist_count` over a column: vectorised for the usual one bracket group per
    host name, in Python for the rest (several groups in one name, reversed ranges)."""
    s = pl.col("s")
    groups = s.str.extract_all(r"\[[^\]]*\]")
    items = groups.list.join(",").str.replace_all(r"[\[\]]", "").str.split(",")
    item = pl.element()
    low = item.str.extract(r"^(\d+)").cast(pl.Int64)
    high = item.str.extract(r"-(\d+)$").cast(pl.Int64)
    plain = item.str.contains(r"^\d+(?:-\d+)?$")
    sizes = pl.when(~plain).then(0).when(high.is_null()).then(1).otherwise(high - low + 1)
    outside = s.str.replace_all(r"\[[^\]]*\]", "")
    count = (
        outside.str.count_matches(",", literal=True)
        + 1
        - groups.list.len()
        + items.list.eval(sizes).list.sum()
    )
    odd = s.str.contains(r"\][^,\[]*\[") | (
        (groups.list.len() > 0) & items.list.eval(~plain | sizes.lt(1)).list.any()
    )
    frame = pl.DataFrame({"s": nodelists.fill_null("")}).select(
        s,
        pl.when(s.is_in(NULL_HOSTLISTS) | ~s.str.contains(PATTERNS["hostlist"]))
        .then(None)
        .otherwise(count)
        .cast(pl.Int64)
        .alias("n"),
        odd.alias("odd"),
    )
    result = frame["n"]
    slow = frame["odd"].fill_null(False)
    if slow.any():
        fixed = [hostlist_count(text) for text in frame.filter(slow)["s"].to_list()]
        result = result.scatter(slow.arg_true(), pl.Series(fixed, dtype=pl.Int64))
    return result.alias(nodelists.name)


def backfilled_expr(flags: pl.Expr) -> pl.Expr:
    """``SchedBackfill`` -> True; ``SchedMain``/``SchedSubmit`` -> False; else null."""
    return (
        pl.when(flags.str.contains("SchedBackfill", literal=True))
        .then(True)
        .when(flags.str.contains("Sched(?:Main|Submit)"))
        .then(False)
    )


# --- job and step rows -> job-table columns --------------------------------------------------

#: Fields whose whole content is in a job-table column; every other field is kept as text.
CAPTURED: Final = frozenset(
    re.split(
        r"\s+",
        "jobid jobidraw jobname user account partition qos submit start end eligible elapsed "
        "elapsedraw timelimit timelimitraw nnodes ncpus state exitcode reason workdir nodelist "
        "maxrss",
    )
)
#: Pre-23.02 names -> current names (README pitfall 13).
RENAMED: Final = {"reserved": "planned", "resvcpu": "plannedcpu", "resvcpuraw": "plannedcpuraw"}
#: Slurm state -> canonical state: the one table is :data:`hpcsched.slurm.states.SLURM_JOB_STATES`
#: (sacct man page, JOB STATE CODES: https://slurm.schedmd.com/sacct.html#SECTION_JOB-STATE-CODES).
STATE_CODES: Final = {name: canonical for name, (_, canonical) in SLURM_JOB_STATES.items()}
_TIMES: Final = ("submit", "start", "end", "eligible")
#: Kept fields whose values come from a small set (ids, codes, flags, requests, never a path or
#: free text): stored as ``pl.Categorical`` (4 bytes a row instead of a 16-byte string view;
#: ~0.3 GB less for a 1M-job dump). Fields ``sacct --json`` also gives stay text, so the two
#: readers' tables keep one type per column.
CATEGORIES: Final = frozenset(
    re.split(
        r"\s+",
        "uid gid qosreq qosraw restarts reservation reservationid constraints layout failednode "
        "derivedexitcode flags suspended reqtres alloctres reqmem allocnodes reqnodes reqcpus "
        "alloccpus ntasks reqgres allocgres wckey wckeyid",
    )
)


def _seconds(col: pl.Expr) -> pl.Expr:
    value = col.cast(pl.Float64, strict=False)
    return pl.when(value >= 0).then(value)  # negative (clock skew) -> unknown


def state_expr(col: pl.Expr) -> pl.Expr:
    """``COMPLETED`` -> ``completed``, ``CANCELLED by 0`` -> ``cancelled``; else ``unknown``."""
    code = col.str.extract(r"^\s*([A-Za-z_]+)").str.to_uppercase()
    return code.replace_strict(STATE_CODES, default="unknown", return_dtype=pl.String)


def array_tasks(keys: pl.Series) -> pl.Series:
    """Tasks a job row stands for: 1 for ``123_4``, the range size for ``123_[1-10%5]``."""
    ranges = keys.str.extract(r"^\d+_\[([^\]]*)\]$")
    sizes = {r: range_count(r) for r in ranges.drop_nulls().unique().to_list()}
    single = keys.str.contains(r"^\d+_\d+").cast(pl.Int64).replace(0, None)
    return ranges.replace_strict(sizes, default=None, return_dtype=pl.Int64).fill_null(single)


def job_columns(
    jobs: pl.DataFrame, index: dict[str, str], names: list[str], tz: str
) -> pl.DataFrame:
    """Job-table columns, ``sacct_*`` extras and ``_ok`` (every checked field is valid) of the
    job rows of a ``sacct -P`` read; the tokenised ``f<i>`` columns stay for error messages.

    ``index`` maps lower-case field names to ``f<i>`` columns. Each value comes from the first
    present field of its list; the later ones are only parsed while rows are still null.
    """
    deferred: dict[str, tuple[str, pl.Expr]] = {}
    distinct_values: dict[str, pl.Series] = {}

    def get(name: str) -> pl.Expr | None:
        return pl.col(index[name]) if name in index else None

    def count(name: str) -> list[pl.Expr | None]:  # plain integers first, then units (1.50K)
        col = get(name)
        return [] if col is None else [col.cast(pl.Int64, strict=False), count_expr(col)]

    def parse(name: str, fn: Callable[[pl.Expr], pl.Expr]) -> list[pl.Expr | None]:
        col = get(name)
        return [] if col is None else [fn(col)]

    def distinct(name: str, **fns: Callable[[pl.Expr], pl.Expr]) -> list[pl.Expr | None]:
        """Columns parsed once per distinct value (TRES lists, node lists and ReqMem repeat a
        lot), added when first needed."""
        if name not in index:
            return [None] * len(fns)
        for key, fn in fns.items():
            deferred[f"_{name}_{key}"] = (index[name], fn(pl.col(index[name])))
        return [pl.col(f"_{name}_{key}") for key in fns]

    def needing(frame: pl.DataFrame, exprs: list[pl.Expr]) -> pl.DataFrame:
        added = []
        for root in {r for e in exprs for r in e.meta.root_names()}:
            if root in deferred and root not in frame.columns:
                col, expr = deferred[root]
                if col not in distinct_values:
                    distinct_values[col] = frame[col].unique()
                parsed = distinct_values[col].to_frame().select(pl.col(col), expr.alias(root))
                old, new = parsed[col], parsed[root]
                added.append(pl.col(col).replace_strict(old, new, default=None).alias(root))
        return frame.with_columns(added) if added else frame

    def allocated(*exprs: pl.Expr | None) -> list[pl.Expr | None]:
        """Allocation counts with 0 as missing, so the request fills in (as sacct --json's
        empty allocated TRES does)."""
        return [None if e is None else pl.when(e > 0).then(e) for e in exprs]

    tres = {
        "node": lambda c: count_expr(tres_expr(c, "node")),
        "cpu": lambda c: count_expr(tres_expr(c, "cpu")),
        "gpus": tres_gpus_expr,
        "mem": lambda c: size_expr(tres_expr(c, "mem"), MB),
    }
    a_node, a_cpu, a_gpus, _ = distinct("alloctres", **tres)
    r_node, r_cpu, r_gpus, r_mem = distinct("reqtres", **tres)
    mem, per = distinct("reqmem", bytes=lambda c: size_expr(c, MB), per=per_expr)
    (hosts,) = distinct("nodelist", n=lambda c: c.map_batches(hostlist_counts, pl.Int64()))
    plan: dict[str, list[pl.Expr | None]] = {
        "job_id": [get("jobid"), get("jobidraw")],
        "_key": [get("jobid"), get("jobidraw"), pl.format("line {}", "_line")],
        "user": [get("user"), get("uid")],
        **{n: [get(n)] for n in ("account", "partition", "qos", "reason", "workdir")},
        "name": [get("jobname")],
        **{n: parse(n, lambda c: time_expr(c, tz)) for n in _TIMES},
        "runtime": [*parse("elapsedraw", _seconds), *parse("elapsed", duration_expr)],
        "timelimit": [
            *parse("timelimitraw", lambda c: c.cast(pl.Float64, strict=False) * 60.0),
            *parse("timelimit", duration_expr),
        ],
        # a job that never started has NCPUS/AllocNodes 0: the request is then what it asked for
        "nodes": [
            *allocated(*count("nnodes"), *count("allocnodes"), a_node, hosts),
            *count("reqnodes"),
            r_node,
        ],
        "cpus": [*allocated(*count("ncpus"), *count("alloccpus"), a_cpu), *count("reqcpus"), r_cpu],
        "gpus": [
            a_gpus,
            r_gpus,
            *parse("allocgres", gres_gpus_expr),
            *parse("reqgres", gres_gpus_expr),
        ],
        "state": parse("state", state_expr),
        "sacct_cancelled_by": parse("state", lambda c: c.str.extract(r"^CANCELLED by (\d+)")),
        "exit_code": parse("exitcode", lambda c: c.str.extract(r"^(\d+):")),
        "sacct_exit_signal": parse("exitcode", lambda c: c.str.extract(r":(\d+)$")),
        "backfilled": parse("flags", backfilled_expr),
        "_rss": parse("maxrss", lambda c: size_expr(c, 1.0)),
        "_tag": [get("submit"), pl.col("_line").cast(pl.String)],
        "sacct_job_id_raw": [get("jobidraw")],
        "sacct_nodelist": [get("nodelist")],
        "sacct_nodelist_nodes": [hosts],
    }
    present = {k: [e for e in v if e is not None] for k, v in plan.items()}
    firsts = [v[0].alias(k) if v else pl.lit(None).alias(k) for k, v in present.items()]
    out = needing(jobs, firsts).with_columns(*firsts, source=pl.lit("sacct"), sacct_line="_line")
    for name, fallbacks in present.items():
        for expr in fallbacks[1:]:
            if not out[name].has_nulls():
                break
            out = needing(out, [expr]).with_columns(pl.col(name).fill_null(expr))
    if mem is not None and per is not None:  # legacy ReqMem: n = per node, c = per CPU
        scale = pl.when(per == "n").then(pl.col("nodes")).when(per == "c").then(pl.col("cpus"))
        mem_req = mem * scale.otherwise(1).cast(pl.Float64)
        out = needing(out, [mem_req]).with_columns(mem_req=mem_req)
    else:
        out = out.with_columns(mem_req=pl.lit(None, pl.Float64))
    if r_mem is not None and out["mem_req"].has_nulls():
        out = needing(out, [r_mem]).with_columns(pl.col("mem_req").fill_null(r_mem))
    checks = [
        valid_expr(pl.col(column), kind)
        for lower, column in index.items()
        if (kind := FIELD_KINDS.get(lower)) and kind not in ("time", "hostlist")
    ]
    checks += [  # a well-formed date that is not a date (2026-13-45), or not in tz
        valid_expr(pl.col(index[n]), "time")
        & ~(pl.col(index[n]).str.contains(f"^{_DATE}$") & pl.col(n).is_null())
        for n in _TIMES
        if n in index
    ]
    if hosts is not None:
        checks.append(hosts.is_not_null() | pl.col(index["nodelist"]).is_in(NULL_HOSTLISTS))
    extras = {
        f"sacct_{lower}": pl.col(f"f{i}").cast(pl.Categorical)
        if lower in CATEGORIES
        else pl.col(f"f{i}")
        for i, name in enumerate(names)
        if (lower := RENAMED.get(name.lower(), name.lower())) not in CAPTURED
        and name != "_trailing"
        and index.get(lower) == f"f{i}"
    }
    return needing(out, checks).with_columns(
        array_id=pl.col("_key").str.extract(r"^(\d+)_").cast(pl.Int64, strict=False),
        sacct_array_tasks=array_tasks(out["_key"].fill_null("")),
        _ok=pl.all_horizontal(checks) if checks else pl.lit(True),
        **extras,
    )


def step_columns(steps: pl.DataFrame, index: dict[str, str]) -> pl.DataFrame:
    """``_key``, ``_step``, ``_rss`` (MaxRSS bytes) and ``_ok`` of the step rows."""
    ident = pl.col(index.get("jobid") or index.get("jobidraw") or "_line").cast(pl.String)
    parts = ident.str.splitn(".", 2)
    rss, ok = pl.lit(None, pl.Float64), valid_expr(ident, "jobid")
    if "maxrss" in index:
        rss = size_expr(pl.col(index["maxrss"]), 1.0)
        ok = ok & valid_expr(pl.col(index["maxrss"]), "count")
    return steps.with_columns(
        _key=parts.struct.field("field_0"),
        _step=parts.struct.field("field_1"),
        _rss=rss,
        _tag=pl.lit(None, pl.String),
        _ok=ok,
    )
