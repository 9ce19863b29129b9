"""The materials campaign's parts, each checked for real behaviour: the CSV loader's errors, the
synthetic set's determinism and drift, surrogates that predict, a drift test that fires only
with a shift, and continual learning that really refits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpcsched.campaigns.materials.drift import ks_drift
from hpcsched.campaigns.materials.source import (
    CsvSource,
    MaterialsInputError,
    SyntheticSource,
    goal_x,
)
from hpcsched.campaigns.materials.stores import MemoryStore
from hpcsched.campaigns.materials.surrogates import METHODS, fit_surrogate
from hpcsched.campaigns.materials.tasks import execute

HEADER = "composition,template,enthalpy_per_atom,volume,packing\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "materials.csv"
    path.write_text(text)
    return path


def training_rows(n: int = 12) -> str:
    return "".join(f"U3Si2,t{i},-0.{i + 10},1.{i},0.5\n" for i in range(n))


def test_csv_loader_reads_candidates_and_training_rows(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + training_rows() + "UO2,fluorite,-1.5,1.0,0.6\n")
    source = CsvSource(path, "uo2")
    assert source.n == 1 and source.feature_names == ("volume", "packing")
    F, H = source.rows([0])
    assert F.tolist() == [[1.0, 0.6]] and H.tolist() == [-1.5]
    assert source.train()[0].shape == (12, 2)
    assert source.malformed == []


def test_csv_loader_counts_malformed_rows_with_their_line_numbers(tmp_path: Path) -> None:
    body = (
        training_rows() + "UO2,a,-1.5,1.0\nUO2,b,high,1.0,0.6\nU2-O,c,-1,1,1\nUO2,d,-1.2,1.1,0.6\n"
    )
    path = write(tmp_path, HEADER + body)
    source = CsvSource(path, "uo2")
    assert source.n == 1  # only the well-formed UO2 row
    assert [(m.line, m.why.split(" ")[0]) for m in source.malformed] == [
        (14, "4"),
        (15, "enthalpy_per_atom"),
        (16, "'U2-O'"),
    ]
    with pytest.raises(MaterialsInputError, match=r"materials\.csv:14: 4 fields, the header has 5"):
        CsvSource(path, "uo2", strict=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("composition,enthalpy\nUO2,1\n", r"materials\.csv:1: header must be"),
        (HEADER + training_rows(), "no row has a composition of goal 'uo2'"),
        (HEADER + "UO2,a,-1,1,1\n", "0 training rows"),
    ],
)
def test_csv_loader_refuses_unusable_files_in_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(MaterialsInputError, match=message) as info:
        CsvSource(write(tmp_path, text), "uo2")
    assert "\n" not in str(info.value)


def test_compositions_of_the_two_goals() -> None:
    assert goal_x("uo2", "UO2") == pytest.approx(2 / 3)
    assert goal_x("uo2", "U3O8") is None
    assert goal_x("usi", "U3Si2") == pytest.approx(0.4)
    assert goal_x("usi", "UO2") is None


def test_the_synthetic_set_is_deterministic_and_chunked() -> None:
    a = SyntheticSource("usi", 10_000, seed=3)
    b = SyntheticSource("usi", 10_000, seed=3)
    index = [0, 5000, 9999, 4095, 4096]
    assert np.array_equal(a.rows(index)[0], b.rows(index)[0])
    assert np.array_equal(a.rows(index)[1], b.rows(index)[1])
    # a row is the same whether read alone or with its chunk
    assert np.array_equal(a.rows([4096])[1], a.rows(np.arange(4096, 4200))[1][:1])
    assert not np.array_equal(
        a.rows(index)[1], SyntheticSource("usi", 10_000, seed=4).rows(index)[1]
    )
    x = a.rows(np.arange(99))[0][:, 0]
    assert x.min() == pytest.approx(0.01) and x.max() == pytest.approx(0.99)


def residuals(source: SyntheticSource, method: str, index: np.ndarray) -> np.ndarray:
    F, H = source.train()
    model = fit_surrogate(method, 0, F, H)
    cF, cH = source.rows(index)
    return np.abs(model.predict(cF) - cH), model.reference


@pytest.mark.parametrize("method", METHODS)
def test_each_surrogate_predicts_far_better_than_the_mean(method: str) -> None:
    source = SyntheticSource("usi", 2000)
    F, H = source.train()
    model = fit_surrogate(method, 0, F, H)
    cF, cH = source.rows(np.arange(500))  # before the shift
    mae = np.mean(np.abs(model.predict(cF) - cH))
    baseline = np.mean(np.abs(cH - H.mean()))
    assert mae < 0.35 * baseline, (method, mae, baseline)


@pytest.mark.parametrize("method", METHODS)
def test_the_drift_test_fires_after_the_shift_and_never_without_it(method: str) -> None:
    shifted = SyntheticSource("uo2", 1124)
    res, reference = residuals(shifted, method, np.arange(1124))
    windows = [(end, res[end - 40 : end]) for end in range(40, 1125, 10)]
    fired = [end for end, window in windows if ks_drift(reference, window).drift]
    assert fired, method
    assert min(fired) > 0.3 * 1124  # not before the shift starts
    calm = SyntheticSource("uo2", 1124, shift=(2.0, 3.0))  # the shift never comes
    res, reference = residuals(calm, method, np.arange(1124))
    assert not any(ks_drift(reference, res[end - 40 : end]).drift for end in range(40, 1125, 10)), (
        method
    )


def test_continual_learning_refits_and_the_error_drops_on_shifted_data() -> None:
    store = MemoryStore({"kind": "synthetic", "goal": "uo2", "n": 3000, "seed": 7})
    late = list(range(2600, 3000))  # after the shift, not used by the refit
    _, H = store.source.rows(late)
    before = {}
    for method in METHODS:
        execute("train", store, {"method": method})
        before[method] = np.mean(np.abs(store.predict_at(method, 0, late) - H))
        value = execute("refit", store, {"method": method, "version": 1, "upto": 2600})
        assert value["version"] == 1
        after = np.mean(np.abs(store.predict_at(method, 1, late) - H))
        assert after < 0.6 * before[method], (method, before[method], after)
    # the drift check of a refitted model sees no drift on the data it now knows
    check = execute(
        "drift", store, {"method": "rf", "version": 1, "window": late[:40], "number": 1}
    )
    assert not check["drift"]
