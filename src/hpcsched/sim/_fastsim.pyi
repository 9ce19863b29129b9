"""Type stub of the compiled engine (:file:`_fastsim.pyx`); use it through hpcsched.sim.fast."""

import numpy as np
import numpy.typing as npt

VARIANT_CODES: dict[str, int]
KEY_CODES: dict[str, int]

def simulate(
    submit: npt.NDArray[np.float64],
    runtime: npt.NDArray[np.float64],
    estimate: npt.NDArray[np.float64],
    timelimit: npt.NDArray[np.float64],
    request: npt.NDArray[np.int64],
    submit_order: npt.NDArray[np.int64],
    rank: npt.NDArray[np.int64],
    backfill_rank: npt.NDArray[np.int64],
    priority_class: npt.NDArray[np.int64],
    n_classes: int,
    key_r: npt.NDArray[np.float64],
    key_den: npt.NDArray[np.float64],
    capacity: int,
    variant: int,
    order_kind: int,
    backfill_kind: int,
    sticky_head: bool,
    event_release: bool,
    start: npt.NDArray[np.float64],
    end: npt.NDArray[np.float64],
    backfilled: npt.NDArray[np.uint8],
) -> int: ...
