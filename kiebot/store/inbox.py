"""The ``updates`` inbox: no Telegram update is lost, and one chat's updates run one at a time, in order.

Flow (DESIGN.md "An update"): the webhook or the poller calls :func:`put` and only then answers
Telegram (200, or the next ``getUpdates`` offset); dispatch workers on any number of instances call
:func:`claim`, handle each update, then :func:`done` or :func:`fail`.

Guarantees, and how they are kept:

* **Stored before acknowledged.** :func:`put` is an ``INSERT … ON CONFLICT DO NOTHING`` on the
  ``update_id`` primary key: Telegram's redeliveries are recognised (it returns False) and never
  stored twice.
* **One update of a chat at a time, in ``update_id`` order.** A chat's next update is the lowest
  unfinished one; it is claimable only while no update of that chat is claimed. The partial unique
  index ``updates_one_claim_per_chat`` makes "two claimed updates of one chat" impossible at the
  database level; :func:`claim` retries the rare statement that loses that race.
* **No double processing at once, no orphan.** A claim holds a lease (``lease_expires_at``) and a
  random ``claim_token``; a worker that dies leaves its claim to expire and another worker retakes
  it. :func:`done` and :func:`fail` only act with the current token, so a late worker whose lease
  was retaken cannot finish someone else's claim (and unblock the chat too early).
* **A poisoned update cannot block its chat.** Each claim counts an attempt; :func:`fail` (or a
  lease expiring again) after ``max_attempts`` parks the update as ``failed`` and the chat moves on.
* **Throughput.** :func:`claim` takes the next update of up to ``limit`` distinct chats in one
  round trip (``FOR UPDATE SKIP LOCKED`` with the limit applied after skipping, so concurrent
  claimers share the backlog instead of colliding on the same heads); :func:`done` and
  :func:`fail` are single statements. An insert fires ``NOTIFY kiebot_updates`` (trigger in
  0001_core.sql, delivered on commit); :func:`open_wakeups` turns that into wake-ups for idle
  dispatchers on a dedicated connection.

Processing is at-least-once (a handler may run again after a crash or an expired lease); money
effects are made exactly-once by the ledger's idempotency keys, not here.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
import trio

from kiebot.logs import redact
from kiebot.store.db import (
    Conn,
    Database,
    DatabaseUnavailable,
    DeadlockDetected,
    PostgresError,
    Record,
    UniqueViolation,
)
from kiebot.store.free_tier import DAY
from kiebot.store.menu import SNAPSHOT_COLUMNS, MenuSnapshot
from kiebot.store.users import User

log = logging.getLogger(__name__)

CHANNEL = "kiebot_updates"
"""NOTIFY channel fired (empty payload) when updates are inserted."""

DEFAULT_LEASE_S = 60.0
"""How long a claim stays exclusive. Handlers answer fast and push long work (generations) to jobs;
a handler that needs longer calls :func:`extend_lease`."""

DEFAULT_MAX_ATTEMPTS = 5
RETENTION_DAYS = 7
_MAX_ERROR_CHARS = 2000
_CLAIM_RETRIES = 5

Source = Literal["webhook", "polling", "sandbox", "test"]
FailOutcome = Literal["retry", "parked", "lost"]


class InboxItem(msgspec.Struct, frozen=True):
    """One update to store (:func:`put_many`)."""

    update_id: int
    chat_key: int
    kind: str
    raw: bytes | str | Mapping[str, Any]
    source: str


class ClaimedUpdate(msgspec.Struct, frozen=True):
    """An update this worker now owns until ``lease_expires_at``; finish it with ``token``."""

    update_id: int
    chat_key: int
    kind: str
    raw: bytes
    source: str
    attempts: int
    token: str
    received_at: datetime
    lease_expires_at: datetime
    #: The sender, already created or refreshed by a claim with ``touch_senders`` (None otherwise,
    #: or when the update has no sender the bot keeps, or it could not be read in SQL).
    sender: User | None = None
    #: The sender's menu figures, read by the same statement (with ``sender``).
    menu: MenuSnapshot | None = None


class ParkedUpdate(msgspec.Struct, frozen=True):
    update_id: int
    chat_key: int
    kind: str
    attempts: int
    last_error: str | None
    received_at: datetime
    finished_at: datetime


class InboxStats(msgspec.Struct, frozen=True):
    """For metrics: ``pending`` waiting, ``claimed`` in flight, ``parked`` failed for good (last 7
    days), and the age of the oldest unfinished update (the inbox lag; 0 when empty)."""

    pending: int
    claimed: int
    parked: int
    oldest_pending_age_s: float


def _raw_text(raw: bytes | str | Mapping[str, Any]) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8")
    if isinstance(raw, str):
        return raw
    return json.dumps(raw, ensure_ascii=False, separators=(",", ":"))


async def put(
    conn: Conn, update_id: int, chat_key: int, kind: str, raw: bytes | str | Mapping[str, Any], source: str
) -> bool:
    """Store one update; True when it is new, False for a redelivery (nothing changes then).

    ``raw`` is the update's JSON (the webhook body as received, or a decoded mapping). It is stored
    as ``json`` — verbatim, and still queryable for a parked update; invalid JSON raises
    ``kiebot.store.db.PostgresError`` — validate before storing. ``chat_key`` serialises handling:
    the chat id, or the user id for updates without a chat (inline and pre-checkout queries).
    """
    inserted = await conn.fetchval(
        """
        INSERT INTO updates (update_id, chat_key, kind, raw, source)
        VALUES ($1, $2, $3, $4::text::json, $5)
        ON CONFLICT (update_id) DO NOTHING
        RETURNING true
        """,
        update_id,
        chat_key,
        kind,
        _raw_text(raw),
        source,
    )
    return bool(inserted)


async def put_many(conn: Conn, items: Sequence[InboxItem]) -> int:
    """Store a batch (a ``getUpdates`` page) in one statement; returns how many were new."""
    return len(await put_many_new(conn, items))


async def put_many_new(conn: Conn, items: Sequence[InboxItem]) -> set[int]:
    """Store a batch in one statement; returns the ids that were new (a redelivered id, or one
    that comes twice in ``items``, is stored once)."""
    if not items:
        return set()
    rows = await conn.fetch(
        """
        INSERT INTO updates (update_id, chat_key, kind, raw, source)
        SELECT u, c, k, r::json, s
        FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[]) AS t(u, c, k, r, s)
        ON CONFLICT (update_id) DO NOTHING
        RETURNING update_id
        """,
        [i.update_id for i in items],
        [i.chat_key for i in items],
        [i.kind for i in items],
        [_raw_text(i.raw) for i in items],
        [i.source for i in items],
    )
    return {int(r["update_id"]) for r in rows}


# The claim walks pending updates oldest first, one index probe per step (``walk``: the next
# pending id after the last, on ``updates_pending_by_id``), and keeps a row only when it is its
# chat's head — no older unfinished update in the chat, none of the chat claimed — and not
# delayed; the walk stops as soon as ``$1`` rows are locked, so a claim costs about ``$1`` probes
# whatever the backlog (issue 18: the earlier form worked out every chat's head over the whole
# backlog on each call — O(N) per claim, O(N^2) to drain a burst; 1,000 queued /starts kept
# PostgreSQL at 90% for 20 s). The shape is forced, not left to statistics (a fresh table has
# none, and before a burst they say nothing is pending): the head test is a LATERAL subquery with
# a row lock, which the planner can neither flatten nor put before the walk, the recursive walk
# is read only as far as the LIMIT asks, and the chat checks are scalar subqueries (not NOT EXISTS,
# which a plan made on an empty table turned into a scan of every open update per row), so each
# is a probe of the chat's index (tests/store/test_inbox_claim_cost.py).
# Claims whose lease expired are taken too (at most one per chat, by the unique index), first.
# ``FOR UPDATE ... SKIP LOCKED`` is on each row as the walk reaches it: a row another claimer holds
# is passed over without counting against the limit, and READ COMMITTED re-checks the row's
# conditions on its newest version when it is locked, so a row claimed or finished meanwhile is
# skipped.
_CLAIM_CTES = """
WITH RECURSIVE {async_commit_cte}walk (update_id) AS (
    SELECT min(update_id) FROM updates WHERE status = 'pending'
    UNION ALL
    SELECT (SELECT min(n.update_id) FROM updates n WHERE n.status = 'pending' AND n.update_id > w.update_id)
    FROM walk w
    WHERE w.update_id IS NOT NULL
), expired AS (
    SELECT u.update_id, u.attempts >= $3 AS exhausted
    FROM updates u
    WHERE u.status = 'claimed' AND u.lease_expires_at <= now()
    ORDER BY u.lease_expires_at
    LIMIT $1
    FOR UPDATE OF u SKIP LOCKED
), heads AS (
    SELECT h.update_id, h.exhausted
    FROM walk w
    CROSS JOIN LATERAL (
        SELECT p.update_id, p.attempts >= $3 AS exhausted
        FROM updates p
        WHERE p.update_id = w.update_id
          AND p.status = 'pending'
          AND (p.not_before IS NULL OR p.not_before <= now())
          AND (SELECT o.update_id FROM updates o
               WHERE o.chat_key = p.chat_key AND o.status IN ('pending', 'claimed') AND o.update_id < p.update_id
               LIMIT 1) IS NULL
          AND (SELECT o.update_id FROM updates o WHERE o.chat_key = p.chat_key AND o.status = 'claimed' LIMIT 1) IS NULL
        FOR UPDATE OF p SKIP LOCKED
    ) h
    LIMIT $1
), locked AS (
    SELECT update_id, exhausted FROM (
        SELECT update_id, exhausted, 0 AS turn FROM expired
        UNION ALL
        SELECT update_id, exhausted, 1 AS turn FROM heads
    ) e
    ORDER BY turn, update_id
    LIMIT $1
), claimed AS (
    UPDATE updates u SET
        status           = CASE WHEN l.exhausted THEN 'failed' ELSE 'claimed' END,
        attempts         = CASE WHEN l.exhausted THEN u.attempts ELSE u.attempts + 1 END,
        claim_token      = CASE WHEN l.exhausted THEN NULL ELSE gen_random_uuid() END,
        claimed_by       = CASE WHEN l.exhausted THEN u.claimed_by ELSE $2 END,
        lease_expires_at = CASE WHEN l.exhausted THEN NULL ELSE now() + make_interval(secs => $4) END,
        not_before       = NULL,
        last_error       = CASE WHEN l.exhausted
                                THEN 'lease expired on attempt ' || u.attempts || ' (worker ' || coalesce(u.claimed_by, '?') || ')'
                                ELSE u.last_error END,
        finished_at      = CASE WHEN l.exhausted THEN now() ELSE NULL END
    FROM locked l
    WHERE u.update_id = l.update_id{async_commit_check}
    RETURNING u.update_id, u.chat_key, u.kind, u.raw, u.source, u.attempts, u.status,
              u.claim_token, u.received_at, u.lease_expires_at
)"""

_CLAIMED_COLUMNS = """c.update_id, c.chat_key, c.kind, c.raw::text AS raw, c.source, c.attempts, c.status,
       c.claim_token::text AS token, c.received_at, c.lease_expires_at"""

_CLAIM_PLAIN = _CLAIM_CTES + f"\nSELECT {_CLAIMED_COLUMNS} FROM claimed c\n"

# The same claim, and in the same statement the user upsert every handler starts with
# (kiebot.bot.router: the sender of a private message or of a callback query is created or
# refreshed before anything else). It saves one round trip per update (issue 18). The sender is
# read from the stored JSON only where that cannot fail: a text with a ``\u0000`` or a lone
# surrogate escape (which PostgreSQL's json operators refuse), a sender id that is not a plain
# integer or a sender that is not an object is left to the handler's own upsert — a failing
# statement here would stop every chat's dispatch, not just one update's. Senders are upserted in
# user_id order, once each (one user may be the sender in two chats of one batch), so two claimers
# take the row locks in the same order. Must match ``kiebot.store.users.touch_user`` and
# ``kiebot.i18n.normalize_lang``; tests/store/test_inbox_claim_touch.py compares them.
_CLAIM_TOUCH = _CLAIM_CTES + r""", sources AS (
    SELECT c.update_id, x.f
    FROM claimed c
    CROSS JOIN LATERAL (
        SELECT CASE
            WHEN c.kind = 'message'
             AND c.raw->'message'->'chat'->>'type' = 'private'
             AND coalesce((c.raw->'message'->'from'->'is_bot')::text, 'false') <> 'true'
                THEN c.raw->'message'->'from'
            WHEN c.kind = 'callback_query' THEN c.raw->'callback_query'->'from'
        END AS f
    ) x
    WHERE c.status = 'claimed' AND c.raw::text !~* '\\u(0000|d[89a-f])'
), senders AS (
    SELECT s.update_id, (s.f->>'id')::bigint AS user_id, s.f
    FROM sources s
    WHERE json_typeof(s.f) = 'object' AND s.f->>'id' ~ '^-?[0-9]{1,18}$'
), touched AS (
    INSERT INTO users AS t (user_id, first_name, last_name, username, language)
    SELECT DISTINCT ON (user_id)
           user_id,
           coalesce(f->>'first_name', ''),
           f->>'last_name',
           f->>'username',
           CASE WHEN lower(coalesce(f->>'language_code', '')) LIKE 'en%' THEN 'en' ELSE 'ru' END
    FROM senders
    ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE
        SET first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
            username = EXCLUDED.username, last_seen_at = now(), blocked_bot = false
    RETURNING t.user_id, t.first_name, t.last_name, t.username, t.language, t.referrer_id,
              t.created_at, t.last_seen_at, t.blocked_bot, t.banned, t.free_bonus_uses
)
SELECT """ + _CLAIMED_COLUMNS + """,
       t.user_id AS s_user_id, t.first_name AS s_first_name, t.last_name AS s_last_name,
       t.username AS s_username, t.language AS s_language, t.referrer_id AS s_referrer_id,
       t.created_at AS s_created_at, t.last_seen_at AS s_last_seen_at, t.blocked_bot AS s_blocked_bot,
       t.banned AS s_banned, t.free_bonus_uses AS s_free_bonus_uses,""" + SNAPSHOT_COLUMNS + """
FROM claimed c
LEFT JOIN senders s ON s.update_id = c.update_id
LEFT JOIN touched t ON t.user_id = s.user_id
"""


# A claim outside a transaction commits without waiting for the WAL flush, as a finish does
# (``_DONE_ASYNC_COMMIT_SQL``): should a server crash lose it, its updates are pending again and are
# handled again — the inbox's at-least-once, as after a lost lease — and any later durable commit
# (the next intake INSERT, a payment) flushes it too. Intake's INSERT stays durable: Telegram is
# answered only once an update is stored. Inside a caller's transaction, the caller's commit decides.
_ASYNC_COMMIT_CTE = "async_commit AS (SELECT set_config('synchronous_commit', 'off', true) AS v),\n"
_ASYNC_COMMIT_CHECK = "\n      AND EXISTS (SELECT 1 FROM async_commit)"


def _committed(sql: str, *, lazily: bool) -> str:
    return sql.replace("{async_commit_cte}", _ASYNC_COMMIT_CTE if lazily else "").replace(
        "{async_commit_check}", _ASYNC_COMMIT_CHECK if lazily else ""
    )


_CLAIM_SQL = _committed(_CLAIM_PLAIN, lazily=False)
_CLAIM_TOUCH_SQL = _committed(_CLAIM_TOUCH, lazily=False)
_CLAIM_LAZY_SQL = _committed(_CLAIM_PLAIN, lazily=True)
_CLAIM_TOUCH_LAZY_SQL = _committed(_CLAIM_TOUCH, lazily=True)


def _sender(row: Record) -> User | None:
    if row.get("s_user_id") is None:
        return None
    return User(**{k: row["s_" + k] for k in User.__struct_fields__})


def _menu(row: Record) -> MenuSnapshot | None:
    if row.get("s_user_id") is None:
        return None
    return MenuSnapshot(
        balance=int(row["m_balance"]),
        bonus_left=int(row["s_free_bonus_uses"]),
        uses=list(zip(row["m_used_at"], row["m_bonus"], strict=True)),
        has_state=bool(row["m_has_state"]),
    )


def _claimed(row: Record) -> ClaimedUpdate:
    return ClaimedUpdate(
        sender=_sender(row),
        menu=_menu(row),
        update_id=row["update_id"],
        chat_key=row["chat_key"],
        kind=row["kind"],
        raw=row["raw"].encode("utf-8"),
        source=row["source"],
        attempts=row["attempts"],
        token=row["token"],
        received_at=row["received_at"],
        lease_expires_at=row["lease_expires_at"],
    )


async def claim(
    conn: Conn,
    worker: str,
    *,
    limit: int = 16,
    lease_s: float = DEFAULT_LEASE_S,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    touch_senders: bool = False,
    now: datetime | None = None,
) -> list[ClaimedUpdate]:
    """Claim the next update of up to ``limit`` distinct chats, oldest first, in one round trip.

    With ``touch_senders`` the same statement creates or refreshes each claimed update's sender
    (``kiebot.store.users.touch_user``) and returns it as ``ClaimedUpdate.sender``, with the
    sender's menu figures at ``now`` (the app's clock; default the real one) as
    ``ClaimedUpdate.menu``; should that part be refused, the claim is made again without it (the
    handler then upserts the sender and reads the figures itself).

    Run it outside an explicit transaction (it is one statement; its row locks end with it).
    ``worker`` names the claimer in the row (for operators). An expired claim that already used
    ``max_attempts`` is parked as failed instead of being handed out again (a handler that keeps
    crashing the process must not block its chat forever). Returns an empty list when nothing is
    claimable right now.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    rows: list[Record] = []
    lazily = not conn.in_transaction()
    plain = _CLAIM_LAZY_SQL if lazily else _CLAIM_SQL
    sql = (_CLAIM_TOUCH_LAZY_SQL if lazily else _CLAIM_TOUCH_SQL) if touch_senders else plain
    for attempt in range(_CLAIM_RETRIES):
        try:
            args: tuple[Any, ...] = (limit, worker, max_attempts, float(lease_s))
            if sql is not plain:
                at = now if now is not None else datetime.now(UTC)
                args += (at - DAY, at)
            rows = await conn.fetch(sql, *args)
            break
        except (UniqueViolation, DeadlockDetected):
            # Another claimer took a different update of one of our chats in the same instant
            # (possible only when an older update arrives late). Nothing was written; try again.
            log.debug("inbox claim raced, retrying", extra={"attempt": attempt + 1})
            await trio.lowlevel.checkpoint()
        except PostgresError as exc:
            if sql is plain:
                raise
            # Nothing was written (one statement); the senders' upserts fall back to the handlers.
            log.warning("claim with sender upsert refused; claiming without it", extra={"error": type(exc).__name__})
            sql = plain
    else:
        log.warning("inbox claim kept racing with other claimers; claimed nothing this round")
    claimed = [_claimed(r) for r in rows if r["status"] == "claimed"]
    for row in rows:
        if row["status"] == "failed":
            log.error(
                "inbox update parked after repeated lease expiry",
                extra={"update_id": row["update_id"], "attempts": row["attempts"]},
            )
    claimed.sort(key=lambda c: c.update_id)
    return claimed


_DONE_SQL = """
UPDATE updates
SET status = 'done', finished_at = now(), claim_token = NULL, lease_expires_at = NULL
WHERE update_id = $1 AND status = 'claimed' AND claim_token = $2::uuid
RETURNING true
"""

# The same, committed without waiting for the WAL flush. Safe for a stand-alone ``done``: if a
# server crash loses it, the update is still claimed (its claim was flushed) and is handled again
# after the lease — the at-least-once the inbox promises anyway — and any later durable commit
# flushes it too, so a chat's order survives. It roughly halves the fsyncs per update.
_DONE_ASYNC_COMMIT_SQL = """
WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true) AS v)
UPDATE updates
SET status = 'done', finished_at = now(), claim_token = NULL, lease_expires_at = NULL
WHERE update_id = $1 AND status = 'claimed' AND claim_token = $2::uuid
  AND EXISTS (SELECT 1 FROM async_commit)
RETURNING true
"""


async def done(conn: Conn, update_id: int, token: str) -> bool:
    """Mark a claimed update handled; False when the claim was lost (lease expired and retaken).

    Outside a transaction it commits asynchronously (see ``_DONE_ASYNC_COMMIT_SQL``); inside the
    caller's transaction the caller's commit decides durability.
    """
    sql = _DONE_SQL if conn.in_transaction() else _DONE_ASYNC_COMMIT_SQL
    return bool(await conn.fetchval(sql, update_id, token))


_DONE_NEXT_SQL = """
WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true) AS v)
UPDATE updates u
SET status = 'done', finished_at = now(), claim_token = NULL, lease_expires_at = NULL
WHERE u.update_id = $1 AND u.status = 'claimed' AND u.claim_token = $2::uuid
  AND EXISTS (SELECT 1 FROM async_commit)
RETURNING EXISTS (
    SELECT 1 FROM updates n WHERE n.chat_key = u.chat_key AND n.status IN ('pending', 'claimed') AND n.update_id > u.update_id
) AS more
"""


async def done_and_next(conn: Conn, update_id: int, token: str) -> bool | None:
    """:func:`done` (committed asynchronously, so call it outside a transaction) that also says
    whether the chat has another update waiting: True/False, or None when the claim was lost.

    The dispatcher claims again at once only when something may be claimable (issue 18: no claim
    that is bound to come back empty); a later update of another chat announces itself by NOTIFY.
    """
    more = await conn.fetchval(_DONE_NEXT_SQL, update_id, token)
    return None if more is None else bool(more)


_DONE_MANY_SQL = """
WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true) AS v),
finished AS (
    UPDATE updates u
    SET status = 'done', finished_at = now(), claim_token = NULL, lease_expires_at = NULL
    FROM unnest($1::bigint[], $2::uuid[]) AS f(update_id, token)
    WHERE u.update_id = f.update_id AND u.status = 'claimed' AND u.claim_token = f.token
      AND EXISTS (SELECT 1 FROM async_commit)
    RETURNING u.update_id, u.chat_key
)
SELECT d.update_id, EXISTS (
    SELECT 1 FROM updates n WHERE n.chat_key = d.chat_key AND n.status IN ('pending', 'claimed') AND n.update_id > d.update_id
) AS more
FROM finished d
"""
# ``IN ('pending', 'claimed')`` rather than ``= 'pending'`` (the same rows: the chat's one claimed
# update is the one being finished, and it is not after itself): only ``updates_open_by_chat`` then
# fits, so the check is an index probe on the chat even in a plan made while the table was empty
# (tests/store/test_inbox_claim_cost.py) — ``updates_pending_by_id`` would scan every later update.


async def done_many(conn: Conn, claims: Sequence[tuple[int, str]]) -> dict[int, bool]:
    """:func:`done_and_next` for many ``(update_id, token)`` claims in one statement: for each
    claim still ours, whether its chat has another update waiting (a lost claim is absent)."""
    if not claims:
        return {}
    rows = await conn.fetch(_DONE_MANY_SQL, [c[0] for c in claims], [c[1] for c in claims])
    return {int(r["update_id"]): bool(r["more"]) for r in rows}


async def fail(
    conn: Conn,
    update_id: int,
    token: str,
    error: str,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    retry_delay_s: float = 0.0,
) -> FailOutcome:
    """Record a failed attempt: ``"retry"`` (pending again, not before ``retry_delay_s``; its chat
    waits for it), ``"parked"`` (attempts used up: failed for good, the chat moves on), or
    ``"lost"`` (the claim was no longer ours; nothing changed). ``error`` is stored redacted."""
    message = redact(error)[:_MAX_ERROR_CHARS]
    outcome = await conn.fetchval(
        """
        UPDATE updates SET
            status           = CASE WHEN attempts >= $3 THEN 'failed' ELSE 'pending' END,
            finished_at      = CASE WHEN attempts >= $3 THEN now() ELSE NULL END,
            not_before       = CASE WHEN attempts >= $3 THEN NULL ELSE now() + make_interval(secs => $5) END,
            claim_token      = NULL,
            lease_expires_at = NULL,
            last_error       = $4
        WHERE update_id = $1 AND status = 'claimed' AND claim_token = $2::uuid
        RETURNING status
        """,
        update_id,
        token,
        max_attempts,
        message,
        float(retry_delay_s),
    )
    if outcome is None:
        return "lost"
    if outcome == "failed":
        log.error("inbox update parked after %d attempts", max_attempts, extra={"update_id": update_id})
        return "parked"
    return "retry"


async def extend_lease(conn: Conn, update_id: int, token: str, lease_s: float) -> bool:
    """Push a claim's expiry to ``lease_s`` from now; False when the claim was already lost."""
    result = await conn.fetchval(
        """
        UPDATE updates SET lease_expires_at = now() + make_interval(secs => $3)
        WHERE update_id = $1 AND status = 'claimed' AND claim_token = $2::uuid
        RETURNING true
        """,
        update_id,
        token,
        float(lease_s),
    )
    return bool(result)


async def stats(conn: Conn) -> InboxStats:
    """Counts for metrics and /readyz (pending, in flight, parked in the retention window, lag)."""
    row = await conn.fetchrow(
        """
        SELECT
            (SELECT count(*) FROM updates WHERE status = 'pending') AS pending,
            (SELECT count(*) FROM updates WHERE status = 'claimed') AS claimed,
            (SELECT count(*) FROM updates WHERE status = 'failed') AS parked,
            coalesce((SELECT extract(epoch FROM now() - min(received_at))
                      FROM updates WHERE status IN ('pending', 'claimed')), 0)::float8 AS lag
        """
    )
    assert row is not None
    return InboxStats(row["pending"], row["claimed"], row["parked"], max(0.0, float(row["lag"])))


async def list_parked(conn: Conn, *, limit: int = 50) -> list[ParkedUpdate]:
    """The most recently parked updates, newest first (admin diagnostics)."""
    rows = await conn.fetch(
        """
        SELECT update_id, chat_key, kind, attempts, last_error, received_at, finished_at
        FROM updates WHERE status = 'failed' ORDER BY finished_at DESC LIMIT $1
        """,
        limit,
    )
    return [ParkedUpdate(**dict(r)) for r in rows]


async def requeue(conn: Conn, update_id: int) -> bool:
    """Give a parked update a fresh set of attempts (after fixing the bug that poisoned it)."""
    result = await conn.fetchval(
        """
        UPDATE updates SET status = 'pending', attempts = 0, finished_at = NULL, not_before = NULL
        WHERE update_id = $1 AND status = 'failed'
        RETURNING true
        """,
        update_id,
    )
    return bool(result)


async def cleanup(conn: Conn, *, older_than_days: float = RETENTION_DAYS, batch: int = 5000) -> int:
    """Delete done and parked updates finished more than ``older_than_days`` ago; returns the count.

    Deletes in batches of ``batch`` rows so a large backlog never holds long locks. Telegram never
    redelivers an update after 24 h, so forgetting its id after 7 days cannot cause a duplicate.
    """
    total = 0
    while True:
        deleted = await conn.fetchval(
            """
            WITH gone AS (
                DELETE FROM updates WHERE update_id IN (
                    SELECT update_id FROM updates
                    WHERE status IN ('done', 'failed')
                      AND finished_at < now() - make_interval(secs => $1)
                    LIMIT $2
                )
                RETURNING 1
            )
            SELECT count(*) FROM gone
            """,
            float(older_than_days) * 86400.0,
            batch,
        )
        total += int(deleted)
        if deleted < batch:
            return total


class Wakeups:
    """Wake-ups from ``NOTIFY kiebot_updates`` on one dedicated connection, for any number of waiters.

    A notification is only a hint: waiters must still poll with a timeout, because a notification
    can be missed while a listener reconnects. Open with :func:`open_wakeups`.
    """

    def __init__(self, receive: trio.MemoryReceiveChannel[Any]) -> None:
        self._receive = receive
        self._lock = trio.Lock()
        self._generation = 0
        self._broken = False

    @property
    def generation(self) -> int:
        """How many batches of notifications arrived so far."""
        return self._generation

    async def wait(self, timeout_s: float) -> bool:
        """Wait for a notification no earlier ``wait`` consumed: True if one came, False on timeout.

        Notifications that arrived while nobody waited are buffered, so a dispatcher that found
        nothing to claim and then waits does not miss an insert made in between.

        Raises:
            DatabaseUnavailable: the listening connection was lost; reopen the listener.
        """
        seen = self._generation
        with trio.move_on_after(timeout_s):
            while self._generation == seen:
                async with self._lock:
                    if self._generation != seen:
                        break
                    await self._read()
            return True
        return False

    async def _read(self) -> None:
        if self._broken:
            raise DatabaseUnavailable("inbox listener connection lost")
        try:
            await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            self._broken = True
            raise DatabaseUnavailable("inbox listener connection lost") from None
        while True:  # fold everything already queued into this wake-up
            try:
                self._receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        self._generation += 1


@contextlib.asynccontextmanager
async def open_wakeups(db: Database, *, channel: str = CHANNEL) -> AsyncIterator[Wakeups]:
    """LISTEN for inbox inserts on a dedicated connection (the pool's reset would ``UNLISTEN *``).

    Typical dispatcher loop::

        async with inbox.open_wakeups(db) as wakeups:
            while True:
                async with db.connection() as conn:
                    batch = await inbox.claim(conn, worker, limit=16)
                if not batch:
                    await wakeups.wait(poll_s)   # NOTIFY, or poll anyway after poll_s
                    continue
                ...
    """
    async with db.dedicated() as conn, conn.listen(channel, max_buffer_size=16) as receive:
        yield Wakeups(receive)
