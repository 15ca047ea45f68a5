"""Money: one account per user (``balance``, ``held``) and the append-only ``ledger`` behind it.

Every change is one ledger row plus one account update in the same transaction, so at every commit
and for every user ``balance + held = sum(amount)`` and ``held = sum(held_delta)``
(:func:`check_invariants` proves it). The shapes, by kind:

======================  ==========  ============  =====================================
operation               amount      held_delta    effect
======================  ==========  ============  =====================================
credit (welcome, Stars)  +X          0             balance += X
debit (Stars refund)     -X          0             balance -= X
adjust (admin)           ±X          0             balance ±= X
hold                     0           +X            balance -= X, held += X
capture                  -X          -X            held -= X (the money is spent)
release                  0           -X            held -= X, balance += X
======================  ==========  ============  =====================================

Concurrency and idempotency (what the original bot got wrong: orphaned holds, non-idempotent
Stars credits — see the reference's §5 and §9):

* Each operation first locks the user's account row (``SELECT ... FOR UPDATE``), so operations on
  one user are serialised. Only then, in *later* statements (each with a fresh READ COMMITTED
  snapshot that sees whatever the previous lock holder committed), is the key considered: the
  ledger row is inserted with ``ON CONFLICT (idempotency_key) DO NOTHING`` together with the
  account update in one statement, and when the key turns out to exist the existing entry is read
  and returned instead (``repeated=True``). A refusal (not enough money) first checks whether the
  key was already applied, so a repeat returns the first outcome even if the balance moved since.
  Two concurrent calls with one key therefore produce one effect and the loser gets the winner's
  entry back, not an error. The same key with another user, kind or amount is an
  :class:`IdempotencyConflict`.
* A hold is identified by a ``ref`` (the job id); its rows use the keys ``hold:<ref>``,
  ``capture:<ref>`` and ``release:<ref>``. A partial unique index allows one settlement per ref,
  so a hold is captured or released at most once and never both, even if the code were wrong.
* Application checks raise :class:`InsufficientFunds` before the ``balance >= 0`` / ``held >= 0``
  CHECK constraints would fire, and write nothing.

Each function takes a :class:`~kiebot.store.db.Conn` and runs in its own transaction, or in a
savepoint of the caller's, so a job insert and its hold can commit together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from kiebot.store.db import Conn, Record
from kiebot.store.users import UnknownUser

LedgerKind = Literal[
    "welcome",
    "topup_stars",
    "topup_manual",
    "referral_bonus",
    "admin_adjust",
    "stars_refund",
    "hold",
    "capture",
    "release",
]
CreditKind = Literal["welcome", "topup_stars", "topup_manual", "referral_bonus"]
DebitKind = Literal["stars_refund"]
CREDIT_KINDS: frozenset[str] = frozenset(("welcome", "topup_stars", "topup_manual", "referral_bonus"))
DEBIT_KINDS: frozenset[str] = frozenset(("stars_refund",))


class Account(msgspec.Struct, frozen=True, kw_only=True):
    user_id: int
    balance: int
    held: int

    @property
    def total(self) -> int:
        return self.balance + self.held


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    user_id: int
    kind: str
    amount: int
    held_delta: int
    idempotency_key: str
    hold_ref: str | None
    job_id: int | None
    payment: str | None
    admin_id: int | None
    reason: str | None
    created_at: datetime


class Posting(msgspec.Struct, frozen=True, kw_only=True):
    """The entry an operation wrote (or found, when ``repeated``) and the account right after."""

    entry: LedgerEntry
    balance: int
    held: int
    repeated: bool


class Violation(msgspec.Struct, frozen=True, kw_only=True):
    """One broken invariant found by :func:`check_invariants`."""

    user_id: int | None
    problem: str
    detail: str


class MoneyError(Exception):
    """Base of the typed refusals of this module; nothing was written when one is raised."""


class InsufficientFunds(MoneyError):
    def __init__(self, needed: int, available: int) -> None:
        super().__init__(f"insufficient funds: needed {needed} kopecks, available {available}")
        self.needed = needed
        self.available = available


class IdempotencyConflict(MoneyError):
    """The key was already used for a different operation (another user, kind or amount)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} already used for a different operation")
        self.key = key


class UnknownHold(MoneyError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no hold {ref!r} for this user")
        self.ref = ref


class HoldAlreadySettled(MoneyError):
    """Capture after release, or release after capture: a hold is settled once, one way."""

    def __init__(self, ref: str, outcome: str) -> None:
        super().__init__(f"hold {ref!r} was already {outcome}")
        self.ref = ref
        self.outcome = outcome


_ENTRY_COLUMNS = "id, user_id, kind, amount, held_delta, idempotency_key, hold_ref, job_id, payment, admin_id, reason, created_at"


def _entry(row: Record) -> LedgerEntry:
    return LedgerEntry(**{k: row[k] for k in LedgerEntry.__struct_fields__})


class _Locked(msgspec.Struct, frozen=True):
    balance: int
    held: int


_LOCK_SQL = "SELECT balance, held FROM accounts WHERE user_id = $1 FOR UPDATE"


async def _lock_account(conn: Conn, user_id: int) -> _Locked:
    """Lock (creating if needed) the account row; every money change on a user starts here."""
    row = await conn.fetchrow(_LOCK_SQL, user_id)
    if row is None:
        await conn.execute(
            """
            INSERT INTO accounts (user_id) SELECT user_id FROM users WHERE user_id = $1
            ON CONFLICT (user_id) DO NOTHING
            """,
            user_id,
        )
        row = await conn.fetchrow(_LOCK_SQL, user_id)
        if row is None:
            raise UnknownUser(user_id)
    return _Locked(int(row["balance"]), int(row["held"]))


async def lock_account(conn: Conn, user_id: int) -> None:
    """Take the user's account lock for the rest of the caller's transaction, so a check made
    under it (e.g. how many paid jobs the user has running) cannot race another money change of
    the same user.

    Raises:
        UnknownUser: no such user.
    """
    await _lock_account(conn, user_id)


async def _by_key(conn: Conn, key: str) -> LedgerEntry | None:
    row = await conn.fetchrow(f"SELECT {_ENTRY_COLUMNS} FROM ledger WHERE idempotency_key = $1", key)
    return None if row is None else _entry(row)


class _Change(msgspec.Struct, frozen=True, kw_only=True):
    user_id: int
    kind: str
    amount: int
    held_delta: int
    key: str
    hold_ref: str | None = None
    job_id: int | None = None
    payment: str | None = None
    admin_id: int | None = None
    reason: str | None = None

    def matches(self, entry: LedgerEntry) -> bool:
        return (entry.user_id, entry.kind, entry.amount, entry.held_delta, entry.hold_ref) == (
            self.user_id,
            self.kind,
            self.amount,
            self.held_delta,
            self.hold_ref,
        )


async def _repeat_or_refuse(conn: Conn, change: _Change, account: _Locked, error: MoneyError) -> Posting:
    """The operation would be refused with ``error``; but if its key was already applied, return
    that first outcome instead — a repeat must not fail because the balance moved since."""
    existing = await _by_key(conn, change.key)
    if existing is None:
        raise error
    return _repeat(change, existing, account)


def _repeat(change: _Change, entry: LedgerEntry, account: _Locked) -> Posting:
    if not change.matches(entry):
        raise IdempotencyConflict(change.key)
    return Posting(entry=entry, balance=account.balance, held=account.held, repeated=True)


_APPLY_SQL = f"""
WITH e AS (
    INSERT INTO ledger (user_id, kind, amount, held_delta, idempotency_key, hold_ref, job_id, payment, admin_id, reason)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING {_ENTRY_COLUMNS}
), a AS (
    UPDATE accounts SET balance = balance + ($3 - $4), held = held + $4, updated_at = now()
    WHERE user_id = $1 AND EXISTS (SELECT 1 FROM e)
    RETURNING balance AS new_balance, held AS new_held
)
SELECT e.*, a.new_balance, a.new_held FROM e CROSS JOIN a
"""


async def _apply(conn: Conn, change: _Change, account: _Locked) -> Posting:
    """Insert the ledger row and move the account in one statement (the account is locked)."""
    row = await conn.fetchrow(
        _APPLY_SQL,
        change.user_id,
        change.kind,
        change.amount,
        change.held_delta,
        change.key,
        change.hold_ref,
        change.job_id,
        change.payment,
        change.admin_id,
        change.reason,
    )
    if row is None:
        # The key exists: a repeat of this very operation (committed before we got the account
        # lock), or a use of the key by another operation (maybe on another account) — _repeat
        # tells them apart. Nothing was written by this statement.
        existing = await _by_key(conn, change.key)
        if existing is None:  # pragma: no cover - ON CONFLICT implies the row exists
            raise IdempotencyConflict(change.key)
        return _repeat(change, existing, account)
    return Posting(
        entry=_entry(row), balance=int(row["new_balance"]), held=int(row["new_held"]), repeated=False
    )


async def _post_balance_change(conn: Conn, change: _Change) -> Posting:
    """Credit, debit or adjust: touches ``balance`` only; a debit may not overdraw."""
    async with conn.transaction():
        account = await _lock_account(conn, change.user_id)
        if change.amount < 0 and account.balance < -change.amount:
            return await _repeat_or_refuse(
                conn, change, account, InsufficientFunds(-change.amount, account.balance)
            )
        return await _apply(conn, change, account)


def _positive(amount: int) -> None:
    if not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"amount must be a positive number of kopecks, got {amount!r}")


async def credit(
    conn: Conn,
    user_id: int,
    amount: int,
    *,
    kind: CreditKind,
    key: str,
    payment: str | None = None,
    admin_id: int | None = None,
    reason: str | None = None,
) -> Posting:
    """Add ``amount`` kopecks to the balance once per ``key`` (e.g. ``stars:<charge id>``)."""
    _positive(amount)
    if kind not in CREDIT_KINDS:
        raise ValueError(f"not a credit kind: {kind!r}")
    change = _Change(
        user_id=user_id,
        kind=kind,
        amount=amount,
        held_delta=0,
        key=key,
        payment=payment,
        admin_id=admin_id,
        reason=reason,
    )
    return await _post_balance_change(conn, change)


async def debit(
    conn: Conn,
    user_id: int,
    amount: int,
    *,
    kind: DebitKind,
    key: str,
    payment: str | None = None,
    admin_id: int | None = None,
    reason: str | None = None,
) -> Posting:
    """Take ``amount`` kopecks from the balance once per ``key``.

    Raises:
        InsufficientFunds: the available balance (held money excluded) does not cover it.
    """
    _positive(amount)
    if kind not in DEBIT_KINDS:
        raise ValueError(f"not a debit kind: {kind!r}")
    change = _Change(
        user_id=user_id,
        kind=kind,
        amount=-amount,
        held_delta=0,
        key=key,
        payment=payment,
        admin_id=admin_id,
        reason=reason,
    )
    return await _post_balance_change(conn, change)


async def adjust(conn: Conn, user_id: int, delta: int, *, key: str, admin_id: int, reason: str) -> Posting:
    """An admin's correction of the balance by ``delta`` (±) kopecks, once per ``key``.

    Raises:
        InsufficientFunds: a negative ``delta`` larger than the available balance.
    """
    if not isinstance(delta, int) or delta == 0:
        raise ValueError(f"delta must be a non-zero number of kopecks, got {delta!r}")
    change = _Change(
        user_id=user_id,
        kind="admin_adjust",
        amount=delta,
        held_delta=0,
        key=key,
        admin_id=admin_id,
        reason=reason,
    )
    return await _post_balance_change(conn, change)


def welcome_key(user_id: int) -> str:
    """The welcome credit's key: once per user, however often ``/start`` is processed."""
    return f"welcome:{user_id}"


def hold_key(ref: str) -> str:
    return f"hold:{ref}"


def capture_key(ref: str) -> str:
    return f"capture:{ref}"


def release_key(ref: str) -> str:
    return f"release:{ref}"


async def hold(conn: Conn, user_id: int, amount: int, *, ref: str, job_id: int | None = None) -> Posting:
    """Move ``amount`` from balance to held for ``ref`` (a job), once per ref.

    Raises:
        InsufficientFunds: the balance does not cover ``amount``; nothing is written.
        IdempotencyConflict: ``ref`` was already held for another user or amount.
    """
    _positive(amount)
    change = _Change(
        user_id=user_id,
        kind="hold",
        amount=0,
        held_delta=amount,
        key=hold_key(ref),
        hold_ref=ref,
        job_id=job_id,
    )
    async with conn.transaction():
        account = await _lock_account(conn, user_id)
        if account.balance < amount:
            return await _repeat_or_refuse(conn, change, account, InsufficientFunds(amount, account.balance))
        return await _apply(conn, change, account)


async def capture(conn: Conn, user_id: int, *, ref: str, job_id: int | None = None) -> Posting:
    """Spend the money held for ``ref`` (the generation was delivered). Once; never after a release.

    Raises:
        UnknownHold: no hold ``ref`` for this user.
        HoldAlreadySettled: the hold was released.
    """
    return await _settle(conn, user_id, ref, "capture", job_id=job_id, reason=None)


async def release(
    conn: Conn, user_id: int, *, ref: str, job_id: int | None = None, reason: str | None = None
) -> Posting:
    """Give the money held for ``ref`` back to the balance (no result). Once; never after a capture.

    Raises:
        UnknownHold: no hold ``ref`` for this user.
        HoldAlreadySettled: the hold was captured.
    """
    return await _settle(conn, user_id, ref, "release", job_id=job_id, reason=reason)


_OUTCOME = {"capture": "captured", "release": "released"}


async def _settle(
    conn: Conn,
    user_id: int,
    ref: str,
    kind: Literal["capture", "release"],
    *,
    job_id: int | None,
    reason: str | None,
) -> Posting:
    async with conn.transaction():
        account = await _lock_account(conn, user_id)
        rows = await conn.fetch(
            f"SELECT {_ENTRY_COLUMNS} FROM ledger WHERE idempotency_key = ANY($1::text[])",
            [hold_key(ref), capture_key(ref), release_key(ref)],
        )
        entries = {e.kind: e for e in map(_entry, rows)}
        held_entry = entries.get("hold")
        if held_entry is None or held_entry.user_id != user_id:
            raise UnknownHold(ref)
        amount = held_entry.held_delta
        change = _Change(
            user_id=user_id,
            kind=kind,
            amount=-amount if kind == "capture" else 0,
            held_delta=-amount,
            key=capture_key(ref) if kind == "capture" else release_key(ref),
            hold_ref=ref,
            job_id=job_id,
            reason=reason,
        )
        if kind in entries:
            return _repeat(change, entries[kind], account)
        other = "release" if kind == "capture" else "capture"
        if other in entries:
            raise HoldAlreadySettled(ref, _OUTCOME[other])
        if account.held < amount:  # impossible while the invariant holds; refuse rather than break it
            raise InsufficientFunds(amount, account.held)
        return await _apply(conn, change, account)


# ---- reads ----------------------------------------------------------------------------------------


async def get_account(conn: Conn, user_id: int) -> Account:
    """The account, or zeros for a user who never had money."""
    row = await conn.fetchrow("SELECT balance, held FROM accounts WHERE user_id = $1", user_id)
    if row is None:
        return Account(user_id=user_id, balance=0, held=0)
    return Account(user_id=user_id, balance=int(row["balance"]), held=int(row["held"]))


async def recent_ledger(conn: Conn, user_id: int, limit: int = 20) -> list[LedgerEntry]:
    """The user's latest entries, newest first (the balance screen shows a few)."""
    rows = await conn.fetch(
        f"SELECT {_ENTRY_COLUMNS} FROM ledger WHERE user_id = $1 ORDER BY id DESC LIMIT $2", user_id, limit
    )
    return [_entry(r) for r in rows]


async def entry_by_key(conn: Conn, key: str) -> LedgerEntry | None:
    return await _by_key(conn, key)


async def total_held(conn: Conn) -> int:
    """Money held for generations in flight, all users (dashboard, reconciliation alarms)."""
    return int(await conn.fetchval("SELECT coalesce(sum(held), 0) FROM accounts"))


_INVARIANTS_SQL = """
WITH sums AS (
    SELECT user_id, sum(amount) AS total, sum(held_delta) AS held FROM ledger GROUP BY user_id
), holds AS (
    SELECT hold_ref, user_id, held_delta FROM ledger WHERE kind = 'hold'
)
SELECT coalesce(a.user_id, s.user_id) AS user_id, 'sums' AS problem,
       format('balance=%s held=%s ledger amount=%s ledger held_delta=%s',
              a.balance, a.held, coalesce(s.total, 0), coalesce(s.held, 0)) AS detail
FROM accounts a FULL JOIN sums s ON s.user_id = a.user_id
WHERE a.user_id IS NULL
   OR a.balance + a.held <> coalesce(s.total, 0)
   OR a.held <> coalesce(s.held, 0)
   OR a.balance < 0 OR a.held < 0
UNION ALL
SELECT l.user_id, 'settlement', format('%s of %s does not match its hold', l.kind, l.hold_ref)
FROM ledger l LEFT JOIN holds h ON h.hold_ref = l.hold_ref
WHERE l.kind IN ('capture', 'release')
  AND (h.hold_ref IS NULL OR h.user_id <> l.user_id OR l.held_delta <> -h.held_delta)
UNION ALL
SELECT min(user_id), 'settled_twice', format('hold %s settled %s times', hold_ref, count(*))
FROM ledger WHERE kind IN ('capture', 'release') GROUP BY hold_ref HAVING count(*) > 1
"""


async def check_invariants(conn: Conn) -> list[Violation]:
    """Every broken money invariant, in one consistent snapshot; an empty list means all is well.

    Checks, per user, ``balance + held = sum(amount)``, ``held = sum(held_delta)`` and both ≥ 0;
    per hold, that a capture/release matches its hold and that there is at most one of them.
    """
    rows = await conn.fetch(_INVARIANTS_SQL)
    return [Violation(user_id=r["user_id"], problem=r["problem"], detail=r["detail"]) for r in rows]
