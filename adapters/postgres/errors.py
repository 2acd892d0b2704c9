"""Translation of psycopg exceptions into the application's errors.

No psycopg exception leaves this adapter. Messages name a constraint at most, never
a statement or a parameter (they may carry keys or customer input).
"""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import psycopg_pool
from psycopg import errors as pg

from application.errors import ApplicationError, ConflictError, NotFoundError, UnavailableError
from domain.errors import InsufficientCreditsError, InvalidValueError

# The team's balance constraints are the last line of defence of the hard credit limit.
_INSUFFICIENT = frozenset({"teams_available_not_negative"})


class PersistenceError(ApplicationError):
    """The database refused a statement for a reason that is a bug, not a client error.

    ``cause`` names the driver's exception class, for the log only: no response carries it.
    """

    code = "internal_error"

    def __init__(self, detail: str, *, cause: str) -> None:
        super().__init__(detail)
        self.cause = cause


# The boundary refuses such values first (entrypoints/http/inputs.py); this is the backstop.
UNSTORABLE = "a value is out of range or contains characters that cannot be stored"


def translate(exc: Exception) -> Exception:
    """The application error standing for a psycopg (or pool) exception."""
    if isinstance(exc, psycopg_pool.PoolTimeout | psycopg_pool.PoolClosed):
        return UnavailableError("the database is unavailable (no connection)")
    constraint = getattr(getattr(exc, "diag", None), "constraint_name", None)
    match exc:
        case pg.UniqueViolation():
            return ConflictError(f"already exists ({constraint})" if constraint else "already exists")
        case pg.ForeignKeyViolation():
            return NotFoundError(f"a referenced record does not exist ({constraint})")
        case pg.CheckViolation() if constraint in _INSUFFICIENT:
            return InsufficientCreditsError("not enough credits available")
        case pg.CheckViolation() | pg.NotNullViolation() | pg.RestrictViolation():
            return InvalidValueError(f"the value breaks a database rule ({constraint or 'constraint'})")
        case pg.SerializationFailure() | pg.DeadlockDetected() | pg.LockNotAvailable() | pg.QueryCanceled():
            # Deadlock, serialization failure, lock or statement timeout: worth a retry.
            return UnavailableError("the database is busy; try again")
        case psycopg.OperationalError() | psycopg.InterfaceError():
            return UnavailableError("the database is unavailable")
        case psycopg.DataError():
            # NUL or a character the encoding lacks, a number or date out of range, on the
            # way in or out: the value is the client's, not a bug of ours.
            return InvalidValueError(UNSTORABLE)
        case _:
            return PersistenceError("an unexpected database error occurred", cause=type(exc).__name__)


@contextmanager
def translated() -> Iterator[None]:
    """Run a block, re-raising psycopg exceptions as application errors."""
    try:
        yield
    except (psycopg.Error, psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
        raise translate(exc) from None
    except UnicodeEncodeError:  # psycopg encodes text parameters itself: a lone surrogate fails there
        raise InvalidValueError(UNSTORABLE) from None
