"""The fault schedule: what goes wrong, and when, drawn from a seeded RNG so a run can be repeated.

The plan is a list of timed events over the load phase. Processes and PostgreSQL are hit
hardest — SIGKILL of the bot at random moments (restarted after a short, random pause), one
crash-stop of PostgreSQL — and in between the fakes misbehave:

* Telegram: 429 storms on every method (with ``retry_after``), 5xx bursts, answers that are lost
  after the call took effect (``after=True``: the message is in the chat, the bot sees an error —
  the cause of duplicate deliveries), slow answers;
* Kie: tasks that fail, tasks that never finish (the deadline settles them), ``createTask``
  refused with 402 / 429 / 455 / 500, a ``createTask`` that hangs past the client's timeout
  (outcome unknown; the task runs and calls back), duplicate callbacks and callbacks that arrive
  before ``createTask`` returns, switched on for stretches of the run.

The same seed gives the same plan; the interleaving with the bot's own timing does not repeat
exactly (it is real processes and sockets), which is why the audit, not a golden transcript,
decides whether a run passed.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import trio

from .users import KIE_MODELS
from .world import ChaosWorld

TELEGRAM_SEND_METHODS = ("sendMessage", "sendPhoto", "sendMediaGroup", "editMessageText", "answerCallbackQuery", "sendInvoice")


@dataclass(frozen=True)
class Event:
    at_s: float
    kind: str
    params: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str) -> Any:
        return dict(self.params)[key]

    def describe(self) -> str:
        details = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.at_s:6.1f} s  {self.kind}" + (f" ({details})" if details else "")


@dataclass(frozen=True)
class Intensity:
    """How much goes wrong in one run."""

    duration_s: float
    kills: int
    pg_restarts: int = 1
    telegram_storms: int = 2
    telegram_errors: int = 4
    kie_faults: int = 6
    min_kill_gap_s: float = 7.0


def _spread(rng: random.Random, count: int, start: float, end: float, min_gap: float, *, avoid: list[tuple[float, float]]) -> list[float]:
    """Up to ``count`` moments in [start, end], at least ``min_gap`` apart, none inside ``avoid``."""
    slots = [start + i * min_gap for i in range(int((end - start) // min_gap))]
    free = [s for s in slots if not any(low - min_gap < s < high for low, high in avoid)]
    picked = sorted(rng.sample(free, min(count, len(free))))
    return [round(s + rng.uniform(0, min_gap * 0.5), 2) for s in picked]


def plan(seed: int, intensity: Intensity) -> list[Event]:
    """The run's fault schedule (sorted by time)."""
    rng = random.Random(seed)
    end = intensity.duration_s
    events: list[Event] = []
    outages: list[tuple[float, float]] = []
    for _ in range(intensity.pg_restarts):
        at = round(rng.uniform(end * 0.3, end * 0.7), 2)
        down = round(rng.uniform(2.0, 5.0), 2)
        events.append(Event(at, "pg_restart", (("down_s", down),)))
        # No kill around it: a bot started while PostgreSQL is down exits (migrations need the
        # database), which would only count as a crash of the harness's making.
        outages.append((at - 3.0, at + down + 3.0))
    for at in _spread(rng, intensity.kills, 4.0, end - 3.0, intensity.min_kill_gap_s, avoid=outages):
        events.append(Event(at, "kill", (("down_s", round(rng.uniform(0.2, 2.5), 2)),)))
    for _ in range(intensity.telegram_storms):
        events.append(
            Event(round(rng.uniform(2.0, end - 2.0), 2), "tg_429_storm", (("times", rng.randint(15, 40)), ("retry_after", rng.choice((1, 2, 3)))))
        )
    for _ in range(intensity.telegram_errors):
        kind = rng.choice(("tg_5xx", "tg_5xx", "tg_lost_answer", "tg_slow"))
        method = rng.choice(TELEGRAM_SEND_METHODS)
        params: tuple[tuple[str, Any], ...] = (("method", method), ("times", rng.randint(1, 4)))
        if kind == "tg_5xx":
            params += (("status", rng.choice((500, 502, 503))),)
        if kind == "tg_lost_answer":
            params = (("method", rng.choice(("sendPhoto", "sendMessage", "sendMediaGroup", "editMessageText"))), ("times", rng.randint(1, 2)))
        if kind == "tg_slow":
            params += (("delay_s", round(rng.uniform(1.0, 4.0), 1)),)
        events.append(Event(round(rng.uniform(2.0, end - 2.0), 2), kind, params))
    kie_kinds = ("kie_fail", "kie_never", "kie_create_error", "kie_create_error", "kie_hang_create", "kie_duplicates", "kie_early")
    for index in range(intensity.kie_faults):
        kind = kie_kinds[index % len(kie_kinds)] if index < len(kie_kinds) else rng.choice(kie_kinds)
        at = round(rng.uniform(2.0, end - 6.0), 2)
        if kind == "kie_fail":
            params = (("model", rng.choice(KIE_MODELS)), ("times", rng.randint(1, 3)))
        elif kind == "kie_never":
            params = (("model", rng.choice(KIE_MODELS)),)
        elif kind == "kie_create_error":
            params = (("status", rng.choice((402, 429, 455, 500))), ("times", rng.randint(1, 3)))
        elif kind == "kie_hang_create":
            # Past the client's 30 s timeout: the outcome is unknown, the task runs and calls back.
            # Two at once hold both generation slots, so jobs queue up (and cancels can win).
            params = (("delay_s", 32.0), ("times", 2))
        else:  # a stretch of duplicate or early callbacks, over before the load phase ends
            params = (("for_s", round(min(rng.uniform(8.0, 20.0), end - at), 1)),)
        events.append(Event(at, kind, params))
    return sorted(events, key=lambda e: e.at_s)


@dataclass
class FaultLog:
    """What the schedule actually did."""

    applied: Counter[str] = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)


async def run_schedule(world: ChaosWorld, events: list[Event], log: FaultLog) -> None:
    """Apply each event at its time (relative to now); returns after the last one is done."""
    began = trio.current_time()
    async with trio.open_nursery() as nursery:
        for event in events:
            await trio.sleep_until(began + event.at_s)
            log.lines.append(f"{trio.current_time():9.2f}    FAULT {event.describe()}")
            log.applied[event.kind] += 1
            if event.kind in ("kill", "pg_restart", "kie_duplicates", "kie_early"):
                nursery.start_soon(_apply_slow, world, event)
            else:
                _apply_now(world, event)


def _apply_now(world: ChaosWorld, event: Event) -> None:
    tg, kie = world.tg, world.kie
    match event.kind:
        case "tg_429_storm":
            tg.inject(None, status=429, retry_after=event.get("retry_after"), times=event.get("times"))
        case "tg_5xx":
            tg.inject(event.get("method"), status=event.get("status"), times=event.get("times"))
        case "tg_lost_answer":
            tg.inject(event.get("method"), status=502, times=event.get("times"), after=True)
        case "tg_slow":
            tg.inject(event.get("method"), status=None, delay=event.get("delay_s"), times=event.get("times"))
        case "kie_fail":
            kie.script(event.get("model"), outcome="fail", message="Content flagged by the safety filter", fail_code="422", times=event.get("times"))
        case "kie_never":
            kie.script(event.get("model"), outcome="never")
        case "kie_create_error":
            kie.fail_next_create(status=event.get("status"), times=event.get("times"))
        case "kie_hang_create":
            kie.delay_next("create", event.get("delay_s"), times=event.get("times"))
        case _:
            raise ValueError(f"unknown fault {event.kind}")


async def _apply_slow(world: ChaosWorld, event: Event) -> None:
    match event.kind:
        case "kill":
            await world.bot.kill()
            await trio.sleep(event.get("down_s"))
            await world.bot.start()
        case "pg_restart":
            await world.pg.crash()
            await trio.sleep(event.get("down_s"))
            await world.pg.start()
        case "kie_duplicates":
            world.kie.duplicate_callbacks = True
            await trio.sleep(event.get("for_s"))
            world.kie.duplicate_callbacks = False
        case "kie_early":
            world.kie.early_callbacks = True
            await trio.sleep(event.get("for_s"))
            world.kie.early_callbacks = False
        case _:
            raise ValueError(f"unknown fault {event.kind}")


def calm(world: ChaosWorld) -> None:
    """End of the load phase: no more Telegram faults and no more duplicate or early Kie callbacks.
    Kie faults already scripted stay: the next tasks consume them, as they would have anyway."""
    world.tg.clear_faults()
    world.kie.duplicate_callbacks = False
    world.kie.early_callbacks = False
