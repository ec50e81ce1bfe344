"""Who acts and when (`Context`), and the stored fields around an event (`Envelope`).

Kept apart from `store` so that read commands can name them without importing the write path
(`apply`, the checks and the event classes).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple


@dataclass(frozen=True)
class Context:
    """Who acts and when: the declared person, the OS account, and the injected clock."""

    actor: str
    os_user: str
    now: datetime
    system_clock: bool = False  # `now` is this computer's clock, not SAMPLELOANS_NOW or a test's


class Envelope(NamedTuple):
    """The stored fields of an event around its payload, as `apply` sees them (a named tuple:
    a replay builds one per event, and a frozen dataclass cost three times as much)."""

    seq: int
    kind: str
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    os_user: str
    corrects_seq: int | None
    reason: str | None
    payload: str | None = None  # the canonical payload text, as hashed


IMPORT_MARK = "; imported by "
"""Joins the OS account and the importing curator in `os_user` of an event read from a file."""


def imported_os_user(os_user: str, importer: str) -> str:
    """The `os_user` of an imported event: the account that ran `import` and the curator who ran
    it, so the ledger records who put the event there as well as who declared the act."""
    return f"{os_user}{IMPORT_MARK}{importer}"


def importer_of(os_user: str) -> str | None:
    """The curator who imported an event, or None for an event recorded by its own command."""
    _account, mark, importer = os_user.rpartition(IMPORT_MARK)
    return importer if mark else None


def os_account_of(os_user: str) -> str:
    """The operating-system account that recorded an event, without the importer's mark."""
    account, mark, _importer = os_user.rpartition(IMPORT_MARK)
    return account if mark else os_user


def from_stored(text: str) -> datetime:
    """Aware datetime of stored text (`…Z`; Python 3.11 reads the Z itself)."""
    return datetime.fromisoformat(text)


def envelope_of(row: Any) -> Envelope:
    """The envelope of a stored event row."""
    return Envelope(  # by position: a replay builds one per event
        row.seq,
        row.kind,
        datetime.fromisoformat(row.occurred_at),  # `from_stored`, without a call per time
        datetime.fromisoformat(row.recorded_at),
        row.actor,
        row.os_user,
        row.corrects_seq,
        row.reason,
        row.payload,
    )
