"""Optional ``dask.distributed`` support shared by the compute core.

The core never schedules anything itself: it cuts a job into independent tasks
(layers, time blocks, RDM tiles) and hands them to a ``distributed.Client``.
``dask`` is an optional dependency (``pip install rdm_widgets[distributed]``) and is
imported only when a ``client`` is given.

A scheduler address is checked before anything else happens (:func:`check_client`): a TCP
connection within :data:`SCHEDULER_TIMEOUT` seconds, then a client connected within that time,
so an unreachable scheduler fails at once with a clear error -- before features are read,
staged or written.
"""
from __future__ import annotations

import contextlib
import socket
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlsplit

__all__ = ["resolve_client", "client_scope", "map_unordered", "check_client", "check_scheduler",
           "SCHEDULER_TIMEOUT"]

#: seconds to wait for a scheduler to accept a connection (and for a client to connect)
SCHEDULER_TIMEOUT = 5.0
# schemes whose address is host:port over TCP (probed with a socket before a client is made)
_TCP_SCHEMES = ("tcp", "tls", "ws", "wss")


def _unreachable(address: str, err, timeout: float) -> ConnectionError:
    return ConnectionError(
        f"The Dask scheduler at {address!r} is not reachable ({type(err).__name__}: {err}; waited at most "
        f"{timeout:g} s). Start the scheduler (dask scheduler) or fix the "
        "address, e.g. client='tcp://host:8786', or pass client=None to compute here.")


def _check_address(client: str) -> str:
    if "://" not in client and ":" not in client:
        raise ValueError(f"Invalid value for 'client': {client!r}. Expected a distributed.Client or a "
                         "scheduler address such as 'tcp://host:8786'.")
    return client


def check_scheduler(address: str, timeout: float | None = None) -> None:
    """Raise at once when nothing accepts a connection at the scheduler ``address``.

    Parameters
    ----------
    address : str
        ``'tcp://host:port'`` (or ``tls://``, ``ws://``, ``wss://``, or ``'host:port'``); other
        schemes (``inproc://``, ``ucx://``) are left to the client.
    timeout : float or None
        Seconds (default :data:`SCHEDULER_TIMEOUT`).

    Raises
    ------
    ConnectionError
        The scheduler is not reachable (refused, unknown host, no answer within ``timeout``).
    """
    timeout = SCHEDULER_TIMEOUT if timeout is None else float(timeout)
    url = urlsplit(address if "://" in address else f"tcp://{address}")
    if url.scheme not in _TCP_SCHEMES:
        return
    try:
        host, port = url.hostname, url.port
    except ValueError as err:
        raise ValueError(f"Invalid scheduler address {address!r}: {err}.") from None
    if not host or port is None:
        raise ValueError(f"Invalid scheduler address {address!r}: expected host and port, e.g. 'tcp://host:8786'.")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        raise _unreachable(address, err, timeout) from None


def check_client(client) -> None:
    """Check ``client`` before a run starts: its type, and for an address that the scheduler answers.

    Call it first in a function that takes ``client=`` (nothing staged or written before).
    """
    if isinstance(client, str):
        check_scheduler(_check_address(client))
    elif client is not None:
        resolve_client(client)


def resolve_client(client) -> Any:
    """Return a ``distributed.Client`` for ``client`` (None stays None).

    Parameters
    ----------
    client : None, distributed.Client or str
        An existing client, or a scheduler address such as ``'tcp://10.0.0.5:8786'``
        (checked with :func:`check_scheduler`, then a client connected to it is created).

    Returns
    -------
    distributed.Client or None

    Raises
    ------
    ConnectionError
        The scheduler at the address is not reachable within :data:`SCHEDULER_TIMEOUT` s.
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
        check_scheduler(_check_address(client))
        try:
            return distributed.Client(client, timeout=SCHEDULER_TIMEOUT)
        except (OSError, TimeoutError) as err:
            raise _unreachable(client, err, SCHEDULER_TIMEOUT) from None
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
