"""Configuration fuzzing: whatever text the environment holds, ``load_settings`` either builds
valid :class:`Settings` or raises :class:`ConfigError` whose one line names the variable — never
another exception, never a secret echoed back, never a value outside the documented range.

Values come from three generators: any text at all (surrogates included: ``os.environ`` holds
undecodable bytes as lone surrogates), text built from the pieces parsers care about (digits of
any script, signs, exponents, separators, ``nan``/``inf``, URL schemes, whitespace of any kind),
and huge numbers (Python refuses ``int()`` of more than 4300 digits).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiebot.config import VARIABLES, ConfigError, Settings, check_runnable, describe, load_settings

NAMES = sorted({v.name for v in VARIABLES} | {"RENDER_EXTERNAL_URL"})
#: Variables whose value is a secret: an error about them must not repeat the value.
SECRET_NAMES = frozenset({v.name for v in VARIABLES if v.secret} | {"DATABASE_URL"})

FUZZ = settings(max_examples=400, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])

PIECES = st.sampled_from(
    [
        "0", "1", "7", "42", "65535", "65536", "-1", "+3", "1e3", "1e400", "-1e400", "nan", "NaN", "inf",
        "-inf", "Infinity", "0x1F", "1_000", "1,5", "1.5", ".", ",", " ", "\t", "\n", "\u00a0", "\u2003",
        "\u3000", "\x00", "\x85", "٣", "१", "𝟗", "１", "ⅷ", "²", "e", "E", "true", "FALSE", "yes", "On",
        "http://", "https://", "ftp://", "postgresql://", "postgres://u:p@h/db", "//", "/", "@", ":", "?",
        "#", "%", "..", "/webhook", "/kie/x", "/_sim", "\ud800", "\udcff", "é", "🙂", "a", "Z", "_", "-",
        "123456789:AAHfakeTokenForKiebotTests_abcdefghij", "polling", "webhook", "json", "text", "DEBUG",
    ]
)
NEAR_VALID = st.lists(PIECES, max_size=6).map("".join)
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=()), max_size=40)
HUGE = st.integers(min_value=4000, max_value=6000).map(lambda n: "9" * n)

#: A value each variable accepts (mutated below, so the fuzz works at the edge of each format).
VALID: dict[str, str] = {
    "TELEGRAM_BOT_TOKEN": "123456789:AAHfakeTokenForKiebotTests_abcdefghij",
    "TELEGRAM_API_URL": "https://api.telegram.org",
    "BOT_MODE": "webhook",
    "WEBHOOK_BASE_URL": "https://bot.example.com",
    "RENDER_EXTERNAL_URL": "https://kiebot.onrender.com",
    "TELEGRAM_WEBHOOK_SECRET_TOKEN": "s3cret_Token-value",
    "TELEGRAM_WEBHOOK_PATH": "/webhook/tg",
    "WEBHOOK_MAX_BODY_BYTES": "1048576",
    "KIE_API_KEY": "kie-key-0123456789",
    "KIE_API_URL": "https://api.kie.ai",
    "KIE_UPLOAD_URL": "https://kieai.redpandaai.co",
    "KIE_WEBHOOK_HMAC_KEY": "hmac-key-0123456789",
    "KIE_TRUSTED_RESULT_HOSTS": "localhost,kie-fake:8080",
    "KIE_STUB": "1",
    "KIE_LOW_CREDITS": "1000",
    "PUBLIC_BASE_URL": "https://bot.example.com/base",
    "DATABASE_URL": "postgresql://kiebot:pw0123456789@db:5432/kiebot",
    "KIEBOT_DATA_DIR": ".kiebot",
    "KIEBOT_REGISTRY": "registry/models.toml",
    "DB_POOL_SIZE": "10",
    "ADMIN_ID": "42",
    "ADMIN_IDS": "1, 2,3",
    "HOST": "0.0.0.0",
    "PORT": "10000",
    "LOG_LEVEL": "info",
    "LOG_FORMAT": "json",
    "INSTANCE_NAME": "web-1",
    "PRICING_MARKUP": "2,5",
    "ALLOW_PRICING_BELOW_COST": "0",
    "MAX_ACTIVE_JOBS_PER_USER": "5",
    "METRICS_TOKEN": "metrics-token-0123456789",
    "FX_RUB_PER_USD": "78.5",
    "WELCOME_BALANCE_RUB": "10.50",
    "FREE_TIER_MODEL_IDS": "a,b,c,d,e",
    "FREE_DAILY_LIMIT": "5",
    "FREE_HOURLY_LIMIT": "2",
    "REFERRAL_BONUS_FREE_USES": "3",
    "TIMEZONE": "Europe/Moscow",
    "STARS_PACKAGES": "50,100,250",
    "STARS_RUB_RATE": "1.0",
    "PAYMENT_BANK": "Bank",
    "PAYMENT_CARD": "2200 0000 0000 0000",
    "PAYMENT_CARD_HOLDER": "Ivan I.",
    "PAYMENT_PHONE": "+79990000000",
    "SUPPORT_TELEGRAM": "@support",
    "SUPPORT_TEXT": "Write to us",
    "TEST_MODE": "yes",
    "DRY_RUN": "off",
    "FSM_STATE_TTL_S": "2700",
    "GENERATION_CONCURRENCY": "32",
    "DISPATCH_CONCURRENCY": "16",
    "MEDIA_MEMORY_MB": "128",
    "SHUTDOWN_GRACE_S": "20",
    "KIEBOT_LIMITS": '{"reconcile_every_s": 0.5, "telegram_global_per_second": 100}',
}


@st.composite
def mutated(draw: st.DrawFn, name: str) -> str:
    """The variable's valid example with a few random edits (insert, delete, replace, affix)."""
    text = VALID[name]
    for _ in range(draw(st.integers(0, 3))):
        edit = draw(st.sampled_from(["insert", "delete", "replace", "prefix", "suffix"]))
        at = draw(st.integers(0, len(text)))
        piece = draw(PIECES)
        if edit == "insert":
            text = text[:at] + piece + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + 1 :]
        elif edit == "replace":
            text = text[:at] + piece + text[at + 1 :]
        elif edit == "prefix":
            text = piece + text
        else:
            text += piece
    return text


def values_for(name: str) -> st.SearchStrategy[str]:
    return st.one_of(mutated(name), NEAR_VALID, ANY_TEXT, HUGE)


NAMED_VALUES = st.sampled_from(NAMES).flatmap(lambda name: st.tuples(st.just(name), values_for(name)))


def names_of(error: ConfigError) -> str:
    return str(error).split(":", 1)[0]


def outcome(env: dict[str, str]) -> Settings | ConfigError:
    """The settings, or the ConfigError (any other exception propagates and fails the test)."""
    try:
        return load_settings(env)
    except ConfigError as err:
        return err


def check_valid(s: Settings) -> None:
    """Everything a parsed configuration promises (config.py's documented ranges)."""
    assert 0 <= s.port <= 65535
    assert 2 <= s.db_pool_size <= 200
    assert s.webhook_max_body_bytes >= 1024
    assert all(a > 0 for a in s.admin_ids)
    assert len(set(s.admin_ids)) == len(s.admin_ids)
    assert s.stars_packages
    assert all(1 <= p <= 10000 for p in s.stars_packages)
    for positive in (s.pricing_markup, s.fx_rub_per_usd, s.stars_rub_rate):
        assert math.isfinite(positive)
        assert positive > 0
    assert s.pricing_markup >= 1.0 or s.allow_pricing_below_cost
    assert 20 <= s.fx_rub_per_usd <= 500
    assert 1 <= s.max_active_jobs_per_user <= 1000
    assert not s.telegram_webhook_secret_token or len(s.telegram_webhook_secret_token) >= 16
    assert math.isfinite(s.shutdown_grace_s)
    assert s.shutdown_grace_s >= 0
    assert isinstance(s.welcome_balance_kopecks, int)
    assert s.welcome_balance_kopecks >= 0
    for count in (s.free_daily_limit, s.free_hourly_limit, s.referral_bonus_free_uses, s.kie_low_credits):
        assert count >= 0
    assert s.fsm_state_ttl_s >= 60
    assert 1 <= s.generation_concurrency <= 10000
    assert 1 <= s.dispatch_concurrency <= 1000
    assert s.bot_mode in ("polling", "webhook")
    assert s.log_format in ("json", "text")
    assert s.log_level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    assert s.telegram_webhook_path.startswith("/")
    assert not s.telegram_webhook_path.startswith(("/kie/", "/_"))
    assert len(s.free_tier_model_ids) in (0, 5)
    for url in (s.telegram_api_url, s.kie_api_url, s.kie_upload_url):
        assert url.startswith(("http://", "https://"))
        assert not any(c.isspace() for c in url)
    # Derived values never raise either.
    assert s.webhook_url.endswith(s.telegram_webhook_path)
    assert isinstance(s.secrets(), tuple)


@FUZZ
@given(named=NAMED_VALUES)
def test_one_variable_parses_or_names_itself(named: tuple[str, str]) -> None:
    name, value = named
    parsed = outcome({name: value})
    if isinstance(parsed, Settings):
        check_valid(parsed)
        return
    assert names_of(parsed) == name, f"{name}={value!r} gave an error about another variable: {parsed}"
    if "\n" not in value:
        assert "\n" not in str(parsed), "one line per problem"
    if name in SECRET_NAMES and len(value.strip()) >= 6:
        assert value.strip() not in str(parsed), f"the error about {name} repeats its secret value"


@pytest.mark.slow
@FUZZ
@given(pairs=st.lists(NAMED_VALUES, max_size=8))
def test_whole_environments_parse_or_name_one_of_their_variables(pairs: list[tuple[str, str]]) -> None:
    env = dict(pairs)
    parsed = outcome(env)
    if isinstance(parsed, ConfigError):
        assert names_of(parsed) in env
        return
    check_valid(parsed)
    described = describe(parsed)
    for field in ("telegram_bot_token", "kie_api_key", "kie_webhook_hmac_key", "telegram_webhook_secret_token", "webhook_secret", "database_url"):
        for secret in parsed.secrets():
            if len(secret) >= 6:
                assert secret not in str(described[field]), f"describe() shows a secret in {field}"
    refusal: ConfigError | None = None
    try:
        check_runnable(parsed)
    except ConfigError as err:
        refusal = err
    if refusal is not None:
        assert names_of(refusal) in {"TELEGRAM_BOT_TOKEN", "KIE_API_KEY", "WEBHOOK_BASE_URL"}


def test_the_fuzz_reaches_both_outcomes_for_every_parsed_variable() -> None:
    """The generators are not too weak: for each variable that has a format, some generated
    value is refused and some other is accepted (else the property tests above prove little)."""
    refused: set[str] = set()
    accepted: set[str] = set()

    @settings(max_examples=1500, deadline=None, derandomize=True, database=None)
    @given(named=NAMED_VALUES)
    def probe(named: tuple[str, str]) -> None:
        name, value = named
        try:
            load_settings({name: value})
        except ConfigError:
            refused.add(name)
        else:
            if value.strip():
                accepted.add(name)

    probe()
    free_text = {
        "KIE_API_KEY", "KIE_WEBHOOK_HMAC_KEY", "KIEBOT_DATA_DIR", "KIEBOT_REGISTRY", "HOST", "INSTANCE_NAME",
        "PAYMENT_BANK", "PAYMENT_CARD", "PAYMENT_CARD_HOLDER", "PAYMENT_PHONE", "SUPPORT_TELEGRAM", "SUPPORT_TEXT",
    }
    formatted = set(NAMES) - free_text
    assert sorted(formatted - refused) == [], "variables no generated value was refused for"
    assert len(accepted) >= len(NAMES) // 2, "most variables saw some generated value accepted"
    # ... and the seeds of the mutations are themselves valid, one by one and all together.
    assert sorted(VALID) == NAMES
    for name, value in VALID.items():
        check_valid(load_settings({name: value}))
    check_valid(load_settings(VALID))
