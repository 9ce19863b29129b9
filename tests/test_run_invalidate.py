"""A resumed `hpcsched run` does again a finished task whose command changed, or whose output is
missing or changed, and every task that depends on it, saying why per task before the run; and it
does each exactly once more, even across a crash in the middle of doing it."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

from fault_harness import final_json, hpcsched, start, wait_for
from hpcsched.campaigns.task import Task, TaskResult
from hpcsched.runtime.invalidate import changed_actions, stale_tasks
from hpcsched.runtime.journal import AttemptRecord, RunRecord, TaskRecord

WF = """\
jobs:
  - id: make
    command: "{make}echo a > a.txt; echo make >> {ledger}"
    outputs: [a.txt]
  - id: use
    command: "{use}cat a.txt > b.txt; echo use >> {ledger}"
    inputs: [a.txt]
    outputs: [b.txt]
  - id: report
    command: "cat b.txt > report.txt; echo report >> {ledger}"
    inputs: [b.txt]
    outputs: [report.txt]
  - id: shout
    command: "echo LOUD > loud.txt; echo shout >> {ledger}"
    outputs: [loud.txt]
"""
ALL = {"make", "use", "report", "shout"}


def _setup(tmp_path: Path, make: str = "", use: str = "") -> tuple[Path, Path]:
    """The workflow in ``tmp_path/work`` and its ledger outside it; run once, all succeed.
    ``make``, ``use``: what their commands begin with (``{ledger}``, ``{slow}`` filled in)."""
    work, ledger, slow = tmp_path / "work", tmp_path / "ledger.txt", tmp_path / "slow"
    work.mkdir()
    wf = work / "wf.yaml"
    prefixes = {
        key: text.format(ledger=ledger, slow=slow) for key, text in (("make", make), ("use", use))
    }
    wf.write_text(WF.format(**prefixes, ledger=ledger))
    first = hpcsched("run", str(wf), "--cpus", "1", "--json")
    assert first.returncode == 0, first.stderr
    assert _ran(ledger) == Counter(ALL)
    return wf, ledger


def _ran(ledger: Path) -> Counter[str]:
    return Counter(word for word in ledger.read_text().split() if not word.startswith("start-"))


def _resume(wf: Path) -> tuple[dict[str, object], list[str]]:
    """Run again; the summary and the lines saying what is re-run."""
    proc = hpcsched("run", str(wf), "--cpus", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    return final_json(proc), [ln for ln in proc.stderr.splitlines() if ": re-run (" in ln]


def test_a_changed_command_reruns_the_task_and_its_dependents(tmp_path: Path) -> None:
    wf, ledger = _setup(tmp_path)
    wf.write_text(wf.read_text().replace("echo a > a.txt", "echo A > a.txt"))
    summary, said = _resume(wf)
    assert said == [
        "make: re-run (its command changed since it succeeded)",
        "use: re-run (depends on make)",
        "report: re-run (depends on use)",
    ]
    assert _ran(ledger) == Counter(ALL) + Counter({"make", "use", "report"})
    assert (summary["succeeded"], summary["replayed"]) == (4, 1)  # shout replayed
    assert (wf.parent / "report.txt").read_text() == "A\n"
    # what ran is what the journal now holds: a further run does nothing again
    summary, said = _resume(wf)
    assert said == [] and summary["replayed"] == 4
    assert _ran(ledger) == Counter(ALL) + Counter({"make", "use", "report"})


def test_a_missing_output_reruns_its_task_and_what_follows(tmp_path: Path) -> None:
    wf, ledger = _setup(tmp_path)
    (wf.parent / "b.txt").unlink()
    summary, said = _resume(wf)
    assert said == ["use: re-run (its output b.txt is missing)", "report: re-run (depends on use)"]
    assert _ran(ledger) == Counter(ALL) + Counter({"use", "report"})
    assert summary["replayed"] == 2 and (wf.parent / "b.txt").read_text() == "a\n"


def test_a_changed_output_reruns_its_task_even_at_the_same_size(tmp_path: Path) -> None:
    wf, ledger = _setup(tmp_path)
    (wf.parent / "loud.txt").write_text("soft\n")  # the size of LOUD\n: only the hash tells
    assert (wf.parent / "loud.txt").stat().st_size == len("LOUD\n")
    summary, said = _resume(wf)
    assert said == ["shout: re-run (its output loud.txt changed: sha256 differs)"]
    assert _ran(ledger) == Counter(ALL) + Counter({"shout"})
    assert summary["replayed"] == 3 and (wf.parent / "loud.txt").read_text() == "LOUD\n"


def test_nothing_changed_nothing_is_run_again(tmp_path: Path) -> None:
    wf, ledger = _setup(tmp_path)
    summary, said = _resume(wf)
    assert said == [] and summary["replayed"] == 4
    assert _ran(ledger) == Counter(ALL)


def test_a_crash_while_redoing_then_a_run_redoes_each_task_exactly_once_more(
    tmp_path: Path,
) -> None:
    wf, ledger = _setup(tmp_path, make="echo start-make >> {ledger}; ")
    # the changed command marks its start in the ledger, then sleeps: the pilot is killed then
    wf.write_text(wf.read_text().replace("; echo a > a.txt", "; sleep 3; echo a > a.txt"))
    proc = start(str(wf), "--cpus", "1", "--json")
    try:
        started = wait_for(lambda: ledger.read_text().count("start-make") == 2, timeout=60)
        assert started, "the changed make never started"
        time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    assert "make: re-run (its command changed since it succeeded)" in err
    assert _ran(ledger) == Counter(ALL)  # the killed attempt never reached its ledger line
    summary, said = _resume(wf)
    assert said == [] and summary["succeeded"] == 4  # already said, and journaled, before
    redone = Counter({"make", "use", "report"})
    assert _ran(ledger) == Counter(ALL) + redone
    assert ledger.read_text().count("start-make") == 3  # the killed attempt and the one after
    summary, said = _resume(wf)
    assert said == [] and summary["replayed"] == 4
    assert _ran(ledger) == Counter(ALL) + redone


def test_a_crash_while_redoing_a_dependent_still_redoes_it_after_its_cause_succeeded(
    tmp_path: Path,
) -> None:
    # use sleeps only while the file slow exists, so its command is the same in every run
    wf, ledger = _setup(tmp_path, use="test -f {slow} && echo start-use >> {ledger} && sleep 3; ")
    wf.write_text(wf.read_text().replace("echo a > a.txt", "echo A > a.txt"))
    (tmp_path / "slow").touch()
    proc = start(str(wf), "--cpus", "1", "--json")
    try:
        started = wait_for(lambda: "start-use" in ledger.read_text(), timeout=60)
        assert started, "use was never redone"
        time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    assert "use: re-run (depends on make)" in err
    assert _ran(ledger) == Counter(ALL) + Counter({"make"})  # make was redone, use killed
    (tmp_path / "slow").unlink()
    # make now succeeded with its new command and its output is as recorded: use and report
    # are redone only because the journal says they were invalidated
    summary, said = _resume(wf)
    assert said == [] and summary["replayed"] == 2
    redone = Counter({"make", "use", "report"})
    assert _ran(ledger) == Counter(ALL) + redone
    assert (wf.parent / "report.txt").read_text() == "A\n"


def test_why_and_provenance_show_what_each_attempt_ran_after_the_command_changed(
    tmp_path: Path,
) -> None:
    wf, run_dir = tmp_path / "wf.yaml", tmp_path / "wf.run"
    for code in (3, 4):  # a failing command, edited, fails again
        wf.write_text(f'jobs:\n  - id: bad\n    command: "exit {code}"\n')
        assert hpcsched("run", str(wf), "--json").returncode == 1
    why = json.loads(hpcsched("why", str(run_dir), "--json").stdout)
    assert [f["command"] for f in why["failures"]] == ["exit 4"]
    attempts = json.loads(hpcsched("provenance", str(run_dir), "bad", "--json").stdout)
    assert [a["action"] for a in attempts] == ["exit 3", "exit 4"]


def _record(tmp_path: Path, *tasks: Task) -> RunRecord:
    """A journal's fold where every task succeeded once, as first submitted."""
    record = RunRecord(run_dir=tmp_path)
    for task in tasks:
        rec = TaskRecord(task=task, submitted_wall=0.0, state="succeeded")
        attempt = AttemptRecord(number=1, started_wall=0.0)
        attempt.result = TaskResult(task_id=task.id, attempt=1, ok=True)
        rec.attempts.append(attempt)
        record.tasks[task.id] = rec
    return record


def test_stale_tasks_compares_a_callable_and_its_arguments_and_skips_unfinished_ones(
    tmp_path: Path,
) -> None:
    fit = Task(id="fit", callable="pkg.mod:fit", args=[1])
    score = Task(id="score", callable="pkg.mod:score", depends=["fit"])
    plot = Task(id="plot", callable="pkg.mod:plot", depends=["score"])
    record = _record(tmp_path, fit, score, plot)
    changed = [fit.model_copy(update={"args": [2]}), score, plot]
    stale = stale_tasks(changed, record, {"fit", "score"}, tmp_path)  # plot is not done
    assert [s.line() for s in stale] == [
        "fit: re-run (its callable or its arguments changed since it succeeded)",
        "score: re-run (depends on fit)",
    ]
    assert changed_actions(changed, record) == {"fit"}
    assert stale_tasks([fit, score, plot], record, {"fit", "score", "plot"}, tmp_path) == []
