"""libet: a trajectory-governance specification language with a Z3 checker and a Markov
trajectory simulator.

Start with :func:`load`, which returns a :class:`Specification`::

    import libet
    spec = libet.load("examples/prefill.libet")

Every exception libet raises on purpose derives from :class:`LibetError`.
"""

from libet.errors import EvaluationError, LibetError, SpecError, UsageError

_LAZY = {"Specification": "libet.api", "load": "libet.api", "loads": "libet.api"}


def __getattr__(name):
    """``load``, ``loads``, ``Specification`` and ``__version__`` on first use, so that
    ``import libet`` (and every ``libet`` command's start-up) does not pay for the language
    stack or importlib.metadata until they are needed."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("libet")
        except PackageNotFoundError:  # pragma: no cover - a source tree without install
            value = "0.0.0+unknown"
    else:
        raise AttributeError(f"module 'libet' has no attribute {name!r}")
    globals()[name] = value
    return value

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
