"""When the exact engine runs its recurrence compiled (simulator/compiled.py, the C loop in
simulator/_recurrence.c), that the loop refuses arrays it cannot read, and that both ways give
the same numbers, and that the compensated product one phase's P(harm) is gives the correctly
rounded product of its factors. The differential tests against the interpreter run both ways too
(the `recurrence` fixture in tests/test_sim_exact.py, test_measures.py, test_refusals.py)."""

from __future__ import annotations

import sys
from decimal import Decimal, localcontext

import numpy as np
import pytest

import libet
from libet.errors import UsageError
from libet.simulator import compiled, model, outcomes
from libet.simulator.exact import backward


@pytest.fixture
def fresh(monkeypatch):
    """A process that has not looked for the compiled recurrence yet."""
    monkeypatch.delenv("LIBET_COMPILED", raising=False)
    monkeypatch.setattr(compiled, "_state", {"module": None, "failed": None})
    return compiled


def test_compiled_when_built_unless_the_setting_says_numpy(fresh, monkeypatch):
    # `make test` builds the extension (pyproject.toml); CI must not quietly test numpy twice
    assert fresh.available()
    assert fresh.wanted()
    monkeypatch.setenv("LIBET_COMPILED", "0")
    assert not fresh.wanted()
    monkeypatch.setenv("LIBET_COMPILED", "1")
    assert fresh.wanted()


def test_a_bad_setting_is_a_usage_error(fresh, monkeypatch):
    monkeypatch.setenv("LIBET_COMPILED", "yes")
    with pytest.raises(UsageError) as info:
        fresh.wanted()
    assert "LIBET_COMPILED" in str(info.value) and "auto, 0 or 1" in str(info.value)


def test_without_the_extension_auto_is_numpy_and_forcing_says_how_to_build_it(fresh, monkeypatch):
    monkeypatch.setitem(sys.modules, "libet.simulator._recurrence", None)  # the import fails
    assert not fresh.wanted()
    monkeypatch.setenv("LIBET_COMPILED", "1")
    with pytest.raises(UsageError) as info:
        fresh.wanted()
    assert "C compiler" in info.value.hint and "LIBET_COMPILED" in info.value.hint


def test_bad_arrays_are_refused_not_read_out_of_bounds():
    from libet.simulator import _recurrence

    h, U, P, Q = 5, 2, 3, 1
    ok = dict(rows=np.array([0, 1]), cols=np.array([1, 2]), cols_last=np.array([1, 2]), vals=np.ones((h, 2, U)),
              b=np.zeros((h, Q, P, U)), x_end=np.ones((U, P, Q)), last=False, want=np.array([0, h]),
              out=np.empty((2, U, P, Q)))
    _recurrence.backward_sparse(*ok.values())
    assert (ok["out"][1] == 1).all()
    readonly = np.empty((2, U, P, Q))
    readonly.flags.writeable = False
    bad = [
        ("cols", np.array([1, 3]), ValueError),  # a column outside the states
        ("rows", np.array([-1, 0]), ValueError),
        ("want", np.array([0, h + 1]), ValueError),  # past the chunk
        ("want", np.array([3, 1]), ValueError),  # not ascending
        ("vals", np.ones((h, 3, U)), ValueError),  # more values than entries
        ("b", np.zeros((h, Q, P + 1, U)), ValueError),
        ("b", np.zeros((h + 1, Q, P, U)), ValueError),
        ("vals", np.ones((h, 2, U), dtype=np.float32), TypeError),
        ("rows", np.array([0.0, 1.0]), TypeError),
        ("vals", np.ones((U, 2, h)).transpose(2, 1, 0), TypeError),  # the classes not adjacent
        ("b", np.zeros((U, Q, P, h)).transpose(3, 1, 2, 0), TypeError),
        ("x_end", np.ones((P, Q, U)).transpose(2, 0, 1), ValueError),  # not C-contiguous
        ("out", readonly, ValueError),
    ]
    for name, value, error in bad:
        args = dict(ok, **{name: value})
        with pytest.raises(error):
            _recurrence.backward_sparse(*args.values())


def _random_chain(rng, h, U, P, Q, nnz):
    pairs = rng.choice(P * P, size=min(nnz, P * P), replace=False)
    rows, cols = pairs // P, pairs % P
    cols_last = rng.permutation(cols)  # any columns, as long as (row, column) stays distinct
    while len(set(zip(rows, cols_last))) < len(rows):
        cols_last = rng.integers(0, P, size=len(rows))
    vals = rng.random((h, len(rows), U)) / max(1, len(rows))
    b = rng.random((h, U, P, Q)) * 0.1
    x_end = rng.random((U, P, Q))
    return rows, cols, cols_last, vals, b, x_end


def _dense(rows, cols, cols_last, vals, P, last):
    h, _, U = vals.shape
    vals = vals.transpose(0, 2, 1)
    A = np.zeros((h, U, P, P))
    A[:, :, rows, cols] = vals
    if last:
        A[-1] = 0
        A[-1][:, rows, cols_last] = vals[-1]
    return A


@pytest.mark.parametrize("seed", range(12))
def test_compiled_and_blocked_numpy_recurrences_agree(seed, monkeypatch):
    monkeypatch.setenv("LIBET_COMPILED", "1")
    rng = np.random.default_rng(seed)
    # lengths around the block size (64) and the plain-loop bound (256), one state or several;
    # classes fewer than the compiled loop's tile of 8, as many, and a tile and a part
    h = int(rng.choice([1, 2, 63, 64, 65, 257, 1000, 4097]))
    U, P, Q = int(rng.choice([1, 3, 8, 13])), int(rng.choice([1, 2, 5, 10])), int(rng.integers(1, 4))
    rows, cols, cols_last, vals, b, x_end = _random_chain(rng, h, U, P, Q, int(rng.integers(0, 2 * P + 1)))
    last = bool(rng.integers(0, 2))
    want = sorted({0, h, *rng.integers(0, h + 1, size=5).tolist()})
    # the engine lays b out depth first, as vals: b[d, q, p, u]
    got = compiled.backward(rows, cols, cols_last, vals, np.ascontiguousarray(b.transpose(0, 3, 2, 1)), x_end, last, want)
    # ... or entry first, read through the strides of a transposed view: the same sums in the same order
    by_entry = np.ascontiguousarray(vals.transpose(1, 0, 2)).transpose(1, 0, 2)
    b_by_entry = np.ascontiguousarray(b.transpose(3, 2, 0, 1)).transpose(2, 0, 1, 3)
    assert not by_entry.flags.c_contiguous or vals.shape[1] <= 1 or h == 1
    strided = compiled.backward(rows, cols, cols_last, by_entry, b_by_entry, x_end, last, want)
    assert all(np.array_equal(strided[w], got[w]) for w in want)
    ref = backward(_dense(rows, cols, cols_last, vals, P, last), b, x_end, want, P == 1)
    # the plain loop, written out here as the definition
    A = _dense(rows, cols, cols_last, vals, P, last)
    x, plain = x_end, {h: x_end}
    for d in range(h - 1, -1, -1):
        x = np.einsum("upr,urq->upq", A[d], x) + b[d]
        plain[d] = x
    assert sorted(got) == want
    for w in want:
        np.testing.assert_allclose(got[w], plain[w], rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(ref[w], plain[w], rtol=1e-9, atol=1e-300)


RING = """
spec "ring"
substance { topic: {everyday, weapons} }
framing { style: 0..2 }
value ok = topic != weapons
trajectory {
  horizon 3000
  start p0 at depth style * 100
  phase p0 { -> p1 : 0.3  -> stop : 0.01 * (1 + style)  -> p0 : otherwise }
  phase p1 { -> p2 : 0.4  -> stop : 0.02  -> p1 : otherwise }
  phase p2 { -> p0 : 0.5  -> stop : 0.001 * depth / 3000  -> p2 : otherwise }
}
policy shallow { veto when violates ok and depth < 7 with strength 0.5 then -> p1 }
"""


def test_a_whole_solve_is_the_same_either_way(monkeypatch):
    spec = libet.loads(RING).ir
    measures = [libet.spec.measures.parse(m, ["p0", "p1", "p2"]) for m in
                ("P(harm)", "P(vetoed)", "E(depth)", "E(refusals)", "P(visit p2)", "P(stopped and visit p1)")]
    tables = {}
    for mode in ("0", "1"):
        monkeypatch.setenv("LIBET_COMPILED", mode)
        tables[mode] = outcomes(spec, "shallow", measures=measures)
    for a in spec.assignments():
        for m in measures:
            x, y = tables["0"].aggregate(m, fixed=a).value, tables["1"].aggregate(m, fixed=a).value
            assert abs(x - y) <= 1e-12 * max(1.0, abs(x)), (a, m.text, x, y)


def _exact_product(rows, start):
    """The product of ``start`` and the factors of each row, in 60-digit decimals: each of the
    n products rounds by at most 5e-60, so the result is within n 5e-60 (1e-54 for 10^5 factors)
    of the exact one, far below the half ulp (1e-16) the tests tell apart."""
    out = []
    with localcontext() as ctx:
        ctx.prec = 60
        for r, s in zip(rows, start):
            p = Decimal(s)
            for v in r.tolist():
                p *= Decimal(v)
            out.append(p)
    return out


def _ulps(x: float, exact: Decimal) -> float:
    with localcontext() as ctx:
        ctx.prec = 60
        return float(abs(Decimal(x) - exact) / Decimal(float(np.spacing(float(exact)))))


@pytest.mark.parametrize("split", [False, True], ids=["fma", "dekker"])
@pytest.mark.parametrize("seed", range(8))
def test_the_compensated_product_is_the_correctly_rounded_product(seed, split):
    from libet.simulator import _recurrence

    rng = np.random.default_rng(seed)
    # lengths around the sixteen lanes, classes with factors of their own or one row for all
    h = int(rng.choice([0, 1, 15, 16, 17, 255, 1000, 4099]))
    U = int(rng.integers(1, 4))
    k = U if rng.integers(0, 2) else 1
    # factors near 1 or spread over (0.5, 1], never so many small ones that the product underflows
    x = 1 - rng.random((k, h)) * min(float(rng.choice([1e-6, 1e-3, 0.5])), 8 / max(h, 1))
    start = 0.5 + rng.random(U) / 2
    acc = np.stack([start, np.zeros(U)])
    _recurrence.product(x, acc, split)
    exact = _exact_product(np.broadcast_to(x, (U, h)), start)
    assert all(e > 1e-10 for e in exact)
    for u in range(U):
        assert _ulps(acc[0, u], exact[u]) <= 0.5 + 1e-9, (h, U, k, u)
        assert abs(acc[1, u]) <= np.spacing(acc[0, u]) / 2  # lo is what hi leaves, at most half an ulp
    # a second call goes on from hi + lo: the same as one call over both rows
    y = 1 - rng.random((k, 37)) * 1e-3
    _recurrence.product(y, acc, split)
    both = _exact_product(np.broadcast_to(np.concatenate([x, y], axis=1), (U, h + 37)), start)
    for u in range(U):
        assert _ulps(acc[0, u], both[u]) <= 0.5 + 1e-9


def test_the_product_beats_one_rounding_per_factor():
    """np.prod rounds once per factor: over 10^5 factors near 1 its error is many ulps; the
    compensated product stays within half an ulp (what the one-phase forward pass gains)."""
    rng = np.random.default_rng(1)
    x = 1 - rng.random((1, 100_000)) * 1e-4
    acc = np.array([[1.0], [0.0]])
    compiled.product(x, acc)
    exact = _exact_product(x, [1.0])[0]
    assert _ulps(acc[0, 0], exact) <= 0.5 + 1e-9
    assert _ulps(float(np.prod(x)), exact) > 4


@pytest.mark.parametrize("split", [False, True], ids=["fma", "dekker"])
def test_the_product_at_the_edges_of_a_probability(split):
    from libet.simulator import _recurrence

    def product(row, start=1.0):
        acc = np.array([[start], [0.0]])
        _recurrence.product(np.asarray([row], dtype=np.float64), acc, split)
        return acc[0, 0], acc[1, 0]

    assert product([]) == (1.0, 0.0)
    assert product([1.0] * 40) == (1.0, 0.0)
    assert product([0.5] * 40) == (0.5**40, 0.0)  # exact: no rounding to keep
    assert product([0.9] * 20 + [0.0] + [0.9] * 20) == (0.0, 0.0)  # a zero anywhere, lanes or tail
    assert product([0.9] * 37, start=0.0) == (0.0, 0.0)
    # underflow: 0.5^1100 is below the smallest subnormal, so 0, as np.prod gives
    assert product([0.5] * 1100)[0] == 0.0 == float(np.prod([0.5] * 1100))
    # into the subnormals the error terms are no longer exact; the product is still as close as np.prod's
    row = [0.5] * 1060 + [0.75] * 3
    exact = 0.5**1060 * 0.75**3
    assert abs(product(row)[0] - exact) <= abs(float(np.prod(row)) - exact) + 5e-324


def test_the_product_refuses_arrays_it_cannot_read():
    from libet.simulator import _recurrence

    readonly = np.array([[1.0], [0.0]])
    readonly.flags.writeable = False
    bad = [
        (np.ones((2, 5)), np.array([[1.0] * 3, [0.0] * 3]), ValueError),  # two rows for three classes
        (np.ones((1, 5)), np.ones((3, 1)), ValueError),  # acc is not (2, U)
        (np.ones((1, 5), dtype=np.float32), np.array([[1.0], [0.0]]), TypeError),
        (np.ones((5, 2)).T, np.array([[1.0] * 2, [0.0] * 2]), ValueError),  # not C-contiguous
        (np.ones(5), np.array([[1.0], [0.0]]), TypeError),  # not 2-d
        (np.ones((1, 5)), readonly, ValueError),
    ]
    for x, acc, error in bad:
        with pytest.raises(error):
            _recurrence.product(x, acc)


@pytest.mark.parametrize("shape", [(0, 1), (1, 1), (7, 1), (1 << 16, 1), (0, 3), (1, 4), (1000, 2), (999, 5)])
def test_the_cumulative_product_is_numpys_to_the_bit(shape):
    from libet.simulator import _recurrence

    x = 1 - np.random.default_rng(shape[0]).random(shape) * 1e-3
    out = np.empty(shape)
    _recurrence.cumprod(x, out)
    assert np.array_equal(out, np.cumprod(x, axis=0))


def test_the_cumulative_product_refuses_arrays_it_cannot_read():
    from libet.simulator import _recurrence

    x = np.ones((5, 2))
    readonly = np.empty((5, 2))
    readonly.flags.writeable = False
    bad = [
        (x, np.empty((5, 3)), ValueError),  # out of another shape
        (x, x, ValueError),  # out is x
        (x, readonly, ValueError),
        (np.ones((2, 5)).T, np.empty((5, 2)), ValueError),  # not C-contiguous
        (np.ones((5, 2), dtype=np.float32), np.empty((5, 2)), TypeError),
        (np.ones(5), np.empty(5), TypeError),  # not 2-d
    ]
    for a, out, error in bad:
        with pytest.raises(error):
            _recurrence.cumprod(a, out)


LONG = """
spec "one long product"
substance { topic: {everyday, weapons} }
value ok = topic != weapons
trajectory {
  horizon 150000
  start answer
  phase answer { -> answer : 1 - depth / 10000000000  -> stop : otherwise }
}
policy shallow { veto when violates ok and depth < 5 with strength 0.5 }
"""


@pytest.mark.parametrize("layer", [None, 1 << 10], ids=["chunks of 2^16", "chunks of 2^10"])
def test_one_phase_p_harm_is_the_correctly_rounded_product_of_its_factors(layer, monkeypatch):
    # 150,000 depths: 3 chunks of the forward pass (or 147), the running product carried as hi + lo
    if layer:
        monkeypatch.setattr(model, "LAYER_STATES", layer)
    spec = libet.loads(LONG).ir
    harm = libet.spec.measures.HARM
    weapons = {"topic": "weapons"}
    got = {}
    for mode in ("0", "1"):
        monkeypatch.setenv("LIBET_COMPILED", mode)
        got[mode] = outcomes(spec, "shallow", measures=[harm]).aggregate(harm, fixed=weapons).value
    # the factors as the engine forms them in float64: (1 - 0.5) (1 - d / 1e10) for d < 5, then 1 - d / 1e10
    factors = np.array([(0.5 if d < 5 else 1.0) * (1 - d / 10000000000) for d in range(150_000)])
    exact = float(_exact_product([factors], [1.0])[0])
    assert 0.005 < exact < 0.02  # a product far from underflow (0.5^5 e^-1.125)
    assert got["1"] == exact
    assert abs(got["0"] - got["1"]) <= 1e-12 * got["1"]


@pytest.mark.parametrize("layer", [None, 1 << 10], ids=["chunks of 2^16", "chunks of 2^10"])
def test_one_phase_six_measures_are_the_same_to_the_bit_either_way(layer, monkeypatch):
    # the masses' path: the compiled cumulative product is numpy's, and the rest is numpy
    if layer:
        monkeypatch.setattr(model, "LAYER_STATES", layer)
    spec = libet.loads(LONG).ir
    tables = {}
    for mode in ("0", "1"):
        monkeypatch.setenv("LIBET_COMPILED", mode)
        tables[mode] = outcomes(spec, "shallow")
    for a in spec.assignments():
        assert tables["0"].at(a) == tables["1"].at(a), a
