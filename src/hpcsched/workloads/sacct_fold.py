"""Fold ``sacct`` step rows and requeued attempts into one job-table row per job.

A job is its last job row in file order (``-D`` prints every attempt); its steps give
``step_count`` and the peak MaxRSS. Most JobIDs have one job row: all their step rows are theirs,
wherever they are. Those steps are counted where they are read, piece by piece
(:func:`attach_steps`, on the reader's worker threads): each piece joins the counts of its steps
to its own job rows and carries over only the counts of steps whose job row it does not hold
(steps spilling over from the previous piece, orphans). :func:`fold` then only needs the jobs'
key columns, those carried counts, and the detailed step rows of the few JobIDs that have
several job rows (requeues, overlapping ``-S/-E`` windows), whose steps belong to the attempt
printed before them.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from hpcsched.core.schema import CANONICAL_COLUMNS, conform

OPTIONAL: Final[dict[str, pl.DataType]] = {
    "eligible": pl.Float64(),
    "reason": pl.String(),
    "array_id": pl.Int64(),
    "step_count": pl.Int64(),
    "workdir": pl.String(),
}
EXTRAS: Final[dict[str, pl.DataType]] = {
    "sacct_job_id_raw": pl.String(),
    "sacct_array_tasks": pl.Int64(),
    "sacct_requeues": pl.Int64(),
    "sacct_cancelled_by": pl.Int64(),
    "sacct_cancelled_by_user": pl.String(),
    "sacct_exit_signal": pl.Int32(),
    "sacct_nodelist": pl.String(),
    "sacct_nodelist_nodes": pl.Int64(),
    "sacct_line": pl.Int64(),
}


def concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """The pieces one after the other, without copying (different chunks of one column)."""
    if len(frames) == 1:
        return frames[0]
    try:
        return pl.concat(frames, how="vertical", rechunk=False)
    except pl.exceptions.SchemaError:  # a column all null in one piece, typed in another
        return pl.concat(frames, how="vertical_relaxed", rechunk=False)


def attach_steps(jobs: pl.DataFrame, steps: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(job rows with ``_n``/``_mx``: the count and peak RSS of this piece's steps of their
    JobID, the counts of the other steps by JobID) for one piece."""
    per_key = steps.group_by("_key").agg(_n=pl.len(), _mx=pl.col("_rss").max())
    here = per_key["_key"].is_in(jobs["_key"].implode())
    jobs = jobs.join(per_key.filter(here), on="_key", how="left", maintain_order="left")
    return jobs, per_key.filter(~here)


def fold(
    jobs: pl.DataFrame | list[pl.DataFrame],
    steps: pl.DataFrame | list[pl.DataFrame],
    carried: list[pl.DataFrame] | None = None,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """One row per job: the last job row of each JobID (file order) with its attempt's steps.

    Job rows carry ``_key`` (JobID), ``_tag`` (the attempt: Submit) and ``_line``; step rows
    ``_key``, ``_step``, ``_rss`` and ``_line``. Pieces already passed through
    :func:`attach_steps` come with their ``carried`` counts; otherwise ``jobs`` is one frame and
    this attaches its steps first. ``jobs`` and ``steps`` may be lists of pieces, which are
    emptied: each piece is finished and released on its own, so a million wide rows are never
    held twice.
    """
    parts = [jobs] if isinstance(jobs, pl.DataFrame) else jobs
    pieces = [steps] if isinstance(steps, pl.DataFrame) else steps
    if carried is None:
        whole, rest = attach_steps(concat(parts), concat(pieces))
        parts[:], carried = [whole], [rest]
    keys = concat([p.select("_key", "_tag", "_line") for p in parts]).rechunk()
    keep, fixes, stats = _bookkeeping(keys, pieces, concat(carried))
    pieces.clear()
    del keys
    done, offset = [], 0
    while parts:  # piece by piece, each released once finished
        part = parts.pop(0)
        mask = None if keep is None else keep.slice(offset, part.height)
        offset += part.height
        if mask is not None and not mask.all():  # drop the earlier attempts
            part = part.filter(mask)
        done.append(_finish(part, fixes))
    return concat(done), stats


def _bookkeeping(
    keys: pl.DataFrame, pieces: list[pl.DataFrame], carried: pl.DataFrame
) -> tuple[pl.Series | None, pl.DataFrame, dict[str, int]]:
    """(which job rows to keep; per kept JobID whose steps are not all in its own row's piece:
    ``_fix_n``, ``_fix_mx``, ``sacct_requeues``; the counts)."""
    repeated = _repeated(keys["_key"])
    stats = {"requeues": 0, "duplicates": 0, "orphan_steps": 0}
    # the keys of a million job rows are hashed once to probe the few carried ones, not the
    # other way round (a set of a million strings: 180 ms)
    held = keys["_key"].filter(keys["_key"].is_in(carried["_key"].implode())).implode()
    orphan = ~carried["_key"].is_in(held)
    stats["orphan_steps"] = int(carried.filter(orphan)["_n"].sum())
    # steps carried to single-row JobIDs add to what their own piece counted
    fixes = (
        carried.filter(~orphan)
        .group_by("_key")
        .agg(_fix_n=pl.col("_n").sum(), _fix_mx=pl.col("_mx").max())
    )
    keep: pl.Series | None = None
    if repeated.any():
        multi = keys.filter(repeated).with_columns(pl.col("_tag").fill_null(""))
        multi_keys = multi["_key"].unique().implode()
        fixes = fixes.filter(~pl.col("_key").is_in(multi_keys))
        mine = concat([p.filter(pl.col("_key").is_in(multi_keys)) for p in pieces])
        mine = mine.select("_key", "_step", "_rss", "_line")
        # each step belongs to the attempt printed last before it
        rows = pl.concat(
            [multi.select("_key", "_line", "_tag"), mine.select("_key", "_line")], how="diagonal"
        )
        filled = rows.sort("_line").select("_line", pl.col("_tag").forward_fill().over("_key"))
        mine = mine.join(filled, on="_line", how="left", maintain_order="left")
        # a step repeated by overlapping windows is read once; one before any attempt: orphan
        unique = mine.unique(["_key", "_tag", "_step"], keep="last", maintain_order=True)
        stats["duplicates"] = mine.height - unique.height
        stats["orphan_steps"] += unique["_tag"].null_count()
        unique = unique.filter(pl.col("_tag").is_not_null())
        attempts = multi.group_by("_key").agg(_rows=pl.len(), _attempts=pl.col("_tag").n_unique())
        stats["requeues"] = int((attempts["_attempts"] - 1).sum())
        stats["duplicates"] += int((attempts["_rows"] - attempts["_attempts"]).sum())
        last = multi.filter(pl.col("_line") == pl.col("_line").max().over("_key"))
        keep = ~repeated | keys["_line"].is_in(last["_line"].implode())
        per_attempt = unique.group_by("_key", "_tag").agg(
            _fix_n=pl.len(), _fix_mx=pl.col("_rss").max()
        )
        requeued = (
            last.join(attempts, on="_key")
            .join(per_attempt, on=["_key", "_tag"], how="left")
            .select(
                "_key",
                _fix_n=pl.col("_fix_n").fill_null(0).cast(pl.UInt32),
                _fix_mx="_fix_mx",
                sacct_requeues=(pl.col("_attempts") - 1).cast(pl.Int64),
                _multi=pl.lit(True),
            )
        )
        fixes = pl.concat([fixes, requeued], how="diagonal_relaxed")
    return keep, fixes, stats


def _repeated(keys: pl.Series) -> pl.Series:
    """Which keys occur more than once: their 64-bit hashes first (half the time of comparing
    a million strings), then the strings of the few hashes that repeat, so a collision of two
    different keys is never taken for a repeat."""
    hashed = keys.hash().is_duplicated()
    if not hashed.any():
        return hashed
    where = hashed.arg_true()
    return hashed.scatter(where, keys.gather(where).is_duplicated())


def _finish(table: pl.DataFrame, fixes: pl.DataFrame) -> pl.DataFrame:
    """The job-table columns of folded job rows, in order, with their types: step counts are
    the piece's own (``_n``, ``_mx``) plus the fixes; a requeued job's are its attempt's only."""
    if "_multi" not in fixes.columns:
        fixes = fixes.with_columns(sacct_requeues=pl.lit(0, pl.Int64), _multi=pl.lit(False))
    table = table.join(fixes, on="_key", how="left", maintain_order="left")
    multi = pl.col("_multi").fill_null(False)
    own_n = pl.when(multi).then(0).otherwise(pl.col("_n").fill_null(0))
    own_mx = pl.when(multi).then(None).otherwise(pl.col("_mx"))
    table = table.with_columns(
        step_count=(own_n + pl.col("_fix_n").fill_null(0)).cast(pl.Int64),
        mem_used=pl.max_horizontal("_rss", own_mx, "_fix_mx"),
        sacct_requeues=pl.col("sacct_requeues").fill_null(0).cast(pl.Int64),
    )
    extras = [c for c in table.columns if c.startswith("sacct_") and c not in EXTRAS]
    table = table.select(
        *[c for c in CANONICAL_COLUMNS if c in table.columns],
        *[pl.col(c).cast(t) for c, t in {**OPTIONAL, **EXTRAS}.items() if c in table.columns],
        *extras,
    )
    return conform(table)


__all__ = ["EXTRAS", "OPTIONAL", "attach_steps", "concat", "fold"]
