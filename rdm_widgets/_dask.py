"""Optional ``dask.distributed`` support shared by the compute core.

The core never schedules anything itself: it cuts a job into independent tasks
(layers, time blocks, RDM tiles) and hands them to a ``distributed.Client``.
``dask`` is an optional dependency (``pip install rdm_widgets[distributed]``) and is
imported only when a ``client`` is given.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator

__all__ = ["resolve_client", "client_scope", "map_unordered"]


def resolve_client(client) -> Any:
    """Return a ``distributed.Client`` for ``client`` (None stays None).

    Parameters
    ----------
    client : None, distributed.Client or str
        An existing client, or a scheduler address such as ``'tcp://10.0.0.5:8786'``
        (a client connected to it is created).

    Returns
    -------
    distributed.Client or None
    """
    if client is None:
        return None
    try:
        import distributed
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("client= needs dask.distributed: pip install 'rdm_widgets[distributed]' "
                          "(or pip install 'dask[distributed]').") from err
    if isinstance(client, distributed.Client):
        return client
    if isinstance(client, str):
        if "://" not in client and ":" not in client:
            raise ValueError(f"Invalid value for 'client': {client!r}. Expected a distributed.Client or a "
                             "scheduler address such as 'tcp://host:8786'.")
        return distributed.Client(client)
    raise TypeError(f"Invalid type for 'client': {type(client).__name__}. Expected a distributed.Client, "
                    "a scheduler address string or None.")


@contextlib.contextmanager
def client_scope(client) -> Iterator[Any]:
    """``resolve_client`` as a context: a client made here from an address is closed on exit
    (one passed in by the caller stays open)."""
    resolved = resolve_client(client)
    try:
        yield resolved
    finally:
        if resolved is not None and resolved is not client:
            resolved.close()


def map_unordered(client, func: Callable, items: Iterable, *args, **kwargs) -> Iterator[tuple]:
    """Submit ``func(item, *args, **kwargs)`` for every item; yield ``(item_index, result)``
    as tasks finish. Remaining tasks are cancelled if the consumer stops early (e.g. on
    :class:`rdm_widgets.Cancelled`) or a task fails.
    """
    from distributed import as_completed

    items = list(items)
    # pure=False: the same arguments on two runs are two computations (no stale cache);
    # large shared arguments should be scattered by the caller beforehand
    futures = [client.submit(func, item, *args, pure=False, **kwargs) for item in items]
    index = {f.key: i for i, f in enumerate(futures)}
    try:
        for fut in as_completed(futures):
            yield index[fut.key], fut.result()
    finally:
        client.cancel([f for f in futures if not f.done()])
