"""Checking a model's sentence about a run against the run's record: ids, files, codes, numbers.

:mod:`.grounding` checks numbers against a chart's facts; a failure analysis is made of other
things a reader acts on: task ids, file names, exit codes, folders and commands. Each sentence
is read (never executed) and every such reference must be one the record holds:

- an **exit code** (``exit code 3``, ``exited with status 3``, ``returned 3``) must be the exit
  code of a task of the run;
- a **file name** (``a.txt``, ``stderr.txt``) must be a file the record names (inputs, outputs,
  the attempt's stdout/stderr, files quoted in a stderr or stdout tail);
- a **path** (``/x/y``, ``~/x``, ``../x``) must be one of the run's folders or a file in one:
  a path outside the run is refused;
- an **identifier** (a token with a digit or ``_``, or the word after "task"/"job") must be a task
  id, a host or another name of the record;
- **shell text** (backticks, ``$(``, ``&&``, ``|``, redirections, ``sudo``/``rm -``/
  ``curl``...) is refused unless it is one of the record's own commands, quoted as is;
- every other **number** must appear in what the model was shown;
- a "sentence" of fewer than two words (``1``, a fragment of a command) is not one.

Outcome per sentence, as in :mod:`.grounding`: **verified** (it names at least one reference and
all check), **unverifiable** (nothing to check: shown marked), **dropped** (something does not
check: not shown; the reason is kept and counted).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from hpcsched.llm.grounding import Status

#: Words after "task"/"job" that are English, not a task id.
_ENGLISH: Final = (
    "a an and as at be but by can could did does failed fails finished for from has had in is it "
    "its may might must never no not of on or ran runs should so than that the then these this "
    "those to was were which will with would itself ids id"
)
_NOT_IDS: Final = frozenset(_ENGLISH.split())
_EXIT = re.compile(
    r"\b(?:exit(?:ed)?|return(?:ed)?|status)(?:\s+(?:with|code|status|value|of|=|:))*\s*"
    r"\(?(?P<code>-?\d+)\b",
    re.IGNORECASE,
)
_SHELL: Final = re.compile(
    r"`|\$\(|\$\{|&&|\|\||(?<![<>])\|\s*\w|(?:^|\s)>>?\s*[\w./~]|(?:^|\s)<\s*[\w./~]|>&|\d>|<<"
    r"|\b(?:sudo|rm|chmod|chown|curl|wget|mkfs|dd|eval|nc|scp|ssh)\s+[-/~$.\w]",
    re.IGNORECASE,
)
_WORDS = re.compile(r"\b[A-Za-z]{2,}\b")
#: Words a sentence must have to be read as one.
MIN_WORDS: Final = 2
_PATH = re.compile(r"(?<![\w.])(?:~|\.{1,2})?/[\w.\-/]+")
_FILE = re.compile(r"(?<![\w./-])[\w-]+(?:\.[\w-]+)*\.[A-Za-z][A-Za-z0-9]{0,5}\b(?![/\w-])(?!\.\w)")
_ABBREV: Final = frozenset({"e.g", "i.e", "etc", "vs", "a.m", "p.m"})
_IDENT = re.compile(r"(?<![\w./-])(?=[\w-]*[A-Za-z])(?=[\w-]*[\d_])[\w-]+")
_AFTER_TASK = re.compile(r"\b(?:task|job)s?\s+['\"“]?(?P<id>[\w][\w.-]*)", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")


@dataclass(frozen=True)
class Known:
    """What the run's record holds: the only references a sentence may make."""

    task_ids: frozenset[str] = frozenset()
    files: frozenset[str] = frozenset()  #: names and relative paths
    folders: frozenset[str] = frozenset()  #: absolute folders of the run (and files in them)
    exit_codes: frozenset[int] = frozenset()
    names: frozenset[str] = frozenset()  #: hosts, reasons, kinds, the workflow's name
    numbers: frozenset[float] = frozenset()  #: every number in the text the model was shown
    commands: tuple[str, ...] = ()  #: the tasks' own command lines

    @classmethod
    def of(
        cls,
        *,
        task_ids: Iterable[str] = (),
        files: Iterable[str] = (),
        folders: Iterable[str] = (),
        exit_codes: Iterable[int] = (),
        names: Iterable[str] = (),
        shown: str = "",
        commands: Iterable[str] = (),
    ) -> Known:
        """``shown``: the text the model was given; its numbers and file names may be quoted."""
        quoted = {m.group(0) for m in _FILE.finditer(shown)}
        return cls(
            frozenset(task_ids),
            frozenset({*files, *quoted, *(f.rsplit("/", 1)[-1] for f in files)}),
            frozenset(f.rstrip("/") for f in folders if f),
            frozenset(exit_codes),
            frozenset(n.lower() for n in names if n),
            frozenset(float(m.group(0)) for m in _NUMBER.finditer(shown)),
            tuple(sorted({c for c in commands if c}, key=len, reverse=True)),
        )

    def has_path(self, path: str) -> bool:
        path = path.rstrip("/.")
        if path in self.files:
            return True
        return any(path == f or path.startswith(f + "/") for f in self.folders)


@dataclass
class ReferenceCheck:
    """One sentence: its outcome, the references that checked and the problems found."""

    text: str
    status: Status
    found: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str | None:
        return "; ".join(self.problems) or None


def check_references(text: str, known: Known) -> ReferenceCheck:
    """Every reference of ``text`` checked against ``known`` (the text is never run)."""
    text = " ".join(text.split())
    found: list[str] = []
    problems: list[str] = []
    masked = text
    for command in known.commands:  # a task's own command, quoted as is, is a reference
        for quoted in (f"`{command}`", command):
            if quoted in masked:
                masked = masked.replace(quoted, " " * len(quoted))
                found.append(command)
    if shell := _SHELL.search(masked):
        problems.append(f"shell text not in the run: {shell.group(0).strip()!r}")
    spans = _checked(_PATH, masked, known.has_path, "path outside the run", found, problems)
    masked = _blank(masked, spans)
    spans = _checked(
        _EXIT,
        masked,
        lambda code: int(code) in known.exit_codes,
        "exit code not in the journal",
        found,
        problems,
        "code",
    )
    masked = _blank(masked, spans)

    def is_file(name: str) -> bool:
        return name in known.files or name.lower() in known.names or name in known.task_ids

    files = [m for m in _FILE.finditer(masked) if m.group(0).lower() not in _ABBREV]
    spans = []
    for m in files:
        spans.append((m.start(), m.end()))
        (found if is_file(m.group(0)) else problems).append(
            m.group(0) if is_file(m.group(0)) else f"file not in the journal: {m.group(0)}"
        )
    masked = _blank(masked, spans)
    ids = {m.group("id").rstrip(".") for m in _AFTER_TASK.finditer(masked)}
    ids = {i for i in ids if i.lower() not in _NOT_IDS}
    ids |= {m.group(0) for m in _IDENT.finditer(masked)}
    for ident in sorted(ids):
        if ident in known.task_ids or ident.lower() in known.names:
            found.append(ident)
        elif not _NUMBER.fullmatch(ident):
            problems.append(f"name not in the journal: {ident}")
    for ident in ids:
        masked = re.sub(rf"(?<![\w-]){re.escape(ident)}(?![\w-])", " ", masked)
    for m in _NUMBER.finditer(masked):
        if float(m.group(0)) in known.numbers:
            found.append(m.group(0))
        else:
            problems.append(f"number not in the journal: {m.group(0)}")
    if len(_WORDS.findall(text)) < MIN_WORDS:  # "1" or a fragment of a command is no sentence
        problems.append(f"not a sentence (fewer than {MIN_WORDS} words)")
    if problems:
        status: Status = "dropped"
    elif found:
        status = "verified"
    else:
        status = "unverifiable"
    return ReferenceCheck(text, status, found, problems)


def _checked(
    pattern: re.Pattern[str],
    text: str,
    ok: Callable[[str], bool],
    what: str,
    found: list[str],
    problems: list[str],
    group: int | str = 0,
) -> list[tuple[int, int]]:
    """Check every match of ``pattern``; the spans to blank (checked or not, counted once)."""
    spans = []
    for m in pattern.finditer(text):
        value = m.group(group)
        if ok(value):
            found.append(m.group(0))
        else:
            problems.append(f"{what}: {m.group(0).strip()}")
        spans.append((m.start(), m.end()))
    return spans


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)
