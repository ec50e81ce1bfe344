"""Engine factory, schema creation and the one way to run a transaction.

SQLite on Python 3.11: pysqlite's own transaction handling is switched off and every write
transaction starts with `BEGIN IMMEDIATE` (the SQLAlchemy docs' "serializable isolation"
recipe). Without it, concurrent writers either fail with "database is locked" or read the same
chain head and fork the hash chain.
"""

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlmodel import Session, SQLModel

from sampleloans import crashpoints, models
from sampleloans.errors import StorageError

DEFAULT_LOCK_TIMEOUT_MS = 10_000

APPEND_ONLY_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS ledger_event_no_update BEFORE UPDATE ON ledger_event
       BEGIN SELECT RAISE(ABORT, 'ledger events are append-only: record a correction'); END""",
    """CREATE TRIGGER IF NOT EXISTS ledger_event_no_delete BEFORE DELETE ON ledger_event
       BEGIN SELECT RAISE(ABORT, 'ledger events are append-only: record a correction'); END""",
    """CREATE TRIGGER IF NOT EXISTS ledger_meta_no_update BEFORE UPDATE ON ledger_meta
       BEGIN SELECT RAISE(ABORT, 'ledger metadata is written once'); END""",
    """CREATE TRIGGER IF NOT EXISTS ledger_meta_no_delete BEFORE DELETE ON ledger_meta
       BEGIN SELECT RAISE(ABORT, 'ledger metadata is written once'); END""",
)
TRIGGER_NAMES = (
    "ledger_event_no_update",
    "ledger_event_no_delete",
    "ledger_meta_no_update",
    "ledger_meta_no_delete",
)


def sqlite_path(url: str) -> Path | None:
    """The file path of a `sqlite:///…` URL, or None for memory or other databases."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url in ("sqlite://", "sqlite:///:memory:"):
        return None
    return Path(url[len(prefix) :])


def url_for_path(path: Path | str) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path)}"


def create_private_file(path: Path) -> None:
    """Create an empty file readable only by its owner (SQLite itself would use 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


def make_engine(url: str, *, lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS) -> Engine:
    """An engine with the pragmas and transaction handling every connection needs."""
    engine = create_engine(url, poolclass=_pool_for(url))
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, lock_timeout_ms)
    return engine


def _pool_for(url: str) -> Any:
    """In-memory databases must share one connection; files use a fresh one per use."""
    from sqlalchemy.pool import NullPool, StaticPool

    return StaticPool if sqlite_path(url) is None else NullPool


def _configure_sqlite(engine: Engine, lock_timeout_ms: int) -> None:
    """Pragmas on connect; `BEGIN IMMEDIATE` for writes, deferred `BEGIN` for reads."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(lock_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if sqlite_path(str(engine.url)) is not None:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def create_schema(engine: Engine) -> None:
    """Create every table, index and append-only trigger (idempotent)."""
    SQLModel.metadata.create_all(engine)
    with engine.begin() as connection:
        for statement in APPEND_ONLY_TRIGGERS:
            connection.exec_driver_sql(statement)


def open_engine(url: str, *, create: bool = False, lock_timeout_ms: int | None = None) -> Engine:
    """Open an existing ledger database (or create a new one when `create`)."""
    path = sqlite_path(url)
    if path is not None:
        if create:
            if path.exists():
                raise StorageError(
                    f"database {path} already exists; choose another --db or use the existing one"
                )
            create_private_file(path)
        elif not path.is_file():
            raise StorageError(
                f"no database at {path}; run 'sampleloans init' or pass --db / SAMPLELOANS_DB"
            )
    timeout = DEFAULT_LOCK_TIMEOUT_MS if lock_timeout_ms is None else lock_timeout_ms
    engine = make_engine(url, lock_timeout_ms=timeout)
    if create:
        create_schema(engine)
    return engine


def _is_locked(exc: OperationalError) -> bool:
    """Whether SQLite gave up waiting for another writer."""
    return "locked" in str(exc.orig).lower() or "busy" in str(exc.orig).lower()


@contextmanager
def transaction(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error.

    Services only `flush`; this is the one place that commits.
    """
    bound = engine.execution_options(sqlite_begin="IMMEDIATE" if write else "DEFERRED")
    session = Session(bound, expire_on_commit=False, autoflush=True)
    try:
        yield session
        if write:
            crashpoints.reached("before_commit")
        session.commit()
        if write:
            crashpoints.reached("after_commit")
    except DatabaseError as exc:
        session.rollback()
        if not isinstance(exc, OperationalError) and "not a database" in str(exc.orig):
            raise StorageError(
                f"{engine.url.database} is not a ledger database (SQLite says: file is not a "
                "database); check --db / SAMPLELOANS_DB"
            ) from exc
        if not isinstance(exc, OperationalError):
            raise
        if _is_locked(exc):
            raise StorageError(
                "the database is locked by another writer past the lock timeout; nothing was "
                "written, try again (or raise SAMPLELOANS_LOCK_TIMEOUT)"
            ) from exc
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def projection_tables() -> list[str]:
    """Names of the tables rebuilt by a replay, in a stable order."""
    return [model.__tablename__ for model in models.PROJECTION_TABLES]  # type: ignore[attr-defined]


def integrity_problems(engine: Engine) -> list[str]:
    """SQLite's own `PRAGMA integrity_check`; an empty list when the file is sound."""
    with engine.connect() as connection:
        rows = connection.execute(text("PRAGMA integrity_check")).fetchall()
    results = [str(row[0]) for row in rows]
    return [] if results == ["ok"] else results


def missing_triggers(engine: Engine) -> list[str]:
    """The append-only triggers that are not in the schema."""
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        ).fetchall()
    present = {row[0] for row in rows}
    return [name for name in TRIGGER_NAMES if name not in present]


def create_ledger_file(path: Path, build: Callable[[Engine], None]) -> None:
    """Build a new database in a private temp file beside `path`, then link it into place.

    A crash or an error at any point leaves either no file at `path` or a complete ledger,
    never tables without a ledger; an existing file is never replaced.
    """
    if path.exists():
        raise StorageError(
            f"database {path} already exists; choose another --db or use the existing one"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.creating")
    engine = open_engine(url_for_path(temp), create=True)
    try:
        build(engine)
        engine.dispose()  # the last connection closing checkpoints and removes the -wal
        os.link(temp, path)  # fails instead of replacing a file that appeared meanwhile
    except FileExistsError:
        raise StorageError(
            f"database {path} already exists; choose another --db or use the existing one"
        ) from None
    finally:
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{temp}{suffix}").unlink(missing_ok=True)


BULK_CACHE_KIB = -65_536
"""SQLite page cache for bulk work (negative = KiB, so 64 MiB): a replay or an import of a large
ledger inserts into indexes far bigger than the default 2 MiB cache. Fixed, whatever the size."""


def use_bulk_cache(connection: Any) -> None:
    """Give this connection the bulk page cache (for an import)."""
    connection.exec_driver_sql(f"PRAGMA cache_size = {BULK_CACHE_KIB}")


def scratch_engine(path: Path) -> Engine:
    """A throwaway SQLite file for a replay: no journal and no fsync (it is deleted after)."""
    engine = create_engine(url_for_path(path), poolclass=_pool_for(url_for_path(path)))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode = OFF")
        cursor.execute("PRAGMA synchronous = OFF")
        cursor.execute(f"PRAGMA cache_size = {BULK_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine
