"""👥 Invite a friend: the user's link, how many joined, and the bonus they earned.

The link is ``https://t.me/<bot>?start=ref_<user id>`` (a deep link,
https://core.telegram.org/bots/features#deep-linking); ``/start ref_<id>`` records the referral
once per new user and grants ``REFERRAL_BONUS_FREE_USES`` free generations to the referrer
(:mod:`kiebot.store.referrals`, called by the /start screen).
"""

from __future__ import annotations

from urllib.parse import quote

from kiebot.bot.context import Ctx
from kiebot.bot.router import routes
from kiebot.chat.callback_data import cb
from kiebot.i18n import t
from kiebot.store import referrals
from kiebot.telegram.types import InlineKeyboardButton as Button


def referral_link(bot_username: str, user_id: int) -> str:
    return f"https://t.me/{bot_username}?start=ref_{user_id}"


@routes.callback("ref")
async def referral_screen(ctx: Ctx, args: list[str]) -> None:
    async with ctx.conn() as conn:
        stats = await referrals.referral_stats(conn, ctx.user_id)
    link = referral_link(ctx.deps.bot_username, ctx.user_id)
    bonus = ctx.deps.settings.referral_bonus_free_uses
    text = ctx.t(
        "referral.body",
        link=link,
        bonus=bonus,
        invited=stats.invited,
        earned=stats.bonus_uses_earned,
        left=stats.bonus_uses_left,
    )
    share = f"https://t.me/share/url?url={quote(link, safe='')}&text={quote(t(ctx.lang, 'referral.share_text'), safe='')}"
    rows = [
        [Button.link(ctx.t("referral.share"), share)],
        [Button.callback(ctx.t("referral.free_button"), cb("free"))],
        [Button.callback(ctx.t("common.menu"), cb("menu"))],
    ]
    await ctx.show(text, rows)
