"""Reading a row as the session's appends see it, without loading the write side.

An import opens a batch unit on its session (`ledger/unit.py`, `batch_unit`); while it is open
the unit holds the rows the batch wrote, and reads through it cost no ORM load per record. This
module only records which sessions have one, so that read commands, which never open one, do not
load the unit, `apply` and the event kinds to find that out.
"""

import weakref
from typing import TYPE_CHECKING, Any, TypeVar

from sqlmodel import Session, SQLModel

if TYPE_CHECKING:
    from sampleloans.ledger.unit import Unit

M = TypeVar("M", bound=SQLModel)

OPEN: "weakref.WeakKeyDictionary[Session, Unit]" = weakref.WeakKeyDictionary()
"""The batch unit open on each session (an import); `batch_unit` adds and removes it."""


def open_batch(session: Session) -> "Unit | None":
    """The batch unit open on a session (an import), or None for a single command."""
    return OPEN.get(session)


ABSENT_KEYS = "sampleloans_absent_keys"
"""Session info: the keys (table name, key values) this write transaction knows have no row
(`ledger/unit.note_absent`): read with the writers' lock, or found missing since the session
last wrote."""


def get_row(session: Session, model: type[M], key: Any) -> M | None:
    """A row by primary key as the session's appends see it: from the import's open batch unit
    (its identity map, no ORM load per record), else from the session (a single command), or
    None without asking it for a key known to have no row."""
    batch = OPEN.get(session)
    if batch is not None:
        return batch.get(model, key)
    absent = session.info.get(ABSENT_KEYS)
    if absent:
        table_name: str = model.__table__.name  # type: ignore[attr-defined]  # SQLModel sets it
        if (table_name, key if isinstance(key, tuple) else (key,)) in absent:
            return None
    return session.get(model, key)
