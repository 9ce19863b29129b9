"""Collect what a live cluster ran: ``sacct`` over calendar-month windows -> the job table.

Why it is cut this way (``shared/data/sacct/README.md`` pitfall 12; sacct man page, ``-S``,
``-E`` and ``-s``, https://slurm.schedmd.com/sacct.html):

- One query per calendar month (UTC), at most ``parallel`` at a time: one long query is slow and
  all-or-nothing for slurmdbd, thousands of small ones hammer it.
- With ``-S``/``-E`` sacct returns every job that was in *any* state during the window, so a job
  spanning a month boundary comes back from both months. Job rows (attempts) are de-duplicated
  on (JobIDRaw, Submit) -- with ``-D`` a requeued job's attempts differ in Submit -- and each
  attempt keeps the step rows printed after it. The copy kept is the most recently queried: a
  job still pending in an old cached month has ended in a newer answer.
- A windowed query skips jobs that never became eligible (slurmdbd selects on the eligible
  time): a job cancelled while held, or while waiting for a dependency or a ``--begin`` time, is
  missing. Selecting by state (``-s CANCELLED``) selects on the end time instead, so each window
  also asks for the cancelled jobs and adds those the first answer lacked.
- Accounting can still change after a window ends, so a window is cached and reused only once
  it ended more than ``margin`` before now *and* none of its jobs is still pending, running or
  suspended (a job may run for days past the month's end); the current one is always queried
  again, and a cached file is used only when its header is the field list asked.

Commands run through :meth:`SlurmAdapter.run` (``TZ=UTC``); the argv is
:meth:`SlurmAdapter.sacct`'s plus ``-s`` and a longer timeout, which that method does not take.
The text is read by the one sacct reader, :func:`hpcsched.workloads.sacct.read_sacct`, and
malformed lines are reported with the cache file and line they came from.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

from hpcsched.core.outputs import atomic_output
from hpcsched.slurm.adapter import DEFAULT_FIELDS, DELIMITER, SlurmAdapter, SlurmError
from hpcsched.slurm.adapter import sacct_argv as adapter_sacct_argv
from hpcsched.slurm.states import canonical_state
from hpcsched.workloads.sacct import Malformed, SacctRead, read_sacct

if TYPE_CHECKING:
    import polars as pl

#: The job table's fields plus the node list and requested TRES (nodes, GPUs of unstarted jobs).
PULL_FIELDS: Final = (*DEFAULT_FIELDS, "NodeList", "ReqTRES")
#: Accounting of a window may still change this long after it ended; it is re-queried until then.
SAFETY_MARGIN: Final = timedelta(days=1)
_REQUIRED: Final = ("JobID", "JobIDRaw", "Submit")
_LIVE: Final = frozenset({"pending", "running", "suspended"})  # REQUEUED attempts are history

Progress = Callable[["Window", bool], None]  # (window, came from the cache), once per window
Entry = tuple[str, Path, int]  # line, file, line number
Key = tuple[str, str, object]  # ("job", JobIDRaw, Submit) | ("line", file, n) | ("step", line, "")
Answer = tuple[str, Path, float]  # one window's text, its file, when sacct answered (epoch s)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/hpcsched/sacct``, else ``~/.cache/hpcsched/sacct``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hpcsched" / "sacct"


def parse_when(text: str) -> datetime:
    """``YYYY-MM-DD`` or an ISO datetime; without a zone it is UTC (sacct runs with TZ=UTC)."""
    try:
        return _utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date (give YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS)"
        ) from None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """One ``sacct -S since -E until`` query (aware UTC times)."""

    since: datetime
    until: datetime

    @property
    def label(self) -> str:
        """``20261001T000000Z_20261101T000000Z``: the cache file's name."""
        return "_".join(t.strftime("%Y%m%dT%H%M%SZ") for t in (self.since, self.until))


def month_windows(since: datetime, until: datetime) -> list[Window]:
    """Calendar months (UTC) clipped to ``[since, until)``."""
    start, end = _utc(since), _utc(until)
    windows = []
    while start < end:
        first = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
        windows.append(Window(start, min(following, end)))
        start = following
    return windows


@dataclass
class PullResult:
    """A pull: the job table (in ``read``, with its counts) and how it was obtained."""

    read: SacctRead
    cluster: str
    windows: list[Window]
    cached: list[Window]  # the others were queried
    cache_files: list[Path]  # each window's text, in window order
    rows_fetched: int  # non-blank data lines over all windows, before de-duplication
    duplicates: int  # job rows (attempts) that another window also returned
    duplicate_rows: int  # rows dropped with them (job rows and their steps)

    @property
    def table(self) -> pl.DataFrame:
        return self.read.table

    @property
    def malformed(self) -> list[Malformed]:
        return self.read.malformed

    def summary(self) -> dict[str, object]:
        """The figures ``hpcsched trace pull --json`` prints."""
        return {
            "cluster": self.cluster,
            "since": self.windows[0].since.isoformat(),
            "until": self.windows[-1].until.isoformat(),
            "rows_fetched": self.rows_fetched,
            "rows_read": self.read.rows_read,
            "jobs": self.read.jobs,
            "steps": self.read.steps,
            "malformed": len(self.read.malformed),
            "states": self.read.states(),
            "windows": len(self.windows),
            "cached_windows": len(self.cached),
            "duplicates": self.duplicates + self.read.duplicates,
            "requeues": self.read.requeues,
            "orphan_steps": self.read.orphan_steps,
        }


def cluster_name(adapter: SlurmAdapter) -> str:
    """``ClusterName`` from ``scontrol show config``: caches of two clusters never mix."""
    for line in adapter.run(["scontrol", "show", "config"]).splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "ClusterName" and value.strip():
            return re.sub(r"[^A-Za-z0-9_.-]", "_", value.strip())
    raise SlurmError("scontrol: show config printed no ClusterName (pass cluster= explicitly)")


def sacct_argv(window: Window, fields: Sequence[str], state: str | None = None) -> list[str]:
    """:meth:`SlurmAdapter.sacct`'s argv for one window, optionally selecting by ``state``."""
    return adapter_sacct_argv(since=window.since, until=window.until, fields=fields, state=state)


def _header(text: str) -> list[str]:
    return next((line for line in text.splitlines() if line.strip()), "").split(DELIMITER)


def _blocks(text: str, path: Path, fields: Sequence[str]) -> list[tuple[Key, list[Entry]]]:
    """The job rows of one answer, each with the step rows after it that share its JobIDRaw.

    A line without the header's field count keeps a key of its own (file, line) so the reader
    reports each; a step whose job row is absent stays an orphan for the reader to count.
    """
    jobid, rawid, submit = (fields.index(name) for name in _REQUIRED)
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip()) + 1  # after the header
    blocks: list[tuple[Key, list[Entry]]] = []
    for number, line in enumerate(lines[first:], first + 1):
        if not line.strip():
            continue
        values = line.split(DELIMITER)
        entry = (line, path, number)
        if len(values) != len(fields):
            blocks.append((("line", str(path), number), [entry]))
        elif "." not in values[jobid]:
            blocks.append((("job", values[rawid], values[submit]), [entry]))
        elif blocks and blocks[-1][0][:2] == ("job", values[rawid].split(".")[0]):
            blocks[-1][1].append(entry)
        else:
            blocks.append((("step", line, ""), [entry]))
    return blocks


def merge(answers: Sequence[Answer], fields: Sequence[str]) -> tuple[list[Entry], int, int, int]:
    """(rows to read, rows fetched, job rows dropped as duplicates, all rows dropped with them).

    ``answers`` are (text, file, when queried) in window order. Blocks keep their first-seen
    order, so a requeued job's attempts stay in time order (the reader takes the last as the
    job), and take the text of the newest query.
    """
    best: dict[Key, tuple[tuple[float, int, int], list[Entry]]] = {}
    fetched = dropped_jobs = dropped_rows = 0
    for rank, (text, path, when) in enumerate(answers):
        for position, (key, block) in enumerate(_blocks(text, path, fields)):
            fetched += len(block)
            stamp = (when, rank, position)
            if key in best:
                old_stamp, old_block = best[key]
                dropped_jobs += key[0] == "job"
                dropped_rows += len(old_block) if stamp > old_stamp else len(block)
                if stamp < old_stamp:
                    continue
            best[key] = (stamp, block)
    rows = [entry for _, block in best.values() for entry in block]
    return rows, fetched, dropped_jobs, dropped_rows


def _with_never_eligible(text: str, cancelled: str, fields: Sequence[str]) -> str:
    """``text`` plus the blocks of the ``-s CANCELLED`` answer that it does not have."""
    jobs = {key for key, _ in _blocks(text, Path(), fields) if key[0] == "job"}
    lines = set(text.splitlines())
    extra = [
        line
        for key, block in _blocks(cancelled, Path(), fields)
        if (key not in jobs if key[0] == "job" else block[0][0] not in lines)
        for line, _, _ in block
    ]
    return text.rstrip("\n") + "\n" + "".join(f"{line}\n" for line in extra)


def _settled(text: str, fields: Sequence[str]) -> bool:
    """No job row of ``text`` is still pending, running or suspended (True without State)."""
    if "State" not in fields:
        return True
    jobid, state, width = fields.index("JobID"), fields.index("State"), len(fields)
    rows = (line.split(DELIMITER) for line in text.splitlines()[1:])
    return not any(
        len(v) == width and "." not in v[jobid] and canonical_state(v[state]) in _LIVE for v in rows
    )


def _write(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: a killed pull never leaves half a window."""
    with atomic_output(path) as temp:
        temp.write_text(text, encoding="utf-8")


def _fetch(
    adapter: SlurmAdapter,
    window: Window,
    fields: Sequence[str],
    folder: Path,
    final: bool,
    timeout: float,
) -> Answer:
    """Query one window (all jobs, then the cancelled ones) and keep its text in ``folder``."""
    texts = [
        adapter.sacct(
            since=window.since, until=window.until, fields=fields, state=s, timeout=timeout
        )
        for s in (None, "CA")
    ]
    for text in texts:
        if _header(text) != list(fields):
            got = DELIMITER.join(_header(text))[:60]
            raise SlurmError(
                f"sacct: window {window.label} printed no header of the fields ({got!r})"
            )
    text = _with_never_eligible(texts[0], texts[1], fields)
    final = final and _settled(text, fields)
    open_path = folder / f"{window.since:%Y%m%dT%H%M%SZ}_open.txt"
    path = folder / f"{window.label}.txt" if final else open_path  # open: overwritten next time
    _write(path, text)
    if final:
        open_path.unlink(missing_ok=True)
    return text, path, datetime.now(UTC).timestamp()


def _read(rows: Sequence[Entry], fields: Sequence[str], folder: Path) -> SacctRead:
    """Read the merged rows; malformed lines point at the cache file and line they came from."""
    with tempfile.TemporaryDirectory(prefix="hpcsched-pull-") as tmp:
        merged = Path(tmp) / "sacct.txt"
        merged.write_text("\n".join([DELIMITER.join(fields), *(r[0] for r in rows)]) + "\n")
        read = read_sacct(merged, delimiter=DELIMITER)
    origin = [(folder, 1), *((path, number) for _, path, number in rows)]
    where = [origin[m.line - 1] for m in read.malformed]
    malformed = [
        Malformed(str(f), n, m.reason) for (f, n), m in zip(where, read.malformed, strict=True)
    ]
    return replace(read, malformed=malformed, path=str(folder))


def pull_accounting(
    since: datetime | str,
    until: datetime | str,
    *,
    adapter: SlurmAdapter | None = None,
    cache_dir: Path | None = None,
    parallel: int = 4,
    fields: Sequence[str] = PULL_FIELDS,
    use_cache: bool = True,
    cluster: str | None = None,
    now: datetime | None = None,
    margin: timedelta = SAFETY_MARGIN,
    timeout: float = 600,
    progress: Progress | None = None,
) -> PullResult:
    """Query sacct month by month over ``[since, until)`` and read the answers as one job table.

    ``until`` is clipped to ``now``; naive times are UTC. ``use_cache=False`` queries every
    window again (and still refreshes the cache files). ``progress(window, from_cache)`` is
    called once per window, from this thread. Raises ``ValueError`` for bad arguments,
    :class:`SlurmError` (one line) when a command fails, and
    :class:`~hpcsched.workloads.sacct.SacctError` when no line can be read.
    """
    moment = _utc(now or datetime.now(UTC))
    start = parse_when(since) if isinstance(since, str) else _utc(since)
    end = min(parse_when(until) if isinstance(until, str) else _utc(until), moment)
    if start >= end:
        raise ValueError(
            f"--since {start:%Y-%m-%dT%H:%M:%S} is not before --until {end:%Y-%m-%dT%H:%M:%S} "
            "(--until is clipped to now; give an earlier --since)"
        )
    if parallel < 1:
        raise ValueError(f"--parallel must be at least 1, not {parallel}")
    names = list(fields)
    missing = [name for name in _REQUIRED if name not in names]
    if missing:
        raise ValueError(f"the sacct fields must include {', '.join(missing)} (to de-duplicate)")
    adapter = adapter or SlurmAdapter()
    folder = (cache_dir or default_cache_dir()) / (cluster or cluster_name(adapter))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the cache folder {folder}: {exc.strerror}") from None
    windows = month_windows(start, end)
    closed = moment - margin
    answers: dict[Window, Answer] = {}
    for window in windows:
        path = folder / f"{window.label}.txt"
        if use_cache and window.until <= closed and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            if _header(text) == names:  # cached with another field list: query again
                answers[window] = (text, path, path.stat().st_mtime)
                if progress:
                    progress(window, True)
    cached = list(answers)
    todo = [window for window in windows if window not in answers]
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(todo)))) as pool:
        futures = {
            pool.submit(_fetch, adapter, w, names, folder, w.until <= closed, timeout): w
            for w in todo
        }
        try:
            for future in as_completed(futures):
                answers[futures[future]] = future.result()
                if progress:
                    progress(futures[future], False)
        except BaseException:  # the first failure: queries not started yet are dropped
            for future in futures:
                future.cancel()
            raise
    ordered = [answers[window] for window in windows]
    rows, fetched, dup_jobs, dup_rows = merge(ordered, names)
    return PullResult(
        read=_read(rows, names, folder),
        cluster=folder.name,
        windows=windows,
        cached=cached,
        cache_files=[path for _, path, _ in ordered],
        rows_fetched=fetched,
        duplicates=dup_jobs,
        duplicate_rows=dup_rows,
    )
