"""Start-up settles the collector (issue 13): what lives on is frozen out of full collections,
start-up's garbage is collected first rather than frozen for good."""

from __future__ import annotations

import gc
import weakref

from bot.collector import settle_after_start


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_settling_freezes_what_lives_and_collects_the_garbage_first() -> None:
    garbage, kept = Node(), Node()
    gone = weakref.ref(garbage)
    del garbage
    gc.unfreeze()  # whatever else froze before: this test counts its own
    try:
        settle_after_start()
        assert gone() is None  # collected, not frozen
        assert gc.get_freeze_count() > 0
        assert kept not in gc.get_objects()  # out of every generation the collector walks
    finally:
        gc.unfreeze()
