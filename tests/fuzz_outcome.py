"""What one fuzzed read did, shared by the strategies of every reader
(``fuzz_readers_support.py``, ``fuzz_yaml_support.py``, ``fuzz_parquet_support.py``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """What one read did: ``refused`` (the project's error), else the counts it returned."""

    refused: bool
    read: int = 0
    malformed: int = 0
    total: int = 0
    message: str = ""
    #: False when the read kept damage (a value out of bounds) or refused a whole file that
    #: holds only damaged values (readers count such rows malformed instead)
    sound: bool = True
