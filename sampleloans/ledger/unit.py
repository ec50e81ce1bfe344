"""The ledger's unit of work: the one way events and projection rows reach the database.

A `Unit` owns, for one transaction:

- the **connection** it writes on (SQLAlchemy Core: `insert()` / `update()` executemany, so the
  same code runs on every dialect `db.py` supports);
- the **chain head** (seq, hash, recording time), read once and then carried along;
- a **write-back buffer** of projection rows: `get` answers from it first, new rows and changed
  rows are written by `flush`, one executemany per table (parents first);
- the **touched records** of the events appended since the last check;
- **when the checks run**: at once after each event (`checks_now=True`, a single command is a
  batch of one) or for the whole batch at `end_batch` (an import: a batch of N).

`append(unit, ctx, event)` is the one way an event enters the ledger; `verify`'s replay and the
"as of" reconstruction (`ledger/replay.py`) push stored events through the same `apply` and the
same buffer with `replay`. `apply` sees the unit only through the `Projections` port
(`ledger/apply.py`).

Rows from the unit are `Tracked` records with the model's column names as attributes (typed as
the model for the type checker); setting an attribute is the update, written at the next flush.
The ORM `Session` stays on the read side: a service reads through it and appends through its
unit; after a flush, `sync` expires the ORM's copies of the rows the unit changed.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, lru_cache
from itertools import islice
from operator import itemgetter
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic_core import PydanticUndefined
from sqlalchemy import (
    Column,
    Connection,
    FrozenResult,
    Result,
    Select,
    Table,
    TableClause,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.orm import ORMExecuteState, configure_mappers
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList
from sqlalchemy.sql.util import find_tables
from sqlmodel import Session, SQLModel

from sampleloans import crashpoints, db
from sampleloans.dates import bound_text, clock_ahead, to_iso
from sampleloans.errors import InvalidInput, RuleViolation
from sampleloans.ledger import chain, guard
from sampleloans.ledger.envelope import Context, Envelope
from sampleloans.ledger.events import Event
from sampleloans.ledger.reads import OPEN, WRITES, Key, get_row, open_batch, write_transaction
from sampleloans.models import EventSubject, Incident, LedgerEvent, LedgerMeta, LoanItem
from sampleloans.vocab import IncidentStatus, ItemSource, SubjectType

__all__ = ["Touched", "Unit", "append", "batch_unit", "get_row", "open_batch", "replay", "unit_for"]

if TYPE_CHECKING:
    from sampleloans.ledger.checks import Snapshot

M = TypeVar("M", bound=SQLModel)
KeyGroup = tuple[str, Callable[[tuple[Any, ...]], Any] | str, Any]
"""A grouping of a table's rows: (its name, the group of a key's values or the name of a column
of `FIXED_COLUMNS` whose value is the row's group, the group wanted), for `Unit.rows_where`;
one name, one way, for each table."""
FIXED_COLUMNS = {"loan": frozenset({"institution"}), "shipment": frozenset({"loan_number"})}
"""Columns no event changes once their row is inserted (`ledger/apply.py` sets them only in the
row's insert): a row's group by one of them is fixed, as a group by its key is."""
_ITEMS = LoanItem.__table__  # type: ignore[attr-defined]  # SQLModel sets it
_ITEMS_OF_LOAN = select(_ITEMS).where(_ITEMS.c.loan_number == bindparam("number"))
KEEP_ROWS = 100_000
"""Rows a unit holds at most between batches; beyond it, it forgets the rows read longest ago,
whole batches at a time, until at most three quarters of it remain. Sized above the rows an
import cycling through the bench collection keeps reading (20,000 loans, their items and
samples, ~60,000 rows), so a large import does not read them again."""
FORGOTTEN_KEYS = 1_000_000
"""Keys of forgotten rows a replay from empty remembers at most (about 100 bytes each), so a new
key is known to be free without a query: sized above the bench collection's 150,000 samples."""
WRITTEN_ONLY = -1
"""The last-read batch of a row written and not read since: the first to be forgotten."""


@dataclass
class Touched:
    """The records events changed, so the checks look at exactly those."""

    samples: set[str] = field(default_factory=set)
    loans: set[str] = field(default_factory=set)
    agreements: set[str] = field(default_factory=set)

    def update(self, other: "Touched") -> None:
        """Add what another event touched."""
        self.samples |= other.samples
        self.loans |= other.loans
        self.agreements |= other.agreements

    def __bool__(self) -> bool:
        return bool(self.samples or self.loans or self.agreements)


@dataclass(frozen=True)
class Link:
    """The chain head: the last event's seq and hash and when it was recorded."""

    seq: int
    hash: str
    recorded_at: datetime | None


_MISSING = object()


class Tracked:
    """A row held by a unit: plain attributes; setting one marks the row as changed."""

    __slots__ = ("__dict__", "_changed", "_key", "_unsynced")
    _changed: dict[Key, set[str]]  # rows to write at the next flush → the columns set
    _unsynced: set[Key]  # rows whose read-session copies are behind
    _key: Key

    def __init__(
        self, values: dict[str, Any], changed: tuple[dict[Key, set[str]], set[Key]], key: Key
    ) -> None:
        object.__setattr__(self, "_changed", changed[0])
        object.__setattr__(self, "_unsynced", changed[1])
        object.__setattr__(self, "_key", key)
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: Any) -> None:
        values = self.__dict__
        old = values.get(name, _MISSING)
        if old is value or (type(old) is type(value) and old == value):
            return  # nothing to write (`last_event_at = max(…)` mostly keeps its value)
        values[name] = value
        found = self._changed.get(self._key)
        if found is None:
            self._changed[self._key] = {name}
        else:
            found.add(name)
        self._unsynced.add(self._key)

    def __repr__(self) -> str:
        return f"Tracked({self.__dict__!r})"


class _TableInfo:
    """Column names, key, defaults and the Core statements a unit runs on one table."""

    def __init__(self, model: type[SQLModel]) -> None:
        table: Table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets it at class creation
        self.model = model
        self.mapper = sa_inspect(model)
        self.table = table
        self.name: str = table.name
        self.columns = tuple(column.name for column in table.columns)
        self.key_columns = tuple(column.name for column in table.primary_key.columns)
        self.key_set = frozenset(self.key_columns)
        self.value_columns = tuple(name for name in self.columns if name not in self.key_columns)
        self.pick_columns = itemgetter(*self.columns)
        """A row's values as a tuple in column order (every table has several columns)."""
        self.insert = insert(table)
        self.select = select(table).where(
            *(table.c[name] == bindparam(f"k_{name}") for name in self.key_columns)
        )
        self.updates: dict[tuple[str, ...], Any] = {}
        self.binds: dict[tuple[str, ...], Any] = {}
        self.defaults: dict[str, Any] = {}
        for name in self.columns:
            found = model.model_fields.get(name)
            value = None if found is None else found.get_default(call_default_factory=True)
            self.defaults[name] = None if value is PydanticUndefined else value

    def update_of(self, columns: tuple[str, ...]) -> Any:
        """The UPDATE of some value columns of one row by its key (cached per column set).

        Bound names differ from column names: Core refuses a bindparam named like a SET column.
        """
        found = self.updates.get(columns)
        if found is None:
            table = self.table
            found = self.updates[columns] = (
                update(table)
                .where(*(table.c[name] == bindparam(f"k_{name}") for name in self.key_columns))
                .values({name: bindparam(f"v_{name}") for name in columns})
            )
        return found

    def update_binds(
        self, columns: tuple[str, ...]
    ) -> tuple[tuple[str, ...], Callable[[dict[str, Any]], tuple[Any, ...]]]:
        """The bound names of `update_of(columns)` (values, then key) and what picks the
        values from a row (cached per column set: an update of many rows builds no names)."""
        found = self.binds.get(columns)
        if found is None:
            # the values first, then the key: the order SQLite's UPDATE binds them in
            names = tuple(f"v_{name}" for name in columns)
            names += tuple(f"k_{name}" for name in self.key_columns)
            getter = itemgetter(*columns)  # one column: the value itself, not a tuple
            pick = getter if len(columns) > 1 else lambda row: (getter(row),)
            found = self.binds[columns] = (names, pick)
        return found

    def key_params(self, ident: tuple[Any, ...]) -> dict[str, Any]:
        """The bound key of one row."""
        return {f"k_{name}": value for name, value in zip(self.key_columns, ident, strict=True)}


_TABLES: dict[str, _TableInfo] = {}
_ORDER = {table.name: n for n, table in enumerate(SQLModel.metadata.sorted_tables)}


_BY_MODEL: dict[type[SQLModel], _TableInfo] = {}


def _info(model: type[SQLModel]) -> _TableInfo:
    """The cached description of a model's table.

    Kept by class as well as by table name: `__tablename__` is a declared attribute, computed
    on every access, which an import would pay several times per record.
    """
    found = _BY_MODEL.get(model)
    if found is None:
        name: str = model.__tablename__  # type: ignore[assignment]  # a str on every table model
        found = _TABLES.get(name) or _TableInfo(model)
        _TABLES[name] = _BY_MODEL[model] = found
    return found


_EVENTS = _info(LedgerEvent).table.name
_SUBJECTS = _info(EventSubject).table.name
_UNTRACKED = frozenset({_EVENTS, _SUBJECTS})
"""Tables whose rows a unit writes without holding them (events and their index)."""


class Unit:
    """The unit of work of one transaction (see the module docstring)."""

    def __init__(
        self,
        connection: Connection,
        *,
        checks_now: bool = True,
        session: Session | None = None,
        empty: bool = False,
        stored: Connection | None = None,
        defer_changes: bool = False,
        consumptions_later: bool = False,
    ) -> None:
        self.connection = connection
        self.consumptions_later = consumptions_later
        """`apply` leaves the rows of plain consumptions to `replay.fill_consumptions`."""
        self.stored = stored
        self.defer_changes = defer_changes
        """A replay's unit (nothing else writes its connection, and nothing reads it but the
        unit): `release` writes the rows it inserted, but a change to a row it keeps is
        written only when the row is forgotten or by the last `flush`, so a row changed in
        many batches (a loan item, its sample and loan, by every consumption) is updated once
        per time it leaves memory, not once per batch. A read of the database that may see a
        changed row (`flush_for`, `has_open_incident`, …) still flushes everything first."""
        """A replay that copies neither the events nor their index (`verify`): both are the
        ledger's own, read from this connection (the ledger's, in its snapshot), and each
        event's index entries are left for the caller to compare (`indexed`)."""
        self.complete = empty
        """Whether every projection row is known to this unit (a replay into an empty schema): a
        key neither held nor forgotten (`_forgotten`, `_incomplete`) is then known to be
        missing, with no query."""
        self._forgotten: set[Key] = set()  # keys of rows forgotten while `complete`
        self._incomplete: set[str] = set()  # tables whose forgotten rows' keys are not kept
        self._written_only: list[Key] = []  # rows inserted since last forgetting, maybe unread
        self.checks_now = checks_now
        self.session = session  # the read side whose copies `sync` brings up to date
        self.head: Link | None = None
        self.touched = Touched()
        self.mission_root_ug: dict[str, int] = {}
        """Running mass of root samples per mission, kept while a batch registers many."""
        self.agreement_issued_ug: dict[str, int] = {}
        """Running mass issued under each agreement (curator-issued items), read once per
        agreement and then kept by the issues of the import (`services/loans.py`)."""
        self._rows: dict[Key, Tracked] = {}  # the identity map
        self._batch = 0  # batches released so far (the clock of `_used`)
        self._used: dict[Key, int] = {}  # row → the last batch that read it
        self._changed: dict[Key, set[str]] = {}  # rows set since last written → their columns
        self._unsynced: set[Key] = set()  # rows set since the read session's copies were
        self._marks = (self._changed, self._unsynced)
        self._changed_keys: dict[str, tuple[int, list[Key]]] = {}
        """Per table, the keys of its rows in `_changed`, as listed when `_changed` had so many
        keys (`_changed_of`); forgotten whenever a key leaves `_changed`."""
        self._changed_groups: dict[tuple[str, str], tuple[int, dict[Any, list[Key]]]] = {}
        """Per table and grouping of its keys (`KeyGroup`), the keys `_changed_of` listed so
        far, by the group each key falls in (`_changed_in`); forgotten with those lists."""
        self._pending: dict[str, list[dict[str, Any] | Tracked]] = defaultdict(list)
        self._raw: set[str] = set()  # tables with buffered rows outside the identity map
        self._subjects: set[tuple[int, str, str]] = set()  # this event's index entries
        self._applying_seq, self._applying_kind = 0, ""  # the event being applied
        self._items_of: dict[str, set[str]] = {}  # loan → its item codes, once read
        self._new_items: dict[str, set[str]] = defaultdict(set)  # loan → items not yet written
        self._new_events: dict[Any, dict[str, Any]] = {}  # seq → event row not yet written
        self._absent: set[Key] = set()  # keys the read session found no row for
        self._empty: dict[str, FrozenResult[Any]] = {}
        self.held: list[object] = []
        """The read session's rows of a batch, kept alive so reference rows are read once."""
        self.check_scope: CheckScope | None = None
        """What the checks would read about some samples, read with the writers' lock before
        anything was written (`known_check_scope`): the first check answers from it."""

    # --- the port: reads ------------------------------------------------------------------------

    def get(self, model: type[M], key: Any) -> M | None:
        """A row by primary key: from this unit if it holds it, else from the database."""
        info = _BY_MODEL.get(model) or _info(model)  # the common case without a call
        ident = key if isinstance(key, tuple) else (key,)
        name = (info.name, ident)
        found = self._rows.get(name)
        if found is None:
            if name in self._absent or (
                self.complete
                and name[0] not in _UNTRACKED
                and name[0] not in self._incomplete
                and name not in self._forgotten
            ):
                return None
            if (
                self.stored is not None
                and name[0] == _EVENTS
                and isinstance(ident[0], int)
                and ident[0] > self._applying_seq
            ):
                return None  # the ledger's own later events are not replayed yet
            if name[0] == _EVENTS and ident[0] in self._new_events:  # no flush for an event
                return cast(M, Tracked(dict(self._new_events[ident[0]]), self._marks, name))
            if info.table.name in self._raw and name[0] != _EVENTS:  # a buffered row may be it
                self.flush()
            values = self._session_copy(info, ident)
            if values is None:
                values = self._read(info, ident)
                if values is None:
                    self._absent.add(name)  # every write of this transaction goes through it
                    return None
            found = self._rows[name] = Tracked(values, self._marks, name)
        self._used[name] = self._batch
        # a Tracked row has every column of M as an attribute (not `cast`: a call per read)
        return found  # type: ignore[return-value]  # a Tracked row stands for M

    def _read(self, info: _TableInfo, ident: tuple[Any, ...]) -> dict[str, Any] | None:
        """A row's stored values by key (None: no row)."""
        reading = self._reader_of(info.table.name)
        if not self.checks_now:  # a batch (an import, a replay): on the driver where it can be
            # (SQLite; Core elsewhere): a row an import reads first in a large ledger cost
            # Core's whole execute (~a quarter of an import of consumptions into the bench
            # ledger's state); the same values of the same types (`db.read_one`)
            return db.read_one(reading, info.select, info.key_params(ident), info.columns)
        row = reading.execute(info.select, info.key_params(ident)).first()
        return None if row is None else dict(row._mapping)

    def _reader_of(self, table_name: str) -> Connection:
        """Where a table is read: the ledger's own events and index in a replay that does not
        copy them (`stored`), else this unit's connection."""
        if self.stored is not None and table_name in _UNTRACKED:
            return self.stored
        return self.connection

    def _session_copy(self, info: _TableInfo, ident: tuple[Any, ...]) -> dict[str, Any] | None:
        """The values of a row the read session loaded in this transaction (a single command:
        the service read it a moment ago, and `unit_for` flushed the session first), so
        `apply` does not read it again; None when the session does not hold it whole."""
        if self.session is None or not self.checks_now:
            return None
        copy = self.session.identity_map.get(info.mapper.identity_key_from_primary_key(ident))
        if copy is None:
            return None
        state = sa_inspect(copy)
        loaded = copy.__dict__
        if state.modified or state.expired_attributes or any(c not in loaded for c in info.columns):
            return None
        return {column: loaded[column] for column in info.columns}

    def prefetch(self, model: type[SQLModel], keys: Iterable[Any]) -> None:
        """Read the rows of many single-column keys with one query (an import's batch); a key
        with no row is remembered free, so neither the read session nor `apply` asks again."""
        info = _info(model)
        name = info.table.name
        wanted = {key for key in keys if (name, (key,)) not in self._rows}
        if not wanted:
            return
        column = info.table.c[info.key_columns[0]]
        for row in self.connection.execute(select(info.table).where(column.in_(sorted(wanted)))):
            wanted.discard(self._adopt(info, row)._key[1][0])
        self._absent.update((name, (key,)) for key in wanted)

    def prefetch_items(self, codes: Iterable[str]) -> None:
        """Read the loan items of the samples the unit does not hold yet with one query (an
        import's batch, before it reads the samples): a line on a loan item read it by key,
        one query a line; a held sample's items were read with it or since."""
        held = self._rows
        wanted = {code for code in codes if ("sample", (code,)) not in held}
        if wanted:
            info = _info(LoanItem)
            query = select(_ITEMS).where(_ITEMS.c.sample_code.in_(sorted(wanted)))
            for row in self.connection.execute(query):
                self._adopt(info, row)

    def loan_items(self, number: str) -> list[LoanItem]:
        """Every item of a loan, in sample-code order (this event's changes included).

        Read once per loan, then kept: every later item of it is inserted through this unit.
        """
        codes = self._items_of.get(number)
        if codes is None:
            info = _info(LoanItem)
            # no flush: a stored row the unit holds is answered from the unit (`_adopt`), and
            # the items it buffered are added from `_new_items` (a flush here cut every batch
            # into one write per loan it first looked at)
            adopted = (self._adopt_values(info, row) for row in self._stored_items_of(number))
            codes = {str(item.__dict__["sample_code"]) for item in adopted}
            codes |= self._new_items.get(number, set())
            self._items_of[number] = codes
        held, used, batch = self._rows, self._used, self._batch
        items: list[LoanItem] = []
        for code in sorted(codes):
            key = (_ITEMS.name, (number, code))
            item = cast(LoanItem | None, held.get(key))  # held: without `get`'s general path
            if item is not None:
                used[key] = batch
            else:
                item = self.get(LoanItem, (number, code))
            if item is not None:
                items.append(item)
        return items

    def _stored_items_of(self, number: str) -> list[dict[str, Any]]:
        """A loan's stored items, by column name: in a batch (an import, a replay) on the
        driver (`db.read_all`), where Core's execute, once per loan, cost a replay of the
        bench ledger's loan steps more than SQLite's own work; else through Core."""
        params = {"number": number}
        if not self.checks_now:
            return [row._asdict() for row in db.read_all(self.connection, _ITEMS_OF_LOAN, params)]
        return [dict(row._mapping) for row in self.connection.execute(_ITEMS_OF_LOAN, params)]

    def rows_where(
        self,
        model: type[M],
        query: Select[Any],
        params: dict[str, Any],
        matches: Callable[[Any], bool],
        group: "KeyGroup | None" = None,
    ) -> list[M]:
        """The rows of a table that match a condition as the unit will write them, with
        nothing written first (an import's life-cycle step: a flush for each cut every batch
        into small writes): the stored rows `query` selects (built once: `model`'s key
        columns and those the caller reads) that the unit does not hold, whose stored values
        are current; and of the rows it holds (those the query selects, and those it inserted
        or changed since it last wrote), the ones whose values now pass `matches` (the same
        condition, in Python). Rows for reading only: a stored row is not adopted.

        `group`: a grouping of the table's rows that every row passing `matches` falls in (a
        part of the key, or a column of `FIXED_COLUMNS`, that `matches` requires): of the
        changed rows, only that group's are judged.
        """
        info = _info(model)
        name = info.table.name
        rows, key_columns = self._rows, info.key_columns
        stored: list[Any] = []  # rows the unit does not hold: as stored, `query` judged them
        held: dict[Key, Any] = {}  # rows it holds: judged by `matches` on its copy
        for row in db.read_all(self.connection, query, params):  # on the driver (SQLite)
            key = (name, tuple(getattr(row, column) for column in key_columns))
            copy = rows.get(key)
            if copy is None:
                stored.append(row)  # not adopted: an issue sums hundreds of items
            else:
                held[key] = copy
        changed = self._changed_of(name) if group is None else self._changed_in(name, group)
        for key in changed:  # a stored row may match only after its change
            held[key] = rows[key]
        for pending in self._pending.get(name, ()):
            if isinstance(pending, Tracked):
                held[pending._key] = pending
        return stored + [row for row in held.values() if matches(row)]

    def _changed_of(self, table_name: str) -> list[Key]:
        """The keys of a table's rows changed since last written, in the order they changed.

        Between two writes `_changed` only gains keys (a write, or an undo, removes keys and
        forgets these lists), so each call looks only at the keys added since the last one,
        the newest last: a batch of loan steps asked for its changed loans several times a
        step, and each time every changed row of every table was looked at again.
        """
        changed = self._changed
        seen, keys = self._changed_keys.get(table_name, (0, []))
        if seen > len(changed):  # keys left without the lists forgotten: list them afresh
            seen, keys = 0, []
            self._drop_groups(table_name)
        added = len(changed) - seen
        if added:
            newest = [key for key in islice(reversed(changed), added) if key[0] == table_name]
            keys = keys + newest[::-1]
            self._changed_keys[table_name] = (len(changed), keys)
        return keys

    def _changed_in(self, table_name: str, group: "KeyGroup") -> list[Key]:
        """The keys of `_changed_of(table_name)` whose key falls in `group`, in that order.

        Each key is placed in its group once, as `_changed_of` lists it (a key's group is a
        function of its primary key, which never changes, or the value of a column its row
        never changes after its insert, `FIXED_COLUMNS`): a batch's loan step looked at every
        changed row of the table (~1,000 items or loans once a batch touches 1,000 loans) to
        find the few of one sample, loan number or institution.
        """
        keys = self._changed_of(table_name)
        name, part, value = group
        placed, index = self._changed_groups.get((table_name, name), (0, {}))
        if placed > len(keys):  # listed afresh since (`_changed_of`): place them afresh too
            placed, index = 0, {}
        if isinstance(part, str):  # a column set only at insert: the held row's value
            assert part in FIXED_COLUMNS.get(table_name, ()), f"{table_name}.{part} can change"
            rows = self._rows
            for key in islice(keys, placed, None):
                index.setdefault(rows[key].__dict__[part], []).append(key)
        else:
            for key in islice(keys, placed, None):
                index.setdefault(part(key[1]), []).append(key)
        self._changed_groups[(table_name, name)] = (len(keys), index)
        return index.get(value, [])

    def _drop_groups(self, table_name: str) -> None:
        """Forget a table's keys by group (its list of changed keys starts afresh)."""
        for pair in [pair for pair in self._changed_groups if pair[0] == table_name]:
            del self._changed_groups[pair]

    def _forget_changed_lists(self) -> None:
        """Forget the lists of changed keys and their groups (a key left `_changed`)."""
        self._changed_keys.clear()
        self._changed_groups.clear()

    def has_open_incident(self, code: str) -> bool:
        """Whether a sample has an incident still open."""
        self.flush()  # rare (incidents, corrections): everything is written first
        table = _info(Incident).table
        query = select(table.c.seq).where(
            table.c.sample_code == code, table.c.status == IncidentStatus.OPEN
        )
        return self.connection.execute(query.limit(1)).first() is not None

    def subjects_of(self, seq: int) -> list[tuple[str, str]]:
        """The (subject type, key) pairs an event is indexed under."""
        if self.stored is not None and seq >= self._applying_seq:
            # the ledger's own index holds every event's entries: up to the one being applied,
            # the replay's own (none for a later event, as in a copy)
            return sorted((kind, key) for at, kind, key in self._subjects if at == seq)
        if self.stored is None:
            self.flush()  # rare (incidents, corrections): everything is written first
        table = _info(EventSubject).table
        query = select(table.c.subject_type, table.c.subject_key).where(table.c.seq == seq)
        rows = self._reader_of(_SUBJECTS).execute(query.order_by(*table.primary_key.columns))
        return [(str(kind), str(key)) for kind, key in rows]

    def kinds_after(self, code: str, after_seq: int) -> set[str]:
        """The kinds of the events about a sample after a given event (an index range scan)."""
        events, subjects = _info(LedgerEvent).table, _info(EventSubject).table
        query = (
            select(events.c.kind)
            .join(subjects, subjects.c.seq == events.c.seq)
            .where(
                subjects.c.subject_type == SubjectType.SAMPLE,
                subjects.c.subject_key == code,
                subjects.c.seq > after_seq,
            )
        )
        if self.stored is None:
            self.flush()
            return {str(kind) for (kind,) in self.connection.execute(query)}
        # the ledger's own index, up to the events replayed so far, and the one being applied
        done = self.head.seq if self.head is not None else 0
        kinds = {str(kind) for (kind,) in self.stored.execute(query.where(subjects.c.seq <= done))}
        if (self._applying_seq, SubjectType.SAMPLE, code) in self._subjects:
            kinds.add(self._applying_kind)
        return kinds

    def _adopt(self, info: _TableInfo, row: Any) -> Tracked:
        """The identity-map record of a database row (a Core row)."""
        return self._adopt_values(info, dict(row._mapping))

    def _adopt_values(self, info: _TableInfo, values: dict[str, Any]) -> Tracked:
        """The identity-map record of a stored row given by column name (a row it already
        holds is kept: it may carry this batch's changes)."""
        name = (info.table.name, tuple(values[column] for column in info.key_columns))
        known = self._rows.get(name)
        if known is None:
            known = self._rows[name] = Tracked(values, self._marks, name)
        self._used[name] = self._batch
        return known

    # --- the port: writes -----------------------------------------------------------------------

    def insert(self, model: type[SQLModel], **values: Any) -> None:
        """Buffer a new row given by its field values (the model's defaults fill the rest)."""
        info = _info(model)
        row = {**info.defaults, **values}
        name = (info.table.name, tuple(row[column] for column in info.key_columns))
        tracked = self._rows[name] = Tracked(row, self._marks, name)
        self._used[name] = WRITTEN_ONLY  # most new rows (consumptions, weighings) are not read
        self._written_only.append(name)
        self._pending[info.table.name].append(tracked)
        self._absent.discard(name)
        if model is LoanItem:
            self._new_items[row["loan_number"]].add(row["sample_code"])
            if row["loan_number"] in self._items_of:
                self._items_of[row["loan_number"]].add(row["sample_code"])

    def index(self, seq: int, subject_type: str, key: str) -> None:
        """Index an event under one record (once per event)."""
        entry = (seq, subject_type, key)
        if entry not in self._subjects:
            self._subjects.add(entry)
            if self.stored is not None:
                return  # compared by the caller (`indexed`), not copied
            self._absent.discard((_SUBJECTS, entry))
            self._pending[_SUBJECTS].append(
                {"seq": seq, "subject_type": subject_type, "subject_key": key}
            )
            self._raw.add(_SUBJECTS)

    def indexed(self) -> set[tuple[int, str, str]]:
        """The index entries (seq, subject type, key) of the event applied last."""
        return self._subjects

    def insert_event(self, values: Mapping[str, Any]) -> None:
        """Buffer a ledger event row (kept out of the identity map: events are never changed)."""
        self._applying_seq, self._applying_kind = values["seq"], values["kind"]
        if self.stored is not None:
            return  # the ledger's own row, read from there (`_reader_of`)
        row = values if isinstance(values, dict) else dict(values)
        self._pending[_EVENTS].append(row)
        self._new_events[row["seq"]] = row
        self._absent.discard((_EVENTS, (row["seq"],)))
        self._raw.add(_EVENTS)

    def dirty_tables(self) -> set[str]:
        """The tables with rows buffered or changed since the last flush."""
        dirty = {name for name, rows in self._pending.items() if rows}
        dirty.update(key[0] for key in self._changed)
        return dirty

    def flush_for(self, tables: set[str]) -> None:
        """Write everything before a query of `tables`, if any of them has unwritten rows (a
        query of untouched tables needs nothing written: flushing then would only cut the
        batch's executemany into small pieces)."""
        if (self._pending or self._changed) and not tables.isdisjoint(self.dirty_tables()):
            self.flush()

    def flush(self) -> None:
        """INSERT the buffered rows (parents first), then UPDATE the rows changed since read."""
        if not self._pending and not self._changed:
            return
        with db.pipelined(self.connection):  # PostgreSQL: one round trip for the flush
            self._write_inserts()
            if self._changed:
                self._write_changes()

    def _write_inserts(self) -> None:
        """INSERT the buffered rows, parents first (a row inserted and changed since is
        written as it is now)."""
        pending, self._pending = self._pending, defaultdict(list)
        self._raw.clear()
        self._new_items.clear()
        self._new_events.clear()
        for table_name in sorted(pending, key=_ORDER.__getitem__):
            self._write_new_rows(table_name, pending[table_name])

    def flush_later(self) -> None:
        """Write the buffered rows now (SQLite), or leave them for the transaction's next
        statement or its COMMIT (PostgreSQL: `db.transaction` sends them in one pipeline with
        the COMMIT, one round trip fewer while the writers' lock is held)."""
        if not self._pending and not self._changed:
            return
        state = db.connection_state(self.connection)
        if self.session is None or not state.locked_write:
            self.flush()
            return
        # the next statement on this connection writes them first (db._write_pending_first)
        state.pending_writes = db.COMMITS.of(self.session).rows_left_for_it = self

    def _write_new_rows(self, table_name: str, pending: list[dict[str, Any] | Tracked]) -> None:
        """One executemany INSERT of buffered rows."""
        if not pending:
            return
        info = _TABLES[table_name]  # described when its first row was buffered
        rows = []
        width = len(info.columns)
        for row in pending:
            if isinstance(row, Tracked):
                self._changed.pop(row._key, None)
                self._forget_changed_lists()
                values = row.__dict__  # the row's columns and nothing else (read at once)
                if len(values) != width:
                    values = {name: values[name] for name in info.columns}
                rows.append(values)
            else:
                rows.append(row)
        if self.connection.dialect.positional and all(len(row) == width for row in rows):
            # every row has every column: tuples in the table's column order, no dict per row
            pick = info.pick_columns
            db.write_many(
                self.connection,
                info.insert,
                "insert",
                table_name,
                [pick(row) for row in rows],
                names=info.columns,
            )
            return
        db.write_many(self.connection, info.insert, "insert", table_name, rows)

    def _write_with_next_statement(self) -> None:
        """Write the buffered rows now (SQLite), or with the connection's next statement
        (PostgreSQL: the checks' reads go in the same pipeline, `db.read_together`, one round
        trip while the writers' lock is held; any other statement writes them first,
        `db._write_pending_first`)."""
        if not self._pending and not self._changed:
            return
        state = db.connection_state(self.connection)
        if self.connection.dialect.name != "postgresql" or state.pending_writes not in (
            None,
            self,
        ):
            self.flush()  # (another unit's rows left for later are written first, by then)
            return
        state.pending_writes = self

    def _write_changes(self, only: Iterable[Key] | None = None) -> None:
        """One executemany UPDATE per table and set of columns changed since last written (of
        the rows `only` names, when given: rows about to be forgotten).

        Only the columns set are written: SQLite rewrites the entry of every index on a column
        in the SET list, so writing the whole row made each loan update rewrite six index
        entries where a consumption changes none of their columns.
        """
        by_shape: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = defaultdict(list)
        # emptied in place: every held row marks its changes in this very dict (`Tracked`)
        if only is None:
            changed = dict(self._changed)
            self._changed.clear()
        else:
            changed = {key: self._changed.pop(key) for key in only if key in self._changed}
        self._forget_changed_lists()
        # a set of columns → its statement's shape and picker (None: no value column), worked
        # out once per write: a batch of consumptions changes the same few columns of 1,000s
        shapes: dict[tuple[str, frozenset[str]], tuple[tuple[str, ...], Any] | None] = {}
        for name, columns in changed.items():
            row = self._rows[name].__dict__
            found = shapes.get((name[0], frozenset(columns)), _MISSING)
            if found is _MISSING:
                # sorted: one statement per set of columns, whatever order they were set in
                shape = tuple(sorted(columns - _TABLES[name[0]].key_set))
                found = shapes[(name[0], frozenset(columns))] = (
                    (shape, _TABLES[name[0]].update_binds(shape)[1]) if shape else None
                )
            if found is None:
                continue  # only key columns were set, to the same values
            shape, pick = cast(tuple[tuple[str, ...], Any], found)
            by_shape[(name[0], shape)].append((*pick(row), *name[1]))  # in the bound names' order
        for (table_name, shape), rows in by_shape.items():
            info = _TABLES[table_name]
            db.write_many(
                self.connection,
                info.update_of(shape),
                "update",
                f"{table_name}:{','.join(shape)}",
                rows,
                names=info.update_binds(shape)[0],
            )

    def sync(self) -> None:
        """Bring the read session's copies of the rows this unit changed up to date.

        The values are set as the copies' loaded state (`set_committed_value`): the session sees
        them as read from the database, with nothing for it to write and no query to run.
        """
        if self.session is None or not self._unsynced:
            return
        identity_map = self.session.identity_map
        for name in self._unsynced:
            info = _TABLES[name[0]]
            copy = identity_map.get(info.mapper.identity_key_from_primary_key(list(name[1])))
            row = self._rows.get(name)
            if copy is None or row is None:
                continue
            loaded = copy.__dict__
            for column in info.value_columns:
                value = row.__dict__[column]
                if column not in loaded or loaded[column] != value:
                    set_committed_value(copy, column, value)
        self._unsynced.clear()

    def read_through(self, state: ORMExecuteState) -> Result[Any] | None:
        """Run before each query of the read session (a batch): write what it may need first.

        A primary-key read of a row the unit does not hold needs nothing written (the unit holds
        every row it inserted or changed since it last wrote); when it finds no row, the unit
        remembers that the key is free, so `apply` does not ask again. Any other query may read
        buffered rows, which are written first.
        """
        key = _key_read_by(state)
        if key is None or key in self._rows or key[0] in self._raw:
            tables = _tables_read_by(state)
            if tables is None:
                self.flush()
            else:
                self.flush_for(tables)
            return None
        empty = self._empty.get(key[0])
        if empty is not None and self.get(_TABLES[key[0]].model, key[1]) is None:
            return empty()  # the unit's own lookup is cheaper than the session's load
        found = state.invoke_statement().freeze()
        if not found.data:
            self._absent.add(key)
            self._empty[key[0]] = found  # an empty answer to this table's key read
        return found()

    def release(self) -> None:
        """Write everything; beyond `KEEP_ROWS` rows, forget the least recently read.

        Rows stay valid across batches because nothing else writes in this transaction, so the
        reference rows every record reads (people, agreements, loans) are not read again. The
        rows forgotten are those read longest ago (rows written and never read first): keeping
        only the last batch's rows made an import that cycles through more records than a
        batch holds read every one of them again (point reads growing with the collection).
        """
        if self.defer_changes:
            self._write_inserts()  # the changes of the rows kept wait (`defer_changes`)
        else:
            self.flush()
        self._batch += 1
        if len(self._rows) >= KEEP_ROWS:
            self._forget_written_only()
        if len(self._rows) >= KEEP_ROWS:
            self._forget_least_recent()
        if self.session is not None and len(self.held) > KEEP_ROWS:
            self.held.clear()  # the read side's copies are bounded the same way

    def _forget_written_only(self) -> None:
        """Forget the rows inserted and not read since (most consumptions, weighings, index
        entries): no sort of the whole map, which cost a replay a tenth of its time."""
        used = self._used
        going = [
            key for key in self._written_only if used.get(key) == WRITTEN_ONLY and key in self._rows
        ]
        self._forget_all(going)
        self._written_only.clear()
        self._after_forgetting()

    def _forget_least_recent(self) -> None:
        """Forget whole batches of the rows read longest ago, until three quarters remain."""
        used = self._used
        stamps = sorted(used.get(key, WRITTEN_ONLY) for key in self._rows)
        cut = stamps[len(stamps) - KEEP_ROWS * 3 // 4 - 1]
        self._forget_all([key for key in self._rows if used.get(key, WRITTEN_ONLY) <= cut])
        self._after_forgetting()

    def _forget_all(self, keys: list[Key]) -> None:
        """Forget rows, their changes written first (`defer_changes` kept them back)."""
        if self._changed:
            self._write_changes(only=keys)
        for key in keys:
            self._forget(key)

    def _forget(self, key: Key) -> None:
        """Drop one row from memory (it is written). A replay from empty remembers its key, so a
        new key is still known to be free without a query; a row made by one event (keyed by
        its seq) is read again only by a correction, and its table is just marked incomplete."""
        del self._rows[key]
        self._used.pop(key, None)
        if self.complete:
            if _TABLES[key[0]].key_columns[0] == "seq":
                self._incomplete.add(key[0])
            else:
                self._forgotten.add(key)

    def _after_forgetting(self) -> None:
        """Drop what refers to forgotten rows; past a bound on the keys remembered, stop knowing
        every row (the memory stays bounded; misses are then read from the database)."""
        self._items_of = {
            number: codes
            for number, codes in self._items_of.items()
            if ("loan", (number,)) in self._rows
        }
        self._absent.clear()
        if len(self._forgotten) > FORGOTTEN_KEYS:
            self.complete = False
            self._forgotten.clear()

    def reset(
        self, head: Link | None = None, mission_root_ug: dict[str, int] | None = None
    ) -> None:
        """Forget every row, pending write and touched record, as after the batch's rollback.

        The rows it holds may carry changes the rollback undid, so everything is read again; the
        caller gives the head and running totals as they were where the batch started.
        """
        self._rows.clear()
        self._used.clear()
        self.complete = False
        self._forgotten.clear()
        self._incomplete.clear()
        self._written_only.clear()
        self._changed.clear()
        self._forget_changed_lists()
        self._pending.clear()
        self._raw.clear()
        self._unsynced.clear()
        self._items_of.clear()
        self._new_items.clear()
        self._new_events.clear()
        self._absent.clear()
        self.touched = Touched()
        self.head = head
        self.mission_root_ug = dict(mission_root_ug or {})
        self.agreement_issued_ug.clear()  # read again: the undone batch's issues are gone
        self.held.clear()
        if self.session is not None:
            self.session.expire_all()  # its copies may hold what the rollback undid

    # --- the chain and the checks ---------------------------------------------------------------

    def link(self) -> Link:
        """The chain head: carried by the unit, read from the database once."""
        if self.head is None:
            self.flush()
            # read with the writers' lock when this transaction began (PostgreSQL), once: a
            # later unit of the same transaction must see the events this one appends
            state = db.connection_state(self.connection)
            found, state.prefetched_head = state.prefetched_head, None
            if found is None and state.secured:
                # row-level security hides other institutions' events from this login: only
                # the head, through `sampleloans_chain_head()`; the database's triggers check
                # the link (the guard needs rows this login may not read)
                row = self.connection.execute(head_query(self.connection)).first()
                found = None if row is None else row._asdict()
            else:
                if found is None:
                    found = db.guard_row(self.connection)
                guard.check(found)  # a ledger changed by hand is never extended
            if found is None or found["seq"] is None:
                self.head = Link(0, self._genesis(), None)
            else:
                seq = int(found["seq"])
                recorded_at = guard.head_recorded_at(seq, found["recorded_at"])
                self.head = Link(seq, str(found["hash"]), recorded_at)
        return self.head

    def _genesis(self) -> str:
        """The genesis hash of this ledger (from its id in ledger_meta)."""
        table = _info(LedgerMeta).table
        query = select(table.c.value).where(table.c.key == "ledger_id")
        ledger_id = self.connection.execute(query).scalar()
        if ledger_id is None:
            raise InvalidInput("this database has no ledger; run 'sampleloans init' first")
        return chain.genesis_hash(str(ledger_id))

    def check(self) -> None:
        """Run every check on what the events since the last check touched; refuse on any."""
        from sampleloans.ledger import checks

        touched, self.touched = self.touched, Touched()
        scope, self.check_scope = self.check_scope, None
        if not touched:
            return
        snapshot = None if scope is None else self._snapshot_in(scope, touched)
        if snapshot is not None:  # the rows are written later, with the COMMIT (PostgreSQL)
            violations = checks.run_checks(snapshot)
        else:
            self._write_with_next_statement()
            known = self.samples_on_loans(touched.loans)
            violations = checks.check_touched(self.connection, touched, known)
        if violations:
            raise RuleViolation("; ".join(v.message for v in violations))

    def samples_on_loans(self, numbers: Iterable[str]) -> dict[str, set[str]]:
        """The codes of every sample on each of these loans whose items the unit has read
        (`loan_items`: read once, then kept by every item inserted through the unit; a loan
        step reads them): the checks name those samples instead of finding them again with a
        subquery. A loan whose items the unit has not read is left out (found by the query)."""
        items_of = self._items_of
        return {number: set(items_of[number]) for number in numbers if number in items_of}

    def _snapshot_in(self, scope: "CheckScope", touched: Touched) -> "Snapshot | None":
        """The checks' snapshot of the touched records as the database will hold it once this
        unit's rows are written: the rows read with the lock (nothing was written since: the
        writers' lock is held, and the scope is handed to the transaction's first unit only),
        each replaced by this unit's copy where it holds one (every row it writes, it holds),
        with the rows it inserted. None where the write touched more than the scope covers
        (another loan or sample, an agreement whose mass issued it cannot follow): the checks
        then read the database."""
        from sampleloans.ledger.checks import Snapshot, in_order

        if not touched.loans <= scope.loans or not touched.agreements <= set(scope.issued_ug):
            return None
        items = self._after_writes(scope, "loan_item")
        keys = touched.samples | {i.sample_code for i in items if i.loan_number in touched.loans}
        if not keys <= scope.samples:
            return None
        samples = self._after_writes(scope, "sample")
        snapshot = Snapshot(
            samples=sorted((s for s in samples if s.code in keys), key=lambda s: str(s.code)),
            items=[i for i in items if i.sample_code in keys],
            loans=[
                loan for loan in self._after_writes(scope, "loan") if loan.number in touched.loans
            ],
        )
        for sample in samples:
            if sample.parent_code in keys:
                snapshot.children.setdefault(sample.parent_code, []).append(sample)
        snapshot.open_incident_samples = {
            str(incident.sample_code)
            for incident in self._after_writes(scope, "incident")
            if incident.sample_code in keys and incident.status == IncidentStatus.OPEN
        }
        if touched.agreements:
            issued = self._issued_after_writes(scope, touched.agreements)
            if issued is None:
                return None
            snapshot.agreement_issued_ug = issued
            snapshot.agreements = [
                a for a in self._after_writes(scope, "agreement") if a.number in touched.agreements
            ]
        return in_order(snapshot)

    def _issued_after_writes(
        self, scope: "CheckScope", agreements: set[str]
    ) -> dict[str, int] | None:
        """The mass issued under the scope's agreement once this unit's rows are written: as
        read with the lock, with each item of the scope's loan as the unit holds it in place of
        its value then. None where the unit holds an item of another loan (its agreement is
        not known here)."""
        (number,) = scope.loans
        before = {
            (row["loan_number"], row["sample_code"]): row for row in scope.rows.get("loan_item", [])
        }
        issued_ug = dict(scope.issued_ug)
        (agreement,) = agreements
        for (name, ident), held in self._rows.items():
            if name != "loan_item":
                continue
            item = held.__dict__  # the row's columns
            if item["loan_number"] != number:
                return None
            if item["source"] == ItemSource.ISSUED:
                issued_ug[agreement] += item["issued_ug"]
            old = before.get(ident)
            if old is not None and old["source"] == ItemSource.ISSUED:
                issued_ug[agreement] -= old["issued_ug"]
        return issued_ug

    def _after_writes(self, scope: "CheckScope", table_name: str) -> list[Any]:
        """The scope's rows of a table, each as this unit will write it (its own copy where it
        holds one), and the rows of that table the unit holds besides."""
        key_columns = _key_columns(table_name)
        found: dict[tuple[Any, ...], Any] = {}
        for values in scope.rows.get(table_name, []):
            found[tuple(values[name] for name in key_columns)] = SimpleNamespace(**values)
        for (name, ident), held in self._rows.items():
            if name == table_name:
                found[ident] = held
        return list(found.values())

    def end_batch(self) -> None:
        """Check what the batch touched, then write it and forget its rows if they are many."""
        self.check()
        self.sync()  # before `release` may forget rows whose session copies it must refresh
        self.release()


@cache
def _key_columns(table_name: str) -> tuple[str, ...]:
    """The names of a table's primary key columns (looked up once: a write's checks ask for
    them table by table while the writers' lock is held)."""
    return tuple(column.name for column in SQLModel.metadata.tables[table_name].primary_key)


def _key_read_by(state: ORMExecuteState) -> Key | None:
    """The row a session statement reads by its whole primary key (`Session.get`), if it does."""
    statement = state.statement
    if not state.is_select or not isinstance(statement, Select):
        return None
    froms = statement.columns_clause_froms
    if len(froms) != 1 or not isinstance(froms[0], Table):
        return None
    table = froms[0]
    clause = statement.whereclause
    if clause is None:
        return None
    parts = list(clause.clauses) if isinstance(clause, BooleanClauseList) else [clause]
    values: dict[str, Any] = {}
    params = state.parameters if isinstance(state.parameters, dict) else {}
    for part in parts:
        if not (
            isinstance(part, BinaryExpression)
            and part.operator is operators.eq
            and isinstance(part.left, Column)
            and isinstance(part.left.table, Table)
            and part.left.table.name == table.name  # the statement's table may be annotated
            and part.left.primary_key
            and isinstance(part.right, BindParameter)
        ):
            return None
        values[part.left.name] = params.get(part.right.key, part.right.value)
    names = [column.name for column in table.primary_key.columns]
    if set(values) != set(names):
        return None
    return (table.name, tuple(values[name] for name in names))


def _tables_read_by(state: ORMExecuteState) -> set[str] | None:
    """The names of the tables a session SELECT reads (None: not known, e.g. text SQL)."""
    statement = state.statement
    if not state.is_select or not isinstance(statement, Select):
        return None
    found = find_tables(statement, check_columns=True)
    return {table.name for table in found if isinstance(table, TableClause)} or None


def head_query(connection: Any) -> Select[Any]:
    """The query for the chain's last link (seq, hash, recorded_at) on this connection; on a
    secured PostgreSQL ledger (issue 14) row-level security may hide the head from the login,
    so it is read through `sampleloans_chain_head()`, which shows those three and nothing else."""
    if db.connection_state(connection).secured:
        head = func.sampleloans_chain_head().table_valued("seq", "hash", "recorded_at")
        return select(head.c.seq, head.c.hash, head.c.recorded_at)
    table = _info(LedgerEvent).table
    last = select(func.max(table.c.seq)).scalar_subquery()
    return select(table.c.seq, table.c.hash, table.c.recorded_at).where(table.c.seq == last)


@lru_cache(maxsize=1024)
def _iso(moment: datetime) -> str:
    """Stored text of an aware datetime (`…Z`), as `models.UTCDateTime` stores it (kept for
    the last times seen: an import's recording time is the same for every event)."""
    return to_iso(moment)


def _check_clock(ctx: Context, last: Link) -> None:
    """Refuse to record before the last event was recorded: `recorded_at` never decreases."""
    if last.recorded_at is None or ctx.now >= last.recorded_at:
        return
    if ctx.system_clock:
        raise RuleViolation(clock_ahead(ctx.now, last.seq, last.recorded_at))
    raise RuleViolation(
        f"clock: now is {_iso(ctx.now)}, before event {last.seq} was recorded "
        f"({_iso(last.recorded_at)}); the recording clock (SAMPLELOANS_NOW or the system "
        f"clock) must not go back: set it right ({bound_text(last.recorded_at)}) and try again"
    )


def append(
    unit: Unit,
    ctx: Context,
    event: Event,
    *,
    occurred_at: datetime | None = None,
    reason: str | None = None,
    corrects_seq: int | None = None,
) -> Envelope:
    """Append one event: link it to the chain, apply it, and check it now or with its batch."""
    last = unit.link()
    _check_clock(ctx, last)
    when = occurred_at or ctx.now
    if when > ctx.now:  # time order is a rule (exit 1), like the order of a record's events
        raise RuleViolation(
            f"time: {_iso(when)} is in the future (now is {_iso(ctx.now.replace(microsecond=0))}); "
            "events can only be recorded for the past"
        )
    payload = chain.canonical(event.to_payload(), f"{event.kind} payload")
    body = chain.event_body(
        seq=last.seq + 1,
        kind=event.kind,
        payload=payload,
        occurred_at=_iso(when),
        recorded_at=_iso(ctx.now),
        actor=ctx.actor,
        os_user=ctx.os_user,
        corrects_seq=corrects_seq,
        reason=reason,
    )
    # the body's fields are scalars (the payload is canonical text already): the flat path
    values = {**body, "prev_hash": last.hash, "hash": chain.stored_link_hash(last.hash, body)}
    envelope = Envelope(
        seq=last.seq + 1,
        kind=event.kind,
        occurred_at=when.astimezone(UTC),
        recorded_at=ctx.now.astimezone(UTC),
        actor=ctx.actor,
        os_user=ctx.os_user,
        corrects_seq=corrects_seq,
        reason=reason,
        payload=payload,
    )
    unit.insert_event(values)  # written with its projections, parents first
    crashpoints.reached("after_event_insert")
    unit.touched.update(_apply(unit, envelope, event))
    crashpoints.reached("after_apply")
    unit.head = Link(envelope.seq, values["hash"], ctx.now)
    if unit.checks_now:
        unit.check()
        unit.flush_later()
    unit.sync()  # the read session's copies of what this event changed are stale now
    return envelope


def replay(unit: Unit, row: Mapping[str, Any], envelope: Envelope, event: Event) -> None:
    """Store a recorded event row and apply it (`verify`'s replay, "as of"): the same buffer
    and the same `apply` as `append`."""
    unit.insert_event(row)
    _apply(unit, envelope, event)
    unit.head = Link(envelope.seq, str(row["hash"]), envelope.recorded_at)


def _apply(unit: Unit, envelope: Envelope, event: Event) -> Touched:
    """Apply one event through the unit's port; what it touched."""
    unit._subjects.clear()  # a new event: its index entries start afresh
    return _apply_module.apply(unit, envelope, event)  # written by `check` or `flush_later`


@contextmanager
def batch_unit(session: Session) -> Iterator[Unit]:
    """Open a batch unit on a session's connection: appends through the session use it, and
    their checks wait for `Unit.end_batch` (an import)."""
    unit = Unit(session.connection(), checks_now=False, session=session)

    def write_first(state: ORMExecuteState) -> Result[Any] | None:
        """Before a query of the session: write what it may read (`Unit.read_through`)."""
        return unit.read_through(state)  # what the session reads must see the buffered rows

    def keep(_session: Session, instance: object) -> None:
        """Hold a row the session loads for as long as the batch."""
        unit.held.append(instance)  # the session's identity map only holds rows weakly

    OPEN[session] = unit
    sa_event.listen(session, "do_orm_execute", write_first)
    sa_event.listen(session, "loaded_as_persistent", keep)
    try:
        yield unit
    finally:
        sa_event.remove(session, "do_orm_execute", write_first)
        sa_event.remove(session, "loaded_as_persistent", keep)
        del OPEN[session]


def unit_for(session: Session) -> Unit:
    """The unit a session's appends go through: its open batch, or a new batch of one."""
    found = OPEN.get(session)
    if found is not None:
        return found
    session.flush()  # anything the session itself added (the ledger's metadata) comes first
    unit = Unit(session.connection(), checks_now=True, session=session)
    known = WRITES.peek(session)
    if known is None:
        return unit
    if known.items_of_loans:
        unit._items_of.update(known.items_of_loans)  # read with the writers' lock (`known_items`)
    unit.check_scope = known.check_scope  # (`known_check_scope`)
    known.forget_known()  # handed over: the first unit alone may trust them
    absent = known.absent_keys
    if absent:
        # handed over once: this unit may insert those rows, and the next unit of the same
        # transaction must then read them, not take them for missing
        unit._absent.update(absent)
        absent.clear()
    return unit


def note_absent(session: Session) -> set[Key]:
    """Remember, for this write transaction, which primary-key reads of the session found no
    row, so `apply` does not read them again (a command checks "does not exist yet" and its
    event then inserts the row: one round trip fewer while the writers' lock is held), and so
    the session itself answers a second read of such a key "none" without a query.

    Forgotten whenever the session itself writes rows, and handed over to the next unit (which
    may insert them: it then answers for them); the unit writes through its own buffer, which
    `get` consults first. Returns the keys noted so far. The session's reads are watched by
    listeners on the Session class (`_note_absent`, `_forget_absent`), set once for the
    process: two listeners set on each session cost a writer ~33 µs inside the lock.
    """
    known = write_transaction(session)
    if known.absent_keys is None:
        known.absent_keys = set()
    return known.absent_keys


@sa_event.listens_for(Session, "do_orm_execute")
def _note_absent(state: ORMExecuteState) -> Result[Any] | None:
    """A session that notes absent keys (`note_absent`): answer a read of a key known to have
    no row without a query, and note the keys its primary-key reads find no row for."""
    known = WRITES.peek(state.session)
    absent = None if known is None else known.absent_keys
    if absent is None or state.session in OPEN:
        return None
    key = _key_read_by(state)
    if key is None:
        return None
    if key in absent:
        empty = _no_entity(state)
        if empty is not None:
            return empty
    found = state.invoke_statement().freeze()
    if not found.data:
        absent.add(key)
    return found()


@sa_event.listens_for(Session, "after_flush")
def _forget_absent(session: Session, *_args: Any) -> None:
    """The session wrote rows of its own: what it found absent may be there now."""
    known = WRITES.peek(session)
    if known is not None and known.absent_keys:
        known.absent_keys.clear()


def known_absent(session: Session, key: Key) -> None:
    """Note that this write transaction has no row under `key` (read with the writers' lock,
    `services/lock_reads.read_with_the_lock`): the session answers its read without a query."""
    note_absent(session).add(key)


@dataclass(frozen=True)
class CheckScope:
    """What the checks read about some samples (and a loan), as rows of each table by column
    name: the samples and their children, their items on any loan, their open incidents; the
    loan and its agreement, with the mass issued under it (`issued_ug`)."""

    samples: frozenset[str]
    rows: dict[str, list[dict[str, Any]]]
    loans: frozenset[str] = frozenset()
    issued_ug: dict[str, int] = field(default_factory=dict)


def known_check_scope(session: Session, scope: CheckScope) -> None:
    """Note what the checks would read about some samples, read with the writers' lock before
    this write transaction wrote anything (`services/lock_reads.declare_check_scope`): the
    transaction's first unit answers its checks from it and its own rows, and its rows then go
    with the COMMIT (one round trip fewer while the lock is held)."""
    write_transaction(session).check_scope = scope


def known_items(session: Session, number: str, codes: set[str]) -> None:
    """Note every item a loan has at the start of this write transaction (read with the
    writers' lock, `services/lock_reads.query_with_the_lock`; the rows are in the session): the
    transaction's first unit then lists them without a query (`Unit.loan_items`)."""
    write_transaction(session).items_of_loans[number] = codes


def _no_entity(state: ORMExecuteState) -> Result[Any] | None:
    """An empty answer to a SELECT of one whole mapped entity (what `Session.get` runs), built
    without a query; None for any other shape of statement (it is then run)."""
    statement = state.statement
    if not isinstance(statement, Select):
        return None
    described = statement.column_descriptions
    if len(described) != 1 or described[0]["expr"] is not described[0]["entity"]:
        return None
    return IteratorResult(SimpleResultMetaData([str(described[0]["name"])]), iter(()))


# The write side loads and sets up as one piece, before a write transaction takes the writers'
# lock: importing `apply` and the checks and configuring the ORM's mappers inside a process's
# first append held the lock ~20 ms longer (PostgreSQL writers queue on it). Last: `apply`
# imports this module's Touched.
from sampleloans.ledger import apply as _apply_module  # noqa: E402

configure_mappers()
