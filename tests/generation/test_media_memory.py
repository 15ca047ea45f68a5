"""Media held in memory stay within ``MEDIA_MEMORY_MB`` (issue 17 item 3).

The budget's own rules (waiting, first come first served, cancellation, half kept free for the
waiting takes), the spooled file (small in memory, large on disk, the budget given back), and the
whole path: several jobs whose video results are each three times the budget, delivered at once
through the real app, the fake Kie and the fake Telegram, byte for byte — with the budget's
high-water mark under the bound.
"""

from __future__ import annotations

import hashlib

import pytest
import trio

from kiebot.catalog.pricing import Quote, quote
from kiebot.catalog.types import ModelSpec
from kiebot.generation.media_budget import MIB, MediaBudget
from kiebot.generation.media_file import MediaFile
from kiebot.generation.media_probe import measure
from kiebot.generation.request import JobRequest, MediaRef
from kiebot.generation.service import Confirmed, confirm
from kiebot.runtime.handle import AppHandle
from kiebot.store import jobs, money, users
from kiebot.testing import media
from kiebot.testing.harness import open_world
from kiebot.testing.kie import media as kie_media

# ---- the budget ------------------------------------------------------------------------------


async def test_take_waits_until_the_bytes_are_given_back() -> None:
    with trio.fail_after(5):
        budget = MediaBudget(100)
        await budget.take(70)
        got = trio.Event()

        async def taker() -> None:
            await budget.take(50)
            got.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(taker)
            await trio.testing.wait_all_tasks_blocked()
            assert not got.is_set()
            assert budget.in_use == 70
            budget.give(70)
            await got.wait()
        assert budget.in_use == 50
        assert budget.peak == 70


async def test_waiters_are_served_in_order_and_a_big_request_is_cut_to_the_budget() -> None:
    with trio.fail_after(5):
        budget = MediaBudget(100)
        await budget.take(100)
        order: list[str] = []

        async def taker(name: str, size: int) -> None:
            await budget.take(size)
            order.append(name)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(taker, "huge", 10_000)  # more than the budget: waits for all of it
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(taker, "small", 1)
            await trio.testing.wait_all_tasks_blocked()
            assert budget.try_take(1) is False  # nobody jumps the queue
            budget.give(100)
            await trio.testing.wait_all_tasks_blocked()
            assert order == ["huge"]  # the small one does not overtake it
            budget.give(100)
        assert order == ["huge", "small"]
        assert budget.in_use == 1
        assert budget.peak == 100


async def test_a_cancelled_waiter_leaves_the_queue_and_takes_nothing() -> None:
    with trio.fail_after(5):
        budget = MediaBudget(100)
        await budget.take(90)
        with trio.move_on_after(0.05):
            await budget.take(50)
        assert budget.in_use == 90
        budget.give(90)
        assert budget.in_use == 0
        await budget.take(100)  # the queue is empty again


async def test_try_take_keeps_half_the_budget_for_the_waiting_takes() -> None:
    budget = MediaBudget(100)
    assert budget.try_take(50) is True
    assert budget.try_take(1) is False
    budget.give(50)
    assert budget.in_use == 0
    assert budget.peak == 50


# ---- the spooled file ------------------------------------------------------------------------


def _budget(limit: int = 1 * MIB) -> MediaBudget:
    return MediaBudget(limit, small_file_bytes=256 * 1024, write_batch_bytes=64 * 1024)


async def _fill(file: MediaFile, data: bytes, chunk: int = 16 * 1024) -> None:
    for start in range(0, len(data), chunk):
        await file.write(data[start : start + chunk])
    await file.finish()


async def test_a_small_file_stays_in_memory_and_is_counted() -> None:
    with trio.fail_after(5):
        budget = _budget()
        data = kie_media.png_for_prompt("red")
        with MediaFile(budget) as file:
            await _fill(file, data)
            assert not file.on_disk
            assert file.size == len(data)
            assert file.head == data[:64]
            assert budget.in_use == len(data)
            assert file.reader().read() == data
            assert file.reader().read() == data  # a second reader: a retry reads it again
        assert budget.in_use == 0


async def test_a_large_file_goes_to_disk_and_holds_at_most_a_batch_in_memory() -> None:
    with trio.fail_after(10):
        budget = _budget()
        data = bytes(range(256)) * 12_000  # ~3 MB, three times the budget
        with MediaFile(budget) as file:
            await _fill(file, data)
            assert file.on_disk
            assert file.size == len(data)
            assert budget.in_use == 0  # nothing left in memory
            reader = file.reader()
            assert hashlib.sha256(reader.read()).digest() == hashlib.sha256(data).digest()
        assert budget.peak <= budget.limit // 2 + budget.write_batch_bytes
        assert budget.in_use == 0


async def test_a_small_file_goes_to_disk_when_the_budget_is_taken() -> None:
    with trio.fail_after(5):
        budget = _budget()
        assert budget.try_take(budget.limit // 2)  # other files hold the in-memory half
        data = b"x" * 10_000
        with MediaFile(budget) as file:
            await _fill(file, data)
            assert file.on_disk
            assert file.reader().read() == data
        budget.give(budget.limit // 2)
        assert budget.in_use == 0


async def test_reset_starts_a_download_over() -> None:
    with trio.fail_after(5):
        budget = _budget()
        with MediaFile(budget) as file:
            await file.write(b"a" * 300_000)  # past the small size: on disk
            await file.reset()
            await _fill(file, b"hello")
            assert file.size == 5
            assert file.head == b"hello"
            assert file.reader().read() == b"hello"
        with MediaFile(budget) as memory:
            await memory.write(b"partial")
            await memory.reset()
            assert budget.in_use == 0
            await _fill(memory, b"whole")
            assert memory.reader().read() == b"whole"
        assert budget.in_use == 0


async def test_files_are_measured_from_memory_and_from_disk_as_from_bytes() -> None:
    """The wizard measures a document through its MediaFile, without reading it whole."""
    with trio.fail_after(10):
        samples = [
            (media.png(4000, 3), "image"),
            (media.JPEG_8X8, "image"),
            (kie_media.wav_tone(2.5, rate=2000), "audio"),
            (kie_media.sample_mp3(), "audio"),
            (kie_media.sample_mp4(), "video"),
        ]
        for data, kind in samples:
            expected = measure(data, kind)
            assert expected is not None
            for budget in (_budget(), MediaBudget(64)):  # room in memory; none (to disk)
                with MediaFile(budget) as file:
                    await _fill(file, data, chunk=1000)
                    assert file.on_disk == (budget.limit == 64)
                    assert measure(file.reader(), kind) == expected


# ---- through the app -------------------------------------------------------------------------

USER = 5_170_001
VIDEO_BYTES = 3_000_000  # each result three times the budget
JOBS = 6


@pytest.mark.slow
async def test_large_results_delivered_at_once_stay_within_the_memory_budget(database_url: str) -> None:
    with trio.fail_after(120):
        async with open_world(database_url, env={"MEDIA_MEMORY_MB": "1"}) as world:
            app = world.app
            world.kie.video_result_bytes = VIDEO_BYTES
            budget = app.gen.media
            assert budget.limit == 1 * MIB
            spec = app.bot.registry.require("sora-2-text-to-video")
            q = quote(spec, {}, fx=app.bot.fx.current(), markup=app.settings.pricing_markup)
            ids = []
            for n in range(JOBS):
                user = USER + n
                world.tg.add_user(user, "Ann", language_code="en")
                request = JobRequest(params={}, prompt=f"a lighthouse at dawn, take {n}", lang="en")
                ids.append(await _paid_job(app, user, spec, request, q, key=f"test-media:{n}"))

            assert await _final_states(app, ids) == ["delivered"] * JOBS

            head = kie_media.sample_mp4()
            expected = hashlib.sha256(head + bytes(VIDEO_BYTES - len(head))).hexdigest()
            for n in range(JOBS):
                videos = [m for m in world.tg.transcript(USER + n) if m.from_bot and m.kind == "video"]
                assert len(videos) == 1
                assert videos[0].file is not None
                assert hashlib.sha256(videos[0].file.data).hexdigest() == expected
            assert 0 < budget.peak <= budget.limit, budget
            assert budget.in_use == 0
            exported = (await app.metrics.render()).decode()
            assert f"kiebot_media_memory_peak_bytes {float(budget.peak)}" in exported
            assert "kiebot_media_memory_bytes 0.0" in exported


@pytest.mark.slow
async def test_large_user_files_go_to_kie_whole_within_the_memory_budget(database_url: str) -> None:
    """Inputs: each job's 3 MB photo goes from Telegram to Kie through a MediaFile."""
    with trio.fail_after(120):
        async with open_world(database_url, env={"MEDIA_MEMORY_MB": "1"}) as world:
            app = world.app
            budget = app.gen.media
            spec = app.bot.registry.require("google/nano-banana-edit")
            ids, inputs = [], []
            for n in range(3):
                user = USER + 100 + n
                world.tg.add_user(user, "Ann", language_code="en")
                # a real picture, then bytes a PNG reader ignores (after IEND): 3 MB to carry
                data = media.png(64, 64) + bytes([n]) * 3_000_000
                photo = world.tg.state.world.files.add("photo", data, width=64, height=64)
                inputs.append(data)
                ref = MediaRef(file_id=photo.file_id, mime_type="image/png", size_bytes=len(data), width=64, height=64)
                request = JobRequest(prompt=f"make it blue, take {n}", media={"image_urls": [ref]}, lang="en")
                q = quote(spec, {}, fx=app.bot.fx.current(), markup=app.settings.pricing_markup)
                ids.append(await _paid_job(app, user, spec, request, q, key=f"test-media-in:{n}"))

            assert await _final_states(app, ids) == ["delivered"] * 3
            for n, data in enumerate(inputs):
                (picture,) = [m for m in world.tg.transcript(USER + 100 + n) if m.from_bot and m.kind == "photo"]
                assert picture.file is not None
                # the task read exactly this user's 3 MB, byte for byte
                assert kie_media.input_digests(picture.file.data) == [hashlib.sha256(data).hexdigest()]
            assert 0 < budget.peak <= budget.limit, budget
            assert budget.in_use == 0


async def _paid_job(app: AppHandle, user: int, spec: ModelSpec, request: JobRequest, q: Quote, *, key: str) -> int:
    """A known user with money confirms one paid job, as the wizard's Confirm would; its id."""
    async with app.db.connection() as conn:
        await users.touch_user(conn, user, first_name="Ann", language="en")
        await money.credit(conn, user, 10_000_000, kind="topup_manual", key=f"test-credit:{user}")
    outcome = await confirm(
        app.db,
        app.settings,
        user_id=user,
        chat_id=user,
        spec=spec,
        request=request,
        quote=q,
        free=False,
        idempotency_key=key,
        request_id=f"req-{key}",
        wake=app.gen.submit_wakeup.signal,
    )
    assert isinstance(outcome, Confirmed), outcome
    return outcome.job.id


async def _final_states(app: AppHandle, ids: list[int]) -> list[str]:
    """Wait until every job is delivered or failed; their states, in order."""
    while True:
        async with app.db.connection() as conn:
            states = [(await jobs.get_job(conn, i)).state for i in ids]  # type: ignore[union-attr]
        if all(s in ("delivered", "failed") for s in states):
            return states
        await trio.sleep(0.1)
