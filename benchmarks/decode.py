"""Update decoding throughput: how many Telegram updates per second one core turns into typed objects.

Payloads: the real 2017 captures (``tests/data/telegram/updates-2017``, the files that are Updates)
and the synthetic modern ones (``tests/data/telegram/updates-modern``: /start, callback queries,
photo/document/voice messages, Stars pre-checkout, successful and refunded payments, my_chat_member,
an unknown kind). Rows are per payload family plus the whole mix one by one (the webhook path) and
as getUpdates batches of 100 (the polling path).

Columns are decoders: :data:`DECODERS` maps a name to ``bytes -> object`` (one update) and
:data:`BATCH_DECODERS` to ``bytes -> list`` (a getUpdates result array). Another library (aiogram's
pydantic ``Update.model_validate_json``) is added as one more entry in each. ``json.loads`` is there
as the untyped floor: parsing without building any typed object.

Run ``python -m benchmarks.decode`` or through ``python -m benchmarks``. ``KIEBOT_BENCH_SECONDS``
sets the time spent per cell (default 0.5 s).
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


def rate(decode: Decoder, bodies: Sequence[bytes], per_body: int, seconds: float) -> float:
    """Items decoded per second: the median of three runs of about ``seconds / 3`` each."""
    for body in bodies:  # warm up, and fail loudly if a decoder rejects a payload
        decode(body)
    runs = []
    for _ in range(3):
        count = 0
        started = time.perf_counter()
        deadline = started + seconds / 3
        while True:
            for body in bodies:
                decode(body)
            count += len(bodies) * per_body
            now = time.perf_counter()
            if now >= deadline:
                break
        runs.append(count / (now - started))
    return statistics.median(runs)


@dataclass(frozen=True)
class Row:
    label: str
    mean_bytes: int
    per_second: dict[str, float]


def measure(seconds: float = 0.5) -> list[Row]:
    payloads = load_payloads()
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


def format_table(rows: Sequence[Row]) -> str:
    columns = list(DECODERS)
    lines = [
        "| payloads | mean bytes | " + " | ".join(f"{c} (updates/s)" for c in columns) + " |",
        "|---|---:|" + "---:|" * len(columns),
    ]
    for row in rows:
        cells = " | ".join(f"{row.per_second[c]:,.0f}" for c in columns)
        lines.append(f"| {row.label} | {row.mean_bytes} | {cells} |")
    return "\n".join(lines)


def main() -> int:
    seconds = float(os.environ.get("KIEBOT_BENCH_SECONDS", "0.5"))
    rows = measure(seconds)
    print(f"### Telegram Update decoding (one core, Python {sys.version.split()[0]})\n")
    print(format_table(rows))
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
