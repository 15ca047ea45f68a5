"""📣 Broadcasts: compose → preview → confirm → sent in the background, with live progress.

1. ``adm.bn`` asks for the text; the admin sends a message (formatting kept, see :mod:`.compose`).
2. The text is stored as a draft (``store.broadcasts.create_broadcast``) and sent back to the
   admin by the very function that will send it to users (:func:`kiebot.chat.broadcast.send_broadcast_message`):
   the preview is exactly what users get. A text Telegram refuses (e.g. too long) is refused here,
   before anyone else sees it.
3. ✅ ``adm.bgo:<id>`` snapshots the recipients (users who neither blocked the bot nor are banned)
   and switches the broadcast to ``sending`` — audited in the same transaction; a second tap finds
   it already sending and changes nothing. The confirmation message becomes the progress message
   (remembered in ``kv`` so a resumed sender keeps editing it) and the sender
   (:class:`kiebot.chat.broadcast.BroadcastSender`, run by the leader) is woken.
4. ``adm.bx:<id>`` stops a draft or a running broadcast (pending recipients are never claimed).
"""

from __future__ import annotations

from kiebot.bot.context import Ctx
from kiebot.bot.router import routes
from kiebot.bot.screens.admin.common import (
    cancel_row,
    clear_input,
    nav_row,
    require_admin,
    short_when,
    with_notice,
)
from kiebot.bot.screens.admin.compose import entities_to_html
from kiebot.bot.screens.admin.jobcard import MAX_ID
from kiebot.bot.screens.typed_input import expect_typed_input
from kiebot.chat.broadcast import (
    BroadcastSender,
    ProgressTarget,
    progress_markup,
    progress_text,
    remember_progress,
    send_broadcast_message,
)
from kiebot.chat.callback_data import BadCallback, cb, int_arg
from kiebot.store import admin, broadcasts, conversations, stats
from kiebot.store.broadcasts import Broadcast
from kiebot.store.conversations import ConversationState
from kiebot.telegram.errors import BadRequest
from kiebot.telegram.limits import MAX_TEXT_CHARS
from kiebot.telegram.types import InlineKeyboardButton as Button
from kiebot.telegram.types import Message

STATE = "adm.bc_text"
RECENT = 5
STATUS_ICONS = {"draft": "📝", "sending": "📤", "done": "✅", "cancelled": "✖"}


def _sender(ctx: Ctx) -> BroadcastSender | None:
    sender = ctx.deps.broadcast
    return sender if isinstance(sender, BroadcastSender) else None


@routes.callback("adm.b", admin=True)
async def broadcasts_screen(ctx: Ctx, args: list[str]) -> None:
    await clear_input(ctx)
    await show_broadcasts(ctx)


async def show_broadcasts(ctx: Ctx, notice: str | None = None) -> None:
    async with ctx.conn() as conn:
        recent = [
            await broadcasts.get_broadcast(conn, i) for i in await stats.recent_broadcast_ids(conn, RECENT)
        ]
        reachable = await stats.reachable_users(conn)
        active = await broadcasts.active_broadcasts(conn)
    shown = {b.id: b for b in [*active, *recent] if b is not None}
    lines = [ctx.t("admin_broadcast.title", reachable=reachable)]
    rows: list[list[Button]] = [[Button.callback(ctx.t("admin_broadcast.new"), cb("adm.bn"))]]
    for b in sorted(shown.values(), key=lambda b: -b.id):
        lines.append(_line(ctx, b))
        rows.append(
            [
                Button.callback(
                    f"{STATUS_ICONS.get(b.status, '•')} #{b.id} · {short_when(ctx, b.created_at)}",
                    cb("adm.bv", b.id),
                )
            ]
        )
    if not shown:
        lines.append(ctx.t("admin_broadcast.none"))
    rows.append(nav_row(ctx))
    await ctx.show(with_notice(notice, "\n".join(lines)), rows)


def _line(ctx: Ctx, b: Broadcast) -> str:
    return ctx.t(
        "admin_broadcast.line",
        icon=STATUS_ICONS.get(b.status, "•"),
        id=b.id,
        status=ctx.t(f"admin_broadcast.status.{b.status}"),
        sent=b.sent,
        failed=b.failed,
        blocked=b.blocked,
        total=b.total,
    )


@routes.callback("adm.bn", admin=True)
async def compose_prompt(ctx: Ctx, args: list[str]) -> None:
    async with ctx.conn() as conn:
        reachable = await stats.reachable_users(conn)
    await expect_typed_input(ctx, STATE)
    await ctx.show(ctx.t("admin_broadcast.ask_text", reachable=reachable), [cancel_row(ctx, cb("adm.b"))])


@routes.state(STATE)
async def compose_input(ctx: Ctx, state: ConversationState, message: Message) -> None:
    await require_admin(ctx)
    if message.text is None or not message.text.strip():
        await ctx.send(ctx.t("admin_broadcast.text_only"), [cancel_row(ctx, cb("adm.b"))])
        return
    if len(message.text) > MAX_TEXT_CHARS:
        await ctx.send(ctx.t("admin_broadcast.too_long", max=MAX_TEXT_CHARS), [cancel_row(ctx, cb("adm.b"))])
        return
    text = entities_to_html(message.text, message.entities)
    try:
        await send_broadcast_message(ctx.tg, ctx.chat_id, text, bulk=False)
    except BadRequest as exc:
        await ctx.send(
            ctx.t("admin_broadcast.refused", detail=exc.description[:200]), [cancel_row(ctx, cb("adm.b"))]
        )
        return
    async with ctx.conn() as conn:
        draft = await broadcasts.create_broadcast(conn, ctx.user_id, text)
        reachable = await stats.reachable_users(conn)
        await conversations.clear_state(conn, ctx.user_id)
    await ctx.send(
        ctx.t("admin_broadcast.confirm", id=draft.id, reachable=reachable),
        [
            [Button.callback(ctx.t("admin_broadcast.send", n=reachable), cb("adm.bgo", draft.id))],
            [
                Button.callback(ctx.t("admin_broadcast.rewrite"), cb("adm.bx", draft.id, "new")),
                Button.callback(ctx.t("common.cancel"), cb("adm.bx", draft.id)),
            ],
        ],
    )


def broadcast_id_arg(args: list[str]) -> int:
    return int_arg(args, 0, minimum=1, maximum=MAX_ID)


@routes.callback("adm.bgo", admin=True)
async def start_button(ctx: Ctx, args: list[str]) -> None:
    broadcast_id = broadcast_id_arg(args)
    async with ctx.tx() as conn:
        before = await broadcasts.get_broadcast(conn, broadcast_id)
        if before is None:
            raise BadCallback("unknown broadcast")
        if before.status not in ("draft", "sending"):
            started = before
        else:
            started = await broadcasts.start_broadcast(conn, broadcast_id)
            if before.status == "draft":
                await admin.record_admin_action(
                    conn,
                    ctx.user_id,
                    "broadcast_start",
                    f"broadcast:{broadcast_id}",
                    before={"status": before.status},
                    after={"status": started.status, "total": started.total, "chars": len(started.text)},
                )
    if started.status != "sending":
        await show_broadcast(ctx, started)
        return
    shown = await ctx.show(
        progress_text(started, ctx.lang), progress_markup(started, ctx.lang).inline_keyboard
    )
    # The edited confirmation (or, if it could not be edited, the new message) shows the progress;
    # None means "not modified": the tapped message already shows it.
    message_id = shown.message_id if shown is not None else _tapped_message_id(ctx)
    if message_id is not None:
        await remember_progress(ctx.deps.db, broadcast_id, ProgressTarget(ctx.chat_id, message_id, ctx.lang))
    sender = _sender(ctx)
    if sender is not None:
        sender.wake()


def _tapped_message_id(ctx: Ctx) -> int | None:
    return ctx.query.message.message_id if ctx.query is not None and ctx.query.message is not None else None


async def show_broadcast(ctx: Ctx, b: Broadcast) -> None:
    async with ctx.conn() as conn:
        counts = await broadcasts.recipient_counts(conn, b.id)
        reachable = await stats.reachable_users(conn)
    lines = [
        progress_text(b, ctx.lang),
        ctx.t(
            "admin_broadcast.details",
            created=short_when(ctx, b.created_at),
            zone=ctx.zone(),
            admin=b.admin_id,
            chars=len(b.text),
            **counts,
        ),
    ]
    rows: list[list[Button]] = [[Button.callback(ctx.t("admin_broadcast.preview"), cb("adm.bp", b.id))]]
    if b.status == "draft":
        rows.append([Button.callback(ctx.t("admin_broadcast.send", n=reachable), cb("adm.bgo", b.id))])
    if b.status in ("draft", "sending"):
        rows.append([Button.callback(ctx.t("admin_broadcast.stop"), cb("adm.bx", b.id))])
    rows.append([Button.callback(ctx.t("admin.nav.refresh"), cb("adm.bv", b.id))])
    rows.append(nav_row(ctx, cb("adm.b")))
    await ctx.show("\n".join(lines), rows)


@routes.callback("adm.bv", admin=True)
async def view_button(ctx: Ctx, args: list[str]) -> None:
    await clear_input(ctx)
    async with ctx.conn() as conn:
        b = await broadcasts.get_broadcast(conn, broadcast_id_arg(args))
    if b is None:
        raise BadCallback("unknown broadcast")
    await show_broadcast(ctx, b)


@routes.callback("adm.bx", admin=True)
async def stop_button(ctx: Ctx, args: list[str]) -> None:
    """Stop a draft or a running broadcast (audited once); ``adm.bx:<id>:new`` also starts over."""
    broadcast_id = broadcast_id_arg(args)
    rewrite = len(args) > 1 and args[1] == "new"
    async with ctx.tx() as conn:
        before = await broadcasts.get_broadcast(conn, broadcast_id)
        if before is None:
            raise BadCallback("unknown broadcast")
        # "Write again" discards a draft only: it must never stop a broadcast already going out.
        stoppable = before.status == "draft" or not rewrite
        if stoppable and await broadcasts.cancel_broadcast(conn, broadcast_id):
            counts = await broadcasts.recipient_counts(conn, broadcast_id)
            await admin.record_admin_action(
                conn,
                ctx.user_id,
                "broadcast_cancel",
                f"broadcast:{broadcast_id}",
                before={"status": before.status},
                after={"status": "cancelled", "not_sent": counts["pending"]},
            )
        after = await broadcasts.get_broadcast(conn, broadcast_id)
    assert after is not None
    if rewrite:
        await compose_prompt(ctx, [])
        return
    if before.status == "draft":
        await show_broadcasts(ctx, ctx.t("admin_broadcast.discarded"))
        return
    await show_broadcast(ctx, after)


@routes.callback("adm.bp", admin=True)
async def preview_button(ctx: Ctx, args: list[str]) -> None:
    """The broadcast's text once more, sent exactly as users get it."""
    async with ctx.conn() as conn:
        b = await broadcasts.get_broadcast(conn, broadcast_id_arg(args))
    if b is None:
        raise BadCallback("unknown broadcast")
    await send_broadcast_message(ctx.tg, ctx.chat_id, b.text, bulk=False)
    await ctx.send(
        ctx.t("admin_broadcast.preview_above", id=b.id),
        [[Button.callback(ctx.t("admin_broadcast.back_to", id=b.id), cb("adm.bv", b.id))]],
    )
