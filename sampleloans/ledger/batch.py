"""`BatchSession`: a write-back unit of work for bulk import and replay.

It offers the part of the ORM session's interface that the services, `apply` and the checks
use (`get`, `add`, `exec`, `execute`, `flush`, `info`), so every rule runs unchanged, but it
keeps the rows of one batch in a plain identity map and writes them with one `executemany` per
table: new rows as INSERTs (in foreign-key order) and changed rows as UPDATEs.

Reads stay correct: `get` answers from the identity map first, and any query (`exec`,
`execute`) first writes what is pending, then runs on the same connection. `release()` writes
the batch and forgets its rows once there are more than `KEEP_ROWS`, so memory is bounded by
that cap, not by the ledger.

`store.append` keeps the chain head in `info["head"]` (no head query per event) and, while
`info["deferred"]` holds a `Touched`, collects what each event touched instead of checking it
at once; `check_deferred()` then runs the same checks on everything the batch touched.
"""

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from pydantic_core import PydanticUndefined
from sqlalchemy import Connection, Table
from sqlalchemy.sql.dml import Insert
from sqlmodel import SQLModel

from sampleloans.ledger import checks
from sampleloans.ledger.apply import Touched

Key = tuple[str, tuple[Any, ...]]
KEEP_ROWS = 20_000
"""Rows a batch session keeps in memory between batches before it forgets them all."""


class BatchResult:
    """The rows of a query, with the `all` / `first` / iteration a session result offers."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def all(self) -> list[Any]:
        """Every row."""
        return self._rows

    def first(self) -> Any:
        """The first row or None."""
        return self._rows[0] if self._rows else None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


class Loaded:
    """A row held by a batch: plain attributes; setting one marks the row as changed."""

    __slots__ = ("__dict__", "_changed", "_key")

    def __init__(self, values: dict[str, Any], changed: set["Key"], key: "Key") -> None:
        object.__setattr__(self, "_changed", changed)
        object.__setattr__(self, "_key", key)
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__[name] = value
        self._changed.add(self._key)

    def __repr__(self) -> str:
        return f"Loaded({self.__dict__!r})"


class _TableInfo:
    """Column names, primary key, defaults and the plain SQL a batch runs on one table."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.columns = tuple(column.name for column in table.columns)
        self.key_columns = tuple(column.name for column in table.primary_key.columns)
        key_set = set(self.key_columns)
        self.defaults: dict[str, Any] | None = None
        # plain SQL for executemany: SQLAlchemy's per-row parameter work is the bulk path's cost
        self.insert_sql = (
            f"INSERT INTO {table.name} ({', '.join(self.columns)}) "
            f"VALUES ({', '.join('?' for _ in self.columns)})"
        )
        self.value_columns = tuple(name for name in self.columns if name not in key_set)
        self.value_positions = tuple(self.columns.index(name) for name in self.value_columns)
        self.update_sql = (
            f"UPDATE {table.name} SET {', '.join(f'{name} = ?' for name in self.value_columns)} "
            f"WHERE {' AND '.join(f'{name} = ?' for name in self.key_columns)}"
        )
        self.converters: list[tuple[int, Any]] | None = None
        self.select_sql = (
            f"SELECT {', '.join(self.columns)} FROM {table.name} "
            f"WHERE {' AND '.join(f'{name} = ?' for name in self.key_columns)}"
        )
        self.readers: list[tuple[str, Any]] | None = None

    def read(self, row: Any, dialect: Any) -> dict[str, Any]:
        """A stored row as Python values (the column types' own result processors)."""
        if self.readers is None:
            self.readers = []
            for column in self.table.columns:
                process = column.type.result_processor(dialect, None)
                if process is not None:
                    self.readers.append((column.name, process))
        values = dict(zip(self.columns, row, strict=True))
        for name, process in self.readers:
            values[name] = process(values[name])
        return values

    def stored(self, values: tuple[Any, ...], dialect: Any) -> tuple[Any, ...]:
        """Column values as SQLite stores them (the column types' own bind processors)."""
        if self.converters is None:
            self.converters = []
            for n, column in enumerate(self.table.columns):
                process = column.type.bind_processor(dialect)
                if process is not None:
                    self.converters.append((n, process))
        if not self.converters:
            return values
        converted = list(values)
        for n, process in self.converters:
            converted[n] = process(converted[n])
        return tuple(converted)

    def values(self, row: Any) -> tuple[Any, ...]:
        """The row's column values, in column order."""
        return tuple(map(row.__dict__.__getitem__, self.columns))

    def defaults_of(self, model: type[SQLModel]) -> dict[str, Any]:
        """The default value of every column of the model (None where it has none)."""
        if self.defaults is None:
            self.defaults = {}
            for name in self.columns:
                field = model.model_fields.get(name)
                value = None if field is None else field.get_default(call_default_factory=True)
                self.defaults[name] = None if value is PydanticUndefined else value
        return self.defaults


_TABLES: dict[str, _TableInfo] = {}
_ORDER = {table.name: n for n, table in enumerate(SQLModel.metadata.sorted_tables)}


def _info(table: Table) -> _TableInfo:
    """The cached description of a table."""
    found = _TABLES.get(table.name)
    if found is None:
        found = _TABLES[table.name] = _TableInfo(table)
    return found


class BatchSession:
    """A session-like write-back cache over one Core connection (see the module docstring)."""

    def __init__(
        self, connection: Connection, *, defer_checks: bool = False, read_only: bool = False
    ) -> None:
        self.connection = connection
        self.read_only = read_only  # queries return plain rows, not tracked (less memory)
        self.defer_checks = defer_checks
        self.info: dict[str, Any] = {}
        self._rows: dict[Key, Loaded] = {}  # the identity map
        self._changed: set[Key] = set()  # rows set since they were last written
        self._pending: dict[str, list[Any]] = defaultdict(list)  # table → new rows or dicts
        self._raw: set[str] = set()  # tables with buffered INSERT values (not in the identity map)
        self.reset()

    def reset(self) -> None:
        """Forget every row, pending write and cached value, as after the batch's rollback.

        The rows it holds may carry changes the rollback undid in the database, and the chain
        head it remembers may be gone: everything is read again from the database.
        """
        self.info = {"head": None}
        if self.defer_checks:
            self.info["deferred"] = Touched()
        self._rows.clear()
        self._changed.clear()
        self._pending.clear()
        self._raw.clear()

    # --- reads ----------------------------------------------------------------------------------

    def get(self, model: type[SQLModel], key: Any) -> Loaded | None:
        """A row by primary key: from this batch if it is here, else from the database."""
        info = _info(model.__table__)  # type: ignore[attr-defined]
        ident = key if isinstance(key, tuple) else (key,)
        found = self._rows.get((info.table.name, ident))
        if found is not None:
            return found
        if info.table.name in self._raw:  # a row buffered by `execute` may be the one asked for
            self.write()
        # the driver's cursor: SQLAlchemy's result set-up per lookup costs more than the lookup
        row = self._driver().execute(info.select_sql, ident).fetchone()
        if row is None:
            return None
        name = (info.table.name, ident)
        loaded = self._rows[name] = Loaded(
            info.read(row, self.connection.dialect), self._changed, name
        )
        return loaded

    def exec(self, statement: Any) -> BatchResult:
        """Run a select after writing what is pending; entities come from the identity map."""
        self.write()
        result = self.connection.execute(statement)
        described = statement.column_descriptions
        if len(described) == 1 and described[0]["expr"] is described[0]["entity"]:
            if self.read_only:
                return BatchResult(list(result))
            info = _info(described[0]["entity"].__table__)
            return BatchResult([self._adopt(info, row) for row in result])
        if len(described) == 1:
            return BatchResult([row[0] for row in result])
        return BatchResult(list(result))

    def execute(self, statement: Any, params: Any = None) -> Any:
        """Buffer an INSERT; run anything else after writing what is pending."""
        if isinstance(statement, Insert) and params is not None:
            rows = params if isinstance(params, list) else [params]
            self._pending[statement.table.name].extend(dict(row) for row in rows)  # type: ignore[attr-defined]
            self._raw.add(statement.table.name)  # type: ignore[attr-defined]
            return None
        self.write()
        return self.connection.execute(statement, params)

    def _adopt(self, info: _TableInfo, row: Any) -> Loaded:
        """The identity-map object of a database row."""
        name = (info.table.name, tuple(getattr(row, column) for column in info.key_columns))
        known = self._rows.get(name)
        if known is None:
            known = self._rows[name] = Loaded(row._mapping, self._changed, name)
        return known

    # --- writes ---------------------------------------------------------------------------------

    def add(self, row: Any) -> None:
        """Track a new row (inserted at the next write); a row read from this batch is tracked.

        The batch keeps a copy of a new model object: set its fields before adding it, and
        `get` it again to change it afterwards (as `apply` does).
        """
        if isinstance(row, Loaded):
            return
        info = _info(row.__table__)
        self.insert_row(type(row), {column: getattr(row, column) for column in info.columns})

    def insert_row(self, model: type[SQLModel], values: dict[str, Any]) -> None:
        """Track a new row given by its field values (the model's defaults fill the rest)."""
        info = _info(model.__table__)  # type: ignore[attr-defined]
        row = {**info.defaults_of(model), **values}
        name = (info.table.name, tuple(row[column] for column in info.key_columns))
        copy = Loaded(row, self._changed, name)
        self._rows[name] = copy
        self._pending[info.table.name].append(copy)

    def flush(self) -> None:
        """Nothing to do: reads of this session already see every pending change."""

    def write(self) -> None:
        """INSERT the new rows (parents first), then UPDATE the rows changed since read."""
        pending, self._pending = self._pending, defaultdict(list)
        self._raw.clear()
        dialect = self.connection.dialect
        for table_name in sorted(pending, key=_ORDER.__getitem__):
            info = _info_of(table_name)
            rows = []
            for row in pending[table_name]:
                if isinstance(row, dict):
                    values = tuple(row[name] for name in info.columns)
                else:
                    values = info.values(row)
                    self._changed.discard(row._key)
                rows.append(info.stored(values, dialect))
            self._driver().executemany(info.insert_sql, rows)
        if self._changed:
            self._write_changes()

    def _write_changes(self) -> None:
        """One executemany UPDATE per table for the rows set since they were last written."""
        by_table: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        dialect = self.connection.dialect
        for name in self._changed:
            info = _TABLES[name[0]]
            row = self._rows[name].__dict__
            stored = info.stored(tuple(row[column] for column in info.columns), dialect)
            by_table[name[0]].append(tuple(stored[n] for n in info.value_positions) + name[1])
        self._changed.clear()
        for table_name, rows in by_table.items():
            self._driver().executemany(_TABLES[table_name].update_sql, rows)

    def release(self) -> None:
        """Write everything; forget the rows once there are more than `KEEP_ROWS` (bounded memory).

        Rows stay valid across batches because nothing else writes in this transaction, so the
        reference rows every record reads (people, agreements, loans) are not read again.
        """
        self.write()
        if len(self._rows) > KEEP_ROWS:
            self._rows.clear()

    def _driver(self) -> Any:
        """The DB-API connection under this session's connection (same transaction).

        Batch writes and key reads go to it directly: SQLAlchemy's per-statement set-up costs
        more than SQLite's work for the few rows a mid-batch write usually carries.
        """
        return self.connection.connection.driver_connection

    def check_deferred(self) -> list[checks.Violation]:
        """Run every check on what the deferred events touched, then start a new collection."""
        touched: Touched = self.info["deferred"]
        self.info["deferred"] = Touched()
        return checks.check_touched(self, touched)


def _info_of(table_name: str) -> _TableInfo:
    """The description of a table by name."""
    return _info(SQLModel.metadata.tables[table_name])
