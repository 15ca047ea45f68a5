"""Everything the fake Bot API server knows, in one place that the Bot API handlers, the user
control API and the ``/_sim`` routes share.

One trio task at a time touches it (the server, the webhook deliverer and the test all run in the
same trio run), so there are no locks: every mutation is a synchronous step followed by one
published event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from kiebot.testing.telegram.model.events import EventBus
from kiebot.testing.telegram.model.stars import StarsBook
from kiebot.testing.telegram.model.world import SimMessage, SimUser, World, now
from kiebot.testing.telegram.rules.faults import FaultBook
from kiebot.testing.telegram.rules.flood import FloodControl, FloodRules
from kiebot.testing.telegram.updates import UpdateQueue

DEFAULT_TOKEN = "123456789:AAHfakeTelegramTokenForTests-0123456789"


@dataclass
class FakeConfig:
    token: str = DEFAULT_TOKEN
    bot_username: str = "kiebot_test_bot"
    bot_first_name: str = "Kiebot"
    #: Seconds the bot has to answer a pre_checkout_query (Telegram: 10).
    precheckout_timeout: float = 10.0
    #: Seconds after which answerCallbackQuery says "query is too old" (Telegram: ~10-15, undocumented).
    callback_timeout: float = 15.0
    #: Multiplies every webhook retry wait (and Retry-After), so tests need not wait 2, 4, 8 s.
    webhook_backoff_scale: float = 1.0
    #: Seconds a webhook request may take before it counts as failed.
    webhook_timeout: float = 10.0
    #: Refuse parameters the Bot API does not define for a method (a fake-only 400).
    strict_params: bool = True
    #: Organic 429s for bots sending too fast (None: only injected faults answer 429).
    flood_rules: FloodRules | None = None

    @property
    def bot_id(self) -> int:
        head = self.token.split(":", 1)[0]
        return int(head) if head.isdigit() else 123456789


@dataclass(frozen=True)
class Ok:
    """A successful result that also carries Telegram's ``description`` ("Webhook was set")."""

    result: Any
    description: str


@dataclass(eq=False)
class CallbackAnswer:
    """The bot's ``answerCallbackQuery`` for one tap."""

    callback_query_id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str | None
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int
    #: Seconds between the tap and the answer.
    latency: float

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(eq=False)
class CallbackQueryRecord:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str | None
    created_at: float
    update: dict[str, Any] | None = None
    answer: CallbackAnswer | None = None


@dataclass(eq=False)
class RequestRecord:
    """One Bot API call as the fake received it (the wire format a client test can check)."""

    method: str
    http_method: str
    content_type: str
    params: dict[str, Any]
    files: dict[str, tuple[str, int]]
    status: int = 200
    description: str | None = None
    at: float = 0.0


@dataclass
class WebhookConfig:
    url: str
    secret_token: str | None
    max_connections: int
    ip_address: str | None
    allowed_updates: list[str] | None


@dataclass
class WebhookStatus:
    last_error_date: int | None = None
    last_error_message: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)


class State:
    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.world = World(
            SimUser(config.bot_id, config.bot_first_name, username=config.bot_username, is_bot=True)
        )
        self.updates = UpdateQueue()
        self.bus = EventBus()
        self.stars = StarsBook()
        self.faults = FaultBook()
        self.flood = FloodControl(config.flood_rules) if config.flood_rules else None
        self.callbacks: dict[str, CallbackQueryRecord] = {}
        self.callback_answers: list[CallbackAnswer] = []
        #: (scope key, language_code) → BotCommand list, as setMyCommands stored it.
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.webhook: WebhookConfig | None = None
        self.webhook_status = WebhookStatus()
        self.chat_actions: list[dict[str, Any]] = []
        self.requests: list[RequestRecord] = []
        #: The client the server uses to deliver webhooks and fetch files sent by URL (set by serve()).
        self.http: httpx.AsyncClient | None = None
        #: Called after setWebhook/deleteWebhook; the running server restarts delivery.
        self.on_webhook_change: Callable[[], None] = lambda: None
        self._callback_ids = 0

    # ---- events and updates ------------------------------------------------------------------

    def publish(self, event_type: str, **fields: Any) -> None:
        self.bus.publish({"type": event_type, "at": now(), **fields})

    def emit(self, kind: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Create an update for the bot and announce it; None when allowed_updates filtered it."""
        update = self.updates.push(kind, body)
        self.publish(
            "update",
            update_type=kind,
            update_id=update["update_id"] if update else None,
            queued=update is not None,
        )
        return update

    def new_callback_id(self) -> str:
        self._callback_ids += 1
        return f"{self.config.bot_id}{self._callback_ids:010d}"

    # ---- rendering ---------------------------------------------------------------------------

    def message_to_api(self, message: SimMessage) -> dict[str, Any]:
        return self.world.message_to_api(message)

    def serialize_message(self, message: SimMessage) -> dict[str, Any]:
        """A message as the sandbox page shows it: JSON-able, with a download path for media."""
        media = None
        if message.file is not None:
            file = message.file
            media = {
                "kind": file.kind,
                "file_id": file.file_id,
                "url": f"/_sim/file/{file.file_id}",
                "file_name": file.file_name,
                "mime_type": file.mime_type,
                "size": file.size,
                "width": file.width,
                "height": file.height,
                "duration": file.duration,
            }
        markup = message.reply_markup or {}
        return {
            "chat_id": message.chat_id,
            "message_id": message.message_id,
            "date": message.date,
            "from": "bot" if message.from_bot else "user",
            "sender_id": message.sender_id,
            "kind": message.kind,
            "text": message.text,
            "entities": message.entities,
            "caption": message.caption,
            "caption_entities": message.caption_entities,
            "content": message.content,
            "parse_mode": message.parse_mode,
            "source": message.source,
            "buttons": message.buttons,
            "reply_keyboard": None if "inline_keyboard" in markup or not markup else markup,
            "media": media,
            "media_group_id": message.media_group_id,
            "invoice": message.invoice,
            "payment": message.payment,
            "reply_to_message_id": message.reply_to_message_id,
            "edit_count": message.edit_count,
            "deleted": message.deleted,
        }

    # ---- housekeeping ------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget users, chats, messages, files, updates, queries, payments and faults. The bot's
        identity, commands and webhook setting stay: the bot under test keeps running."""
        bot = self.world.bot
        self.world = World(bot)
        self.updates.drop_pending()
        self.updates.created.clear()
        self.updates.delivered.clear()
        self.stars = StarsBook()
        self.faults.clear()
        self.callbacks.clear()
        self.callback_answers.clear()
        self.chat_actions.clear()
        self.requests.clear()
        self.webhook_status = WebhookStatus()
        self.flood = FloodControl(self.config.flood_rules) if self.config.flood_rules else None
        self.publish("reset")
