"""``safe`` with ``horizon none``: incremental BMC, k-induction and Spacer raced.

Consumes: a spec with an unbounded trajectory, a policy, a :class:`~libet.proofs.solve.Rung`
and a budget.
Produces: the first decisive :class:`~libet.proofs.solve.Outcome` of the three engines, each on
its own Z3 context and thread (the BMC finds counterexamples and runs k-induction's base case;
k-induction and Spacer prove); or UNKNOWN with what each said and the bound the BMC reached.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Mapping

import z3

from libet.proofs import bmc
from libet.proofs.induction import k_induction
from libet.proofs.solve import Budget, Outcome, OutOfTime, Rung
from libet.proofs.spacer import spacer
from libet.proofs.tables import Unencodable
from libet.spec import ir

#: With ``horizon none`` and a term no prover can encode (``exp`` of the unbounded depth), the
#: BMC may still find a counterexample: it gets this share of the timeout before UNKNOWN.
UNENCODABLE_SEARCH_SHARE = 0.2

#: (threads, contexts) of races whose threads outlived their join; see :func:`unbounded`.
_LINGERING: list = []


def unbounded(
    spec: ir.Spec,
    policy: str,
    rung: Rung,
    budget: Budget,
    params: Mapping | None = None,
    fixed: Mapping | None = None,
) -> Outcome:
    """Race incremental BMC (counterexamples, and the base case), k-induction and Spacer, each
    on its own Z3 context and thread; the first decisive answer wins and the others stop."""
    stop = threading.Event()
    results: queue.Queue = queue.Queue()
    base: dict = {"bound": -1}  # frames the BMC has shown not to deliver: k-induction's base case
    contexts = {name: z3.Context() for name in ("bmc", "k-induction", "spacer")}

    def run(name, fn, **kw):
        try:
            out = fn(spec, policy, rung, budget, params, fixed, ctx=contexts[name], stop=stop, **kw)
        except Unencodable as u:
            out = Outcome("unknown", reason=u.text(), details={"method": name, "unencodable": True})
        except OutOfTime:
            out = Outcome("unknown", reason=f"timeout: no answer within the {budget.seconds:g} s budget", details={"method": name})
        except z3.Z3Exception as exc:
            out = Outcome("unknown", reason=f"Z3 error: {exc}", details={"method": name})
        except BaseException as exc:  # handed to the caller's thread
            out = exc
        results.put((name, out))

    threads = [
        threading.Thread(target=run, args=("bmc", bmc.incremental), kwargs={"progress": base}, daemon=True),
        threading.Thread(target=run, args=("k-induction", k_induction), kwargs={"base": base}, daemon=True),
        threading.Thread(target=run, args=("spacer", spacer), daemon=True),
    ]
    for t in threads:
        t.start()
    pending = len(threads)
    unknowns: list[tuple[str, Outcome]] = []
    winner: Outcome | None = None
    spacer_sat = False
    unencodable: Outcome | None = None
    deadline = time.monotonic() + budget.remaining()
    while pending:
        wait = deadline - time.monotonic()
        if wait <= 0:
            break
        try:
            name, out = results.get(timeout=wait + 0.05)
        except queue.Empty:
            break
        pending -= 1
        if isinstance(out, BaseException):
            stop.set()
            for c in contexts.values():
                c.interrupt()
            raise out
        if out.status == "violated" and out.raw is None:
            spacer_sat = True  # reachable; the BMC will produce the trace
            continue
        if out.status in ("proved", "violated"):
            winner = out
            break
        unknowns.append((name, out))
        if out.details.get("unencodable"):
            unencodable = out
            if name == "bmc" or {n for n, o in unknowns if o.details.get("unencodable")} >= {"k-induction", "spacer"}:
                # nothing can prove it; the BMC may still refute it, within a share of the time
                deadline = min(deadline, time.monotonic() + budget.seconds * UNENCODABLE_SEARCH_SHARE)
                if name == "bmc":
                    break
    stop.set()
    for c in contexts.values():
        try:
            c.interrupt()
        except Exception:  # pragma: no cover
            pass
    for t in threads:
        t.join(timeout=5.0)
    if any(t.is_alive() for t in threads):
        # a thread still busy in Python (not in Z3, which the interrupt stops) must not see its
        # context freed under it: keep the contexts alive until it ends
        _LINGERING.append((threads, contexts))
    _LINGERING[:] = [(ts, cs) for ts, cs in _LINGERING if any(t.is_alive() for t in ts)]
    if winner is not None:
        return winner
    details = {"method": "k-induction, spacer, bmc", "bound": max(base["bound"], 0)}
    if unencodable is not None:
        return Outcome("unknown", reason=f"{unencodable.reason}; bounded search found no counterexample", details=details)
    reasons = "; ".join(f"{n}: {o.reason}" for n, o in unknowns if o.reason != "stopped")
    note = " Spacer found a path to delivery, but no trace was extracted in time." if spacer_sat else ""
    return Outcome("unknown", reason=f"no engine decided within the budget ({reasons or 'timeout'}).{note}", details=details)
