"""``python -m benchmarks._kiebot_lifted``: ``python -m kiebot run`` with two third-party rate
limits lifted, for benchmarks only.

* Telegram's overall ~30 messages/s (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this):
  the flood limiter's overall and bulk windows become ``KIEBOT_BENCH_GLOBAL_PER_SECOND`` (default
  100,000). Per-chat and per-group limits are kept.
* Kie's 20 createTask per 10 s per key (https://docs.kie.ai, rate limits): the Kie client's
  throttle becomes ``KIEBOT_BENCH_KIE_CREATES_PER_SECOND`` per second (default 100,000).

Both are rules of the real services, and kiebot keeps to them; a benchmark of the deployed bot
would measure those rules (15 two-message replies/s, 2 generations/s), not the bot. The fakes have
no such limits when asked (the aiogram peer has no limiter at all), so this launcher raises the two
windows before the app builds its clients; everything else is the real app. Never deploy a bot
like this.
"""

from __future__ import annotations

import os
import sys

from kiebot.kie import client as kie_client
from kiebot.kie.throttle import SlidingWindowThrottle
from kiebot.telegram.limiter import FloodLimiter


def lift() -> tuple[int, int]:
    """Raise both windows in this process; returns (messages/s, creates/s)."""
    messages = int(os.environ.get("KIEBOT_BENCH_GLOBAL_PER_SECOND", "100000"))
    creates = int(os.environ.get("KIEBOT_BENCH_KIE_CREATES_PER_SECOND", "100000"))
    defaults = FloodLimiter.__init__.__kwdefaults__
    if defaults is None or "global_per_second" not in defaults or "bulk_per_second" not in defaults:
        raise RuntimeError("FloodLimiter's keyword defaults changed; update benchmarks/_kiebot_lifted.py")
    defaults["global_per_second"] = messages
    defaults["bulk_per_second"] = messages

    class LiftedThrottle(SlidingWindowThrottle):
        def __init__(self, limit: int = 20, window_s: float = 10.0) -> None:
            super().__init__(creates, 1.0)

    if getattr(kie_client, "SlidingWindowThrottle", None) is not SlidingWindowThrottle:
        raise RuntimeError("kiebot.kie.client no longer builds its throttle by name; update benchmarks/_kiebot_lifted.py")
    vars(kie_client)["SlidingWindowThrottle"] = LiftedThrottle
    return messages, creates


def main() -> int:
    lift()
    from kiebot.runtime.app import main as app_main

    return app_main()


if __name__ == "__main__":
    sys.exit(main())
