"""Read and rewrite the ``#SBATCH`` directives of a batch script, keeping everything else verbatim.

Rules from the sbatch man page (https://slurm.schedmd.com/sbatch.html): directives are lines that
start with ``#SBATCH`` before the first executable line ("sbatch will stop processing further
#SBATCH directives once the first non-comment non-whitespace line has been reached"); a line is
parsed like a command line, so one line may hold several options; a later option overrides an
earlier one. Times are ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM`` or ``D-HH:MM:SS``;
memory is in megabytes unless suffixed ``K``, ``M``, ``G`` or ``T`` (powers of 1024).
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

MARK = "# hpcsched advise:"
MB = 1024 * 1024

#: short option -> long option, for the options advice reads or writes
SHORT = {
    "-t": "--time",
    "-N": "--nodes",
    "-n": "--ntasks",
    "-c": "--cpus-per-task",
    "-p": "--partition",
    "-q": "--qos",
    "-J": "--job-name",
    "-A": "--account",
    "-G": "--gpus",
    "-d": "--dependency",
}
#: long options that take no value (so the next token is not swallowed as one)
FLAGS = frozenset({"--exclusive", "--requeue", "--no-requeue", "--hold", "--parsable", "--wait"})
_UNLIMITED = frozenset({"infinite", "unlimited"})


class ScriptError(ValueError):
    """A batch script advice cannot read; the message is one line with ``file:line``."""


def parse_time(text: str) -> float | None:
    """Seconds in a Slurm time string (see the module notes); ``None`` for UNLIMITED/INFINITE."""
    value = text.strip()
    if value.lower() in _UNLIMITED:
        return None
    match = re.fullmatch(
        r"(?:([0-9]{1,6})-)?([0-9]{1,9})(?::([0-9]{1,9}))?(?::([0-9]{1,9}))?", value
    )
    if match is None:
        raise ValueError(f"{text!r} is not a Slurm time (MM, MM:SS, HH:MM:SS, D-HH[:MM[:SS]])")
    days, a, b, c = match.groups()
    parts = [int(x) for x in (a, b, c) if x is not None]
    if days is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        hours, minutes, seconds = [*parts, 0, 0][:3]
        return float(((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds)
    if len(parts) == 1:  # MM
        return float(parts[0] * 60)
    if len(parts) == 2:  # MM:SS
        return float(parts[0] * 60 + parts[1])
    return float((parts[0] * 60 + parts[1]) * 60 + parts[2])  # HH:MM:SS


def format_time(seconds: float) -> str:
    """A Slurm time for ``seconds`` rounded up to whole minutes (Slurm's time limit unit)."""
    minutes = max(1, math.ceil(seconds / 60 - 1e-9))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return f"{days}-{hours:02d}:{mins:02d}:00" if days else f"{hours:02d}:{mins:02d}:00"


def parse_memory(text: str) -> float:
    """Bytes in a Slurm memory size (MB by default; K/M/G/T suffixes are powers of 1024)."""
    match = re.fullmatch(r"([0-9]{1,15}(?:\.[0-9]{1,15})?)([KMGT]?)B?", text.strip(), re.IGNORECASE)
    if match is None:  # ASCII digits, at most 10^15 of a unit: every size stays far below 2^63
        raise ValueError(f"{text!r} is not a Slurm memory size (e.g. 500M, 4G, 2000)")
    number, unit = float(match.group(1)), (match.group(2) or "M").upper()
    return float(number * 1024 ** "KMGT".index(unit) * 1024)


def format_memory(nbytes: float) -> str:
    """A Slurm memory size rounded up to whole megabytes, in G when that is exact."""
    mb = max(1, math.ceil(nbytes / MB - 1e-9))
    return f"{mb // 1024}G" if mb % 1024 == 0 else f"{mb}M"


@dataclass
class Directive:
    """One option of an ``#SBATCH`` line: its long name, value and where it came from."""

    option: str  # long form, e.g. "--time"
    value: str | None
    line: int  # 0-based index into the script's lines


@dataclass
class SbatchScript:
    """A batch script: its lines (verbatim) and the directives read from them."""

    path: str
    lines: list[str]
    directives: list[Directive] = field(default_factory=list)
    last_directive_line: int = 0  # where added directives go (after the shebang when none)

    def get(self, option: str) -> str | None:
        """The effective value of ``option`` (long form): the last occurrence wins."""
        found = [d for d in self.directives if d.option == option]
        return found[-1].value if found else None

    def where(self, option: str) -> str:
        found = [d for d in self.directives if d.option == option]
        return f"{self.path}:{found[-1].line + 1}" if found else self.path

    @property
    def text(self) -> str:
        return "".join(self.lines)


def _tokens(body: str, where: str) -> list[tuple[str, str | None]]:
    try:
        words = shlex.split(body, comments=True)
    except ValueError as exc:
        raise ScriptError(f"{where}: cannot read #SBATCH line ({exc}); fix its quoting") from None
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            if not eq and name not in FLAGS and i < len(words) and not words[i].startswith("-"):
                value, i = words[i], i + 1
            out.append((name, value if (eq or value) else None))
        elif word.startswith("-") and len(word) >= 2:
            short, rest = word[:2], word[2:]
            if not rest and i < len(words) and not words[i].startswith("-"):
                rest, i = words[i], i + 1
            out.append((SHORT.get(short, short), rest or None))
        else:
            raise ScriptError(f"{where}: {word!r} is not an sbatch option; remove it or add '--'")
    return out


def parse_script(text: str, path: str = "<script>") -> SbatchScript:
    """Read the directives of ``text`` (see the module notes for the rules followed)."""
    lines = text.splitlines(keepends=True)
    script = SbatchScript(path, lines)
    if lines and lines[0].startswith("#!"):
        script.last_directive_line = 1
    for index, line in enumerate(lines):
        stripped = line.strip()
        if index == 0 and stripped.startswith("#!"):
            continue
        if stripped and not stripped.startswith("#"):
            break  # the first executable line ends the directives
        if not line.startswith("#SBATCH") or line[7:8] not in (" ", "\t"):
            continue
        for option, value in _tokens(line[7:], f"{path}:{index + 1}"):
            script.directives.append(Directive(option, value, index))
        script.last_directive_line = index + 1
    return script


def read_script(path: str | Path) -> SbatchScript:
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError(f"cannot read {p}: {exc.__class__.__name__} (check the path)") from None
    return parse_script(text, str(p))


def _line_with(script: SbatchScript, index: int, values: dict[str, str]) -> str:
    """Line ``index`` with the options in ``values`` set and its other options kept."""
    words = []
    for name, old in _tokens(script.lines[index][7:], f"{script.path}:{index + 1}"):
        new = values.get(name, old)
        words.append(name if new is None else f"{name}={shlex.quote(new)}")
    return "#SBATCH " + " ".join(words) + "\n"


def rewrite(script: SbatchScript, changes: dict[str, tuple[str, str]], note: str = "") -> str:
    """The script with each ``option -> (value, reason)`` applied and marked by a comment line.

    An option already present is changed on the line of its last occurrence (the one sbatch
    uses); a new one is added after the last directive, followed by ``note`` (comment lines).
    Every other line is kept verbatim.
    """
    lines = list(script.lines)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    notes: dict[int, list[str]] = {}
    values: dict[int, dict[str, str]] = {}
    added: list[str] = []
    for option, (value, reason) in changes.items():
        found = [d for d in script.directives if d.option == option]
        if not found:
            added += [f"{MARK} {option} added ({reason})\n", f"#SBATCH {option}={value}\n"]
        elif found[-1].value != value:
            index = found[-1].line
            was = script.lines[index].strip()
            notes.setdefault(index, []).append(f"{MARK} {option} changed ({reason}); was: {was}\n")
            values.setdefault(index, {})[option] = value
    added += [f"{MARK} {line}\n" for line in note.splitlines()]
    for index, new in values.items():
        lines[index] = _line_with(script, index, new)
    out: list[str] = []
    for index, line in enumerate(lines):
        if index == script.last_directive_line:
            out += added
            added = []
        out += notes.get(index, [])
        out.append(line)
    return "".join(out + added)
