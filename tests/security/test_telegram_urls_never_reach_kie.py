"""A Telegram file URL (``https://api.telegram.org/file/bot<token>/<path>``, Bot API ``File``:
https://core.telegram.org/bots/api#file) carries the bot token, so it must never be sent to Kie.

The app's Kie traffic goes through a recording HTTP proxy on 127.0.0.1 (in front of the fake
Kie), which keeps every byte of every request: method, target, headers and body — multipart
uploads included, not only the JSON bodies the fake Kie inspects itself. Users run generations
whose inputs are a photo, an audio file and a video (the files must reach Kie as uploaded bytes),
and one user writes a Telegram file URL with the real token into a prompt and into a link
parameter. Afterwards no recorded byte holds the token, its secret half, or a Telegram file URL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from kiebot.bot.screens.wizard import state as ws
from kiebot.i18n import t
from kiebot.store import jobs, money
from kiebot.testing import media
from kiebot.testing.harness import TOKEN, World, eventually, open_world
from kiebot.testing.kie import media as kie_media
from tests.support.asgi import read_body

pytestmark = pytest.mark.slow

SECRET_HALF = TOKEN.split(":", 1)[1]
TELEGRAM_FILE_URL = f"https://api.telegram.org/file/bot{TOKEN}/photos/file_7.jpg"
FINAL = ("delivered", "failed", "timed_out", "cancelled")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Recorded:
    method: str
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def blob(self) -> bytes:
        return b"\n".join([self.method.encode(), self.target, *(k + b": " + v for k, v in self.headers), self.body])


@dataclass
class RecordingProxy:
    """Forwards every request to ``upstream`` and keeps a copy of it (an ASGI app on hypercorn)."""

    upstream: str = ""
    requests: list[Recorded] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = await read_body(receive)
        target = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
        headers = [(k, v) for k, v in scope["headers"]]
        self.requests.append(Recorded(scope["method"], target, headers, body))
        if not self.upstream:
            await self._answer(send, 503, [(b"content-type", b"text/plain")], b"proxy not ready")
            return
        forwarded = [(k, v) for k, v in headers if k.lower() not in (b"host", b"content-length", b"connection")]
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.request(
                scope["method"], self.upstream + target.decode("latin-1"), headers=forwarded, content=body
            )
        keep = [
            (k.encode(), v.encode())
            for k, v in answer.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")
        ]
        await self._answer(send, answer.status_code, keep, answer.content)

    @staticmethod
    async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        async with trio.open_nursery() as nursery:
            binds: list[str] = await nursery.start(partial(serve, self, config))  # type: ignore[arg-type]
            task_status.started(binds[0])


class Walker:
    """One user driving the model wizard through the fake Telegram (steps read from the stored
    draft, as tests/bot does), waiting until the app has handled each action."""

    def __init__(self, world: World, sec: Any, user_id: int) -> None:
        self.world = world
        self.sec = sec
        self.user_id = user_id

    def last(self) -> Any:
        message = self.world.tg.last_bot_message(self.user_id)
        assert message is not None
        return message

    async def say(self, text: str) -> None:
        self.world.tg.send_text(self.user_id, text)
        await self.sec.settle(self.world)

    async def tap(self, data: str) -> None:
        self.world.tg.tap(self.user_id, self.last().message_id, data, force=True)
        await self.sec.settle(self.world)

    async def draft(self) -> tuple[ws.Draft, int]:
        async with self.world.app.db.connection() as conn:
            loaded = await ws.load(conn, self.user_id)
        assert loaded is not None, f"no wizard state; screen: {self.last().content[:200]!r}"
        return loaded

    async def send_media(self, kind: str) -> None:
        tg = self.world.tg
        if kind == "image":
            tg.send_photo(self.user_id, media.png(64, 48))
        elif kind == "audio":
            tg.send_audio(self.user_id, kie_media.sample_mp3(), duration=3)
        else:
            tg.send_video(self.user_id, kie_media.sample_mp4(), duration=3)
        await self.sec.settle(self.world)

    async def order(self, model_id: str, *, prompt: str, link: str) -> None:
        """Open the model, answer every step, confirm; returns when the job exists."""
        await self.say("/menu")
        await self.tap(f"mdl:{self.world.app.bot.codes.code(model_id)}:m")
        start = [b["callback_data"] for row in self.last().buttons for b in row if "▶️" in str(b.get("text"))]
        assert start, self.last().content[:300]
        await self.tap(str(start[0]))
        spec = self.world.app.bot.registry.require(model_id)
        for _ in range(20):
            draft, version = await self.draft()
            if draft.step == ws.SUMMARY:
                confirm = [d for d in self.last().callback_data() if ":ok:" in d]
                assert confirm, self.last().content[:300]
                await self.tap(confirm[0])
                return
            if draft.step == ws.PARAMS:
                await self.tap(f"wz:{version}:nx")
            elif draft.step == ws.PROMPT:
                await self.say(prompt)
            elif draft.step.startswith("media:"):
                wanted = spec.media_input(draft.step[6:])
                assert wanted is not None
                await self.send_media(wanted.type)
                again, now = await self.draft()
                if again.step == draft.step:
                    await self.tap(f"wz:{now}:nx")
            elif draft.step.startswith("user:"):
                await self.say(link)
            else:
                raise AssertionError(f"unknown step {draft.step}")
            after, _ = await self.draft()
            assert (after.step, after.done) != (draft.step, draft.done) or after.step == ws.SUMMARY, (
                f"stuck at {draft.step}: {self.last().content[:200]!r}"
            )
        raise AssertionError("the wizard did not reach the summary")


async def job_states(world: World, user_id: int) -> list[str]:
    async with world.app.db.connection() as conn:
        return [j.state for j in await jobs.recent_jobs(conn, user_id, limit=10)]


async def test_user_media_reaches_kie_as_bytes_and_no_telegram_file_url_is_sent(database_url: str, sec: Any) -> None:
    proxy = RecordingProxy()
    with trio.fail_after(115):
        async with trio.open_nursery() as nursery:
            proxy_url = await nursery.start(proxy.serve)
            env = {"KIE_API_URL": proxy_url, "KIE_UPLOAD_URL": proxy_url}
            async with open_world(database_url, env=env) as world:
                proxy.upstream = world.kie.base_url
                sec.relax(world)
                orders = [
                    (5_600_001, "google/nano-banana-edit", "make the sky purple"),
                    (5_600_002, "elevenlabs/audio-isolation", "clean voice"),
                    (5_600_003, "wan/2-6-video-to-video", "turn it into a cartoon"),
                    (5_600_004, "google/nano-banana-edit", f"use the picture at {TELEGRAM_FILE_URL} please"),
                    (5_600_005, "sora-watermark-remover", "x"),
                ]
                for user, _, _ in orders:
                    world.tg.add_user(user, "Media", language_code="en")
                    await Walker(world, sec, user).say("/start")
                    async with world.app.db.transaction() as conn:
                        await money.credit(conn, user, 5_000_000, kind="topup_manual", key=f"urls:{user}")
                for user, model_id, prompt in orders:
                    walker = Walker(world, sec, user)
                    link = TELEGRAM_FILE_URL if model_id == "sora-watermark-remover" else "https://sora.chatgpt.com/p/s_1"
                    if model_id == "sora-watermark-remover":
                        # The link is refused as input: the wizard never reaches a summary.
                        with pytest.raises(AssertionError, match="stuck at user:"):
                            await walker.order(model_id, prompt=prompt, link=link)
                        continue
                    await walker.order(model_id, prompt=prompt, link=link)

                async def all_final() -> bool:
                    states = [s for user, _, _ in orders[:4] for s in await job_states(world, user)]
                    return len(states) == 4 and all(s in FINAL for s in states)

                with trio.fail_after(60):
                    await eventually(all_final)
                delivered = [(await job_states(world, user))[0] for user, _, _ in orders[:3]]
                assert delivered == ["delivered"] * 3
                # The prompt with the Telegram link is refused as bad input: failed, money back, told.
                assert await job_states(world, orders[3][0]) == ["failed"]
                told = world.tg.last_bot_message(orders[3][0])
                assert told is not None
                # Told in plain words (the input could not be used); the exact refusal is the
                # admin's, on the job card.
                assert t("en", "generation.reason.bad_input") in told.content
                async with world.app.db.connection() as conn:
                    assert await jobs.job_money_violations(conn) == []
                    assert await money.check_invariants(conn) == []

            nursery.cancel_scope.cancel()

    assert proxy.requests, "the app never called Kie"
    leaks = []
    for recorded in proxy.requests:
        blob = recorded.blob()
        lowered = blob.lower()
        if SECRET_HALF.encode() in blob or b"/file/bot" in lowered or b"api.telegram.org/file" in lowered:
            leaks.append((recorded.method, recorded.target.decode("latin-1")))
    assert leaks == []
    assert world.kie.telegram_urls_seen == []
    uploads = [r for r in proxy.requests if b"upload" in r.target]
    assert len(uploads) >= 3, [r.target for r in proxy.requests]
    # The photo really went to Kie, as bytes.
    assert any(media.png(64, 48) in r.body for r in uploads)
