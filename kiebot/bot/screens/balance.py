"""💰 Balance: what the user has, what is held for running generations, and what happened lately.

Routes (other screens link here):

* ``bal`` and ``/balance`` — the balance screen: available, held (money reserved by running jobs),
  the last :data:`RECENT` ledger rows in words, and buttons: ⭐ top up (``topup``, in
  ``stars.py``), 🏦 bank transfer (``mt``, in ``manual_topup.py``, shown only when
  ``PAYMENT_CARD`` or ``PAYMENT_PHONE`` is set), all operations (``balh:<page>``), menu.
  The generation wizard sends "not enough money" users to ``cb("bal")``.
* ``balh:<page>`` — every ledger row, :data:`PAGE` per page, newest first, at most
  :data:`MAX_PAGES` pages back (older rows stay in the database; support sees them there).

Opening the screen clears any half-typed amount (the conversation state), as the menu does.
"""

from __future__ import annotations

from kiebot.bot.context import Ctx, Keyboard
from kiebot.bot.router import routes
from kiebot.chat.callback_data import cb, int_arg
from kiebot.chat.format import Safe, rub
from kiebot.store import conversations, money
from kiebot.store.money import LedgerEntry
from kiebot.telegram.types import InlineKeyboardButton as Button

RECENT = 5
PAGE = 10
MAX_PAGES = 20


def entry_amount(entry: LedgerEntry, lang: str) -> str:
    """The entry as the user sees it: its effect on the *available* balance, signed.

    A hold moves money from available to held (−X) and a release moves it back (+X). A capture
    spends money that was already held, so available does not move: it shows the price paid,
    unsigned, rather than a second −X the user would read as a double charge.
    """
    if entry.kind in ("hold", "release"):
        return signed_rub(-entry.held_delta, lang)
    if entry.kind == "capture":
        return rub(-entry.amount, lang)
    return signed_rub(entry.amount, lang)


def signed_rub(kopecks: int, lang: str) -> str:
    return ("+" if kopecks > 0 else "") + rub(kopecks, lang)


def entry_line(ctx: Ctx, entry: LedgerEntry) -> str:
    """``12.03 14:05 · ⭐ Stars top-up: +100 ₽`` (on the ``TIMEZONE`` clock the title names)."""
    kind = entry.kind if entry.kind in _KINDS else "other"
    job = ctx.t("balance.job", id=entry.job_id) if entry.job_id is not None else ""
    return ctx.t(
        "balance.line",
        when=ctx.when(entry.created_at),
        what=ctx.t(f"balance.kind.{kind}"),
        job=Safe(job),
        amount=Safe(entry_amount(entry, ctx.lang)),
    )


_KINDS = frozenset(
    ("welcome", "topup_stars", "topup_manual", "referral_bonus", "admin_adjust", "stars_refund", "hold", "capture", "release")
)


async def balance_text(ctx: Ctx) -> str:
    async with ctx.conn() as conn:
        account = await money.get_account(conn, ctx.user_id)
        entries = await money.recent_ledger(conn, ctx.user_id, RECENT)
    lines = [ctx.t("balance.title", balance=Safe(rub(account.balance, ctx.lang)))]
    if account.held > 0:
        lines.append(ctx.t("balance.held", held=Safe(rub(account.held, ctx.lang))))
    lines.append("")
    if entries:
        lines.append(ctx.t("balance.recent", zone=ctx.zone()))
        lines.extend(entry_line(ctx, e) for e in entries)
    else:
        lines.append(ctx.t("balance.empty"))
    return "\n".join(lines)


def balance_keyboard(ctx: Ctx) -> Keyboard:
    rows: list[list[Button]] = [[Button.callback(ctx.t("balance.topup_stars"), cb("topup"))]]
    if ctx.deps.settings.manual_topup_enabled:
        rows.append([Button.callback(ctx.t("balance.topup_manual"), cb("mt"))])
    rows.append([Button.callback(ctx.t("balance.history"), cb("balh", 0))])
    rows.append([Button.callback(ctx.t("common.menu"), cb("menu"))])
    return rows


async def _forget_input(ctx: Ctx) -> None:
    async with ctx.tx() as conn:
        await conversations.clear_state(conn, ctx.user_id)


@routes.command("balance")
async def balance_command(ctx: Ctx, arg: str) -> None:
    await _forget_input(ctx)
    await ctx.send(await balance_text(ctx), balance_keyboard(ctx))


@routes.callback("bal")
async def balance_button(ctx: Ctx, args: list[str]) -> None:
    await _forget_input(ctx)
    await ctx.show(await balance_text(ctx), balance_keyboard(ctx))


@routes.callback("balh")
async def history_button(ctx: Ctx, args: list[str]) -> None:
    page = int_arg(args, 0, maximum=MAX_PAGES - 1)
    async with ctx.conn() as conn:
        # recent_ledger has no offset; fetch up to this page plus one row to know if there is more.
        entries = await money.recent_ledger(conn, ctx.user_id, (page + 1) * PAGE + 1)
    shown = entries[page * PAGE : (page + 1) * PAGE]
    lines = [ctx.t("balance.history_title", page=page + 1, zone=ctx.zone())]
    lines.extend(entry_line(ctx, e) for e in shown)
    if not shown:
        lines.append(ctx.t("balance.empty"))
    nav: list[Button] = []
    if page > 0:
        nav.append(Button.callback(ctx.t("balance.newer"), cb("balh", page - 1)))
    if len(entries) > (page + 1) * PAGE and page + 1 < MAX_PAGES:
        nav.append(Button.callback(ctx.t("balance.older"), cb("balh", page + 1)))
    rows: list[list[Button]] = [nav] if nav else []
    rows.append([Button.callback(ctx.t("balance.back"), cb("bal")), Button.callback(ctx.t("common.menu"), cb("menu"))])
    await ctx.show("\n".join(lines), rows)
