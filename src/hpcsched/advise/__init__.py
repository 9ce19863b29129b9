"""``hpcsched advise``: a batch script rewritten to fit the site policy, from a calibrated bound.

:func:`advise` ties the steps together: read the script's request, size it from the prediction,
list every partition/QoS that can take it (:mod:`.plan`), simulate each on the current queue
(:mod:`.whatif`), pick the cheapest (or, asked, the fastest) the script allows and write the
script(s).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from hpcsched.advise.plan import (
    Option,
    Options,
    Prediction,
    RefusalError,
    Request,
    options,
    refusal_line,
    request_of,
    round_up,
    sized,
)
from hpcsched.advise.sbatch_script import (
    MB,
    SbatchScript,
    format_memory,
    format_time,
    parse_memory,
    rewrite,
)
from hpcsched.advise.site import Site
from hpcsched.advise.whatif import Queue, WhatIf, what_if
from hpcsched.core.durations import duration_text

#: ``cheapest`` is the default: a dearer QoS or partition (to start earlier) only when asked.
PREFER = ("cheapest", "fastest")


@dataclass
class Advice:
    """The advised submission: the choice, the what-if rows and the script text of each part."""

    request: Request
    prediction: Prediction
    found: Options
    rows: list[WhatIf]
    chosen: WhatIf
    scripts: list[str]
    notes: list[str] = field(default_factory=list)


def _check_names(script: SbatchScript, request: Request, site: Site) -> None:
    for option, value, known in (
        ("--partition", request.partition, site.partitions),
        ("--qos", request.qos, site.qos),
    ):
        if value is not None and value not in known:
            raise RefusalError(
                f"{script.where(option)}: {option}={value} is not defined in the site file "
                f"(known: {', '.join(known)}); use one of those or remove the line"
            )


def _checkpoint_note(row: WhatIf, prediction: Prediction, part: int) -> str:
    o = row.option
    return (
        f"part {part} of {len(o.parts)}: the {prediction.coverage:.0%} bound of the run time "
        f"({duration_text(prediction.runtime_upper)}) exceeds the longest limit partition "
        f"{o.partition} with QoS {o.qos} allows ({duration_text(o.limit)}),\n"
        "so the job runs as dependent parts (sbatch --dependency=afterok:<previous part>, see "
        "submit-chain.sh).\nEach part is killed at its time limit: the program must write "
        "checkpoints and resume from the latest one\nwhen it starts (for a warning before the "
        "limit, add e.g. #SBATCH --signal=B:USR1@120 and checkpoint on USR1)."
    )


def _scripts(
    script: SbatchScript,
    request: Request,
    row: WhatIf,
    prediction: Prediction,
    site: Site,
    why: str,
) -> list[str]:
    o = row.option
    grain = f"rounded up to {site.walltime_granularity / 60:g} min"
    bound = (
        prediction.note
        if prediction.note
        else f"{prediction.coverage:.0%} bound of the predicted run time "
        f"{duration_text(prediction.runtime_upper)}, {grain}"
    )
    changes: dict[str, tuple[str, str]] = {
        "--partition": (o.partition, why),
        "--qos": (o.qos, why),
    }
    if prediction.mem_upper is not None and request.mem is not None:
        why = (
            f"{prediction.coverage:.0%} bound of peak memory {prediction.mem_upper / MB:.0f} MiB, "
            f"rounded up to {site.memory_granularity / MB:g} MiB per node"
        )
        if script.get("--mem-per-cpu") is not None:  # sbatch refuses --mem with --mem-per-cpu
            changes["--mem-per-cpu"] = (format_memory(request.mem / request.cpus), why)
        else:
            changes["--mem"] = (format_memory(request.mem / request.nodes), why)
    for option, parse in (("--mem", parse_memory), ("--mem-per-cpu", parse_memory)):
        old = script.get(option)
        if option in changes and old is not None and parse(old) == parse(changes[option][0]):
            del changes[option]  # the same size written differently: keep the user's line
    texts = []
    for k, limit in enumerate(o.parts, start=1):
        part = dict(changes)
        if not o.chained:
            if request.timelimit is None or round_up(request.timelimit, 60) != limit:
                part["--time"] = (format_time(limit), bound)
            texts.append(rewrite(script, part))
            continue
        part["--time"] = (format_time(limit), f"part {k} of {len(o.parts)}; {bound}")
        name = request.name or Path(script.path).stem
        part["--job-name"] = (f"{name}.part{k}", f"part {k} of a chain")
        texts.append(rewrite(script, part, _checkpoint_note(row, prediction, k)))
    return texts


def advise(
    script: SbatchScript,
    site: Site,
    queue: Queue,
    prediction: Prediction,
    *,
    prefer: str = "cheapest",
    any_partition: bool = False,
) -> Advice:
    """The advised submission of ``script`` on ``site`` given ``queue``; raises
    :class:`RefusalError` (one line naming the rule) when no partition/QoS can take it."""
    if prefer not in PREFER:
        raise ValueError(f"prefer must be one of {PREFER}, not {prefer!r}")
    request = request_of(script)
    _check_names(script, request, site)
    request = sized(request, site, prediction)
    found = options(site, request, prediction)
    pinned = Request() if any_partition else request

    def allowed(o: Option) -> bool:
        return pinned.partition in (None, o.partition) and pinned.qos in (None, o.qos)

    if not any(allowed(o) for o in found.valid):
        line = refusal_line(pinned, found)
        if found.valid:  # the script's own choice is what breaks the rule
            other = found.valid[0]
            line += (
                f" (partition {other.partition} with QoS {other.qos} could take it: change the "
                "script or pass --any-partition)"
            )
        raise RefusalError(line)
    rows = what_if(site, queue, request, found.valid, prediction)
    candidates = [r for r in rows if allowed(r.option)]
    if prefer == "fastest":
        chosen = min(candidates, key=lambda r: (r.end, r.option.cost_expected))
    else:
        chosen = min(candidates, key=lambda r: (r.option.cost_expected, r.end))
    notes = [p for p in (prediction.mem_note,) if p]
    fastest = min(candidates, key=lambda r: (r.end, r.option.cost_expected))
    if fastest.end < chosen.end:
        o, cost = fastest.option, fastest.option.cost_expected
        notes.append(
            f"{o.partition}/{o.qos} would end {duration_text(chosen.end - fastest.end)} earlier "
            f"for {cost:,.2f} {site.charge_unit} instead of {chosen.option.cost_expected:,.2f} "
            "(--prefer fastest)"
        )
    notes += [
        f"queue: {len(ids)} job(s) {why}: {' '.join(ids[:8])}" for why, ids in queue.skipped.items()
    ]
    notes += queue.notes
    if pinned.partition or pinned.qos:
        notes.append(
            "the script names its partition/QoS, so only those rows were candidates "
            "(--any-partition lets advise choose)"
        )
    why = f"the {prefer} what-if row the script allows"
    texts = _scripts(script, request, chosen, prediction, site, why)
    return Advice(request, prediction, found, rows, chosen, texts, notes)


def submit_chain(paths: list[Path]) -> str:
    """A shell script that submits the parts in order, each ``afterok`` on the previous one.

    A part's name is written only as one ``shlex.quote``d word outside any double quotes
    (``"$here"/'name'``): inside double quotes the single quotes would be literal and ``$(...)``
    or backquotes in a name would run when the chain is submitted."""
    lines = [
        "#!/bin/bash",
        "# written by hpcsched advise: submits the parts of a chained job in order; each part",
        "# starts only after the previous one completed successfully (--dependency=afterok).",
        "# Extra arguments are passed to every sbatch call (e.g. --account=...).",
        "set -euo pipefail",
        'here=$(cd "$(dirname "$0")" && pwd)',
        "dep=()",
    ]
    for k, path in enumerate(paths, start=1):
        lines += [
            f'jid=$(sbatch --parsable "${{dep[@]}}" "$@" "$here"/{shlex.quote(path.name)})',
            "jid=${jid%%;*}",
            f'echo "part {k} of {len(paths)}: job $jid"',
            'dep=("--dependency=afterok:$jid")',
        ]
    return "\n".join(lines) + "\n"
