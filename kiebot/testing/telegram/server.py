"""A fake Telegram Bot API server that speaks real HTTP, for tests and the browser sandbox.

``FakeTelegram`` is a quart-trio app served by hypercorn on 127.0.0.1 (port 0 by default); its
base URL stands in for ``TELEGRAM_API_URL``. It keeps a world model — users, chats, every message
both ways, files, callback queries, invoices and Stars payments — answers the Bot API methods the
bot uses with Telegram's own envelopes and error texts (https://core.telegram.org/bots/api), and
sends updates the two ways Telegram does: ``getUpdates`` long polling and webhook delivery. It
imports nothing from ``kiebot.telegram``: it checks the wire format a client produces.

Users act through this class (``send_text``, ``tap``, ``pay_invoice``, ``block_bot`` ...) or the
same actions over HTTP under ``/_sim`` (see ``fake_telegram_sim``). Typical use::

    fake = FakeTelegram(precheckout_timeout=2)
    async with trio.open_nursery() as nursery:
        api_url = await nursery.start(fake.serve)        # "http://127.0.0.1:PORT"
        fake.add_user(1001, "Anna")
        fake.send_text(1001, "/start")
        reply = await fake.wait_for_message(1001, contains="Welcome")
        fake.tap(1001, reply.message_id, "menu:topup")
        nursery.cancel_scope.cancel()

The modules next to this one each do one job: ``_world`` (data), ``_updates`` (getUpdates
queue), ``_webhook`` (delivery), ``_methods_*`` (the Bot API), ``_users`` (what users do),
``_sim`` (HTTP control API), ``_validate``/``_html``/``_params`` (Telegram's checks),
``_errors`` (exact envelopes), ``_faults`` (injection), ``_events`` (change feed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import trio

from kiebot.runtime.serving import hypercorn_config, start_serving
from kiebot.testing.telegram import users
from kiebot.testing.telegram.app import create_app
from kiebot.testing.telegram.methods.core import commands_for, scope_key
from kiebot.testing.telegram.model.stars import Payment, PaymentResult
from kiebot.testing.telegram.model.state import (
    DEFAULT_TOKEN,
    CallbackAnswer,
    FakeConfig,
    RequestRecord,
    State,
)
from kiebot.testing.telegram.model.world import SimMessage, SimUser
from kiebot.testing.telegram.rules.faults import Fault
from kiebot.testing.telegram.rules.flood import FloodRules
from kiebot.testing.telegram.sim import register as register_sim
from kiebot.testing.telegram.users import SimError
from kiebot.testing.telegram.webhook import WebhookRunner

__all__ = ["DEFAULT_TOKEN", "FakeTelegram", "FloodRules", "PaymentResult", "SimError", "SimMessage"]


class FakeTelegram:
    """The fake Bot API server and the control panel of its simulated users."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "kiebot_test_bot",
        bot_first_name: str = "Kiebot",
        precheckout_timeout: float = 10.0,
        callback_timeout: float = 15.0,
        webhook_backoff_scale: float = 1.0,
        webhook_timeout: float = 10.0,
        strict_params: bool = True,
        flood_rules: FloodRules | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        """``flood_rules`` turns on organic 429s for sending too fast (off by default: only
        injected faults answer 429). ``http_client`` delivers webhooks and fetches files sent by
        URL; by default :meth:`serve` opens one (without proxies from the environment) and closes
        it."""
        self.config = FakeConfig(
            token=token,
            bot_username=bot_username,
            bot_first_name=bot_first_name,
            precheckout_timeout=precheckout_timeout,
            callback_timeout=callback_timeout,
            webhook_backoff_scale=webhook_backoff_scale,
            webhook_timeout=webhook_timeout,
            strict_params=strict_params,
            flood_rules=flood_rules,
        )
        self.state = State(self.config)
        self.app = create_app(self.state)
        register_sim(self.app, self.state)
        self._http = http_client
        self.base_url: str | None = None

    # ---- the server --------------------------------------------------------------------------

    @property
    def token(self) -> str:
        return self.config.token

    @property
    def bot(self) -> dict[str, Any]:
        """The bot's ``User`` object, as getMe shows it."""
        return self.state.world.bot.to_api()

    async def serve(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until cancelled; reports the base URL (``http://127.0.0.1:PORT``)."""
        config = hypercorn_config(host, port, log_name="kiebot.testing.telegram.server", graceful_s=0.5)
        owned = self._http is None
        client = self._http or httpx.AsyncClient(trust_env=False)
        self.state.http = client
        try:
            async with trio.open_nursery() as nursery:
                runner = WebhookRunner(self.state, client, nursery)
                self.state.on_webhook_change = runner.apply
                runner.apply()
                self.base_url = await start_serving(nursery, self.app, config)
                task_status.started(self.base_url)
        finally:
            self.state.on_webhook_change = lambda: None
            self.state.bus.close_all()
            self.state.http = None
            if owned:
                with trio.CancelScope(shield=True):
                    await client.aclose()

    # ---- users act -----------------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        username: str | None = None,
        language_code: str | None = "ru",
        last_name: str | None = None,
        started: bool = True,
    ) -> dict[str, Any]:
        """A user with a private chat. ``started=False``: the user never opened the bot, so the
        bot's sends fail with 403 until the user writes."""
        user = users.add_user(
            self.state,
            user_id,
            first_name,
            username=username,
            language_code=language_code,
            last_name=last_name,
            started=started,
        )
        return user.to_api()

    def add_group(self, chat_id: int, title: str) -> None:
        """A supergroup the bot is in (users write there with ``chat_id=``)."""
        users.add_group(self.state, chat_id, title)

    def send_text(
        self, user_id: int, text: str, *, chat_id: int | None = None, reply_to: int | None = None
    ) -> dict[str, Any]:
        """The user writes; returns the ``Message`` (commands carry a ``bot_command`` entity)."""
        return self.state.message_to_api(
            users.send_text(self.state, user_id, text, chat_id=chat_id, reply_to=reply_to)
        )

    def send_photo(
        self, user_id: int, data: bytes, *, caption: str | None = None, chat_id: int | None = None
    ) -> dict[str, Any]:
        return self._send_file(user_id, "photo", data, caption=caption, chat_id=chat_id)

    def send_document(
        self,
        user_id: int,
        data: bytes,
        *,
        file_name: str,
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> dict[str, Any]:
        return self._send_file(
            user_id, "document", data, caption=caption, file_name=file_name, mime_type=mime_type
        )

    def send_audio(
        self,
        user_id: int,
        data: bytes,
        *,
        file_name: str = "audio.mp3",
        mime_type: str | None = "audio/mpeg",
        duration: int = 1,
        caption: str | None = None,
    ) -> dict[str, Any]:
        return self._send_file(
            user_id,
            "audio",
            data,
            caption=caption,
            file_name=file_name,
            mime_type=mime_type,
            duration=duration,
        )

    def send_voice(
        self,
        user_id: int,
        data: bytes,
        *,
        duration: int = 1,
        mime_type: str = "audio/ogg",
        caption: str | None = None,
    ) -> dict[str, Any]:
        return self._send_file(
            user_id, "voice", data, caption=caption, mime_type=mime_type, duration=duration
        )

    def send_video(
        self,
        user_id: int,
        data: bytes,
        *,
        file_name: str = "video.mp4",
        duration: int = 1,
        caption: str | None = None,
    ) -> dict[str, Any]:
        return self._send_file(
            user_id,
            "video",
            data,
            caption=caption,
            file_name=file_name,
            mime_type="video/mp4",
            duration=duration,
        )

    def _send_file(self, user_id: int, kind: str, data: bytes, **fields: Any) -> dict[str, Any]:
        return self.state.message_to_api(users.send_file(self.state, user_id, kind, data, **fields))

    def edit_text(self, user_id: int, message_id: int, text: str) -> dict[str, Any]:
        """The user edits a message they sent (an ``edited_message`` update)."""
        return self.state.message_to_api(users.edit_text(self.state, user_id, message_id, text))

    def tap(self, user_id: int, message_id: int, callback_data: str, *, force: bool = False) -> str:
        """The user presses an inline button; returns the callback query id. Data not on that
        message's keyboard raises :class:`SimError` unless ``force=True`` (tampered data)."""
        return users.tap(self.state, user_id, message_id, callback_data, force=force)

    def tap_button(self, user_id: int, message_id: int, text_contains: str) -> str:
        """Press the button whose label contains ``text_contains``."""
        message = self.message(user_id, message_id)
        button = message.button(text_contains)
        if "callback_data" not in button:
            raise SimError(f"button {button.get('text')!r} is not a callback button")
        return self.tap(user_id, message_id, str(button["callback_data"]))

    async def pay_invoice(self, user_id: int, message_id: int) -> PaymentResult:
        """The user pays the invoice message ``message_id`` in their chat: a pre_checkout_query,
        then — if the bot answers ok within ``precheckout_timeout`` — a successful_payment."""
        return await users.pay(self.state, user_id, users.invoice_message(self.state, user_id, message_id))

    async def pay_invoice_link(self, user_id: int, link: str) -> PaymentResult:
        """The user pays an invoice link made by createInvoiceLink."""
        invoice = self.state.stars.links.get(link)
        if invoice is None:
            raise SimError(f"no invoice link {link}", 404)
        return await users.pay(self.state, user_id, invoice)

    def block_bot(self, user_id: int) -> None:
        users.set_blocked(self.state, user_id, True)

    def unblock_bot(self, user_id: int) -> None:
        users.set_blocked(self.state, user_id, False)

    def redeliver(self, update_id: int, *, same_id: bool = False) -> dict[str, Any]:
        """Deliver an update again (duplicate delivery); a fresh update_id unless ``same_id``."""
        return users.redeliver(self.state, update_id, same_id=same_id)

    def redeliver_payment(self, telegram_payment_charge_id: str, *, same_id: bool = False) -> dict[str, Any]:
        """Deliver the successful_payment update of a charge once more."""
        return users.redeliver_payment(self.state, telegram_payment_charge_id, same_id=same_id)

    # ---- what happened -----------------------------------------------------------------------

    def user(self, user_id: int) -> SimUser:
        return users.user(self.state, user_id)

    def transcript(self, chat_id: int, *, include_deleted: bool = True) -> list[SimMessage]:
        """Every message of the chat, both ways, oldest first."""
        chat = self.state.world.chats.get(chat_id)
        if chat is None:
            raise SimError(f"no chat {chat_id}", 404)
        return [m for m in chat.messages.values() if include_deleted or not m.deleted]

    def message(self, chat_id: int, message_id: int) -> SimMessage:
        found = self.state.world.message(chat_id, message_id)
        if found is None:
            raise SimError(f"no message {message_id} in chat {chat_id}", 404)
        return found

    def bot_messages(self, chat_id: int) -> list[SimMessage]:
        return [m for m in self.transcript(chat_id, include_deleted=False) if m.from_bot]

    def last_bot_message(self, chat_id: int) -> SimMessage | None:
        sent = self.bot_messages(chat_id)
        return sent[-1] if sent else None

    async def wait_for_message(
        self,
        chat_id: int,
        *,
        contains: str | None = None,
        predicate: Callable[[SimMessage], bool] | None = None,
        after: int = 0,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for the wait, not for I/O the caller could scope
    ) -> SimMessage:
        """The newest bot message in the chat (id > ``after``, not deleted) that contains the
        text and satisfies the predicate — now or once it is sent or edited to match. Wakes on
        every change of the fake, never polls; fails with AssertionError after ``timeout``."""

        def check() -> SimMessage | None:
            chat = self.state.world.chats.get(chat_id)
            if chat is None:
                return None
            for message in reversed(chat.messages.values()):
                if message.message_id <= after or not message.from_bot or message.deleted:
                    continue
                if contains is not None and contains not in message.content:
                    continue
                if predicate is not None and not predicate(message):
                    continue
                return message
            return None

        def describe() -> str:
            last = self.last_bot_message(chat_id) if chat_id in self.state.world.chats else None
            shown = repr(last.content[:200]) if last else "none"
            return f"no bot message in chat {chat_id} matching contains={contains!r} within {timeout} s; last: {shown}"

        return await self.state.bus.wait_until(check, timeout, describe)

    async def wait_for(
        self,
        check: Callable[[], Any],
        *,
        timeout: float = 10.0,  # noqa: ASYNC109
        what: str = "condition",
    ) -> Any:
        """Wait until ``check()`` returns something other than None/False; re-checked on every
        change of the fake."""
        return await self.state.bus.wait_until(
            lambda: check() or None, timeout, lambda: f"{what} not met within {timeout} s"
        )

    async def wait_for_callback_answer(
        self,
        callback_query_id: str,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        def check() -> CallbackAnswer | None:
            record = self.state.callbacks.get(callback_query_id)
            return record.answer if record else None

        return await self.state.bus.wait_until(
            check, timeout, lambda: f"callback query {callback_query_id} not answered within {timeout} s"
        )

    @property
    def callback_answers(self) -> list[CallbackAnswer]:
        return self.state.callback_answers

    @property
    def payments(self) -> list[Payment]:
        """Successful payments (charges), refunded ones included (``status``)."""
        return self.state.stars.payments

    @property
    def payment_attempts(self) -> list[PaymentResult]:
        return self.state.stars.attempts

    @property
    def star_transactions(self) -> list[dict[str, Any]]:
        return self.state.stars.transactions

    @property
    def delivered_updates(self) -> list[dict[str, Any]]:
        """Updates handed to the bot, in order (getUpdates results and 2xx webhook deliveries)."""
        return self.state.updates.delivered

    @property
    def updates(self) -> list[dict[str, Any]]:
        """Every update created, in order."""
        return self.state.updates.created

    @property
    def pending_update_count(self) -> int:
        return len(self.state.updates.pending)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every Bot API call received, in order, with its parameters and answer status."""
        return self.state.requests

    def calls(self, method: str) -> list[RequestRecord]:
        """The recorded calls of one method (name case-insensitive)."""
        return [r for r in self.state.requests if r.method.lower() == method.lower()]

    @property
    def chat_actions(self) -> list[dict[str, Any]]:
        return self.state.chat_actions

    @property
    def webhook_attempts(self) -> list[dict[str, Any]]:
        """Each webhook POST: update_id, key (chat), error (None on 2xx), trio time."""
        return self.state.webhook_status.attempts

    def commands(self, language_code: str = "", scope: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The commands setMyCommands stored for exactly this scope and language."""
        return list(self.state.commands.get((scope_key(scope), language_code), []))

    def menu_for(self, user_id: int) -> list[dict[str, Any]]:
        """The command menu this user's app would show (scope and language fallbacks applied)."""
        return commands_for(self.state, user_id)

    def file_bytes(self, file_id: str) -> bytes:
        file = self.state.world.files.get(file_id)
        if file is None:
            raise SimError(f"no file {file_id}", 404)
        return file.data

    # ---- faults, sandbox, housekeeping ---------------------------------------------------------

    def inject(
        self,
        method: str | None = None,
        *,
        status: int | None = 429,
        retry_after: int = 1,
        description: str | None = None,
        times: int | None = 1,
        delay: float = 0.0,
        chat_id: int | None = None,
        hang: bool = False,
        after: bool = False,
    ) -> Fault:
        """Make the next ``times`` matching calls (None = every one) fail or stall.

        ``status=429`` answers ``Too Many Requests: retry after <retry_after>``; 5xx answers
        ``Internal Server Error`` and the like; ``status=None`` only stalls (``delay`` seconds, or
        for ever with ``hang=True``) and then answers normally. ``after=True`` applies the fault
        once the call took effect (the message is sent, the answer is slow, lost or an error).
        ``method=None`` matches every method; ``chat_id`` narrows to one chat.
        """
        return self.state.faults.add(
            Fault(method, status, retry_after, description, times, delay, chat_id, hang, after)
        )

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def subscribe(self, buffer: int = 1000) -> trio.MemoryReceiveChannel[dict[str, Any]]:
        """A channel of every change as a JSON-able dict (``{"type": "message_sent", ...}``)."""
        return self.state.bus.subscribe(buffer)

    def serialize_message(self, message: SimMessage) -> dict[str, Any]:
        return self.state.serialize_message(message)

    def message_to_api(self, message: SimMessage) -> dict[str, Any]:
        return self.state.message_to_api(message)

    def backdate(self, chat_id: int, message_id: int, seconds: int) -> None:
        """Make a message older (e.g. past the 48 h deletion window)."""
        self.message(chat_id, message_id).date -= seconds

    def reset(self) -> None:
        """Forget users, chats, messages, files, updates, payments and faults (the bot, its
        commands and its webhook setting stay)."""
        self.state.reset()

    def file_url(self, file_id: str) -> str:
        """Where the sandbox page downloads a message's file (no token in it)."""
        return f"{self.base_url or ''}/_sim/file/{file_id}"

    def method_url(self, method: str) -> str:
        """A Bot API method's URL on this fake, token included (as a bot calls it)."""
        return f"{self.base_url or ''}/bot{self.token}/{method}"

    async def call_raw(
        self, client: httpx.AsyncClient, method: str, *, client_timeout: float | None = None, **params: Any
    ) -> tuple[int, dict[str, Any]]:
        """Call ``method`` with a JSON body the way any HTTP client would (no kiebot client in
        between, for tests of the fake's own strictness): the status and the decoded answer."""
        timeout = client_timeout if client_timeout is not None else client.timeout
        response = await client.post(self.method_url(method), json=params, timeout=timeout)
        return response.status_code, response.json()
