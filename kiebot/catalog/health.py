"""Model health from Kie's ``/success-rate`` buckets (pure; the leader reads them every 15 min).

Kie reports the last 24 h in 10-minute buckets; a bucket without traffic has null rates and an
empty list means "no data", not zero (reference: kie-live-truth §2). A model is *troubled* when
the buckets of the last hour that had traffic average below 60 % success: users then see "⚠ Kie
reports problems with this model right now" and the circuit breaker opens after fewer failures.

The hour is counted back from the newest bucket's end (Kie's clock, so a skew between the clocks
cannot empty the window), unless that bucket is older than ``stale_after`` (then: no data).
Rates may come as fractions (0.93) or percentages (93); any value above 1 means percentages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

import msgspec

from kiebot.kie.catalogue_wire import SuccessPoint

THRESHOLD: Final = 0.60
WINDOW: Final = timedelta(hours=1)
STALE_AFTER: Final = timedelta(hours=2)
_BUCKETS_PER_HOUR: Final = 6


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """A model's last hour at Kie: the mean success rate (0–1) over buckets with traffic."""

    model_id: str
    success_rate: float | None
    buckets: int
    troubled: bool


def _scale(points: Sequence[SuccessPoint]) -> float:
    values = [v for p in points for v in (p.success_rate, p.error_rate) if v is not None]
    return 100.0 if any(v > 1.0 for v in values) else 1.0


def _at(point: SuccessPoint) -> datetime | None:
    return point.end or point.start


def last_hour(points: Sequence[SuccessPoint], *, now: datetime) -> list[SuccessPoint]:
    """The buckets of the last hour (by Kie's newest bucket), or the last six without timestamps."""
    timed = [(at, p) for p in points if (at := _at(p)) is not None]
    if not timed:
        return list(points[-_BUCKETS_PER_HOUR:])
    newest = max(at for at, _ in timed)
    if newest < now - STALE_AFTER:
        return []
    since = newest - WINDOW
    return [p for at, p in timed if at > since]


def judge(model_id: str, points: Sequence[SuccessPoint], *, now: datetime, threshold: float = THRESHOLD) -> Health:
    """Troubled when the last hour had traffic and its mean success rate is below ``threshold``."""
    scale = _scale(points)
    rates = [p.success_rate / scale for p in last_hour(points, now=now) if p.success_rate is not None]
    if not rates:
        return Health(model_id=model_id, success_rate=None, buckets=0, troubled=False)
    rate = min(1.0, max(0.0, sum(rates) / len(rates)))
    return Health(model_id=model_id, success_rate=rate, buckets=len(rates), troubled=rate < threshold)
