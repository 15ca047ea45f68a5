"""The leader's safety net for jobs (DESIGN "A generation"; the original bot's orphaned holds):

* poll Kie for ``submitted`` jobs whose callback is overdue (with growing gaps, so callbacks keep
  polling rare — the benchmark counts Kie requests per job);
* time out every job past its kind's deadline — the store releases its hold in the same
  transaction, and the user is told;
* edit progress messages of running jobs (elapsed time), a bounded number per tick so a busy
  hour never floods Telegram;
* tell again the users of jobs that ended without a result but whose message never went out
  (Telegram failing, or a crash between the job's end and the message).
"""

from __future__ import annotations

import logging
from datetime import timedelta

import trio

from kiebot.chat.callback_data import cb
from kiebot.chat.format import render
from kiebot.generation import outcomes
from kiebot.generation.deps import GenDeps
from kiebot.generation.notify import Notifier, progress_text, user_language
from kiebot.kie import errors as kie_errors
from kiebot.store import job_tracking
from kiebot.telegram.types import InlineKeyboardButton

log = logging.getLogger(__name__)

MAX_POLLS = 200


async def poll_due(deps: GenDeps, notifier: Notifier, *, limit: int = 50) -> int:
    """Poll Kie for jobs whose poll is due; returns how many were polled."""
    if deps.kie is None:
        return 0
    async with deps.db.connection() as conn:
        due = await job_tracking.due_polls(conn, deps.now(), limit=limit)
    polled = 0
    for job in due:
        spec = deps.registry.get(job.model_id)
        family = spec.family if spec is not None else "market"
        assert job.kie_task_id is not None
        try:
            status = await deps.kie.get_task(family, job.kie_task_id)
        except kie_errors.NotFound:
            await outcomes.fail(deps, notifier, job, "provider_failed", "Kie does not know this task")
            continue
        except kie_errors.KieError as exc:
            log.info("poll failed; will retry", extra={"job_id": job.id, "error": type(exc).__name__})
            status = None
        polled += 1
        moved = status is not None and await outcomes.apply_status(deps, notifier, job, status, source="poll")
        if not moved:
            async with deps.db.connection() as conn:
                polls = await job_tracking.polls_of(conn, job.id)
                delay = outcomes.poll_delay(polls + 1, has_callback=bool(deps.callback_base), spec=spec)
                next_at = deps.now() + timedelta(seconds=delay) if polls < MAX_POLLS else None
                await job_tracking.record_poll(conn, job.id, next_at)
    return polled


async def time_out_stuck(deps: GenDeps, notifier: Notifier, *, limit: int = 100) -> int:
    async with deps.db.connection() as conn:
        stuck = await job_tracking.stuck_jobs(conn, deps.now(), limit=limit)
    count = 0
    for job in stuck:
        if await outcomes.fail(deps, notifier, job, "timeout", "deadline passed", to="timed_out"):
            count += 1
    return count


async def retell_untold(deps: GenDeps, notifier: Notifier, *, limit: int = 20) -> int:
    """Tell the users of jobs that ended without a result (failed, cancelled, timed out) and were
    never told; returns how many were told now. See :meth:`Notifier.job_ended_without_result`."""
    async with deps.db.connection() as conn:
        untold = await job_tracking.untold_endings(conn, deps.now(), limit=limit)
    told = 0
    for job in untold:
        log.info("telling the user how the job ended, again", extra={"job_id": job.id, "state": job.state})
        if await notifier.job_ended_without_result(job, job.error_code or "service_error", job.error_message or ""):
            told += 1
    return told


async def tick_progress(deps: GenDeps, notifier: Notifier, *, every_s: float = 10.0, limit: int = 30) -> int:
    """Refresh "elapsed" on at most ``limit`` progress messages not edited for ``every_s``."""
    now = deps.now()
    async with deps.db.connection() as conn:
        jobs = await job_tracking.progress_due(conn, now, every_s=every_s, limit=limit)
        for job in jobs:
            await job_tracking.mark_progress(conn, job.id, now)
    for job in jobs:
        lang = await user_language(deps.db, job.user_id)
        spec = deps.registry.get(job.model_id)
        rows = None
        if job.state == "queued":
            rows = [[InlineKeyboardButton.callback(render(lang, "generation.cancel_button"), cb("jcancel", job.id))]]
        await notifier.edit_progress(job, progress_text(job, spec, lang, now), rows)
    return len(jobs)


async def run_reconciler(
    deps: GenDeps, notifier: Notifier, *, every_s: float = 2.0, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Leader-only loop: polls, time-outs and progress edits. A new term starts by polling every
    submitted job once, so results that arrived while no instance was up are picked up at once."""
    async with deps.db.connection() as conn:
        resumed = await job_tracking.poll_all_submitted_now(conn, deps.now())
    if resumed:
        log.info("resuming submitted jobs", extra={"jobs": resumed})
    task_status.started()
    while True:
        try:
            await poll_due(deps, notifier)
            await time_out_stuck(deps, notifier)
            await retell_untold(deps, notifier)
            await tick_progress(deps, notifier)
        except Exception:
            log.exception("reconcile round failed")
        await trio.sleep(every_s)
