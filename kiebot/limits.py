"""Every tunable time, rate and size of a running bot, in one injected object.

Production uses the defaults: each is the rule of the outside service it protects (Telegram's flood
limits, Kie's create rate) or a duration chosen for a deployment of one or a few instances. Tests
and benchmarks pass a different :class:`Limits` (``Settings.limits``; ``KIEBOT_LIMITS`` for a bot
started as a process) instead of patching module constants, so the code under test is the code
that ships.
"""

from __future__ import annotations

from typing import Final

import msgspec


class Limits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Rates, durations (seconds) and sizes of one instance."""

    # Telegram flood control (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this)
    #: Messages per second to one chat, and the short burst allowed before pacing.
    telegram_chat_per_second: float = 1.0
    telegram_chat_burst: int = 3
    #: Messages per minute to one group chat.
    telegram_group_per_minute: int = 20
    #: Messages per second across all chats, and the share bulk sends (broadcasts) may use.
    telegram_global_per_second: int = 30
    telegram_bulk_per_second: int = 25

    # Kie.ai (https://docs.kie.ai: 20 new generation requests per 10 seconds per key)
    kie_creates_per_window: int = 20
    kie_create_window_s: float = 10.0
    #: How fast the in-process fake Kie (``KIE_STUB``) finishes a task, as a fraction of real time.
    kie_stub_speed: float = 0.05

    # Leadership (DESIGN "Leadership")
    leadership_heartbeat_s: float = 20.0
    leadership_retry_s: float = 15.0
    leadership_timeout_s: float = 5.0

    # Leased work: a claimed row whose worker vanished is claimed again after its lease.
    dispatch_lease_s: float = 15.0
    generation_lease_s: float = 30.0

    # Leader duties
    #: The reconciler's round (polls of jobs with no callback yet, time-outs, progress edits).
    reconcile_every_s: float = 2.0
    #: Stars ledger comparison against Telegram's.
    stars_reconcile_every_s: float = 900.0
    stars_reconcile_first_after_s: float = 120.0
    #: How often the broadcast sender looks for broadcasts to run when nobody woke it.
    broadcast_poll_s: float = 2.0
    #: Kie's catalogue API (models, price, schema, success-rate): one budget of 1 request/s per
    #: account for the four (reference kie-live-truth §3); calls leave this far apart.
    kie_catalogue_interval_s: float = 1.1
    #: The catalogue sync (issue 15): daily, first soon after a leader starts.
    catalog_sync_every_s: float = 86400.0
    catalog_sync_first_after_s: float = 90.0
    #: Model health from Kie's /success-rate: every 15 minutes.
    model_health_every_s: float = 900.0
    model_health_first_after_s: float = 30.0

    # Stars refunds from the admin panel (kiebot/bot/screens/admin/refunds.py)
    #: How long the refund transaction waits for ``refundStarPayment`` (the client retries inside).
    stars_refund_timeout_s: float = 20.0
    #: After a lost answer, how long the ``getStarTransactions`` look-up that settles it may take.
    stars_refund_lookup_s: float = 15.0

    # Intake
    #: Updates stored by one group-commit INSERT at most.
    intake_max_batch: int = 256
    #: Seconds the webhook writer's own connection may sit idle before it is replaced (a proxy's
    #: idle timeout may have dropped it; as the pool's max_idle_s).
    intake_conn_max_idle_s: float = 300.0

    # Operations endpoints (kiebot/runtime/probes.py)
    #: How old a /health summary or a /metrics page may be when served: a flood of probes costs
    #: one computation per this many seconds.
    probe_cache_s: float = 5.0
    #: What a /health summary or a metrics refresh may spend on the database, waiting for a
    #: connection included; past it they answer with what they have.
    probe_db_s: float = 2.0

    # Media in memory (the total is MEDIA_MEMORY_MB; see kiebot/generation/media_budget.py)
    #: A result or user file up to this size may stay in memory; larger ones go to a temporary file.
    media_small_file_bytes: int = 4 * 1024 * 1024
    #: Bytes gathered before one write to a temporary file.
    media_write_batch_bytes: int = 256 * 1024

    # HTTP
    #: What hypercorn gives open requests at shutdown before they are cancelled.
    web_graceful_s: float = 3.0

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"limit {name} must be positive, got {value!r}")


DEFAULT_LIMITS: Final = Limits()


def parse_limits(raw: str) -> Limits:
    """``KIEBOT_LIMITS``: a JSON object of overrides, e.g. ``{"telegram_global_per_second": 100000}``.

    Raises:
        ValueError: not an object of known, positive limits (the message names the problem).
    """
    try:
        return msgspec.json.decode(raw, type=Limits)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
