"""A result URL cannot point the bot inside (issue 13, item 2), through the whole app.

The fake Kie hands out result URLs on hosts the bot must refuse — https to a loopback IP, plain
http to another — so the refusal happens in the checks themselves, before any lookup or
connection. Only loopback addresses are used, so even a broken guard would send nothing
further (private and public addresses are proved refused in tests/kie/test_result_fetch.py, by a
resolver stand-in and a transport that fails when called). Each refused job ends like a provider
failure: hold released, the user told in their language; the admins hear once per host.
A host named in ``KIE_TRUSTED_RESULT_HOSTS`` (``localhost`` here) is fetched over plain http.
"""

from __future__ import annotations

import pytest
import trio

from kiebot.i18n import t
from kiebot.store import kv
from kiebot.testing.harness import ADMIN_ID, open_world
from tests.support.books import assert_books_balance

ULTRA = "google/imagen4-ultra"
ULTRA_KOPECKS = 936
ANN = 5_310_001
BOB = 5_310_002

pytestmark = pytest.mark.slow


def _alerts(world, host: str) -> list[str]:
    return [m.content for m in world.tg.bot_messages(ADMIN_ID) if host in m.content]


async def test_results_pointing_inside_fail_with_the_money_back_and_one_alert_per_host(database_url: str, bot_user) -> None:
    with trio.fail_after(90):
        # Only ``localhost`` is trusted, so the fake's own 127.0.0.1 is not.
        async with open_world(database_url, env={"KIE_TRUSTED_RESULT_HOSTS": "localhost"}) as world:
            port = world.kie.base_url.rsplit(":", 1)[1]
            world.tg.add_user(ADMIN_ID, "Admin", language_code="en")
            ann = bot_user(world, ANN, "Ann", "ru")
            bob = bot_user(world, BOB, "Bob", "en")
            for user in (ann, bob):
                await user.start()
                await user.credit(5_000)
            bot_user.relax_flood_limits(world)
            files_before = sum(n for path, n in world.kie.requests.items() if path.startswith("/files/"))

            world.kie.result_base_url = f"https://127.0.0.1:{port}"
            progress = await ann.confirm(await ann.walk(ULTRA))
            first = await ann.wait_job("failed")
            told = await ann.wait_for(contains="❌", after=progress.message_id - 1)
            # The user reads a plain reason (the provider failed); the host is the admins' news.
            assert t("ru", "generation.reason.provider_failed") in told.content
            assert "127.0.0.1" not in told.content
            assert "9,36" in told.content  # "9,36 ₽ вернулись на баланс"
            alert = await world.tg.wait_for_message(ADMIN_ID, contains="127.0.0.1")
            assert str(first.id) in alert.content
            assert "address:loopback" in alert.content

            # The same host again (another user, English): failed and told, no second alert.
            progress = await bob.confirm(await bob.walk(ULTRA))
            second = await bob.wait_job("failed")
            told = await bob.wait_for(contains="❌", after=progress.message_id - 1)
            assert t("en", "generation.reason.provider_failed") in told.content
            assert second.error_code == "result_refused"

            # Another host (plain http): its own alert.
            world.kie.result_base_url = f"http://127.0.0.2:{port}"
            await ann.confirm(await ann.walk(ULTRA))
            third = await ann.wait_job("failed")
            assert third.id not in (first.id, second.id)
            await world.tg.wait_for_message(ADMIN_ID, contains="127.0.0.2")
            assert "scheme" in _alerts(world, "127.0.0.2")[0]
            assert len(_alerts(world, "127.0.0.1")) == 1
            assert len(_alerts(world, "127.0.0.2")) == 1

            for user in (ann, bob):
                account = await user.account()
                assert (account.balance, account.held) == (5_000, 0)
            # Nothing was downloaded from anywhere, the fake included.
            assert sum(n for path, n in world.kie.requests.items() if path.startswith("/files/")) == files_before
            async with world.app.db.connection() as conn:
                marked = await kv.get(conn, "alert.result_host_refused:127.0.0.1")
            assert marked is not None  # durable: a restart or another instance will not alert again
            await assert_books_balance(world.app.db)


async def test_a_trusted_local_host_is_fetched_over_plain_http(database_url: str, bot_user) -> None:
    """``KIE_TRUSTED_RESULT_HOSTS=localhost`` — as an operator names a local Kie stand-in."""
    with trio.fail_after(60):
        async with open_world(database_url, env={"KIE_TRUSTED_RESULT_HOSTS": "localhost"}) as world:
            ann = bot_user(world, ANN, "Ann", "ru")
            await ann.start()
            await ann.credit(2_000)
            bot_user.relax_flood_limits(world)
            world.kie.result_base_url = world.kie.base_url.replace("127.0.0.1", "localhost")
            await ann.confirm(await ann.walk(ULTRA))
            done = await ann.wait_job("delivered")
            assert done.result is not None
            assert done.result["urls"][0].startswith("http://localhost:")
            account = await ann.account()
            assert (account.balance, account.held) == (2_000 - ULTRA_KOPECKS, 0)

            # The same fake under a name that is not trusted: refused, money back.
            world.kie.result_base_url = world.kie.base_url
            await ann.confirm(await ann.walk(ULTRA))
            failed = await ann.wait_job("failed")
            assert failed.error_code == "result_refused"
            account = await ann.account()
            assert (account.balance, account.held) == (2_000 - ULTRA_KOPECKS, 0)
            await assert_books_balance(world.app.db)

