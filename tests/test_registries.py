"""The tables are complete: every IR property type has exactly one check kind, every engine
loads under the one signature, every pass over expressions has a case for every node class,
and the facade decides every check of every example."""

from __future__ import annotations

import glob
import inspect

import pytest

import libet
from libet import orchestrate, registry
from libet.results import Status
from libet.simulator import engines
from libet.spec import ir
from libet.spec import measures as ms
from libet.spec.visit import expression_classes, missing_cases

EXAMPLES = sorted(glob.glob("examples/*.libet"))


def test_every_property_type_has_exactly_one_check_kind():
    kinds = registry.check_kinds()  # raises InternalError when two families claim one type
    assert set(kinds) == set(registry.property_types())
    for prop_type, (family, kind) in kinds.items():
        assert family in registry.FAMILIES
        assert getattr(kind, "prop_type", prop_type) is prop_type


def test_every_engine_loads_under_one_signature():
    for name, info in engines.ENGINES.items():
        run = info.load()
        params = inspect.signature(run).parameters
        assert list(params)[:2] == ["model", "measures"], name
        for option in ("runs", "seed", "confidence", "progress"):
            assert option in params and params[option].kind is inspect.Parameter.KEYWORD_ONLY, (name, option)


def test_engines_answer_through_one_protocol():
    """Exact and Monte Carlo results both answer aggregate(measure) with an Aggregate that
    says how the number was obtained."""
    from libet.simulator.model import Model

    spec = libet.load("examples/prefill.libet").ir
    fixed = {"topic": "weapons", "uplift": 3, "persona": "none", "prefill": 10, "observed": False}
    exact = engines.get("exact").load()(Model(spec, "shallow", fixed=fixed), ms.STANDARD)
    mc = engines.get("mc").load()(Model(spec, "shallow", fixed=fixed), ms.STANDARD, runs=4000, seed=1)
    for m in ms.STANDARD:
        a, b = exact.aggregate(m, fixed=fixed), mc.aggregate(m, fixed=fixed)
        assert a.kind == "computed" and a.low is None
        assert b.kind == "estimated" and b.low <= b.value <= b.high
    assert mc.aggregate(ms.HARM).low <= exact.aggregate(ms.HARM).value <= mc.aggregate(ms.HARM).high


def test_the_checker_names_the_registered_engines():
    src = 'trajectory { horizon 2 start a phase a { -> a : 1 } } policy p { } experiment e { policies p engine nope }'
    with pytest.raises(libet.SpecError) as err:
        libet.loads(src)
    text = err.value.render()
    assert "unknown engine 'nope'" in text and all(name in text for name in engines.ENGINES)


def _passes():
    from libet.simulator.prism import _Printer
    from libet.spec.interpreter import Interpreter
    from libet.spec.printer import Printer
    from libet.spec.vectorize import ArrayEval

    out = [(Interpreter, "c_"), (ArrayEval, "v_"), (_Printer, "x_"), (Printer, "p_")]
    try:
        from libet.proofs.terms import Terms  # the IR -> Z3 pass
    except ImportError:  # pragma: no cover - named differently
        Terms = None
    if Terms is not None:
        out.append((Terms, getattr(Terms, "PREFIX", "t_")))
    return out


@pytest.mark.parametrize("cls,prefix", _passes(), ids=lambda x: getattr(x, "__name__", x))
def test_every_expression_pass_is_complete(cls, prefix):
    assert len(expression_classes()) == 17  # a guard that the walk finds the IR (StateRef is the 17th)
    assert missing_cases(cls, prefix) == []


def test_the_ir_walk_ignores_a_class_attrs_replaced():
    """`@attrs.frozen(slots=True)` builds a new class; the one it replaced stays among
    ir.Expr's subclasses until a full collection, which a long load holds off. The suite once
    counted 18 node classes so, in one worker and not the other."""
    stale = type("Arith", (ir.Expr,), {"__module__": ir.__name__, "__slots__": ()})  # as attrs leaves it
    assert stale is not ir.Arith
    assert len(expression_classes()) == 17 and ir.Arith in expression_classes()


def test_an_unknown_node_is_an_internal_error_not_a_class_name():
    from libet.errors import InternalError
    from libet.spec.printer import expr_text

    class Odd(ir.Expr):
        __slots__ = ()

    with pytest.raises(InternalError, match="no case for the IR node Odd"):
        expr_text(Odd())


@pytest.mark.parametrize("path", EXAMPLES)
def test_check_decides_every_check_of_every_example(path):
    """Specification.check() returns one result per check, quantitative ones included, each
    decided (nothing UNKNOWN on the bundled examples), in the spec's order."""
    spec = libet.load(path)
    results = spec.check(timeout=60)
    assert [(r.policy, r.check) for r in results] == [(c.policy, c.name) for c in spec.ir.checks]
    assert all(r.status in (Status.PROVED, Status.VIOLATED) for r in results), [
        (r.policy, r.check, r.reason) for r in results if r.status is Status.UNKNOWN
    ]
    families = {registry.family_of(c.prop) for c in spec.ir.checks}
    assert {r.engine.split()[0] for r in results} >= ({"z3"} if "proofs" in families else set())


def test_selections_and_options_are_validated_once():
    spec = libet.load("examples/prefill.libet")
    with pytest.raises(libet.UsageError, match="no check 'saf'") as err:
        spec.check(check="saf")
    assert err.value.hint == "did you mean 'safe'?"
    with pytest.raises(libet.UsageError, match="no policy 'shalow'"):
        spec.check(policy="shalow")
    with pytest.raises(libet.UsageError, match="outside the range"):
        spec.check(params={"gain": 7})
    # the quantitative checks of one policy, by name, through the same selection
    got = spec.check(policy="deep", check="P(harm) <= 0.01 for all framing")
    assert [(r.policy, r.status) for r in got] == [("deep", Status.PROVED)]
    assert [r.check for r in spec.prove(policy="deep")] == [
        c.name for c in spec.ir.checks if c.policy == "deep" and registry.family_of(c.prop) == "proofs"
    ]


def test_numpy_scalars_are_accepted_everywhere():
    """What scipy's optimisers pass: numpy float64 params, through the API's every path."""
    np = pytest.importorskip("numpy")
    spec = libet.load("examples/prefill.libet")
    a = spec.experiment("prefill_sweep", params={"gain": np.float64(0.3)}).to_rows()
    b = spec.experiment("prefill_sweep", params={"gain": 0.3}).to_rows()
    assert a == b
    assert spec.simulate("deep", params={"base": np.float32(0.25)}).to_rows()[0]["P(harm)"] == 0.0
    assert orchestrate.check(spec.ir, checks=["P(harm) <= 0.01 for all framing"], params={"gain": np.float64(0.3)})
    fixed = {"observed": np.True_, "uplift": np.int64(3)}  # numpy's bool and int scalars as values
    assert spec.simulate("deep", fixed=fixed).to_rows() == spec.simulate("deep", fixed={"observed": True, "uplift": 3}).to_rows()


def test_engines_never_import_the_cli_or_private_modules():
    """spec/, proofs/ and simulator/ import neither the command line (libet.cli, clitools,
    commands, click) nor the facade, and no module imports another package's private module."""
    import pathlib
    import re

    bad = re.compile(r"^\s*(from|import)\s+(libet\.(cli|clitools|commands|orchestrate|api)\b|click\b)", re.M)
    private = re.compile(r"^\s*from\s+libet\.(\w+)\.(_\w+)\s+import|^\s*import\s+libet\.\w+\._\w+", re.M)
    for folder in ("spec", "proofs", "simulator"):
        for path in pathlib.Path(folder).glob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert not bad.search(text), f"{path} imports the command line or the facade"
            assert not private.search(text), f"{path} imports a private module"


def test_written_files_have_the_ordinary_mode(tmp_path):
    """Atomic writes go through a private temporary file; the result is readable like any file
    the user would have written (0666 less the umask), not 0600."""
    import os
    import stat

    from libet.files import write_atomic

    path = tmp_path / "out.txt"
    write_atomic(str(path), "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
