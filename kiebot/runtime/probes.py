"""Who may read the operations endpoints, and how often they may touch the database.

``/healthz`` and ``/readyz`` are the platform's probes: open to anyone, and they say nothing
about the business. ``/health`` and ``/metrics`` describe the business (queues, jobs, payments),
so they are private:

* with ``METRICS_TOKEN`` set they answer only ``Authorization: Bearer <token>`` (401 otherwise);
* without it they do not exist (404) in webhook mode, which is a public deployment, and stay
  open in polling mode and the sandbox, which listen where only their operator can reach.

A probe must never compete with intake for the database: anyone can send probe requests, and
each one that queried PostgreSQL would take a pool connection. So what they compute is shared
(:class:`Shared`): callers arriving while a computation runs wait for the next one and all take
its result, and a result younger than ``max_age_s`` (``Limits.probe_cache_s``) is served as is.
A flood of probes then costs one computation at a time, at most one every ``max_age_s`` (the
webhook writer has a connection of its own as well, see :mod:`kiebot.intake.writer`).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import trio

from kiebot.config import Settings

T = TypeVar("T")

ALLOWED = 200
UNAUTHORIZED = 401
NOT_FOUND = 404


def private_access(settings: Settings, authorization: str | None) -> int:
    """``ALLOWED``, ``UNAUTHORIZED`` or ``NOT_FOUND`` for a request to ``/health`` or ``/metrics``."""
    token = settings.metrics_token
    if not token:
        return NOT_FOUND if settings.bot_mode == "webhook" else ALLOWED
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return UNAUTHORIZED
    # Constant time: the comparison must not tell how much of a guess was right.
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return UNAUTHORIZED
    return ALLOWED


class Shared(Generic[T]):
    """The result of ``compute``, shared by concurrent callers and reused for ``max_age_s``.

    A caller gets a result whose computation started after it asked, unless a result younger
    than ``max_age_s`` exists (``max_age_s=0``: always a fresh one, but never more than one
    computation at a time, and everyone who waited meanwhile shares the next). An exception from
    ``compute`` reaches its caller and is not kept: the next caller computes again.
    """

    def __init__(self, compute: Callable[[], Awaitable[T]], *, max_age_s: float) -> None:
        if max_age_s < 0:
            raise ValueError("max_age_s must be >= 0")
        self._compute = compute
        self._max_age_s = max_age_s
        self._lock = trio.Lock()
        self._last: tuple[float, T] | None = None  # (when its computation started, result)
        self.computations = 0  # for tests: how often compute ran

    async def get(self) -> T:
        asked = trio.current_time()
        async with self._lock:
            if self._last is not None:
                started, value = self._last
                if started >= asked or trio.current_time() - started < self._max_age_s:
                    return value
            began = trio.current_time()
            self.computations += 1
            value = await self._compute()
            self._last = (began, value)
            return value
