"""What the sandbox runs with: its options, the two simulated people, and the app's environment.

The environment is the whole difference between the sandbox and production: the real app
(:func:`kiebot.runtime.app.run_app`) gets a fake bot token, ``TELEGRAM_API_URL`` pointing at the in-repo
fake Bot API, ``KIE_STUB=1`` and ``TEST_MODE=1`` (the in-process fake Kie, the fallback FX rate:
nothing leaves the machine), polling mode, the sandbox's own PostgreSQL, an admin, a demo card
for manual top-ups and a welcome balance so paid models can be tried at once.

An operator can preview their own prices and texts: the variables in :data:`PASSED_THROUGH`
(markup, packages, free tier, payment details, support contact...) are taken from the sandbox's
own environment when set. Everything that could reach the outside world (tokens, keys, URLs,
``DATABASE_URL``, public callback bases) is always overridden, whatever the environment says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

#: A fake token: the shape @BotFather issues (so the real client accepts it), valid nowhere.
SANDBOX_TOKEN: Final = "7000000001:SANDBOX-not-a-real-token-kiebot"
SANDBOX_KIE_KEY: Final = "sandbox-kie-key-not-real"
BOT_USERNAME: Final = "kiebot_sandbox_bot"
BOT_NAME: Final = "Kiebot"

#: Fake Kie time scale. Kie's typical durations are 8 s for an image, 60 s for a video and 20 s
#: for audio (``fake_kie_rules.DURATIONS_S``); at 0.15 an image is ready in about 2 s end to end
#: and a video in about 10 s — quick, but slow enough to watch the progress message change.
DEFAULT_SPEED: Final = 0.15
DEFAULT_DATA_DIR: Final = Path(".kiebot") / "sandbox"
DEFAULT_WELCOME_RUB: Final = "300"
#: Seconds in-flight work gets when the sandbox stops or resets (production's default is 20).
SHUTDOWN_GRACE_S: Final = "3"

#: The sandbox's fake Kie bills this variant (model, input values) this many times its price, so
#: the first order of it shows the admin the billing alarm and a variant paused for sale
#: (issue 15); every other variant is billed as quoted.
OVERBILLED_VARIANT: Final = ("nano-banana-pro", {"resolution": "4K"})
OVERBILL_FACTOR: Final = 5.0

Role = Literal["user", "admin"]
Lang = Literal["ru", "en"]


@dataclass(frozen=True)
class Person:
    """A simulated Telegram user the page can act as."""

    id: int
    first_name: str
    username: str
    role: Role

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "first_name": self.first_name, "username": self.username, "role": self.role}


USER: Final = Person(1_000_001, "Anna", "anna_sandbox", "user")
ADMIN: Final = Person(1_000_002, "Max", "max_admin", "admin")
PEOPLE: Final = (USER, ADMIN)


@dataclass(frozen=True)
class SandboxOptions:
    """``python -m kiebot sandbox`` options (see ``kiebot.__main__``)."""

    host: str = "127.0.0.1"
    port: int = 8080
    speed: float = DEFAULT_SPEED
    reset: bool = False
    data_dir: Path = DEFAULT_DATA_DIR

    def __post_init__(self) -> None:
        if not 0 < self.speed <= 10:
            raise ValueError(f"--speed: expected a number above 0 and at most 10, got {self.speed}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port: expected 0–65535, got {self.port}")

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "sandbox.log"


#: Settings an operator may preview in the sandbox by exporting them before ``make sandbox``.
PASSED_THROUGH: Final = (
    "PRICING_MARKUP",
    "ALLOW_PRICING_BELOW_COST",
    "FX_RUB_PER_USD",
    "WELCOME_BALANCE_RUB",
    "FREE_TIER_MODEL_IDS",
    "FREE_DAILY_LIMIT",
    "FREE_HOURLY_LIMIT",
    "MAX_ACTIVE_JOBS_PER_USER",
    "REFERRAL_BONUS_FREE_USES",
    "STARS_PACKAGES",
    "STARS_RUB_RATE",
    "PAYMENT_BANK",
    "PAYMENT_CARD",
    "PAYMENT_CARD_HOLDER",
    "PAYMENT_PHONE",
    "SUPPORT_TELEGRAM",
    "SUPPORT_TEXT",
    "FSM_STATE_TTL_S",
    "LOG_LEVEL",
)

#: Defaults for the passed-through settings: something to look at on the payment screens.
DEMO_DEFAULTS: Final[Mapping[str, str]] = {
    "WELCOME_BALANCE_RUB": DEFAULT_WELCOME_RUB,
    "PAYMENT_BANK": "Sandbox Bank",
    "PAYMENT_CARD": "2200 0000 0000 0000",
    "PAYMENT_CARD_HOLDER": "KIEBOT SANDBOX",
    "SUPPORT_TELEGRAM": "@kiebot_support",
}


def sandbox_env(
    *,
    telegram_api_url: str,
    database_url: str,
    data_dir: Path,
    operator_env: Mapping[str, str],
) -> dict[str, str]:
    """The environment the real app is loaded from (``kiebot.config.load_settings``)."""
    env = dict(DEMO_DEFAULTS)
    env.update({name: operator_env[name] for name in PASSED_THROUGH if operator_env.get(name, "").strip()})
    env.update(
        {
            "TELEGRAM_BOT_TOKEN": SANDBOX_TOKEN,
            "TELEGRAM_API_URL": telegram_api_url,
            "TELEGRAM_WEBHOOK_SECRET_TOKEN": "",
            "BOT_MODE": "polling",
            "WEBHOOK_BASE_URL": "",
            "RENDER_EXTERNAL_URL": "",
            "PUBLIC_BASE_URL": "",
            "KIE_API_KEY": SANDBOX_KIE_KEY,
            "KIE_STUB": "1",
            "TEST_MODE": "1",
            "DRY_RUN": "0",
            "KIE_WEBHOOK_HMAC_KEY": "",
            "DATABASE_URL": database_url,
            "KIEBOT_DATA_DIR": str(data_dir),
            "ADMIN_IDS": str(ADMIN.id),
            "ADMIN_ID": "",
            "HOST": "127.0.0.1",
            "PORT": "0",
            "INSTANCE_NAME": "sandbox",
            "LOG_FORMAT": "text",
            "SHUTDOWN_GRACE_S": SHUTDOWN_GRACE_S,
        }
    )
    return env
