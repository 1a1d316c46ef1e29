"""The garbage collector set for steady latency (issue 13): one call after start-up, in every
process that serves requests or runs jobs; and freed memory given back once a burst is over.

A full collection walks every tracked object the process has; a started taskbot holds about
100,000 that live as long as it does (modules, the app, SQLAlchemy's and pydantic's tables), so
one full pass took 45–85 ms and set the p99 of Home and lists. ``gc.freeze()`` moves them out of
the collector for good: what a full pass then walks is what requests made and kept (a few
thousand objects). A collection first, so that start-up's garbage is not frozen with them.
"""

from __future__ import annotations

import contextlib
import gc


def settle_after_start() -> None:
    """Collect start-up's garbage, then freeze what is left (call once, after start-up)."""
    gc.collect()
    gc.freeze()


def give_back_free_memory() -> None:
    """Return the free pages at the top of glibc's heaps and arenas to the system
    (``malloc_trim``), as a worker does when its queue runs dry: a burst's freed memory
    otherwise stays with the process (1.4-1.6 MB of a worker's RSS after 4,000 requests,
    bench.rss). 0.4 ms a call; a no-op where the C library has no ``malloc_trim``."""
    import ctypes  # here: only a worker that has run out of work needs it

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
