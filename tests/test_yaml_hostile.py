"""Issue 22, finding 12: hostile YAML and sizes. Duplicate keys refused with file:line in every
loader, alias bombs refused quickly and in bounded memory, node ranges sized before they are
expanded, every number bounded, and ``plan tools`` sizing its table before allocating it."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpcsched.advise.site import SiteError, load_site
from hpcsched.cli import app
from hpcsched.plan.spec import SpecError, load_spec
from hpcsched.runtime.workflow import WorkflowError, load_workflow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SITE = (EXAMPLES / "site-local.yaml").read_text()
SPEC = (EXAMPLES / "plan-tools.yaml").read_text()


def _bomb(levels: int, indent: str = "") -> str:
    """A billion-laughs document fragment: ``levels`` levels of ten aliases each."""
    lines = [f'{indent}a0: &a0 ["lol"]']
    for k in range(1, levels + 1):
        refs = ", ".join([f"*a{k - 1}"] * 10)
        lines.append(f"{indent}a{k}: &a{k} [{refs}]")
    return "\n".join(lines) + "\n"


def _quick(seconds: float = 3.0) -> tuple[float, int]:
    return time.perf_counter() + seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _within(deadline: float, rss_before: int) -> None:
    assert time.perf_counter() < deadline
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before  # KiB
    assert grown < 200 * 1024


# --- site YAML ----------------------------------------------------------------------------------


def _site(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def test_site_duplicate_partitions_block_is_refused_with_its_line(tmp_path: Path) -> None:
    block = SITE[SITE.index("partitions:") : SITE.index("\nqos:") + 1]
    text = SITE.replace("\nqos:", "\n" + block + "qos:", 1)
    with pytest.raises(SiteError, match=r"site\.yaml:\d+: key 'partitions' is given twice"):
        load_site(_site(tmp_path, text))


def test_site_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    deadline, rss = _quick()
    with pytest.raises(SiteError, match="aliases expand"):
        load_site(_site(tmp_path, _bomb(9) + SITE))
    _within(deadline, rss)


def test_site_huge_node_range_is_refused_before_expansion(tmp_path: Path) -> None:
    deadline, rss = _quick()
    for nodes in ("n[1-100000000]", "a[1-2000]b[1-2000]", "n[1-99999999999999999999999]"):
        with pytest.raises(SiteError, match="nodes"):
            load_site(_site(tmp_path, SITE.replace("nodes: n[1-4]", f"nodes: {nodes}", 1)))
    _within(deadline, rss)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('max_walltime: "30:00"', "max_walltime: .inf"),
        ('max_walltime: "30:00"', "max_walltime: 1e308"),
        ('max_walltime: "30:00"', f"max_walltime: {10**400}"),
        ("mem_per_node: 2000M\n    gpus_per_node: 0\n    charge_rate: 1.0", "mem_per_node: .inf"),
        ("charge_rate: 1.0", "charge_rate: .inf"),
        ("charge_rate: 1.0", "charge_rate: .nan"),
        (
            "cpus_per_node: 2\n    mem_per_node: 2000M\n    gpus_per_node: 0\n    charge_rate: 1",
            "cpus_per_node: 99999999999999999999\n    mem_per_node: 2000M\n    charge_rate: 1",
        ),
    ],
)
def test_site_numbers_are_bounded(tmp_path: Path, old: str, new: str) -> None:
    assert old in SITE
    with pytest.raises(SiteError) as exc:
        load_site(_site(tmp_path, SITE.replace(old, new, 1)))
    assert str(exc.value).count("\n") == 0 and "site.yaml:" in str(exc.value)


# --- workflow YAML ------------------------------------------------------------------------------


def _workflow(tmp_path: Path, job: str, head: str = "") -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(f"{head}jobs:\n  - {{id: a, {job}}}\n")
    return path


def test_workflow_alias_bomb_under_kwargs_is_refused_quickly(tmp_path: Path) -> None:
    deadline, rss = _quick()
    head = "x-bomb:\n" + _bomb(9, "  ")
    path = tmp_path / "wf.yaml"
    path.write_text(head + 'jobs:\n  - {id: a, callable: "os:getpid", kwargs: {k: *a9}}\n')
    with pytest.raises(WorkflowError, match="aliases expand"):
        load_workflow(path)
    _within(deadline, rss)


@pytest.mark.parametrize(
    "fields",
    [
        "backoff: .inf",
        "backoff: 1e308",
        "retries: 99999999999999999999999",
        "retries: 60, backoff: 1",
        "mem: .inf",
        f"mem: {10**400}",
        "timeout: .inf",
        "cpus: 99999999999999999999",
    ],
)
def test_workflow_numbers_are_bounded(tmp_path: Path, fields: str) -> None:
    with pytest.raises(WorkflowError) as exc:
        load_workflow(_workflow(tmp_path, f'command: "true", {fields}'))
    assert str(exc.value).startswith(f"{tmp_path / 'wf.yaml'}:")
    assert "\n" not in str(exc.value)


def test_workflow_reasonable_retries_still_load(tmp_path: Path) -> None:
    flow = load_workflow(_workflow(tmp_path, 'command: "true", retries: 20, backoff: 2'))
    assert flow.tasks[0].retries == 20


# --- plan tools ---------------------------------------------------------------------------------


def test_plan_spec_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("x-bomb:\n" + _bomb(9, "  ") + SPEC)
    deadline, rss = _quick()
    with pytest.raises(SpecError, match="aliases expand"):
        load_spec(path)
    _within(deadline, rss)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_plan_tools_refuses_non_finite_required_utility(value: str) -> None:
    spec = str(EXAMPLES / "plan-tools.yaml")
    result = CliRunner().invoke(app, ["plan", "tools", spec, "--require-utility", value])
    assert result.exit_code == 2
    assert "not a finite number" in result.stderr and result.stderr.count("\n") == 1


def test_plan_tools_budgets_its_table_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    big = SPEC.replace("tokens: 21000", "tokens: 1000000000").replace(
        "tokens: 30000", "tokens: 1000000000"
    )
    path.write_text(big)
    deadline, rss = _quick(10.0)
    result = CliRunner().invoke(app, ["plan", "tools", str(path), "--budget", str(10**9)])
    assert result.exit_code == 2, result.output
    assert "the exact table would take" in result.stderr and result.stderr.count("\n") == 1
    _within(deadline, rss)
    result = CliRunner().invoke(app, ["plan", "tools", str(path), "--budget", str(10**13)])
    assert result.exit_code == 2 and "above" in result.stderr
