"""Pausing CPython's cyclic garbage collector through long runs that make many objects and few
cycles: a report's layout, a replay, an import.

Its automatic passes over the oldest generation walk every long-lived object again and again
(the rows a batch unit keeps, a report's flowables): a tenth of such a run's CPU, growing with
what it keeps. A run that goes on collects the young generations itself between batches
(`gc.collect(1)`); what is left is collected once the collector runs again.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic garbage collection inside the block (restored as it was after)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
