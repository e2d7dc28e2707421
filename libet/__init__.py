"""libet: a trajectory-governance specification language with a Z3 checker and a Markov
trajectory simulator.

Start with :func:`load`, which returns a :class:`Specification`::

    import libet
    spec = libet.load("examples/prefill.libet")

Every exception libet raises on purpose derives from :class:`LibetError`.
"""

from importlib.metadata import PackageNotFoundError, version

from libet.api import Specification, load, loads
from libet.errors import EvaluationError, LibetError, SpecError, UsageError

try:
    __version__ = version("libet")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = [
    "EvaluationError",
    "LibetError",
    "SpecError",
    "Specification",
    "UsageError",
    "load",
    "loads",
    "__version__",
]
