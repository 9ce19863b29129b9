"""What the journal says about each root cause of a failed run, and the deterministic advice.

For ``hpcsched why RUN --explain`` (after PegasusAI's analysis of a failed workflow): for every
root cause of :func:`~hpcsched.runtime.analyze.diagnose`, the task's command (or callable), the
host and the attempt's folder, its exit code, reason and message, the tails of its stderr and
stdout, what it blocks, and its declared inputs and outputs. This is all the model is shown, and
the set of references (:class:`~hpcsched.llm.references.Known`) every sentence it writes is
checked against. The deterministic "root cause / next steps" are written from the same facts,
so a run without an endpoint, or whose model fails, is explained all the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hpcsched.llm.references import Known
from hpcsched.runtime.analyze import Diagnosis
from hpcsched.runtime.journal import RunRecord

TAIL_LINES = 8
TAIL_CHARS = 800


@dataclass(frozen=True)
class FailureFacts:
    """One root cause as the journal (and its attempt folder) records it."""

    task_id: str
    reason: str
    message: str
    exit_code: int | None
    attempts: int
    command: str  #: the command line, or ``callable module:function``
    host: str
    folder: str  #: the last attempt's folder ('' when it never started)
    stderr_tail: str
    stdout_tail: str
    blocked: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The facts as ``key: value`` lines, for the prompt and for the terminal."""
        out = [
            f"task: {self.task_id}",
            f"reason: {self.reason}",
            f"message: {self.message}",
        ]
        if self.exit_code is not None:
            out.append(f"exit code: {self.exit_code}")
        out += [
            f"attempts: {self.attempts}",
            f"command: {self.command}",
            f"host: {self.host or 'unknown'}",
            f"folder: {self.folder or 'none (it never started)'}",
        ]
        if self.inputs:
            out.append(f"inputs: {', '.join(self.inputs)}")
        if self.outputs:
            out.append(f"outputs: {', '.join(self.outputs)}")
        out.append(f"blocks: {', '.join(self.blocked) if self.blocked else 'nothing'}")
        for name, tail in (("stderr", self.stderr_tail), ("stdout", self.stdout_tail)):
            out.append(f"{name} tail:" if tail else f"{name} tail: (empty)")
            out += [f"  {line}" for line in tail.splitlines()]
        return out

    def files(self) -> dict[str, str]:
        """The captured stdout and stderr files of the last attempt (none if it never started)."""
        if not self.folder:
            return {}
        return {name: str(Path(self.folder) / f"{name}.txt") for name in ("stdout", "stderr")}

    def detail_lines(self, shown: int = 5) -> list[str]:
        """What ``why`` prints under a root cause's headline (after pegasus-analyzer's job
        details): command, host, folder, the captured files, the last ``shown`` lines of each.
        Both tails, because a program's own error often goes to stdout."""
        out = [
            f"  command: {self.command}",
            f"  host:    {self.host or 'unknown'}",
            f"  folder:  {self.folder or 'none (it never started)'}",
        ]
        out += [f"  {name}:  {path}" for name, path in self.files().items()]
        for name, tail in (("stdout", self.stdout_tail), ("stderr", self.stderr_tail)):
            last = tail.rstrip().splitlines()[-shown:]
            out.append(f"  {name} tail:" if last else f"  {name} tail: (empty)")
            out += [f"    | {line}" for line in last]
        return out


def _tail(text: str) -> str:
    lines = text.rstrip().splitlines()[-TAIL_LINES:]
    return "\n".join(line[:200] for line in lines)[-TAIL_CHARS:]


def _file_tail(folder: str, name: str) -> str:
    if not folder:
        return ""
    try:
        with (Path(folder) / name).open("rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4 * TAIL_CHARS))
            return _tail(f.read().decode("utf-8", "replace"))
    except OSError:
        return ""


def failure_facts(record: RunRecord, diagnosis: Diagnosis) -> list[FailureFacts]:
    """The facts of every root cause, in the diagnosis' order."""
    out: list[FailureFacts] = []
    for cause in diagnosis.root_causes:
        rec = record.tasks.get(cause.task_id)
        last = rec.last_attempt if rec is not None else None
        result = last.result if last is not None else None
        task = rec.task if rec is not None else None
        if task is None:
            command = "unknown (not in the journal)"
        elif last is not None and last.command and task.command is not None:
            command = last.command  # what it ran: the workflow changed since it was submitted
        else:
            command = task.command or f"callable {task.callable}"
        folder = last.workdir if last is not None else ""
        stderr = cause.stderr_tail or _file_tail(folder, "stderr.txt")
        out.append(
            FailureFacts(
                task_id=cause.task_id,
                reason=cause.reason,
                message=cause.message,
                exit_code=result.exit_code if result is not None else None,
                attempts=cause.attempts,
                command=command,
                host=result.host if result is not None else "",
                folder=folder,
                stderr_tail=_tail(stderr),
                stdout_tail=_file_tail(folder, "stdout.txt"),
                blocked=list(cause.blocked),
                inputs=list(task.inputs) if task is not None else [],
                outputs=list(task.outputs) if task is not None else [],
            )
        )
    return out


def known_references(record: RunRecord, facts: list[FailureFacts], shown: str) -> Known:
    """Everything a sentence may refer to: the run's tasks, files, folders, codes and hosts."""
    files = {"stdout.txt", "stderr.txt", "journal.sqlite"}
    codes: set[int] = set()
    hosts: set[str] = set()
    commands: list[str] = []
    for rec in record.tasks.values():
        files.update(rec.task.inputs)
        files.update(rec.task.outputs)
        if rec.task.command:
            commands.append(rec.task.command)
        for attempt in rec.attempts:
            if attempt.result is not None:
                if attempt.result.exit_code is not None:
                    codes.add(attempt.result.exit_code)
                hosts.add(attempt.result.host)
    folders = {str(record.run_dir.resolve())}
    for run in record.runs:
        folders.add(str(run.get("work_dir", "")))
        workflow = str(run.get("workflow", ""))
        if workflow:
            files.add(workflow)
            files.add(Path(workflow).name)
        hosts.add(str(run.get("host", "")))
    folders.update(f.folder for f in facts)
    names = {*hosts, *(f.reason for f in facts), "stderr", "stdout"}
    return Known.of(
        task_ids=record.tasks,
        files=files,
        folders=folders,
        exit_codes=codes,
        names=names,
        shown=shown,
        commands=commands,
    )


def deterministic_advice(facts: FailureFacts) -> tuple[list[str], list[str]]:
    """Root cause and next steps written from the facts alone (no model)."""
    code = f" with exit code {facts.exit_code}" if facts.exit_code is not None else ""
    cause = [f"Task {facts.task_id} failed on its own ({facts.reason}){code}: {facts.message}."]
    last = facts.stderr_tail.strip().splitlines()[-1:] if facts.stderr_tail.strip() else []
    if last:
        cause.append(f"The last line of its stderr reads: {last[0]}")
    if facts.blocked:
        cause.append(f"It blocks {len(facts.blocked)} task(s): {', '.join(facts.blocked[:10])}.")
    steps: list[str] = []
    if facts.folder:
        steps.append(f"Read stderr.txt and stdout.txt in {facts.folder}.")
    hints = {
        "timeout": "Raise the task's timeout, or split the work into smaller tasks.",
        "out-of-memory": "Raise the task's mem, or reduce what one attempt holds in memory.",
        "missing-input": "Check that the inputs the task declares are written before it runs.",
        "missing-output": "Make the command write every output the task declares.",
        "lost": "Check the host and the executor's workers, then run again to retry the task.",
        "signal": "Something outside killed it (an operator, a health check): check the host.",
    }
    steps.append(hints.get(facts.reason, "Fix the command or its inputs on the host it ran on."))
    steps.append(
        "Run the same hpcsched run command again: finished tasks are kept, the failed ones "
        "run again."
    )
    return cause, steps
