"""The serving process freezes its start-up heap (kiebot.runtime.heap): a later full collection
walks only what was made since, which keeps the webhook's pauses short."""

from __future__ import annotations

import gc

from kiebot.runtime.heap import freeze_startup_heap


def test_start_up_objects_leave_the_collected_generations() -> None:
    kept = [[i] for i in range(1000)]  # start-up state: long-lived containers
    try:
        frozen = freeze_startup_heap()
        assert frozen >= len(kept)
        assert gc.get_freeze_count() == frozen
        # What the collector still tracks is what was made after the freeze, not the kept lists.
        assert not any(obj is kept for obj in gc.get_objects(generation=2))
    finally:
        gc.unfreeze()  # the test process's own heap goes back as it was
