"""Configuration: typed values, one clear line per problem, secrets masked, README in step."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kiebot.config import VARIABLES, ConfigError, check_runnable, describe, load_settings

TOKEN = "123456789:AAHfakeTokenForTests_abcdefghijkl"


def test_defaults_without_environment() -> None:
    s = load_settings({})
    assert s.bot_mode == "polling"
    assert s.telegram_api_url == "https://api.telegram.org"
    assert s.port == 10000
    assert s.pricing_markup == 2.0
    assert s.fx_rub_per_usd == 78.0
    assert s.stars_packages == (50, 100, 250, 500, 1000)
    assert s.admin_ids == ()
    assert s.manual_topup_enabled is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ADMIN_IDS": "12a"}, 'ADMIN_IDS: expected comma-separated integers, got "12a"'),
        ({"ADMIN_ID": "1,x"}, 'ADMIN_ID: expected comma-separated integers, got "1,x"'),
        ({"PORT": "http"}, 'PORT: expected an integer, got "http"'),
        ({"PORT": "70000"}, "PORT: expected an integer ≤ 65535, got 70000"),
        ({"BOT_MODE": "push"}, 'BOT_MODE: expected "polling" or "webhook", got "push"'),
        ({"PRICING_MARKUP": "-1"}, "PRICING_MARKUP: expected a number > 0, got -1"),
        ({"KIE_STUB": "maybe"}, 'KIE_STUB: expected 1/0, true/false, yes/no or on/off, got "maybe"'),
        ({"TELEGRAM_BOT_TOKEN": "nope"}, "TELEGRAM_BOT_TOKEN: expected <digits>:<secret> as issued by @BotFather"),
        ({"WEBHOOK_BASE_URL": "ftp://x"}, 'WEBHOOK_BASE_URL: expected an http(s) URL, got "ftp://x"'),
        ({"FREE_TIER_MODEL_IDS": "a,b"}, "FREE_TIER_MODEL_IDS: expected exactly 5 distinct model ids, got 2"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL: expected a postgresql:// URL"),
        ({"TELEGRAM_WEBHOOK_SECRET_TOKEN": "has space"}, "TELEGRAM_WEBHOOK_SECRET_TOKEN: expected 1–256 characters of A-Z a-z 0-9 _ -"),
    ],
)
def test_malformed_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"PRICING_MARKUP": "0.8"},
            "PRICING_MARKUP: 0.8 sells every generation below Kie's cost; expected ≥ 1 (or set ALLOW_PRICING_BELOW_COST=1 to do it on purpose)",
        ),
        (
            {"PRICING_MARKUP": "0,99", "ALLOW_PRICING_BELOW_COST": "0"},
            "PRICING_MARKUP: 0.99 sells every generation below Kie's cost; expected ≥ 1 (or set ALLOW_PRICING_BELOW_COST=1 to do it on purpose)",
        ),
        (
            {"TELEGRAM_WEBHOOK_SECRET_TOKEN": "short_secret"},
            "TELEGRAM_WEBHOOK_SECRET_TOKEN: expected at least 16 characters, got 12 (unset it to use a strong one derived from the bot token)",
        ),
        ({"FX_RUB_PER_USD": "7.8"}, "FX_RUB_PER_USD: expected rubles per US dollar from 20 to 500, got 7.8"),
        ({"FX_RUB_PER_USD": "7800"}, "FX_RUB_PER_USD: expected rubles per US dollar from 20 to 500, got 7800"),
        ({"MAX_ACTIVE_JOBS_PER_USER": "0"}, "MAX_ACTIVE_JOBS_PER_USER: expected an integer ≥ 1, got 0"),
    ],
)
def test_settings_that_lose_money_or_weaken_secrets_are_refused(env: dict[str, str], message: str) -> None:
    """Issue 13 item 7: one line naming the variable, and a weak secret is never echoed."""
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert str(err.value) == message
    assert "\n" not in str(err.value)
    assert "short_secret" not in str(err.value)


def test_the_edges_of_what_is_accepted() -> None:
    assert load_settings({"PRICING_MARKUP": "1"}).pricing_markup == 1.0
    below = load_settings({"PRICING_MARKUP": "0.5", "ALLOW_PRICING_BELOW_COST": "1"})
    assert (below.pricing_markup, below.allow_pricing_below_cost) == (0.5, True)
    assert load_settings({"TELEGRAM_WEBHOOK_SECRET_TOKEN": "a" * 16}).webhook_secret == "a" * 16
    assert load_settings({"FX_RUB_PER_USD": "20"}).fx_rub_per_usd == 20.0
    assert load_settings({"FX_RUB_PER_USD": "500"}).fx_rub_per_usd == 500.0
    assert load_settings({}).max_active_jobs_per_user == 5
    assert load_settings({"MAX_ACTIVE_JOBS_PER_USER": "2"}).max_active_jobs_per_user == 2


def test_admin_id_and_admin_ids_both_accept_csv_and_merge() -> None:
    s = load_settings({"ADMIN_ID": "1, 2", "ADMIN_IDS": "2,3"})
    assert s.admin_ids == (1, 2, 3)
    assert s.is_admin(3)
    assert not s.is_admin(4)


def test_webhook_secret_is_derived_stably_from_the_token() -> None:
    a = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN})
    b = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert a.webhook_secret == b.webhook_secret
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", a.webhook_secret)
    assert TOKEN not in a.webhook_secret
    explicit = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET_TOKEN": "s3cret_value_0123"})
    assert explicit.webhook_secret == "s3cret_value_0123"


def test_render_external_url_is_the_webhook_base_fallback() -> None:
    s = load_settings({"RENDER_EXTERNAL_URL": "https://kiebot.onrender.com/"})
    assert s.webhook_url == "https://kiebot.onrender.com/webhook"


def test_run_needs_token_and_webhook_base() -> None:
    with pytest.raises(ConfigError, match=r"^TELEGRAM_BOT_TOKEN: required"):
        check_runnable(load_settings({}))
    with pytest.raises(ConfigError, match=r"^KIE_API_KEY: required"):
        check_runnable(load_settings({"TELEGRAM_BOT_TOKEN": TOKEN}))
    with pytest.raises(ConfigError, match=r"^WEBHOOK_BASE_URL: required when BOT_MODE=webhook"):
        check_runnable(load_settings({"TELEGRAM_BOT_TOKEN": TOKEN, "KIE_STUB": "1", "BOT_MODE": "webhook"}))
    check_runnable(load_settings({"TELEGRAM_BOT_TOKEN": TOKEN, "KIE_STUB": "1"}))


def test_money_values_are_kopecks() -> None:
    s = load_settings({"WELCOME_BALANCE_RUB": "12.34"})
    assert s.welcome_balance_kopecks == 1234


def test_describe_masks_every_secret() -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "KIE_API_KEY": "kie_live_secret_key_123",
        "KIE_WEBHOOK_HMAC_KEY": "hmac_secret_value_456",
        "DATABASE_URL": "postgresql://u:dbpassw0rd@db.example/kiebot",
    }
    text = json.dumps(describe(load_settings(env)))
    for secret in ("AAHfakeTokenForTests_abcdefghijkl", "kie_live_secret_key_123", "hmac_secret_value_456", "dbpassw0rd"):
        assert secret not in text


def test_config_command_prints_masked_configuration() -> None:
    env = {"PATH": "/usr/bin:/bin", "TELEGRAM_BOT_TOKEN": TOKEN, "ADMIN_IDS": "7"}
    out = subprocess.run(
        [sys.executable, "-m", "kiebot", "config"], env=env, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    data = json.loads(out)
    assert data["admin_ids"] == [7]
    assert "AAHfake" not in out


def test_config_command_fails_with_one_line() -> None:
    env = {"PATH": "/usr/bin:/bin", "ADMIN_IDS": "12a"}
    proc = subprocess.run([sys.executable, "-m", "kiebot", "config"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == 'configuration error: ADMIN_IDS: expected comma-separated integers, got "12a"'


def test_readme_documents_every_variable() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    missing = [v.name for v in VARIABLES if f"`{v.name}`" not in readme]
    assert missing == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HOST": "bad host"}, 'HOST: expected a host name or an IP address, got "bad host"'),
        ({"INSTANCE_NAME": "web 1"}, 'INSTANCE_NAME: expected 1–64 characters of A-Z a-z 0-9 . _ -, got "web 1"'),
        ({"KIEBOT_DATA_DIR": "/tmp/my data"}, "KIEBOT_DATA_DIR: expected a path without spaces (the embedded PostgreSQL cannot use one)"),
        ({"KIE_API_KEY": "abc def"}, "KIE_API_KEY: expected the key as Kie shows it (printable characters, no spaces)"),
    ],
)
def test_values_that_would_break_later_are_refused_at_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert str(err.value) == message


def test_default_instance_name_is_safe() -> None:
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", load_settings({}).instance_name)


def test_trusted_result_hosts_are_names_with_optional_ports() -> None:
    assert load_settings({}).kie_trusted_result_hosts == ()
    loaded = load_settings({"KIE_TRUSTED_RESULT_HOSTS": "localhost, 127.0.0.1:8080,[::1]:9000"})
    assert loaded.kie_trusted_result_hosts == ("localhost", "127.0.0.1:8080", "[::1]:9000")
    for bad in ("http://kie-fake", "kie fake", "host:0", "a/b"):
        with pytest.raises(ConfigError) as info:
            load_settings({"KIE_TRUSTED_RESULT_HOSTS": bad})
        assert str(info.value).startswith("KIE_TRUSTED_RESULT_HOSTS: expected comma-separated host names")
