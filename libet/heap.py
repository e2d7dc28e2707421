"""Python's cyclic garbage collector around work that builds a large heap.

A full collection walks every live object. While a long spec loads, its parse tree, AST and
IR are live and growing, so each full collection the allocations trigger walks all of them
again: on the 11,100-line benchmark spec that was a fifth of ``libet check``'s time
(docs/benchmarks.md). And a full collection cannot be interrupted, so in a process with a
large heap (a notebook, a test worker) one of them can outlast a proof's short budget.

:func:`no_full_collection` holds full collections off for a block: the oldest generation's
threshold is raised and then restored. Young collections go on, so short-lived garbage is
still reclaimed; what reaches the oldest generation waits for the first full collection after
the block. (Freezing the heap instead leaked: in a loop of checks, what one left was frozen
again by the next before any collection could reclaim it.)

:func:`collected_after` is the other half, for a loop of such blocks: a proof leaves its Z3
context in reference cycles (an encoder and its dispatch table, closures over terms), tens of
megabytes of C memory behind a few thousand Python objects, which no threshold counts. Held
off, they piled up: 2,000 checks of the generated benchmark spec grew past 24 GB. The block
runs with the heap that was there before it frozen; at its end one collection walks only
what the block made, reclaims its cycles, and the heap is unfrozen.
"""

from __future__ import annotations

import atexit
import contextlib
import gc

#: The oldest generation's threshold inside the block: no full collection starts.
_NO_FULL_COLLECTION = 1 << 30


@contextlib.contextmanager
def no_full_collection():
    """No full collection starts inside the block; nested blocks and a caller's own
    threshold are respected (the threshold is restored only if the block left it as set)."""
    young, middle, old = gc.get_threshold()
    if old == _NO_FULL_COLLECTION:  # already inside such a block
        yield
        return
    gc.set_threshold(young, middle, _NO_FULL_COLLECTION)
    try:
        yield
    finally:
        if gc.get_threshold()[2] == _NO_FULL_COLLECTION:  # unless changed meanwhile
            gc.set_threshold(young, middle, old)


@contextlib.contextmanager
def collected_after():
    """At the end of the block, collect the cyclic garbage it made, walking only the objects
    made inside it (the heap before it is frozen meanwhile, then unfrozen). A process that
    froze objects of its own is left as it is: then only the young generations are
    collected."""
    if gc.get_freeze_count():
        yield
        gc.collect(1)
        return
    gc.freeze()
    try:
        yield
        gc.collect()
    finally:
        gc.unfreeze()


def skip_final_walk() -> None:
    """At this process's exit, freeze the heap before the interpreter's final collection, so
    that collection does not walk what the command built (after loading the 11,100-line
    benchmark spec it took a tenth of ``libet check``'s time). For the command line's entry
    points only: a library or test process would keep its frozen objects until it ended."""
    atexit.register(gc.freeze)
