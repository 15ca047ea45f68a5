"""Webhook fuzzing: generated bodies POSTed with the right secret to a running app.

Every answer must be 200 (stored), 400 (not an update we can store) or 413 (too large) — never a
5xx, which Telegram would retry for ever. A 200 means exactly that update is in the ``updates``
table; any other answer leaves the table as it was. Afterwards every stored update has been
handled without a handler error, the money books balance, the only money that appeared came
from generated ``successful_payment`` messages (Telegram's word, with the right secret), and the
bot still answers /start.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import httpx
import msgspec
import pytest
import trio
from hypothesis import strategies as st

from kiebot.store import money
from kiebot.telegram.types import decode_update_lenient
from kiebot.testing.harness import World, eventually, open_world
from tests.support.webhook import command, webhook_env

USERS = tuple(range(5_200_001, 5_200_006))
MAX_BODY = 65_536
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

pytestmark = pytest.mark.slow


def start_update(update_id: int, user_id: int) -> dict[str, Any]:
    return command(update_id, user_id, first_name="Fuzz")


@st.composite
def byte_mutations(draw: st.DrawFn, strategies: ModuleType) -> bytes:
    """A valid update's bytes with a few bytes flipped, inserted or cut (broken UTF-8, broken JSON)."""
    body = bytearray(strategies.encode(start_update(draw(st.integers(1, 10**9)), draw(st.sampled_from(USERS))), True))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        choice = draw(st.sampled_from(["flip", "insert", "cut"]))
        if choice == "flip" and at < len(body):
            body[at] = draw(st.integers(0, 255))
        elif choice == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=4))
        else:
            del body[at:]
    return bytes(body)


def bodies(strategies: ModuleType) -> st.SearchStrategy[bytes]:
    update_ids = st.one_of(st.integers(1, 2**31), st.integers(1, 2**31), strategies.EDGE_INTS, st.integers())
    people = st.one_of(st.sampled_from(USERS), st.sampled_from(USERS), strategies.IDS)
    structured = st.builds(strategies.encode, strategies.updates(update_ids, people), st.booleans())
    loose = st.builds(
        strategies.encode,
        st.builds(lambda uid, rest: {**rest, "update_id": uid}, strategies.JSONISH, st.dictionaries(st.text(max_size=6), strategies.JSONISH, max_size=3)),
        st.booleans(),
    )
    any_json = st.builds(strategies.encode, strategies.JSONISH, st.booleans())
    nested = st.builds(
        lambda depth, uid: b'{"update_id":%d,"deep":' % uid + b"[" * depth + b"]" * depth + b"}",
        st.integers(1, 20_000),
        st.integers(1, 2**31),
    )
    return st.one_of(
        structured, structured, structured, loose, any_json, nested, byte_mutations(strategies), st.binary(max_size=300)
    )


async def row_count(world: World) -> int:
    async with world.app.db.connection() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM updates"))


async def test_generated_webhook_bodies_get_the_right_status_and_store_only_updates(
    database_url: str, fuzz: Any, strategies: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(110):
        async with open_world(database_url, env=webhook_env(WEBHOOK_MAX_BODY_BYTES=str(MAX_BODY))) as world, httpx.AsyncClient(timeout=20) as http:
            for user in USERS:
                world.tg.add_user(user, "Fuzz", language_code="en")
            url = world.settings.webhook_url
            headers = {SECRET_HEADER: world.settings.webhook_secret, "Content-Type": "application/json"}
            statuses: dict[int, int] = {}
            charge_ids: set[str] = set()

            async def post(body: bytes) -> None:
                before = await row_count(world)
                answer = await http.post(url, content=body, headers=headers)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                assert answer.status_code in (200, 400, 413), (answer.status_code, answer.text, body[:300])
                after = await row_count(world)
                if answer.status_code != 200:
                    assert after == before, "a refused body was stored"
                    return
                update_id = decode_update_lenient(body).update_id
                async with world.app.db.connection() as conn:
                    stored = await conn.fetchval("SELECT count(*) FROM updates WHERE update_id = $1", update_id)
                assert stored == 1
                assert after in (before, before + 1)
                try:
                    decoded = msgspec.json.decode(body)
                    paid = decoded["message"]["successful_payment"]["telegram_payment_charge_id"]
                    charge_ids.add(str(paid))
                except (msgspec.DecodeError, KeyError, TypeError):
                    pass

            ran = await fuzz(bodies(strategies), post, max_examples=350)
            assert ran >= 350
            assert statuses.get(200, 0) > 50, statuses  # most structured updates are storable
            assert statuses.get(400, 0) > 20, statuses

            # Everything stored gets handled, and no handler failed on it.
            async def all_handled() -> bool:
                async with world.app.db.connection() as conn:
                    left = await conn.fetchval(
                        "SELECT count(*) FROM updates WHERE status IN ('pending', 'claimed') AND last_error IS NULL"
                    )
                return int(left) == 0

            with trio.fail_after(60):
                await eventually(all_handled)
            async with world.app.db.connection() as conn:
                failed = await conn.fetch(
                    "SELECT update_id, kind, status, last_error FROM updates WHERE last_error IS NOT NULL OR status = 'failed'"
                )
                violations = await money.check_invariants(conn)
                ledger = await conn.fetch("SELECT kind, payment FROM ledger")
            assert [dict(r) for r in failed] == []
            assert violations == []
            assert {r["kind"] for r in ledger} <= {"topup_stars"}
            assert {r["payment"] for r in ledger} <= charge_ids
            # Updates whose fields have the wrong type are stored (so Telegram stops re-sending them)
            # and dropped by the dispatcher with an error line by design; nothing else may fail.
            dropped = "stored update does not decode; dropping it"
            errors = [
                r
                for r in caplog.records
                if r.levelno >= logging.ERROR and r.name.startswith("kiebot") and r.getMessage() != dropped
            ]
            assert [f"{r.name}: {r.getMessage()}" for r in errors] == []

            # The bot is still fine.
            assert (await http.get(f"{world.app.url}/healthz")).status_code == 200
            last = USERS[0]
            final = msgspec.json.encode(start_update(2**31 + 5, last))
            assert (await http.post(url, content=final, headers=headers)).status_code == 200
            await world.tg.wait_for_message(last, contains="Main menu", timeout=20)


#: The cases the fuzzing found (or that sit right at a limit), kept as plain regressions.
EDGE_BODIES: list[tuple[str, bytes, int]] = [
    ("update_id past int64", b'{"update_id": 9223372036854775808}', 400),
    ("update_id below int64", b'{"update_id": -9223372036854775809}', 400),
    ("update_id int64 max", b'{"update_id": 9223372036854775807}', 200),
    ("chat id past int64", msgspec.json.encode(start_update(77, 2**64 - 1)), 400),
    ("invalid UTF-8 in a string", b'{"update_id": 78, "x": "\xff\xfe"}', 400),
    ("CESU-8 surrogate bytes", b'{"update_id": 79, "x": "\xed\xa0\x80"}', 400),
    ("escaped lone surrogate (msgspec refuses it)", b'{"update_id": 80, "x": "\\ud800"}', 400),
    ("escaped NUL", b'{"update_id": 81, "x": "\\u0000"}', 200),
    ("deep nesting", b'{"update_id":82,"x":' + b"[" * 5000 + b"]" * 5000 + b"}", 400),
    ("too large", b'{"update_id": 83}' + b" " * (MAX_BODY + 1), 413),
    ("empty", b"", 400),
    ("UTF-8 BOM", b'\xef\xbb\xbf{"update_id": 84}', 400),
]


async def test_edge_bodies(database_url: str) -> None:
    with trio.fail_after(60):
        async with open_world(database_url, env=webhook_env(WEBHOOK_MAX_BODY_BYTES=str(MAX_BODY))) as world, httpx.AsyncClient(timeout=20) as http:
            headers = {SECRET_HEADER: world.settings.webhook_secret}
            got: list[tuple[str, int, int]] = []
            for name, body, _ in EDGE_BODIES:
                before = await row_count(world)
                answer = await http.post(world.settings.webhook_url, content=body, headers=headers)
                got.append((name, answer.status_code, await row_count(world) - before))
            assert got == [(name, status, 1 if status == 200 else 0) for name, _, status in EDGE_BODIES]
            assert (await http.get(f"{world.app.url}/healthz")).status_code == 200
