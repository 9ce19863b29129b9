"""Field parsers for ``sacct`` output: units, durations, times, JobIDs, TRES and hostlists.

Each field kind has one regular expression (:data:`PATTERNS`) that says which printed values are
valid (empty included); the bulk reader checks columns with it in Polars and
:func:`bad_value` uses the same pattern to name the first bad field of a rejected line. The
value parsers below assume the value passed that check. Formats follow the sacct man page
(https://slurm.schedmd.com/sacct.html) and Slurm's ``convert_num_unit``/``secs2time_str``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

import polars as pl

from hpcsched.core.slurm_states import SLURM_JOB_STATES
from hpcsched.workloads.sacct_lines import KERNEL

# ASCII digits only: ``\\d`` in Polars' (Rust) and Python's regular expressions also matches
# Unicode digits (``١٢٣``, ``１２３``), which sacct never prints and the number parsers do not read.
# Digit counts are bounded so every value fits its type: counts and sizes below 10^18 (int64),
# seconds, minutes and epoch times below 10^12.
_FRACTION: Final = r"(?:\.[0-9]{1,19})?"
#: A count or size with its 1024-based suffix, below 10^18 in the field's unit (int64 holds
#: 9.2 x 10^18): fewer digits the larger the suffix, so the pattern alone bounds the value.
_SIZE: Final = "|".join(
    [
        rf"[0-9]{{1,18}}{_FRACTION}",
        *(rf"[0-9]{{1,{18 - 3 * p}}}{_FRACTION}{u}" for p, u in enumerate("KMGTP", 1)),
        rf"[0-7]{_FRACTION}E",
    ]
)
_INT12: Final = r"[0-9]{1,12}"
_HOST: Final = r"[A-Za-z0-9_.\-]+(?:\[[0-9,\-]+\][A-Za-z0-9_.\-]*)*"
#: Printed JobIDs: ``123``, array task ``123_4``, pending array ``123_[1-10%5]``, het component
#: ``123+0``, then an optional step ``.batch``/``.extern``/``.interactive``/``.TBD``/``.N``
#: with an optional het component (``123.0+1``).
JOBID_PATTERN: Final = (
    r"^[0-9]{1,19}(?:_(?:[0-9]{1,19}|\[[0-9,%:\-]+\]))?(?:\+[0-9]{1,19})?"
    r"(?:\.[A-Za-z0-9]+(?:\+[0-9]{1,19})?)?$"
)
_DATE: Final = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
_DURATION: Final = (
    r"^(?:(?P<d>[0-9]{1,7})-)?(?:(?P<h>[0-9]{1,9}):)?(?P<m>[0-9]{1,9}):"
    r"(?P<s>[0-9]{1,9}(?:\.[0-9]{1,9})?)$"
)
#: Control characters no sacct field holds: C0 but tab, DEL and C1 (U+0080-U+009F). A record
#: holding one is malformed (issue 22), as terminals act on them and text outputs carry them.
CONTROL: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_TRES_ITEM: Final = r"[^=,\x00-\x1f\x7f]+=[^=,\x00-\x1f\x7f]*"  # no control characters

#: Field kind -> valid printed values (the empty string is always valid: steps leave fields blank).
PATTERNS: Final[dict[str, str]] = {
    "jobid": JOBID_PATTERN,
    # %FT%T, or epoch seconds (SLURM_TIME_FORMAT=%s); Unknown = not yet, None = never
    "time": rf"^(?:{_DATE}|{_INT12}|Unknown|None)?$",
    # [D-]HH:MM:SS, MM:SS, MM:SS.mmm (CPU times); INVALID = negative; limits may be unlimited
    "duration": (
        r"^(?:(?:[0-9]{1,7}-)?(?:[0-9]{1,9}:)?[0-9]{1,9}:[0-9]{1,9}(?:\.[0-9]{1,9})?"
        r"|INVALID|UNLIMITED|Partition_Limit)?$"
    ),
    "seconds": rf"^(?:-?{_INT12}|INVALID)?$",
    "minutes": rf"^(?:{_INT12}|UNLIMITED|Partition_Limit|INVALID)?$",
    "count": rf"^(?:{_SIZE})?$",
    "memory": rf"^(?:(?:{_SIZE})[nc]?)?$",
    "exit": r"^(?:[0-9]{1,10}:[0-9]{1,10})?$",
    "tres": rf"^(?:{_TRES_ITEM}(?:,{_TRES_ITEM})*)?$",
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
    """A count printed with units (``1.50K`` = 1536 nodes) as Int64; null when it is not a
    finite number below 2^63: NaN, ``inf`` and ``1e400`` are refused by the patterns, but the
    cast runs on the whole piece before bad rows are dropped, so it must not raise on them (a
    non-strict cast; a ``when(is_finite)`` guard cost 12 % of the read, measured)."""
    return size_expr(col, 1.0).round().cast(pl.Int64, strict=False)


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
        pl.when(col.str.contains(r"^[0-9]+$"))
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
    counts = col.str.extract_all(r"gpu(?::[^:,(]+)?:[0-9]+")
    total = counts.list.eval(pl.element().str.extract(r":([0-9]+)$").cast(pl.Int64)).list.sum()
    return pl.when(col == "").then(None).otherwise(total)


# --- hostlists -------------------------------------------------------------------------------

_ENTRY = re.compile(r"[^,\[]*(?:\[[^\]]*\][^,\[]*)*")
_GROUP = re.compile(r"\[([^\]]*)\]")
_HUGE = re.compile(r"\[[0-9,\-]*[0-9]{19}")  # a range bound of more than 18 digits
_MOST_HOSTS = 1 << 62


def range_count(spec: str) -> int | None:
    """Items in a range list: ``1-3,5`` -> 4; array specs may add ``:step`` and ``%limit``."""
    total = 0
    for item in spec.split("%", 1)[0].split(","):
        match = re.fullmatch(r"([0-9]+)(?:-([0-9]+)(?::([0-9]+))?)?", item)
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
    -> 6); null for ``None assigned``, for text that is not a hostlist, and for numbers of more
    than 18 digits or more than 2**62 hosts (the counts are 64-bit)."""
    if text in NULL_HOSTLISTS or not _COMPILED["hostlist"].match(text) or _HUGE.search(text):
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
            if hosts > _MOST_HOSTS:
                return None
        total += hosts
        if total > _MOST_HOSTS:
            return None
    return total


def hostlist_counts(nodelists: pl.Series) -> pl.Series:
    """:func:`hostlist_count` over a column: in the compiled kernel when it is built (node
    lists are nearly all distinct, so this runs on every job row), else vectorised in Polars
    (:func:`hostlist_counts_polars`)."""
    if KERNEL is None:
        return hostlist_counts_polars(nodelists)
    texts = nodelists.fill_null("").to_list()
    counts = KERNEL.hostlist_counts(texts)
    n = pl.Series(nodelists.name, counts, dtype=pl.Int64)
    return n.to_frame().select(pl.when(n >= 0).then(n).alias(n.name)).to_series()


def hostlist_counts_polars(nodelists: pl.Series) -> pl.Series:
    """:func:`hostlist_count` over a column: vectorised for the usual one bracket group per
    host name, in Python for the rest (several groups in one name, reversed ranges)."""
    s = pl.col("s")
    groups = s.str.extract_all(r"\[[^\]]*\]")
    items = groups.list.join(",").str.replace_all(r"[\[\]]", "").str.split(",")
    item = pl.element()
    low = item.str.extract(r"^([0-9]+)").cast(pl.Int64, strict=False)
    high = item.str.extract(r"-([0-9]+)$").cast(pl.Int64, strict=False)
    plain = item.str.contains(r"^[0-9]{1,18}(?:-[0-9]{1,18})?$")  # longer: Python says too many
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
#: Slurm state -> canonical state: the one table is
#: :data:`hpcsched.core.slurm_states.SLURM_JOB_STATES` (sacct man page, JOB STATE CODES:
#: https://slurm.schedmd.com/sacct.html#SECTION_JOB-STATE-CODES).
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


def state_expr(col: pl.Expr) -> pl.Expr:
    """``COMPLETED`` -> ``completed``, ``CANCELLED by 0`` -> ``cancelled``; else ``unknown``."""
    code = col.str.extract(r"^\s*([A-Za-z_]+)").str.to_uppercase()
    return code.replace_strict(STATE_CODES, default="unknown", return_dtype=pl.String)


def array_tasks(keys: pl.Series) -> pl.Series:
    """Tasks a job row stands for: 1 for ``123_4``, the range size for ``123_[1-10%5]``."""
    ranges = keys.str.extract(r"^[0-9]+_\[([^\]]*)\]$")
    sizes = {r: range_count(r) for r in ranges.drop_nulls().unique().to_list()}
    single = keys.str.contains(r"^[0-9]+_[0-9]+").cast(pl.Int64).replace(0, None)
    return ranges.replace_strict(sizes, default=None, return_dtype=pl.Int64).fill_null(single)
