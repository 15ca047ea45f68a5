"""Circuit breakers per model: after ``threshold`` consecutive provider failures a model is
switched off for ``open_for_s``, so users are not charged-and-refunded in a loop while Kie has an
outage for that model (Kie codes 455 maintenance, 5xx, 501 generation failed — reference §10.5).

Shared through the database, so every instance sees the same state. After the pause one trial
request is let through (half-open): :func:`allow_request` hands it to exactly one caller by moving
``reopen_at`` forward atomically; a success closes the breaker, a failure opens it again.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from kiebot.store.db import Conn, Record


class Breaker(msgspec.Struct, frozen=True, kw_only=True):
    model_id: str
    state: str  # closed | open
    failures: int
    opened_at: datetime | None
    reopen_at: datetime | None

    def blocks(self, now: datetime) -> bool:
        """Whether requests are refused at ``now`` (open, and the pause has not ended yet)."""
        return self.state == "open" and self.reopen_at is not None and self.reopen_at > now


_COLUMNS = "model_id, state, failures, opened_at, reopen_at"


def _breaker(row: Record) -> Breaker:
    return Breaker(**{k: row[k] for k in Breaker.__struct_fields__})


async def record_failure(
    conn: Conn, model_id: str, now: datetime, *, threshold: int = 5, open_for_s: float = 300.0
) -> Breaker:
    """Count a failure; the ``threshold``-th consecutive one opens the breaker until ``now + open_for_s``."""
    async with conn.transaction():
        row = await conn.fetchrow(
            f"""
            INSERT INTO circuit_breakers AS b (model_id, failures) VALUES ($1, 1)
            ON CONFLICT (model_id) DO UPDATE SET failures = b.failures + 1
            RETURNING {_COLUMNS}
            """,
            model_id,
        )
        assert row is not None
        if row["failures"] < threshold:
            return _breaker(row)
        opened = await conn.fetchrow(
            f"""
            UPDATE circuit_breakers
            SET state = 'open', opened_at = CASE WHEN state = 'open' THEN opened_at ELSE $2 END,
                reopen_at = $2 + make_interval(secs => $3)
            WHERE model_id = $1
            RETURNING {_COLUMNS}
            """,
            model_id,
            now,
            open_for_s,
        )
        assert opened is not None
        return _breaker(opened)


async def record_success(conn: Conn, model_id: str) -> None:
    """A success closes the breaker and resets the failure count."""
    await conn.execute(
        """
        UPDATE circuit_breakers SET state = 'closed', failures = 0, opened_at = NULL, reopen_at = NULL
        WHERE model_id = $1 AND (state <> 'closed' OR failures <> 0)
        """,
        model_id,
    )


async def allow_request(conn: Conn, model_id: str, now: datetime, *, trial_s: float = 60.0) -> bool:
    """True when a request for ``model_id`` may go to Kie now.

    Closed (or never failed): yes. Open and paused: no. Open and the pause is over: exactly one
    caller gets the trial (the pause is pushed ``trial_s`` forward for the others).
    """
    breaker = await get_breaker(conn, model_id)
    if breaker is None or breaker.state == "closed":
        return True
    if breaker.blocks(now):
        return False
    won = await conn.fetchval(
        """
        UPDATE circuit_breakers SET reopen_at = $2 + make_interval(secs => $3)
        WHERE model_id = $1 AND state = 'open' AND reopen_at <= $2
        RETURNING model_id
        """,
        model_id,
        now,
        trial_s,
    )
    return won is not None


async def get_breaker(conn: Conn, model_id: str) -> Breaker | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM circuit_breakers WHERE model_id = $1", model_id)
    return None if row is None else _breaker(row)


async def open_breakers(conn: Conn) -> list[Breaker]:
    """Every open breaker (for the admin dashboard and the catalogue's "temporarily off" marks)."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM circuit_breakers WHERE state = 'open' ORDER BY model_id")
    return [_breaker(r) for r in rows]
