"""The tool-selection spec (YAML): required outputs, each with its candidate tasks.

::

    name: uo2-screening            # optional
    budget: 44000                  # optional default token budget for `plan tools`
    compute_unit: GPU-s            # optional label of the compute column
    outputs:
      - name: relaxed-structures   # one required output b_i
        options:                   # its candidate tasks G_i, of different granularity
          - {name: one-per-call, utility: 0.95, tokens: 5200, compute: 40}
          - {name: batch-of-50,  utility: 0.90, tokens: 900,  compute: 40}

Utilities are any finite numbers (larger is better), tokens and compute whole non-negative
numbers (the DP indexes a table by them: write compute in a unit small enough to be whole).
Every mistake is one line ``FILE:LINE: what; what to do``, the line taken from the YAML node the
value came from (a key given twice, which PyYAML would silently resolve, is refused).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Final

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hpcsched.core.yaml_guard import YamlRefusal, check_tree
from hpcsched.plan.knapsack import Instance

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


#: Tokens, compute and budgets: whole numbers up to 10^12 (sums of a million stay in int64).
MOST_WEIGHT: Final = 10**12


class SpecError(ValueError):
    """A spec that cannot be planned. ``str(err)`` is ``FILE:LINE: what; fix`` on one line."""

    def __init__(self, file: str, line: int | None, what: str, fix: str) -> None:
        where = file if line is None else f"{file}:{line}"
        super().__init__(" ".join(f"{where}: {what}; {fix}".splitlines()))


class Option(BaseModel):
    """One candidate task for an output: what it is worth and what it costs."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    utility: float = Field(allow_inf_nan=False)
    tokens: int = Field(ge=0, le=MOST_WEIGHT, strict=True)
    compute: int = Field(default=0, ge=0, le=MOST_WEIGHT, strict=True)


class Output(BaseModel):
    """A required output ``b_i`` and its candidate tasks ``G_i`` (exactly one is chosen)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    options: list[Option] = Field(min_length=1)


class ToolSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    budget: int | None = Field(default=None, ge=0, le=MOST_WEIGHT, strict=True)
    compute_unit: str = "units"
    outputs: list[Output] = Field(min_length=1)

    def instance(self) -> Instance:
        """The numeric instance the solvers read, names kept for reporting."""
        options = [o for out in self.outputs for o in out.options]
        sizes = [len(out.options) for out in self.outputs]
        return Instance(
            utility=np.array([o.utility for o in options], dtype=np.float64),
            tokens=np.array([o.tokens for o in options], dtype=np.int64),
            compute=np.array([o.compute for o in options], dtype=np.int64),
            offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            outputs=tuple(out.name for out in self.outputs),
            options=tuple(o.name for o in options),
        )


def _line(node: Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 1


def _child(node: Node, part: int | str) -> tuple[Node, Node] | None:
    """(node naming ``part``, its value node) inside a mapping or a sequence."""
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == str(part):
                return key, value
    if isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part], node.value[part]
    return None


def _locate(root: Node, loc: tuple[int | str, ...]) -> int:
    """The line of the deepest node on pydantic's ``loc`` path that the file has."""
    node, line = root, _line(root)
    for part in loc:
        found = _child(node, part)
        if found is None:
            break
        line, node = _line(found[0]), found[1]  # where the key (or the list item) is written
    return line


def _message(error: Any, fields: tuple[str, ...]) -> tuple[str, str]:
    loc = [str(p) for p in error["loc"]]
    where = ".".join(p if not p.isdigit() else f"[{p}]" for p in loc).replace(".[", "[")
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(loc[-1], fields, 1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown field {where!r}", f"{hint}known fields: {', '.join(fields)}"
    if error["type"] == "missing":
        return f"field {where!r} is missing", "add it"
    return f"field {where!r}: {error['msg']}", "fix the value"


def load_spec(path: Path | str) -> ToolSpec:
    """Read and check a spec; :class:`SpecError` (one line, with file:line) on any mistake."""
    file = str(path)
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise SpecError(file, None, f"cannot read ({exc.strerror})", "check the path") from exc
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise SpecError(file, 1, "the file is empty", "write 'outputs:' with their options")
        check_tree(root)  # duplicate keys, alias bombs: refused before anything is built
        data = loader.construct_document(root)
    except SpecError:
        raise
    except YamlRefusal as exc:
        raise SpecError(file, exc.line, exc.what, exc.fix) from exc
    except RecursionError as exc:
        raise SpecError(file, None, "nested too deeply", "flatten the document") from exc
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise SpecError(file, None, f"{exc}", "write a smaller number") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        line = mark.line + 1 if mark else None
        fix = "check the indentation, the quotes and the ':' after each key"
        raise SpecError(file, line, f"YAML syntax error: {what}", fix) from exc
    except yaml.YAMLError as exc:
        raise SpecError(file, None, f"not YAML text: {exc}", "save it as UTF-8") from exc
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SpecError(file, _line(root), "the top level is not a mapping", "start with outputs:")
    try:
        spec = ToolSpec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()  # a misspelt key is also a missing one: name the typo first
        error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        models: dict[int, type[BaseModel]] = {0: ToolSpec, 2: Output, 4: Option}
        fields = models.get(len(error["loc"]) - 1, ToolSpec)
        what, fix = _message(error, tuple(fields.model_fields))
        raise SpecError(file, _locate(root, tuple(error["loc"])), what, fix) from exc
    _unique_names(spec, root, file)
    return spec


def _unique_names(spec: ToolSpec, root: Node, file: str) -> None:
    """Outputs, and the options of one output, are reported by name: two alike would be moot."""
    first: dict[str, int] = {}
    for i, out in enumerate(spec.outputs):
        line = _locate(root, ("outputs", i, "name"))
        if out.name in first:
            what = f"output {out.name!r} is named twice (first at line {first[out.name]})"
            raise SpecError(file, line, what, "rename one of them")
        first[out.name] = line
        seen: dict[str, int] = {}
        for j, option in enumerate(out.options):
            line = _locate(root, ("outputs", i, "options", j, "name"))
            if option.name in seen:
                what = f"output {out.name!r} has two options named {option.name!r}"
                raise SpecError(file, line, what, f"rename one (first at line {seen[option.name]})")
            seen[option.name] = line
