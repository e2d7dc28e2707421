"""The one thing pyproject.toml cannot yet say without an experimental table: the exact
engine's loops in C (simulator/_recurrence.c, used by simulator/compiled.py). It is optional:
without a C compiler the install goes on, and the engine runs them in numpy.

gcc and clang may fuse ``a * b + c`` into one rounding (an FMA) where the CPU has one; the
product's exact rounding errors (Dekker's splitting) need every operation rounded as written,
so they build with ``-ffp-contract=off`` (the loops ask for an FMA explicitly where they use one).
The product's sixteen lanes are vectorised by gcc at ``-O3`` and not at the ``-O2`` some
Pythons build extensions with (3x slower), hence ``-O3``."""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    def build_extensions(self):
        if self.compiler.compiler_type == "unix":
            for ext in self.extensions:
                ext.extra_compile_args += ["-O3", "-ffp-contract=off"]
        super().build_extensions()


setup(
    ext_modules=[Extension("libet.simulator._recurrence", ["simulator/_recurrence.c"], optional=True)],
    cmdclass={"build_ext": BuildExt},
)
