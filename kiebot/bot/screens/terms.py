"""/terms and /paysupport — what Telegram requires of a bot that sells for Stars.

* ``/terms`` and ``terms`` (the invoice screens link it): the terms, shown before buying
  (https://core.telegram.org/bots/payments-stars asks bots to publish them).
* ``/paysupport``: "All TPA must be able to respond to the command /paysupport and process user
  requests regarding payment issues" (Telegram's Terms of Service for Bot Developers, §6.2.1). The
  user's next message (text, or a photo/document with a caption) — or the text right after the
  command — is relayed to every admin with the user's id, balance and recent Stars payments (charge
  ids, which ``refundStarPayment`` needs) and a ✉️ Reply button (``psr:<user_id>``, admin only)
  whose typed answer (state ``ps_reply``) goes back to the user from the bot.

Relays are capped per user (:mod:`kiebot.store.support`: 3 per 10 minutes, a banned user 1 per
day, counted in PostgreSQL): past the cap the user is told politely when they can write again, and
nothing reaches the admins. The /paysupport prompt checks first, so nobody types a question that
would not be sent; the relay itself takes the slot atomically.
"""

from __future__ import annotations

import logging

from kiebot.bot.context import Ctx, Keyboard, markup
from kiebot.bot.router import routes
from kiebot.bot.screens.typed_input import expect_typed_input
from kiebot.chat import clock
from kiebot.chat.callback_data import cb, int_arg
from kiebot.chat.format import Safe, duration, escape, render, rub
from kiebot.logs import mask_user_id
from kiebot.payments import rules
from kiebot.store import conversations, money, payments, support, users
from kiebot.store.conversations import ANY_VERSION, ConversationState
from kiebot.telegram.errors import BadRequest, Forbidden, TelegramError
from kiebot.telegram.types import InlineKeyboardButton as Button
from kiebot.telegram.types import Message

log = logging.getLogger(__name__)

SUPPORT_STATE = "paysupport"
REPLY_STATE = "ps_reply"
#: The relayed question is cut here so the admin's message stays under Telegram's 4096 characters
#: (https://core.telegram.org/bots/api#sendmessage) and a 1024-character caption with a screenshot.
MAX_QUESTION_CHARS = 2500
MAX_CAPTION_QUESTION_CHARS = 400
RECENT_PAYMENTS = 5


def terms_text(ctx: Ctx) -> str:
    settings = ctx.deps.settings
    rate = rub(rules.stars_to_kopecks(1, settings.stars_rub_rate), ctx.lang)
    parts = [ctx.t("terms.title"), ctx.t("terms.body", rate=Safe(rate))]
    if settings.manual_topup_enabled:
        parts.append(ctx.t("terms.manual"))
    if settings.support_telegram:
        parts.append(ctx.t("terms.contact", contact=settings.support_telegram))
    return "\n\n".join(parts)


def _terms_keyboard(ctx: Ctx) -> Keyboard:
    return [
        [Button.callback(ctx.t("terms.topup_button"), cb("topup"))],
        [Button.callback(ctx.t("common.menu"), cb("menu"))],
    ]


@routes.command("terms")
async def terms_command(ctx: Ctx, arg: str) -> None:
    await ctx.send(terms_text(ctx), _terms_keyboard(ctx))


@routes.callback("terms")
async def terms_button(ctx: Ctx, args: list[str]) -> None:
    # Sent as a new message: the button also sits under invoices, which cannot become text.
    await ctx.send(terms_text(ctx), _terms_keyboard(ctx))


# ---- /paysupport ----------------------------------------------------------------------------------


@routes.command("paysupport")
async def paysupport_command(ctx: Ctx, arg: str) -> None:
    if arg:
        await _relay(ctx, arg, None)
        return
    if not ctx.deps.settings.admin_ids:
        await ctx.send(_unavailable_text(ctx))
        return
    async with ctx.conn() as conn:
        verdict = await support.relay_allowed(conn, ctx.user_id, support.limit_for(banned=ctx.user.banned))
    if not verdict.allowed:
        await ctx.send(await _limited_text(ctx, verdict))
        return
    await expect_typed_input(ctx, SUPPORT_STATE)
    text = ctx.t("terms.support.prompt")
    if ctx.deps.settings.support_telegram:
        text += "\n\n" + ctx.t("terms.contact", contact=ctx.deps.settings.support_telegram)
    await ctx.send(text, [[Button.callback(ctx.t("common.cancel"), cb("menu"))]])


def _unavailable_text(ctx: Ctx) -> str:
    text = ctx.t("terms.support.unavailable")
    if ctx.deps.settings.support_telegram:
        text += "\n" + ctx.t("terms.contact", contact=ctx.deps.settings.support_telegram)
    return text


@routes.state(SUPPORT_STATE)
async def question_received(ctx: Ctx, state: ConversationState, message: Message) -> None:
    attachment = rules.Receipt.from_message(message)
    question = (message.text or message.caption or "").strip()
    if not question and attachment is None:
        await ctx.send(ctx.t("terms.support.text_needed"), [[Button.callback(ctx.t("common.cancel"), cb("menu"))]])
        return
    async with ctx.tx() as conn:
        await conversations.clear_state(conn, ctx.user_id)
    await _relay(ctx, question, attachment)


async def _relay(ctx: Ctx, question: str, attachment: rules.Receipt | None) -> None:
    """Send the question to every admin (each in their language), then confirm to the user."""
    admins = ctx.deps.settings.admin_ids
    if not admins:
        await ctx.send(_unavailable_text(ctx))
        return
    async with ctx.conn() as conn:
        verdict = await support.take_relay(conn, ctx.user_id, support.limit_for(banned=ctx.user.banned))
    if not verdict.allowed:
        log.info("payment question not relayed: over the cap", extra={"user": mask_user_id(ctx.user_id), "used": verdict.used})
        await ctx.send(await _limited_text(ctx, verdict))
        return
    delivered = 0
    for admin_id in admins:
        if await _relay_to(ctx, admin_id, question, attachment):
            delivered += 1
    log.info("payment question relayed", extra={"user": mask_user_id(ctx.user_id), "admins": delivered})
    await ctx.send(ctx.t("terms.support.sent") if delivered else _unavailable_text(ctx))


async def _limited_text(ctx: Ctx, verdict: support.RelayVerdict) -> str:
    """"You have written N times already; you can write again in …" (plus the contact, if any)."""
    wait = 60.0
    if verdict.next_at is not None:
        async with ctx.conn() as conn:
            now = await conn.fetchval("SELECT clock_timestamp()")
        wait = max(60.0, (verdict.next_at - now).total_seconds())
    text = ctx.t("edges.support_limited", used=verdict.used, wait=duration(wait, ctx.lang))
    if ctx.deps.settings.support_telegram:
        text += "\n" + ctx.t("terms.contact", contact=ctx.deps.settings.support_telegram)
    return text


async def _relay_to(ctx: Ctx, admin_id: int, question: str, attachment: rules.Receipt | None) -> bool:
    async with ctx.conn() as conn:
        admin = await users.get_user(conn, admin_id)
        account = await money.get_account(conn, ctx.user_id)
        recent = await payments.user_payments(conn, ctx.user_id, RECENT_PAYMENTS)
    lang = admin.language if admin is not None else "ru"
    limit = MAX_CAPTION_QUESTION_CHARS if attachment is not None else MAX_QUESTION_CHARS
    shown = question if len(question) <= limit else question[: limit - 1] + "…"
    head = render(
        lang,
        "terms.support.relay",
        user=Safe(_who(ctx.user)),
        balance=Safe(rub(account.balance, lang)),
        held=Safe(rub(account.held, lang)),
        text=shown or "—",
    )
    zone_name = ctx.deps.settings.timezone
    text = head + "\n\n" + _payments_block(lang, recent, zone_name)
    keyboard = markup([[Button.callback(render(lang, "terms.support.reply_button"), cb("psr", ctx.user_id))]])
    try:
        if attachment is None:
            await ctx.tg.send_message(admin_id, text, parse_mode="HTML", reply_markup=keyboard)
        elif attachment.kind == "photo":
            await ctx.tg.send_photo(admin_id, attachment.file_id, caption=head, parse_mode="HTML")
            await ctx.tg.send_message(admin_id, _payments_block(lang, recent, zone_name), parse_mode="HTML", reply_markup=keyboard)
        else:
            await ctx.tg.send_document(admin_id, attachment.file_id, caption=head, parse_mode="HTML")
            await ctx.tg.send_message(admin_id, _payments_block(lang, recent, zone_name), parse_mode="HTML", reply_markup=keyboard)
    except TelegramError as exc:
        # Transient failures too: the question was taken (the state is cleared), so a retry of
        # the update would not find it again; the user is told if no admin got it.
        log.warning("payment question not delivered to an admin", extra={"error": type(exc).__name__})
        return False
    return True


def _who(user: users.User) -> str:
    name = escape(" ".join(p for p in (user.first_name, user.last_name) if p) or "—")
    handle = f" (@{escape(user.username)})" if user.username else ""
    return f"{name}{handle} · <code>{user.user_id}</code>"


def _payments_block(lang: str, recent: list[payments.StarsPayment], zone_name: str) -> str:
    if not recent:
        return render(lang, "terms.support.no_payments")
    lines = [render(lang, "terms.support.payments_header", zone=clock.zone_name(zone_name, lang))]
    for p in recent:
        status = render(lang, "terms.support.status_refunded" if p.status == "refunded" else "terms.support.status_paid")
        lines.append(
            render(
                lang,
                "terms.support.payment_line",
                when=clock.when(p.paid_at, zone_name, lang, "long"),
                stars=p.stars,
                amount=Safe(rub(p.kopecks, lang)),
                status=status,
                charge=p.telegram_payment_charge_id,
            )
        )
    return "\n".join(lines)


# ---- the admin's answer ---------------------------------------------------------------------------


@routes.callback("psr", admin=True)
async def reply_pressed(ctx: Ctx, args: list[str]) -> None:
    user_id = int_arg(args, 0, minimum=1)
    async with ctx.tx() as conn:
        target = await users.get_user(conn, user_id)
        await conversations.set_state(
            conn, ctx.user_id, REPLY_STATE, {"user_id": user_id}, ttl_s=ctx.deps.settings.fsm_state_ttl_s, expected_version=ANY_VERSION
        )
    who = Safe(_who(target)) if target is not None else str(user_id)
    await ctx.send(ctx.t("terms.support.ask_reply", user=who), [[Button.callback(ctx.t("common.cancel"), cb("menu"))]])


@routes.state(REPLY_STATE)
async def reply_typed(ctx: Ctx, state: ConversationState, message: Message) -> None:
    user_id = state.data.get("user_id")
    answer = (message.text or "").strip()
    if not ctx.is_admin or not isinstance(user_id, int):
        async with ctx.tx() as conn:
            await conversations.clear_state(conn, ctx.user_id)
        return
    if not answer:
        await ctx.send(ctx.t("terms.support.text_needed"))
        return
    async with ctx.tx() as conn:
        await conversations.clear_state(conn, ctx.user_id)
        target = await users.get_user(conn, user_id)
    lang = target.language if target is not None else "ru"
    try:
        await ctx.tg.send_message(user_id, render(lang, "terms.support.reply", text=answer[:MAX_QUESTION_CHARS]), parse_mode="HTML")
    except (Forbidden, BadRequest):
        await ctx.send(ctx.t("terms.support.reply_failed"))
        return
    log.info("payment question answered", extra={"user": mask_user_id(user_id), "admin": mask_user_id(ctx.user_id)})
    await ctx.send(ctx.t("terms.support.reply_sent"))
