"""Pausing CPython's cyclic garbage collector through long runs that make many objects and few
cycles: a report's layout, a replay, an import.

Its automatic passes over the oldest generation walk every long-lived object again and again
(the rows a batch unit keeps, a report's flowables): a tenth of such a run's CPU, growing with
what it keeps. A run that goes on collects the young generations itself between batches
(`gc.collect(1)`); what is left is collected once the collector runs again.

A command's start is such a run too: importing SQLAlchemy, the models and the services makes a
few hundred thousand objects that live until exit, and the collector walks them again at every
pass of the oldest generation while they pile up (about a tenth of a cold read command's CPU).
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


class _Startup:
    """Whether the process is still starting with automatic collection paused."""

    paused = False


def pause_for_startup() -> None:
    """No automatic collection while the command starts (its imports, engine, mappers)."""
    gc.disable()
    _Startup.paused = True


def end_startup() -> None:
    """Automatic collection back on, once, the objects made while starting frozen: they live
    until exit, so no pass walks them again. A no-op unless `pause_for_startup` ran."""
    if _Startup.paused:
        _Startup.paused = False
        gc.freeze()
        gc.enable()


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
