"""Z3 formulas (inductive invariants) rendered in the spec's own terms.

Consumes: a quantifier-free Z3 formula over the symbols the encoder (:mod:`libet.proofs.domains`)
created, and a map from symbol names to (spec name, enum members or None).
Produces: text such as ``phase in {answer} and depth >= 5 or topic in {everyday, chemistry}``.

This module reads Z3 terms only to print them; it never builds terms from the IR.
"""

from __future__ import annotations

import z3


def z3_text(f, names: dict) -> str:
    return _t(f, names, 0)


_OPS = {
    z3.Z3_OP_LE: "<=",
    z3.Z3_OP_GE: ">=",
    z3.Z3_OP_LT: "<",
    z3.Z3_OP_GT: ">",
    z3.Z3_OP_EQ: "==",
}
_FLIP = {"<=": ">=", ">=": "<=", "<": ">", ">": "<", "==": "=="}


def _num(t):
    if z3.is_int_value(t):
        return t.as_long()
    if z3.is_rational_value(t):
        return t.as_fraction()
    return None


def _t(f, names, level) -> str:
    if z3.is_true(f):
        return "true"
    if z3.is_false(f):
        return "false"
    if z3.is_and(f):
        s = " and ".join(_t(c, names, 2) for c in f.children())
        return f"({s})" if level > 2 else s
    if z3.is_or(f):
        s = " or ".join(_t(c, names, 1) for c in f.children())
        return f"({s})" if level > 1 else s
    if z3.is_not(f):
        inner = f.children()[0]
        members = _enum_members(inner, names)
        if members is not None:
            name, idx, all_members = members
            rest = [i for i in range(len(all_members)) if i not in idx]
            return _set_text(name, all_members, rest)
        if z3.is_eq(inner):
            return _t(inner, names, 3).replace(" == ", " != ", 1)
        return "not " + _t(inner, names, 3)
    if z3.is_implies(f):
        a, b = f.children()
        return f"({_t(a, names, 1)} implies {_t(b, names, 1)})"
    if z3.is_app(f) and f.decl().kind() in _OPS and f.num_args() == 2:
        members = _enum_members(f, names)
        if members is not None:
            name, idx, all_members = members
            return _set_text(name, all_members, idx)
        op = _OPS[f.decl().kind()]
        a, b = f.children()
        if _num(a) is not None and _num(b) is None:
            a, b, op = b, a, _FLIP[op]
        return f"{_term(a, names)} {op} {_term(b, names)}"
    if z3.is_const(f) and str(f) in names:
        return names[str(f)][0]
    return _term(f, names)


def _enum_members(f, names):
    """(name, indices, members) when ``f`` compares an enum (or phase) index with a number."""
    if not (z3.is_app(f) and f.decl().kind() in _OPS and f.num_args() == 2):
        return None
    op = _OPS[f.decl().kind()]
    a, b = f.children()
    if _num(a) is not None and _num(b) is None:
        a, b, op = b, a, _FLIP[op]
    key = str(a)
    if key not in names or names[key][1] is None or _num(b) is None:
        return None
    name, members = names[key]
    k = _num(b)
    test = {"==": k.__eq__, "<=": k.__ge__, "<": k.__gt__, ">=": k.__le__, ">": k.__lt__}[op]
    return name, [i for i in range(len(members)) if test(i)], members


def _set_text(name: str, members, idx) -> str:
    if not idx:
        return "false"
    if len(idx) == len(members):
        return "true"
    if len(idx) == 1:
        return f"{name} == {members[idx[0]]}"
    return f"{name} in {{{', '.join(members[i] for i in idx)}}}"


def _term(t, names) -> str:
    n = _num(t)
    if n is not None:
        return str(n)
    if z3.is_const(t):
        key = str(t)
        return names[key][0] if key in names else key
    if z3.is_add(t):
        return " + ".join(_term(c, names) for c in t.children())
    if z3.is_mul(t):
        return " * ".join(_wrap(c, names) for c in t.children())
    if z3.is_sub(t):
        return " - ".join(_wrap(c, names) for c in t.children())
    if z3.is_to_real(t):
        return _term(t.children()[0], names)
    return str(t)


def _wrap(t, names) -> str:
    s = _term(t, names)
    return f"({s})" if (z3.is_add(t) or z3.is_sub(t)) else s
