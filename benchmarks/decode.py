"""Update decoding throughput: how many Telegram updates per second one core turns into typed objects.

Payloads: the real 2017 captures (``tests/data/telegram/updates-2017``, the files that are Updates)
and the synthetic modern ones (``tests/data/telegram/updates-modern``: /start, callback queries,
photo/document/voice messages, Stars pre-checkout, successful and refunded payments, my_chat_member,
an unknown kind). Rows are per payload family plus the whole mix one by one (the webhook path) and
as getUpdates batches of 100 (the polling path).

Columns are decoders: :data:`DECODERS` maps a name to ``bytes -> object`` (one update) and
:data:`BATCH_DECODERS` to ``bytes -> list`` (a getUpdates result array). ``json.loads`` is there
as the untyped floor: parsing without building any typed object. With the ``bench`` extra
installed, aiogram 3's pydantic ``Update`` is measured twice: ``Update.model_validate_json`` (its
fastest path) and what aiogram's own webhook handler does (``json.loads`` then
``Update.model_validate(..., context={"bot": bot})``, ``aiogram/webhook/aiohttp_server.py``); the
ratio column divides kiebot's rate by the *faster* aiogram path.

Only payloads every decoder accepts are timed: aiogram requires fields the 2017 captures predate
(``file_unique_id``, Bot API 4.5; a sticker's ``type``), so those captures are left out and the
count of left-out payloads is printed. kiebot decodes them (and must: Telegram may still resend
an old shape, and a webhook that cannot decode an update would make Telegram retry it forever).

Run ``python -m benchmarks.decode`` or through ``python -m benchmarks``. ``KIEBOT_BENCH_SECONDS``
sets the time spent per cell (default 0.5 s, best of five runs), on one pinned core.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks._common import Result
from benchmarks._procs import driver_on_harness_core
from kiebot.telegram.types import update_decoder, updates_decoder

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "telegram"
NOT_UPDATES = {"inline_query.json", "message_with_invoice.json"}  # see tests/data/telegram/SOURCE.md
BATCH_SIZE = 100

Decoder = Callable[[bytes], object]

DECODERS: dict[str, Decoder] = {
    "msgspec Update": update_decoder.decode,
    "json.loads (untyped)": json.loads,
}
BATCH_DECODERS: dict[str, Decoder] = {
    "msgspec Update": updates_decoder.decode,
    "json.loads (untyped)": json.loads,
}


@dataclass(frozen=True)
class Payload:
    family: str
    name: str
    body: bytes


def _add_aiogram() -> str | None:
    """Register aiogram's decoders when the ``bench`` extra is installed; returns its version."""
    try:
        from aiogram import Bot
        from aiogram import __version__ as version
        from aiogram.types import Update
        from pydantic import TypeAdapter
    except ImportError:
        return None
    bot = Bot("123456:" + "A" * 35)
    updates = TypeAdapter(list[Update])
    context = {"bot": bot}

    def webhook_path(body: bytes) -> object:
        return Update.model_validate(json.loads(body), context=context)

    def batch_webhook_path(body: bytes) -> object:
        return updates.validate_python(json.loads(body), context=context)

    DECODERS[AIOGRAM_JSON] = Update.model_validate_json
    DECODERS[AIOGRAM_WEBHOOK] = webhook_path
    BATCH_DECODERS[AIOGRAM_JSON] = updates.validate_json
    BATCH_DECODERS[AIOGRAM_WEBHOOK] = batch_webhook_path
    return str(version)


AIOGRAM_JSON = "aiogram Update.model_validate_json"
AIOGRAM_WEBHOOK = "aiogram webhook path (json.loads + model_validate)"
KIEBOT = "msgspec Update"
TARGET_RATIO = 10.0


def accepted_by_all(payloads: Sequence[Payload]) -> tuple[list[Payload], list[str]]:
    """The payloads every decoder accepts, and the names of the others."""
    kept, dropped = [], []
    for p in payloads:
        try:
            for decode in DECODERS.values():
                decode(p.body)
        except Exception:
            dropped.append(p.name)
        else:
            kept.append(p)
    return kept, dropped


def family_of(name: str) -> str:
    stem = name.removesuffix(".json")
    if "callback_query" in stem:
        return "callback_query"
    if "pre_checkout" in stem:
        return "pre_checkout_query"
    if "successful_payment" in stem or "refunded_payment" in stem:
        return "payment service message"
    if "my_chat_member" in stem:
        return "my_chat_member"
    if any(media in stem for media in ("photo", "document", "voice", "audio", "video", "sticker", "game")):
        return "media message"
    if stem == "unknown_kind" or stem == "shipping_query":
        return "other kinds"
    return "text message"


def load_payloads() -> list[Payload]:
    payloads = []
    for folder in ("updates-2017", "updates-modern"):
        for path in sorted((DATA / folder).glob("*.json")):
            if path.name in NOT_UPDATES:
                continue
            # Re-serialised compactly, as Telegram sends them (the captures are pretty-printed).
            body = json.dumps(
                json.loads(path.read_bytes()), ensure_ascii=False, separators=(",", ":")
            ).encode()
            payloads.append(Payload(family_of(path.name), f"{folder}/{path.name}", body))
    return payloads


def rate(decode: Decoder, bodies: Sequence[bytes], per_body: int, seconds: float, runs: int = 5) -> float:
    """Items decoded per second: the best of ``runs`` runs of ``seconds / runs`` each.

    The best, not the median: on a shared machine the fastest run is the one least disturbed by
    other processes, and every decoder is measured the same way.
    """
    for body in bodies:  # warm up, and fail loudly if a decoder rejects a payload
        decode(body)
    best = 0.0
    for _ in range(runs):
        count = 0
        started = time.perf_counter()
        deadline = started + seconds / runs
        while True:
            for body in bodies:
                decode(body)
            count += len(bodies) * per_body
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, count / (now - started))
    return best


@dataclass(frozen=True)
class Row:
    label: str
    mean_bytes: int
    per_second: dict[str, float]


def measure(seconds: float = 0.5, payloads: Sequence[Payload] | None = None) -> list[Row]:
    payloads = list(payloads) if payloads is not None else load_payloads()
    rows = []
    for family in sorted({p.family for p in payloads}):
        bodies = [p.body for p in payloads if p.family == family]
        rows.append(
            Row(
                f"{family} ({len(bodies)})",
                round(statistics.mean(len(b) for b in bodies)),
                {name: rate(decode, bodies, 1, seconds) for name, decode in DECODERS.items()},
            )
        )
    everything = [p.body for p in payloads]
    rows.append(
        Row(
            f"**mix, one by one ({len(everything)})**",
            round(statistics.mean(len(b) for b in everything)),
            {name: rate(decode, everything, 1, seconds) for name, decode in DECODERS.items()},
        )
    )
    batch = b"[" + b",".join(everything[i % len(everything)] for i in range(BATCH_SIZE)) + b"]"
    rows.append(
        Row(
            f"**mix, getUpdates batches of {BATCH_SIZE}**",
            round(len(batch) / BATCH_SIZE),
            {name: rate(decode, [batch], BATCH_SIZE, seconds) for name, decode in BATCH_DECODERS.items()},
        )
    )
    return rows


def ratio(row: Row) -> float | None:
    """kiebot's rate over the faster aiogram path; None without aiogram."""
    peers = [row.per_second[c] for c in (AIOGRAM_JSON, AIOGRAM_WEBHOOK) if c in row.per_second]
    return row.per_second[KIEBOT] / max(peers) if peers else None


def format_table(rows: Sequence[Row]) -> str:
    columns = list(DECODERS)
    with_ratio = AIOGRAM_JSON in columns
    lines = [
        "| payloads | mean bytes | "
        + " | ".join(f"{c} (updates/s)" for c in columns)
        + (" | kiebot ÷ aiogram |" if with_ratio else " |"),
        "|---|---:|" + "---:|" * (len(columns) + with_ratio),
    ]
    for row in rows:
        cells = " | ".join(f"{row.per_second[c]:,.0f}" for c in columns)
        r = ratio(row)
        lines.append(f"| {row.label} | {row.mean_bytes} | {cells} |" + (f" {r:.1f}× |" if r is not None else ""))
    return "\n".join(lines)


def results(rows: Sequence[Row], dropped: Sequence[str], aiogram: str | None) -> list[Result]:
    one = next(r for r in rows if r.label.startswith("**mix, one by one"))
    batch = next(r for r in rows if r.label.startswith("**mix, getUpdates"))
    out = []
    for label, row in (("mix, one by one (webhook)", one), ("mix, getUpdates batches of 100", batch)):
        r = ratio(row)
        peer = max((row.per_second[c] for c in (AIOGRAM_JSON, AIOGRAM_WEBHOOK) if c in row.per_second), default=None)
        out.append(
            Result(
                area="Update decode",
                measure=f"{label}, updates/s",
                value=f"{row.per_second[KIEBOT]:,.0f}",
                peer=f"{peer:,.0f}" if peer is not None else "aiogram not installed",
                target="≥ 10× aiogram",
                met=(r >= TARGET_RATIO) if r is not None else None,
                note=(f"**{r:.1f}×**; aiogram {aiogram}, faster of its two paths; " if r is not None else "")
                + f"{len(dropped)} old captures aiogram rejects left out",
            )
        )
    return out


def collect() -> list[Result]:
    aiogram = _add_aiogram()
    payloads, dropped = accepted_by_all(load_payloads())
    with driver_on_harness_core():
        rows = measure(float(os.environ.get("KIEBOT_BENCH_SECONDS", "0.5")), payloads)
    return results(rows, dropped, aiogram)


def main() -> int:
    aiogram = _add_aiogram()
    payloads, dropped = accepted_by_all(load_payloads())
    seconds = float(os.environ.get("KIEBOT_BENCH_SECONDS", "0.5"))
    with driver_on_harness_core():
        rows = measure(seconds, payloads)
    print(f"### Telegram Update decoding (one core, Python {sys.version.split()[0]}, aiogram {aiogram or 'not installed'})\n")
    print(format_table(rows))
    if dropped:
        print(f"\nLeft out (a decoder rejects them): {', '.join(dropped)}")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
