"""Running a test of a real implementation so that the implementation cannot end it with a
verdict of its own choosing.

Consumes: a function that does the whole run (``libet test``: it imports the implementation,
calls it, prints the results) and returns the exit code.
Produces: that exit code, or an :class:`Ended` saying how the run's process ended without
reporting one, and during which call of the implementation.

The implementation is called in the process that tests it: fast (no copy of each request, no
round trip). But it is the user's code, and code can end its process: ``os._exit(0)`` runs no
handler and leaves exit status 0, which reads as "every property held"; a signal or a kill
ends the process with no message at all. So :func:`run_in_child` forks: the child does the
whole run and, just before it exits, writes its exit code to a page of memory it shares with
the parent (:class:`CallLog`; not a pipe, which the implementation could close); the parent
waits and passes the code on only if the child wrote it. A child that ends any other way was
ended by something other than libet's own exit. Before each call of the implementation the
child writes the request to the same page (under 2 µs a call), so the parent can say which
request was being answered. Forking costs about 2 ms once a run.

The child's file descriptor 1 is pointed at stderr, so that what the implementation writes
there (C code, a subprocess it starts, a ``print`` from a thread of its own between two calls)
cannot mix with the results; the results are written to :attr:`CallLog.results`, a stream on
the real stdout.

Only where ``os.fork`` exists and the standard streams are the process's own descriptors 1 and
2 (not an in-memory capture such as click's test runner) and only one thread runs; elsewhere the
run is in-process (:func:`can_fork`).
"""

from __future__ import annotations

import io
import marshal
import mmap
import os
import signal
import sys
import threading
from typing import Callable

import attrs

_SIZE = 1 << 16  # the shared page: a state byte, the record's length (or the exit code), the record
_HEADER = 8
_IDLE, _CALL, _IMPORT, _DONE = 0, 1, 2, 3
_ROOM_CHARS = (_SIZE - _HEADER) // 4 - 16  # characters that fit, 4 bytes each at most in UTF-8, with marshal's header


class CallLog:
    """What the child is doing, in memory shared with the parent: idle (libet's own code), in
    a call of the implementation (with the request), importing the implementation, or done
    (with its exit code). Written by the child; read by the parent after the child ended."""

    def __init__(self):
        self._mm = mmap.mmap(-1, _SIZE)  # anonymous and shared: a forked child writes what the parent reads
        self.calls = 0
        #: in the child, the stream of the results (the real stdout); None where it is sys.stdout
        self.results = None

    def _write(self, state: int, data: bytes) -> None:
        mm = self._mm
        mm[0] = _IDLE  # never a state with a half-written record
        mm[4:8] = len(data).to_bytes(4, "little")
        mm[_HEADER: _HEADER + len(data)] = data
        mm[0] = state

    def enter(self, request) -> None:
        """A call of the implementation on ``request`` (a ``Request``) begins. The request is
        recorded as its fields (marshal: about 1 µs); the parent describes it if need be."""
        self.calls += 1
        s = request.state
        try:
            data = marshal.dumps((s.assignment, s.phase, s.depth, request.text, request.row, request.variant))
        except ValueError:  # a value marshal does not know
            data = b""
        if not data or len(data) > _SIZE - _HEADER:  # or a long text: its description, cut
            data = marshal.dumps(request.describe(limit=2000)[:_ROOM_CHARS])
        self._write(_CALL, data)

    def importing(self, what: str) -> None:
        """The implementation's module is being imported (its top level is the user's code)."""
        self._write(_IMPORT, marshal.dumps(what[:_ROOM_CHARS]))

    def leave(self) -> None:
        """Back in libet's own code."""
        self._mm[0] = _IDLE

    def done(self, code: int) -> None:
        """The run is over with exit code ``code``: the last thing the child does."""
        mm = self._mm
        mm[0] = _IDLE
        mm[4:8] = (code & 0xFFFFFFFF).to_bytes(4, "little")
        mm[0] = _DONE

    def exit_code(self) -> int | None:
        """The exit code the child reported, or None when it did not report one."""
        if self._mm[0] != _DONE:
            return None
        return int.from_bytes(self._mm[4:8], "little")

    def read(self) -> tuple[str | None, str | None]:
        """(``"call"``, the request), (``"import"``, what), or (None, None) otherwise."""
        state = self._mm[0]
        if state not in (_CALL, _IMPORT):
            return None, None
        n = int.from_bytes(self._mm[4:8], "little")
        try:
            record = marshal.loads(self._mm[_HEADER: _HEADER + n])
        except (ValueError, EOFError, TypeError):  # pragma: no cover - the child wrote it whole
            record = "(the request could not be read)"
        if not isinstance(record, str):
            from libet.testing.conformance import Request
            from libet.testing.strategies import State

            assignment, phase, depth, text, row, variant = record
            record = Request(State(assignment, phase, depth), text, row, variant).describe(limit=2000)
        return ("call" if state == _CALL else "import"), record


@attrs.frozen
class Ended:
    """The child ended without reporting an exit code: with ``status`` (its exit status) or by
    ``signal``; ``during`` is ``"call"`` (of the implementation, on the request ``what``),
    ``"import"`` (of the implementation's module, ``what``) or None (in libet's own code);
    ``forwarded`` when the signal was one the parent received and passed on (the user's)."""

    status: int | None
    signal: int | None
    during: str | None
    what: str | None
    forwarded: bool = False

    def how(self) -> str:
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"killed by {name}"
        return f"exit status {self.status}, as os._exit({self.status}) gives"


def can_fork() -> bool:
    """Whether :func:`run_in_child` forks: ``os.fork`` exists, the standard streams are the
    descriptors 1 and 2 (a capture in memory would not see the child's output) and no other
    thread runs (a fork copies only the calling thread, and the locks the others hold)."""
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    try:
        return sys.stdout.fileno() == 1 and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return False


def run_in_child(body: Callable[[CallLog | None], int]) -> int | Ended:
    """``body(log)`` (which returns an exit code and lets nothing escape) in a forked child;
    its exit code, or an :class:`Ended` when the child ended without reporting one. Where
    :func:`can_fork` is false, ``body(None)`` in this process."""
    if not can_fork():
        return body(None)
    log = CallLog()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its coverage is not collected
        _child(body, log)
    return _wait(pid, log)


def _child(body, log: CallLog):  # pragma: no cover - runs in the forked child
    me = os.getpid()
    code = 70
    try:
        try:
            out = os.dup(1)
            os.dup2(2, 1)
        except OSError:  # stderr closed: leave stdout as it is
            pass
        else:
            # sys.stdout (descriptor 1) now writes to stderr, whoever writes and when (a thread
            # of the implementation's between two calls); the results go to the stream kept here
            old = sys.stdout
            log.results = io.TextIOWrapper(io.FileIO(out, "w"), encoding=old.encoding, errors=old.errors,
                                           line_buffering=old.line_buffering)
        try:
            code = int(body(log))
        except BaseException:  # noqa: BLE001 - body reports its own errors; this is the last resort
            import traceback

            traceback.print_exc()
            code = 70
    finally:
        for stream in (log.results, sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except BaseException:  # noqa: BLE001, S110 - a closed pipe: the code still goes to the parent
                pass
        if os.getpid() == me:  # not a process the implementation forked that came back here
            log.done(code)
        os._exit(code & 0xFF)


def _wait(pid: int, log: CallLog) -> int | Ended:
    """Wait for the child: Ctrl-C reaches it directly (the terminal signals the whole process
    group), so the parent ignores SIGINT; SIGTERM and SIGHUP sent to the parent are passed on."""
    forwarded: list[int] = []

    def forward(signum, frame):
        forwarded.append(signum)
        try:
            os.kill(pid, signum)
        except OSError:
            pass

    handlers = {signal.SIGINT: signal.SIG_IGN, signal.SIGTERM: forward, signal.SIGHUP: forward}
    old = {s: signal.signal(s, h) for s, h in handlers.items()}
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    reported = log.exit_code()
    if reported is not None:
        return reported
    code = os.waitstatus_to_exitcode(status)
    during, what = log.read()
    sig = -code if code < 0 else None
    return Ended(None if sig is not None else code, sig, during, what, forwarded=bool(sig and sig in forwarded))


__all__ = ["CallLog", "Ended", "can_fork", "run_in_child"]
