"""Hostile workflow and site YAML files for the fuzz run (see ``fuzz_readers_support.py``)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import strategies as st

from fuzz_outcome import Outcome

_TASK_FIELDS = [
    "id",
    "command",
    "callable",
    "args",
    "kwargs",
    "cpus",
    "gpus",
    "mem",
    "nodes",
    "priority",
    "runtime",
    "timeout",
    "retries",
    "backoff",
    "depends",
    "inputs",
    "outputs",
    "kind",
    "env",
    "bogus",
]
_yaml_scalars = st.one_of(
    st.sampled_from(
        [
            ".inf",
            "-.inf",
            ".nan",
            "1e308",
            "99999999999999999999999",
            "-1",
            "0",
            "~",
            "true",
            "'x'",
            '"a b"',
            "[]",
            "{}",
            "4G",
            "1e400P",
            "١٢",
            "*nope",
            "&a [*a]",
            "!!python/object:os.system",
            "n[1-100000000]",
        ]
    ),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12).map(json.dumps),
)


def _bomb(levels: int) -> str:
    out = ['x0: &x0 ["lol"]']
    out += [f"x{k}: &x{k} [{', '.join([f'*x{k - 1}'] * 10)}]" for k in range(1, levels + 1)]
    return "\n".join(out) + "\n"


@st.composite
def workflow_yaml(draw: st.DrawFn) -> bytes:
    head = _bomb(draw(st.integers(1, 9))) if draw(st.integers(0, 4)) == 0 else ""
    lines = [head + "jobs:"]
    for j in range(draw(st.integers(0, 4))):
        fields = {"id": f"j{j}", "command": '"true"'}
        for name in draw(st.lists(st.sampled_from(_TASK_FIELDS), max_size=4)):
            fields[name] = draw(_yaml_scalars)
        body = ", ".join(f"{k}: {v}" for k, v in fields.items())
        if draw(st.integers(0, 5)) == 0:
            body += f", {draw(st.sampled_from(_TASK_FIELDS))}: 1"  # perhaps given twice
        lines.append(f"  - {{{body}}}")
    if draw(st.integers(0, 5)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), draw(st.text(max_size=30)))
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")


def read_workflow_file(path: Path, data: bytes) -> Outcome:
    from hpcsched.runtime.workflow import WorkflowError, load_workflow

    try:
        flow = load_workflow(path)
    except WorkflowError as exc:
        return Outcome(True, message=str(exc))
    return Outcome(False, len(flow.tasks))


SITE = (Path(__file__).resolve().parents[1] / "examples" / "site-local.yaml").read_text()
_SITE_KEYS = [
    "nodes: n[1-4]",
    'max_walltime: "30:00"',
    "cpus_per_node: 2",
    "mem_per_node: 2000M",
    "charge_rate: 1.0",
    "priority: 10",
    "charge_factor: 1.0",
    "max_chain_parts: 10",
]


@st.composite
def site_yaml(draw: st.DrawFn) -> bytes:
    text = SITE
    for key in draw(st.lists(st.sampled_from(_SITE_KEYS), max_size=4)):
        name = key.split(":")[0]
        text = text.replace(key, f"{name}: {draw(_yaml_scalars)}", 1)
    if draw(st.integers(0, 4)) == 0:
        text = _bomb(draw(st.integers(1, 9))) + text
    if draw(st.integers(0, 4)) == 0:
        block = text[text.index("partitions:") : text.index("\nqos:") + 1]
        text += block
    return text.encode("utf-8", "surrogateescape")


def read_site_file(path: Path, data: bytes) -> Outcome:
    from hpcsched.advise.site import SiteError, load_site

    try:
        site = load_site(path)
    except SiteError as exc:
        return Outcome(True, message=str(exc))
    return Outcome(False, len(site.partitions))
