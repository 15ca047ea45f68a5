"""No user's generation is made from another user's file (issue 13, item 1).

Kie overwrites an upload with the same path and name and reads a task's inputs some time after
``createTask``. The fake Kie does the same here, held until both jobs have uploaded and created
their tasks; each job must still consume its own user's bytes — which the fake writes into the
result picture, so the check is on what each user received. One user sends a photo, the other a
document named like the photo's old upload name (``image-0.jpg``): the name must change nothing.
"""

from __future__ import annotations

import hashlib
import re

import pytest
import trio

from kiebot.testing import media
from kiebot.testing.harness import World, open_world
from kiebot.testing.kie import media as kie_media

pytestmark = pytest.mark.slow

MODEL = "recraft/remove-background"  # one photo under the wire name "image"
ANN, BOB = 5_130_001, 5_130_002


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def tasks_created(world: World, count: int) -> None:
    while len(world.kie.tasks) < count:  # noqa: ASYNC110 - the fake has no event for "a task was created"
        await trio.sleep(0.02)


async def test_concurrent_jobs_each_consume_their_own_users_bytes(database_url: str, bot_user) -> None:
    with trio.fail_after(90):
        async with open_world(database_url) as world:
            bot_user.relax_flood_limits(world)
            ann, bob = bot_user(world, ANN, "Ann"), bot_user(world, BOB, "Bob")
            for user in (ann, bob):
                await user.start()
                await user.credit(5000)
            ann_bytes = media.png(48, 32, (200, 30, 30))
            bob_bytes = media.png(32, 48, (30, 30, 200))

            ann_summary = await ann.walk(MODEL, photo=ann_bytes)
            ask = await bob.press(await bob.open_model(MODEL), "▶️")
            assert ask is not None
            bob_summary = await bob.send("document", bob_bytes, file_name="image-0.jpg", mime_type="image/jpeg")
            assert bob_summary is not None
            assert "Проверьте заказ" in bob_summary.content, bob_summary.content

            world.kie.hold_inputs()  # Kie reads the inputs only after both uploads happened
            await ann.confirm(ann_summary)
            await bob.confirm(bob_summary)
            await tasks_created(world, 2)
            world.kie.release_inputs()

            for user, own, other in ((ann, ann_bytes, bob_bytes), (bob, bob_bytes, ann_bytes)):
                picture = await user.wait_for(predicate=lambda m: m.kind == "photo")
                assert picture.file is not None
                consumed = kie_media.input_digests(picture.file.data)
                assert consumed == [sha(own)], f"user {user.user_id} got a result made from someone else's file"
                assert sha(other) not in consumed
                await user.wait_job("delivered")

            keys = world.kie.upload_log
            assert len(keys) == len(set(keys)) == 2  # two jobs, two names: nothing was overwritten
            assert not any(key.endswith("/image-0.jpg") for key in keys)  # the user's file_name is not passed on
            jobs = {user.user_id: (await user.jobs())[0] for user in (ann, bob)}
            for key in keys:
                folder, name = key.rsplit("/", 1)
                owner = [job for job in jobs.values() if f"j{job.id}-" in name]
                assert len(owner) == 1, key
                assert f"j{owner[0].id}-" in folder  # a per-job upload path
                # the extension comes from the measured type: Bob's "image-0.jpg" is a PNG
                extension = "png" if owner[0].user_id == BOB else "jpg"
                assert re.fullmatch(rf"j{owner[0].id}-image-0-[0-9a-f]{{16}}\.{extension}", name), name


async def test_a_retried_job_uploads_under_the_same_names(database_url: str, bot_user) -> None:
    with trio.fail_after(90):
        async with open_world(database_url) as world:
            bot_user.relax_flood_limits(world)
            ann = bot_user(world, ANN, "Ann")
            await ann.start()
            await ann.credit(5000)
            summary = await ann.walk(MODEL, photo=media.png(40, 40, (10, 120, 10)))
            world.kie.fail_next_create(status=500)  # answered 5xx: nothing started, the job is queued again
            await ann.confirm(summary)
            job = await ann.wait_job("delivered")
            assert job.attempts >= 2
            keys = world.kie.upload_log
            assert len(keys) == 2
            assert keys[0] == keys[1]  # the retry overwrote its own file, no one else's
            assert f"j{job.id}-image-0-" in keys[0]
