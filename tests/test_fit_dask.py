"""Fits on dask.distributed: a two-worker local cluster gives exactly the serial numbers (the
per-point evaluation is pure and every random draw has its own seed)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import libet
from libet.cli import main

pytest.importorskip("dask.distributed")

DATA = "prefill,policy,measure,successes,n\n5,shallow,P(harm),10,200\n10,shallow,P(harm),54,200\n" \
       "20,shallow,P(harm),148,200\n40,shallow,P(harm),198,200\n"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("dask")
    (d / "p.csv").write_text(DATA)
    return libet.load("examples/prefill.libet"), str(d / "p.csv")


@pytest.mark.slow
def test_two_worker_cluster_equals_serial(setup):
    s, data = setup
    options = dict(data=data, holdout=[2], bootstrap=24, starts=3, seed=11, predict=["prefill_sweep"])
    serial = s.fit("prefill_sweep", **options)
    dask = s.fit("prefill_sweep", workers=2, **options)
    assert serial.runner == "serial" and dask.runner == "dask local cluster of 2 workers"
    a, b = serial.to_json(), dask.to_json()
    for key in ("estimates", "log_likelihood", "goodness_of_fit", "rows", "holdout", "predictions", "warnings"):
        assert a[key] == b[key], key
    assert a["holdout"][0]["interval"][0] < a["holdout"][0]["value"] < a["holdout"][0]["interval"][1]


def test_workers_and_scheduler_are_exclusive_and_checked(setup, tmp_path):
    _, data = setup
    r = CliRunner().invoke(main, ["fit", "examples/prefill.libet", "--experiment", "prefill_sweep", "--data", data,
                                  "--workers", "2", "--scheduler", "tcp://127.0.0.1:1", "--no-spec"])
    assert r.exit_code == 2 and "give --workers or --scheduler, not both" in r.output
    r = CliRunner().invoke(main, ["fit", "examples/prefill.libet", "--experiment", "prefill_sweep", "--data", data,
                                  "--workers", "0", "--no-spec"])
    assert r.exit_code == 2
    for address, why in (("not an address", "missing port"), ("foo://x:1", "unknown address scheme")):
        r = CliRunner().invoke(main, ["simulate", "examples/prefill.libet", "--experiment", "prefill_sweep",
                                      "--scheduler", address])  # was Dask's ValueError, an internal error
        assert r.exit_code == 2 and "is not a scheduler address" in r.output and why in r.output, r.output


@pytest.mark.slow
def test_experiment_sweep_on_two_workers_equals_serial():
    s = libet.load("examples/cot_dilution.libet")
    serial = s.experiment("dilution_rate")
    dask = s.experiment("dilution_rate", workers=2)
    assert serial.to_rows() == dask.to_rows() and len(serial.rows) == 22
    mc = [s.experiment("preamble_sweep", engine="mc", runs=500, seed=3, **kw).to_rows() for kw in ({}, {"workers": 2})]
    assert mc[0] == mc[1]


def _call(shared: dict, k: int, tag) -> tuple:
    return (k, tag, shared.get(k % 3), len(shared))


def test_mapper_batches_and_shares_like_serial():
    """The Dask mapper cuts a map into a few batches per worker and sends an argument that is
    one object for every call (a dict here, which scatter would otherwise take apart) once:
    the results are the serial ones, in order, for a count that does not divide evenly."""
    from libet.simulator import parallel

    shared = {0: "zero", 1: "one"}
    cols = ([shared] * 23, list(range(23)), [None] * 23)
    run = parallel.mapper(workers=2)
    try:
        counted = []
        assert run.map(_call, *cols, advance=counted.append) == parallel.Serial().map(_call, *cols)
        assert sum(counted) == 23 and 1 < len(counted) <= 8  # a batch at a time, as each is done
        assert run.map(_call, [{}], [5], ["x"]) == [(5, "x", None, 0)]
    finally:
        run.close()


def test_a_scheduler_that_does_not_answer_or_has_no_workers_is_said_in_words(monkeypatch):
    """A server that accepts and never answers as Dask does held the client for ever (Client's
    timeout covers the connection only); a scheduler without workers was "internal error:
    TimeoutError: No valid workers found"."""
    import socket
    import subprocess
    import sys
    import threading
    import time

    from libet.errors import UsageError
    from libet.simulator import parallel

    monkeypatch.setattr(parallel, "CONNECT_SECONDS", 1)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    held = []  # the accepted connections, kept open and never answered
    threading.Thread(target=lambda: [held.append(silent.accept()) for _ in range(8)], daemon=True).start()
    started = time.perf_counter()
    with pytest.raises(UsageError, match="did not answer within 6 s"):
        parallel.DaskMapper(address=f"tcp://127.0.0.1:{silent.getsockname()[1]}")
    assert time.perf_counter() - started < 15
    silent.close()

    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    free = port.getsockname()[1]
    port.close()
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", str(free),
                                  "--dashboard-address", ":0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:  # until the scheduler listens
            try:
                socket.create_connection(("127.0.0.1", free), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "the scheduler did not start"
                time.sleep(0.2)
        run = parallel.DaskMapper(address=f"tcp://127.0.0.1:{free}")
        try:
            with pytest.raises(UsageError, match="has no workers to run on"):
                run.map(len, [[1], [2]], [[3], [4]])
        finally:
            run.close()
    finally:
        scheduler.terminate()
        scheduler.wait(30)


def test_workers_and_a_scheduler_together_are_refused():
    """`workers=2, scheduler=...` used the scheduler and dropped the workers in silence."""
    from libet.errors import UsageError
    from libet.simulator.parallel import mapper

    with pytest.raises(UsageError, match="give one of them"):
        mapper(2, "tcp://127.0.0.1:8786")
