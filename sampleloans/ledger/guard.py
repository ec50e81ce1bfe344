"""The check every write makes before it appends: is the ledger still the one we wrote?

An attacker with write access to the database can cut the last events off (dropping and
re-creating the append-only triggers), edit the head event, or put back an older copy. `verify`
names all of it, but a write that followed would append happily: reuse a removed event's
number, or link to an edited hash and so vouch for it. So the first append of a transaction
reads one row (`db.guard_sql`), inside the transaction and after the writers' lock, and refuses
the write (`LedgerTampered`, exit 3, nothing written) when:

- the head event's stored hash does not recompute from its fields, or it does not link to the
  previous event's hash (the genesis value for event 1);
- a record of the ledger names an event after the head (the index of events by record, the
  tables keyed by an event's seq): events were removed from the end;
- the newest kept checkpoint covers more events than the ledger holds, or its head line names
  another hash than the ledger's event at that size (a rollback or a rewrite);
- the schema version table holds a revision this release does not know;
- an append-only trigger is missing or altered (SQLite: its small catalogue is read with the
  tables the guard names; `verify` checks PostgreSQL's).

Each is a lookup by primary key or the largest key of an index: O(1) rows, whatever the size
of the ledger (counting the events would read them all: a removed event in the middle is
`verify`'s finding). On PostgreSQL the query goes in the writers' lock's own pipeline
(`db._begin_write`), so it costs no round trip.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sampleloans import db
from sampleloans.errors import StorageError
from sampleloans.ledger import chain
from sampleloans.text import counted, one_line


class LedgerTampered(StorageError):
    """The ledger was changed outside the program: no write may extend it (exit 3)."""


def check(row: Mapping[str, Any]) -> None:
    """Refuse (LedgerTampered) a write on a ledger whose guard row shows a change made outside
    the program; the row is `db.guard_sql`'s."""
    problem = problem_of(row)
    if problem is not None:
        raise LedgerTampered(
            f"the ledger was changed outside sampleloans: {problem}; nothing was written "
            "(run 'sampleloans verify', and restore the last good backup)"
        )


def head_recorded_at(seq: int, value: str | datetime) -> datetime:
    """The head event's `recorded_at` as an aware datetime, which the next event may not
    precede; one no ISO 8601 time was written outside the program (on PostgreSQL a curator's
    psql, where the clock check reads `'now'` as the server's time; on SQLite any editor), and
    a write or checkpoint over it is refused (LedgerTampered, exit 3), never a traceback."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise LedgerTampered(
                f"the ledger was changed outside sampleloans: event {seq} (the last) has no "
                f"readable recorded_at time ({str(value)[:40]!r}); nothing was written (run "
                "'sampleloans verify', and restore the last good backup)"
            ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def problem_of(row: Mapping[str, Any]) -> str | None:
    """What the guard row shows was changed by hand, or None."""
    seq = 0 if row["seq"] is None else int(row["seq"])
    return (
        _head_problem(row, seq)
        or _removed_problem(row, seq)
        or _checkpoint_problem(row, seq)
        or _revision_problem(row)
        or _trigger_problem(row)
    )


def _head_problem(row: Mapping[str, Any], seq: int) -> str | None:
    """The head event's hash must recompute from its fields and link to its predecessor."""
    if seq == 0:
        return None
    body = {name: row[name] for name in chain.BODY_FIELDS}
    wrong_type = chain.stored_type_problem(_Fields(row))
    if wrong_type is not None:  # no hash to compute: the row was edited in the file
        return f"event {seq} (the last) was edited: {wrong_type}"
    if chain.stored_link_hash(str(row["prev_hash"]), body) != row["hash"]:
        return f"event {seq} (the last) does not match its stored hash: it was edited"
    expected = chain.genesis_hash(str(row["ledger_id"])) if seq == 1 else row["before_hash"]
    if expected is None:
        return f"event {seq - 1} is missing before the last event {seq}: events were removed"
    if row["prev_hash"] != expected:
        before = "the ledger's genesis value" if seq == 1 else f"event {seq - 1}'s hash"
        return f"event {seq} (the last) does not link to {before}: the chain was rewritten"
    return None


class _Fields:
    """A guard row's event fields as attributes (what `chain.stored_type_problem` reads)."""

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.row = row

    def __getattr__(self, name: str) -> Any:
        return self.row[name]


def _removed_problem(row: Mapping[str, Any], seq: int) -> str | None:
    """No record may name an event after the head."""
    for table in db.SEQ_KEYED_TABLES:
        named = row[f"max_{table}"]
        if named is not None and int(named) > seq:
            return (
                f"the {table} table names event {int(named)} but the ledger ends at event "
                f"{seq}: events were removed from its end"
            )
    return None


def _checkpoint_problem(row: Mapping[str, Any], seq: int) -> str | None:
    """The newest kept checkpoint must be covered by the ledger, with its head hash."""
    size = row.get("checkpoint_size")
    if size is None:
        return None
    if int(size) > seq:
        return (
            f"a kept checkpoint covers {counted(int(size), 'event')} but the ledger ends at event "
            f"{seq}: "
            "events were removed (a truncation or a rollback)"
        )
    if size and _head_hash(str(row["checkpoint_note"])) != row["checkpoint_event_hash"]:
        return (
            f"event {int(size)} is not the head of the kept checkpoint of "
            f"{counted(int(size), 'event')}: "
            "the ledger was rewritten since"
        )
    return None


def _head_hash(note: str) -> str | None:
    """The HASH of a checkpoint note's `head SEQ:HASH` line."""
    for line in note.splitlines():
        if line.startswith("head "):
            return line.partition(":")[2]
    return None


def _revision_problem(row: Mapping[str, Any]) -> str | None:
    """The schema version table must hold a revision this release knows."""
    if "revision" not in row:
        return None
    found = row["revision"]
    if found is None or not db.is_known_revision(str(found)):
        shown = "no revision" if found is None else f"revision {str(found)[:40]!r}"
        return f"the schema version table holds {shown}, which this release does not know"
    return None


def _trigger_problem(row: Mapping[str, Any]) -> str | None:
    """Every append-only trigger must be there with its own definition (SQLite, whose
    catalogue the guard reads with its tables; `verify` checks PostgreSQL's)."""
    present = row.get("triggers")
    if present is None:
        return None
    statements: tuple[str, ...] = db.APPEND_ONLY_TRIGGERS
    if row.get("has_checkpoint_table"):
        statements = (*statements, *db.CHECKPOINT_TRIGGERS)
    if db.has_notification_triggers(row.get("revision")):
        statements = (*statements, *db.NOTIFICATION_TRIGGERS)
    for name, definition in db.normalised_triggers(statements).items():
        if name not in present:
            return f"the append-only trigger {name} is missing: the ledger is unprotected"
        if present[name] != definition:
            return f"the append-only trigger {name} was altered: the ledger may be unprotected"
    known = db.normalised_triggers(ALL_TRIGGERS)
    added = sorted(name for name in present if name not in known)
    if added:  # it would run inside this write: change a projection, or block what is recorded
        return (
            f"a trigger {one_line(added[0])[:60]} that is not the ledger's own was added: it can "
            "change or block what a write records"
        )
    return None


ALL_TRIGGERS = (*db.APPEND_ONLY_TRIGGERS, *db.CHECKPOINT_TRIGGERS, *db.NOTIFICATION_TRIGGERS)
"""Every trigger a SQLite ledger of any revision may hold (`verify` tells which it must)."""
