"""``python -m benchmarks._kiebot_lifted``: ``python -m kiebot run`` with Telegram's overall limit
of ~30 messages/s lifted (``KIEBOT_BENCH_GLOBAL_PER_SECOND``, default 100,000).

Telegram itself enforces that limit (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this),
so kiebot's flood limiter holds every bot to it and a benchmark of the deployed bot measures that
limit, not the bot. The fake Telegram has no such limit, and the aiogram peer has no limiter at
all; to compare the two engines this launcher raises the overall window before the app builds
its :class:`~kiebot.telegram.limiter.FloodLimiter`. Everything else — per-chat and per-group
limits, the whole app — is unchanged. Benchmarks only: never deploy a bot like this.
"""

from __future__ import annotations

import os
import sys

from kiebot.telegram.limiter import FloodLimiter


def lift() -> int:
    rate = int(os.environ.get("KIEBOT_BENCH_GLOBAL_PER_SECOND", "100000"))
    defaults = FloodLimiter.__init__.__kwdefaults__
    if defaults is None or "global_per_second" not in defaults:
        raise RuntimeError("FloodLimiter's keyword defaults changed; update benchmarks/_kiebot_lifted.py")
    defaults["global_per_second"] = rate
    defaults["bulk_per_second"] = rate
    return rate


def main() -> int:
    lift()
    from kiebot.app import main as app_main

    return app_main()


if __name__ == "__main__":
    sys.exit(main())
