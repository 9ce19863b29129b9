"""Runs one AccaSim EASY simulation inside AccaSim's own venv (copied there by
``accasim_reference.py``; stdlib and AccaSim only). Prints one result line."""

# ruff: noqa: E402  (the aliases must exist before AccaSim is imported)
import collections
import collections.abc

# AccaSim 1.1.3 predates Python 3.10, which removed these aliases from ``collections``.
for _name in (
    "Mapping",
    "MutableMapping",
    "Sequence",
    "MutableSequence",
    "Set",
    "MutableSet",
    "Iterable",
    "Iterator",
    "Callable",
    "Hashable",
    "Sized",
    "Container",
):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

import json
import platform
import sys
import time

_t0 = time.perf_counter()
import accasim
from accasim.base.allocator_class import FirstFit
from accasim.base.scheduler_class import EASYBackfilling
from accasim.base.simulator_class import Simulator
from accasim.utils.reader_class import DefaultTweaker

_t_import = time.perf_counter() - _t0


class CoreOnlyTweaker(DefaultTweaker):
    """AccaSim's default SWF tweak, minus the per-processor memory request.

    The synthetic machine only has cores.  AccaSim decides whether to strip resources the
    machine lacks from the *first* job only, so a later job with a memory field would make
    the allocator look up a non-existent ``mem`` resource.  Dropping it here keeps every
    job a pure core request (identical to the default tweak for traces without memory).
    """

    def tweak_function(self, _dict):
        _dict = DefaultTweaker.tweak_function(self, _dict)
        _dict.pop("mem", None)
        _dict["requested_resources"].pop("mem", None)
        return _dict


def main():
    cfg = json.loads(sys.argv[1])
    with open(cfg["sys_config"]) as fh:
        sys_config = json.load(fh)
    tweaker = CoreOnlyTweaker(sys_config.get("start_time", 0), None, sys_config.get("equivalence"))
    dispatcher = EASYBackfilling(FirstFit())
    t1 = time.perf_counter()
    simulator = Simulator(
        cfg["workload"],
        cfg["sys_config"],
        dispatcher,
        tweak_function=tweaker,
        RESULTS_FOLDER_PATH=cfg["results_dir"],
        overwrite_previous=False,
        scheduling_output=False,
        pprint_output=False,
        benchmark_output=False,
        statistics_output=False,
        show_statistics=False,
        save_parameters=None,
        LOG_LEVEL="ERROR",
    )
    simulator.start_simulation(system_status=False)
    t_total = time.perf_counter() - t1
    mapper = simulator.mapper
    wtimes = mapper.wtimes
    slds = mapper.slowdowns
    makespan = None
    if mapper.last_run_time is not None and mapper.first_time_dispatch is not None:
        makespan = mapper.last_run_time - mapper.first_time_dispatch
    result = {
        "accasim_version": accasim.__version__,
        "python": platform.python_version(),
        "dispatcher": simulator.mapper.dispatcher.get_id(),
        "loaded": simulator.loaded_jobs,
        "dispatched": simulator.dispatched_jobs,
        "rejected": simulator.rejected_jobs,
        "completed": mapper.finished,
        "dispatcher_calls": dispatcher._counter,
        "import_seconds": _t_import,
        "simulator_seconds": t_total,
        "loop_seconds": simulator.end_simulation_time - simulator.start_simulation_time,
        "avg_wait": (sum(wtimes) / len(wtimes)) if wtimes else None,
        "avg_slowdown": (sum(slds) / len(slds)) if slds else None,
        "makespan": makespan,
    }
    sys.stdout.write("ACCASIM_REFERENCE_RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
