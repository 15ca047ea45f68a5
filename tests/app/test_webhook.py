"""Webhook mode end to end, and the webhook endpoint's answers to bad requests."""

from __future__ import annotations

import json

import httpx
import trio

from kiebot.store import inbox
from kiebot.testing.harness import open_world
from tests.support.webhook import command, webhook_env

USER = 5_100_001


async def test_webhook_mode_registers_and_answers(database_url: str) -> None:
    with trio.fail_after(60):
        async with open_world(database_url, env=webhook_env()) as world:
            settings = world.settings
            await world.tg.wait_for(lambda: world.tg.state.webhook is not None, what="webhook registered")
            webhook = world.tg.state.webhook
            assert webhook is not None
            assert webhook.url == settings.webhook_url
            assert webhook.secret_token == settings.webhook_secret
            assert set(webhook.allowed_updates or []) == {"message", "callback_query", "pre_checkout_query", "my_chat_member"}
            world.tg.add_user(USER, "Ann", language_code="en")
            world.tg.send_text(USER, "/start")
            await world.tg.wait_for_message(USER, contains="Main menu", timeout=20)
            async with httpx.AsyncClient() as http:
                ready = await http.get(f"{world.app.url}/readyz")
            assert ready.status_code == 200
            body = ready.json()
            assert body["ready"] is True
            assert body["mode"] == "active"
            assert body["webhook"] == "registered"


async def test_webhook_refuses_bad_requests_and_stores_good_ones_once(database_url: str) -> None:
    with trio.fail_after(60):
        async with open_world(database_url, env={**webhook_env(), "WEBHOOK_MAX_BODY_BYTES": "4096"}) as world:
            world.tg.add_user(USER, "Web", language_code="en")
            url = world.settings.webhook_url
            secret = world.settings.webhook_secret
            good = json.dumps(command(777, USER, first_name="Web", message_id=1)).encode()
            async with httpx.AsyncClient() as http:
                no_secret = await http.post(url, content=good)
                wrong = await http.post(url, content=good, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"})
                garbage = await http.post(url, content=b"{not json", headers={"X-Telegram-Bot-Api-Secret-Token": secret})
                not_update = await http.post(url, content=b'{"hello": 1}', headers={"X-Telegram-Bot-Api-Secret-Token": secret})
                huge = await http.post(
                    url, content=b"{" + b" " * 8_000 + b"}", headers={"X-Telegram-Bot-Api-Secret-Token": secret}
                )
                async with world.app.db.connection() as conn:
                    stored_before = (await inbox.stats(conn)).pending
                ok = await http.post(url, content=good, headers={"X-Telegram-Bot-Api-Secret-Token": secret})
                again = await http.post(url, content=good, headers={"X-Telegram-Bot-Api-Secret-Token": secret})
            assert no_secret.status_code == 401
            assert wrong.status_code == 401
            assert garbage.status_code == 400
            assert not_update.status_code == 400
            assert huge.status_code == 413
            assert stored_before == 0
            assert ok.status_code == 200
            assert again.status_code == 200
            await world.tg.wait_for_message(USER, contains="Main menu", timeout=20)
            async with world.app.db.connection() as conn:
                count = await conn.fetchval("SELECT count(*) FROM updates WHERE update_id = 777")
            assert count == 1
            welcomes = [m for m in world.tg.bot_messages(USER) if "welcome" in m.content]
            assert len(welcomes) == 1
