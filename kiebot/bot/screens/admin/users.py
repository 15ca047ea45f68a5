"""The user card: who the user is, their money, their last ledger rows and jobs, and the actions
an admin takes on them — ban / unban, a balance adjustment (:mod:`.adjust`), a Stars refund
(:mod:`.refunds`).

A ban is audited in the same transaction as the change (``store.admin.set_user_banned``); a banned
user's messages and taps are answered with one short refusal by the router, and payments they
make are still recorded (money is never lost).
"""

from __future__ import annotations

from kiebot.bot.context import Ctx, Keyboard
from kiebot.bot.router import routes
from kiebot.bot.screens.admin.audit import audit_lines
from kiebot.bot.screens.admin.common import clear_input, nav_row, short_when, signed_rub, when, with_notice
from kiebot.bot.screens.admin.jobcard import MAX_ID, job_button
from kiebot.chat.callback_data import BadCallback, cb, int_arg
from kiebot.chat.format import Safe, escape, rub
from kiebot.store import admin, jobs, money, payments, users
from kiebot.telegram.types import InlineKeyboardButton as Button

LEDGER_ROWS = 6
JOB_ROWS = 5


def user_id_arg(args: list[str], index: int = 0) -> int:
    return int_arg(args, index, minimum=1, maximum=MAX_ID)


def ledger_line(ctx: Ctx, entry: money.LedgerEntry) -> str:
    """``05-01 12:34 +100 ₽ Stars top-up``: the change of the available balance. A hold takes from
    it and a release gives back (``held_delta``); a capture spends what was held, so it shows the
    amount without a sign (the balance moved at the hold)."""
    kind = ctx.t(f"admin.ledger.{entry.kind}")
    extra = ""
    if entry.job_id is not None:
        extra = f" #{entry.job_id}"
    if entry.reason:
        extra += f" — {escape(entry.reason[:80])}"
    if entry.kind == "capture":
        return f"{short_when(ctx, entry.created_at)} {rub(-entry.amount, ctx.lang)} {escape(kind)}{extra}"
    amount = entry.amount if entry.kind not in ("hold", "release") else -entry.held_delta
    return f"{short_when(ctx, entry.created_at)} {signed_rub(amount, ctx.lang)} {escape(kind)}{extra}"


async def user_card_text(ctx: Ctx, user: users.User) -> tuple[str, list[jobs.Job]]:
    async with ctx.conn() as conn:
        account = await money.get_account(conn, user.user_id)
        ledger = await money.recent_ledger(conn, user.user_id, LEDGER_ROWS)
        recent = await jobs.recent_jobs(conn, user.user_id, JOB_ROWS)
        stars = await payments.user_payments(conn, user.user_id, 100)
    name = " ".join(p for p in (user.first_name, user.last_name) if p)
    lines = [
        ctx.t(
            "admin.user.title",
            name=name or "—",
            username=f"@{user.username}" if user.username else "—",
            id=user.user_id,
        ),
        ctx.t(
            "admin.user.seen", lang=ctx.t(f"lang.name.{user.language}"), created=when(ctx, user.created_at), seen=when(ctx, user.last_seen_at)
        ),
        ctx.t("admin.user.banned") if user.banned else ctx.t("admin.user.active"),
    ]
    if user.blocked_bot:
        lines.append(ctx.t("admin.user.blocked_bot"))
    paid = [p for p in stars if p.status == "paid"]
    lines += [
        ctx.t(
            "admin.user.money",
            balance=Safe(rub(account.balance, ctx.lang)),
            held=Safe(rub(account.held, ctx.lang)),
        ),
        ctx.t("admin.user.stars", n=len(stars), paid=len(paid), refunded=len(stars) - len(paid)),
        ctx.t("admin.user.bonus", n=user.free_bonus_uses),
        ctx.t("admin.user.ledger_title", zone=ctx.zone()),
    ]
    lines += [ledger_line(ctx, e) for e in ledger] or [ctx.t("admin.user.none")]
    lines.append(ctx.t("admin.user.jobs_title") if recent else ctx.t("admin.user.no_jobs"))
    return "\n".join(lines), recent


def user_card_keyboard(ctx: Ctx, user: users.User, recent: list[jobs.Job]) -> Keyboard:
    ban = (
        Button.callback(ctx.t("admin.user.unban"), cb("adm.ban", user.user_id, 0))
        if user.banned
        else Button.callback(ctx.t("admin.user.ban"), cb("adm.ban", user.user_id, 1))
    )
    rows: list[list[Button]] = [
        [ban, Button.callback(ctx.t("admin.user.adjust"), cb("adm.adj", user.user_id))],
        [
            Button.callback(ctx.t("admin.user.payments"), cb("adm.pay", user.user_id)),
            Button.callback(ctx.t("admin.user.audit"), cb("adm.ua", user.user_id)),
        ],
    ]
    rows += [[job_button(ctx, j)] for j in recent]
    rows.append([Button.callback(ctx.t("admin.nav.refresh"), cb("adm.u", user.user_id))])
    rows.append(nav_row(ctx))
    return rows


async def show_user_card(ctx: Ctx, user_id: int, notice: str | None = None) -> None:
    """The card; ``notice`` (already rendered) says what the last action did, above it."""
    async with ctx.conn() as conn:
        user = await users.get_user(conn, user_id)
    if user is None:
        await ctx.show(ctx.t("admin.user.not_found", id=user_id), [nav_row(ctx)])
        return
    text, recent = await user_card_text(ctx, user)
    await ctx.show(with_notice(notice, text), user_card_keyboard(ctx, user, recent))


@routes.callback("adm.u", admin=True)
async def user_card(ctx: Ctx, args: list[str]) -> None:
    await clear_input(ctx)
    await show_user_card(ctx, user_id_arg(args))


@routes.callback("adm.ban", admin=True)
async def ban_button(ctx: Ctx, args: list[str]) -> None:
    """Ban (``1``) or unban (``0``). The button names the target state, so a repeated or stale tap
    changes nothing (``set_user_banned`` returns False and writes no audit row)."""
    user_id = user_id_arg(args)
    flag = int_arg(args, 1, minimum=0, maximum=1)
    if user_id == ctx.user_id or ctx.deps.is_admin(user_id):
        await show_user_card(ctx, user_id, ctx.t("admin.user.cannot_ban_admin"))
        return
    try:
        async with ctx.conn() as conn:
            changed = await admin.set_user_banned(conn, ctx.user_id, user_id, bool(flag))
    except users.UnknownUser:
        raise BadCallback("unknown user") from None
    notice = None
    if changed:
        notice = ctx.t("admin.user.banned_now") if flag else ctx.t("admin.user.unbanned_now")
    await show_user_card(ctx, user_id, notice)


@routes.callback("adm.ua", admin=True)
async def user_audit(ctx: Ctx, args: list[str]) -> None:
    """The audit entries about this user (bans, adjustments, refunds), newest first."""
    user_id = user_id_arg(args)
    async with ctx.conn() as conn:
        entries = await admin.recent_admin_actions(conn, 15, target=f"user:{user_id}")
    text = "\n".join(
        [
            ctx.t("admin.audit.user_title", id=user_id, zone=ctx.zone()),
            *(audit_lines(ctx, entries) or [ctx.t("admin.audit.empty")]),
        ]
    )
    await ctx.show(text, [nav_row(ctx, cb("adm.u", user_id))])
