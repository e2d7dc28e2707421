"""The ``libet`` subcommands that drive the engines, each a thin layer over the facade
(:mod:`libet.orchestrate`, :mod:`libet.api`): they parse options, call it, and render what it
returns. Loaded lazily by :mod:`libet.cli`, so ``libet check`` starts without Z3 or numpy."""
