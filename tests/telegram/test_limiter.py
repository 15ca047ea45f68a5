"""Flood limiter timings on virtual time (autojump_clock: no real I/O here, so the clock jumps straight
to the next deadline and every timing is exact)."""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Sequence

import pytest
import trio
import trio.lowlevel
from trio.testing import MockClock

from kiebot.telegram.limiter import FloodLimiter, Gcra, SlidingWindow, is_group_chat, is_message_method

PRIVATE_A = 1001
PRIVATE_B = 1002
GROUP = -1001234567890


def max_in_window(times: Sequence[float], window: float) -> int:
    """The largest number of events inside any half-open interval [t, t + window)."""
    ordered = sorted(times)
    best = 0
    start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def send_times(
    limiter: FloodLimiter, chat_id: int | None, count: int, method: str = "sendMessage"
) -> list[float]:
    times = []
    for _ in range(count):
        await limiter.acquire(method, chat_id)
        times.append(trio.current_time())
    return times


async def test_per_chat_burst_then_one_per_second(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    with trio.fail_after(60):
        times = await send_times(limiter, PRIVATE_A, 6)
    assert times == [0, 0, 0, 1, 2, 3]


async def test_burst_refills_after_a_quiet_period(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    with trio.fail_after(60):
        first = await send_times(limiter, PRIVATE_A, 4)
        await trio.sleep(10)
        second = await send_times(limiter, PRIVATE_A, 4)
    assert first == [0, 0, 0, 1]
    assert second == [11, 11, 11, 12]


async def test_chats_do_not_wait_for_each_other(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    done: dict[int, list[float]] = {}

    async def chat(chat_id: int) -> None:
        done[chat_id] = await send_times(limiter, chat_id, 4)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(chat, PRIVATE_A)
            nursery.start_soon(chat, PRIVATE_B)
    assert done == {PRIVATE_A: [0, 0, 0, 1], PRIVATE_B: [0, 0, 0, 1]}


async def test_global_cap_of_30_per_second(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    times: list[float] = []

    async def one(chat_id: int) -> None:
        await limiter.acquire("sendMessage", chat_id)
        times.append(trio.current_time())

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for chat_id in range(1, 91):
                nursery.start_soon(one, chat_id)
    assert Counter(times) == {0: 30, 1: 30, 2: 30}
    assert max_in_window(times, 1.0) == 30


async def test_group_gets_at_most_20_per_minute(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    with trio.fail_after(600):
        times = await send_times(limiter, GROUP, 25)
    assert times == [0, 0, 0, *range(1, 18), 60, 60, 60, 61, 62]
    assert max_in_window(times, 60.0) == 20


async def test_group_steady_one_per_second_is_not_let_through_ptb_3772(autojump_clock: MockClock) -> None:
    """PTB #3772: a leaky bucket let a 1 msg/s sender put more than 20 messages in a minute into a
    group. Here the 21st message waits until the first one is 60 s old."""
    limiter = FloodLimiter()
    times = []
    with trio.fail_after(600):
        for _ in range(45):
            await limiter.acquire("sendMessage", GROUP)
            times.append(trio.current_time())
            await trio.sleep(1)
    assert times[:20] == list(range(20))
    assert times[20] == 60
    assert max_in_window(times, 60.0) == 20


async def test_chat_pause_blocks_only_that_chat(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    with trio.fail_after(60):
        limiter.retry_after("sendMessage", PRIVATE_A, 10)
        await limiter.acquire("sendMessage", PRIVATE_B)
        assert trio.current_time() == 0
        await limiter.acquire("sendMessage", PRIVATE_A)
        assert trio.current_time() == 10
    assert limiter.paused_until(PRIVATE_A) == 10
    assert limiter.paused_until(PRIVATE_B) == -math.inf


async def test_chatless_429_pauses_everything(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    seen: dict[str, float] = {}

    async def call(name: str, method: str, chat_id: int | None) -> None:
        await limiter.acquire(method, chat_id)
        seen[name] = trio.current_time()

    with trio.fail_after(60):
        limiter.retry_after("getUpdates", None, 5)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call, "send A", "sendMessage", PRIVATE_A)
            nursery.start_soon(call, "send B", "sendMessage", PRIVATE_B)
            nursery.start_soon(call, "answer", "answerCallbackQuery", None)
            nursery.start_soon(call, "read", "getFile", None)
    assert seen == {"send A": 5, "send B": 5, "answer": 5, "read": 5}


async def test_429s_in_several_chats_pause_all_messages_but_not_answers(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter(flood_chats=3, flood_window=2.0)
    with trio.fail_after(60):
        limiter.retry_after("sendMessage", 1, 4)
        await trio.sleep(0.5)
        limiter.retry_after("sendMessage", 2, 4)
        assert limiter.paused_until(PRIVATE_B) == -math.inf  # two chats: still chat-scoped
        await trio.sleep(0.5)
        limiter.retry_after("sendMessage", 3, 6)  # third chat within 2 s: Telegram's global flood
        await limiter.acquire("answerPreCheckoutQuery", None)
        assert trio.current_time() == 1
        await limiter.acquire("sendMessage", PRIVATE_B)
        assert trio.current_time() == 7


async def test_429s_spread_out_stay_chat_scoped(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter(flood_chats=3, flood_window=2.0)
    with trio.fail_after(60):
        for chat_id in (1, 2, 3):
            limiter.retry_after("sendMessage", chat_id, 1)
            await trio.sleep(1.5)
        await limiter.acquire("sendMessage", PRIVATE_B)
    assert trio.current_time() == 4.5


async def test_pause_is_not_released_by_concurrent_requests_ptb_5338(autojump_clock: MockClock) -> None:
    """PTB #5338: any request finishing released the halt. Here requests in flight when the 429
    arrives, other chats' traffic and answers all complete during the pause, and the paused chat
    still waits the full retry_after."""
    limiter = FloodLimiter()
    resumed: list[float] = []

    async def in_flight(chat_id: int) -> None:
        async with limiter.slot("sendMessage", chat_id):  # let go before the 429 ...
            await trio.sleep(0.3)  # ... and completes during the pause

    async def paused_sender() -> None:
        await trio.sleep(0.1)
        await limiter.acquire("sendMessage", PRIVATE_A)
        resumed.append(trio.current_time())

    async def other_traffic() -> None:
        for i in range(20):
            await limiter.acquire("sendMessage", 5000 + i)
            await limiter.acquire("answerCallbackQuery", None)
            await trio.sleep(0.1)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(in_flight, PRIVATE_A)
            nursery.start_soon(in_flight, PRIVATE_B)
            await trio.sleep(0.01)
            assert limiter.in_flight == 2
            limiter.retry_after("sendMessage", PRIVATE_A, 2)
            nursery.start_soon(paused_sender)
            nursery.start_soon(other_traffic)
    assert resumed == [pytest.approx(2.01)]  # the 429 arrived at 0.01 with retry_after 2


async def test_shorter_retry_after_never_shortens_a_longer_pause(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    with trio.fail_after(60):
        limiter.retry_after("sendMessage", PRIVATE_A, 10)
        limiter.retry_after("getMe", None, 8)
        await trio.sleep(1)
        limiter.retry_after("sendMessage", PRIVATE_A, 2)  # would end at 3
        limiter.retry_after("getMe", None, 1)  # would end at 2
        await limiter.acquire("sendMessage", PRIVATE_B)
        assert trio.current_time() == 8
        await limiter.acquire("sendMessage", PRIVATE_A)
        assert trio.current_time() == 10


async def test_pause_extended_while_waiting_is_honoured(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    resumed: list[float] = []

    async def waiter() -> None:
        await limiter.acquire("sendMessage", PRIVATE_A)
        resumed.append(trio.current_time())

    with trio.fail_after(60):
        limiter.retry_after("sendMessage", PRIVATE_A, 5)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await trio.sleep(3)
            limiter.retry_after("sendMessage", PRIVATE_A, 10)
    assert resumed == [13]


async def test_a_chat_paused_while_queued_globally_steps_aside(autojump_clock: MockClock) -> None:
    """A message waiting for a global slot whose chat gets a 429 goes back to wait for its chat and
    does not hold the global queue: the next chat's message takes the slot."""
    limiter = FloodLimiter()
    seen: dict[str, float] = {}

    async def send(name: str, chat_id: int, delay: float) -> None:
        await trio.sleep(delay)
        await limiter.acquire("sendMessage", chat_id)
        seen[name] = trio.current_time()

    with trio.fail_after(60):
        for chat_id in range(100, 130):  # fill the global window at t=0
            await limiter.acquire("sendMessage", chat_id)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send, "A", PRIVATE_A, 0.1)
            nursery.start_soon(send, "B", PRIVATE_B, 0.2)
            await trio.sleep(0.5)
            limiter.retry_after("sendMessage", PRIVATE_A, 5)
    assert seen == {"A": 5.5, "B": 1}


async def test_answers_reads_and_chat_actions_bypass_the_buckets(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    with trio.fail_after(60):
        for chat_id in range(1, 31):
            await limiter.acquire("sendMessage", chat_id)
        await send_times(limiter, PRIVATE_A, 3)  # global window full, chat A's burst used up
        assert trio.current_time() == 1
        start = trio.current_time()
        for method in (
            "answerCallbackQuery",
            "answerPreCheckoutQuery",
            "getUpdates",
            "getFile",
            "getMe",
            "setWebhook",
            "deleteMessage",
        ):
            for _ in range(50):
                await limiter.acquire(method, None)
        for _ in range(50):
            await limiter.acquire("sendChatAction", PRIVATE_A)
        assert trio.current_time() == start


async def test_chat_action_honours_its_chats_pause(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    with trio.fail_after(60):
        limiter.retry_after("sendChatAction", PRIVATE_A, 3)
        await limiter.acquire("sendChatAction", PRIVATE_B)
        assert trio.current_time() == 0
        await limiter.acquire("sendChatAction", PRIVATE_A)
        assert trio.current_time() == 3


async def test_bulk_has_its_own_lower_rate(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter(bulk_per_second=25)
    times: list[float] = []

    async def one(chat_id: int) -> None:
        await limiter.acquire("sendMessage", chat_id, bulk=True)
        times.append(trio.current_time())

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for chat_id in range(1, 51):
                nursery.start_soon(one, chat_id)
    assert Counter(times) == {0: 25, 1: 25}


async def test_bulk_yields_to_interactive_traffic(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    interactive: list[float] = []
    bulk: list[float] = []

    async def send(chat_id: int, *, is_bulk: bool, delay: float) -> None:
        await trio.sleep(delay)
        await limiter.acquire("sendMessage", chat_id, bulk=is_bulk)
        (bulk if is_bulk else interactive).append(trio.current_time())

    with trio.fail_after(60):
        for chat_id in range(1, 31):  # the window is full until t=1
            await limiter.acquire("sendMessage", chat_id)
        async with trio.open_nursery() as nursery:
            for chat_id in range(100, 110):
                nursery.start_soon(functools.partial(send, chat_id, is_bulk=True, delay=0.1))
            for chat_id in range(200, 230):
                nursery.start_soon(functools.partial(send, chat_id, is_bulk=False, delay=0.5))
    assert interactive == [1] * 30  # every interactive message took the slots freed at t=1 ...
    assert bulk == [2] * 10  # ... and the broadcast, queued first, waited for the next second


async def test_chatless_message_calls_use_the_global_window(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    with trio.fail_after(60):
        times = await send_times(limiter, None, 31, method="editMessageText")
    assert Counter(times) == {0: 30, 1: 1}


async def test_idle_chats_are_forgotten(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter(sweep_every=10)
    with trio.fail_after(60):
        for chat_id in range(1, 10):
            await limiter.acquire("sendMessage", chat_id)
        assert limiter.tracked_chats == 9
        limiter.retry_after("sendMessage", 5, 100)  # a paused chat is kept
        await trio.sleep(5)
        await limiter.acquire("sendMessage", 99)  # the 10th acquisition sweeps
    assert limiter.tracked_chats == 2  # chat 5 (paused) and chat 99 (just used)
    assert limiter.paused_until(5) == 100


async def test_cancelled_waiter_leaves_no_trace(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    with trio.fail_after(60):
        limiter.retry_after("sendMessage", PRIVATE_A, 10)
        with trio.move_on_after(1):
            await limiter.acquire("sendMessage", PRIVATE_A)
        await limiter.acquire("sendMessage", PRIVATE_A)
        assert trio.current_time() == 10
        await send_times(limiter, PRIVATE_A, 2)
        assert trio.current_time() == 10  # the cancelled waiter did not use a token


def test_method_classes() -> None:
    for method in (
        "sendMessage",
        "sendPhoto",
        "sendMediaGroup",
        "sendInvoice",
        "editMessageText",
        "editMessageReplyMarkup",
        "copyMessage",
        "SENDMESSAGE",
    ):
        assert is_message_method(method), method
    for method in (
        "sendChatAction",
        "answerCallbackQuery",
        "answerPreCheckoutQuery",
        "getUpdates",
        "getFile",
        "setWebhook",
        "deleteWebhook",
        "setMyCommands",
        "refundStarPayment",
        "createInvoiceLink",
        "deleteMessage",
    ):
        assert not is_message_method(method), method
    assert is_group_chat(-100123)
    assert is_group_chat("@channel")
    assert not is_group_chat(123)


def test_building_blocks() -> None:
    window = SlidingWindow(2, 1.0)
    assert window.ready_at(0) == 0
    window.start()
    window.start()
    assert window.ready_at(0.1) == math.inf  # both slots in flight: wait for a completion
    window.finish(0.2)
    assert window.ready_at(0.3) == 1.2
    window.finish(0.5)
    assert window.ready_at(0.6) == 1.2
    assert not window.idle(1.4)
    assert window.idle(1.5)
    bucket = Gcra(rate=2.0, burst=2)
    assert bucket.ready_at(0) == 0
    bucket.record(0)
    bucket.record(0)
    assert bucket.ready_at(0) == 0.5
    with pytest.raises(ValueError):
        SlidingWindow(0, 1)
    with pytest.raises(ValueError):
        Gcra(0, 1)


async def test_messages_are_accounted_when_their_call_completes(autojump_clock: MockClock) -> None:
    """Telegram counts a message when it arrives, somewhere between our sending it and its answer.
    Measuring from the completion keeps the arrivals spaced even when a call is slow."""
    limiter = FloodLimiter(per_chat_burst=1)
    started: list[float] = []
    with trio.fail_after(60):
        for duration in (0.5, 0.1, 0.1):
            async with limiter.slot("sendPhoto", PRIVATE_A):
                started.append(trio.current_time())
                await trio.sleep(duration)  # an upload in flight
    assert started == [0, 1.5, 2.6]


async def test_one_chat_sends_one_message_at_a_time_in_order(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    log: list[tuple[str, str, float]] = []

    async def send(name: str, delay: float) -> None:
        await trio.sleep(delay)
        async with limiter.slot("sendMessage", PRIVATE_A):
            log.append((name, "start", trio.current_time()))
            await trio.sleep(0.3)
            log.append((name, "end", trio.current_time()))

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for i, name in enumerate("abc"):
                nursery.start_soon(send, name, i * 0.01)
    assert [(name, edge) for name, edge, _ in log] == [
        ("a", "start"),
        ("a", "end"),
        ("b", "start"),
        ("b", "end"),
        ("c", "start"),
        ("c", "end"),
    ]
    assert [t for _, edge, t in log if edge == "start"] == [0, 0.3, 0.6]


async def test_calls_in_flight_fill_the_global_window(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter()
    started: list[float] = []

    async def send(chat_id: int) -> None:
        async with limiter.slot("sendMessage", chat_id):
            started.append(trio.current_time())
            await trio.sleep(0.5)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for chat_id in range(1, 32):
                nursery.start_soon(send, chat_id)
    assert Counter(started) == {0: 30, 1.5: 1}  # the 31st waits for a completion (0.5) + 1 s


async def test_a_failed_or_cancelled_call_still_counts(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter(per_chat_burst=1)
    with trio.fail_after(60):
        with pytest.raises(RuntimeError):
            async with limiter.slot("sendMessage", PRIVATE_A):
                raise RuntimeError("the request may have reached Telegram")
        with trio.move_on_after(1.2):
            async with limiter.slot("sendMessage", PRIVATE_A):  # let go at 1, cancelled in flight at 1.2
                await trio.sleep_forever()
        await limiter.acquire("sendMessage", PRIVATE_A)
    # 1st at 0 (fails at once), 2nd at 1 (cancelled at 1.2 and accounted then), 3rd 1 s later.
    assert trio.current_time() == pytest.approx(2.2)


async def test_a_retry_keeps_its_place_in_the_chats_line(autojump_clock: MockClock) -> None:
    """A message that met a 429 is repeated before a later message of the same chat goes out."""
    limiter = FloodLimiter()
    sent: list[tuple[str, float]] = []

    async def first() -> None:
        async with limiter.slot("sendMessage", PRIVATE_A) as permit:
            sent.append(("first, attempt 1", trio.current_time()))
            limiter.retry_after("sendMessage", PRIVATE_A, 3)
            await permit.again()
            sent.append(("first, attempt 2", trio.current_time()))

    async def second() -> None:
        await trio.sleep(0.5)
        async with limiter.slot("sendMessage", PRIVATE_A):
            sent.append(("second", trio.current_time()))

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(first)
            nursery.start_soon(second)
    assert sent == [("first, attempt 1", 0), ("first, attempt 2", 3), ("second", 3)]


async def test_again_after_a_back_off_frees_the_window_meanwhile(autojump_clock: MockClock) -> None:
    limiter = FloodLimiter(global_per_second=1)
    seen: dict[str, float] = {}

    async def retrying() -> None:
        async with limiter.slot("sendMessage", PRIVATE_A) as permit:
            seen["attempt 1"] = trio.current_time()
            await permit.again(after=2.5)
            seen["attempt 2"] = trio.current_time()

    async def other() -> None:
        await trio.sleep(0.1)
        async with limiter.slot("sendMessage", PRIVATE_B):
            seen["other chat"] = trio.current_time()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(retrying)
            nursery.start_soon(other)
    # The first attempt is accounted before the back-off, so the other chat gets the next global
    # slot (1 s later) instead of waiting for the retry to finish.
    assert seen == {"attempt 1": 0, "other chat": 1, "attempt 2": 2.5}
