"""Restart a crashing background service with back-off, without touching its siblings.

Trio gives nurseries, not supervisors (trio docs, "Custom supervisors"): an exception in any child
cancels the whole nursery. The web server must never go down because the scheduler hit a bug, so
every background service runs under :func:`supervise`, an Erlang ``one_for_one`` in miniature:

* an ``Exception`` (never ``BaseException`` — that would eat ``trio.Cancelled``) is logged,
  counted in ``kiebot_supervisor_restarts_total{service}`` and the service is restarted after a
  capped exponential back-off with jitter;
* the back-off resets once a run has stayed up for ``healthy_after`` seconds;
* cancellation (shutdown) passes straight through;
* the service's own ``task_status.started()`` is forwarded the first time it starts, so
  ``await nursery.start(supervise, ...)`` keeps the start-up order explicit.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import trio

log = logging.getLogger(__name__)

Service = Callable[..., Awaitable[None]]


class RestartCounter(Protocol):
    def __call__(self, service: str) -> None: ...


def _no_count(service: str) -> None:
    return None


async def supervise(
    name: str,
    service: Service,
    *,
    on_restart: RestartCounter = _no_count,
    initial_backoff: float = 0.5,
    max_backoff: float = 30.0,
    healthy_after: float = 60.0,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``service(task_status=...)`` forever, restarting it when it raises.

    Returns when the service returns normally (it decided it is done).
    """
    backoff = initial_backoff
    started = False
    while True:
        began = trio.current_time()
        try:
            async with trio.open_nursery() as nursery:
                value = await nursery.start(service)
                if not started:
                    started = True
                    task_status.started(value)
            return
        except Exception:
            log.exception("service crashed; restarting", extra={"service": name, "backoff_s": round(backoff, 2)})
            on_restart(name)
        if trio.current_time() - began >= healthy_after:
            backoff = initial_backoff
        await trio.sleep(backoff * (0.5 + random.random()))
        backoff = min(max_backoff, backoff * 2)
