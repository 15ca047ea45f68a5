"""The fake Kie treats input files as Kie does: an upload under a used path and name replaces the
file, and a task reads its inputs late, from whatever the names hold then; its image result says
which bytes it consumed. Without this a test could not catch two jobs sharing an upload name."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest
import trio

from kiebot.testing.kie import media as kie_media
from kiebot.testing.kie.server import FakeKie

KEY = "fake-kie-inputs-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "recraft/remove-background"  # one input photo under the wire name "image"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        yield client


async def serve(nursery: trio.Nursery, **options: float) -> FakeKie:
    fake = FakeKie(api_key=KEY, speed=0.001, **options)
    await nursery.start(fake.serve)
    return fake


async def upload(http: httpx.AsyncClient, fake: FakeKie, data: bytes, *, path: str, name: str) -> str:
    response = await http.post(
        fake.base_url + "/api/file-stream-upload",
        headers=AUTH,
        files={"file": (name, data, "image/png")},
        data={"uploadPath": path, "fileName": name},
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["data"]["downloadUrl"]
    return url


async def create(http: httpx.AsyncClient, fake: FakeKie, image_url: str) -> str:
    body = {"model": MODEL, "input": {"image": image_url}}
    response = await http.post(fake.base_url + "/api/v1/jobs/createTask", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["data"]["taskId"]
    return task_id


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def result_image(http: httpx.AsyncClient, fake: FakeKie, task_id: str) -> bytes:
    task = await fake.wait_final(task_id)
    assert task.succeeded, task.fail_message
    response = await http.get(task.result_urls(fake.base_url)[0])
    assert response.status_code == 200
    return response.content


async def test_same_path_and_name_overwrites_and_a_held_task_reads_the_newer_bytes(
    nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    with trio.fail_after(10):
        fake = await serve(nursery)
        first, second = kie_media.png(4, 4, (255, 0, 0)), kie_media.png(4, 4, (0, 0, 255))
        fake.hold_inputs()
        url = await upload(http, fake, first, path="kiebot", name="image-0.jpg")
        task_id = await create(http, fake, url)
        again = await upload(http, fake, second, path="kiebot", name="image-0.jpg")
        assert again == url  # one name, one file: the second upload replaced the first
        assert fake.upload_log == ["kiebot/image-0.jpg", "kiebot/image-0.jpg"]
        await trio.sleep(0.05)
        assert fake.tasks[task_id].inputs_read == {}  # held: nothing read yet
        fake.release_inputs()
        image = await result_image(http, fake, task_id)
        assert fake.tasks[task_id].inputs_read == {url: second}
        assert kie_media.input_digests(image) == [sha(second)]


async def test_different_names_keep_each_task_on_its_own_bytes(
    nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    with trio.fail_after(10):
        fake = await serve(nursery)
        mine, theirs = kie_media.png(4, 4, (1, 2, 3)), kie_media.png(4, 4, (3, 2, 1))
        fake.hold_inputs()
        my_task = await create(http, fake, await upload(http, fake, mine, path="kiebot/a", name="image-0.png"))
        their_task = await create(http, fake, await upload(http, fake, theirs, path="kiebot/b", name="image-0.png"))
        fake.release_inputs()
        assert kie_media.input_digests(await result_image(http, fake, my_task)) == [sha(mine)]
        assert kie_media.input_digests(await result_image(http, fake, their_task)) == [sha(theirs)]


async def test_reading_late_by_a_delay(nursery: trio.Nursery, http: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        fake = await serve(nursery, input_read_delay_s=0.3)
        first, second = kie_media.png(4, 4, (9, 9, 9)), kie_media.png(4, 4, (90, 90, 90))
        url = await upload(http, fake, first, path="kiebot", name="x.png")
        task_id = await create(http, fake, url)
        await upload(http, fake, second, path="kiebot", name="x.png")
        assert kie_media.input_digests(await result_image(http, fake, task_id)) == [sha(second)]


async def test_an_input_that_is_gone_fails_the_task(nursery: trio.Nursery, http: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        fake = await serve(nursery)
        task_id = await create(http, fake, f"{fake.base_url}/uploads/kiebot/never-uploaded.png")
        task = await fake.wait_final(task_id)
        assert task.failed
        assert "input file" in task.fail_message


def test_a_result_without_inputs_is_the_plain_prompt_picture() -> None:
    assert kie_media.png_with_inputs("a red fox", []) == kie_media.png_for_prompt("a red fox")
    assert kie_media.input_digests(kie_media.png_for_prompt("a red fox")) == []
