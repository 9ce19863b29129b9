"""Refuse to start worker processes from the unguarded top level of a script.

Worker processes started with ``forkserver`` or ``spawn`` (the local executor, Dask's nannies)
re-import the user's script. Code at its top level that starts a run then runs again in every
worker, which starts workers of its own: the run never ends, or ends having done nothing. Python
guards this only for ``spawn`` and only deep inside a child, so the check is made here, in the
parent, before any worker exists: the script's source is parsed and the line that called us must
sit inside ``if __name__ == "__main__":`` (or inside a function, which the guard then calls).
A worker that imports such a script anyway stops with the same message.
"""

from __future__ import annotations

import ast
import multiprocessing
import sys
from pathlib import Path
from types import FrameType

GUARD_HELP = (
    'put the script\'s code under `if __name__ == "__main__":` (worker processes re-import '
    "the script, and would run it again)"
)


class UnguardedMainError(RuntimeError):
    """The script starts worker processes from its top level, without a main guard."""


def _is_main_guard(node: ast.AST) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    sides = [node.test.left, *node.test.comparators]
    names = {s.id for s in sides if isinstance(s, ast.Name)}
    texts = {s.value for s in sides if isinstance(s, ast.Constant)}
    return names == {"__name__"} and texts == {"__main__"}


def _guarded_lines(tree: ast.Module) -> set[int]:
    """Line numbers of the module's top level that are not run on import."""
    lines: set[int] = set()
    for node in tree.body:
        safe = _is_main_guard(node) or isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        )
        if safe:
            end = node.end_lineno or node.lineno
            lines.update(range(node.lineno, end + 1))
    return lines


def _script_frame(path: str) -> FrameType | None:
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == path and frame.f_code.co_name == "<module>":
            return frame
        frame = frame.f_back
    return None


def check_main_guard(start_method: str) -> None:
    """Raise UnguardedMainError if worker processes would re-run the calling script."""
    if start_method == "fork":
        return
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise UnguardedMainError(f"a worker process re-imported the script: {GUARD_HELP}")
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or getattr(main, "__spec__", None) is not None:
        return  # python -c, a REPL, python -m: workers do not re-import a script
    if not Path(path).is_file():  # python - < script.py: workers would look for a file "<stdin>"
        raise UnguardedMainError(
            f"the script was read from {path}, but worker processes re-import the main script "
            "from its file: save it to a file and run that (python script.py)"
        )
    frame = _script_frame(path)
    if frame is None:
        return
    try:
        tree = ast.parse(Path(path).read_text(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return
    if frame.f_lineno not in _guarded_lines(tree):
        raise UnguardedMainError(
            f"{path}:{frame.f_lineno} starts worker processes at the top level of the script; "
            + GUARD_HELP
        )
