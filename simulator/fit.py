"""The numerics of calibration: a pure per-point evaluation, likelihoods, maximum likelihood
with several starts, profile-likelihood intervals and parametric bootstrap replicates.

Consumes: a :class:`Problem` (a checked spec, the measured rows of one experiment, the params
to fit with their declared ranges, the other params' values).
Produces: model values at points (:func:`predict`), the fit statistic (:meth:`Problem.stat`:
-2 log-likelihood, or N log SSE for least squares), :class:`Optimum` per start, profile
intervals (:func:`profile`), and bootstrap replicates (:func:`replicate`).

Every function here is pure and its arguments pickle (a :class:`Problem` holds the frozen IR and
plain values), so :mod:`libet.fit` can hand the same calls to a Dask cluster or run them in
order, and get the same numbers: the random draws of a replicate come from its own
``numpy.random.SeedSequence([seed, index])``. The model values come from the exact engine
(backward induction, deterministic floating point), never from sampling: an optimiser cannot
climb a noisy likelihood.

Likelihoods (docs/calibration.md): rows with ``n`` are binomial (successes ~ Bin(n, p)), rows
with ``std`` Gaussian (observed ~ N(value, std²)), rows with neither least squares (Gaussian
with one unknown variance, profiled out: -2 log L = N log(SSE/N) + const).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import attrs
import numpy as np

from libet.errors import EvaluationError
from libet.spec import ir
from libet.spec import measures as ms

#: The likelihood-ratio cut-off of a 95 % profile interval: the 0.95 quantile of chi-squared(1).
CHI2_95 = 3.841458820694124
#: Probabilities are kept this far inside (0, 1) in the binomial likelihood.
EPS = 1e-12


@attrs.frozen
class Target:
    """A point to evaluate: an experiment's point for one policy and one measure."""

    experiment: str
    policy: str
    measure: ms.Measure
    point: tuple[tuple[str, object], ...]


def predict(spec: ir.Spec, targets: Sequence[Target], params: Mapping[str, object]) -> np.ndarray:
    """The exact engine's value of every target with ``params`` (name -> number) applied on top
    of each experiment's ``set`` lines (:class:`Plan` says how; build one to evaluate the same
    targets many times).

    Raises:
        EvaluationError: the model has no valid value at these params (a probability outside
            [0, 1], a measure conditioned on an event of probability 0).
    """
    return Plan(spec, targets).values(params)


@attrs.frozen
class _Lookup:
    """One measure of one solve: its distinct points, and for each target the point it reads."""

    measure: ms.Measure
    points: tuple[tuple, ...]
    rows: np.ndarray  # target indices
    which: np.ndarray  # for each of ``rows``, its index into ``points``


@attrs.frozen
class _Solve:
    """One solve: an experiment's policy at one point of the params it varies."""

    experiment: str
    policy: str
    ppoint: tuple[tuple[str, object], ...]
    names: tuple[str, ...]  # the varied variables (each keeps its axis)
    lookups: tuple[_Lookup, ...]


class Plan:
    """How to evaluate many targets: one solve per (experiment, policy, param point), since a
    table covers every value of the varied variables at once; each measure's distinct points
    are looked up once and copied to the targets that read them. A fit evaluates the same
    targets thousands of times: the plan is formed once, so an evaluation costs the solves and
    the distinct points, not the rows (a data file may measure one point many times)."""

    def __init__(self, spec: ir.Spec, targets: Sequence[Target]):
        self.spec, self.targets = spec, tuple(targets)
        groups: dict = {}
        for i, t in enumerate(self.targets):
            ppoint = tuple((k, v) for k, v in t.point if k in spec.params)
            groups.setdefault((t.experiment, t.policy, ppoint), []).append(i)
        solves = []
        for (name, policy, ppoint), idx in groups.items():
            exp = spec.experiments[name]
            names = tuple(v.name for v in exp.vary if v.name not in spec.params)
            per: dict = {}  # measure -> (point -> its index, target indices, their point indices)
            for i in idx:
                t = self.targets[i]
                seen, rows, which = per.setdefault(t.measure, ({}, [], []))
                point = dict(t.point)
                rows.append(i)
                which.append(seen.setdefault(tuple(point[n] for n in names), len(seen)))
            lookups = tuple(_Lookup(m, tuple(seen), np.asarray(rows, dtype=np.intp), np.asarray(which, dtype=np.intp))
                            for m, (seen, rows, which) in per.items())
            solves.append(_Solve(name, policy, ppoint, names, lookups))
        self.solves = tuple(solves)

    def values(self, params: Mapping[str, object]) -> np.ndarray:
        """Every target's value with ``params`` applied (see :func:`predict`)."""
        from .exact import solve
        from .model import Model

        spec = self.spec
        out = np.empty(len(self.targets))
        for s in self.solves:
            exp = spec.experiments[s.experiment]
            pset: dict = {}
            fixed: dict = {}
            for k, v in exp.set:
                (pset if k in spec.params else fixed)[k] = v
            pset.update(params)
            pset.update(s.ppoint)
            # the swept and maximised variables keep their axes; the rest may be summarised
            table = solve(Model(spec, s.policy, pset, fixed, keep=s.names + tuple(exp.worst_over)),
                          tuple(lk.measure for lk in s.lookups))
            for lk in s.lookups:
                got = table.values_at(lk.measure, s.names, lk.points, exp.worst_over)
                if None in got:
                    i = int(lk.rows[np.flatnonzero(np.asarray([v is None for v in got])[lk.which])[0]])
                    raise EvaluationError(f"{lk.measure.text} is undefined at {_label(self.targets[i])}: its "
                                          "condition has probability 0")
                out[lk.rows] = np.asarray([float(v) for v in got])[lk.which]
        return out


def _label(t: Target) -> str:
    return ", ".join([f"{k}={v}" for k, v in t.point] + [f"policy {t.policy}"])


@attrs.frozen
class Problem:
    """What a fit is asked: the model, the rows, the params to fit and their box.

    ``kind`` is ``binomial``, ``gaussian`` or ``least squares`` (one for all rows)."""

    spec: ir.Spec
    targets: tuple[Target, ...]
    observed: tuple[float, ...]
    n: tuple[float, ...] | None
    std: tuple[float, ...] | None
    kind: str
    names: tuple[str, ...]
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    #: other param overrides (name -> number), applied under the fitted ones
    base: tuple[tuple[str, object], ...] = ()
    #: how the targets are evaluated: formed from them unless given (``attrs.evolve`` hands
    #: it on, so the profiles' sub-problems do not form it again)
    plan: Plan | None = attrs.field(default=None, eq=False, repr=False)
    # the rows as arrays, formed once (a fit evaluates the statistic thousands of times)
    _y: np.ndarray = attrs.field(init=False, eq=False, repr=False)
    _n: np.ndarray | None = attrs.field(init=False, eq=False, repr=False)
    _s: np.ndarray | None = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self):
        if self.plan is None or self.plan.targets is not self.targets:
            object.__setattr__(self, "plan", Plan(self.spec, self.targets))
        object.__setattr__(self, "_y", np.asarray(self.observed, dtype=float))
        object.__setattr__(self, "_n", None if self.n is None else np.asarray(self.n, dtype=float))
        object.__setattr__(self, "_s", None if self.std is None else np.asarray(self.std, dtype=float))

    def params(self, theta) -> dict:
        out = dict(self.base)
        for name, x, lo, hi in zip(self.names, theta, self.lo, self.hi):
            out[name] = min(max(float(x), lo), hi)  # the optimiser may step a hair outside
        return out

    def values(self, theta) -> np.ndarray:
        return self.plan.values(self.params(theta))

    def stat(self, theta, observed=None) -> float:
        """-2 log-likelihood up to a constant (least squares: N log SSE); smaller is better.
        ``observed`` replaces the measured values (a bootstrap replicate's)."""
        return self.stat_of(self.values(theta), observed)

    def stat_of(self, values: np.ndarray, observed=None) -> float:
        y = self._y if observed is None else np.asarray(observed, dtype=float)
        if self.kind == "binomial":
            n = self._n
            k = y * n
            p = np.clip(values, EPS, 1 - EPS)
            return float(-2 * np.sum(k * np.log(p) + (n - k) * np.log1p(-p)))
        if self.kind == "gaussian":
            return float(np.sum(((y - values) / self._s) ** 2))
        sse = float(np.sum((y - values) ** 2))
        return len(y) * math.log(max(sse, 1e-300))

    def loglik(self, values: np.ndarray) -> float:
        """The log-likelihood with its constants (comparable across fits of the same data)."""
        from scipy.special import gammaln

        y = self._y
        if self.kind == "binomial":
            n = self._n
            k = y * n
            const = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
            return float(np.sum(const) - self.stat_of(values) / 2)
        if self.kind == "gaussian":
            return float(-self.stat_of(values) / 2 - np.sum(np.log(self._s)) - len(y) * 0.5 * math.log(2 * math.pi))
        sse = float(np.sum((y - values) ** 2))
        if sse <= 0:
            return math.inf
        n = len(y)
        return -n / 2 * (math.log(2 * math.pi * sse / n) + 1)

    def goodness(self, values: np.ndarray, held: int = 0) -> dict:
        """A goodness-of-fit figure: the binomial deviance G² or Pearson's chi², with degrees of
        freedom (rows less params fitted, ``held`` more of them fitted by the caller) and
        p-value; for least squares the RMSE."""
        from scipy.stats import chi2

        y = self._y
        df = len(y) - len(self.names) - held
        out: dict = {"rows": len(y), "params": len(self.names) + held, "df": df}
        if self.kind == "binomial":
            n = self._n
            k = y * n
            p = np.clip(values, EPS, 1 - EPS)
            with np.errstate(divide="ignore", invalid="ignore"):
                a = np.where(k > 0, k * np.log(k / (n * p)), 0.0)
                b = np.where(n - k > 0, (n - k) * np.log((n - k) / (n * (1 - p))), 0.0)
            stat = float(2 * np.sum(a + b))
            out.update(statistic="deviance G2", value=stat)
        elif self.kind == "gaussian":
            stat = self.stat_of(values)
            out.update(statistic="chi2", value=stat)
        else:
            rmse = math.sqrt(float(np.mean((y - values) ** 2)))
            out.update(statistic="RMSE", value=rmse, p_value=None)
            return out
        out["p_value"] = float(chi2.sf(stat, df)) if df > 0 else None
        return out


@attrs.frozen
class Optimum:
    """One local optimisation: where it started and ended, the statistic, whether it converged."""

    start: tuple[float, ...]
    theta: tuple[float, ...]
    stat: float
    converged: bool
    message: str
    evaluations: int


def _objective(problem: Problem, observed=None):
    count = [0]

    def f(theta):
        count[0] += 1
        try:
            return problem.stat(theta, observed)
        except EvaluationError:
            return math.inf

    return f, count


def optimise(problem: Problem, start: Sequence[float], observed=None, tight: bool = True) -> Optimum:
    """One bounded local optimisation (L-BFGS-B from scipy) of :meth:`Problem.stat`;
    ``tight=False`` for the inner optimisations of a profile, which need the optimum's value
    (to 1e-9), not the place."""
    from scipy.optimize import minimize

    f, count = _objective(problem, observed)
    if not problem.names:  # nothing real to optimise (the int params are held by the caller)
        v = f(np.empty(0))
        return Optimum((), (), v, math.isfinite(v), "" if math.isfinite(v) else "no valid value", count[0])
    x0 = np.clip(np.asarray(start, dtype=float), problem.lo, problem.hi)
    if not math.isfinite(f(x0)):
        return Optimum(tuple(x0), tuple(x0), math.inf, False, "the model has no valid value at the start", count[0])
    span = np.asarray(problem.hi) - np.asarray(problem.lo)
    res = minimize(f, x0, method="L-BFGS-B", bounds=list(zip(problem.lo, problem.hi)),
                   options={"maxiter": 200, "ftol": 1e-11 if tight else 1e-9, "gtol": 1e-8 if tight else 1e-5,
                            "eps": 1e-7 * float(np.max(span) or 1)})
    x, fun, ok, message = res.x, float(res.fun), bool(res.success), str(res.message)
    if not ok and math.isfinite(fun):
        # L-BFGS-B's line search gives up where finite-difference gradients are too rough (an
        # exact fit, a kink of min/max): polish with Powell's derivative-free method from there
        # and accept its point when that converges.
        pol = minimize(f, x, method="Powell", bounds=list(zip(problem.lo, problem.hi)),
                       options={"xtol": 1e-8, "ftol": 1e-12 if tight else 1e-10, "maxfev": 400})
        if pol.success and math.isfinite(float(pol.fun)) and float(pol.fun) <= fun + 1e-9 * max(1.0, abs(fun)):
            x, fun, ok, message = pol.x, float(pol.fun), True, f"{message}; polished by Powell: {pol.message}"
    theta = tuple(float(v) for v in np.clip(x, problem.lo, problem.hi))
    ok = ok and math.isfinite(fun)
    return Optimum(tuple(float(v) for v in x0), theta, fun, ok, message, count[0])


def starts(problem: Problem, defaults: Sequence[float], count: int, seed: int) -> list[tuple[float, ...]]:
    """The starting points: the spec's values of the params (clipped into their box), then
    ``count - 1`` points drawn uniformly in the box from ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5A17]))
    lo, hi = np.asarray(problem.lo), np.asarray(problem.hi)
    out = [tuple(float(x) for x in np.clip(defaults, lo, hi))]
    for _ in range(max(count, 1) - 1):
        out.append(tuple(float(x) for x in lo + rng.random(len(lo)) * (hi - lo)))
    return out


@attrs.frozen
class Interval:
    """A profile-likelihood interval of one param: ``low``/``high``, and whether each end is
    the declared bound: the data do not exclude anything beyond, or the profile could not be
    placed against the cut-off there (:func:`profile`), so the side is not narrowed."""

    name: str
    estimate: float
    low: float
    high: float
    low_at_bound: bool
    high_at_bound: bool
    evaluations: int
    #: the sides (``"low"``, ``"high"``) at their bound because the profile could not be placed
    #: there, not because the data exclude nothing beyond
    unplaced: tuple[str, ...] = ()

    @property
    def flat(self) -> bool:
        """Whether the profile stays within the cut-off over the whole range (both ends at
        their bounds, each placed there)."""
        return self.low_at_bound and self.high_at_bound and not self.unplaced


#: An interval's end is accepted at a point where the signed root sqrt(profile) - sqrt(CHI2_95)
#: is at most this far from 0: the profile there is within 1e-4 of the cut-off (about the
#: precision of the inner optimisations on a statistic of 10^4 to 10^5).
ROOT_FTOL = 2.5e-5


def profile(problem: Problem, theta: Sequence[float], best: float, index: int) -> Interval:
    """The 95 % profile-likelihood interval of param ``index``: the values t where
    min over the other params of stat(t, ·) - best <= CHI2_95 (Wilks).

    Each side is bracketed from the estimate outwards: the first step is 0.1 % of the range,
    the next guessed from the profile's curvature there (at most 100 times as far) and each
    later one from the profile's growth so far (at most 4 times as far), so a quadratic profile
    is bracketed in a step or two and a flat one (a ridge) is followed in steps. The crossing is
    then found by :func:`_crossing` on the signed root sqrt(profile) - sqrt(CHI2_95), which is
    linear in t where the profile is quadratic.

    At each t the other params are re-optimised from their optimum at the neighbouring profile
    points (interpolated between them, or extrapolated along the ridge). An inner optimisation
    can only overstate the profile (it may stop short of the minimum, never below it), so a
    value within the cut-off is taken as it is; a value beyond it is *confirmed* from more starts
    (the nearest profile point's optimum, the estimate's, the middle of the box) wherever it
    decides an interval: at the outer end of a bracket, and at the point beyond the cut-off next
    to a crossing found. If a confirmation brings that point within the cut-off, the search goes
    on from there. An end is reported only with a confirmed point beyond the cut-off next to it,
    and only within 1e-5 of the range of a point within the cut-off or where the profile is
    within about 1e-4 of the cut-off (``ROOT_FTOL``).

    A side ends at its bound when the profile does not cross before it, and also when the
    profile cannot be placed against the cut-off at a point the search needs: there the best of
    the starts lies beyond the cut-off but did not converge, so the data's verdict is unknown
    and the side is not narrowed on it. A point where the model has no valid value from any
    start lies beyond the cut-off.
    """
    theta = np.asarray(theta, dtype=float)
    lo, hi = problem.lo[index], problem.hi[index]
    width = hi - lo
    evals = [0]
    others = [j for j in range(len(theta)) if j != index]
    sub = None
    confirm: list = []
    near = None
    if others:
        sub = attrs.evolve(problem, names=tuple(problem.names[j] for j in others),
                           lo=tuple(problem.lo[j] for j in others), hi=tuple(problem.hi[j] for j in others))
        slo, shi = np.asarray(sub.lo), np.asarray(sub.hi)
        near = 1e-6 * (shi - slo)  # a start this close to one tried, or to an optimum found, adds nothing
        confirm = [theta[others].copy(), (slo + shi) / 2]

    known: list = []  # (t, optimum of the others) at the points of the current side placed so far
    confirmed: set = set()  # the points of the current side whose profile is a minimum over every start
    runs: dict = {}  # t -> the optimisations of the others at t so far (a confirmation goes on from them)
    values: dict = {}  # t -> the profile at t less ``best``, as placed so far

    def guess(t: float) -> np.ndarray:
        """A start for the others at t: interpolated between the nearest known points on either
        side of t, or extrapolated from the two nearest on one side."""
        below = [k for k in known if k[0] < t]
        above = [k for k in known if k[0] > t]
        if below and above:
            p, q = max(below, key=lambda k: k[0]), min(above, key=lambda k: k[0])
        else:
            closest = sorted(below or above, key=lambda k: abs(k[0] - t))[:2]
            if len(closest) < 2:
                return closest[0][1]
            p, q = closest
        (t1, x1), (t2, x2) = p, q
        return np.clip(x1 + (x2 - x1) * (t - t1) / (t2 - t1), sub.lo, sub.hi)

    def prof(t: float, thorough: bool) -> float:
        """The profile at t less ``best``; NaN where it cannot be placed against the cut-off.
        A value beyond the cut-off is confirmed from every start if ``thorough``, or if the
        optimisation from the guess did not converge."""
        if sub is None:
            f, c = _objective(problem)
            v = f(np.array([t]))
            evals[0] += c[0]
            confirmed.add(t)
            values[t] = v - best
            return v - best
        fixed = attrs.evolve(sub, base=problem.base + ((problem.names[index], t),))
        tried: list[Optimum] = runs.setdefault(t, [])
        nearest = min((k for k in known if k[0] != t), key=lambda k: abs(k[0] - t))[1]
        for x0 in [guess(t), nearest, *confirm]:
            x0 = np.clip(np.asarray(x0, dtype=float), sub.lo, sub.hi)
            if any(np.all(np.abs(x0 - np.asarray(y)) <= near) for o in tried
                   for y in ((o.start, o.theta) if o.converged else (o.start,))):
                continue
            if tried and (min(o.stat for o in tried) - best <= CHI2_95  # no other start can move it out
                          or not thorough and any(o.converged for o in tried)):
                break
            o = optimise(fixed, x0, tight=False)
            evals[0] += o.evaluations
            tried.append(o)
        else:
            confirmed.add(t)
        o = min(tried, key=lambda o: o.stat)
        if not math.isfinite(o.stat):
            values[t] = math.inf  # no valid value of the model at t from any start
        elif o.stat - best > CHI2_95 and not o.converged:
            values[t] = math.nan
        else:
            known[:] = [k for k in known if k[0] != t] + [(t, np.asarray(o.theta))]
            values[t] = o.stat - best
        return values[t]

    def root(v: float) -> float:
        """The signed root of a profile value: its sign is the side of the cut-off."""
        return v if math.isnan(v) else math.sqrt(max(v, 0.0)) - math.sqrt(CHI2_95)

    est = float(theta[index])
    ends = []
    unplaced = []
    for side, bound in (("low", lo), ("high", hi)):
        room = abs(bound - est)
        if room <= 1e-12 * max(1.0, abs(bound)):
            ends.append((bound, True))
            continue
        sign = 1.0 if bound > est else -1.0
        known[:] = [(est, theta[others].copy())]
        confirmed.clear()
        runs.clear()
        values.clear()
        step = min(room, 1e-3 * width)
        inside_t, inside_v, found, placed = est, 0.0, None, True
        for n in range(200):
            t = est + sign * step
            v = prof(t, thorough=True)
            if math.isnan(v) or v > CHI2_95:
                found = None if math.isnan(v) else (inside_t, root(inside_v), t, root(v))
                placed = found is not None
                break
            if step >= room:
                break
            inside_t, inside_v = t, v
            if v > 1e-12:  # the distance to the cut-off if the profile were quadratic
                growth = math.sqrt(CHI2_95 / v)
                growth = min(max(growth, 1.25), 100.0) if n == 0 else min(max(growth * 1.1, 1.25), 4.0)
            else:
                growth = 4.0
            step = min(step * growth, room)
        end = None
        for _ in range(50):  # each round either ends the side or moves its inner end outwards
            if found is None:
                break
            a, fa, b, fb = found
            got = _crossing(lambda t: root(prof(t, thorough=False)), a, fa, b, fb, 1e-5 * width, ROOT_FTOL)
            if got is None:
                placed = False
                break
            x, a, fa, b, fb = got
            if b in confirmed:
                end = x
                break
            v = prof(b, thorough=True)
            if math.isnan(v):
                placed = False
                break
            if v > CHI2_95:  # confirmed beyond the cut-off: the crossing stands
                end = x if x in (a, b) else _interpolate(a, fa, b, root(v))
                break
            # within the cut-off after all: search on between it and the nearest confirmed point beyond
            beyond = [t for t in confirmed if sign * (t - b) > 0 and values[t] > CHI2_95]
            if not beyond:
                placed = False
                break
            outer = min(beyond, key=lambda t: abs(t - b))
            found = (b, root(v), outer, root(values[outer]))
        ends.append((bound, True) if end is None else (float(end), False))
        if end is None and not placed:
            unplaced.append(side)
    (low, low_b), (high, high_b) = ends
    return Interval(problem.names[index], est, low, high, low_b, high_b, evals[0], tuple(unplaced))


def _interpolate(a: float, fa: float, b: float, fb: float) -> float:
    """The linear interpolation of a root between ``(a, fa)`` and ``(b, fb)``, or their middle."""
    if math.isfinite(fa) and math.isfinite(fb) and fb != fa:
        return min(max(a - fa * (b - a) / (fb - fa), min(a, b)), max(a, b))
    return (a + b) / 2


def _crossing(g, a: float, fa: float, b: float, fb: float, xtol: float, ftol: float = 0.0,
              maxiter: int = 200) -> tuple[float, float, float, float, float] | None:
    """A crossing of ``g`` from ``g(a) = fa <= 0`` to ``g(b) = fb > 0`` (both already known:
    each value of a profile is an optimisation, and none is computed twice).

    The bracket is kept: the Illinois variant of regula falsi proposes each point, and a
    bisection replaces it whenever three proposals in a row have not halved the bracket (a
    proposal bunched at one end, as when ``fb`` is huge), so the bracket halves at least every
    fourth evaluation. It stops only at a point ``c`` with ``|g(c)| <= ftol`` (which becomes
    ``a`` or ``b``), or when the bracket is within ``xtol``; never elsewhere.

    Returns ``(root, a, fa, b, fb)``: the root (``c`` in the first case, the interpolation
    within the bracket in the second) and the final bracket; or None where ``g`` is NaN (its
    sign unknown) or after ``maxiter`` evaluations without either.
    """
    if not fa <= 0 < fb:
        raise ValueError(f"no sign change to bracket: g({a!r}) = {fa!r}, g({b!r}) = {fb!r}")
    wa, wb = fa, fb  # the values regula falsi interpolates (halved by the Illinois rule)
    side, stalled, mark = 0, 0, abs(b - a)
    for _ in range(maxiter):
        if abs(b - a) <= xtol:
            return _interpolate(a, fa, b, fb), a, fa, b, fb
        c = (a + b) / 2
        if stalled < 3 and math.isfinite(wa) and math.isfinite(wb) and wb != wa:
            c2 = b - wb * (b - a) / (wb - wa)
            if min(a, b) < c2 < max(a, b):
                c = c2
        fc = g(c)
        if math.isnan(fc):
            return None
        if fc > 0:
            b, fb, wb = c, fc, fc
            if fc <= ftol:
                return c, a, fa, b, fb
            if side == -1:
                wa /= 2
            side = -1
        else:
            a, fa, wa = c, fc, fc
            if fc >= -ftol:
                return c, a, fa, b, fb
            if side == 1:
                wb /= 2
            side = 1
        if abs(b - a) <= mark / 2:
            mark, stalled = abs(b - a), 0
        else:
            stalled += 1
    return None


def simulate_observed(problem: Problem, values: np.ndarray, rng: np.random.Generator, sigma: float | None):
    """A synthetic data set drawn from the fitted model (a parametric bootstrap replicate)."""
    if problem.kind == "binomial":
        n = problem._n
        trials = np.maximum(np.rint(n), 1).astype(np.int64)
        return rng.binomial(trials, np.clip(values, 0, 1)) / trials
    scale = problem._s if problem.kind == "gaussian" else np.full(len(values), sigma)
    return values + rng.standard_normal(len(values)) * scale


def replicate(problem: Problem, theta: Sequence[float], seed: int, index: int, sigma: float | None,
              plan: Plan | None = None) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """Bootstrap replicate ``index``: draw data from the model at ``theta`` (its own seed
    ``SeedSequence([seed, index])``), refit from ``theta``, and evaluate the targets of ``plan``
    at the refitted params. Returns (params, target values), or (None, None) when the refit
    failed."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    values = problem.values(theta)
    y = simulate_observed(problem, values, rng, sigma)
    o = optimise(problem, theta, observed=y)
    if not o.converged:
        return None, None
    try:
        preds = tuple(float(x) for x in plan.values(problem.params(o.theta))) if plan and plan.targets else ()
    except EvaluationError:  # a refit where a target has no valid value counts as a failed refit
        return None, None
    return o.theta, preds
