"""The Monte Carlo engine: many trajectories advanced together, one numpy call per step.

Consumes: a :class:`~libet.simulator.model.Model` (one policy, its classes), a number of runs and
a seed.
Produces: :class:`MCEstimate`: for each measure an estimate with a confidence interval (exact,
Clopper-Pearson, for probabilities; normal for expectations, Hoeffding's over [0, horizon] below
30 trajectories), and the number of trajectory steps taken.

Method: the veto and transition probabilities of every (class, phase, depth) are tabulated once
(the exact engine's layers) as cumulative thresholds over the outcomes of one step: vetoed, then
each transition in declaration order. Each trajectory draws its assignment from the declared
distribution of the variables not fixed, then every step draws one uniform number per live
trajectory and looks its outcome up in the table. Every step raises the depth, so all live
trajectories are advanced by the same vectorised code until none is left.

Reproducible bit for bit: all randomness comes from one ``numpy.random.Generator`` (PCG64)
seeded with ``seed``; the batch size depends only on ``runs``.
"""

from __future__ import annotations

import math
from typing import Callable

import attrs
import numpy as np

from libet.errors import UsageError
from libet.spec import ir
from libet.spec import measures as ms
from libet.spec.overrides import check_runs, check_seed

from .exact import assignment_facts, assignment_of
from .intervals import clopper_pearson, z_value
from .layered import Layers, needs_layered, refuse_visits
from .layered import simulate as simulate_state
from .model import Model, chunk_depths, float_weights, gib, memory_limit, product_weights, replay_error
from .table import Aggregate

BATCH = 1 << 18  # trajectories simulated together
#: Visit flags per int64 word (the sign bit left alone); a trajectory has as many words as the
#: tracked phases need, so any number of phases can be asked about.
WORD_BITS = 63

_VETO, _DELIVER, _STOP = -1, -2, -3


@attrs.frozen
class Estimate:
    """One measure estimated by Monte Carlo: ``value`` within [``low``, ``high``] (all
    ``None`` when no sampled trajectory met the measure's condition), from ``n`` samples
    (trajectories, or those that met the condition)."""

    value: float | None
    low: float | None
    high: float | None
    n: int = 0

    def to_json(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}


@attrs.frozen
class MCEstimate:
    """Monte Carlo estimates of one policy's measures over the assignments sampled.

    Attributes:
        policy, runs, seed, confidence, steps (trajectory steps simulated),
        measures: measure text (``"P(harm)"``, ...) -> :class:`Estimate`,
        counts: trajectories per outcome (and harm, over-refusal),
        fixed: the variables the sampled model held fixed.
    """

    policy: str
    runs: int
    seed: int
    confidence: float
    steps: int
    measures: dict
    counts: dict
    fixed: dict = attrs.field(factory=dict)

    def __getitem__(self, m) -> Estimate:
        key = m.text if isinstance(m, ms.Measure) else m
        if key not in self.measures:
            raise UsageError(f"these runs did not estimate {key} (measures: {', '.join(self.measures)})",
                             "ask for it when simulating: measures=[...] (--measure on the command line)")
        return self.measures[key]

    def aggregate(self, m: ms.Measure, fixed=None, worst_over=(), minimise: bool = False) -> Aggregate:
        """The estimate of ``m`` as an :class:`~libet.simulator.table.Aggregate` (the engine
        protocol). Monte Carlo estimates the distribution it sampled, so ``fixed`` must agree
        with the model's fixed values and ``worst_over`` be fixed there too.

        Raises:
            UsageError: ``fixed`` or ``worst_over`` asks for a distribution that was not sampled.
        """
        for n, v in (fixed or {}).items():
            if self.fixed.get(n, v) != v or n not in self.fixed:
                raise UsageError(
                    f"Monte Carlo sampled {n} from its distribution; it cannot condition on {n} = {v} afterwards",
                    f"run it with {n} fixed (--set {n}=...)",
                )
        free = [n for n in worst_over if n not in self.fixed]
        if free:
            raise UsageError(
                f"Monte Carlo cannot take a worst case over {', '.join(free)} it sampled",
                "an experiment runs one simulation per worst-case combination; fix them to do it by hand",
            )
        e = self[m]
        return Aggregate(e.value, None, f"estimated from {e.n:,} trajectories", e.low, e.high, "estimated")

    def to_json(self) -> dict:
        return {
            "policy": self.policy,
            "runs": self.runs,
            "seed": self.seed,
            "confidence": self.confidence,
            "steps": self.steps,
            "measures": {k: v.to_json() for k, v in self.measures.items()},
            "counts": dict(self.counts),
        }


class Tables:
    """Cumulative step thresholds of every (class, phase, depth), flattened for lookups.

    ``columns[j]`` holds threshold j of every state (row ``(class * P + phase) * H + depth``)
    as its own contiguous array: a step gathers one number per trajectory from each (a gather
    of whole rows and a sum along a short axis was most of a step's time). The last threshold
    of every state is infinite (the last outcome catches every draw), so it is not stored."""

    def __init__(self, model: Model):
        H, P, U = model.horizon, len(model.phases), model.n_classes
        # the outcomes of one state, in order: the final veto, each refusal target (a refusal
        # to phase r has code P + r), each transition
        self.refusal_targets = tuple(dict.fromkeys(r.then for r in model.rules if r.then is not None))
        R = len(self.refusal_targets)
        K = 1 + R + max(len(model.spec.trajectory.phase(q).transitions) for q in model.phases)
        need = U * P * H * (K + 1) * 8
        if need > memory_limit():
            raise UsageError(
                f"model too large for Monte Carlo: its step tables need about {gib(need)} "
                f"({U:,} classes x {P} phases x horizon {H} x {K} outcomes)"
            )
        self.K = K
        self.cum = np.full((K - 1, U, P, H), np.inf)
        self.code = np.full((P, K), _STOP, dtype=np.int64)
        self.bad = np.zeros((U, P, H), dtype=bool)
        self.any_bad = False
        chunk = chunk_depths(H, U)
        for qi, q in enumerate(model.phases):
            self.code[qi, 0] = _VETO
            for j, r in enumerate(self.refusal_targets):
                self.code[qi, 1 + j] = P + model.phase_index[r]
            for j, t in enumerate(model.spec.trajectory.phase(q).transitions):
                self.code[qi, 1 + R + j] = (
                    _DELIVER if t.target == ir.DELIVER else _STOP if t.target == ir.STOP else model.phase_index[t.target]
                )
        for lo, hi in model.spans(chunk):
            h = hi - lo
            for qi, lay in enumerate(model.layers(lo, hi).values()):
                probs = [np.broadcast_to(np.asarray(lay.v_end, dtype=np.float64), (h, U))]
                refused = dict(lay.refusals)
                for r in self.refusal_targets:
                    probs.append(np.broadcast_to(np.asarray(refused.get(r, 0.0), dtype=np.float64), (h, U)))
                for _, p in lay.transitions:
                    probs.append(np.broadcast_to(np.maximum(np.asarray(lay.g * p, dtype=np.float64), 0.0), (h, U)))
                stack = np.stack(probs, axis=-1)  # (h, U, k)
                cum = np.cumsum(stack, axis=-1)
                # The last outcome with positive probability (and those after it) catches every
                # draw, so rounding in the cumulative sums never loses a trajectory.
                total = cum[..., -1:]
                cum = np.where(cum >= total, np.inf, cum)
                k = min(cum.shape[-1], K - 1)
                self.cum[:k, :, qi, lo:hi] = np.transpose(cum[..., :k], (2, 1, 0))
                if lay.bad is not False:
                    self.any_bad = True
                    self.bad[:, qi, lo:hi] = np.broadcast_to(lay.bad, (h, U)).T
        self.columns = list(self.cum.reshape(K - 1, U * P * H))
        self.bad_flat = self.bad.reshape(-1)


class _Tally:
    """Sufficient statistics of one measure over the batches: for a probability the number of
    trajectories in the event and in the condition; for an expectation the count, sum and sum
    of squares of the reward over the trajectories in the condition."""

    __slots__ = ("k", "n", "total", "squares")

    def __init__(self):
        self.k = self.n = 0
        self.total = self.squares = 0.0


def _mask(event: ms.Event, t) -> np.ndarray:
    """The trajectories of batch ``t`` in ``event``."""
    mask = np.isin(t["outcome"], [ms.OUTCOMES.index(o) for o in event.outcomes])
    if event.harmful is not None:
        mask &= t["harmful"] if event.harmful else ~t["harmful"]
    need = t["bits"](event.visits)  # one mask per word of the visit flags
    if need.any():
        mask &= ((t["seen"] & need) == need).all(axis=1)
    return mask


def _reward(reward: ms.Reward, t) -> np.ndarray:
    if reward is ms.Reward.DEPTH:
        return t["depth"].astype(np.float64)
    if reward is ms.Reward.REFUSALS:
        return t["refusals"].astype(np.float64)
    return (t["depth"] - t["d0"]).astype(np.float64)


def _tally(m: ms.Measure, tally: _Tally, t) -> None:
    given = np.ones(len(t["outcome"]), dtype=bool) if m.given is None else _mask(m.given, t)
    if m.is_probability:
        tally.k += int(np.count_nonzero(given & _mask(m.event, t)))
        tally.n += int(np.count_nonzero(given))
        return
    x = _reward(m.reward, t)[given & _mask(m.event, t)]
    tally.n += len(x)
    tally.total += float(x.sum())
    tally.squares += float((x * x).sum())


#: Below this many trajectories an expectation's interval is Hoeffding's, not the normal one.
NORMAL_MIN = 30


def _estimate(m: ms.Measure, tally: _Tally, confidence: float, top: int) -> Estimate:
    """``m``'s estimate from ``tally``. A probability's interval is Clopper-Pearson's. An
    expectation's reward (a depth, a number of steps or refusals) lies in [0, ``top``], the
    horizon: from :data:`NORMAL_MIN` trajectories on, its interval is the normal one; below,
    where the sample's spread says little (one trajectory has none: the interval was its value
    alone), and for a sample of one value however large (the normal interval has no width),
    Hoeffding's, which holds for any sample of a variable in that range; both cut to the range
    (a normal interval reached below 0)."""
    if tally.n == 0:
        return Estimate(None, None, None, 0)
    if m.is_probability:
        lo, hi = clopper_pearson(tally.k, tally.n, confidence)
        return Estimate(tally.k / tally.n, lo, hi, tally.n)
    n = tally.n
    mean = tally.total / n
    var = max(0.0, tally.squares / n - mean * mean) * n / (n - 1) if n > 1 else 0.0
    if n >= NORMAL_MIN and var > 0:
        half = z_value(confidence) * math.sqrt(var / n)
    else:  # few trajectories, or all of one value (100 with no refusal: E(refusals) was [0, 0])
        half = top * math.sqrt(math.log(2 / (1 - confidence)) / (2 * n))
    return Estimate(mean, max(0.0, mean - half), min(float(top), mean + half), n)


def run(
    model: Model,
    runs: int,
    seed: int,
    *,
    confidence: float = 0.95,
    tables: Tables | None = None,
    progress: Callable[[int], None] | None = None,
    measures=ms.STANDARD,
) -> MCEstimate:
    """Simulate ``runs`` trajectories of ``model`` (assignments drawn from the distribution of
    the variables that are not fixed) and estimate each of ``measures``.

    A conditional measure is estimated on the trajectories that met its condition (a ratio
    estimator of the joint distribution; its interval uses their number).

    Raises:
        UsageError: runs < 1.
        EvaluationError: a simulated trajectory reached a state with no valid probabilities.
    """
    runs, seed = check_runs(runs), check_seed(seed)
    if model.exact:
        raise UsageError("Monte Carlo runs in float64; drop --exact")
    measures = tuple(measures)
    layers = None
    if needs_layered(model.spec):  # state variables: simulator/layered.py tabulates the moves
        if model.spec.is_mdp:
            raise UsageError(
                "the Monte Carlo engine samples a Markov chain, and this spec has choice points (an MDP): "
                "a trajectory needs an adversary's strategy first",
                "use the exact engine (engine exact, or --engine exact): it computes Pmax and Pmin by value iteration",
            )
        refuse_visits(measures)
        layers = Layers(model)
    else:
        tables = tables or Tables(model)
    rng = np.random.Generator(np.random.PCG64(seed))
    tracked = ms.tracked_phases(measures)
    # the visit flags of a trajectory: WORD_BITS to an int64 word, as many words as it takes
    place = {q: i for i, q in enumerate(tracked)}
    words = max(1, -(-len(tracked) // WORD_BITS))
    flag = np.asarray([[place[q] // WORD_BITS, 1 << (place[q] % WORD_BITS)] if q in place else [0, 0]
                       for q in model.phases], dtype=np.int64)

    def bits(visits) -> np.ndarray:
        out = np.zeros(words, dtype=np.int64)
        for q in visits:
            out[place[q] // WORD_BITS] |= 1 << (place[q] % WORD_BITS)
        return out

    d0_all, harmful_all, cls_all = assignment_facts(model)
    w = _weights(model)
    counts = {"delivered": 0, "stopped": 0, "vetoed": 0, "harm": 0, "over-refusal": 0}
    tallies = {m.text: _Tally() for m in measures}
    steps = 0
    done = 0
    while done < runs:
        n = min(BATCH, runs - done)
        pick = rng.choice(len(w), size=n, p=w) if len(w) > 1 else np.zeros(n, dtype=np.int64)
        d0 = d0_all[pick]
        if layers is not None:
            outcome, depth, seen, s, refusals = simulate_state(model, layers, rng, cls_all[pick], d0, pick, progress)
        else:
            outcome, depth, seen, s, refusals = _simulate(model, tables, rng, cls_all[pick], d0, pick, progress,
                                                          flag, words)
        harmful = harmful_all[pick]
        counts["delivered"] += int(np.count_nonzero(outcome == 0))
        counts["stopped"] += int(np.count_nonzero(outcome == 1))
        counts["vetoed"] += int(np.count_nonzero(outcome == 2))
        counts["harm"] += int(np.count_nonzero((outcome == 0) & harmful))
        counts["over-refusal"] += int(np.count_nonzero((outcome == 2) & ~harmful))
        batch = {"outcome": outcome, "depth": depth, "d0": d0, "harmful": harmful, "seen": seen, "bits": bits,
                 "refusals": refusals}
        for m in measures:
            _tally(m, tallies[m.text], batch)
        steps += s
        done += n
    estimates = {m.text: _estimate(m, tallies[m.text], confidence, model.horizon) for m in measures}
    return MCEstimate(model.policy, runs, seed, confidence, steps, estimates, counts, dict(model.fixed))


def run_engine(model: Model, measures=ms.STANDARD, *, runs: int = 10_000, seed: int = 0, confidence: float = 0.95,
               progress: Callable[[int], None] | None = None) -> MCEstimate:
    """Monte Carlo under the registry's signature (:mod:`.engines`)."""
    return run(model, runs, seed, confidence=confidence, progress=progress, measures=measures)


def _weights(model: Model) -> np.ndarray:
    w = product_weights([float_weights(model.weights[n]) for n in model.names]).reshape(-1)
    return w / w.sum()


def _simulate(model: Model, tables: Tables, rng, cls, d0, pick, progress, flag, words: int):
    """Advance trajectories until all are absorbed: (outcome 0/1/2 = delivered/stopped/vetoed,
    depth at absorption, the tracked phases each visited as bit masks (``(n, words)``), steps
    taken, the refusals of each: refusals that went on, and a final veto).
    ``flag[q]`` is (the word, the bit) of phase q (bit 0 for a phase not tracked).

    A live trajectory is its row in the tables (``idx``), its phase and its depth; one step
    draws a uniform per live trajectory, counts the thresholds at or below it (the outcome),
    and moves the row. Absorbed trajectories are set aside as they end and written out once at
    the end, so a step touches only the live ones."""
    H, P = model.horizon, len(model.phases)
    n = len(cls)
    # reaching the horizon (or starting there) ends as the trajectory says: 0 delivered, 1 stopped
    at_h = 1 if model.at_horizon == "stopped" else 0
    outcome = np.full(n, at_h, dtype=np.int8)
    depth = np.asarray(d0, dtype=np.int64).copy()
    ids = np.flatnonzero(depth < H)  # a start at the horizon ends at once
    seen = np.zeros(n * words, dtype=np.int64)  # trajectory i's words at i * words ...
    word, bit = flag[:, 0], flag[:, 1]
    seen[ids * words + word[model.start_phase]] = bit[model.start_phase]
    refusals = np.zeros(n, dtype=np.int64)
    track = bool(bit.any())
    if progress and n - len(ids):
        progress(n - len(ids))
    d = depth[ids]
    ph = np.full(len(ids), model.start_phase, dtype=np.int64)
    idx = (np.asarray(cls, dtype=np.int64)[ids] * P + model.start_phase) * H + d
    # An upper bound of the live depths: the horizon test is needed only once it can bite.
    deepest = int(d.max()) if len(d) else 0
    steps = 0
    columns, code = tables.columns, tables.code
    # the count of thresholds at or below a draw: int8 is quickest, and holds up to 127 of them
    # (a phase of 200 transitions wrapped around in it, silently sending trajectories astray)
    count = np.int8 if len(columns) <= np.iinfo(np.int8).max else np.int32
    code0 = code[0]
    continues = bool(tables.refusal_targets)
    gone_ids, gone_code, gone_depth = [], [], []
    while len(ids):
        if tables.any_bad:
            hit = tables.bad_flat[idx]
            if hit.any():
                j = int(np.flatnonzero(hit)[0])
                replay_error(
                    model.spec, model.param_overrides, model.policy, assignment_of(model, int(pick[ids[j]])), False, "outcomes"
                )
        steps += len(ids)
        u = rng.random(len(ids))
        if columns:
            k = (u >= columns[0][idx]).astype(count)
            for col in columns[1:]:
                k += (u >= col[idx]).view(np.int8)
        else:
            k = np.zeros(len(ids), dtype=np.int8)
        nxt = code0[k] if P == 1 else code[ph, k]
        if continues:
            refused = nxt >= P  # a refusal that goes on in phase nxt - P
            if refused.any():
                refusals[ids[refused]] += 1
                nxt = np.where(refused, nxt - P, nxt)
        go = nxt >= 0
        deepest += 1
        if deepest >= H:  # a step to a phase that lands at the horizon ends there (at_h)
            go &= d + 1 < H
        if track:  # each live trajectory once: no two writes to one word
            to = nxt[go]
            seen[ids[go] * words + word[to] if words > 1 else ids[go]] |= bit[to]
        if not go.all():
            end = ~go
            gone_ids.append(ids[end])
            gone_code.append(nxt[end])
            gone_depth.append(d[end])
            if progress:
                progress(len(gone_ids[-1]))
            ids, nxt, idx, d = ids[go], nxt[go], idx[go], d[go]
            if P > 1:
                ph = ph[go]
        if P > 1:
            idx += (nxt - ph) * H
            ph = nxt
        idx += 1
        d += 1
    if gone_ids:
        ids = np.concatenate(gone_ids)
        last = np.concatenate(gone_code)
        d = np.concatenate(gone_depth)
        vetoed = last == _VETO
        refusals[ids[vetoed]] += 1  # a final veto is one refusal
        # a phase code here is a step that reached the horizon: it ends as the trajectory says
        outcome[ids] = np.where(vetoed, 2, np.where(last == _STOP, 1, np.where(last == _DELIVER, 0, at_h)))
        depth[ids] = np.where(vetoed, d, d + 1)
    return outcome, depth, seen.reshape(n, words), steps, refusals
