"""Writing files: atomically, and never over what a user had without being asked.

Consumes: a path and the data to write.
Produces: the file, complete or not at all; JSON for libet's results.

A neutral module: the engines (proofs/, simulator/) and the CLI both write through it, so no
engine imports the command-line layer.
"""

from __future__ import annotations

import os
import stat
import tempfile

from libet.errors import UsageError


def json_default(o):
    """JSON for what libet's results hold (``json.dumps(..., default=json_default)``):
    Fractions as floats, results through their ``to_json``, enums by value."""
    from fractions import Fraction

    if isinstance(o, Fraction):
        return float(o)
    if hasattr(o, "to_json"):
        return o.to_json()
    if hasattr(o, "value") and hasattr(o, "name"):  # enums
        return o.value
    raise TypeError(f"cannot serialise {type(o).__name__}")


def json_text(obj) -> str:
    """The JSON text (indented) of libet's results, every number finite: JSON has no NaN or
    Infinity (Python's ``json`` writes them anyway, and strict readers refuse the file), so an
    infinite log-likelihood or an undefined ratio is ``null``."""
    import json

    return json.dumps(_finite(obj), indent=2, default=lambda o: _finite(json_default(o)), allow_nan=False)


def _finite(obj):
    """``obj`` with each non-finite float (NaN, ±inf) in its dicts, lists and tuples None."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def read_capped(path: str, limit: int) -> bytes:
    """The bytes of ``path``, or its first ``limit + 1`` when it has more: a caller refusing
    what passes ``limit`` never holds more than that. A device or a pipe (``/dev/zero``, named
    as a spec or in a ``use``) has no size to ask first, and reading it whole filled the memory.

    Raises:
        OSError: as ``open`` and ``read``.
    """
    with open(path, "rb") as fh:
        return fh.read(limit + 1)


def write_atomic(path: str, data: str | bytes, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so
    a reader never sees a half-written file. A symbolic link is written through: its target
    gets the text and the link stays a link. A file overwritten keeps its permissions (``libet
    fmt`` on a file of mode 0600 or 0755 leaves it so); a new one gets those a plain open()
    would give it.

    Raises:
        UsageError: if ``path`` exists and ``overwrite`` is False.
    """
    if not overwrite and os.path.exists(path):
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    if os.path.islink(path):  # write through the link, as an editor does: the rename replaced it
        path = os.path.realpath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".libet-", suffix=".tmp")
    try:
        # text as it is: no newline translation (a file of "\r\n" endings keeps them, and no other gets them)
        with os.fdopen(fd, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8", "newline": ""})) as fh:
            fh.write(data)
        # mkstemp makes the file private (0600): give it the one it replaces' mode, or the mode
        # a plain open() would
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check_folder(path: str, force: bool) -> None:
    """Refuse to write into an existing folder ``path`` unless ``force``; refuse a file there.

    Raises:
        UsageError: ``path`` exists and ``force`` is not given, or it is not a folder.
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{path} exists and is not a folder", "choose another folder")
    if os.path.exists(path) and not force:
        raise UsageError(f"{path} exists; pass --force to write into it", "or choose another folder")
