"""Test configuration: tests import the shared strategies as `strategies`, and run from the
repository root so example paths resolve."""

import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(pathlib.Path(__file__).parent))
os.chdir(ROOT)
