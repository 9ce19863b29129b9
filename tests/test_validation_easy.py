"""VALIDATION.md rung 3: full-trace EASY with the strong filter (Gaussier et al. SC'15, pyss)."""

from __future__ import annotations

import pytest

from hpcsched.policies.presets import PRESETS
from hpcsched.sim.simulate import simulate
from hpcsched.workloads.load import load_jobs

from conftest import TRACES, require_shared


def run(trace: str, preset: str, estimate: str = "requested") -> dict[str, float]:
    loaded = load_jobs(require_shared(TRACES / trace), filter_name="strong")
    assert loaded.machine_procs is not None
    return simulate(loaded.table, PRESETS[preset], loaded.machine_procs, estimate=estimate).metrics


def test_ctc_sp2_easy_exact() -> None:
    m = run("CTC-SP2-1996-3.1-cln.swf.gz", "easy")
    assert m["jobs"] == 77_199
    assert round(m["avg_bsld"], 2) == 49.57
    assert round(m["avg_flow"], 1) == 25_526.8
    assert round(m["max_bsld"], 1) == 12_715.4


def test_sdsc_sp2_easy_exact() -> None:
    m = run("SDSC-SP2-1998-4.2-cln.swf.gz", "easy")
    assert m["jobs"] == 53_999
    assert round(m["avg_bsld"], 2) == 87.83
    assert round(m["avg_flow"], 1) == 27_834.0
    assert round(m["avg_wait"], 1) == 20_494.7


def test_kth_sp2_older_file_easy_within_one_percent() -> None:
    m = run("KTH-SP2-1996-2.swf.gz", "easy")
    assert m["jobs"] == 28_481
    assert m["avg_bsld"] == pytest.approx(92.58, rel=0.01)


def test_sdsc_sp2_conservative_within_two_percent() -> None:
    m = run("SDSC-SP2-1998-4.2-cln.swf.gz", "conservative")
    assert m["avg_bsld"] == pytest.approx(89.64, rel=0.02)
    assert m["avg_wait"] == pytest.approx(21_887.7, rel=0.02)


def test_sdsc_sp2_easy_exact_estimates_within_two_percent() -> None:
    m = run("SDSC-SP2-1998-4.2-cln.swf.gz", "easy", estimate="exact")
    assert m["avg_bsld"] == pytest.approx(70.41, rel=0.02)
    assert m["avg_wait"] == pytest.approx(17_330.0, rel=0.02)
