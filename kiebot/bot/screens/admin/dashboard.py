"""``/admin``: the dashboard, and the panel's main keyboard.

One screen answers "is everything all right?": users, today's generations by outcome and their
success rate, typical durations, revenue today and over 7 days (rubles and Stars), money held for
jobs in flight, Kie credits left (the scheduler's ``kie_credits`` reading), the exchange rate and
its date, the generation queue, which instance leads and for how long, and the real margin per
model over 7 days (revenue, Kie's cost as billed, margin: :func:`kiebot.store.billing.margin`).
Figures come from :mod:`kiebot.store.stats` in one read; "today" is the day on the ``TIMEZONE`` clock.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from kiebot.bot.context import Ctx, Keyboard
from kiebot.bot.router import routes
from kiebot.bot.screens.admin.common import HOME, clear_input, when
from kiebot.catalog import kind_label, title
from kiebot.chat import clock
from kiebot.chat.callback_data import cb
from kiebot.chat.format import Safe, approx_duration, duration, rub
from kiebot.i18n import number
from kiebot.store import billing, conversations, kv, leadership, stats
from kiebot.telegram.types import InlineKeyboardButton as Button

#: Outcomes shown on the dashboard, in this order; a job still running counts as "in progress".
OUTCOMES = ("delivered", "failed", "timed_out", "cancelled")
#: A leader whose heartbeat is older than this is shown as silent (it beats every 20 s).
SILENT_LEADER_S = 60.0
#: The margin table covers this many days, at most this many models (worst margin first).
MARGIN_DAYS = 7
MARGIN_ROWS = 12


class _KieCredits(msgspec.Struct, frozen=True):
    credits: float


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What the dashboard shows, read in one go."""

    board: stats.Dashboard
    leader: leadership.LeaderInfo | None
    credits: float | None
    credits_at: datetime | None
    margin: billing.MarginReport | None = None


async def snapshot(ctx: Ctx) -> Snapshot:
    async with ctx.conn() as conn:
        board = await stats.dashboard(conn, ctx.deps.now(), clock.zone(ctx.deps.settings.timezone))
        leader = await leadership.get_leader(conn)
        entry = await kv.get(conn, "kie_credits")
        margin = await billing.margin(conn, ctx.deps.now(), days=MARGIN_DAYS)
    credits: float | None = None
    if entry is not None:
        try:
            credits = msgspec.convert(entry.value, _KieCredits).credits
        except msgspec.ValidationError:
            credits = None
    return Snapshot(
        board=board, leader=leader, credits=credits, credits_at=entry.updated_at if entry else None, margin=margin
    )


def success_rate(by_state: dict[str, int]) -> int | None:
    """Delivered share of the finished paid-or-free attempts (cancellations are the user's choice)."""
    finished = sum(by_state.get(s, 0) for s in ("delivered", "failed", "timed_out"))
    if finished == 0:
        return None
    return round(100 * by_state.get("delivered", 0) / finished)


def _revenue(ctx: Ctx, revenue: stats.Revenue) -> str:
    return ctx.t(
        "admin.dash.revenue_line",
        rub=Safe(rub(revenue.net_kopecks, ctx.lang)),
        stars=revenue.stars - revenue.refunded_stars,
        payments=revenue.payments,
        refunds=revenue.refunds,
        manual=Safe(rub(revenue.manual_kopecks, ctx.lang)),
    )


def dashboard_text(ctx: Ctx, snap: Snapshot) -> str:
    board = snap.board
    lang = ctx.lang
    today = board.jobs_today.by_state
    in_progress = sum(n for s, n in today.items() if s not in OUTCOMES)
    rate = success_rate(today)
    lines = [
        ctx.t("admin.dash.title", zone=ctx.zone()),
        ctx.t(
            "admin.dash.users",
            total=board.users.total,
            new=board.users.new_today,
            active=board.users.active_24h,
            blocked=board.users.blocked_bot,
            banned=board.users.banned,
        ),
        ctx.t(
            "admin.dash.jobs_today",
            total=sum(today.values()),
            delivered=today.get("delivered", 0),
            failed=today.get("failed", 0),
            timed_out=today.get("timed_out", 0),
            cancelled=today.get("cancelled", 0),
            running=in_progress,
            free=board.jobs_today.free,
        ),
        ctx.t("admin.dash.success", rate=ctx.t("admin.dash.rate", rate=rate) if rate is not None else "—"),
    ]
    medians = board.jobs_7d.median_seconds_by_kind
    if medians:
        parts = [
            f"{kind_label(kind, lang)} {approx_duration(secs, lang)}"
            for kind, secs in sorted(medians.items())
        ]
        lines.append(ctx.t("admin.dash.durations", list=" · ".join(parts)))
    else:
        lines.append(ctx.t("admin.dash.durations", list="—"))
    lines.append(ctx.t("admin.dash.revenue_today", line=Safe(_revenue(ctx, board.revenue_today))))
    lines.append(ctx.t("admin.dash.revenue_7d", line=Safe(_revenue(ctx, board.revenue_7d))))
    lines.append(ctx.t("admin.dash.held", amount=Safe(rub(board.total_held, lang))))
    if snap.credits is None:
        lines.append(ctx.t("admin.dash.kie_unknown"))
    else:
        lines.append(
            ctx.t("admin.dash.kie", credits=number(round(snap.credits), lang), at=when(ctx, snap.credits_at))
        )
    rate_now = ctx.deps.fx.current()
    lines.append(
        ctx.t(
            "admin.dash.fx",
            rate=number(rate_now.rub_per_usd, lang, decimals=4),
            date=clock.day(rate_now.date, lang) if rate_now.date else "—",
            source=ctx.t(f"admin.fx_source.{rate_now.source}"),
        )
    )
    queue = board.queue
    lines.append(
        ctx.t(
            "admin.dash.queue",
            total=sum(queue.values()),
            detail=" · ".join(ctx.t("jobs.queue_item", state=ctx.t(f"jobs.state.{state}"), n=n) for state, n in queue.items()),
        )
    )
    lines.append(_leader_line(ctx, snap.leader))
    if snap.margin is not None:
        lines += ["", *margin_lines(ctx, snap.margin, MARGIN_DAYS)]
    return "\n".join(lines)


def margin_lines(ctx: Ctx, report: billing.MarginReport, days: int, *, limit: int = MARGIN_ROWS) -> list[str]:
    """Per model: revenue · Kie's cost as billed · margin, worst margin first (issue 15 item 3)."""
    lang = ctx.lang
    lines = [ctx.t("billing.margin.title", days=days)]
    if not report.models:
        lines.append(ctx.t("billing.margin.none"))
        return lines
    for m in report.models[:limit]:
        spec = ctx.deps.registry.get(m.model_id)
        line = ctx.t(
            "billing.margin.line",
            model=title(spec, lang) if spec is not None else m.model_id,
            revenue=Safe(rub(m.revenue_kopecks, lang)),
            cost=Safe(rub(m.cost_kopecks, lang)),
            margin=Safe(rub(m.margin_kopecks, lang)),
            jobs=m.jobs,
        )
        if m.unbilled:
            line += ctx.t("billing.margin.unbilled", n=m.unbilled)
        lines.append(line)
    if len(report.models) > limit:
        lines.append(f"… +{len(report.models) - limit}")
    lines.append(
        ctx.t(
            "billing.margin.total",
            revenue=Safe(rub(report.revenue_kopecks, lang)),
            cost=Safe(rub(report.cost_kopecks, lang)),
            margin=Safe(rub(report.margin_kopecks, lang)),
        )
    )
    return lines


def _leader_line(ctx: Ctx, leader: leadership.LeaderInfo | None) -> str:
    if leader is None:
        return ctx.t("admin.dash.leader_none")
    uptime = duration((ctx.deps.now() - leader.since).total_seconds())
    if leader.heartbeat_age_s > SILENT_LEADER_S:
        return ctx.t("admin.dash.leader_silent", instance=leader.instance, age=round(leader.heartbeat_age_s))
    return ctx.t("admin.dash.leader", instance=leader.instance, uptime=uptime, since=when(ctx, leader.since))


def panel_keyboard(ctx: Ctx, snap: Snapshot) -> Keyboard:
    board = snap.board
    return [
        [
            Button.callback(ctx.t("admin.nav.search"), cb("adm.s")),
            Button.callback(ctx.t("admin.nav.models", n=board.open_breakers), cb("adm.m", 0)),
        ],
        [
            Button.callback(ctx.t("admin.nav.topups", n=board.pending_topups), cb("adm.t")),
            Button.callback(ctx.t("admin.nav.broadcast"), cb("adm.b")),
        ],
        [
            Button.callback(ctx.t("admin.nav.audit"), cb("adm.a", 0)),
            Button.callback(ctx.t("admin.nav.refresh"), cb(HOME)),
        ],
        [Button.callback(ctx.t("common.menu"), cb("menu"))],
    ]


async def show_dashboard(ctx: Ctx) -> None:
    snap = await snapshot(ctx)
    await ctx.show(dashboard_text(ctx, snap), panel_keyboard(ctx, snap))


@routes.command("admin", admin=True)
async def admin_command(ctx: Ctx, arg: str) -> None:
    """``/admin`` abandons whatever the admin was typing (a wizard prompt included), like /menu."""
    async with ctx.conn() as conn:
        await conversations.clear_state(conn, ctx.user_id)
    await show_dashboard(ctx)


@routes.callback(HOME, admin=True)
async def dashboard_button(ctx: Ctx, args: list[str]) -> None:
    await clear_input(ctx)
    await show_dashboard(ctx)
