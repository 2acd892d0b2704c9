"""The credit ledger and the team's cached balance, changed together in one statement.

Every entry is appended by a statement that also moves the team's cached ``allocated``,
``used`` or ``held`` under a condition (``WHERE allocated - used - held >= amount``), so
there is no read-modify-write in Python and two API instances cannot both spend the
last credit: the second one's UPDATE waits for the first one's row lock, re-reads the
row and no longer matches. The team's CHECK constraints back this up.
"""

from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from adapters.postgres.repositories.rows import from_row
from adapters.postgres.session import SessionRepository
from adapters.system import Uuid7Ids
from application.errors import NotFoundError
from application.ports.repositories import OutstandingHold, SettleRequest
from domain.errors import InsufficientCreditsError, InvalidValueError
from domain.ids import JobId, LedgerEntryId, TeamId
from domain.ledger import CreditBalance, EntryType, LedgerEntry, NewEntry, Settlement, check_sign, settlement_keys
from domain.money import EXACT, ZERO

_ids = Uuid7Ids()

# Locks the job first when the entry concerns one (the adapter's lock order: job, then
# team). ``seen`` answers the common replay of an idempotency key without touching the
# team; ON CONFLICT catches the rare concurrent one, which the caller then undoes.
_APPLY = """
WITH job_lock AS (
    SELECT id FROM jobs WHERE id = %(job_id)s FOR NO KEY UPDATE
), seen AS (
    SELECT EXISTS (
        SELECT 1 FROM credit_ledger WHERE team_id = %(team_id)s AND idempotency_key = %(key)s
    ) AS duplicate
), moved AS (
    UPDATE teams
    SET allocated = allocated + %(d_allocated)s, used = used + %(d_used)s, held = held + %(d_held)s
    WHERE id = %(team_id)s
      AND (SELECT count(*) FROM job_lock) >= 0
      AND NOT (SELECT duplicate FROM seen)
      AND allocated + %(d_allocated)s - (used + %(d_used)s) - (held + %(d_held)s) >= 0
      AND used + %(d_used)s >= 0
      AND held + %(d_held)s >= 0
    RETURNING id
), entry AS (
    INSERT INTO credit_ledger (id, team_id, type, amount, job_id, call_id, reason, idempotency_key, created_at)
    SELECT %(id)s::uuid, moved.id, %(type)s, %(amount)s::numeric, %(job_id)s::uuid, %(call_id)s::uuid,
           %(reason)s::text, %(key)s::text, %(at)s::timestamptz
    FROM moved
    ON CONFLICT (team_id, idempotency_key) DO NOTHING
    RETURNING sequence
)
SELECT (SELECT duplicate FROM seen) AS duplicate,
       EXISTS (SELECT 1 FROM moved) AS moved,
       (SELECT sequence FROM entry) AS sequence,
       EXISTS (SELECT 1 FROM teams WHERE id = %(team_id)s) AS team_exists
"""

_UNDO = """
UPDATE teams SET allocated = allocated - %(d_allocated)s, used = used - %(d_used)s, held = held - %(d_held)s
WHERE id = %(team_id)s
"""


def settle_debit_sql(*, actual: str, available: str, release: str) -> str:
    """``domain.ledger.settle_debit`` over SQL expressions: the debit is ``actual``, capped at
    what the team can pay once the hold is released. In SQL because ``available`` must be
    read under the team's row lock, in the statement that debits it."""
    return f"LEAST({actual}, {available} + {release})"


_SETTLE_DEBIT = settle_debit_sql(actual="%(actual)s::numeric", available="b.available", release="r.release")

# Runs after the job's lock is granted (``Session.one_locking_job``), so ``prior`` sees
# any release written by a completion or sweeper that held the job before. The team
# row is locked and read at its latest version (``balance``), so the capped debit is
# computed against what the team can pay now, not at the statement's snapshot.
_SETTLE = f"""
WITH prior AS MATERIALIZED (
    SELECT (SELECT -amount FROM credit_ledger WHERE team_id = %(team_id)s AND idempotency_key = %(debit_key)s)
               AS debited,
           EXISTS (SELECT 1 FROM credit_ledger WHERE team_id = %(team_id)s AND idempotency_key = %(release_key)s)
               AS released
), balance AS (
    SELECT id, allocated - used - held AS available FROM teams WHERE id = %(team_id)s FOR NO KEY UPDATE
), plan AS (
    SELECT b.id, r.release, p.debited,
           CASE WHEN p.debited IS NULL THEN {_SETTLE_DEBIT} ELSE 0 END AS debit
    FROM balance b
    CROSS JOIN prior p
    CROSS JOIN LATERAL (
        SELECT CASE WHEN p.debited IS NULL AND NOT p.released THEN %(held)s::numeric ELSE 0 END AS release
    ) r
), moved AS (
    UPDATE teams SET held = teams.held - plan.release, used = teams.used + plan.debit
    FROM plan
    WHERE teams.id = %(team_id)s AND teams.id = plan.id AND (plan.release > 0 OR plan.debit > 0)
), entries AS (
    INSERT INTO credit_ledger (id, team_id, type, amount, job_id, call_id, reason, idempotency_key, created_at)
    SELECT %(release_id)s::uuid, plan.id, 'release', plan.release, %(job_id)s::uuid, %(call_id)s::uuid,
           NULL, %(release_key)s::text, %(at)s::timestamptz
    FROM plan WHERE plan.release > 0
    UNION ALL
    SELECT %(debit_id)s::uuid, plan.id, 'debit', -plan.debit, %(job_id)s::uuid, %(call_id)s::uuid,
           %(reason)s::text, %(debit_key)s::text, %(at)s::timestamptz
    FROM plan WHERE plan.debit > 0
)
SELECT release, debit, debited FROM plan
"""

_OUTSTANDING = """
SELECT call_id, -sum(amount) AS amount
FROM credit_ledger
WHERE job_id = %s AND type IN ('hold', 'release')
GROUP BY call_id
HAVING sum(amount) < 0
ORDER BY min(sequence)
"""

_ENTRY_COLUMNS = "id, team_id, type, amount, created_at, job_id, call_id, reason, idempotency_key, sequence"


def _deltas(kind: EntryType, amount: Decimal) -> dict[str, Decimal]:
    """How an entry moves the cached balance (``amount`` is its effect on available)."""
    moves = {"d_allocated": ZERO, "d_used": ZERO, "d_held": ZERO}
    match kind:
        case EntryType.ALLOCATION | EntryType.ADJUSTMENT:
            moves["d_allocated"] = amount
        case EntryType.HOLD | EntryType.RELEASE:
            moves["d_held"] = -amount
        case EntryType.DEBIT | EntryType.REFUND:
            moves["d_used"] = -amount
    return moves


def _refusal(kind: EntryType, amount: Decimal) -> Exception:
    match kind:
        case EntryType.RELEASE:
            return InvalidValueError("cannot release more than is held")
        case EntryType.REFUND:
            return InvalidValueError("cannot refund more than was used")
        case EntryType.HOLD:
            return InsufficientCreditsError(f"needs {-amount} credits, more than are available")
        case _:
            return InsufficientCreditsError(f"a {kind} of {amount} exceeds the available credits")


def _entry(row: dict[str, Any]) -> LedgerEntry:
    return from_row(LedgerEntry, row, type=EntryType(row["type"]))


class PostgresCreditRepository(SessionRepository):
    async def balance(self, team_id: TeamId) -> CreditBalance:
        row = await self._s.one("SELECT allocated, used, held FROM teams WHERE id = %s", (team_id,))
        if row is None:
            return CreditBalance()
        return from_row(CreditBalance, row)

    async def apply(self, new: NewEntry) -> LedgerEntry | None:
        check_sign(new.type, new.amount)
        entry_id = LedgerEntryId(_ids.new_id())
        moves = _deltas(new.type, new.amount)
        params = {
            "id": entry_id,
            "team_id": new.team_id,
            "type": new.type.value,
            "amount": new.amount,
            "job_id": new.job_id,
            "call_id": new.call_id,
            "reason": new.reason,
            "key": new.idempotency_key,
            "at": new.created_at,
            **moves,
        }
        row = await self._s.one(_APPLY, params)
        assert row is not None
        if row["moved"] and row["sequence"] is None:
            # A concurrent transaction appended the same key first: undo our move.
            await self._s.run(_UNDO, {"team_id": new.team_id, **moves})
            return None
        if not row["moved"]:
            if row["duplicate"]:
                return None
            if not row["team_exists"]:
                raise NotFoundError("team not found")
            raise _refusal(new.type, new.amount)
        return new.entry(entry_id, sequence=row["sequence"])

    async def settle(self, request: SettleRequest) -> Settlement:
        if request.held < 0 or request.actual < 0:
            raise InvalidValueError("held and actual credits must not be negative")
        release_key, debit_key = settlement_keys(request.job_id, request.call_id)
        params = {
            "team_id": request.team_id,
            "held": request.held,
            "actual": request.actual,
            "at": request.at,
            "job_id": request.job_id,
            "call_id": request.call_id,
            "release_key": release_key,
            "debit_key": debit_key,
            "reason": request.reason,
            "release_id": _ids.new_id(),
            "debit_id": _ids.new_id(),
        }
        row = await self._s.one_locking_job(request.job_id, _SETTLE, params)
        if row is None:
            raise NotFoundError("team not found")
        if row["debited"] is not None:
            return Settlement(release=ZERO, debit=row["debited"], overdraft=ZERO)
        debit: Decimal = row["debit"]
        with localcontext(EXACT):
            overdraft = request.actual - debit
        return Settlement(release=row["release"], debit=debit, overdraft=overdraft)

    async def debited_since(self, team_id: TeamId, since: datetime) -> Decimal:
        # A range of the team's ledger index (newest entries), debits only.
        row = await self._s.one(
            """
            SELECT coalesce(-sum(amount), 0) AS debited FROM credit_ledger
            WHERE team_id = %s AND created_at >= %s AND type = 'debit'
            """,
            (team_id, since),
        )
        return row["debited"] if row is not None else Decimal(0)

    async def outstanding_holds(self, job_id: JobId) -> list[OutstandingHold]:
        rows = await self._s.all(_OUTSTANDING, (job_id,))
        return [OutstandingHold(call_id=r["call_id"], amount=r["amount"]) for r in rows]

    async def entries(self, team_id: TeamId, *, before: tuple[datetime, int] | None, limit: int) -> list[LedgerEntry]:
        if before is None:
            rows = await self._s.all(
                f"""
                SELECT {_ENTRY_COLUMNS} FROM credit_ledger WHERE team_id = %s
                ORDER BY created_at DESC, sequence DESC LIMIT %s
                """,
                (team_id, limit),
            )
        else:
            rows = await self._s.all(
                f"""
                SELECT {_ENTRY_COLUMNS} FROM credit_ledger WHERE team_id = %s AND (created_at, sequence) < (%s, %s)
                ORDER BY created_at DESC, sequence DESC LIMIT %s
                """,
                (team_id, before[0], before[1], limit),
            )
        return [_entry(r) for r in rows]
