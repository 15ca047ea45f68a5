"""Incoming flood guard, callback de-duplication and the callback data codec."""

from __future__ import annotations

import pytest

from kiebot.bot.guards import RateGuard
from kiebot.chat.callback_data import BadCallback, ModelCodes, cb, int_arg, model_code, parse


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_of_30_then_20_a_minute() -> None:
    clock = FakeClock()
    guard = RateGuard(clock=clock)
    assert sum(guard.allow(1) for _ in range(40)) == 30
    clock.now += 60
    assert sum(guard.allow(1) for _ in range(40)) == 20
    assert guard.allow(2)  # another user is unaffected


def test_same_callback_within_two_seconds_is_a_duplicate() -> None:
    clock = FakeClock()
    guard = RateGuard(clock=clock)
    assert not guard.is_duplicate(1, "m:menu")
    clock.now += 1.0
    assert guard.is_duplicate(1, "m:menu")
    assert not guard.is_duplicate(1, "m:bal")
    assert not guard.is_duplicate(2, "m:menu")
    clock.now += 2.5
    assert not guard.is_duplicate(1, "m:menu")


def test_slow_down_warning_is_itself_rate_limited() -> None:
    clock = FakeClock()
    guard = RateGuard(clock=clock)
    assert guard.should_warn(1)
    assert not guard.should_warn(1)
    clock.now += 11
    assert guard.should_warn(1)


def test_maps_stay_bounded() -> None:
    guard = RateGuard(clock=FakeClock(), max_users=10)
    for user in range(100):
        guard.allow(user)
        guard.is_duplicate(user, "x")
    assert len(guard._buckets) == 10
    assert len(guard._recent) == 10


def test_callback_codec_round_trip_and_limits() -> None:
    assert parse(cb("md", "abc123", 2)) == ("md", ["abc123", "2"])
    with pytest.raises(ValueError):
        cb("x", "a:b")
    with pytest.raises(ValueError):
        cb("x", "y" * 70)
    for bad in (None, "", ":", "a:b c", "ы", "x" * 65):
        with pytest.raises(BadCallback):
            parse(bad)
    with pytest.raises(BadCallback):
        int_arg(["9999999999999"], 0)
    with pytest.raises(BadCallback):
        int_arg(["x"], 0)


def test_model_codes_are_stable_short_and_unique() -> None:
    ids = [f"vendor/model-{i}" for i in range(500)]
    codes = ModelCodes(ids)
    assert model_code("z-image") == model_code("z-image")
    assert len(model_code("kling/v2-5-turbo-image-to-video-pro")) == 6
    assert all(codes.model(codes.code(i)) == i for i in ids)
    with pytest.raises(BadCallback):
        codes.model("zzzzzz")
