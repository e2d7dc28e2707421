"""The engines on specs with state variables and adversaries, against the reference
interpreter and Storm, on generated specs and on the examples: the exact engine
(simulator/layered.py) on plain measures against the forward pass and on Pmax/Pmin/Emax against
the interpreter's own value iteration, its optimal strategy replayed by the interpreter, Monte
Carlo within its intervals, and Storm on the PRISM export (a DTMC, or an MDP) to 1e-9."""

from __future__ import annotations

import contextlib
import glob
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import state_specs

import libet
from libet.errors import UsageError
from libet.simulator import outcomes
from libet.simulator.exact import assignment_facts, assignment_of
from libet.simulator.model import Model
from libet.spec import measures as ms
from libet.spec.interpreter import Interpreter

PLAIN = [ms.parse(t) for t in ("P(harm)", "P(vetoed)", "P(stopped)", "P(delivered)", "E(depth)", "E(refusals)", "E(steps)")]
OPT = [ms.parse(t) for t in ("Pmax(harm)", "Pmin(harm)", "Pmax(vetoed)", "Emax(refusals)", "Emin(depth)", "Emax(steps)")]


def _agree(spec, policy, measures):
    table = outcomes(spec, policy, measures=measures)
    model = Model(spec, policy)
    it = Interpreter(spec)
    for i in range(model.size):
        a = assignment_of(model, i)
        for m in measures:
            got = float(table.at(a)[m.text])
            if m.extremum is not None and spec.is_mdp:
                want = float(it.optimum(policy, a, m)[0])
            else:
                want = float(it.outcomes(policy, a).measure(m))
            assert abs(got - want) < 1e-9, (policy, a, m.text, got, want)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state_specs(mdp=False))
def test_state_without_choices_agrees_with_the_forward_pass(src):
    spec = libet.loads(src).ir
    for policy in spec.policies:
        _agree(spec, policy, PLAIN)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state_specs(mdp=True))
def test_value_iteration_agrees_with_the_interpreters_optimum(src):
    spec = libet.loads(src).ir
    for policy in spec.policies:
        _agree(spec, policy, OPT)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state_specs(mdp=True))
def test_the_engines_strategy_attains_its_value(src):
    spec = libet.loads(src).ir
    it = Interpreter(spec)
    m = ms.parse("Pmax(harm)")
    for policy in spec.policies:
        if not spec.is_mdp:
            continue
        table = outcomes(spec, policy, measures=[m])
        model = Model(spec, policy)
        values, strategy = table.optimum[m]
        classes = assignment_facts(model)[2]
        for i in range(model.size):
            a = assignment_of(model, i)
            cls = int(classes[i])
            replay = it.outcomes(policy, a, strategy=it.strategy_of(strategy.table(cls)))
            assert abs(float(replay.harm) - float(table.at(a)[m.text])) < 1e-9


@contextlib.contextmanager
def _reachable_box(on: bool, dense: bool = True):
    """The layered engine laying out only the box of the reachable valuations always (``on``)
    or never, whatever the model's size (simulator/layered.py, REACH_MIN_CELLS); its search
    over every valuation at once (``dense``) or step by step (REACH_DENSE)."""
    from libet.simulator import layered

    saved = layered.REACH_MIN_CELLS, layered.REACH_DENSE
    layered.REACH_MIN_CELLS = -1 if on else math.inf
    layered.REACH_DENSE = saved[1] if dense else 0
    try:
        yield
    finally:
        layered.REACH_MIN_CELLS, layered.REACH_DENSE = saved


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans().flatmap(lambda mdp: state_specs(mdp=mdp, spare=2)))
def test_laying_out_the_reachable_box_changes_no_value(src):
    """With the counter declared past where its updates stop it, the box of the reachable
    valuations is smaller than the declared state (both ways of searching find the same box);
    solved over it, every measure at every assignment is what laying out every declared
    valuation gives, and what the interpreter gives; an optimal adversary found over the box,
    replayed by the interpreter, attains its value."""
    from libet.simulator.layered import Layers

    spec = libet.loads(src).ir
    measures = OPT if spec.is_mdp else PLAIN
    it = Interpreter(spec)
    for policy in spec.policies:
        with _reachable_box(on=False):
            whole = outcomes(spec, policy, measures=measures)
        with _reachable_box(on=True):
            boxed = outcomes(spec, policy, measures=measures)
            val = Layers(Model(spec, policy)).val
            _agree(spec, policy, measures)
        with _reachable_box(on=True, dense=False):
            assert Layers(Model(spec, policy)).val.box == val.box  # the search step by step finds the same
        assert val.count < val.declared and val.sizes[0] <= 4  # c never passes K <= 3
        for i in range(Model(spec, policy).size):
            a = assignment_of(Model(spec, policy), i)
            for m in measures:
                assert abs(float(boxed.at(a)[m.text]) - float(whole.at(a)[m.text])) < 1e-12, (policy, a, m.text)
        if spec.is_mdp:
            m = OPT[0]
            model = Model(spec, policy)
            values, strategy = boxed.optimum[m]
            classes = assignment_facts(model)[2]
            for i in range(model.size):
                a = assignment_of(model, i)
                replay = it.outcomes(policy, a, strategy=it.strategy_of(strategy.table(int(classes[i]))))
                assert abs(float(replay.harm) - float(boxed.at(a)[m.text])) < 1e-9


@pytest.mark.parametrize("path", ["examples/crescendo.libet", "examples/monitoring.libet", "examples/adaptive_attacker.libet"])
def test_examples_agree_with_the_interpreter(path):
    spec = libet.load(path).ir
    measures = OPT if spec.is_mdp else PLAIN
    for policy in spec.policies:
        _agree(spec, policy, measures)


def test_what_is_not_offered_says_so():
    spec = libet.load("examples/crescendo.libet").ir
    with pytest.raises(UsageError, match="visits"):
        outcomes(spec, "per_message", measures=[ms.parse("P(visit turn)", phases=("turn",))])
    with pytest.raises(UsageError, match="exact"):
        outcomes(spec, "per_message", exact=True)


def test_a_state_space_too_large_is_refused_before_building(monkeypatch):
    from libet.simulator import layered

    monkeypatch.setattr(layered, "memory_limit", lambda: 1000)
    spec = libet.load("examples/crescendo.libet").ir
    with pytest.raises(UsageError, match="model too large.*valuations of the state") as err:
        outcomes(spec, "per_message")
    assert "escalation (5)" in err.value.hint


def test_every_state_example_is_listed():
    with_state = {p for p in glob.glob("examples/*.libet") if libet.load(p).ir.state}
    assert with_state == {"examples/crescendo.libet", "examples/monitoring.libet", "examples/adaptive_attacker.libet"}


@pytest.mark.parametrize("path", ["examples/crescendo.libet", "examples/monitoring.libet"])
def test_monte_carlo_with_state_lies_within_its_interval(path):
    """Seeded, so deterministic: each exact value lies in Monte Carlo's 99.9% interval."""
    from libet.simulator import montecarlo

    spec = libet.load(path).ir
    measures = PLAIN[:5] + [ms.parse("E(refusals)")]
    for policy in spec.policies:
        est = montecarlo.run(Model(spec, policy), 20_000, seed=5, confidence=0.999, measures=measures)
        table = outcomes(spec, policy, measures=measures)
        for m in measures:
            want = table.aggregate(m).value
            e = est[m]
            assert e.low - 1e-12 <= want <= e.high + 1e-12, (policy, m.text, want, e)


def test_monte_carlo_on_an_mdp_says_it_needs_a_strategy():
    from libet.simulator import montecarlo

    spec = libet.load("examples/adaptive_attacker.libet").ir
    with pytest.raises(UsageError, match="choice points"):
        montecarlo.run(Model(spec, "keyword"), 100, seed=1, measures=[ms.parse("P(harm)")])


STATE_EXAMPLES = ["examples/crescendo.libet", "examples/monitoring.libet", "examples/adaptive_attacker.libet"]


@pytest.mark.parametrize("path", STATE_EXAMPLES)
def test_storm_agrees_on_the_export(path):
    """Storm on the exported DTMC or MDP (state variables as PRISM variables, choice points as
    nondeterministic commands) gives the exact engine's numbers to 1e-9: Pmax, Pmin, Rmax, Rmin."""
    pytest.importorskip("stormpy")
    from test_sim_prism import cross_check

    spec = libet.load(path).ir
    for policy in spec.policies:
        cross_check(spec, policy, measures=OPT if spec.is_mdp else PLAIN)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state_specs(mdp=True))
def test_storm_agrees_on_generated_mdps(src):
    pytest.importorskip("stormpy")
    from test_sim_prism import cross_check

    spec = libet.loads(src).ir
    for policy in spec.policies:
        cross_check(spec, policy, measures=OPT if spec.is_mdp else PLAIN)


# Three state variables, declared x, y, z (z changes fastest); a phase chooses some of them, in
# any order, each from a subset of its domain and maybe only `when` a state condition holds.
_DOMAINS = {"x": (0, 1, 2), "y": ("a", "b", "c"), "z": (False, True)}
_WHEN = {"": lambda s, d: True, " when x > 0": lambda s, d: s["x"] > 0, " when z": lambda s, d: s["z"],
         " when y == b": lambda s, d: s["y"] == "b", " when depth == 1 or z": lambda s, d: d == 1 or s["z"]}


@st.composite
def _joint_choices(draw):
    names = draw(st.permutations(list(_DOMAINS)))[: draw(st.integers(1, 3))]
    choices = []
    for n in names:
        opts = draw(st.lists(st.sampled_from(_DOMAINS[n]), min_size=1, unique=True))
        opts = tuple(v for v in _DOMAINS[n] if v in opts)  # the IR keeps domain order
        choices.append((n, opts, draw(st.sampled_from(list(_WHEN)))))
    return choices


def _lit(v) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_joint_choices(), st.data())
def test_the_best_joint_option_is_the_best_of_every_combination(choices, data):
    """_Options.best (an extremum over the chosen variables' axes) against every combination of
    the options tried one by one, the first best kept (the engine's order of ties): the value
    and the valuation chosen, at every (target, class, valuation), for both senses, on values
    with many ties, at two depths."""
    import itertools

    import numpy as np

    from libet.simulator.layered import Layers

    lines = "\n".join(f"    choose {n} in {{{', '.join(_lit(v) for v in opts)}}}{when}" for n, opts, when in choices)
    src = f"""
substance {{ bad: bool }}
value ok = not bad
state {{ x: 0..2 = 0  y: {{a, b, c}} = a  z: bool = false }}
trajectory {{ horizon 2 start q phase q {{
{lines}
    -> deliver : 0.5
    -> q : otherwise
}} }}
policy p {{ veto when violates ok and x == 2 }}
"""
    spec = libet.loads(src).ir
    layers = Layers(Model(spec, "p"))
    opts = layers._phase("q")["options"]
    states = list(itertools.product(*_DOMAINS.values()))  # x slowest, z fastest: the engine's order
    index = {s: i for i, s in enumerate(states)}
    U, S = layers.U, len(states)
    T = 2  # two targets of one sense, chosen for in one pass
    w = np.asarray(data.draw(st.lists(st.integers(0, 2), min_size=T * U * S, max_size=T * U * S)),
                   dtype=float).reshape(T, U, S)
    for d, (sense, better) in itertools.product((0, 1), (("max", lambda a, b: a > b), ("min", lambda a, b: a < b))):
        value, to = opts.best(w, d, sense)
        assert value.shape == to.shape == (T, U, S)
        for t, u, (i, s) in itertools.product(range(T), range(U), enumerate(states)):
            state = dict(zip(_DOMAINS, s))
            best = None
            for combo in itertools.product(*(o for _, o, _ in choices)):
                after = dict(state)
                for (n, _, when), v in zip(choices, combo):
                    if _WHEN[when](state, d):
                        after[n] = v
                j = index[tuple(after.values())]
                if best is None or better(w[t, u, j], w[t, u, best]):
                    best = j
            assert (value[t, u, i], to[t, u, i]) == (w[t, u, best], best), (d, sense, t, u, state)


def test_the_adversaries_kept_are_counted_before_solving(monkeypatch):
    """The optimal adversary of every measure over adversaries is kept at every state of a
    phase with choices; a model that fits but whose strategies would not is refused before the
    solve, saying how many measures and what to ask for instead."""
    from libet.simulator.layered import Layers

    spec = libet.loads(_ENCODINGS_BIG).ir
    layers = Layers(Model(spec, "keyword"))
    one = 8 * layers.H * layers.U * layers.S  # one measure's strategy at the one phase with choices
    monkeypatch.setenv("LIBET_MEMORY_LIMIT", str(layers.need + 3 * one))
    assert libet.loads(_ENCODINGS_BIG).simulate(measures=["Pmax(harm)", "Pmin(harm)", "Pmax(vetoed)"])
    with pytest.raises(UsageError, match=r"optimal adversaries of 12 measures over adversaries") as exc:
        libet.loads(_ENCODINGS_BIG).simulate()
    assert "--measure" in exc.value.hint


_ENCODINGS_BIG = """
substance { topic: {everyday, weapons} }
state { enc: {plain, leet, b64} = plain  level: 0..99 = 0 }
value ok = topic != weapons
trajectory {
  horizon 10 then stop
  start turn
  phase turn {
    choose enc
    -> deliver : if enc == plain then 0.2 else 0.1
    -> turn : 0.5 then level = min(level + 1, 99)
    -> stop : otherwise
  }
}
policy keyword { veto when violates ok and enc == plain }
"""


def _many_state_variables(n: int, choose: bool) -> str:
    state = "\n".join(f"  z{i}: 0..0 = 0" for i in range(n))
    chooses = "\n".join(f"    choose z{i}" for i in range(n)) + "\n    choose x when depth == 1" if choose else ""
    return f"""
substance {{ bad: bool }}
value ok = not bad
state {{
{state}
  x: {{a, b}} = a
}}
trajectory {{ horizon 4 then stop start t phase t {{
{chooses}
  -> deliver : if x == b then 0.5 else 0.1
  -> t : otherwise then x = b }} }}
policy none {{ veto when false }}
"""


def test_a_choice_point_over_64_state_variables_is_refused_in_words():
    """At a choice point the layered engine lays the values out with an axis per state
    variable: past numpy's 64 it was an internal ValueError. Without a choice point nothing is
    laid out so, and 65 state variables solve."""
    spec = libet.loads(_many_state_variables(64, choose=True)).ir
    with pytest.raises(UsageError, match="at a choice point the layered engine lays out the state with an axis"):
        outcomes(spec, "none", measures=[ms.parse("Pmax(harm)")])
    plain = libet.loads(_many_state_variables(64, choose=False)).ir
    # x is b after the first step: deliver with 0.1, then 0.5 at each later step
    want = 0.1 + 0.9 * (1 - 0.5**3)
    assert outcomes(plain, "none", measures=[ms.HARM]).aggregate(ms.HARM).value == pytest.approx(want / 2)
