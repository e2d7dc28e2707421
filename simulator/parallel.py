"""Where independent calls run: in order in this process, or on dask.distributed.

Consumes: a pure, picklable function and columns of arguments (the starts of a fit, its
profiles, bootstrap replicates, the param points of a sweep), and optionally ``advance(n)``,
called as calls finish (a progress bar).
Produces: the list of results in the order of the arguments, the same whichever runs them
(every random draw in libet's calls has its own seed).

``mapper()`` is serial by default; ``workers=N`` starts a local cluster of N worker processes,
``scheduler=ADDRESS`` joins a running one. dask is an optional extra (``pip install
'libet[dask]'``) and is imported only here, only when asked for. A script that starts a local
cluster must guard its entry point (``if __name__ == "__main__":``), as multiprocessing needs.
"""

from __future__ import annotations

from typing import Callable

from libet.errors import UsageError
from libet.spec.overrides import check_whole

#: Arguments cheap to send with every call.
_SCALARS = (int, float, str, bool, bytes, type(None))
#: Tasks per worker a map is cut into (enough to even out calls of different lengths).
BATCHES_PER_WORKER = 4


def _run_batch(fn: Callable, mask: tuple, n: int, *columns) -> list:
    """``fn`` over ``n`` calls: a column marked in ``mask`` is one value for all of them."""
    return [fn(*(col if shared else col[i] for shared, col in zip(mask, columns))) for i in range(n)]


class Serial:
    """Runs calls in order in this process (the default)."""

    name = "serial"

    def map(self, fn: Callable, *columns, advance: Callable[[int], None] | None = None) -> list:
        out = []
        for args in zip(*columns):
            out.append(fn(*args))
            if advance:
                advance(1)
        return out

    def close(self) -> None:
        pass


class DaskMapper:
    """Runs calls on dask.distributed: a local cluster of ``workers`` processes, or the
    scheduler at ``address``. Needs the extra: ``pip install 'libet[dask]'``."""

    def __init__(self, workers: int | None = None, address: str | None = None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise UsageError("--workers and --scheduler need dask.distributed",
                             "install it with: pip install 'libet[dask]'") from None
        self.cluster = None
        self.address = address
        try:
            if address:
                self.client = _connect(Client, address)
                self.name = f"dask scheduler {address}"
            else:
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            dashboard_address=":0")
                self.client = Client(self.cluster)
                self.name = f"dask local cluster of {workers} workers"
        except ValueError as exc:  # Dask's parse of the address: "missing port number", an unknown protocol
            raise UsageError(f"--scheduler {address!r} is not a scheduler address: {exc}",
                             "e.g. tcp://host:8786") from None
        except UsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - refused, reset, or a peer that is no scheduler (junk, a MemoryError)
            raise UsageError(f"cannot reach the Dask scheduler {address}: {type(exc).__name__}: {exc}",
                             "start one with `dask scheduler`, and its workers with `dask worker ADDRESS`") from None

    def map(self, fn: Callable, *columns, advance: Callable[[int], None] | None = None) -> list:
        if not columns or not columns[0]:
            return []
        n = len(columns[0])
        # One object for every call (the spec, a fit's problem) is sent to each worker once and
        # kept there, so its caches (read sets, compiled expressions) carry over between calls.
        mask = tuple(n > 1 and not isinstance(col[0], _SCALARS) and all(x is col[0] for x in col) for col in columns)
        # (scattered in a list of one: scatter takes a dict or a list it is given as many items)
        try:
            workers = len(self.client.scheduler_info().get("workers", {}))
            if not workers and self.address:
                self.client.wait_for_workers(1, timeout=CONNECT_SECONDS)
                workers = len(self.client.scheduler_info().get("workers", {}))
            shared = {j: self.client.scatter([columns[j][0]], broadcast=True, hash=False)[0]
                      for j, m in enumerate(mask) if m}
        except (TimeoutError, OSError) as exc:  # "No valid workers found", a scheduler gone
            raise UsageError(f"the {self.name} has no workers to run on ({type(exc).__name__}: {exc})",
                             "start some with `dask worker ADDRESS`, or run with --workers N on this machine") from None
        # Calls go in a few batches per worker, not one task each: a task costs the scheduler
        # milliseconds, which on a small machine is a good part of a short call.
        workers = max(1, workers)
        k = min(n, BATCHES_PER_WORKER * workers)
        bounds = [n * i // k for i in range(k + 1)]
        futures = []
        for lo, hi in zip(bounds, bounds[1:]):
            args = [shared[j] if m else list(col[lo:hi]) for j, (m, col) in enumerate(zip(mask, columns))]
            futures.append((hi - lo, self.client.submit(_run_batch, fn, mask, hi - lo, *args, pure=False)))
        out = []
        for size, future in futures:  # in order: a batch done counts when those before it are
            out += future.result()
            if advance:
                advance(size)
        return out

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


#: How long a scheduler may take to answer as one (connect and handshake), and to have a worker.
CONNECT_SECONDS = 10


def _connect(Client, address: str):
    """A client of the scheduler at ``address``. Client's own timeout bounds the connection,
    not the handshake: a server that accepts and never answers as Dask does (an HTTP server,
    a silent one) held it for ever. The client is made in a daemon thread, given up on after
    :data:`CONNECT_SECONDS` and a little more."""
    import threading

    got: list = []

    def make():
        try:
            got.append(Client(address, timeout=CONNECT_SECONDS))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            got.append(exc)

    thread = threading.Thread(target=make, name="libet-dask-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_SECONDS + 5)
    if not got:
        raise UsageError(f"the Dask scheduler {address} did not answer within {CONNECT_SECONDS + 5} s "
                         "(something listens there, but not as a Dask scheduler, or it is stuck)",
                         "check the address: a scheduler prints it when it starts (`dask scheduler`)")
    if isinstance(got[0], BaseException):
        raise got[0]
    return got[0]


def mapper(workers: int | None = None, scheduler: str | None = None):
    """Serial by default; Dask when ``workers`` (at least 1) or ``scheduler`` is given."""
    if workers is not None:  # 0 or False would have run serially, saying nothing
        workers = check_whole(workers, "workers", 1)
    if workers is not None and scheduler:  # the scheduler was used, the workers dropped in silence
        raise UsageError("--workers starts a cluster on this machine and --scheduler uses one that runs: give one of them",
                         "drop --workers to use the scheduler's own workers")
    if workers is None and not scheduler:
        return Serial()
    return DaskMapper(workers, scheduler)
