"""The sandbox's set-up, without starting it: the app's environment (nothing can leave the machine,
whatever the operator exported), the command line, friendly failures, and the chats snapshot."""

from __future__ import annotations

import errno
import pickle
import socket
from pathlib import Path

import pytest
import trio

from kiebot.__main__ import build_parser
from kiebot.config import load_settings
from kiebot.sandbox import snapshot
from kiebot.sandbox.main import explain_failure, options_from, port_problem
from kiebot.sandbox.main import main as sandbox_main
from kiebot.sandbox.options import (
    ADMIN,
    DEFAULT_DATA_DIR,
    DEFAULT_SPEED,
    SANDBOX_KIE_KEY,
    SANDBOX_TOKEN,
    USER,
    SandboxOptions,
    sandbox_env,
)
from kiebot.store.embedded import EmbeddedPostgresError
from kiebot.testing.media import png
from kiebot.testing.telegram.server import FakeTelegram

FAKE_TG = "http://127.0.0.1:40001"
DB = "postgresql://u@/kiebot?host=/tmp/kbsb"

#: What an operator's shell might hold: real secrets and public URLs that must never be used.
DANGEROUS = {
    "TELEGRAM_BOT_TOKEN": "123456:real-token-do-not-use-0123456789",
    "TELEGRAM_API_URL": "https://api.telegram.org",
    "KIE_API_KEY": "real-kie-key",
    "KIE_API_URL": "https://api.kie.ai",
    "DATABASE_URL": "postgresql://prod:secret@db.example.com/kiebot",
    "WEBHOOK_BASE_URL": "https://bot.example.com",
    "RENDER_EXTERNAL_URL": "https://bot.onrender.com",
    "PUBLIC_BASE_URL": "https://bot.example.com",
    "BOT_MODE": "webhook",
    "TEST_MODE": "0",
    "KIE_STUB": "0",
    "DRY_RUN": "1",
    "ADMIN_IDS": "42",
    "PORT": "10000",
    "HOST": "0.0.0.0",
}


def test_the_app_environment_keeps_everything_on_this_machine() -> None:
    env = sandbox_env(
        telegram_api_url=FAKE_TG, database_url=DB, data_dir=Path("/tmp/kbsb"), operator_env=DANGEROUS
    )
    settings = load_settings(env)
    assert settings.telegram_bot_token == SANDBOX_TOKEN
    assert settings.telegram_api_url == FAKE_TG
    assert settings.kie_api_key == SANDBOX_KIE_KEY
    assert settings.kie_stub
    assert settings.test_mode
    assert not settings.dry_run
    assert settings.kie_callback_base == ""  # Kie callbacks go to the app itself, never to a public URL
    assert settings.database_url == DB
    assert settings.bot_mode == "polling"
    assert settings.admin_ids == (ADMIN.id,)
    assert (settings.host, settings.port) == ("127.0.0.1", 0)
    assert settings.manual_topup_enabled
    assert settings.welcome_balance_kopecks > 0
    assert not any(value in env.values() for value in DANGEROUS.values() if "://" in value or "real" in value)


def test_an_operator_can_preview_their_own_prices_and_payment_details() -> None:
    mine = {
        "PRICING_MARKUP": "3",
        "STARS_PACKAGES": "10,20",
        "PAYMENT_CARD": "4111 1111 1111 1111",
        "WELCOME_BALANCE_RUB": "0",
    }
    env = sandbox_env(
        telegram_api_url=FAKE_TG, database_url=DB, data_dir=Path("/tmp/kbsb"), operator_env=mine
    )
    settings = load_settings(env)
    assert settings.pricing_markup == 3.0
    assert settings.stars_packages == (10, 20)
    assert settings.payment_card == "4111 1111 1111 1111"
    assert settings.welcome_balance_kopecks == 0


def test_command_line_defaults_and_limits() -> None:
    parser = build_parser()
    options = options_from(parser.parse_args(["sandbox"]))
    assert (options.host, options.port, options.speed, options.reset) == (
        "127.0.0.1",
        8080,
        DEFAULT_SPEED,
        False,
    )
    assert options.data_dir == DEFAULT_DATA_DIR.resolve()
    options = options_from(
        parser.parse_args(["sandbox", "--port", "0", "--speed", "1", "--reset", "--data-dir", "/tmp/x"])
    )
    assert (options.port, options.speed, options.reset, options.data_dir) == (0, 1.0, True, Path("/tmp/x"))
    with pytest.raises(ValueError, match="--speed"):
        options_from(parser.parse_args(["sandbox", "--speed", "0"]))
    with pytest.raises(ValueError, match="--port"):
        SandboxOptions(port=70000)


def test_failures_a_newcomer_can_fix_are_explained_in_one_line() -> None:
    options = SandboxOptions(port=8080)
    busy = ExceptionGroup(
        "nursery", [ExceptionGroup("inner", [OSError(errno.EADDRINUSE, "Address already in use")])]
    )
    explained = explain_failure(busy, options)
    assert explained is not None
    assert "127.0.0.1:8080" in explained
    assert "--port" in explained
    assert (
        explain_failure(EmbeddedPostgresError("KIEBOT_DATA_DIR: no spaces"), options)
        == "KIEBOT_DATA_DIR: no spaces"
    )
    assert explain_failure(ExceptionGroup("x", [RuntimeError("a bug")]), options) is None
    assert explain_failure(OSError(errno.ENOENT, "No such file"), options) is None


async def test_snapshot_brings_back_chats_files_payments_and_the_update_counter(tmp_path: Path) -> None:
    # The fake stamps updates with trio's clock, so this runs under trio, though nothing awaits.
    with trio.fail_after(5):  # noqa: ASYNC100
        before = FakeTelegram()
        before.add_user(USER.id, USER.first_name)
        before.send_text(USER.id, "/start")
        photo = before.send_photo(USER.id, png(20, 10), caption="receipt")
        file_id = photo["photo"][-1]["file_id"]
        before.state.world.files.path_for(before.state.world.files.by_id[file_id])
        path = tmp_path / snapshot.FILE_NAME
        snapshot.save(before.state, path, next_update_id=17)

        after = FakeTelegram()
        assert snapshot.restore(after.state, path) == 17
        assert [m.content for m in after.transcript(USER.id)] == ["/start", "receipt"]
        assert after.file_bytes(file_id) == png(20, 10)
        # getFile hands out new download paths in the new process
        assert after.state.world.files.by_id[file_id].file_path is None
        assert after.user(USER.id).first_name == USER.first_name
        assert after.state.world.chats[USER.id].next_message_id == 3


def test_an_unusable_snapshot_is_set_aside_and_the_chats_start_empty(tmp_path: Path) -> None:
    path = tmp_path / snapshot.FILE_NAME
    path.write_bytes(b"not a pickle")
    fake = FakeTelegram()
    assert snapshot.restore(fake.state, path) == 1
    assert not path.exists()
    assert (tmp_path / (snapshot.FILE_NAME + ".unusable")).read_bytes() == b"not a pickle"
    assert fake.state.world.users == {}

    # Written by a fake whose classes had other fields: not loaded half-way.
    path.write_bytes(
        pickle.dumps({"format": snapshot.FORMAT, "shape": (("SimUser", ("id",)),), "next_update_id": 5})
    )
    assert snapshot.restore(fake.state, path) == 1
    assert snapshot.restore(fake.state, tmp_path / "missing.pickle") == 1


def test_a_busy_port_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = build_parser().parse_args(["sandbox", "--port", str(port), "--data-dir", str(tmp_path / "sb")])
        assert sandbox_main(args) == 1
    message = capsys.readouterr().err
    assert f"cannot serve the page on 127.0.0.1:{port}" in message
    assert "--port" in message
    assert not (tmp_path / "sb").exists()  # nothing was started or created
    assert port_problem("127.0.0.1", port) is None  # free again


def test_the_overbilled_demo_variant_is_a_real_priced_variant_billed_above_its_price() -> None:
    """The sandbox shows admins the billing alarm and a paused variant (issue 15) by billing one
    variant far above its price: that variant must exist and the factor must exceed the markup."""
    from kiebot.catalog import load_registry
    from kiebot.catalog.pricing import find_sku
    from kiebot.sandbox.options import OVERBILL_FACTOR, OVERBILLED_VARIANT

    model, values = OVERBILLED_VARIANT
    spec = load_registry().require(model)
    assert spec.enabled
    sku, chosen = find_sku(spec, values)
    assert chosen == values
    assert sku.credits > 0
    assert load_settings({}).pricing_markup < OVERBILL_FACTOR
