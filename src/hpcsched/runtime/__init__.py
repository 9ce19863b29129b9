"""The live runtime: a pilot that drives the simulator's policies in wall-clock time.

``pilot`` (the loop), ``executors`` (local processes, Dask), ``journal`` (SQLite, restart and
provenance), ``staging`` (per-attempt directories, exactly-once outputs), ``workflow`` (the YAML
format), ``analyze`` (``why``), ``export`` (journal -> job table), ``pools`` (where resources come
from). Import the submodules; this package imports nothing heavy.
"""
