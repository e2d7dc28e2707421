"""`use "file"`: sharing declarations between files."""

from __future__ import annotations

import pytest

import libet


def write(tmp_path, name, text):
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_use_shares_variables_values_and_policies(tmp_path):
    write(tmp_path, "lib/values.libet", "substance { topic: {a, weapons} }\nvalue no_weapons = topic != weapons\n"
                                          "policy deep { veto when violates no_weapons }\n")
    main = write(tmp_path, "main.libet", 'use "lib/values.libet"\nframing { f: bool }\n'
                                         "policy shallow { veto when violates no_weapons and not f }\n"
                                         "check deep, shallow { invariant under f }\n")
    spec = libet.load(main).ir
    assert list(spec.variables) == ["topic", "f"] and list(spec.values) == ["no_weapons"]
    assert set(spec.policies) == {"shallow", "deep"}
    assert spec.files == (str(main), str(tmp_path / "lib/values.libet"))


def test_paths_resolve_relative_to_the_using_file(tmp_path):
    write(tmp_path, "a/b/base.libet", "substance { x: bool }\n")
    write(tmp_path, "a/mid.libet", 'use "b/base.libet"\nvalue v = x\n')
    main = write(tmp_path, "main.libet", 'use "a/mid.libet"\npolicy p { veto when violates v }\n')
    assert set(libet.load(main).ir.values) == {"v"}


def test_a_file_used_twice_is_read_once(tmp_path):
    write(tmp_path, "base.libet", "substance { x: bool }\n")
    write(tmp_path, "one.libet", 'use "base.libet"\nvalue v1 = x\n')
    write(tmp_path, "two.libet", 'use "base.libet"\nvalue v2 = not x\n')
    main = write(tmp_path, "main.libet", 'use "one.libet"\nuse "two.libet"\npolicy p { veto when harmful }\n')
    assert set(libet.load(main).ir.values) == {"v1", "v2"}


def test_missing_used_file_is_located_at_the_use(tmp_path):
    main = write(tmp_path, "main.libet", 'substance { x: bool }\nuse "gone.libet"\n')
    with pytest.raises(libet.SpecError) as info:
        libet.load(main)
    (d,) = info.value.diagnostics
    assert d.code == "E070" and d.span.line == 2 and "gone.libet" in d.message


def test_cycle_is_an_error_naming_the_chain(tmp_path):
    write(tmp_path, "a.libet", 'use "b.libet"\nsubstance { x: bool }\n')
    write(tmp_path, "b.libet", 'use "c.libet"\n')
    write(tmp_path, "c.libet", 'use "a.libet"\n')
    with pytest.raises(libet.SpecError) as info:
        libet.load(tmp_path / "a.libet")
    (d,) = info.value.diagnostics
    assert d.code == "E070" and d.message == "import cycle: a.libet -> b.libet -> c.libet -> a.libet"
    assert d.span.file == str(tmp_path / "c.libet")


def test_used_file_may_not_hold_a_trajectory(tmp_path):
    write(tmp_path, "lib.libet", "substance { x: bool }\ntrajectory { horizon 2 start a phase a { -> deliver : 1 } }\n")
    main = write(tmp_path, "main.libet", 'use "lib.libet"\nvalue v = x\n')
    with pytest.raises(libet.SpecError) as info:
        libet.load(main)
    (d,) = info.value.diagnostics
    assert d.code == "E070" and d.message == "a used file cannot declare a trajectory"
    assert d.notes[0].span.file == str(main)


def test_errors_in_a_used_file_are_located_in_that_file(tmp_path):
    write(tmp_path, "lib.libet", "substance { x: bool }\nvalue v = y\n")
    main = write(tmp_path, "main.libet", 'use "lib.libet"\npolicy p { veto when violates v }\n')
    with pytest.raises(libet.SpecError) as info:
        libet.load(main)
    assert [(d.code, d.span.file, d.span.line) for d in info.value.diagnostics] == [("E010", str(tmp_path / "lib.libet"), 2)]
    assert "    2 | value v = y" in info.value.render()


def test_duplicate_across_files(tmp_path):
    write(tmp_path, "lib.libet", "substance { x: bool }\n")
    main = write(tmp_path, "main.libet", 'use "lib.libet"\ncontext { x: bool }\nvalue v = x\n')
    with pytest.raises(libet.SpecError) as info:
        libet.load(main)
    (d,) = info.value.diagnostics
    assert d.code == "E011" and d.span.file == str(main)
    assert d.notes[0].span.file == str(tmp_path / "lib.libet")


def test_a_chain_of_1500_used_files_loads_deepest_first(tmp_path):
    # a chain of `use` lines is a user-controlled depth: the loader walks it without recursion
    n = 1500
    for i in range(n):
        below = f'use "f{i + 1}.libet"\ndef d{i} = d{i + 1} + 1\n' if i + 1 < n else f"def d{i} = 1\n"
        write(tmp_path, f"f{i}.libet", below)
    main = write(tmp_path, "main.libet", 'use "f0.libet"\nsubstance { x: bool }\nvalue v = x and d0 > 1\n'
                                         "policy p { veto when violates v }\n")
    spec = libet.load(main).ir
    assert list(spec.defs) == [f"d{i}" for i in reversed(range(n))]
    assert len(spec.files) == n + 1


def test_used_file_may_not_hold_an_experiment(tmp_path):
    write(tmp_path, "lib.libet", "experiment e { policies p measure P(harm) }\n")
    main = write(tmp_path, "main.libet", 'use "lib.libet"\nsubstance { x: bool }\npolicy p { veto when x }\n')
    with pytest.raises(libet.SpecError) as info:
        libet.load(main)
    assert [d.message for d in info.value.diagnostics if d.code == "E070"] == ["a used file cannot declare an experiment"]


@pytest.mark.parametrize("path", ["", "  "])
def test_an_empty_use_path_names_no_file(tmp_path, path):
    """`use ""` was joined to the using file's folder and said ". is a folder, not a spec file"."""
    main = write(tmp_path, "main.libet", f'use "{path}"\nsubstance {{ a: bool }}\n')
    with pytest.raises(libet.SpecError) as info:
        libet.load(main)
    (d,) = info.value.diagnostics
    assert d.code == "E070" and d.message == "`use` names no file: the path is empty" and d.span.line == 1
