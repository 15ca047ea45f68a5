"""Settings from the environment.

One typed, frozen ``Settings`` is built once at start-up from ``os.environ``. Every problem stops
start-up with a single line that names the variable and what was expected, e.g.::

    ADMIN_IDS: expected comma-separated integers, got "12a"

Names follow the original bot's README where it had one (``TELEGRAM_BOT_TOKEN``, ``ADMIN_ID``,
``BOT_MODE``...); new ones are listed in README.md's configuration table, which
``tests/test_config.py`` keeps in step with :data:`VARIABLES`.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from kiebot.limits import DEFAULT_LIMITS, Limits, parse_limits

BotMode = Literal["polling", "webhook"]
LogFormat = Literal["json", "text"]

_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{10,100}$")
# Telegram accepts 1-256 characters of A-Z a-z 0-9 _ - in X-Telegram-Bot-Api-Secret-Token
# (https://core.telegram.org/bots/api#setwebhook).
_SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,512}$")
# Long enough not to be guessed (Render's generateValue gives 44 characters).
_METRICS_TOKEN_RE = re.compile(r"^[\x21-\x7e]{16,512}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9.:\-\[\]%]{1,253}$")
_INSTANCE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_ZONE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$")
# A KIE_TRUSTED_RESULT_HOSTS entry: a name or IPv4 address, "[v6]", each with an optional ":port",
# or a bare IPv6 address.
_TRUSTED_HOST_RE = re.compile(
    r"^(?:(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,252}|\[[0-9A-Fa-f:.]{2,45}\])(?::(?P<port>\d{1,5}))?"
    r"|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]{1,44})$"
)
#: An explicit webhook secret shorter than this is guessable by brute force over the open
#: webhook URL (the derived default is 48 characters); start-up refuses it.
MIN_WEBHOOK_SECRET_CHARS = 16
#: RUB per USD outside this range is a typo or a parsing accident, not a market: a configured
#: ``FX_RUB_PER_USD`` outside it stops start-up, a fetched rate outside it is ignored
#: (:mod:`kiebot.catalog.fx`). Prices are ``credits × FX × markup``, so a wrong FX sells at a loss.
FX_SANE_MIN = 20.0
FX_SANE_MAX = 500.0


def _default_instance_name() -> str:
    """The host name, made safe for logs and the leadership table."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:64]
    return name or "kiebot"


class ConfigError(ValueError):
    """A configuration value is missing or malformed; ``str(err)`` is the one line to print."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """The effective configuration. Money is in kopecks, durations in seconds."""

    telegram_bot_token: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    bot_mode: BotMode = "polling"
    webhook_base_url: str = ""
    telegram_webhook_secret_token: str = ""
    telegram_webhook_path: str = "/webhook"
    webhook_max_body_bytes: int = 1_048_576

    kie_api_key: str = ""
    kie_api_url: str = "https://api.kie.ai"
    kie_upload_url: str = "https://kieai.redpandaai.co"
    kie_webhook_hmac_key: str = ""
    kie_trusted_result_hosts: tuple[str, ...] = ()
    kie_stub: bool = False
    kie_low_credits: int = 1000
    public_base_url: str = ""

    database_url: str = ""
    data_dir: str = ".kiebot"
    db_pool_size: int = 10

    admin_ids: tuple[int, ...] = ()
    host: str = "0.0.0.0"
    port: int = 10000
    log_level: str = "INFO"
    log_format: LogFormat = "json"
    instance_name: str = ""

    pricing_markup: float = 2.0
    allow_pricing_below_cost: bool = False
    fx_rub_per_usd: float = 78.0
    welcome_balance_kopecks: int = 0
    free_tier_model_ids: tuple[str, ...] = ()
    free_daily_limit: int = 5
    free_hourly_limit: int = 2
    max_active_jobs_per_user: int = 5
    referral_bonus_free_uses: int = 3
    timezone: str = "Europe/Moscow"

    stars_packages: tuple[int, ...] = (50, 100, 250, 500, 1000)
    stars_rub_rate: float = 1.0
    payment_bank: str = ""
    payment_card: str = ""
    payment_card_holder: str = ""
    payment_phone: str = ""
    support_telegram: str = ""
    support_text: str = ""

    test_mode: bool = False
    dry_run: bool = False
    fsm_state_ttl_s: int = 2700
    generation_concurrency: int = 32
    #: Media bytes held in memory across all jobs, in MiB (the rest goes through temporary files).
    media_memory_mb: int = 128
    dispatch_concurrency: int = 16
    shutdown_grace_s: float = 20.0
    #: Tunable rates, durations and sizes (``KIEBOT_LIMITS``); tests and benchmarks pass others.
    limits: Limits = DEFAULT_LIMITS
    metrics_token: str = ""

    # ---- derived values -------------------------------------------------------------------

    @property
    def manual_topup_enabled(self) -> bool:
        """Manual bank top-ups are offered only when the operator gave somewhere to pay."""
        return bool(self.payment_card or self.payment_phone)

    @property
    def webhook_secret(self) -> str:
        """The secret Telegram must echo in ``X-Telegram-Bot-Api-Secret-Token``.

        When ``TELEGRAM_WEBHOOK_SECRET_TOKEN`` is unset it is derived from the bot token, so every
        instance of a deployment agrees on it without sharing extra state.
        """
        if self.telegram_webhook_secret_token:
            return self.telegram_webhook_secret_token
        digest = hashlib.sha256(b"kiebot-webhook:" + self.telegram_bot_token.encode()).hexdigest()
        return digest[:48]

    @property
    def webhook_url(self) -> str:
        return self.webhook_base_url.rstrip("/") + self.telegram_webhook_path

    @property
    def kie_callback_base(self) -> str:
        """Public base URL Kie should call back; empty means "poll only"."""
        return (self.public_base_url or self.webhook_base_url).rstrip("/")

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.admin_ids

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for log redaction. Empty strings are left out."""
        values = (
            self.telegram_bot_token,
            self.kie_api_key,
            self.kie_webhook_hmac_key,
            self.webhook_secret if self.telegram_bot_token or self.telegram_webhook_secret_token else "",
            _password_of(self.database_url),
            self.metrics_token,
        )
        return tuple(v for v in values if v)


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, default (as text), meaning, and whether it is secret."""

    name: str
    default: str
    meaning: str
    secret: bool = False


def _password_of(url: str) -> str:
    match = re.match(r"^[a-z0-9+]+://[^:/@]*:([^@]*)@", url)
    return match.group(1) if match else ""


# ---- parsers: each returns the value or raises ConfigError naming the variable ---------------


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f'{name}: expected 1/0, true/false, yes/no or on/off, got "{raw}"')


def _int(name: str, raw: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f'{name}: expected an integer, got "{raw}"') from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}: expected an integer ≥ {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}: expected an integer ≤ {maximum}, got {value}")
    return value


def _float(name: str, raw: str, *, minimum: float = 0.0, exclusive: bool = True) -> float:
    try:
        value = float(raw.strip().replace(",", "."))
    except ValueError:
        raise ConfigError(f'{name}: expected a number, got "{raw}"') from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f'{name}: expected a finite number, got "{raw}"')
    if (exclusive and value <= minimum) or (not exclusive and value < minimum):
        sign = ">" if exclusive else "≥"
        raise ConfigError(f"{name}: expected a number {sign} {minimum:g}, got {raw.strip()}")
    return value


def _int_csv(name: str, raw: str, *, positive: bool = False) -> tuple[int, ...]:
    values: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = int(part)
        except ValueError:
            raise ConfigError(f'{name}: expected comma-separated integers, got "{raw}"') from None
        if positive and value <= 0:
            raise ConfigError(f'{name}: expected comma-separated positive integers, got "{raw}"')
        values.append(value)
    return tuple(values)


def _str_csv(raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _url(name: str, raw: str, *, https: bool = False) -> str:
    value = raw.strip().rstrip("/")
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise ConfigError(f'{name}: expected an http(s) URL, got "{raw}"')
    if https and not value.startswith("https://"):
        raise ConfigError(f'{name}: Telegram needs an https:// URL, got "{raw}"')
    return value


def _zone(name: str, raw: str) -> str:
    """An IANA zone name (``Europe/Moscow``, ``UTC``) that zoneinfo can load."""
    value = raw.strip()
    problem = ConfigError(f'{name}: expected an IANA time zone such as "Europe/Moscow" or "UTC", got "{raw[:80]}"')
    # The name becomes a file path inside the zone database: only its own alphabet, no "..".
    if not _ZONE_RE.match(value) or ".." in value:
        raise problem
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise problem from None
    return value


def _fx_rate(name: str, raw: str) -> float:
    value = _float(name, raw, minimum=0.0)
    if not FX_SANE_MIN <= value <= FX_SANE_MAX:
        raise ConfigError(f"{name}: expected rubles per US dollar from {FX_SANE_MIN:g} to {FX_SANE_MAX:g}, got {raw.strip()}")
    return value


def _limits(name: str, raw: str) -> Limits:
    try:
        return parse_limits(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _trusted_hosts(name: str, raw: str) -> tuple[str, ...]:
    entries = _str_csv(raw)
    for entry in entries:
        match = _TRUSTED_HOST_RE.match(entry)
        port = match.group("port") if match else None
        if match is None or (port is not None and not 1 <= int(port) <= 65535):
            raise ConfigError(f'{name}: expected comma-separated host names (optionally host:port), got "{entry}"')
    return entries


def _rub_to_kopecks(name: str, raw: str) -> int:
    value = _float(name, raw, minimum=0.0, exclusive=False)
    return round(value * 100)


VARIABLES: tuple[Variable, ...] = (
    Variable("TELEGRAM_BOT_TOKEN", "", "Bot token from @BotFather; required by `run`", secret=True),
    Variable("TELEGRAM_API_URL", "https://api.telegram.org", "Bot API base URL (a fake or a local Bot API server)"),
    Variable("BOT_MODE", "polling", "`polling` (local) or `webhook` (Render)"),
    Variable("WEBHOOK_BASE_URL", "", "Public https URL of this service; required for webhook mode (Render's `RENDER_EXTERNAL_URL` is used when unset)"),
    Variable("TELEGRAM_WEBHOOK_SECRET_TOKEN", "derived from the bot token", "Secret Telegram echoes in `X-Telegram-Bot-Api-Secret-Token` (16–256 of `A-Za-z0-9_-`; a shorter one stops start-up)", secret=True),
    Variable("TELEGRAM_WEBHOOK_PATH", "/webhook", "Path of the webhook endpoint"),
    Variable("WEBHOOK_MAX_BODY_BYTES", "1048576", "Larger webhook bodies get 413"),
    Variable("KIE_API_KEY", "", "Kie.ai API key; required by `run` unless `KIE_STUB`, `DRY_RUN` or `TEST_MODE`", secret=True),
    Variable("KIE_API_URL", "https://api.kie.ai", "Kie.ai API base URL"),
    Variable("KIE_UPLOAD_URL", "https://kieai.redpandaai.co", "Kie.ai file upload base URL"),
    Variable("KIE_WEBHOOK_HMAC_KEY", "", "Kie `webhookHmacKey`; when set, callbacks must carry a valid signature", secret=True),
    Variable("KIE_TRUSTED_RESULT_HOSTS", "", "Comma-separated hosts (`name`, `name:port`, `[v6]:port`) whose result files may be fetched over http and from private addresses — only for a local fake Kie; every other result needs https and a public address"),
    Variable("KIE_STUB", "0", "1 = use the in-process fake Kie server instead of Kie.ai (its own result URLs are trusted)"),
    Variable("KIE_LOW_CREDITS", "1000", "Admins are alerted when Kie credits fall below this"),
    Variable("PUBLIC_BASE_URL", "WEBHOOK_BASE_URL", "Public URL Kie calls back (`/kie/callback/...`); without one, jobs are polled"),
    Variable("DATABASE_URL", "", "PostgreSQL URL; when unset an embedded PostgreSQL is started in `KIEBOT_DATA_DIR`", secret=False),
    Variable("KIEBOT_DATA_DIR", ".kiebot", "Where the embedded PostgreSQL keeps its data"),
    Variable("KIEBOT_REGISTRY", "registry/models.toml", "The model catalogue file (the Docker image sets it)"),
    Variable("DB_POOL_SIZE", "10", "Connections in the database pool"),
    Variable("ADMIN_ID", "", "Admin Telegram user id(s), comma-separated (merged with ADMIN_IDS)"),
    Variable("ADMIN_IDS", "", "Admin Telegram user ids, comma-separated"),
    Variable("HOST", "0.0.0.0", "Address the HTTP server binds"),
    Variable("PORT", "10000", "Port the HTTP server binds (Render sets it)"),
    Variable("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR"),
    Variable("LOG_FORMAT", "json", "`json` (one object per line) or `text`"),
    Variable("INSTANCE_NAME", "host name", "Name of this instance in logs, /readyz and the leadership table"),
    Variable("PRICING_MARKUP", "2.0", "User price = Kie cost × FX × markup; below 1.0 (selling at a loss) start-up is refused unless `ALLOW_PRICING_BELOW_COST=1`"),
    Variable("ALLOW_PRICING_BELOW_COST", "0", "1 = accept a `PRICING_MARKUP` below 1.0 (every paid generation then loses money)"),
    Variable("FX_RUB_PER_USD", "78.0", "Fallback RUB per USD when the Bank of Russia rate is unavailable (and in TEST_MODE); must be 20–500, and a fetched rate outside that range is ignored with an admin alert"),
    Variable("WELCOME_BALANCE_RUB", "0", "Rubles credited once to every new user"),
    Variable("FREE_TIER_MODEL_IDS", "the 5 cheapest", "Exactly 5 model ids for the free tier"),
    Variable("FREE_DAILY_LIMIT", "5", "Free generations per user per day"),
    Variable("FREE_HOURLY_LIMIT", "2", "Free generations per user per hour"),
    Variable("MAX_ACTIVE_JOBS_PER_USER", "5", "Unfinished paid generations one user may have at once; the next confirmation is refused"),
    Variable("REFERRAL_BONUS_FREE_USES", "3", "Extra free generations per invited user who starts the bot"),
    Variable("TIMEZONE", "Europe/Moscow", "IANA time zone of every time the bot shows (users and admins alike), named once per screen"),
    Variable("STARS_PACKAGES", "50,100,250,500,1000", "Star amounts offered on the top-up screen"),
    Variable("STARS_RUB_RATE", "1.0", "Rubles credited per Star"),
    Variable("PAYMENT_BANK", "", "Bank name shown for manual top-ups"),
    Variable("PAYMENT_CARD", "", "Card number for manual top-ups (manual top-up is offered only with a card or phone)"),
    Variable("PAYMENT_CARD_HOLDER", "", "Card holder shown for manual top-ups"),
    Variable("PAYMENT_PHONE", "", "Phone (SBP) for manual top-ups"),
    Variable("SUPPORT_TELEGRAM", "", "Support contact, e.g. @support"),
    Variable("SUPPORT_TEXT", "", "Extra support text shown in /help"),
    Variable("TEST_MODE", "0", "1 = no outbound call but to Telegram (Kie is the in-process fake, FX is the fallback)"),
    Variable("DRY_RUN", "0", "1 = never call Kie or move money; users see the quote and a dry-run result"),
    Variable("FSM_STATE_TTL_S", "2700", "Seconds a half-finished wizard is kept"),
    Variable("GENERATION_CONCURRENCY", "32", "Generations handled at once by this instance"),
    Variable("MEDIA_MEMORY_MB", "128", "MiB of media (results, user files) held in memory at once across all jobs; larger files go through temporary files in `TMPDIR`"),
    Variable("DISPATCH_CONCURRENCY", "16", "Chats whose updates are handled at once by this instance (two while webhook requests wait for a busy core)"),
    Variable("SHUTDOWN_GRACE_S", "20", "Seconds in-flight work gets to finish after SIGTERM"),
    Variable("KIEBOT_LIMITS", "", "JSON object overriding tunable rates and durations (`kiebot/limits.py`), for tests and benchmarks; never needed in production"),
    Variable(
        "METRICS_TOKEN",
        "",
        "Bearer token `/health` and `/metrics` require (16–512 printable characters); without one they answer 404 in webhook mode and are open in polling mode",
        secret=True,
    ),
)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (default ``os.environ``).

    Raises:
        ConfigError: naming the first variable that is malformed.
    """
    env = os.environ if env is None else env

    def get(name: str) -> str | None:
        value = env.get(name)
        if value is None or value.strip() == "":
            return None
        return value

    kw: dict[str, Any] = {}

    def opt(name: str, field: str, parse: Callable[[str, str], Any]) -> None:
        raw = get(name)
        if raw is not None:
            kw[field] = parse(name, raw)

    token = get("TELEGRAM_BOT_TOKEN")
    if token is not None:
        token = token.strip()
        if not _TOKEN_RE.match(token):
            raise ConfigError("TELEGRAM_BOT_TOKEN: expected <digits>:<secret> as issued by @BotFather")
        kw["telegram_bot_token"] = token
    opt("TELEGRAM_API_URL", "telegram_api_url", _url)
    mode = get("BOT_MODE")
    if mode is not None:
        if mode.strip().lower() not in ("polling", "webhook"):
            raise ConfigError(f'BOT_MODE: expected "polling" or "webhook", got "{mode}"')
        kw["bot_mode"] = mode.strip().lower()
    base = get("WEBHOOK_BASE_URL") or get("RENDER_EXTERNAL_URL")
    if base is not None:
        name = "WEBHOOK_BASE_URL" if get("WEBHOOK_BASE_URL") else "RENDER_EXTERNAL_URL"
        kw["webhook_base_url"] = _url(name, base)
    secret = get("TELEGRAM_WEBHOOK_SECRET_TOKEN")
    if secret is not None:
        if not _SECRET_TOKEN_RE.match(secret.strip()):
            raise ConfigError("TELEGRAM_WEBHOOK_SECRET_TOKEN: expected 1–256 characters of A-Z a-z 0-9 _ -")
        if len(secret.strip()) < MIN_WEBHOOK_SECRET_CHARS:
            # Never echo a secret, not even a weak one: its length is enough to act on.
            raise ConfigError(
                f"TELEGRAM_WEBHOOK_SECRET_TOKEN: expected at least {MIN_WEBHOOK_SECRET_CHARS} characters, "
                f"got {len(secret.strip())} (unset it to use a strong one derived from the bot token)"
            )
        kw["telegram_webhook_secret_token"] = secret.strip()
    path = get("TELEGRAM_WEBHOOK_PATH")
    if path is not None:
        path = path.strip()
        if not re.match(r"^/[A-Za-z0-9_\-./]*$", path) or path.startswith(("/kie/", "/_")):
            raise ConfigError(f'TELEGRAM_WEBHOOK_PATH: expected a path such as "/webhook", got "{path}"')
        kw["telegram_webhook_path"] = path
    opt("WEBHOOK_MAX_BODY_BYTES", "webhook_max_body_bytes", lambda n, r: _int(n, r, minimum=1024))

    for name, field in (("KIE_API_KEY", "kie_api_key"), ("KIE_WEBHOOK_HMAC_KEY", "kie_webhook_hmac_key")):
        raw = get(name)
        if raw is not None:
            if not _KEY_RE.match(raw.strip()):
                # Never echo a secret, not even a malformed one.
                raise ConfigError(f"{name}: expected the key as Kie shows it (printable characters, no spaces)")
            kw[field] = raw.strip()
    opt("KIE_API_URL", "kie_api_url", _url)
    opt("KIE_UPLOAD_URL", "kie_upload_url", _url)
    opt("KIE_STUB", "kie_stub", _bool)
    opt("KIE_TRUSTED_RESULT_HOSTS", "kie_trusted_result_hosts", _trusted_hosts)
    opt("KIE_LOW_CREDITS", "kie_low_credits", lambda n, r: _int(n, r, minimum=0))
    opt("PUBLIC_BASE_URL", "public_base_url", _url)

    raw_db = get("DATABASE_URL")
    if raw_db is not None:
        raw_db = raw_db.strip()
        if not re.match(r"^postgres(ql)?://", raw_db):
            raise ConfigError("DATABASE_URL: expected a postgresql:// URL")
        kw["database_url"] = raw_db
    raw_dir = get("KIEBOT_DATA_DIR")
    if raw_dir is not None:
        if any(ch.isspace() or not ch.isprintable() for ch in raw_dir.strip()):
            raise ConfigError("KIEBOT_DATA_DIR: expected a path without spaces (the embedded PostgreSQL cannot use one)")
        kw["data_dir"] = raw_dir.strip()
    opt("DB_POOL_SIZE", "db_pool_size", lambda n, r: _int(n, r, minimum=2, maximum=200))

    admins: list[int] = []
    for name in ("ADMIN_ID", "ADMIN_IDS"):
        raw = get(name)
        if raw is not None:
            admins.extend(_int_csv(name, raw, positive=True))
    kw["admin_ids"] = tuple(dict.fromkeys(admins))

    raw_host = get("HOST")
    if raw_host is not None:
        if not _HOST_RE.match(raw_host.strip()):
            raise ConfigError(f'HOST: expected a host name or an IP address, got "{raw_host}"')
        kw["host"] = raw_host.strip()
    opt("PORT", "port", lambda n, r: _int(n, r, minimum=0, maximum=65535))
    level = get("LOG_LEVEL")
    if level is not None:
        if level.strip().upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(f'LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR, got "{level}"')
        kw["log_level"] = level.strip().upper()
    fmt = get("LOG_FORMAT")
    if fmt is not None:
        if fmt.strip().lower() not in ("json", "text"):
            raise ConfigError(f'LOG_FORMAT: expected "json" or "text", got "{fmt}"')
        kw["log_format"] = fmt.strip().lower()
    instance = get("INSTANCE_NAME")
    if instance is not None and not _INSTANCE_RE.match(instance.strip()):
        raise ConfigError(f'INSTANCE_NAME: expected 1–64 characters of A-Z a-z 0-9 . _ -, got "{instance}"')
    kw["instance_name"] = instance.strip() if instance else _default_instance_name()

    opt("PRICING_MARKUP", "pricing_markup", lambda n, r: _float(n, r, minimum=0.0))
    opt("ALLOW_PRICING_BELOW_COST", "allow_pricing_below_cost", _bool)
    markup = kw.get("pricing_markup")
    if markup is not None and markup < 1.0 and not kw.get("allow_pricing_below_cost", False):
        raise ConfigError(
            f"PRICING_MARKUP: {markup:g} sells every generation below Kie's cost; "
            "expected ≥ 1 (or set ALLOW_PRICING_BELOW_COST=1 to do it on purpose)"
        )
    opt("FX_RUB_PER_USD", "fx_rub_per_usd", _fx_rate)
    opt("WELCOME_BALANCE_RUB", "welcome_balance_kopecks", _rub_to_kopecks)
    raw_free = get("FREE_TIER_MODEL_IDS")
    if raw_free is not None:
        ids = _str_csv(raw_free)
        if len(ids) != 5 or len(set(ids)) != 5:
            raise ConfigError(f"FREE_TIER_MODEL_IDS: expected exactly 5 distinct model ids, got {len(set(ids))}")
        kw["free_tier_model_ids"] = ids
    opt("FREE_DAILY_LIMIT", "free_daily_limit", lambda n, r: _int(n, r, minimum=0))
    opt("FREE_HOURLY_LIMIT", "free_hourly_limit", lambda n, r: _int(n, r, minimum=0))
    opt("MAX_ACTIVE_JOBS_PER_USER", "max_active_jobs_per_user", lambda n, r: _int(n, r, minimum=1, maximum=1000))
    opt("REFERRAL_BONUS_FREE_USES", "referral_bonus_free_uses", lambda n, r: _int(n, r, minimum=0))

    raw_zone = get("TIMEZONE")
    if raw_zone is not None:
        kw["timezone"] = _zone("TIMEZONE", raw_zone)

    raw_packages = get("STARS_PACKAGES")
    if raw_packages is not None:
        packages = _int_csv("STARS_PACKAGES", raw_packages, positive=True)
        if not packages or any(p > 10000 for p in packages):
            raise ConfigError(f'STARS_PACKAGES: expected comma-separated Star amounts from 1 to 10000, got "{raw_packages}"')
        kw["stars_packages"] = packages
    opt("STARS_RUB_RATE", "stars_rub_rate", lambda n, r: _float(n, r, minimum=0.0))
    for name, field in (
        ("PAYMENT_BANK", "payment_bank"),
        ("PAYMENT_CARD", "payment_card"),
        ("PAYMENT_CARD_HOLDER", "payment_card_holder"),
        ("PAYMENT_PHONE", "payment_phone"),
        ("SUPPORT_TELEGRAM", "support_telegram"),
        ("SUPPORT_TEXT", "support_text"),
    ):
        raw = get(name)
        if raw is not None:
            kw[field] = raw.strip()

    opt("TEST_MODE", "test_mode", _bool)
    opt("DRY_RUN", "dry_run", _bool)
    opt("FSM_STATE_TTL_S", "fsm_state_ttl_s", lambda n, r: _int(n, r, minimum=60))
    opt("GENERATION_CONCURRENCY", "generation_concurrency", lambda n, r: _int(n, r, minimum=1, maximum=10000))
    opt("MEDIA_MEMORY_MB", "media_memory_mb", lambda n, r: _int(n, r, minimum=1, maximum=65536))
    opt("DISPATCH_CONCURRENCY", "dispatch_concurrency", lambda n, r: _int(n, r, minimum=1, maximum=1000))
    opt("SHUTDOWN_GRACE_S", "shutdown_grace_s", lambda n, r: _float(n, r, minimum=0.0, exclusive=False))
    opt("KIEBOT_LIMITS", "limits", _limits)
    raw_metrics_token = get("METRICS_TOKEN")
    if raw_metrics_token is not None:
        if not _METRICS_TOKEN_RE.match(raw_metrics_token.strip()):
            # Never echo a secret, not even a malformed one.
            raise ConfigError("METRICS_TOKEN: expected 16–512 printable characters without spaces")
        kw["metrics_token"] = raw_metrics_token.strip()
    return Settings(**kw)


def check_runnable(settings: Settings) -> None:
    """The extra checks ``run`` needs beyond parsing (other commands work without tokens).

    Raises:
        ConfigError: naming the variable that is missing.
    """
    if not settings.telegram_bot_token:
        raise ConfigError("TELEGRAM_BOT_TOKEN: required to run the bot (get one from @BotFather), or try `make sandbox`")
    offline_kie = settings.kie_stub or settings.test_mode or settings.dry_run
    if not settings.kie_api_key and not offline_kie:
        raise ConfigError("KIE_API_KEY: required to run the bot (or set KIE_STUB=1 to use the built-in fake Kie)")
    if settings.bot_mode == "webhook" and not settings.webhook_base_url:
        raise ConfigError("WEBHOOK_BASE_URL: required when BOT_MODE=webhook (the public https URL of this service)")


def data_dir(settings: Settings) -> Path:
    return Path(settings.data_dir).expanduser().resolve()


def mask(value: str) -> str:
    """Show that a secret is set without showing it: ``12…(46 chars)``."""
    if not value:
        return ""
    return f"{value[:2]}…({len(value)} chars)"


def masked_database_url(url: str) -> str:
    password = _password_of(url)
    return url.replace(":" + password + "@", ":***@", 1) if password else url


def describe(settings: Settings) -> dict[str, Any]:
    """The effective configuration as a dict with every secret masked (``python -m kiebot config``)."""
    out: dict[str, Any] = msgspec.to_builtins(settings)
    for field in ("telegram_bot_token", "kie_api_key", "kie_webhook_hmac_key", "telegram_webhook_secret_token", "metrics_token"):
        out[field] = mask(out[field])
    out["database_url"] = masked_database_url(settings.database_url) or "(embedded PostgreSQL)"
    out["webhook_secret"] = mask(settings.webhook_secret) if settings.telegram_bot_token else ""
    out["manual_topup_enabled"] = settings.manual_topup_enabled
    return out

