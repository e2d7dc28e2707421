"""The one thing pyproject.toml cannot yet say without an experimental table: the exact
engine's recurrence in C (simulator/_recurrence.c, used by simulator/compiled.py). It is
optional: without a C compiler the install goes on, and the engine runs the recurrence in
numpy."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("libet.simulator._recurrence", ["simulator/_recurrence.c"], optional=True)])
