"""Keep the garbage collector's full passes short once the process is serving.

Why (issue 18): the bot's acknowledgements share one event loop with everything else, so a
stop-the-world pause delays every webhook in flight. In ``benchmarks/ingest.py`` CPython's full
(generation 2) collections took 17–67 ms each — they walk every object the process ever kept:
the modules, the model catalogue, the locale tables, the compiled routes, all made at start-up
and alive until exit — and a handful of them in a 4 s run decided the webhook's p99.

:func:`freeze_startup_heap` runs one collection when start-up is over and then moves every
surviving object to the permanent generation (:func:`gc.freeze`): later full passes look only at
what was made since, which is small. Nothing is disabled — cycles made while serving are still
collected; an object made at start-up that later becomes part of unreachable cyclic garbage is
not (start-up objects live for the whole process, so there is little to lose).

Only for the process's own serving loop (``python -m kiebot run``): tests that start many apps in
one interpreter must not freeze each one's objects for good.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Collect once, then freeze what survived; returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("start-up heap frozen", extra={"objects": frozen})
    return frozen
