"""Telling people what happened to a job: the user's progress message, and the admins.

The progress message is edited, not re-sent, at each step (a chat full of "still working"
messages is what users of peer bots complain about), and edits are throttled by the caller
(father-bot #345: editing too often hits rate limits). Admin alerts are throttled per topic so an
outage sends one message, not one per failed job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import trio

from kiebot.catalog import ModelSpec, Registry, title
from kiebot.chat.format import Safe, approx_duration, duration, render, rub
from kiebot.config import Settings
from kiebot.generation.reasons import user_reason
from kiebot.store import job_tracking, users
from kiebot.store.db import Database, DatabaseUnavailable
from kiebot.store.jobs import Job
from kiebot.telegram.client import TelegramClient
from kiebot.telegram.errors import BadRequest, ChatNotFound, Forbidden, TelegramError
from kiebot.telegram.types import InlineKeyboardButton, InlineKeyboardMarkup

log = logging.getLogger(__name__)

Rows = Sequence[Sequence[InlineKeyboardButton]]


def model_title(registry: Registry, model_id: str, lang: str) -> str:
    spec = registry.get(model_id)
    return title(spec, lang) if spec is not None else model_id


async def user_language(db: Database, user_id: int) -> str:
    async with db.connection() as conn:
        user = await users.get_user(conn, user_id)
    return user.language if user is not None else "ru"


def refund_text(job: Job, lang: str) -> str:
    if job.free:
        return render(lang, "generation.refund_free")
    if job.dry_run or job.quote_kopecks == 0:
        return ""
    return render(lang, "generation.refund_paid", price=Safe(rub(job.quote_kopecks, lang)))


def progress_text(job: Job, spec: ModelSpec | None, lang: str, now: datetime) -> str:
    """The progress message for the job's current state."""
    name = title(spec, lang) if spec is not None else job.model_id
    elapsed = duration((now - job.created_at).total_seconds(), lang)
    if job.state == "queued":
        price = render(lang, "generation.charged_free") if job.free else rub(job.quote_kopecks, lang)
        return render(lang, "generation.queued", model=name, elapsed=elapsed, price=Safe(price))
    if job.state in ("submitting", "submitted"):
        typical = approx_duration(spec.typical_seconds if spec else 60, lang)
        return render(lang, "generation.generating", model=name, elapsed=elapsed, typical=typical)
    return render(lang, "generation.sending", model=name)


class Notifier:
    """Sends job news to users and admins; never raises for a user who blocked the bot."""

    def __init__(self, settings: Settings, db: Database, tg: TelegramClient, registry: Registry, *, admin_every_s: float = 600.0) -> None:
        self._settings = settings
        self._db = db
        self._tg = tg
        self._registry = registry
        self._admin_every_s = admin_every_s
        self._admin_last: dict[str, float] = {}

    async def edit_progress(self, job: Job, text: str, rows: Rows | None = None) -> bool:
        """Edit the job's progress message; False when there is none or the edit did not happen.

        Best effort, never raises a Telegram error: a progress edit reports on the job, it is not
        a step of it. A 5xx, a network error or a 429 storm that outlasts the client's retries
        used to escape from here and stop the job wherever it was — right after
        ``queued → submitting`` that left it unsent to Kie until its deadline (found by the chaos
        run, tests/chaos; regression test in tests/chaos/test_findings.py).
        """
        if job.progress_message_id is None:
            return False
        markup = InlineKeyboardMarkup(inline_keyboard=[list(r) for r in rows]) if rows else None
        try:
            await self._tg.edit_message_text(job.chat_id, job.progress_message_id, text, parse_mode="HTML", reply_markup=markup)
        except (BadRequest, Forbidden) as exc:
            log.info("progress edit refused", extra={"job_id": job.id, "error": type(exc).__name__})
            return False
        except TelegramError as exc:
            log.warning("progress edit failed", extra={"job_id": job.id, "error": type(exc).__name__})
            return False
        return True

    async def send(self, chat_id: int, text: str, rows: Rows | None = None) -> int | None:
        markup = InlineKeyboardMarkup(inline_keyboard=[list(r) for r in rows]) if rows else None
        try:
            message = await self._tg.send_message(chat_id, text, parse_mode="HTML", reply_markup=markup, disable_web_page_preview=True)
        except (Forbidden, ChatNotFound):
            # Blocked, or the chat is gone (a deleted account): the job's news has nowhere to go,
            # and raising here would turn Kie's callback into a 500 after the job already moved.
            return None
        return message.message_id

    async def final(self, job: Job, text: str) -> None:
        """Show an outcome: in the progress message if there is one, else as a new message."""
        if not await self.edit_progress(job, text):
            await self.send(job.chat_id, text)

    async def job_ended_without_result(self, job: Job, reason_key: str, detail: str = "") -> bool:
        """Tell the user a job failed / was cancelled / timed out, and that the money is back;
        True once they were told (or cannot be: blocked the bot, chat gone).

        At least once: the message goes out after the job's end and its refund were committed, so
        a told user is recorded (:func:`kiebot.store.job_tracking.mark_told`) and one who was not
        — Telegram failing past the client's retries, or the process dying in between — is told
        by the leader's reconciler (:func:`kiebot.generation.reconcile.retell_untold`). Never
        raises a Telegram error: the job has ended and its money is settled whatever happens here
        (found by the chaos run, tests/chaos; regression test in tests/chaos/test_findings.py).
        """
        lang = await user_language(self._db, job.user_id)
        name = model_title(self._registry, job.model_id, lang)
        refund = refund_text(job, lang)
        if job.state == "cancelled":
            text = render(lang, "generation.cancelled", model=name, refund=Safe(refund))
        elif job.state == "timed_out":
            spec = self._registry.get(job.model_id)
            limit = approx_duration(spec.timeout_seconds if spec else 600, lang)
            text = render(lang, "generation.timed_out", model=name, limit=limit, refund=Safe(refund))
        else:
            # Kie's words and ours ("no result files", "Kie code 422: …") stay on the admin job
            # card; the user gets one of a few reasons in their language.
            reason = render(lang, f"generation.reason.{user_reason(reason_key, detail)}")
            text = render(lang, "generation.failed", model=name, reason=Safe(reason), refund=Safe(refund))
        try:
            await self.final(job, text)
        except TelegramError as exc:
            log.warning("user not told how the job ended; the reconciler will retry", extra={"job_id": job.id, "error": type(exc).__name__})
            return False
        try:
            async with self._db.connection() as conn:
                await job_tracking.mark_told(conn, job)
        except DatabaseUnavailable:
            log.warning("user told, but that could not be recorded; they may be told twice", extra={"job_id": job.id})
        return True

    async def admins(self, key: str, *, topic: str | None = None, **params: object) -> None:
        """Alert every admin in their language, at most once per ``admin_every_s`` per topic."""
        await self.admins_text(topic or key, lambda lang: render(lang, key, **params))

    async def admins_text(self, topic: str, text_for: Callable[[str], str]) -> int:
        """Send ``text_for(lang)`` to every admin, at most once per ``admin_every_s`` per topic
        (for texts whose parts depend on the language too: money, model titles); returns how many
        admins it reached (0 also when the topic was throttled)."""
        now = trio.current_time()
        last = self._admin_last.get(topic)
        if last is not None and now - last < self._admin_every_s:
            return 0
        self._admin_last[topic] = now
        reached = 0
        for admin_id in self._settings.admin_ids:
            lang = await user_language(self._db, admin_id)
            try:
                await self._tg.send_message(admin_id, text_for(lang), parse_mode="HTML")
            except TelegramError as exc:
                log.info("admin alert not delivered", extra={"error": type(exc).__name__})
            else:
                reached += 1
        return reached
