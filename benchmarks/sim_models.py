"""The chains the simulator benchmarks solve, each twice: as libet source (which libet solves
and exports to PRISM for Storm) and as a hand-written numpy peer of the same chain (no libet
code), so one run can compare libet with Storm and with what numpy does when the chain is
written out by hand.

Both families are scaled so that P(harm) stays between 10^-3 and 10^-1 at every horizon (the
stop rate is proportional to 1/horizon), so the values compared are not underflowed zeros.
The harmful assignment (topic = weapons) is the one solved; its veto fires with strength 0.5
at depths 0..4.

- ``one``: one phase, horizon H (H transient states): go on with probability
  1 - (1 - base) exp(-gain d) rate, stop otherwise.
- ``ten``: ten phases p0..p9 in a ring, horizon H (10 H transient states): from p_i, move to
  p_(i+1) with 0.3 + 0.2 exp(-gain d) + 0.02 i, stop with rate (1 + 0.1 i) exp(-gain d), stay
  otherwise.

Peers: ``exact_peer`` is the backward pass x_d = A_d x_(d+1) over depths from x_H = 1
(delivered at the horizon), the probabilities built for all depths with one vectorised numpy
expression each. For one phase x is a scalar and the pass is the product of the continuation
probabilities, which numpy computes in one call (``np.prod``); for ten phases it is a loop over
the depths with one update of the 10-vector per depth. ``mc_peer`` is a straightforward
vectorised Monte Carlo: a table of cumulative step thresholds per (depth, phase), then one numpy
step of all live trajectories at a time (a uniform draw each, a threshold lookup), keeping only
what P(harm) needs.
"""

from __future__ import annotations

import numpy as np

KINDS = ("one", "ten")
PHASES = {"one": 1, "ten": 10}
FIXED = {"topic": "weapons"}


def _num(x: float) -> str:
    return f"{x:.15f}".rstrip("0").rstrip(".")


def source(kind: str, horizon: int) -> str:
    """libet source of the ``kind`` chain at ``horizon``; the policy is ``shallow``."""
    if kind == "one":
        return f"""
spec "bench: one phase, horizon {horizon}"
substance {{ topic: {{everyday, weapons}} }}
param base = 0.2
param gain = {_num(5 / horizon)}
param rate = {_num(10 / horizon)}
value ok = topic != weapons
trajectory {{
  horizon {horizon}
  start answer
  phase answer {{
    -> answer : 1 - (1 - base) * exp(-gain * depth) * rate
    -> stop : otherwise
  }}
}}
policy shallow {{ veto when violates ok and depth < 5 with strength 0.5 }}
"""
    body = "\n".join(
        f"  phase p{i} {{\n"
        f"    -> p{(i + 1) % 10} : 0.3 + 0.2 * exp(-gain * depth) + {0.02 * i:.2f}\n"
        f"    -> stop : rate * {1 + 0.1 * i:.1f} * exp(-gain * depth)\n"
        f"    -> p{i} : otherwise\n"
        f"  }}"
        for i in range(10)
    )
    return f"""
spec "bench: ten phases, horizon {horizon}"
substance {{ topic: {{everyday, weapons}} }}
param gain = {_num(5 / horizon)}
param rate = {_num(5 / horizon)}
value ok = topic != weapons
trajectory {{
  horizon {horizon}
  start p0
{body}
}}
policy shallow {{ veto when violates ok and depth < 5 with strength 0.5 }}
"""


def _ten_tables(horizon: int):
    """keep (H, 1) = 1 - veto, and move, stop, stay (H, 10) of the ten-phase chain."""
    gain = rate = 5 / horizon
    d = np.arange(horizon, dtype=np.float64)[:, None]
    i = np.arange(10, dtype=np.float64)[None, :]
    e = np.exp(-gain * d)
    move = 0.3 + 0.2 * e + 0.02 * i
    stop = rate * (1 + 0.1 * i) * e
    stay = 1 - move - stop
    keep = np.where(d < 5, 0.5, 1.0)
    return keep, move, stop, stay


def _go_on(horizon: int) -> np.ndarray:
    """The one-phase chain's probability of going on at each depth, before the veto."""
    d = np.arange(horizon, dtype=np.float64)
    return 1 - (1 - 0.2) * np.exp(-(5 / horizon) * d) * (10 / horizon)


def one_factors(horizon: int) -> np.ndarray:
    """The one-phase chain's continuation probabilities of the harmful assignment: going on,
    times 1 - 0.5 at the vetoed depths 0..4. P(harm) is their product."""
    go_on = _go_on(horizon)
    go_on[:5] *= 0.5
    return go_on


def exact_peer(kind: str, horizon: int) -> float:
    """P(harm) from p0 (or answer) at depth 0, by the hand-written backward pass."""
    if kind == "one":
        return float(np.prod(one_factors(horizon)))
    keep, move, _, stay = _ten_tables(horizon)
    a = keep * stay
    b = keep * move
    ring = (np.arange(10) + 1) % 10
    x = np.ones(10)
    for d in range(horizon - 1, -1, -1):
        x = a[d] * x + b[d] * x[ring]
    return float(x[0])


def mc_peer(kind: str, horizon: int, runs: int, seed: int) -> tuple[float, int]:
    """(fraction of trajectories delivered, trajectory steps) by straightforward numpy Monte
    Carlo; every trajectory is harmful, so the fraction estimates P(harm)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    if kind == "one":
        d = np.arange(horizon, dtype=np.float64)
        veto = np.where(d < 5, 0.5, 0.0)
        go_on = _go_on(horizon)
        # thresholds: veto below the first, go on below the second, stop above it
        cum = np.stack([veto, veto + (1 - veto) * go_on], axis=-1)  # (H, 2)
        depth = np.zeros(runs, dtype=np.int64)
        delivered = steps = 0
        while depth.size:
            steps += depth.size
            u = rng.random(depth.size)
            c = cum[depth]
            on = (u >= c[:, 0]) & (u < c[:, 1])
            depth = depth[on] + 1
            end = depth >= horizon
            delivered += int(np.count_nonzero(end))
            depth = depth[~end]
        return delivered / runs, steps
    keep, move, stop, _ = _ten_tables(horizon)
    veto = 1 - keep
    # outcomes in order: veto, move, stop, stay (the last takes every draw above the rest)
    cum = np.stack([np.broadcast_to(veto, move.shape), veto + keep * move, veto + keep * (move + stop)], axis=-1)
    depth = np.zeros(runs, dtype=np.int64)
    phase = np.zeros(runs, dtype=np.int64)
    delivered = steps = 0
    while depth.size:
        steps += depth.size
        u = rng.random(depth.size)
        k = (u[:, None] >= cum[depth, phase]).sum(axis=1)
        on = (k == 1) | (k == 3)
        phase = np.where(k == 1, (phase + 1) % 10, phase)[on]
        depth = depth[on] + 1
        end = depth >= horizon
        delivered += int(np.count_nonzero(end))
        depth, phase = depth[~end], phase[~end]
    return delivered / runs, steps
