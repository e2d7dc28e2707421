"""Conformance of a real veto implementation (a Python callable) against a spec's properties.

Consumes: a checked spec, a callable, optionally a :class:`~libet.testing.requests.Renderer`
(corpus + framing transforms) that turns abstract assignments into concrete request texts.
Produces: one :class:`libet.results.CheckResult` per property, with an honest status:

* VIOLATED, with a shrunk counterexample that was replayed on the implementation;
* PROVED only when every point of the finite domain was enumerated *and* the implementation
  was declared deterministic (``deterministic=True``) and called on abstract states;
* TESTED otherwise: no violation among the N examples tried (``details["examples"]``), also
  when the enumeration was exhaustive but determinism is not known, or the requests were
  rendered from a corpus (the corpus samples the substance, it does not exhaust it);
* UNKNOWN, with the reason: the implementation answered differently on the same request (it is
  stochastic: test it with ``samples=``), or the property cannot be rendered.

The properties (the words of a check block, DESIGN.md §3):

* ``invariant under V``: equal veto on any two requests that differ only in V (variables, a
  class, or ``depth``);
* ``complete``: every harmful request vetoed (probability 1);
* ``no over-refusal``: no benign request vetoed;
* ``agrees with P``: the implementation's veto equals the spec policy P's veto probability at
  every state.

Search: when the domain has at most ``exhaustive_limit`` points, every point is tried in
declaration order; otherwise ``examples`` examples are drawn (seeded), a failure is shrunk to a
minimal one and stored in Hypothesis's example database so the next run tries it first
(``SEARCHES``: fast seeded sampling with greedy shrinking, or Hypothesis's own generation and
shrinking).
Stochastic implementations (``samples`` > 1) are measured instead: see
:mod:`libet.testing.stochastic`.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import signal
import threading
import time
from decimal import Decimal
from fractions import Fraction
from numbers import Real
from typing import Any, Callable, Iterable, Mapping, Sequence

import attrs

from libet.errors import LibetError, UsageError
from libet.results import CheckResult, Status
from libet.spec import ir
from libet.spec.overrides import check_whole
from libet.spec.printer import name_list
from libet.testing.strategies import State, _depths, _phases, _show, as_ir, resolve_under

#: The tolerance on veto probabilities when comparing two answers or an answer to the spec's.
TOLERANCE = 1e-9

DEFAULT_EXAMPLES = 1000

#: How a domain too large to enumerate is searched. ``sample``: seeded uniform sampling in plain
#: Python (fast: well under a millisecond of overhead per example), a failure shrunk greedily
#: towards the first value of every variable and towards differing in as few variables as
#: possible, and stored in Hypothesis's example database so the next run replays it first.
#: ``hypothesis``: Hypothesis generates and shrinks (smarter mutation, about 3 ms per example).
SEARCHES = ("sample", "hypothesis")
DEFAULT_EXHAUSTIVE_LIMIT = 100_000
#: How long the sampling search may spend shrinking an implementation's error (it raised on a
#: request) to the smallest request that still raises, in seconds.
ERROR_SHRINK_SECONDS = 2.0


class ImplementationError(LibetError):
    """The implementation raised, hung past its timeout, or returned something other than a
    bool or a probability in [0, 1]. ``request`` is what it was called with."""

    def __init__(self, message: str, request: "Request | None" = None, hint: str | None = None):
        self.request = request
        self.hint = hint or "fix the implementation (or its renderer) for this request; libet tests what it returns"
        where = f"\n  request: {request.describe()}" if request is not None else ""
        super().__init__(f"{message}{where}")


class ImplementationTimeout(ImplementationError):
    """The implementation did not answer within its timeout. Not shrunk by re-running: every
    further attempt would wait the whole timeout again."""


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` for an exception the implementation raised, whatever it does: an
    empty message gives the type alone, a ``__str__`` that itself raises is named as such, and
    a long message is cut (the user's exception is described, never re-raised)."""
    name = type(exc).__name__
    try:
        text = str(exc)
    except KeyboardInterrupt:
        raise
    except BaseException as inner:  # noqa: BLE001 - its __str__ is the user's code
        return f"{name} (its message could not be read: str() raised {type(inner).__name__})"
    return f"{name}: {_cut(text)}" if text else name


def safe_repr(obj, limit: int = 200) -> str:
    """``repr(obj)`` for a value the implementation returned or exited with: cut to ``limit``
    characters, and a ``__repr__`` that raises is named as such."""
    try:
        text = repr(obj)
    except KeyboardInterrupt:
        raise
    except BaseException as inner:  # noqa: BLE001 - its __repr__ is the user's code
        return f"<a {type(obj).__name__} whose repr() raised {type(inner).__name__}>"
    return _cut(text, limit)


def _cut(text: str, limit: int = 1000) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


# ---- what the implementation is called with --------------------------------------------------


@attrs.frozen
class Request:
    """One request: the spec's state and, for a rendered request, its text and corpus row."""

    state: State
    text: str | None = None
    row: int | None = None  # the corpus row's line number
    variant: int = 0

    def describe(self, limit: int | None = None) -> str:
        """The request as reports show it; ``limit`` cuts a long text to that many characters."""
        if self.text is None:
            return self.state.describe()
        row = f"corpus line {self.row}, " if self.row is not None else ""
        variant = f", variant {self.variant}" if self.variant else ""
        vals = ", ".join(f"{n} = {_show(v)}" for n, v in self.state.assignment.items())
        text = self.text
        if limit is not None and len(text) > limit:
            return f"{text[:limit]!r}... ({len(text):,} characters; {row}{vals}{variant})"
        return f"{text!r} ({row}{vals}{variant})"

    def to_json(self) -> dict:
        out = self.state.to_json()
        if self.text is not None:
            out["text"] = self.text
            out["row"] = self.row
            out["variant"] = self.variant
        return out


class Space:
    """The finite domain a property is tested over, as dimensions of a product.

    Dimension 0 is the substance: every substance assignment (abstract) or every corpus row
    (rendered). The others: each framing and context variable, then the phase and the depth
    (abstract) or the transform variant (rendered). A point is a tuple of values, one per
    dimension.
    """

    def __init__(self, spec: ir.Spec, renderer=None, fixed: Mapping | None = None, max_depth: int | None = None):
        from libet.spec.interpreter import Interpreter
        from libet.testing.strategies import _check_fixed, substance_assignments

        self.spec = spec
        self.renderer = renderer
        self.fixed = _check_fixed(spec, fixed)
        self.interp = Interpreter(spec)
        others = [n for n, v in spec.variables.items() if v.cls is not ir.VarClass.SUBSTANCE]
        if renderer is None:
            subst = [(a, None, None) for a in substance_assignments(spec, None, self.fixed)]
        else:
            subst = [(row.values, row.text, row.line) for row in renderer.rows(spec)
                     if all(row.values.get(n, v) == v for n, v in self.fixed.items())]
            if not subst:
                raise UsageError("no corpus row matches the values fixed", hint="fixed: " + ", ".join(
                    f"{n} = {_show(v)}" for n, v in self.fixed.items()))
        self.substance = subst
        self.harmful = [self.interp.harmful(a) for a, _, _ in subst]
        self.names = ["substance"] + others
        self.values: list[Sequence] = [range(len(subst))]
        for n in others:
            self.values.append((self.fixed[n],) if n in self.fixed else spec.variables[n].domain.values())
        self.order = list(spec.variables)
        if renderer is None:
            lo, hi = _depths(spec, max_depth)
            self.names += ["phase", "depth"]
            self.values += [_phases(spec), range(lo, hi + 1)]
            traj = spec.trajectory
            self.depth_exhaustive = traj is not None and traj.horizon is not None and (max_depth is None or max_depth >= hi)
        else:
            self.names.append("variant")
            self.values.append(range(renderer.variants))
            self.depth_exhaustive = True
        self.index = {n: i for i, n in enumerate(self.names)}
        self._other_slice = (1, 1 + len(others))
        self._others = others

    def restricted(self, only) -> "Space":
        """A copy whose variables in ``only`` (name, values) range over those values alone."""
        import copy

        out = copy.copy(self)
        out.values = list(self.values)
        for name, values in only:
            out.values[self.index[name]] = tuple(values)
        return out

    # -- sizes and enumeration ----------------------------------------------------------------

    def substance_indices(self, harmful: bool | None) -> list[int]:
        return [i for i, h in enumerate(self.harmful) if harmful is None or h == harmful]

    def size(self, harmful: bool | None = None) -> int:
        n = len(self.substance_indices(harmful))
        for v in self.values[1:]:
            n *= len(v)
        return n

    def points(self, harmful: bool | None = None) -> Iterable[tuple]:
        return itertools.product(self.substance_indices(harmful), *self.values[1:])

    # -- what a point means --------------------------------------------------------------------

    def request(self, point: tuple) -> Request:
        a, text, line = self.substance[point[0]]
        assignment = dict(a)
        lo, hi = self._other_slice
        assignment.update(zip(self._others, point[lo:hi]))
        assignment = {n: assignment[n] for n in self.order}
        if self.renderer is None:
            return Request(State(assignment, point[hi], point[hi + 1]))
        phase, depth = self._start(assignment)
        variant = point[hi]
        return Request(State(assignment, phase, depth), self.renderer.render(text, assignment, variant), line, variant)

    def _start(self, assignment):
        if self.spec.trajectory is None:
            return None, 0
        try:
            return self.interp.start(assignment)
        except LibetError:
            return self.spec.trajectory.start_phase, 0

    def is_harmful(self, point: tuple) -> bool:
        return self.harmful[point[0]]

    def rendered(self) -> bool:
        return self.renderer is not None


# ---- the implementation -----------------------------------------------------------------------


class Implementation:
    """A veto implementation under test.

    Args:
        fn: the callable. Abstract mode (no renderer): called with a :class:`State` (which reads
            like a dict of variable values, with ``.phase`` and ``.depth``). Rendered mode:
            called with the request text (a ``str``). It returns a bool (vetoed or not) or a veto
            probability in [0, 1].
        name: how reports name it (default: ``module:qualname``).
        timeout: seconds per call; a call that takes longer is an error naming its request
            (enforced with SIGALRM on the main thread; elsewhere not enforced).
        deterministic: ``True`` when the same request always gets the same answer; only then
            can an exhaustive enumeration PROVE a property, and each distinct request is then
            asked once (answers are remembered across properties).
        watch: told of each call (``watch.enter(request)`` before, ``watch.leave()`` after), so
            that a process watching this one can name the request if the implementation ends
            the process (:mod:`libet.testing.isolation`).

    It is called in this process (no copy of each request, no round trip). Whatever it raises
    (any exception but ``KeyboardInterrupt``, which still interrupts), ``sys.exit``, a hang
    past the timeout or a non-probability is an :class:`ImplementationError` naming the request.
    """

    def __init__(self, fn: Callable, *, name: str | None = None, timeout: float | None = None,
                 deterministic: bool | None = None, watch: Any = None):
        if not callable(fn):
            raise UsageError(f"the implementation must be callable, got {type(fn).__name__}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, Real)
                                    or not 0 < timeout < math.inf):
            raise UsageError(f"the timeout must be a finite number of seconds above 0, not {timeout!r}", "e.g. timeout=10")
        self.fn = fn
        self.name = name or _callable_name(fn)
        self.timeout = timeout
        self.deterministic = deterministic
        self.watch = watch
        self.calls = 0
        self._memo: dict = {}  # answers by request, kept only for a deterministic implementation

    def __call__(self, request: Request, rendered: bool) -> float:
        arg = request.text if rendered else request.state
        if self.deterministic:
            key = arg if rendered else (tuple(arg.assignment.items()), arg.phase, arg.depth)
            hit = self._memo.get(key)
            if hit is not None:
                return hit
            out = self._call(request, arg)
            if len(self._memo) < 1_000_000:
                self._memo[key] = out
            return out
        return self._call(request, arg)

    def _call(self, request: Request, arg) -> float:
        self.calls += 1
        watch = self.watch
        if watch is not None:
            watch.enter(request)
        try:
            if self.timeout is not None and threading.current_thread() is threading.main_thread():
                out = _with_alarm(self.fn, arg, self.timeout)
            else:
                out = self.fn(arg)
        except _Timeout:
            raise ImplementationTimeout(f"{self.name} did not answer within {self.timeout:g} s", request,
                                        hint="raise --timeout if it is slow, or fix the hang") from None
        except ImplementationError:
            raise
        except KeyboardInterrupt:  # the user's Ctrl-C: it interrupts libet, it is no answer
            raise
        except SystemExit as exc:  # not libet's exit: its code would read as a verdict
            raise ImplementationError(f"{self.name} called sys.exit({safe_repr(exc.code)})", request,
                                      hint="an implementation under test returns its answer; it does not exit") from None
        except BaseException as exc:  # noqa: BLE001 - GeneratorExit, a BaseException of its own: all its errors
            raise ImplementationError(f"{self.name} raised {describe_exception(exc)}", request) from None
        finally:
            if watch is not None:
                watch.leave()
        return _as_probability(out, self.name, request)


class _Timeout(BaseException):
    pass


def _with_alarm(fn, arg, seconds: float):
    """``fn(arg)``, interrupted by :class:`_Timeout` after ``seconds``. A call that returns
    after the alarm fired (it caught the interruption and answered anyway) is a timeout too."""
    fired = []

    def on_alarm(signum, frame):
        fired.append(True)
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        try:
            out = fn(arg)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    except (_Timeout, KeyboardInterrupt):
        raise
    except BaseException:
        if fired:  # it caught the interruption and raised something else
            raise _Timeout() from None
        raise
    if fired:
        raise _Timeout()
    return out


_ANSWER_HINT = "return a bool (vetoed or not) or a veto probability in [0, 1]"


def _as_probability(out, name: str, request: Request) -> float:
    if isinstance(out, bool) or (type(out).__module__ == "numpy" and type(out).__name__ in ("bool", "bool_")):
        return 1.0 if out else 0.0  # numpy's bool is np.bool_ (numpy 1) or np.bool (numpy 2)
    if isinstance(out, (Real, Fraction, Decimal)):
        try:
            x = float(out)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - Decimal('sNaN'), a Real of its own whose __float__ fails
            raise ImplementationError(f"{name} returned {safe_repr(out)}, which is not a number libet can read "
                                      f"(float() raised {describe_exception(exc)})", request, hint=_ANSWER_HINT) from None
        if 0.0 <= x <= 1.0:
            return x
        raise ImplementationError(f"{name} returned {x:g}, outside [0, 1]", request, hint=_ANSWER_HINT)
    raise ImplementationError(f"{name} returned {safe_repr(out)} ({type(out).__name__})", request, hint=_ANSWER_HINT)


def _callable_name(fn) -> str:
    mod = getattr(fn, "__module__", None) or ""
    qual = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    return f"{mod}:{qual}" if mod else qual


# ---- properties -----------------------------------------------------------------------------


@attrs.frozen
class Property:
    """A property tested on an implementation.

    ``kind`` is ``invariant``, ``complete``, ``no over-refusal`` or ``agrees``; ``under``
    (variables), ``depth`` and ``phase`` for invariance; ``policy`` for agreement. ``text`` is
    how the results name it. ``complete at PHASES`` is ``complete`` with ``only`` restricting
    the phase.
    """

    kind: str
    text: str
    under: tuple[str, ...] = ()
    depth: bool = False
    policy: str | None = None
    only: tuple[tuple[str, tuple], ...] = ()  # variables restricted to these values (by_value)
    phase: bool = False

    @property
    def harmful(self) -> bool | None:
        return {"complete": True, "no over-refusal": False}.get(self.kind)


def parse_property(spec, text: str) -> Property:
    """A property from its words: ``invariant under framing``, ``complete``,
    ``no over-refusal``, ``agrees with deep``.

    Raises:
        UsageError: for words that are none of these, or names the spec does not have.
    """
    spec = as_ir(spec)
    words = " ".join(text.split())
    if words.startswith("invariant under "):
        listed = [n.strip() for n in words[len("invariant under "):].split(",") if n.strip()]
        phase = "phase" in listed
        rest = [n for n in listed if n != "phase"]
        names, depth = resolve_under(spec, rest) if rest or not phase else ((), False)
        return Property("invariant", words, names, depth, phase=phase)
    if words in ("complete", "no over-refusal"):
        return Property(words, words)
    if words.startswith("complete at "):
        phases = tuple(n.strip() for n in words[len("complete at "):].split(",") if n.strip())
        known = spec.trajectory.phase_names if spec.trajectory is not None else ()
        bad = [q for q in phases if q not in known]
        if bad or not phases:
            raise UsageError(f"'{', '.join(bad) or words}' is not a phase", hint="phases: " + name_list(known))
        return Property("complete", words, only=(("phase", phases),))
    if words.startswith("agrees with "):
        pol = words[len("agrees with "):].strip()
        if pol not in spec.policies:
            raise UsageError(f"no policy '{pol}' to agree with", hint="policies: " + (", ".join(spec.policies) or "none"))
        return Property("agrees", words, policy=pol)
    raise UsageError(
        f"'{text}' is not a property libet can test on an implementation",
        hint="one of: invariant under V, complete, complete at PHASES, no over-refusal, agrees with P",
    )


def spec_properties(spec, policy: str | None = None) -> tuple[list[Property], list[str]]:
    """The properties the spec states, as (testable properties, the checks left out with why).

    With ``policy``: that policy's qualitative checks and ``agrees with policy``; without: every
    distinct qualitative check of the spec (a check block's property, whichever policy it names).
    ``safe``, bounds and gaps are about the trajectory, not the veto function alone: they are
    left out (measure the implementation and write it out as a policy to prove them).
    """
    spec = as_ir(spec)
    if policy is not None and policy not in spec.policies:
        raise UsageError(f"no policy '{policy}'", hint="policies: " + (", ".join(spec.policies) or "none"))
    out: list[Property] = []
    skipped: list[str] = []
    seen = set()
    for check in spec.checks:
        if policy is not None and check.policy != policy:
            continue
        prop = check.prop
        name = check.name
        if name in seen:
            continue
        seen.add(name)
        if isinstance(prop, ir.Invariance):
            out.append(Property("invariant", name, tuple(prop.variables), prop.depth, phase=prop.phase))
        elif isinstance(prop, ir.Complete):
            out.append(Property("complete", name))
        elif isinstance(prop, ir.CompleteAt):
            out.append(Property("complete", name, only=(("phase", prop.phases),)))
        elif isinstance(prop, ir.NoOverRefusal):
            out.append(Property("no over-refusal", name))
        else:
            skipped.append(f"{name}: about trajectories, not the veto alone (write the measured policy out and prove it)")
    if policy is not None:
        out.append(Property("agrees", f"agrees with {policy}", policy=policy))
    return out, skipped


# ---- counterexamples and summaries -------------------------------------------------------------


@attrs.frozen
class ConformanceCounterexample:
    """The requests that show a property fails on the implementation, with its answers; replayed
    on the implementation before it is reported."""

    prop: str
    requests: tuple[Request, ...]
    answers: tuple[float, ...]
    expected: float | None = None  # the spec's veto probability (agreement)
    differ: tuple[str, ...] = ()  # for a pair: what differs
    found_by: str = ""

    def describe(self) -> str:
        lines = []
        if len(self.requests) == 2:
            a, b = self.requests
            lines.append(f"{_answer(self.answers[0])}: {a.describe()}")
            lines.append(f"{_answer(self.answers[1])}: {b.describe()}")
            if self.differ:
                lines.append("they differ only in " + ", ".join(self.differ))
        else:
            (a,) = self.requests
            lines.append(f"{_answer(self.answers[0])}: {a.describe()}")
            if self.expected is not None:
                lines.append(f"the policy vetoes it with probability {self.expected:g}")
            elif self.prop == "complete":
                lines.append("it is harmful, so it must be vetoed")
            elif self.prop == "no over-refusal":
                lines.append("it is benign, so it must not be vetoed")
        if self.found_by:
            lines.append(f"(found by {self.found_by})")
        return "\n".join(lines)

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "kind": "conformance",
            "requests": [r.to_json() for r in self.requests],
            "answers": list(self.answers),
        }
        if self.expected is not None:
            out["expected"] = self.expected
        if self.differ:
            out["differ"] = list(self.differ)
        if self.found_by:
            out["found_by"] = self.found_by
        return out


def _answer(x: float) -> str:
    if x == 1.0:
        return "vetoed"
    if x == 0.0:
        return "not vetoed"
    return f"vetoed with probability {x:g}"


@attrs.frozen
class TestSummary:
    """What was tried when no violation was found: the count, how, and what it covers."""

    examples: int
    exhaustive: bool
    domain: int
    how: str
    note: str = ""

    def describe(self) -> str:
        if self.exhaustive:
            text = f"holds on all {self.examples:,} requests of the domain ({self.how})"
        else:
            text = f"no violation in {self.examples:,} examples ({self.how}) of a domain of {self.domain:,}"
        return text + (f"; {self.note}" if self.note else "")

    def to_json(self) -> dict:
        return {"kind": "tested", "examples": self.examples, "exhaustive": self.exhaustive, "domain": self.domain,
                "how": self.how, "note": self.note}


# ---- the tester ------------------------------------------------------------------------------


class _Found(Exception):
    pass


class Tester:
    """Tests one implementation against properties over one :class:`Space`."""

    def __init__(self, spec, impl: Implementation, *, renderer=None, fixed=None, params=None,
                 examples: int = DEFAULT_EXAMPLES, seed: int = 0, exhaustive_limit: int = DEFAULT_EXHAUSTIVE_LIMIT,
                 database: Any = "default", max_depth: int | None = None, search: str = "sample"):
        from libet.spec.interpreter import Interpreter

        if search not in SEARCHES:
            raise UsageError(f"unknown search '{search}'", hint="one of: " + ", ".join(SEARCHES))
        self.search = search
        self.spec = as_ir(spec)
        self.impl = impl
        self.space = Space(self.spec, renderer, fixed, max_depth)
        self.interp = Interpreter(self.spec, params)
        self.examples = examples
        self.seed = seed
        self.exhaustive_limit = exhaustive_limit
        self.database = database

    # -- the answers ---------------------------------------------------------------------------

    def answer(self, point) -> tuple[Request, float]:
        req = self.space.request(point)
        return req, self.impl(req, self.space.rendered())

    def expected(self, req: Request, policy: str) -> float:
        s = req.state
        return float(self.interp.veto_probability(policy, s.assignment, s.phase, s.depth))

    def failure(self, prop: Property, points: Sequence[tuple]):
        """None if ``prop`` holds on ``points`` (one point, or a pair for invariance), else the
        counterexample (unconfirmed)."""
        if prop.kind == "invariant":
            x, y = points
            rx, vx = self.answer(x)
            ry, vy = self.answer(y)
            if abs(vx - vy) > TOLERANCE:
                return ConformanceCounterexample(prop.text, (rx, ry), (vx, vy), differ=_differ(rx, ry))
            return None
        (x,) = points
        r, v = self.answer(x)
        if prop.kind == "complete" and v < 1 - TOLERANCE:
            return ConformanceCounterexample(prop.text, (r,), (v,))
        if prop.kind == "no over-refusal" and v > TOLERANCE:
            return ConformanceCounterexample(prop.text, (r,), (v,))
        if prop.kind == "agrees":
            e = self.expected(r, prop.policy)
            if abs(v - e) > TOLERANCE:
                return ConformanceCounterexample(prop.text, (r,), (v,), expected=e)
        return None

    # -- one property ------------------------------------------------------------------------

    def run(self, prop: Property, progress: Callable[[int, int], None] | None = None) -> CheckResult:
        if not prop.only:
            return self._run(prop, progress)
        missing = [n for n, _ in prop.only if n not in self.space.index]
        if missing:  # rendered requests have no phase to restrict (`complete at`)
            return self._result(prop, Status.UNKNOWN, time.perf_counter(), reason=(
                f"rendered requests do not vary {', '.join(missing)}: a request text is one corpus row at the start "
                "of its trajectory; test this property on abstract states (no corpus)"))
        whole = self.space
        self.space = whole.restricted(prop.only)
        try:
            return self._run(prop, progress)
        finally:
            self.space = whole

    def _run(self, prop: Property, progress) -> CheckResult:
        start = time.perf_counter()
        space = self.space
        if space.rendered() and prop.kind == "invariant":
            bad = [n for n in prop.under if self.spec.variables[n].cls is ir.VarClass.SUBSTANCE]
            if prop.depth or prop.phase or bad:
                what = "depth" if prop.depth else ("phase" if prop.phase else ", ".join(bad))
                return self._result(prop, Status.UNKNOWN, start, reason=(
                    f"rendered requests do not vary {what}: a request text is one corpus row at the start of "
                    "its trajectory; test this property on abstract states (no corpus)"))
        size = space.size(prop.harmful)
        if size == 0:
            what = "harmful" if prop.harmful else "benign"
            if space.rendered():
                return self._result(prop, Status.UNKNOWN, start, reason=(
                    f"the corpus has no {what} request (with the values fixed), so nothing was tested; add some"))
            return self._result(prop, Status.PROVED, start, details={"examples": 0, "exhaustive": True, "domain": 0},
                                warnings=(f"vacuous: the spec admits no {what} request",), engine="the domain is empty")
        calls0 = self.impl.calls
        if size <= self.exhaustive_limit and space.depth_exhaustive:
            cex, n = self._exhaustive(prop, progress)
            how = "exhaustive enumeration"
            exhaustive = True
        elif self.search == "hypothesis":
            cex, n = self._hypothesis(prop, progress)
            how = f"Hypothesis, seed {self.seed}"
            exhaustive = False
        else:
            cex, n, how = self._sample(prop, progress)
            exhaustive = False
        details = {"examples": n, "calls": self.impl.calls - calls0, "domain": size, "exhaustive": exhaustive,
                   "seed": self.seed}
        if isinstance(cex, str):  # the implementation is not deterministic
            return self._result(prop, Status.UNKNOWN, start, reason=cex, details=details, engine=how)
        if cex is not None:
            confirmed = self._confirm(prop, cex)
            if isinstance(confirmed, str):
                return self._result(prop, Status.UNKNOWN, start, reason=confirmed, details=details, engine=how)
            return self._result(prop, Status.VIOLATED, start, counterexample=attrs.evolve(confirmed, found_by=how),
                                details=details, engine=how)
        note = ""
        if exhaustive and space.rendered():
            status = Status.TESTED
            note = "the requests are rendered from a corpus, which samples the substance: TESTED, not PROVED"
        elif exhaustive and self.impl.deterministic:
            status = Status.PROVED
        elif exhaustive:
            status = Status.TESTED
            note = "the implementation is not declared deterministic, so this is not a proof"
        else:
            status = Status.TESTED
        summary = TestSummary(n, exhaustive, size, how, note)
        warnings = ()
        if space.fixed:
            held = ", ".join(f"{k} = {_show(v)}" for k, v in space.fixed.items())
            details["fixed"] = dict(space.fixed)
            warnings = (f"only with {held} held fixed; other values were not tried",)
        return self._result(prop, status, start, proof=summary, details=details, engine=how, warnings=warnings)

    def _result(self, prop, status, start, *, engine="", **kw) -> CheckResult:
        return CheckResult(self.impl.name, prop.text, status, time.perf_counter() - start,
                           engine=f"libet.testing ({engine})" if engine else "libet.testing", **kw)

    def _confirm(self, prop, cex: ConformanceCounterexample):
        """Replay the counterexample on the implementation: the same answers, or a reason.

        A pair whose two requests are one and the same call (the same state, or the same text)
        shows no violation: a deterministic implementation cannot answer one request two ways.
        The replay asks a pair's requests in the other order, so that an answer that depends on
        the calls before it (a counter, a cache) is caught too."""
        rendered = self.space.rendered()
        if len(cex.requests) == 2 and _same_call(*cex.requests, rendered):
            return _nondeterministic_same(*cex.requests, *cex.answers, rendered)
        again = tuple(self.impl(r, rendered) for r in reversed(cex.requests))[::-1]
        if any(abs(a - b) > TOLERANCE for a, b in zip(again, cex.answers)):
            return _nondeterministic(cex.requests, cex.answers, again)
        return cex

    # -- exhaustive ----------------------------------------------------------------------------

    def _exhaustive(self, prop: Property, progress):
        space = self.space
        total = space.size(prop.harmful)
        n = 0
        if prop.kind == "invariant":
            varied = {space.index[v] for v in prop.under}
            if prop.depth:
                varied.add(space.index["depth"])
            if prop.phase:
                varied.add(space.index["phase"])
            keep = [i for i in range(len(space.names)) if i not in varied]
            first: dict = {}
            for point in space.points(None):
                n += 1
                if progress and n % 4096 == 0:
                    progress(n, total)
                key = tuple(point[i] for i in keep)
                req, v = self.answer(point)
                seen = first.get(key)
                if seen is None:
                    first[key] = (req, v)
                elif abs(seen[1] - v) > TOLERANCE:
                    return ConformanceCounterexample(prop.text, (seen[0], req), (seen[1], v),
                                                     differ=_differ(seen[0], req)), n
            return None, n
        for point in space.points(prop.harmful):
            n += 1
            if progress and n % 4096 == 0:
                progress(n, total)
            cex = self.failure(prop, (point,))
            if cex is not None:
                return cex, n
        return None, n

    # -- sampling, shrinking, the example database ----------------------------------------------

    def _key(self, prop: Property) -> bytes:
        key = "\x00".join(["libet.testing", self.spec.title, prop.text, self.impl.name, repr(self.space.rendered()),
                           repr(sorted(self.space.fixed.items()))])
        return hashlib.sha256(key.encode()).digest()

    def _db(self):
        if self.database is None:
            return None
        if self.database == "default":
            from hypothesis import settings

            return settings.default.database
        if isinstance(self.database, (str, bytes)) or hasattr(self.database, "__fspath__"):
            from hypothesis.database import DirectoryBasedExampleDatabase

            return DirectoryBasedExampleDatabase(self.database)
        return self.database

    def _varied(self, prop: Property) -> list[int]:
        idx = {self.space.index[v] for v in prop.under}
        if prop.depth:
            idx.add(self.space.index["depth"])
        if prop.phase:
            idx.add(self.space.index["phase"])
        return sorted(idx)

    def _valid(self, prop: Property, points) -> bool:
        space = self.space
        allowed = set(space.substance_indices(prop.harmful))
        for p in points:
            if len(p) != len(space.values) or p[0] not in allowed:
                return False
            if any(v not in vals or type(v) is not type(vals[0]) for v, vals in zip(p[1:], space.values[1:])):
                return False
        return True

    def _sample(self, prop: Property, progress):
        import json
        import random

        space = self.space
        key = self._key(prop)
        db = self._db()
        fails = lambda pts: self.failure(prop, pts) is not None  # noqa: E731
        if db is not None:
            for blob in list(db.fetch(key)):
                try:
                    points = tuple(tuple(p) for p in json.loads(blob.decode()))
                except (ValueError, UnicodeDecodeError, TypeError):
                    db.delete(key, blob)
                    continue
                if not self._valid(prop, points) or not fails(points):
                    db.delete(key, blob)
                    continue
                shrunk = self._shrink(prop, points, fails)
                return self.failure(prop, shrunk), 1, "replayed from the example database, shrunk"
        rng = random.Random(f"libet.testing\x00{self.seed}\x00{prop.text}")
        subst = space.substance_indices(prop.harmful)
        dims = space.values[1:]
        varied = self._varied(prop) if prop.kind == "invariant" else []
        choice = rng.choice
        for n in range(1, self.examples + 1):
            x = (choice(subst),) + tuple(choice(v) for v in dims)
            if varied:
                y = list(x)
                for i in varied:
                    y[i] = choice(space.values[i])
                points = (x, tuple(y))
            else:
                points = (x,)
            if progress and n % 1024 == 0:
                progress(n, self.examples)
            try:
                failed = fails(points)
            except ImplementationError as exc:
                self._raise_smallest_error(prop, points, exc)
            if failed:
                shrunk = self._shrink(prop, points, fails)
                if db is not None:
                    db.save(key, json.dumps([list(p) for p in shrunk]).encode())
                return self.failure(prop, shrunk), n, f"sampling, seed {self.seed}, shrunk"
        return None, self.examples, f"sampling, seed {self.seed}"

    def _raise_smallest_error(self, prop: Property, points, error: ImplementationError):
        """The implementation failed on ``points`` with ``error``: raise its error for the
        smallest requests that still make it fail (shrunk as a counterexample is, for at most
        ``ERROR_SHRINK_SECONDS``). A timeout is raised at once: every attempt to shrink it would
        wait the whole timeout again; and shrinking stops at a candidate that times out."""
        if isinstance(error, ImplementationTimeout):
            raise error
        last = [error]  # the error of the last candidate that failed, which is the one kept
        stopped = [False]

        def errs(pts) -> bool:
            if stopped[0]:
                return False
            try:
                self.failure(prop, pts)
            except ImplementationTimeout:
                stopped[0] = True
                return False
            except ImplementationError as exc:
                last[0] = exc
                return True
            return False

        self._shrink(prop, points, errs, seconds=ERROR_SHRINK_SECONDS)
        raise last[0]

    def _shrink(self, prop: Property, points, fails, seconds: float | None = None) -> tuple:
        """Greedy shrinking over the ordered finite dimensions: each coordinate towards the first
        value of its domain (the substance towards the first row or assignment), and a pair's
        second request towards the first (so they differ in as few variables as possible).
        At most 4096 attempts, and with ``seconds`` no attempt after that many seconds."""
        deadline = None if seconds is None else time.perf_counter() + seconds
        space = self.space
        subst = space.substance_indices(prop.harmful)
        candidates = [subst] + [list(v) for v in space.values[1:]]
        varied = set(self._varied(prop)) if prop.kind == "invariant" else set()
        cur = [list(p) for p in points]
        budget = [4096]

        def attempt(new) -> bool:
            budget[0] -= 1
            if deadline is not None and time.perf_counter() > deadline:
                budget[0] = 0
            t = tuple(tuple(p) for p in new)
            return budget[0] >= 0 and fails(t)

        changed = True
        while changed and budget[0] > 0:
            changed = False
            if len(cur) == 2:  # make the second request agree with the first where it can
                for i in sorted(varied):
                    if cur[1][i] != cur[0][i]:
                        new = [cur[0], list(cur[1])]
                        new[1][i] = cur[0][i]
                        if attempt(new):
                            cur, changed = new, True
            for i, vals in enumerate(candidates):
                for j in (0, 1):
                    if j == 1 and i not in varied:
                        continue
                    if j >= len(cur):
                        continue
                    pos = vals.index(cur[j][i]) if cur[j][i] in vals else 0
                    for v in vals[:pos]:
                        new = [list(p) for p in cur]
                        new[j][i] = v
                        if len(cur) == 2 and j == 0 and i not in varied:
                            new[1][i] = v
                        if attempt(new):
                            cur, changed = new, True
                            break
        if len(cur) == 2 and tuple(self._order(cur[1])) < tuple(self._order(cur[0])):
            cur = [cur[1], cur[0]]  # invariance is symmetric: show the smaller request first
        return tuple(tuple(p) for p in cur)

    def _order(self, point) -> list[int]:
        return [point[0]] + [list(v).index(x) for v, x in zip(self.space.values[1:], point[1:])]

    # -- Hypothesis ---------------------------------------------------------------------------

    def _strategy(self, prop: Property):
        from hypothesis import strategies as st

        space = self.space
        subst = space.substance_indices(prop.harmful)
        dims = [st.sampled_from(subst)] + [st.sampled_from(v) for v in space.values[1:]]
        point = st.tuples(*dims)
        if prop.kind != "invariant":
            return point.map(lambda p: (p,))
        varied = [space.index[v] for v in prop.under]
        if prop.depth:
            varied.append(space.index["depth"])
        if prop.phase:
            varied.append(space.index["phase"])
        varied.sort()

        def pair(drawn):
            x, alt = drawn
            y = list(x)
            for i, v in zip(varied, alt):
                y[i] = v
            return x, tuple(y)

        return st.tuples(point, st.tuples(*(dims[i] for i in varied))).map(pair)

    def _hypothesis(self, prop: Property, progress):
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from hypothesis import seed as hseed
        from hypothesis.errors import Flaky

        found: list = []
        count = [0]
        first_failure = [0]
        total = self.examples
        hung: list = []  # a timeout ends the search: Hypothesis's shrinking would wait it out again and again

        def test(points):
            if hung:
                raise hung[0]
            count[0] += 1
            if progress and count[0] % 256 == 0:
                progress(min(count[0], total), total)
            try:
                cex = self.failure(prop, points)
            except ImplementationTimeout as exc:
                hung.append(exc)
                raise
            if cex is not None:
                if not found:
                    first_failure[0] = count[0]
                found.append(cex)
                raise _Found()

        db = self.database
        kwargs = dict(
            max_examples=self.examples,
            deadline=None,
            verbosity=Verbosity.quiet,
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
            derandomize=False,
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        )
        if db != "default":
            kwargs["database"] = db
        wrapped = hseed(self.seed)(settings(**kwargs)(given(self._strategy(prop))(test)))
        key = "\x00".join([self.spec.title, prop.text, self.impl.name, repr(self.space.rendered()),
                           repr(sorted(self.space.fixed.items()))])
        wrapped._hypothesis_internal_add_digest = hashlib.sha256(key.encode()).digest()
        try:
            wrapped()
        except _Found:
            return found[-1], first_failure[0]
        except Flaky as exc:
            if found:
                c = found[0]
                return _nondeterministic(c.requests, c.answers, None, str(exc).splitlines()[0]), count[0]
            raise
        except ImplementationError:
            if hung:
                raise hung[0] from None
            raise
        return None, count[0]


def _nondeterministic(requests, first, again, extra: str = "") -> str:
    shown = "; ".join(r.describe() for r in requests)
    if again is not None:
        answers = f"answered {', '.join(f'{x:g}' for x in first)}, then {', '.join(f'{x:g}' for x in again)}"
    else:
        answers = "answered differently when the failing example was replayed"
    return (f"the implementation is not deterministic: on {shown} it {answers}; test it as a stochastic "
            "implementation (samples=K, or --samples K) to estimate its veto probabilities")


def _same_call(a: Request, b: Request, rendered: bool) -> bool:
    """Whether the implementation was called with the same argument for both requests."""
    return a.text == b.text if rendered else a.state == b.state


def _nondeterministic_same(a: Request, b: Request, x: float, y: float, rendered: bool) -> str:
    if rendered and a.state != b.state:
        shown = f"{a.describe()} and {b.describe()}, which are the same text,"
    else:
        shown = a.describe()
    return (f"the implementation is not deterministic: on {shown} it answered {x:g}, then {y:g} (the same request, "
            "two answers); test it as a stochastic implementation (samples=K, or --samples K) to estimate its veto "
            "probabilities")


def _differ(a: Request, b: Request) -> tuple[str, ...]:
    out = [f"{n}: {_show(v)} / {_show(b.state.assignment[n])}" for n, v in a.state.assignment.items()
           if b.state.assignment[n] != v]
    if a.state.depth != b.state.depth:
        out.append(f"depth: {a.state.depth} / {b.state.depth}")
    return tuple(out)


# ---- the public entry points -------------------------------------------------------------------


@attrs.frozen
class Report:
    """The results of testing one implementation: ``results`` (one :class:`CheckResult` per
    property), ``skipped`` (checks of the spec that are not about the veto alone, with why)."""

    implementation: str
    results: tuple[CheckResult, ...]
    skipped: tuple[str, ...] = ()
    seed: int = 0
    measurement: Any = None

    @property
    def ok(self) -> bool:
        return all(r.status in (Status.PROVED, Status.TESTED) for r in self.results)

    def exit_code(self) -> int:
        from libet.results import exit_code

        return exit_code(self.results)

    def to_json(self) -> dict:
        out = {"implementation": self.implementation, "seed": self.seed, "results": [r.to_json() for r in self.results],
               "skipped": list(self.skipped)}
        if self.measurement is not None:
            out["measurement"] = self.measurement.to_json()
        return out

    def describe(self) -> str:
        from libet.testing.render import render

        return render(self)


def conform(spec, veto: Callable, *, properties: Iterable[str] | None = None, policy: str | None = None,
            renderer=None, corpus=None, bindings=None, variants: int = 1, examples: int = DEFAULT_EXAMPLES,
            seed: int = 0, exhaustive_limit: int = DEFAULT_EXHAUSTIVE_LIMIT, deterministic: bool | None = None,
            timeout: float | None = None, fixed: Mapping | None = None, params: Mapping | None = None,
            samples: int = 1, confidence: float = 0.95, database: Any = "default", name: str | None = None,
            max_depth: int | None = None, search: str = "sample", by_value: bool = False,
            progress: Callable | None = None) -> Report:
    """Test the veto implementation ``veto`` against ``spec``'s properties.

    Args:
        spec: a :class:`libet.Specification` (``libet.load(path)``) or its IR.
        veto: the implementation: called with a :class:`State` (no renderer) or with the
            request text (with a corpus); returns a bool or a veto probability in [0, 1].
        properties: the properties as words (``"invariant under framing"``, ``"complete"``,
            ``"no over-refusal"``, ``"agrees with deep"``); default: the spec's qualitative
            checks (of ``policy`` when given, plus ``agrees with policy``).
        policy: the spec policy the implementation is meant to implement.
        renderer, corpus, bindings, variants: concrete requests: a
            :class:`~libet.testing.requests.Renderer`, or a corpus (path or
            :class:`~libet.testing.requests.Corpus`) and bindings (path or dict) to build one.
        examples, seed: the budget (examples per property) and seed of the search.
        search: ``"sample"`` (default) or ``"hypothesis"`` (see ``SEARCHES``).
        by_value: split each ``invariant under`` one variable into one property per value
            after the first: ``invariant under encoding (plain vs leet)``, so the report says
            which framings the implementation is and is not invariant under.
        exhaustive_limit: enumerate every point when the domain has at most this many.
        deterministic: declare that the implementation always answers a request the same way.
        timeout: seconds per call.
        fixed: variables held at one value; params: the spec's param overrides.
        samples, confidence: for a stochastic implementation, calls per request and the
            confidence of its intervals (see :mod:`libet.testing.stochastic`).
        database: Hypothesis's example database (default: its own, ``.hypothesis/`` in the
            working folder; ``None`` for none).
        max_depth: the largest depth tried (default: below the horizon; 63 when unbounded).

    Returns:
        a :class:`Report`.
    """
    for value, what, least in ((examples, "examples", 1), (exhaustive_limit, "exhaustive_limit", 0),
                               (samples, "samples", 1), (variants, "variants", 1)):
        check_whole(value, what, least)
    check_confidence(confidence)
    ir_spec = as_ir(spec)
    renderer = _renderer(ir_spec, renderer, corpus, bindings, variants, seed)
    impl = veto if isinstance(veto, Implementation) else Implementation(
        veto, name=name, timeout=timeout, deterministic=deterministic)
    if properties is None:
        props, skipped = spec_properties(ir_spec, policy)
    else:
        props = [parse_property(ir_spec, p) if isinstance(p, str) else p for p in properties]
        skipped = []
        if policy is not None and not any(p.kind == "agrees" for p in props):
            props.append(parse_property(ir_spec, f"agrees with {policy}"))
    if by_value:
        props = _by_value(ir_spec, props)
    if not props:
        raise UsageError("no property to test", hint="name one (--property 'invariant under framing') or a --policy whose "
                         "checks the spec states")
    if samples > 1:
        from libet.testing.stochastic import measure_and_judge

        results, measurement = measure_and_judge(ir_spec, impl, props, renderer=renderer, fixed=fixed, params=params,
                                                 samples=samples, confidence=confidence, seed=seed,
                                                 limit=exhaustive_limit, max_depth=max_depth, progress=progress)
        return Report(impl.name, tuple(results), tuple(skipped), seed, measurement)
    tester = Tester(ir_spec, impl, renderer=renderer, fixed=fixed, params=params, examples=examples, seed=seed,
                    exhaustive_limit=exhaustive_limit, database=database, max_depth=max_depth, search=search)
    results = []
    for p in props:
        results.append(tester.run(p, (lambda done, total, p=p: progress(p.text, done, total)) if progress else None))
    return Report(impl.name, tuple(results), tuple(skipped), seed)


def check_confidence(confidence) -> float:
    """The confidence of intervals: strictly between 0 and 1, or a UsageError."""
    if isinstance(confidence, bool) or not isinstance(confidence, Real) or not 0 < confidence < 1:
        raise UsageError(f"confidence must lie strictly between 0 and 1, not {confidence!r}", "e.g. confidence=0.95")
    return float(confidence)


def _by_value(spec: ir.Spec, props: list[Property]) -> list[Property]:
    out = []
    for p in props:
        if p.kind != "invariant" or p.depth or len(p.under) != 1:
            out.append(p)
            continue
        (name,) = p.under
        values = spec.variables[name].domain.values()
        for v in values[1:]:
            text = f"{p.text} ({_show(values[0])} vs {_show(v)})"
            out.append(attrs.evolve(p, text=text, only=((name, (values[0], v)),)))
    return out


def _renderer(spec, renderer, corpus, bindings, variants, seed):
    if renderer is not None:
        return renderer
    if corpus is None and bindings is None:
        return None
    from libet.testing.requests import Renderer

    if corpus is None:
        raise UsageError("bindings render a corpus; give a corpus too", hint="--corpus FILE (CSV or JSONL)")
    return Renderer.build(spec, corpus, bindings, variants=variants, seed=seed)


class ConformanceError(AssertionError):
    """Raised by :func:`assert_conforms`: the message shows every shrunk counterexample."""


def assert_conforms(spec, veto: Callable, *, allow_unknown: bool = False, **kwargs) -> Report:
    """:func:`conform`, for tests: raises :class:`ConformanceError` (an ``AssertionError``) when a
    property is VIOLATED (or UNKNOWN, unless ``allow_unknown``), with the shrunk
    counterexample in the message; returns the :class:`Report` otherwise."""
    report = conform(spec, veto, **kwargs)
    bad = [r for r in report.results if r.status is Status.VIOLATED or (r.status is Status.UNKNOWN and not allow_unknown)]
    if bad:
        from libet.testing.render import render

        lines = [f"{report.implementation} does not conform to the spec:"]
        lines.append(render(attrs.evolve(report, results=tuple(bad))))
        raise ConformanceError("\n".join(lines))
    return report
