"""Pipeline bookkeeping around jobs that is not part of their state machine: Kie poll schedule
and progress-edit throttling (migration 0003), and whether the user was told how a job ended
(``job.told`` events). Kept apart from :mod:`kiebot.store.jobs` so the state machine stays small."""

from __future__ import annotations

from datetime import datetime

from kiebot.store import events
from kiebot.store.db import Conn
from kiebot.store.jobs import _COLUMNS as JOB_COLUMNS
from kiebot.store.jobs import Job, _job


async def schedule_poll(conn: Conn, job_id: int, at: datetime) -> None:
    await conn.execute("UPDATE jobs SET next_poll_at = $2 WHERE id = $1", job_id, at)


async def due_polls(conn: Conn, now: datetime, *, limit: int = 100) -> list[Job]:
    """Submitted jobs whose next poll is due (oldest first). Callers poll Kie, then
    :func:`record_poll` with the next time, so a job is polled with growing gaps."""
    rows = await conn.fetch(
        f"""
        SELECT {JOB_COLUMNS} FROM jobs
        WHERE state = 'submitted' AND kie_task_id IS NOT NULL AND next_poll_at IS NOT NULL AND next_poll_at <= $1
        ORDER BY next_poll_at
        LIMIT $2
        """,
        now,
        limit,
    )
    return [_job(r) for r in rows]


async def record_poll(conn: Conn, job_id: int, next_at: datetime | None) -> int:
    """Count a poll and set the next one; returns the number of polls so far."""
    value = await conn.fetchval(
        "UPDATE jobs SET polls = polls + 1, next_poll_at = $2 WHERE id = $1 RETURNING polls", job_id, next_at
    )
    return int(value or 0)


async def polls_of(conn: Conn, job_id: int) -> int:
    return int(await conn.fetchval("SELECT polls FROM jobs WHERE id = $1", job_id) or 0)


async def progress_due(conn: Conn, now: datetime, *, every_s: float, limit: int) -> list[Job]:
    """Active jobs with a progress message not edited for ``every_s`` (least recently first)."""
    rows = await conn.fetch(
        f"""
        SELECT {JOB_COLUMNS} FROM jobs
        WHERE state IN ('queued', 'submitting', 'submitted')
          AND progress_message_id IS NOT NULL
          AND coalesce(progress_at, created_at) <= $1::timestamptz - make_interval(secs => $2)
        ORDER BY coalesce(progress_at, created_at)
        LIMIT $3
        """,
        now,
        float(every_s),
        limit,
    )
    return [_job(r) for r in rows]


async def mark_progress(conn: Conn, job_id: int, at: datetime) -> None:
    await conn.execute("UPDATE jobs SET progress_at = $2 WHERE id = $1", job_id, at)


async def stuck_jobs(conn: Conn, now: datetime, *, limit: int = 100) -> list[Job]:
    """Unfinished jobs past their deadline (they are timed out and their holds released). A job
    that already has its result gets ten more minutes: its delivery may be under way."""
    rows = await conn.fetch(
        f"""
        SELECT {JOB_COLUMNS} FROM jobs
        WHERE (state IN ('queued', 'submitting', 'submitted') AND deadline_at <= $1)
           OR (state = 'succeeded' AND deadline_at <= $1::timestamptz - interval '10 minutes')
        ORDER BY deadline_at
        LIMIT $2
        """,
        now,
        limit,
    )
    return [_job(r) for r in rows]


async def poll_all_submitted_now(conn: Conn, now: datetime) -> int:
    """Make every submitted job due for a poll (a new leader's first act: callbacks sent while no
    instance was up are lost — Kie's retry policy is undocumented — so ask Kie directly)."""
    status = await conn.execute(
        "UPDATE jobs SET next_poll_at = $1 WHERE state = 'submitted' AND kie_task_id IS NOT NULL", now
    )
    return int(status.split()[-1]) if status.startswith("UPDATE") else 0


TOLD_EVENT = "job.told"
"""Event kind recording that the user saw how a job without a result ended (failed, cancelled,
timed out): the message is sent after the job's state and money were committed, so a crash or a
Telegram failure in between would otherwise leave the user never told."""


async def mark_told(conn: Conn, job: Job) -> None:
    """Record that the user was told how ``job`` ended."""
    await events.record_event(conn, TOLD_EVENT, user_id=job.user_id, job_id=job.id, payload={"state": job.state})


async def untold_endings(
    conn: Conn, now: datetime, *, grace_s: float = 30.0, window_s: float = 3600.0, limit: int = 20
) -> list[Job]:
    """Jobs that ended without a result between ``window_s`` and ``grace_s`` ago whose user was
    never told (oldest first). ``grace_s`` leaves the first attempt time to finish; ``window_s``
    bounds the search (and, after an upgrade, how far back jobs from before ``job.told`` existed
    are told again)."""
    rows = await conn.fetch(
        f"""
        SELECT {JOB_COLUMNS} FROM jobs j
        WHERE j.state IN ('failed', 'cancelled', 'timed_out')
          AND j.created_at > $1::timestamptz - make_interval(secs => $3) - interval '1 day'
          AND j.finished_at > $1::timestamptz - make_interval(secs => $3)
          AND j.finished_at <= $1::timestamptz - make_interval(secs => $2)
          AND NOT EXISTS (SELECT 1 FROM events e WHERE e.job_id = j.id AND e.kind = $4)
        ORDER BY j.finished_at
        LIMIT $5
        """,
        now,
        float(grace_s),
        float(window_s),
        TOLD_EVENT,
        limit,
    )
    return [_job(r) for r in rows]


async def is_progress_message(conn: Conn, user_id: int, chat_id: int, message_id: int) -> bool:
    """Whether the message is the progress message of one of the user's jobs (the summary turns
    into it on Confirm): such a message must keep showing the job, not be replaced by a screen."""
    found = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE user_id = $1 AND chat_id = $2 AND progress_message_id = $3)",
        user_id,
        chat_id,
        message_id,
    )
    return bool(found)
