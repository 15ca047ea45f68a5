"""Two instances on one database: one leader, both accept webhooks, each update handled once."""

from __future__ import annotations

import json
from functools import partial

import httpx
import msgspec
import trio

from kiebot.config import load_settings
from kiebot.runtime.app import AppHandle, run_app
from kiebot.testing.harness import eventually, free_port, open_world
from tests.support.webhook import command, webhook_env

USERS = [5_200_000 + i for i in range(30)]


def start_update(update_id: int, user_id: int) -> bytes:
    return json.dumps(command(update_id, user_id, message_id=1)).encode()


async def test_two_instances_share_the_work_and_elect_one_leader(database_url: str) -> None:
    with trio.fail_after(90):
        async with open_world(database_url, env=webhook_env()) as world:
            first = world.app
            await world.tg.wait_for(lambda: world.tg.state.webhook is not None, what="webhook registered")
            port_b = free_port()
            second_settings = msgspec.structs.replace(
                load_settings({**world.env, "INSTANCE_NAME": "test-2", "PORT": str(port_b)}), limits=world.settings.limits
            )
            second: AppHandle = await world.nursery.start(partial(run_app, second_settings))
            assert first.leadership.is_leader
            assert not second.leadership.is_leader
            for user in USERS:
                world.tg.add_user(user, "U", language_code="en")
            secret = world.settings.webhook_secret
            async with httpx.AsyncClient() as http:
                for i, user in enumerate(USERS):
                    target = first if i % 2 == 0 else second
                    url = target.url + world.settings.telegram_webhook_path
                    answer = await http.post(url, content=start_update(10_000 + i, user), headers={"X-Telegram-Bot-Api-Secret-Token": secret})
                    assert answer.status_code == 200
                    readyz = await http.get(second.url + "/readyz")
            assert readyz.json()["mode"] == "passive"
            assert readyz.status_code == 200

            def all_greeted() -> bool:
                return all(any("Main menu" in m.content for m in world.tg.bot_messages(u)) for u in USERS)

            await world.tg.wait_for(all_greeted, timeout=40, what="every user greeted")
            for user in USERS:
                welcomes = [m for m in world.tg.bot_messages(user) if "welcome" in m.content]
                assert len(welcomes) == 1, f"user {user} greeted {len(welcomes)} times"

            async def all_done() -> bool:
                async with first.db.connection() as conn:
                    states = await conn.fetch("SELECT DISTINCT status FROM updates WHERE update_id >= 10000")
                return {r["status"] for r in states} == {"done"}

            await eventually(all_done)

            # The leader goes away: the other instance takes over and registers the webhook.
            await world.stop_app()
            await world.tg.wait_for(lambda: second.leadership.is_leader, timeout=20, what="second instance leads")
            second.request_shutdown()
