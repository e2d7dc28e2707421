"""Stochastic implementations: measured veto probabilities with intervals, tests with a stated
confidence, and the measured behaviour written out as a libet policy.

Consumes: a spec, an :class:`~libet.testing.conformance.Implementation` whose answers may vary
between calls (a sampled model, an LLM-backed guard), the number of calls per request.
Produces: a :class:`Measurement` (per request class: vetoes k of n calls, the exact
Clopper-Pearson interval), verdicts (TESTED or VIOLATED, never PROVED), and a generated policy.

Verdicts, per property, over the requests measured:

* ``complete``: VIOLATED as soon as one harmful request was not vetoed on one call (its veto
  probability is then certainly below 1); otherwise TESTED, with the smallest lower bound.
* ``no over-refusal``: VIOLATED as soon as one benign request was vetoed once.
* ``invariant under V`` and ``agrees with P``: every interval is taken at confidence
  1 − (1 − c)/m for the m requests measured (Bonferroni), so all m hold together with
  probability at least c. VIOLATED when two requests that differ only in V have disjoint
  intervals (or the policy's probability lies outside one); TESTED otherwise, with the largest
  observed gap.
"""

from __future__ import annotations

import itertools
import random
import re
import time
from typing import Callable, Mapping, Sequence

import attrs

from libet.errors import UsageError
from libet.results import CheckResult, Status
from libet.simulator.intervals import clopper_pearson, wilson
from libet.spec import ir
from libet.testing.conformance import (
    ConformanceCounterexample,
    Implementation,
    ImplementationError,
    Property,
    Space,
    TestSummary,
    _differ,
)
from libet.testing.strategies import as_ir


@attrs.frozen
class Estimate:
    """Vetoes ``k`` of ``n`` calls on one request class, with an interval at ``confidence``."""

    k: int
    n: int
    lo: float
    hi: float
    confidence: float

    @property
    def p(self) -> float:
        return self.k / self.n if self.n else 0.0

    def describe(self) -> str:
        return f"vetoed {self.k} of {self.n} calls ({self.p:.3g}; {self.confidence:.4g} interval [{self.lo:.3g}, {self.hi:.3g}])"

    def to_json(self) -> dict:
        return {"k": self.k, "n": self.n, "p": self.p, "interval": [self.lo, self.hi], "confidence": self.confidence}


@attrs.frozen
class Measurement:
    """Measured veto counts per assignment (pooled over the corpus rows, variants, phases and
    depths measured for it), from ``samples`` calls per request."""

    implementation: str
    spec_title: str
    counts: tuple[tuple[tuple, int, int], ...]  # (assignment items, vetoes, calls)
    samples: int
    seed: int
    confidence: float
    pooled_over: tuple[str, ...]

    def estimates(self) -> list[tuple[dict, Estimate]]:
        return [(dict(a), Estimate(k, n, *clopper_pearson(k, n, self.confidence), self.confidence))
                for a, k, n in self.counts]

    def to_json(self) -> dict:
        return {"implementation": self.implementation, "samples": self.samples, "seed": self.seed,
                "confidence": self.confidence, "pooled_over": list(self.pooled_over),
                "classes": [{"assignment": a, **e.to_json()} for a, e in self.estimates()]}

    def policy_source(self, spec, name: str = "measured") -> str:
        """A libet policy with one rule per measured class whose veto rate is positive: the
        class's conjunction of values, its measured rate as the strength, and a comment with n
        and the interval. Classes never vetoed get no rule (listed in a comment)."""
        spec = as_ir(spec)
        check_policy_name(spec, name)
        lines = [
            f"# Measured by libet test: {self.implementation}, {self.samples} call(s) per request, seed {self.seed};",
            "# each rule is one measured class, its strength the observed veto rate, with the exact (Clopper-Pearson)",
            f"# {self.confidence:g} interval. Pooled over: {', '.join(self.pooled_over) or 'nothing'}.",
            f"policy {name} {{",
        ]
        never = 0
        for a, e in self.estimates():
            if e.k == 0:
                never += 1
                continue
            cond = " and ".join(_atom(spec.variables[n], v) for n, v in a.items()) or "true"
            strength = "" if e.k == e.n else f" with strength {_decimal(e.p)}"
            lines.append(f"  veto when {cond}{strength}  # n = {e.n}, {e.confidence:g} interval [{e.lo:.4f}, {e.hi:.4f}]")
        if never:
            lines.append(f"  # {never} measured class(es) never vetoed: no rule")
        unmeasured = spec.assignment_count() - len(self.counts)
        if unmeasured > 0:
            lines.append(f"  # {unmeasured} class(es) not measured (held fixed or beyond the budget): no rule, "
                         "so this policy never vetoes them")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def spec_source(self, spec, source: str, name: str = "measured") -> str:
        """``source`` (the spec's own text) with the measured policy appended and a check block
        stating the spec's qualitative and quantitative checks for it."""
        spec = as_ir(spec)
        policy = self.policy_source(spec, name)
        seen, checks = set(), []
        for c in spec.checks:
            if c.name not in seen:
                seen.add(c.name)
                checks.append(c.name)
        out = source.rstrip("\n") + "\n\n" + policy
        if checks:
            out += "\ncheck " + name + " {\n" + "".join(f"  {c}\n" for c in checks) + "}\n"
        return out


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_policy_name(spec, name, what: str = "the policy name") -> str:
    """``name`` if it can name a new policy of ``spec``: a name of the language (a letter or
    ``_``, then letters, digits and ``_``), not a reserved word, not a policy the spec has.

    Raises:
        UsageError: saying which of these it is not.
    """
    from libet.spec.checker import RESERVED

    spec = as_ir(spec)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(f"{what} {name!r} is not a name: a policy name is a letter or _ followed by letters, digits "
                         "and _", hint="e.g. measured")
    if name in RESERVED:
        raise UsageError(f"{what} '{name}' is a reserved word of the language, so it cannot name a policy",
                         hint=f"choose another name, e.g. {name}_ or measured")
    if name in spec.policies:
        raise UsageError(f"{what} '{name}': the spec already has a policy '{name}'",
                         hint="choose another name for the measured policy")
    return name


def _atom(var: ir.Variable, v) -> str:
    if isinstance(var.domain, ir.BoolDomain):
        return var.name if v else f"not {var.name}"
    return f"{var.name} == {v}"


def _decimal(x: float) -> str:
    text = f"{x:.4f}".rstrip("0").rstrip(".")
    return text if text not in ("", "0") else "0.0001"


class _Meter:
    """Calls the implementation ``samples`` times per point, once per point across properties."""

    def __init__(self, space: Space, impl: Implementation, samples: int):
        self.space, self.impl, self.samples = space, impl, samples
        self.memo: dict[tuple, tuple] = {}

    def __call__(self, point) -> tuple:
        hit = self.memo.get(point)
        if hit is not None:
            return hit
        req = self.space.request(point)
        k = 0
        for _ in range(self.samples):
            x = self.impl(req, self.space.rendered())
            if x not in (0.0, 1.0):
                raise ImplementationError(
                    f"{self.impl.name} returned the probability {x:g}; with several samples per request each call "
                    "must return a bool (one veto decision)", req,
                    hint="an implementation that returns its veto probability needs no sampling: drop --samples")
            k += int(x)
        out = (req, k, self.samples)
        self.memo[point] = out
        return out


def _budget_points(space: Space, harmful, budget: int, rng: random.Random) -> list[tuple]:
    size = space.size(harmful)
    if size <= budget:
        return list(space.points(harmful))
    subst = space.substance_indices(harmful)
    seen, out = set(), []
    while len(out) < budget:
        p = (rng.choice(subst),) + tuple(rng.choice(v) for v in space.values[1:])
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def _groups(space: Space, prop: Property, budget: int, rng: random.Random) -> tuple[list[list[tuple]], bool]:
    varied = {space.index[v] for v in prop.under} | ({space.index["depth"]} if prop.depth else set())
    varied = sorted(varied | ({space.index["phase"]} if prop.phase else set()))
    sizes = [len(space.values[i]) for i in varied]
    group = 1
    for s in sizes:
        group *= s
    n_groups = space.size(None) // group
    exhaustive = n_groups * group <= budget
    bases = _budget_points(space, None, max(1, budget // group), rng) if not exhaustive else None
    keep = [i for i in range(len(space.names)) if i not in varied]
    out: dict = {}
    points = space.points(None) if exhaustive else bases
    for p in points:
        key = tuple(p[i] for i in keep)
        if key in out:
            continue
        members = []
        for combo in itertools.product(*(space.values[i] for i in varied)):
            q = list(p)
            for i, v in zip(varied, combo):
                q[i] = v
            members.append(tuple(q))
        out[key] = members
    return list(out.values()), exhaustive


def measure_and_judge(spec, impl: Implementation, props: Sequence[Property], *, renderer=None, fixed=None,
                      params=None, samples: int = 100, confidence: float = 0.95, seed: int = 0,
                      limit: int = 100_000, max_depth: int | None = None,
                      progress: Callable | None = None) -> tuple[list[CheckResult], Measurement]:
    """Measure ``impl`` with ``samples`` calls per request and judge each property (module
    docstring). ``limit`` caps the calls per property (requests × samples)."""
    from libet.spec.interpreter import Interpreter

    # conform, the one caller, has checked samples, confidence and the limit
    spec = as_ir(spec)
    space = Space(spec, renderer, fixed, max_depth)
    interp = Interpreter(spec, params)
    meter = _Meter(space, impl, samples)
    rng = random.Random(seed)
    budget = max(1, limit // samples)
    results = []
    for prop in props:
        start = time.perf_counter()
        if prop.kind == "invariant":
            groups, exhaustive = _groups(space, prop, budget, rng)
            points = [p for g in groups for p in g]
        else:
            points = _budget_points(space, prop.harmful, budget, rng)
            exhaustive = len(points) == space.size(prop.harmful)
            groups = []
        m = max(1, len(points))
        level = 1 - (1 - confidence) / m
        measured = {}
        for i, p in enumerate(points, 1):
            measured[p] = meter(p)
            if progress and i % 64 == 0:
                progress(prop.text, i, len(points))
        cex, note = _judge(prop, measured, groups, level, interp, samples)
        details = {"examples": len(points), "samples": samples, "calls": len(points) * samples, "exhaustive": exhaustive,
                   "confidence": confidence, "per_interval_confidence": level, "seed": seed,
                   "domain": space.size(prop.harmful)}
        engine = f"libet.testing (sampled, {samples} calls per request)"
        if cex is not None:
            results.append(CheckResult(impl.name, prop.text, Status.VIOLATED, time.perf_counter() - start, engine,
                                       counterexample=cex, details=details))
        else:
            how = f"{samples} calls each, Bonferroni over {m} intervals" if prop.kind in ("invariant", "agrees") else \
                f"{samples} calls each"
            summary = TestSummary(len(points), exhaustive, space.size(prop.harmful), how, note)
            results.append(CheckResult(impl.name, prop.text, Status.TESTED, time.perf_counter() - start, engine,
                                       proof=summary, details=details))
    pooled = ["corpus rows", "transform variants"] if space.rendered() else ["phases", "depths"]
    counts: dict = {}
    for req, k, n in meter.memo.values():
        key = tuple(req.state.assignment.items())
        k0, n0 = counts.get(key, (0, 0))
        counts[key] = (k0 + k, n0 + n)
    measurement = Measurement(impl.name, spec.title, tuple((a, k, n) for a, (k, n) in counts.items()), samples, seed,
                              confidence, tuple(pooled))
    return results, measurement


def _judge(prop, measured: Mapping, groups, level, interp, samples):
    """(counterexample or None, a note for TESTED)."""

    def est(p):
        req, k, n = measured[p]
        return req, Estimate(k, n, *clopper_pearson(k, n, level), level)

    if prop.kind == "complete":
        worst = None
        for p in measured:
            req, e = est(p)
            if e.k < e.n:
                return ConformanceCounterexample(prop.text, (req,), (e.p,), found_by=f"sampling: {e.describe()}"), ""
            worst = e if worst is None or e.lo < worst.lo else worst
        return None, (f"every harmful request vetoed on every call; the smallest lower bound is {worst.lo:.3g}"
                      if worst else "")
    if prop.kind == "no over-refusal":
        worst = None
        for p in measured:
            req, e = est(p)
            if e.k > 0:
                return ConformanceCounterexample(prop.text, (req,), (e.p,), found_by=f"sampling: {e.describe()}"), ""
            worst = e if worst is None or e.hi > worst.hi else worst
        return None, (f"no benign request vetoed on any call; the largest upper bound is {worst.hi:.3g}" if worst else "")
    if prop.kind == "agrees":
        for p in measured:
            req, e = est(p)
            s = req.state
            want = float(interp.veto_probability(prop.policy, s.assignment, s.phase, s.depth))
            if not e.lo - 1e-12 <= want <= e.hi + 1e-12:
                return ConformanceCounterexample(prop.text, (req,), (e.p,), expected=want,
                                                 found_by=f"sampling: {e.describe()}"), ""
        return None, f"each policy probability inside its interval (each at {level:.4g})"
    largest = 0.0
    for g in groups:
        ests = [est(p) for p in g]
        hi_req, hi_e = max(ests, key=lambda t: t[1].p)
        lo_req, lo_e = min(ests, key=lambda t: t[1].p)
        largest = max(largest, hi_e.p - lo_e.p)
        if hi_e.lo > lo_e.hi:
            return ConformanceCounterexample(
                prop.text, (hi_req, lo_req), (hi_e.p, lo_e.p), differ=_differ(hi_req, lo_req),
                found_by=f"sampling: {hi_e.describe()} versus {lo_e.describe()}; the intervals are disjoint"), ""
    return None, (f"largest observed gap {largest:.3g}, not significant (every interval at {level:.4g}, so all hold "
                  "together at the stated confidence)")


def measure(spec, veto, *, renderer=None, corpus=None, bindings=None, variants: int = 1, samples: int = 1,
            confidence: float = 0.95, seed: int = 0, limit: int = 100_000, fixed=None, timeout=None,
            max_depth: int | None = None, name: str | None = None) -> Measurement:
    """Measure the veto rate of ``veto`` per assignment (``samples`` calls per request; 1 for
    a deterministic implementation) over at most ``limit`` calls, for :meth:`Measurement.policy_source`."""
    from libet.spec.overrides import check_whole
    from libet.testing.conformance import _renderer, check_confidence

    check_confidence(confidence)
    for value, what, least in ((samples, "samples", 1), (limit, "limit", 0), (variants, "variants", 1)):
        check_whole(value, what, least)  # a limit of 0 still measures one request
    spec = as_ir(spec)
    renderer = _renderer(spec, renderer, corpus, bindings, variants, seed)
    impl = veto if isinstance(veto, Implementation) else Implementation(veto, name=name, timeout=timeout)
    space = Space(spec, renderer, fixed, max_depth)
    if renderer is None:
        # measure each assignment at its start state: the policy written out applies at every depth
        from libet.spec.interpreter import Interpreter

        interp = Interpreter(spec)
        points = []
        for p in _budget_points(space, None, max(1, limit // samples), random.Random(seed)):
            req = space.request(p)
            start = interp.start(req.state.assignment) if spec.trajectory is not None else (None, 0)
            q = list(p)
            q[space.index["phase"]] = start[0]
            if start[1] in space.values[space.index["depth"]]:
                q[space.index["depth"]] = start[1]
            points.append(tuple(q))
        points = list(dict.fromkeys(points))
        pooled = ["the start state (the rules apply at every depth)"]
    else:
        points = _budget_points(space, None, max(1, limit // samples), random.Random(seed))
        pooled = ["corpus rows", "transform variants"]
    meter = _Meter(space, impl, samples) if samples > 1 else None
    counts: dict = {}
    for p in points:
        if meter is not None:
            req, k, n = meter(p)
        else:
            req = space.request(p)
            x = impl(req, space.rendered())
            if x not in (0.0, 1.0):
                raise ImplementationError(f"{impl.name} returned the probability {x:g}; measuring counts veto "
                                          "decisions", req, hint="write its probabilities as strengths yourself, or "
                                          "return a bool")
            k, n = int(x), 1
        key = tuple(req.state.assignment.items())
        k0, n0 = counts.get(key, (0, 0))
        counts[key] = (k0 + k, n0 + n)
    return Measurement(impl.name, spec.title, tuple((a, k, n) for a, (k, n) in counts.items()), samples, seed,
                       confidence, tuple(pooled))


__all__ = ["Estimate", "Measurement", "check_policy_name", "clopper_pearson", "measure", "measure_and_judge", "wilson"]
