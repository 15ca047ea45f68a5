"""Jobs: one row per generation, moved through a guarded state machine, with its money settled in
the same transaction as the state change.

::

    queued → submitting → submitted → succeeded → delivered
       │          │  ↺ queued (retry)     │            │
       └──────────┴──────────┴────────────┴──→ failed | timed_out      (cancelled: from queued only)

* :func:`create_job` inserts the job and holds its quote (or claims a free use) in ONE transaction,
  idempotent by the confirm button's key: a double tap returns the first job and holds once.
* :func:`transition` refuses illegal moves (:class:`IllegalTransition`); moving to the state the
  job is already in is a no-op returning False, so a duplicated Kie callback or a second worker
  failing the same job changes nothing. Every exit without a result (failed, cancelled,
  timed_out) releases the hold or returns the free use; ``delivered`` captures the hold — in the
  same transaction as the state change, so a crash can never leave a finished job with money held
  (the original bot's orphaned holds, reference §5.1 and §9 item 13).
* Workers take jobs with :func:`claim_jobs` (``FOR UPDATE SKIP LOCKED`` plus a lease): concurrent
  claims never overlap, and a dead worker's job is claimable again once its lease expires. A
  worker that gets :class:`LeaseLost` or :class:`IllegalTransition` for its job must stop working
  on it: another worker took it over, or the deadline sweep (:func:`jobs_needing_reconcile`, which
  ignores leases — a deadline is absolute) or a callback ended it.

The job's hold uses ``ref = str(job.id)``, so its ledger keys are ``hold:<id>``, ``capture:<id>`` and
``release:<id>``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from kiebot.store import free_tier, money, variant_pauses
from kiebot.store.db import Conn, Record

JobState = Literal[
    "queued", "submitting", "submitted", "succeeded", "delivered", "failed", "cancelled", "timed_out"
]
ACTIVE_STATES: tuple[JobState, ...] = ("queued", "submitting", "submitted", "succeeded")
FINAL_STATES: frozenset[str] = frozenset(("delivered", "failed", "cancelled", "timed_out"))
EXITS_WITHOUT_RESULT: frozenset[str] = frozenset(("failed", "cancelled", "timed_out"))
ALLOWED: Mapping[str, frozenset[str]] = {
    "queued": frozenset(("submitting", "cancelled", "failed", "timed_out")),
    "submitting": frozenset(("submitted", "queued", "failed", "timed_out")),
    "submitted": frozenset(("succeeded", "failed", "timed_out")),
    "succeeded": frozenset(("delivered", "failed", "timed_out")),
}


class Job(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    user_id: int
    chat_id: int
    model_id: str
    kind: str
    params: dict[str, Any]
    quote_kopecks: int
    credits: float
    fx_rate: float
    markup: float
    free: bool
    dry_run: bool
    request_id: str
    idempotency_key: str
    callback_token: str
    kie_task_id: str | None
    state: str
    attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    deadline_at: datetime
    progress_message_id: int | None
    result: dict[str, Any] | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    delivered_at: datetime | None
    #: The priced variant the quote was for (``catalog.pricing.sku_key``: ``duration=10,sound=true``,
    #: ``default``); '' for jobs from before migration 0008_billed_credits.
    sku_key: str = ""
    #: What Kie billed for the task (``creditsConsumed``/``consumeCredits``), None until it says.
    billed_credits: float | None = None
    billed_at: datetime | None = None

    def __repr__(self) -> str:
        # The callback token is the secret in Kie's callback URL: keep it out of logs and reprs.
        fields = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self.__struct_fields__ if name != "callback_token"
        )
        return f"Job({fields}, callback_token=***)"

    @property
    def holds_money(self) -> bool:
        """Whether creating this job held money (free and dry-run jobs never do)."""
        return not self.free and not self.dry_run and self.quote_kopecks > 0

    @property
    def hold_ref(self) -> str:
        return str(self.id)

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


class CreatedJob(msgspec.Struct, frozen=True, kw_only=True):
    job: Job
    created: bool  # False: the key was already used (a double tap) and ``job`` is the first one


class Transition(msgspec.Struct, frozen=True, kw_only=True):
    from_state: str | None
    to_state: str
    at: datetime
    note: str | None


class JobError(Exception):
    """Base of the typed refusals of this module; nothing was written when one is raised."""


class UnknownJob(JobError):
    def __init__(self, job_id: int) -> None:
        super().__init__(f"no job {job_id}")
        self.job_id = job_id


class IllegalTransition(JobError):
    def __init__(self, job_id: int, from_state: str, to_state: str) -> None:
        super().__init__(f"job {job_id}: {from_state} → {to_state} is not allowed")
        self.job_id = job_id
        self.from_state = from_state
        self.to_state = to_state


class TooManyActiveJobs(JobError):
    """The user already has ``active`` unfinished paid jobs, the most allowed (``limit``); nothing
    was written, nothing held."""

    def __init__(self, active: int, limit: int) -> None:
        super().__init__(f"{active} unfinished paid jobs, at most {limit} allowed")
        self.active = active
        self.limit = limit


class LeaseLost(JobError):
    """The worker's lease was taken over (it expired and another worker claimed the job)."""

    def __init__(self, job_id: int, owner: str, holder: str | None) -> None:
        super().__init__(f"job {job_id}: lease held by {holder!r}, not {owner!r}")
        self.job_id = job_id
        self.owner = owner
        self.holder = holder


JOB_COLUMNS = ", ".join(Job.__struct_fields__)
"""The ``jobs`` columns a :class:`Job` is built from, for modules that query jobs themselves."""


def job_from_row(row: Record) -> Job:
    """A :class:`Job` from a row selected with :data:`JOB_COLUMNS`."""
    return Job(**{k: row[k] for k in Job.__struct_fields__})


# Short private names used throughout this module (and, before the public ones existed, by
# kiebot.store.job_tracking).
_COLUMNS = JOB_COLUMNS
_job = job_from_row


async def _db_now(conn: Conn) -> datetime:
    value: datetime = await conn.fetchval("SELECT now()")
    return value


async def create_job(
    conn: Conn,
    *,
    user_id: int,
    chat_id: int,
    model_id: str,
    kind: str,
    params: Mapping[str, Any],
    quote_kopecks: int,
    idempotency_key: str,
    timeout_s: float,
    credits: float = 0.0,
    fx_rate: float = 0.0,
    markup: float = 0.0,
    free: bool = False,
    dry_run: bool = False,
    request_id: str = "",
    free_limits: free_tier.FreeLimits | None = None,
    max_active_paid: int | None = None,
    now: datetime | None = None,
    sku_key: str = "",
) -> CreatedJob:
    """Freeze the quote on a new ``queued`` job and hold it (or claim a free use), atomically.

    ``max_active_paid`` (``MAX_ACTIVE_JOBS_PER_USER``) caps the user's unfinished paid jobs, so one
    user cannot fill the queue (and Kie's 20 creates per 10 s) ahead of everyone else: it is
    counted under the user's account lock, so concurrent confirms of one user cannot both slip
    under it. A repeated key (double tap) still returns the first job.

    ``sku_key`` names the priced variant: when it is paused for sale
    (:mod:`kiebot.store.variant_pauses`) the confirm is refused in this same transaction, before
    anything is held, and a pause committed while this runs waits for it (the check holds a
    shared lock on the variant), so no hold is ever taken for a variant after its pause committed.

    Raises:
        variant_pauses.VariantPaused: the variant is paused; no job is created, nothing held.
        TooManyActiveJobs: the user is at ``max_active_paid``; no job is created, nothing held.
        money.InsufficientFunds: the balance does not cover the quote; no job is created.
        free_tier.FreeLimitReached: no free use left; no job is created.
        money.IdempotencyConflict: the key belongs to another user's job.
    """
    if free and free_limits is None:
        raise ValueError("a free job needs free_limits")
    if quote_kopecks < 0:
        raise ValueError("quote_kopecks must be ≥ 0")
    async with conn.transaction():
        now = now or await _db_now(conn)
        if max_active_paid is not None and not free:
            await _check_active_paid(conn, user_id, idempotency_key, max_active_paid)
        row = await conn.fetchrow(
            f"""
            INSERT INTO jobs (user_id, chat_id, model_id, kind, params, quote_kopecks, credits, fx_rate, markup,
                              free, dry_run, request_id, idempotency_key, callback_token, deadline_at,
                              created_at, updated_at, sku_key)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING {_COLUMNS}
            """,
            user_id,
            chat_id,
            model_id,
            kind,
            dict(params),
            quote_kopecks,
            credits,
            fx_rate,
            markup,
            free,
            dry_run,
            request_id,
            idempotency_key,
            secrets.token_urlsafe(24),
            now + timedelta(seconds=timeout_s),
            now,
            sku_key,
        )
        if row is None:
            existing = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM jobs WHERE idempotency_key = $1", idempotency_key
            )
            assert existing is not None  # ON CONFLICT implies it exists
            job = _job(existing)
            if job.user_id != user_id:
                raise money.IdempotencyConflict(idempotency_key)
            return CreatedJob(job=job, created=False)
        job = _job(row)
        if sku_key:
            # Raises VariantPaused: the whole transaction (the insert above) rolls back.
            await variant_pauses.check_for_sale(conn, model_id, sku_key)
        await _record_transition(conn, job.id, None, "queued", "created")
        if free:
            assert free_limits is not None
            await free_tier.claim_free_use(
                conn, user_id, model_id, job.id, now, free_limits.daily, free_limits.hourly
            )
        elif job.holds_money:
            await money.hold(conn, user_id, quote_kopecks, ref=job.hold_ref, job_id=job.id)
        return CreatedJob(job=job, created=True)


async def _check_active_paid(conn: Conn, user_id: int, idempotency_key: str, limit: int) -> None:
    """Raise :class:`TooManyActiveJobs` when the user is at ``limit`` (unless the key exists: a
    repeat returns the first job). Holds the account lock until the caller's transaction ends."""
    await money.lock_account(conn, user_id)
    row = await conn.fetchrow(
        """
        SELECT EXISTS (SELECT 1 FROM jobs WHERE idempotency_key = $2) AS repeat,
               (SELECT count(*) FROM jobs
                WHERE user_id = $1 AND NOT free AND state = ANY($3::text[])) AS active
        """,
        user_id,
        idempotency_key,
        list(ACTIVE_STATES),
    )
    assert row is not None  # a SELECT without FROM always returns its one row
    if not row["repeat"] and int(row["active"]) >= limit:
        raise TooManyActiveJobs(int(row["active"]), limit)


async def _record_transition(
    conn: Conn, job_id: int, from_state: str | None, to_state: str, note: str | None
) -> None:
    await conn.execute(
        "INSERT INTO job_transitions (job_id, from_state, to_state, note) VALUES ($1, $2, $3, $4)",
        job_id,
        from_state,
        to_state,
        note,
    )


def _storable(value: Any) -> Any:
    """``value`` without U+0000, which PostgreSQL ``text`` and ``jsonb`` refuse. Kie's words (a
    fail message, a result URL, a task id) reach :func:`transition` as sent; one NUL in them made
    the UPDATE fail, so the callback got a 500 and every poll failed the same way until the
    deadline (found by tests/fuzz/test_kie_callback_fuzz.py)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, Mapping):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


async def transition(
    conn: Conn,
    job_id: int,
    to: JobState,
    *,
    owner: str | None = None,
    note: str | None = None,
    kie_task_id: str | None = None,
    result: Mapping[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> bool:
    """Move the job to ``to`` and settle its money when ``to`` ends it; False if already there.

    ``owner``: the worker's name; when given, the job must still be leased to it.

    Raises:
        UnknownJob, IllegalTransition, LeaseLost: nothing was written.
    """
    if to == "submitted" and not kie_task_id:
        raise ValueError("moving to submitted needs the Kie task id")
    if to == "succeeded" and result is None:
        raise ValueError("moving to succeeded needs the result")
    kie_task_id, result, error_code, error_message = _storable((kie_task_id, result, error_code, error_message))
    async with conn.transaction():
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM jobs WHERE id = $1 FOR UPDATE", job_id)
        if row is None:
            raise UnknownJob(job_id)
        job = _job(row)
        if job.state == to:
            return False
        if to not in ALLOWED.get(job.state, frozenset()):
            raise IllegalTransition(job_id, job.state, to)
        if owner is not None and job.lease_owner != owner:
            raise LeaseLost(job_id, owner, job.lease_owner)
        final = to in FINAL_STATES
        await conn.execute(
            """
            UPDATE jobs SET
                state = $2,
                updated_at = now(),
                kie_task_id = coalesce($3, kie_task_id),
                result = coalesce($4::jsonb, result),
                error_code = coalesce($5, error_code),
                error_message = coalesce($6, error_message),
                finished_at = CASE WHEN $7 THEN now() ELSE finished_at END,
                delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END,
                lease_owner = CASE WHEN $7 OR $2 = 'queued' THEN NULL ELSE lease_owner END,
                lease_expires_at = CASE WHEN $7 OR $2 = 'queued' THEN NULL ELSE lease_expires_at END
            WHERE id = $1
            """,
            job_id,
            to,
            kie_task_id,
            None if result is None else dict(result),
            error_code,
            error_message,
            final,
        )
        await _record_transition(conn, job_id, job.state, to, note or error_code)
        if to in EXITS_WITHOUT_RESULT:
            if job.free:
                await free_tier.return_free_use(conn, job_id)
            elif job.holds_money:
                await money.release(
                    conn, job.user_id, ref=job.hold_ref, job_id=job_id, reason=error_code or to
                )
        elif to == "delivered" and job.holds_money:
            await money.capture(conn, job.user_id, ref=job.hold_ref, job_id=job_id)
        return True


async def claim_jobs(
    conn: Conn,
    worker: str,
    states: Iterable[JobState],
    limit: int,
    lease_s: float,
    *,
    now: datetime | None = None,
) -> list[Job]:
    """Lease up to ``limit`` jobs in ``states`` that nobody holds (or whose lease expired).

    ``FOR UPDATE SKIP LOCKED`` makes concurrent claimers pass over each other's rows instead of
    waiting, so their claims never overlap. Each claim counts an attempt. ``now`` defaults to the
    database clock, which every instance shares.
    """
    rows = await conn.fetch(
        f"""
        WITH c AS (
            SELECT id FROM jobs
            WHERE state = ANY($2::text[])
              AND (lease_expires_at IS NULL OR lease_expires_at <= coalesce($5, now()))
            ORDER BY id
            LIMIT $3
            FOR UPDATE SKIP LOCKED
        )
        UPDATE jobs j SET lease_owner = $1,
                          lease_expires_at = coalesce($5, now()) + make_interval(secs => $4),
                          attempts = j.attempts + 1
        FROM c WHERE j.id = c.id
        RETURNING {", ".join("j." + c for c in Job.__struct_fields__)}
        """,
        worker,
        list(states),
        limit,
        lease_s,
        now,
    )
    return sorted((_job(r) for r in rows), key=lambda j: j.id)


async def renew_lease(
    conn: Conn, job_id: int, worker: str, lease_s: float, *, now: datetime | None = None
) -> bool:
    """Extend the worker's lease; False when the job is no longer leased to it (stop working on it)."""
    status = await conn.execute(
        """
        UPDATE jobs SET lease_expires_at = coalesce($4, now()) + make_interval(secs => $3)
        WHERE id = $1 AND lease_owner = $2
        """,
        job_id,
        worker,
        lease_s,
        now,
    )
    return status == "UPDATE 1"


async def release_lease(conn: Conn, job_id: int, worker: str) -> bool:
    """Let go of a job without changing its state (e.g. on shutdown), so another worker can take it."""
    status = await conn.execute(
        "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2",
        job_id,
        worker,
    )
    return status == "UPDATE 1"


async def set_progress_message(conn: Conn, job_id: int, message_id: int) -> None:
    """Remember the chat message that shows this job's progress (edited as it advances)."""
    await conn.execute("UPDATE jobs SET progress_message_id = $2 WHERE id = $1", job_id, message_id)


async def get_job(conn: Conn, job_id: int) -> Job | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM jobs WHERE id = $1", job_id)
    return None if row is None else _job(row)


async def find_by_task_id(conn: Conn, kie_task_id: str) -> Job | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM jobs WHERE kie_task_id = $1", kie_task_id)
    return None if row is None else _job(row)


async def find_by_callback_token(conn: Conn, callback_token: str) -> Job | None:
    """The job a Kie callback URL belongs to; compare tokens in SQL only (an index lookup)."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM jobs WHERE callback_token = $1", callback_token)
    return None if row is None else _job(row)


async def recent_jobs(conn: Conn, user_id: int, limit: int = 20) -> list[Job]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM jobs WHERE user_id = $1 ORDER BY id DESC LIMIT $2", user_id, limit
    )
    return [_job(r) for r in rows]


async def job_history(conn: Conn, job_id: int) -> list[Transition]:
    """The job's states with their times, oldest first."""
    rows = await conn.fetch(
        "SELECT from_state, to_state, at, note FROM job_transitions WHERE job_id = $1 ORDER BY id", job_id
    )
    return [
        Transition(from_state=r["from_state"], to_state=r["to_state"], at=r["at"], note=r["note"])
        for r in rows
    ]


async def jobs_needing_reconcile(
    conn: Conn, now: datetime, *, stale_after_s: float = 120.0, limit: int = 100
) -> list[Job]:
    """Jobs that may be stuck: past their deadline and not finished, or ``submitted`` with no news
    (no state change) for ``stale_after_s`` — the reconciler polls Kie or times them out."""
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM jobs
        WHERE state IN ('queued', 'submitting', 'submitted', 'succeeded')
          AND (deadline_at <= $1 OR (state = 'submitted' AND updated_at <= $2))
        ORDER BY id
        LIMIT $3
        """,
        now,
        now - timedelta(seconds=stale_after_s),
        limit,
    )
    return [_job(r) for r in rows]


class JobMoneyViolation(msgspec.Struct, frozen=True, kw_only=True):
    """A job whose money does not match its state (see :func:`job_money_violations`)."""

    job_id: int | None
    hold_ref: str | None
    problem: str


_JOB_MONEY_SQL = """
WITH job_money AS (
    SELECT j.id, j.state,
           h.id IS NOT NULL AS held,
           s.kind AS settled
    FROM jobs j
    LEFT JOIN ledger h ON h.idempotency_key = 'hold:' || j.id::text
    LEFT JOIN ledger s ON s.hold_ref = j.id::text AND s.kind IN ('capture', 'release')
    WHERE NOT j.free AND NOT j.dry_run AND j.quote_kopecks > 0
)
SELECT id AS job_id, id::text AS hold_ref,
       CASE
           WHEN NOT held THEN 'no hold'
           WHEN state IN ('failed', 'cancelled', 'timed_out') AND settled IS DISTINCT FROM 'release'
               THEN 'ended without result but not released'
           WHEN state = 'delivered' AND settled IS DISTINCT FROM 'capture' THEN 'delivered but not captured'
           WHEN state NOT IN ('failed', 'cancelled', 'timed_out', 'delivered') AND settled IS NOT NULL
               THEN 'settled while still active'
       END AS problem
FROM job_money
WHERE NOT held
   OR (state IN ('failed', 'cancelled', 'timed_out') AND settled IS DISTINCT FROM 'release')
   OR (state = 'delivered' AND settled IS DISTINCT FROM 'capture')
   OR (state NOT IN ('failed', 'cancelled', 'timed_out', 'delivered') AND settled IS NOT NULL)
UNION ALL
SELECT NULL, l.hold_ref, 'hold without a job'
FROM ledger l
WHERE l.kind = 'hold' AND l.job_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = l.job_id)
"""


async def job_money_violations(conn: Conn) -> list[JobMoneyViolation]:
    """Jobs whose money disagrees with their state — the orphaned holds the original bot left.

    Every job that holds money must have its hold; one that ended without a result must have been
    released, a delivered one captured, an active one not settled yet. Empty when all is well
    (the scheduler can alert on a non-empty answer; the tests and chaos runs assert it).
    """
    rows = await conn.fetch(_JOB_MONEY_SQL)
    return [JobMoneyViolation(job_id=r["job_id"], hold_ref=r["hold_ref"], problem=r["problem"]) for r in rows]
