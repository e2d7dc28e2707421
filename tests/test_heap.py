"""libet/heap.py: no full collection inside a block, the caller's threshold restored after it;
the cycles a block made collected at its end (a proof run leaves no Z3 context behind);
the loader and the proof runner use it; the command line freezes the heap at exit."""

from __future__ import annotations

import gc
import subprocess
import sys

from libet import heap
from libet.spec import loader


def test_no_full_collection_raises_the_oldest_threshold_and_restores_it():
    before = gc.get_threshold()
    with heap.no_full_collection():
        inside = gc.get_threshold()
        assert inside[:2] == before[:2]
        assert inside[2] > 10**8
        with heap.no_full_collection():  # nested: still raised after the inner block
            pass
        assert gc.get_threshold() == inside
    assert gc.get_threshold() == before


def test_a_threshold_set_inside_the_block_is_kept():
    before = gc.get_threshold()
    try:
        with heap.no_full_collection():
            gc.set_threshold(before[0], before[1], 7)
        assert gc.get_threshold()[2] == 7
    finally:
        gc.set_threshold(*before)


def test_restored_after_an_exception():
    before = gc.get_threshold()
    try:
        with heap.no_full_collection():
            raise KeyError("x")
    except KeyError:
        pass
    assert gc.get_threshold() == before


def test_the_loader_checks_with_full_collections_held_off(monkeypatch):
    seen = []
    real = loader.check

    def spy(order, diags):
        seen.append(gc.get_threshold()[2])
        return real(order, diags)

    monkeypatch.setattr(loader, "check", spy)
    before = gc.get_threshold()
    loaded = loader.load_text('spec "t"\nsubstance { a: bool }\n')
    assert loaded.spec is not None
    assert seen and seen[0] > 10**8
    assert gc.get_threshold() == before


def test_the_command_line_freezes_the_heap_at_exit():
    code = (
        "import atexit, gc\n"
        "from libet import heap\n"
        "heap.skip_final_walk()\n"
        "before = gc.get_freeze_count()\n"
        "atexit._run_exitfuncs()\n"
        "print(before, gc.get_freeze_count() > 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "True"]


class _Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_collected_after_frees_the_cycles_the_block_made_and_walks_nothing_older():
    import weakref

    gc.collect()
    gc.disable()  # no automatic collection: what is freed here, the block freed
    try:
        old = _Node()
        old_ref = weakref.ref(old)
        del old  # garbage from before the block: frozen meanwhile, so not walked
        with heap.collected_after():
            new = _Node()
            new_ref = weakref.ref(new)
            del new
            assert new_ref() is not None
        assert new_ref() is None
        assert old_ref() is not None and gc.get_freeze_count() == 0
        gc.collect()
        assert old_ref() is None
    finally:
        gc.enable()


def test_collected_after_leaves_a_heap_frozen_by_the_process_frozen():
    gc.collect()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with heap.collected_after():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_a_proof_run_leaves_no_z3_context_behind():
    import z3

    import libet
    from libet.proofs import prove

    def contexts():
        return sum(1 for o in gc.get_objects() if isinstance(o, z3.Context))

    spec = libet.load("examples/prefill.libet").ir
    gc.collect()
    gc.disable()
    try:
        before = contexts()
        results = prove(spec)
        assert len(results) >= 3
        assert contexts() == before
    finally:
        gc.enable()
