"""SlurmAdapter: the only place hpcsched runs Slurm commands.

Every command goes through :meth:`SlurmAdapter.run`, so unit tests replace that one method and
integration tests (``tests/test_slurm_live.py``) run the real commands. Commands run with
``TZ=UTC`` and ``SLURM_TIME_FORMAT=standard`` so times print as ``%Y-%m-%dT%H:%M:%S`` in UTC.
Parsing of sacct text into the job table lives with the readers, not here.
A job step (``srun``) lasts as long as its task, so it is a child process, not a call:
:meth:`SlurmAdapter.popen` starts it and is the one other method tests replace.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

#: ASCII unit separator: sacct -P does not quote, and no name, path or comment contains it.
DELIMITER: Final = "\x1f"

#: sacct fields the job table needs (all exist in Slurm 22.05; an unknown name aborts sacct).
DEFAULT_FIELDS: Final = (
    "JobID",
    "JobIDRaw",
    "JobName",
    "User",
    "Account",
    "Partition",
    "QOS",
    "Priority",
    "Submit",
    "Eligible",
    "Start",
    "End",
    "ElapsedRaw",
    "TimelimitRaw",
    "NNodes",
    "NCPUS",
    "ReqMem",
    "AllocTRES",
    "MaxRSS",
    "State",
    "ExitCode",
    "Flags",
    "Reason",
    "WorkDir",
)

JobId = int | str  # array tasks and het components are strings: "123_4", "123+0"

_KEY = re.compile(r"(?:^|\s)([A-Z][A-Za-z0-9_:/]*)=")
_NODE_LAYOUT = re.compile(r"\bNodes=(\S+) CPU_IDs=(\S+) Mem=(\d+)")


def _range_width(item: str) -> int:
    """``3`` -> 1, ``0-3`` -> 4."""
    lo, _, hi = item.partition("-")
    return int(hi) - int(lo) + 1 if hi else 1


def _hostlist_width(nodes: str) -> int:
    """How many hosts a Slurm hostlist names: ``n[1-2,5],gpu1`` -> 4."""
    count = 0
    for part in re.findall(r"[^,\[]+(?:\[[^\]]*\])?[^,]*", nodes):
        width = 1
        for spec in re.findall(r"\[([^\]]*)\]", part):
            width *= sum(_range_width(item) for item in spec.split(","))
        count += width
    return count


class SlurmError(RuntimeError):
    """A Slurm command failed; ``str(error)`` is one line: the command and Slurm's own error."""

    def __init__(
        self,
        message: str,
        *,
        argv: Sequence[str] = (),
        returncode: int | None = None,
        stderr: str = "",
    ) -> None:
        super().__init__(message)
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


def error_line(command: str, stderr: str, stdout: str = "", returncode: int | None = None) -> str:
    """One line for a failed command: its first ``fatal:``/``error`` line, prefixed by the command.

    sbatch prints the specific reason first (``invalid partition specified: nope``) and a generic
    one after it, so the first matching line is the useful one.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    chosen = (
        next((line for line in lines if "fatal:" in line), None)
        or next((line for line in lines if "error" in line.lower()), None)
        or (lines[-1] if lines else None)
    )
    if chosen is None:
        out = [line.strip() for line in stdout.splitlines() if line.strip()]
        chosen = out[-1] if out else f"failed with exit status {returncode}"
    return chosen if chosen.startswith(f"{command}:") else f"{command}: {chosen}"


def parse_parsable(output: str) -> int:
    """The job id in ``sbatch --parsable`` output: ``123`` or ``123;cluster``."""
    lines = output.strip().splitlines()
    first = lines[-1].split(";", 1)[0].strip() if lines else ""
    if not first.isdigit():
        raise SlurmError(f"sbatch: unexpected --parsable output: {output.strip()[:80]!r}")
    return int(first)


def parse_key_values(text: str) -> dict[str, str]:
    """Parse ``scontrol show ... -o`` output (``Key=Value`` pairs) of the first record.

    A value runs until the next `` Key=``, so values with spaces (``JobName=my job``) survive;
    keys keep Slurm's spelling (``AllocNode:Sid``, ``CPUs/Task``).
    """
    record = next((line for line in text.splitlines() if line.strip()), "")
    matches = list(_KEY.finditer(record))
    pairs: dict[str, str] = {}
    ends = [m.start() for m in matches[1:]] + [len(record)]
    for match, end in zip(matches, ends, strict=False):  # no matches: one spare end
        pairs.setdefault(match.group(1), record[match.end() : end].strip())
    return pairs


def slurm_time(moment: datetime | str) -> str:
    """A time for ``sacct -S/-E``: aware datetimes in UTC; naive ones are taken as UTC."""
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def sacct_argv(
    job_ids: Sequence[JobId] | None = None,
    *,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    fields: Sequence[str] = DEFAULT_FIELDS,
    duplicates: bool = True,
    state: str | None = None,
) -> list[str]:
    """The command line of :meth:`SlurmAdapter.sacct` (text, safe delimiter, all users)."""
    argv = ["sacct", "--allusers", "-P", f"--delimiter={DELIMITER}"]
    if duplicates:
        argv.append("-D")
    argv.append("--format=" + ",".join(fields))
    if job_ids:
        argv.append("--jobs=" + ",".join(str(j) for j in job_ids))
    if state:
        argv.append(f"--state={state}")
    if since is not None:
        argv.append("--starttime=" + slurm_time(since))
    if until is not None:
        argv.append("--endtime=" + slurm_time(until))
    return argv


class SlurmAdapter:
    """Submit, query and cancel Slurm jobs with the command-line tools."""

    def run(self, argv: list[str], *, input: str | None = None, timeout: float = 60) -> str:
        """Run one Slurm command and return its stdout; raise :class:`SlurmError` on failure."""
        command = os.path.basename(argv[0]) if argv else "slurm"
        env = {**os.environ, "TZ": "UTC", "SLURM_TIME_FORMAT": "standard"}
        try:
            proc = subprocess.run(
                argv,
                input=input,
                stdin=subprocess.DEVNULL if input is None else None,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                check=False,
            )
        except FileNotFoundError:
            message = f"{command}: command not found (Slurm client tools are not installed)"
            raise SlurmError(message, argv=argv) from None
        except subprocess.TimeoutExpired:
            message = f"{command}: no answer within {timeout:g} s"
            raise SlurmError(message, argv=argv) from None
        if proc.returncode != 0:
            message = error_line(command, proc.stderr, proc.stdout, proc.returncode)
            raise SlurmError(message, argv=argv, returncode=proc.returncode, stderr=proc.stderr)
        return proc.stdout

    def popen(
        self, argv: list[str], *, cwd: Path | None = None, log: IO[bytes] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a long-running Slurm command (``srun`` for a job step) as a child process.

        stdin is closed; stdout and stderr go to ``log`` (or are dropped). The environment is
        the caller's plus the same ``TZ``/``SLURM_TIME_FORMAT`` as :meth:`run`, so an ``srun``
        inside an allocation sees its ``SLURM_*`` variables.
        """
        command = os.path.basename(argv[0]) if argv else "slurm"
        env = {**os.environ, "TZ": "UTC", "SLURM_TIME_FORMAT": "standard"}
        target: IO[bytes] | int = log if log is not None else subprocess.DEVNULL
        try:
            return subprocess.Popen(
                argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=target, stderr=target, env=env
            )
        except FileNotFoundError:
            message = f"{command}: command not found (Slurm client tools are not installed)"
            raise SlurmError(message, argv=argv) from None

    def job_layout(self, job_id: JobId) -> list[dict[str, int]]:
        """Where a running job's allocation lies, one dict per node: ``cpus`` and ``mem`` (MB).

        From ``scontrol show job -d``'s ``Nodes=n[1-2] CPU_IDs=0-1 Mem=200`` lines, which list
        what the job holds on each node (its totals alone cannot tell 4 cpus on 3 nodes apart).
        """
        text = self.run(["scontrol", "show", "job", "-d", "-o", str(job_id)])
        layout: list[dict[str, int]] = []
        for nodes, cpu_ids, mem in _NODE_LAYOUT.findall(text):
            cpus = sum(_range_width(item) for item in cpu_ids.split(","))
            layout += [{"cpus": cpus, "mem": int(mem)}] * _hostlist_width(nodes)
        return layout

    def job_states(self, job_ids: Sequence[JobId]) -> dict[str, str]:
        """slurmctld's state (``RUNNING``, ``COMPLETED``, ...) of each job it still knows.

        One ``squeue --states=all`` call for all of them; ended jobs stay listed for
        ``MinJobAge`` seconds, then drop out (absent from the answer, like unknown ids).
        """
        if not job_ids:
            return {}
        argv = ["squeue", "--noheader", "--states=all", "--format=%i|%T"]
        try:
            output = self.run([*argv, "--jobs=" + ",".join(str(j) for j in job_ids)])
        except SlurmError as exc:
            if "invalid job id" in str(exc).lower():  # squeue's answer when none is known
                return {}
            raise
        states: dict[str, str] = {}
        for line in output.splitlines():
            job, _, state = line.strip().partition("|")
            if job and state:
                states[job] = state
        return states

    def partition_nodes(
        self, partition: str | None = None, *, every: bool = False
    ) -> list[dict[str, str]]:
        """The nodes of ``partition`` (default: the cluster's default partition; ``every``: all
        partitions) from ``sinfo``: one dict per node and partition with ``node``,
        ``partition``, ``cpus``, ``memory`` (MB) and ``gres``."""
        argv = ["sinfo", "--noheader", "--Node", "--format=%N|%P|%c|%m|%G"]
        nodes: list[dict[str, str]] = []
        for line in self.run(argv).splitlines():
            fields = line.strip().split("|")
            if len(fields) != 5:
                continue
            node, name, cpus, memory, gres = fields
            default = name.endswith("*")
            if every or (partition is None and default) or name.rstrip("*") == partition:
                nodes.append(
                    {
                        "node": node,
                        "partition": name.rstrip("*"),
                        "cpus": cpus,
                        "memory": memory,
                        "gres": gres,
                    }
                )
        return nodes

    def sbatch(self, script: str | Path, *, extra_args: Sequence[str] = ()) -> int:
        """Submit a batch script and return its job id.

        ``script`` is the script text when it is a ``str`` starting with ``#!`` (sent on stdin),
        otherwise a path to the script file.
        """
        argv = ["sbatch", "--parsable", *extra_args]
        if isinstance(script, str) and script.startswith("#!"):
            return parse_parsable(self.run(argv, input=script))
        return parse_parsable(self.run([*argv, str(script)]))

    def squeue(self, user: str | None = None) -> list[dict[str, Any]]:
        """Jobs slurmctld knows (``squeue --json``), optionally only ``user``'s.

        Slurm 22.05 ignores filters with ``--json``, so the user filter is applied here as well.
        """
        argv = ["squeue", "--json"] + (["--user", user] if user else [])
        output = self.run(argv)
        try:
            data = json.loads(output)
        except json.JSONDecodeError as exc:
            raise SlurmError(f"squeue: --json output is not JSON ({exc.msg})", argv=argv) from None
        errors = data.get("errors") or []
        if errors:
            first = errors[0]
            detail = first.get("error", first) if isinstance(first, dict) else first
            raise SlurmError(f"squeue: {detail}", argv=argv)
        jobs: list[dict[str, Any]] = list(data.get("jobs", []))
        return [job for job in jobs if user is None or job.get("user_name") == user]

    def sacct(
        self,
        job_ids: Sequence[JobId] | None = None,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        fields: Sequence[str] = DEFAULT_FIELDS,
        duplicates: bool = True,
        state: str | None = None,
        timeout: float = 60,
    ) -> str:
        """Accounting records as text: a header line, then one row per job and per step.

        Columns are separated by :data:`DELIMITER` (``-P --delimiter``); steps are included (no
        ``-X``); ``duplicates`` adds ``-D`` so requeued runs keep their own rows; ``state``
        selects by state (``-s CA``); a long window may need more than the default ``timeout``.
        """
        argv = sacct_argv(
            job_ids, since=since, until=until, fields=fields, duplicates=duplicates, state=state
        )
        return self.run(argv, timeout=timeout)

    def scancel(self, job_id: JobId) -> None:
        """Cancel a job (Slurm says nothing, and exits 0, when it has already ended)."""
        self.run(["scancel", str(job_id)])

    def scontrol_show_job(self, job_id: JobId) -> dict[str, str]:
        """slurmctld's view of one job as ``Key=Value`` pairs (``JobState``, ``Partition``, ...)."""
        return parse_key_values(self.run(["scontrol", "show", "job", "-o", str(job_id)]))

    def available(self) -> str | None:
        """None when slurmctld answers ``sinfo``; otherwise the one-line reason it does not."""
        try:
            self.run(["sinfo", "--noheader", "--format=%P"], timeout=15)
        except SlurmError as exc:
            return str(exc)
        return None
