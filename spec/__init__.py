"""libet.spec: the language — grammar, parser, AST, checker, IR, interpreter and formatter.

Stages, one module each: :mod:`.parser` (text -> AST), :mod:`.checker` (AST -> IR, with
diagnostics), :mod:`.interpreter` (the reference semantics), :mod:`.formatter` (AST -> canonical
text). :mod:`.loader` wires them together, following ``use`` imports.
"""
