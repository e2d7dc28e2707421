"""Test configuration: tests import the shared strategies as `strategies`, and run from the
repository root so example paths resolve."""

import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(pathlib.Path(__file__).parent))
os.chdir(ROOT)


import pytest  # noqa: E402


@pytest.fixture(params=["numpy", "compiled"])
def recurrence(request, monkeypatch):
    """Run the exact engine's recurrence each way (simulator/compiled.py): numpy's blocked
    composition of affine maps, and the compiled loop (simulator/_recurrence.c, which the
    install builds)."""
    monkeypatch.setenv("LIBET_COMPILED", "0" if request.param == "numpy" else "1")
    return request.param
