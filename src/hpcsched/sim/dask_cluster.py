"""The Dask client of a sweep (``compare --dask``, ``bench scheduling --dask``): a scheduler at an
address, or ``"local"`` for a ``LocalCluster`` of single-threaded worker processes started here
and closed with the client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import Client


@contextmanager
def dask_client(address: str, workers: int = 2) -> Iterator[Client]:
    """A client of the scheduler at ``address`` (or of a local cluster of ``workers``
    processes when it is ``"local"``), closed, with the cluster, when the block ends."""
    from distributed import Client, LocalCluster

    cluster = (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
        if address == "local"
        else None
    )
    client = Client(cluster if cluster is not None else address)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
