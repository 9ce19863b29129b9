"""The plan commands and the spec: JSON keys, one-line errors with file:line, ledger numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.plan import ledger
from hpcsched.plan.knapsack import solve_budget
from hpcsched.plan.spec import SpecError, load_spec

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plan-tools.yaml"

GOOD = """\
name: tiny
budget: 10
outputs:
  - name: energies
    options:
      - {name: per-structure, utility: 0.9, tokens: 8, compute: 5}
      - {name: batched, utility: 0.7, tokens: 3, compute: 5}
  - name: report
    options:
      - name: narrated
        utility: 0.8
        tokens: 6
      - name: table
        utility: 0.5
        tokens: 1
"""


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_plan_tools_json_keys_and_choice(tmp_path: Path) -> None:
    code, out, _ = invoke("plan", "tools", str(write(tmp_path, GOOD)), "--json")
    assert code == 0
    result = json.loads(out)
    assert {
        "spec",
        "name",
        "method",
        "form",
        "budget",
        "utility",
        "tokens",
        "compute",
        "compute_unit",
        "lp_bound",
        "seconds",
        "outputs",
    } <= set(result)
    assert result["form"] == "budget" and result["budget"] == 10 and result["method"] == "dp"
    # 8 + 1 (1.4) and 3 + 6 (1.5) fit in 10; 8 + 6 does not: the DP takes batched + narrated
    assert [r["option"] for r in result["outputs"]] == ["batched", "narrated"]
    assert result["utility"] == pytest.approx(1.5) and result["tokens"] == 9


@pytest.mark.parametrize("method", ["dp", "greedy", "lp-greedy"])
def test_plan_tools_methods_on_the_example(method: str) -> None:
    code, out, _ = invoke("plan", "tools", str(EXAMPLE), "--method", method, "--budget", "20000")
    assert code == 0, out
    result = json.loads(
        invoke("plan", "tools", str(EXAMPLE), "--method", method, "--budget", "20000", "--json")[1]
    )
    assert result["tokens"] <= 20000 and result["method"] == method
    spec = load_spec(EXAMPLE)
    assert result["utility"] <= solve_budget(spec.instance(), 20000).utility + 1e-12


def test_plan_tools_cover_form(tmp_path: Path) -> None:
    path = str(write(tmp_path, GOOD))
    code, out, _ = invoke("plan", "tools", path, "--require-utility", "1.3", "--json")
    result = json.loads(out)
    assert code == 0 and result["form"] == "cover" and result["minimize"] == "tokens"
    # (utility, tokens): 1.7/14, 1.4/9, 1.5/9, 1.2/4: the least tokens reaching 1.3 is 9
    assert result["tokens"] == 9 and result["utility"] >= 1.3
    code, out, _ = invoke(
        "plan", "tools", path, "--require-utility", "1.3", "--minimize", "compute", "--json"
    )
    assert json.loads(out)["compute"] == 5  # compute 5 + 0 is the least: per-structure + table


def test_plan_tools_refusals_are_one_line(tmp_path: Path) -> None:
    path = str(write(tmp_path, GOOD))
    code, _, err = invoke("plan", "tools", path, "--budget", "3")
    assert code == 2 and err.count("\n") == 1
    assert "below the 4 that the cheapest option of every output needs" in err
    code, _, err = invoke("plan", "tools", path, "--method", "simplex")
    assert code == 2 and "use one of dp, greedy, lp-greedy" in err
    code, _, err = invoke("plan", "tools", path, "--require-utility", "9")
    assert code == 2 and "lower it to at most 1.7" in err


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        (GOOD.replace("tokens: 6", "toknes: 6"), 12, "did you mean 'tokens'"),
        (GOOD.replace("tokens: 3,", "tokens: -3,"), 7, "greater than or equal to 0"),
        (GOOD.replace("tokens: 1\n", "tokens: 1.5\n"), 15, "valid integer"),
        (GOOD.replace("utility: 0.8", "utility: .nan"), 11, "finite number"),
        (GOOD.replace("  - name: report\n", "  - name: energies\n"), 8, "named twice"),
        (GOOD.replace("name: table", "name: narrated"), 13, "two options named"),
        (GOOD.replace("budget: 10\n", "budget: 10\nbudget: 12\n"), 3, "given twice"),
        (GOOD.replace("      - name: narrated", "     - name: narrated"), 11, "YAML syntax"),
        (GOOD.split("  - name: report")[0] + "  - name: report\n", 8, "'outputs[1].options'"),
        ("", 1, "empty"),
    ],
)
def test_spec_errors_one_line_with_file_and_line(
    tmp_path: Path, text: str, line: int, says: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}:{line}: "), message
    assert says in message
    code, _, err = invoke("plan", "tools", str(path))
    assert code == 2 and err.strip() == f"hpcsched: error: {message}"


def test_ledger_saving_recomputed_independently() -> None:
    """Fine: K·M cycles of (propose 1, read 1); coarse: one cycle of (propose K, read K·M)."""
    k, m, r = 1124, 3, ledger.REASONING_PER_OUTPUT
    comparison = ledger.compare_granularity(k, m)
    ctx = len(ledger.PLANNER_CONTEXT)

    def tok(chars: int) -> int:
        return -(-chars // 4)  # ceil, by integer division

    # every line has a fixed width: ids UO2-0001.., energies -9.xxx
    hyp_widths = [len(f'{{"structure": "UO2-0001", "method": "{x}"}}') for x in ledger.METHODS]
    hyp = len('{"structure": "UO2-0001"}')
    res = [
        len(
            f'{{"structure": "UO2-0001", "method": "{x}", "energy_per_atom_eV": -9.123, '
            '"converged": true}'
        )
        for x in ledger.METHODS
    ]
    ver = len('{"structure": "UO2-0001", "verdict": "keep"}')
    ask_1 = len("\n\nPropose the next structure and the one method to check it with.")
    ask_n = len(f"\n\nPropose the next {k} structures; each is checked with all {m} methods.")
    read = len("\n\nResults:\n") + len("\n\nGive your verdicts.")
    fine_prompt = k * sum(tok(ctx + ask_1) + tok(ctx + read + res[j]) for j in range(m))
    fine_out = k * sum(tok(hyp_widths[j]) + tok(ver) for j in range(m))
    fine_reasoning = k * sum(
        math.ceil(r * tok(hyp_widths[j])) + math.ceil(r * tok(ver)) for j in range(m)
    )
    coarse_prompt = tok(ctx + ask_n) + tok(ctx + read + k * sum(res) + (k * m - 1))
    hyp_out, ver_out = tok(k * hyp + k - 1), tok(k * ver + k - 1)
    coarse_out = hyp_out + ver_out
    coarse_reasoning = math.ceil(r * hyp_out) + math.ceil(r * ver_out)
    assert comparison.fine == {
        "calls": 2 * k * m,
        "prompt": fine_prompt,
        "reasoning": fine_reasoning,
        "output": fine_out,
        "total": fine_prompt + fine_reasoning + fine_out,
    }
    assert comparison.coarse == {
        "calls": 2,
        "prompt": coarse_prompt,
        "reasoning": coarse_reasoning,
        "output": coarse_out,
        "total": coarse_prompt + coarse_reasoning + coarse_out,
    }
    total_fine = fine_prompt + fine_reasoning + fine_out
    saving = 100 * (1 - (coarse_prompt + coarse_reasoning + coarse_out) / total_fine)
    assert comparison.saving_pct == pytest.approx(saving)
    assert 90 < comparison.saving_pct < 100


def test_ledger_batches_and_reported_usage() -> None:
    one = ledger.compare_granularity(12, 2, batch=1)
    assert one.coarse["calls"] == 24 and one.fine["calls"] == 48
    batched = ledger.compare_granularity(12, 2, batch=5)  # 5 + 5 + 2
    assert batched.coarse["calls"] == 6
    assert batched.coarse["total"] < one.coarse["total"] < one.fine["total"]
    book = ledger.TokenLedger()
    usage = {
        "prompt_tokens": 900,
        "completion_tokens": 700,  # includes the reasoning, as OpenAI reports it
        "completion_tokens_details": {"reasoning_tokens": 600},
    }
    call = book.record_usage("propose", usage)
    assert (call.prompt, call.reasoning, call.output, call.estimated) == (900, 600, 100, False)
    call = book.record_text("read", "x" * 9, "y" * 8)
    assert (call.prompt, call.output, call.reasoning, call.estimated) == (3, 2, 4, True)
    assert book.totals() == {
        "calls": 2,
        "prompt": 903,
        "reasoning": 604,
        "output": 102,
        "total": 1609,
    }


def test_plan_ledger_cli(tmp_path: Path) -> None:
    code, out, _ = invoke("plan", "ledger", "--structures", "1124", "--methods", "3", "--json")
    result = json.loads(out)
    assert code == 0
    assert result["fine"] == ledger.compare_granularity(1124, 3).fine
    assert result["saving_pct"] == pytest.approx(ledger.compare_granularity(1124, 3).saving_pct)
    context = tmp_path / "prompt.txt"
    context.write_text("x" * 8000)  # a 2,000-token planner prompt repeated by every call
    code, out, _ = invoke("plan", "ledger", "--context", str(context), "--json")
    assert json.loads(out)["context_tokens"] == 2000
    assert json.loads(out)["saving_pct"] > result["saving_pct"]
    code, _, err = invoke("plan", "ledger", "--batch", "0")
    assert code == 2 and err.count("\n") == 1 and "batch 0" in err


def test_plan_tools_least_compute_then_fewest_tokens_rounded() -> None:
    """The README's cover example: at the least compute (3,400 GPU-s) the fewest tokens that
    reach 3.5 are 33,600 (issue 21: 73,000 were chosen); utilities are printed rounded."""
    args = ("plan", "tools", str(EXAMPLE), "--require-utility", "3.5", "--minimize", "compute")
    code, out, _ = invoke(*args, "--json")
    assert code == 0, out
    assert '"utility": 3.51,' in out  # not 3.5100000000000002
    result = json.loads(out)
    assert (result["compute"], result["tokens"]) == (3400, 33600)
    assert [r["option"] for r in result["outputs"]] == [
        "propose-batches-of-100",
        "check-all-three-methods-at-once",
        "read-results-one-by-one",
        "skip",
        "narrated-report",
    ]
    code, out, _ = invoke(*args)
    total = next(line for line in out.splitlines() if "total" in line)
    assert [cell.strip() for cell in total.split("│")][3:6] == ["3.51", "33,600", "3,400"]


def test_plan_tools_json_floats_rounded() -> None:
    code, out, _ = invoke("plan", "tools", str(EXAMPLE), "--budget", "44000", "--json")
    result = json.loads(out)
    assert code == 0 and result["utility"] == 4.48 and '"utility": 4.48,' in out
    assert all(len(repr(r["utility"])) <= 8 for r in result["outputs"])
