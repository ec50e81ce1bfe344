"""Reading a row as the session's appends see it, without loading the write side.

An import opens a batch unit on its session (`ledger/unit.py`, `batch_unit`); while it is open
the unit holds the rows the batch wrote, and reads through it cost no ORM load per record. This
module only records which sessions have one, so that read commands, which never open one, do not
load the unit, `apply` and the event kinds to find that out.

It also holds the ledger's part of what a write transaction knows besides its rows
(`WriteTransaction`, reached by `write_transaction`), which `get_row` consults and the services
fill before the unit exists, so neither loads the write side to reach it.
"""

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlmodel import Session, SQLModel

from sampleloans import db

if TYPE_CHECKING:
    from sampleloans.ledger.unit import CheckScope, Unit

M = TypeVar("M", bound=SQLModel)

OPEN: "weakref.WeakKeyDictionary[Session, Unit]" = weakref.WeakKeyDictionary()
"""The batch unit open on each session (an import); `batch_unit` adds and removes it."""


def open_batch(session: Session) -> "Unit | None":
    """The batch unit open on a session (an import), or None for a single command."""
    return OPEN.get(session)


Key = tuple[str, tuple[Any, ...]]
"""A row's key: its table's name and its primary key's values."""


@dataclass
class WriteTransaction:
    """What a session's write transaction knows beyond its rows, for the ledger's unit of work
    (`ledger/unit.py`): facts read with the writers' lock or found since the session last
    wrote, each saving a round trip while the lock is held (PostgreSQL). Made on first use,
    dropped when the transaction ends (`db.PerTransaction`); reached by `write_transaction`."""

    absent_keys: set[Key] | None = None
    """The keys this transaction knows have no row (`ledger/unit.note_absent`): read with the
    writers' lock, or found missing since the session last wrote; None while the session does
    not note them (a read, an import's batch)."""
    items_of_loans: dict[str, set[str]] = field(default_factory=dict)
    """Loan → the codes of its items, read with the writers' lock, for the transaction's first
    unit (`ledger/unit.known_items`); forgotten once the session writes."""
    check_scope: "CheckScope | None" = None
    """The rows a write's checks would read about one sample or loan, read with the writers'
    lock, for the transaction's first unit (`ledger/unit.known_check_scope`); forgotten once
    the session writes."""

    def forget_known(self) -> None:
        """Drop what was read with the lock for the first unit: the session wrote rows, and
        it may be stale."""
        self.items_of_loans = {}
        self.check_scope = None


WRITES: "db.PerTransaction[WriteTransaction]" = db.PerTransaction(WriteTransaction)
"""Each session's `WriteTransaction` (peek at it where a read must not make one)."""


def write_transaction(session: Session) -> WriteTransaction:
    """The session's `WriteTransaction` for the transaction it is in, made on first use."""
    return WRITES.of(session)


def get_row(session: Session, model: type[M], key: Any) -> M | None:
    """A row by primary key as the session's appends see it: from the import's open batch unit
    (its identity map, no ORM load per record), else from the session (a single command), or
    None without asking it for a key known to have no row."""
    batch = OPEN.get(session)
    if batch is not None:
        return batch.get(model, key)
    known = WRITES.peek(session)
    absent = None if known is None else known.absent_keys
    if absent:
        table_name: str = model.__table__.name  # type: ignore[attr-defined]  # SQLModel sets it
        if (table_name, key if isinstance(key, tuple) else (key,)) in absent:
            return None
    return session.get(model, key)
