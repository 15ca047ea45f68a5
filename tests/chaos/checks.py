"""The end-state audit: PostgreSQL read directly, the fakes' records read as the ground truth of
what Telegram delivered, what users paid and what reached their chats.

*Violations* fail the run: an update Telegram handed over that is not stored or not handled, a job
not in a final state, a user who got neither the result nor the failure/refund message, a broken
ledger invariant (``balance + held = sum(ledger)``, nothing below zero), a Stars payment credited
twice or not at all, a hold captured twice (or captured and released), a manual top-up credited
twice, a secret in the bot's logs, a bot process that died on its own.

*Duplicates* are reported, not hidden and not failed: a result delivered twice (the send took
effect, then the process died or the answer was lost before the job was marked delivered) is the
price of at-least-once delivery — the money is still taken once.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kiebot.catalog import load_registry, title
from kiebot.intake.dispatch import ALLOWED_UPDATES
from kiebot.store import jobs as jobs_store
from kiebot.store import money
from kiebot.store.db import Database
from kiebot.store.payments import manual_credit_key
from kiebot.testing.telegram.server import SimMessage

from .world import ChaosWorld

FINAL_MARK = {"delivered": "✅", "failed": "❌", "timed_out": "⌛", "cancelled": "✖"}
RESULT_KINDS = ("photo", "video", "audio", "document")
REGISTRY = load_registry()
STARS_KOPECKS = 100
"""Kopecks credited per Star (``STARS_RUB_RATE`` is left at 1.0 in the chaos environment)."""


@dataclass
class Audit:
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def violation(self, what: str) -> None:
        self.violations.append(what)

    @property
    def ok(self) -> bool:
        return not self.violations


async def audit(world: ChaosWorld, db: Database) -> Audit:
    result = Audit()
    async with db.connection() as conn:
        updates = await conn.fetch("SELECT update_id, status, attempts, last_error FROM updates")
        jobs = await conn.fetch(
            f"SELECT {jobs_store.JOB_COLUMNS} FROM jobs ORDER BY id"
        )
        ledger = await conn.fetch("SELECT user_id, kind, amount, idempotency_key, hold_ref, payment FROM ledger ORDER BY id")
        topups = await conn.fetch("SELECT id, user_id, amount_kopecks, status FROM manual_topups")
        stars_rows = await conn.fetch("SELECT telegram_payment_charge_id, user_id, stars, kopecks, status FROM stars_payments")
        invariants = await money.check_invariants(conn)
        job_money = await jobs_store.job_money_violations(conn)
    job_list = [jobs_store.job_from_row(r) for r in jobs]
    _check_updates(world, updates, result)
    _check_jobs(world, job_list, result)
    _check_money(invariants, job_money, ledger, result)
    _check_stars(world, ledger, stars_rows, result)
    _check_manual(topups, ledger, result)
    _check_logs(world, result)
    if world.bot.unexpected_exits:
        for incarnation in world.bot.unexpected_exits:
            result.violation(f"bot incarnation {incarnation.number} exited on its own with code {incarnation.exit_code} (log {incarnation.log_path})")
    result.figures["unexpected exits"] = len(world.bot.unexpected_exits)
    result.figures["violations"] = len(result.violations)
    return result


def _check_updates(world: ChaosWorld, rows: list[Any], out: Audit) -> None:
    created = [u for u in world.tg.updates if next(k for k in u if k != "update_id") in ALLOWED_UPDATES]
    delivered = {u["update_id"] for u in world.tg.delivered_updates}
    stored = {r["update_id"]: r for r in rows}
    never = [u["update_id"] for u in created if u["update_id"] not in delivered]
    if never:
        out.violation(f"{len(never)} updates never accepted by the bot (still pending or expired at Telegram): {never[:20]}")
    lost = sorted(delivered - set(stored))
    if lost:
        out.violation(f"{len(lost)} updates acknowledged with 2xx but not in the inbox: {lost[:20]}")
    by_status = Counter(r["status"] for r in rows)
    for row in rows:
        if row["status"] == "failed":
            out.violation(f"update {row['update_id']} parked after {row['attempts']} attempts: {row['last_error']}")
        elif row["status"] != "done":
            out.violation(f"update {row['update_id']} still {row['status']}")
    attempts = world.tg.webhook_attempts
    out.figures["updates created"] = len(created)
    out.figures["updates delivered"] = len(delivered)
    out.figures["updates stored"] = len(rows)
    out.figures["updates done"] = by_status.get("done", 0)
    out.figures["updates parked"] = by_status.get("failed", 0)
    out.figures["handled more than once"] = sum(1 for r in rows if r["attempts"] > 1)
    out.figures["webhook attempts"] = len(attempts)
    out.figures["webhook failures"] = sum(1 for a in attempts if a["error"] is not None)


def _result_messages(messages: list[SimMessage], job_id: int) -> list[SimMessage]:
    """The result deliveries of a job: the message carrying its result keyboard (the media
    itself, or the "ready" line after an album)."""
    marker = f"again:{job_id}"
    return [m for m in messages if marker in m.callback_data()]


def _check_jobs(world: ChaosWorld, jobs: list[jobs_store.Job], out: Audit) -> None:
    states = Counter(j.state for j in jobs)
    out.figures["jobs"] = len(jobs)
    out.figures["jobs by state"] = dict(sorted(states.items()))
    duplicates = 0
    duplicate_jobs: list[int] = []
    expected_media: Counter[int] = Counter()
    used: set[tuple[int, int]] = set()
    for job in jobs:
        if not job.is_final:
            out.violation(f"job {job.id} ({job.model_id}) still {job.state}")
            continue
        chat = world.tg.bot_messages(job.chat_id)
        results = _result_messages(chat, job.id)
        if job.state == "delivered":
            expected_media[job.chat_id] += len((job.result or {}).get("telegram", []))
            if not results:
                out.violation(f"job {job.id} is delivered (paid {job.quote_kopecks} kop.) but no result reached chat {job.chat_id}")
            elif len(results) > 1:
                duplicates += len(results) - 1
                duplicate_jobs.append(job.id)
        else:
            if results:
                out.notes.append(f"job {job.id} ended {job.state} (refunded) although a result reached the chat")
            if not _told(job, chat, used):
                progress = next((m.content[:80] for m in chat if m.message_id == job.progress_message_id), None)
                endings = [m.content[:80] for m in chat if m.content.startswith(FINAL_MARK[job.state])]
                out.violation(
                    f"job {job.id} ended {job.state} ({job.error_code}) and the user was never told "
                    f"(progress message {job.progress_message_id}: {progress!r}; endings in the chat: {endings})"
                )
    media = 0
    for chat_id in {j.chat_id for j in jobs}:
        media += sum(1 for m in world.tg.bot_messages(chat_id) if m.kind in RESULT_KINDS)
    out.figures["duplicate deliveries"] = duplicates
    out.figures["jobs delivered twice"] = duplicate_jobs
    out.figures["extra result files"] = media - sum(expected_media.values())
    if duplicate_jobs:
        out.notes.append(f"results delivered more than once (jobs {duplicate_jobs}): at-least-once delivery, charged once")


def _told(job: jobs_store.Job, chat: list[SimMessage], used: set[tuple[int, int]]) -> bool:
    """The user saw how the job ended: its progress message shows it, or — when there was no
    progress message to edit — a message of its own naming the model (each message counts for
    one job only)."""
    mark = FINAL_MARK[job.state]
    if job.progress_message_id is not None:
        progress = next((m for m in chat if m.message_id == job.progress_message_id), None)
        if progress is not None and progress.content.startswith(mark):
            used.add((job.chat_id, progress.message_id))
            return True
    spec = REGISTRY.get(job.model_id)
    name = title(spec, "ru") if spec is not None else job.model_id
    for message in chat:
        key = (job.chat_id, message.message_id)
        if key not in used and message.content.startswith(mark) and name in message.content:
            used.add(key)
            return True
    return False


def _check_money(invariants: list[money.Violation], job_money: list[jobs_store.JobMoneyViolation], ledger: list[Any], out: Audit) -> None:
    for violation in invariants:
        out.violation(f"ledger invariant, user {violation.user_id}: {violation.problem} — {violation.detail}")
    for problem in job_money:
        out.violation(f"job money: job {problem.job_id} hold {problem.hold_ref}: {problem.problem}")
    settlements: Counter[tuple[str, str]] = Counter((r["hold_ref"], r["kind"]) for r in ledger if r["kind"] in ("capture", "release"))
    refs = {ref for ref, _ in settlements}
    for ref in refs:
        captured, released = settlements[(ref, "capture")], settlements[(ref, "release")]
        if captured > 1:
            out.violation(f"hold {ref} captured {captured} times")
        if captured and released:
            out.violation(f"hold {ref} both captured and released")
    welcomes = Counter(r["user_id"] for r in ledger if r["kind"] == "welcome")
    for user_id, count in welcomes.items():
        if count > 1:
            out.violation(f"user {user_id} got the welcome bonus {count} times")
    kinds = Counter(r["kind"] for r in ledger)
    out.figures["holds"] = kinds.get("hold", 0)
    out.figures["captures"] = kinds.get("capture", 0)
    out.figures["releases"] = kinds.get("release", 0)
    out.figures["ledger invariant violations"] = len(invariants) + len(job_money)


def _check_stars(world: ChaosWorld, ledger: list[Any], stars_rows: list[Any], out: Audit) -> None:
    paid = {p.telegram_payment_charge_id: p for p in world.tg.payments if p.status == "paid"}
    credits: dict[str, list[int]] = {}
    for row in ledger:
        if row["kind"] == "topup_stars":
            credits.setdefault(row["payment"], []).append(row["amount"])
    for charge, payment in paid.items():
        amounts = credits.get(charge, [])
        if not amounts:
            out.violation(f"Stars payment {charge} ({payment.amount} ⭐ by {payment.user_id}) never credited")
        elif len(amounts) > 1:
            out.violation(f"Stars payment {charge} credited {len(amounts)} times")
        elif amounts[0] != payment.amount * STARS_KOPECKS:
            out.violation(f"Stars payment {charge}: {payment.amount} ⭐ credited as {amounts[0]} kop.")
    for charge in set(credits) - set(paid):
        out.violation(f"a credit for Stars payment {charge} that Telegram never made")
    recorded = Counter(r["telegram_payment_charge_id"] for r in stars_rows)
    if set(recorded) != set(paid):
        out.violation(f"stars_payments rows {sorted(recorded)} differ from Telegram's charges {sorted(paid)}")
    out.figures["Stars payments"] = len(paid)
    out.figures["Stars paid"] = sum(p.amount for p in paid.values())
    out.figures["pay attempts"] = dict(Counter(a.status for a in world.tg.payment_attempts))


def _check_manual(topups: list[Any], ledger: list[Any], out: Audit) -> None:
    credits: dict[str, list[int]] = {}
    for row in ledger:
        if row["kind"] == "topup_manual":
            credits.setdefault(row["idempotency_key"], []).append(row["amount"])
    for topup in topups:
        amounts = credits.get(manual_credit_key(topup["id"]), [])
        if topup["status"] == "approved" and amounts != [topup["amount_kopecks"]]:
            out.violation(f"manual top-up {topup['id']} approved; credited {amounts}")
        if topup["status"] != "approved" and amounts:
            out.violation(f"manual top-up {topup['id']} is {topup['status']} but credited {amounts}")
    states = Counter(t["status"] for t in topups)
    out.figures["manual top-ups"] = dict(sorted(states.items()))


def _check_logs(world: ChaosWorld, out: Audit) -> None:
    logs = world.bot.logs()
    for secret in world.secrets():
        if secret and secret in logs:
            out.violation(f"a secret ({secret[:3]}…) appears in the bot's logs")
    errors: Counter[str] = Counter()
    for line in logs.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("level") in ("error", "critical"):
            errors[str(record.get("event", "?"))[:80]] += 1
    out.figures["error log lines"] = dict(errors.most_common(8))
