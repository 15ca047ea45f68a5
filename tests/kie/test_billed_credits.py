"""Kie's billed credits (issue 15 item 1), read as the reference documents them: recordInfo's
``creditsConsumed`` and callbacks' ``consumeCredits`` — a number, maybe fractional, maybe missing
(kie-live-truth §1, kie-and-original-bot §12 D) — and the fake Kie's switch to bill a task
differently from its quote."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from kiebot.kie import KieClient
from kiebot.kie.callbacks import parse_callback
from kiebot.kie.status import market_status
from kiebot.kie.types import MARKET_DECODER, billed_credits
from kiebot.testing.kie.receiver import CallbackReceiver
from kiebot.testing.kie.server import FakeKie

ULTRA = {"model": "google/imagen4-ultra", "input": {"prompt": "a tram", "aspect_ratio": "1:1"}}


def _callback(data: dict[str, Any], code: int = 200) -> bytes:
    return json.dumps({"code": code, "msg": "ok", "data": {"taskId": "t1", "state": "success", "resultJson": '{"resultUrls":["https://x/a.png"]}', **data}}).encode()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"consumeCredits": 100}, 100.0),
        ({"consumeCredits": 3.5}, 3.5),
        ({"creditsConsumed": 3.0}, 3.0),
        ({"creditsConsumed": "12.5"}, 12.5),  # a numeric string from a lenient proxy
        ({"creditsConsumed": 0, "consumeCredits": 120}, 120.0),  # a 0 placeholder never hides a charge
        ({"consumeCredits": None}, None),
        ({}, None),
        ({"consumeCredits": "n/a"}, None),
        ({"consumeCredits": -5}, None),
        ({"consumeCredits": True}, None),
        ({"consumeCredits": {"credits": 5}}, None),
        ({"consumeCredits": 1e300}, None),
    ],
)
def test_market_callback_billed_figure(fields: dict[str, Any], expected: float | None) -> None:
    status = parse_callback("market", _callback(fields))
    # An odd billing field never makes the callback itself unreadable: the result still counts.
    assert status.state == "succeeded"
    assert status.result_urls == ("https://x/a.png",)
    assert status.cost_credits == expected


def test_record_info_credits_consumed_is_the_billed_figure() -> None:
    record = MARKET_DECODER.decode(
        json.dumps({"taskId": "t1", "state": "success", "creditsConsumed": 3.0, "costTime": 12, "resultJson": ""}).encode()
    )
    assert market_status(record).cost_credits == 3.0


def test_billed_credits_ignores_huge_integers() -> None:
    assert billed_credits(10**400) is None
    assert billed_credits(float("nan"), 2) == 2.0


async def test_fake_kie_bills_a_task_differently_and_says_so_in_callback_and_record(
    fake: FakeKie, kie: KieClient, receiver: CallbackReceiver
) -> None:
    with trio.fail_after(10):
        fake.bill_next("google/imagen4-ultra", credits=120)
        task_id = await kie.create_task("market", {**ULTRA, "input": dict(ULTRA["input"])}, callback_url=receiver.url("cb/1"))
        task = await fake.wait_final(task_id)
        assert (task.price_credits, task.consumed_credits) == (12, 120)
        [callback] = await receiver.wait_for(1)
        sent = json.loads(callback.body)["data"]
        assert sent["consumeCredits"] == 120
        assert "creditsConsumed" not in sent
        assert parse_callback("market", callback.body).cost_credits == 120
        status = await kie.get_task("market", task_id)
        assert status.cost_credits == 120.0
        assert fake.credits == 100_000 - 120
        # The switch was for one task: the next is billed its price, as a float in recordInfo.
        second = await kie.create_task("market", {**ULTRA, "input": dict(ULTRA["input"])}, callback_url=None)
        await fake.wait_final(second)
        assert (await kie.get_task("market", second)).cost_credits == 12.0


async def test_fake_kie_bill_factor_and_missing_figure_before_the_end(fake: FakeKie, kie: KieClient) -> None:
    with trio.fail_after(10):
        fake.bill_next(factor=2.5)
        task_id = await kie.create_task("market", {**ULTRA, "input": dict(ULTRA["input"])}, callback_url=None)
        await fake.wait_final(task_id)
        assert (await kie.get_task("market", task_id)).cost_credits == 30.0
        fake.script(outcome="never")
        stuck = await kie.create_task("market", {**ULTRA, "input": dict(ULTRA["input"])}, callback_url=None)
        running = await kie.get_task("market", stuck)
        assert not running.is_final
        assert running.cost_credits is None  # absent until the task ends: "maybe missing"
        with pytest.raises(ValueError):
            fake.bill_next(credits=1, factor=2)


async def test_fake_kie_bills_one_variant_only(fake: FakeKie, kie: KieClient) -> None:
    """``when`` narrows the switch to tasks with those input values (what the sandbox uses)."""
    with trio.fail_after(10):
        fake.bill_next("nano-banana-pro", when={"resolution": "4K"}, factor=5, times=10)
        tasks = {}
        for resolution in ("1K", "4K"):
            body = {"model": "nano-banana-pro", "input": {"prompt": "a fox", "resolution": resolution, "image_input": []}}
            tasks[resolution] = await kie.create_task("market", body, callback_url=None)
        for resolution, expected in (("1K", 18.0), ("4K", 120.0)):
            await fake.wait_final(tasks[resolution])
            assert (await kie.get_task("market", tasks[resolution])).cost_credits == expected
