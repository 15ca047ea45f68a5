"""Model health verdicts from Kie's success-rate buckets (kiebot.catalog.health)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kiebot.catalog.health import judge, last_hour
from kiebot.kie.catalogue_wire import SuccessPoint

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def series(rates: list[float | None], *, end: datetime = NOW) -> list[SuccessPoint]:
    """Ten-minute buckets, oldest first, the last one ending at ``end``."""
    n = len(rates)
    return [
        SuccessPoint(
            start=end - timedelta(minutes=10 * (n - i)),
            end=end - timedelta(minutes=10 * (n - i - 1)),
            success_rate=r,
            error_rate=None if r is None else 1 - r,
        )
        for i, r in enumerate(rates)
    ]


def test_low_rate_with_traffic_in_the_last_hour_is_troubled() -> None:
    health = judge("m", series([0.99] * 12 + [0.5, None, 0.4, 0.5, None, 0.6]), now=NOW)
    assert health.troubled
    assert health.buckets == 4
    assert abs((health.success_rate or 0) - 0.5) < 1e-9


def test_older_failures_do_not_count() -> None:
    health = judge("m", series([0.1] * 12 + [0.95] * 6), now=NOW)
    assert not health.troubled
    assert health.success_rate is not None
    assert health.success_rate > 0.9


def test_no_traffic_and_no_data_are_not_trouble() -> None:
    assert judge("m", series([0.1] * 12 + [None] * 6), now=NOW) == judge("m", [], now=NOW)
    quiet = judge("m", series([None] * 18), now=NOW)
    assert not quiet.troubled
    assert quiet.success_rate is None
    assert quiet.buckets == 0


def test_percentages_are_read_as_percentages() -> None:
    assert judge("m", series([55.0, 58.0, 50.0]), now=NOW).troubled
    assert not judge("m", series([95.0, 90.0, 100.0]), now=NOW).troubled


def test_stale_series_is_no_data_and_a_clock_skew_is_tolerated() -> None:
    assert judge("m", series([0.1] * 6, end=NOW - timedelta(hours=3)), now=NOW).success_rate is None
    skewed = series([0.1] * 6, end=NOW - timedelta(minutes=40))  # Kie's clock 40 min behind
    assert judge("m", skewed, now=NOW).troubled


def test_buckets_without_timestamps_take_the_last_six() -> None:
    points = [SuccessPoint(success_rate=r) for r in [0.1] * 10 + [0.9] * 6]
    assert len(last_hour(points, now=NOW)) == 6
    assert not judge("m", points, now=NOW).troubled
