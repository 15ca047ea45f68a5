"""The leader's periodic Stars check: Telegram's Stars ledger against ours.

:func:`kiebot.payments.rules.reconcile_stars` finds what the update path lost; this job acts on
it: a payment credited late is announced to its payer, and admins get one summary when anything
was found. It ran from the Stars screen module before; it is a money-in rule, not a screen, and
the leader's scheduler (``kiebot.runtime``) wraps it as a periodic job.
"""

from __future__ import annotations

import logging
from typing import Protocol

from kiebot.chat.format import Safe, render, rub
from kiebot.metrics import Metrics
from kiebot.payments.rules import Reconciliation, reconcile_stars
from kiebot.store import users
from kiebot.store.db import Database
from kiebot.telegram.client import TelegramClient
from kiebot.telegram.errors import Forbidden

log = logging.getLogger(__name__)



class AdminNotifier(Protocol):
    """What this job needs of :class:`kiebot.generation.notify.Notifier` (no import of it: the
    payments package sits below the job lifecycle)."""

    async def admins(self, key: str, *, topic: str | None = None, **params: object) -> None: ...


async def reconcile_and_announce(
    db: Database,
    tg: TelegramClient,
    metrics: Metrics,
    *,
    rub_per_star: float,
    now: float,
    admins: AdminNotifier | None = None,
) -> Reconciliation:
    """Reconcile once; tell each payer credited late, then the admins (if anything was found)."""
    found = await reconcile_stars(db, tg, metrics, rub_per_star=rub_per_star, now=now)
    for missed in found.credited:
        async with db.connection() as conn:
            payer = await users.get_user(conn, missed.user_id)
        lang = payer.language if payer is not None else "ru"
        credit = missed.credit
        text = render(
            lang, "payments.stars.paid", stars=credit.stars, amount=Safe(rub(credit.kopecks, lang)), balance=Safe(rub(credit.balance, lang))
        )
        try:
            await tg.send_message(missed.user_id, text, parse_mode="HTML")
        except Forbidden:
            log.info("user unreachable; late credit not announced")
    if (found.credited or found.refunds or found.problems) and admins is not None:
        await admins.admins(
            "payments.alert.reconciled",
            topic="stars:reconcile",
            credited=len(found.credited),
            refunds=len(found.refunds),
            problems=len(found.problems),
        )
    log.info(
        "Stars reconciled",
        extra={"scanned": found.scanned, "credited": len(found.credited), "refunds": len(found.refunds), "problems": len(found.problems)},
    )
    return found
