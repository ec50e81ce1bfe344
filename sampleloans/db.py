"""Engine factory, schema creation and the one way to run a transaction.

SQLite on Python 3.11: pysqlite's own transaction handling is switched off and every write
transaction starts with `BEGIN IMMEDIATE` (the SQLAlchemy docs' "serializable isolation"
recipe). Without it, concurrent writers either fail with "database is locked" or read the same
chain head and fork the hash chain.
"""

import collections
import functools
import itertools
import logging
import os
import re
import shutil
import sqlite3
import stat
import threading
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager, nullcontext, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, ClassVar, Generic, NamedTuple, Protocol, TypeVar, cast
from urllib.parse import quote, unquote

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    Integer,
    String,
    Table,
    create_engine,
    event,
    inspect,
    make_url,
    text,
)
from sqlalchemy.exc import DatabaseError, DBAPIError, IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.pool import NullPool
from sqlmodel import AutoString, Session, SQLModel

from sampleloans import crashpoints, fileio, interrupts, models
from sampleloans.errors import (
    DamagedFile,
    EditedTable,
    InvalidInput,
    PermissionDenied,
    SampleLoansError,
    StorageError,
)
from sampleloans.text import counted

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
CHECKPOINT_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS checkpoint_no_update BEFORE UPDATE ON checkpoint
       BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS checkpoint_no_delete BEFORE DELETE ON checkpoint
       BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END""",
)
"""The checkpoint table's append-only triggers on SQLite (revision 0004 adds the table; a
ledger that made it on first use before then has the same ones)."""
NOTIFICATION_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS notification_sent_no_update BEFORE UPDATE ON notification_sent
       BEGIN SELECT RAISE(ABORT, 'notifications sent are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS notification_sent_no_delete BEFORE DELETE ON notification_sent
       BEGIN SELECT RAISE(ABORT, 'notifications sent are append-only'); END""",
)
"""The append-only triggers of `notification_sent` on SQLite (revision 0013): a row deleted by
hand would send a message twice, a row changed would hide what was sent."""
NOTIFICATION_TRIGGERS_SINCE = "0013_notification_append_only"
"""The revision that adds them: a ledger before it has none, and `verify` expects none."""


def sqlite_path(url: str) -> Path | None:
    """The file path of a `sqlite:///…` URL, or None for memory or other databases."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url in ("sqlite://", "sqlite:///:memory:"):
        return None
    # the inverse of `url_for_path`, and of SQLAlchemy's own rendering of an engine's URL,
    # which escapes `%`, `#` and letters beyond ASCII (`é` is `%C3%A9` there)
    return Path(unquote(url[len(prefix) :]))


def refuse_query_mark(given: str, option: str, hint: str = "") -> None:
    """Refuse (exit 2) a SQLite file's path holding "?", led by the option it was typed in: a
    URL reads what follows "?" as options, so the ledger would be opened (or created) elsewhere."""
    if "?" not in given:
        return
    from sampleloans.units import quote_input

    shown = quote_input(given, limit=4096)  # whole: where the '?' is matters
    raise InvalidInput(
        f"{option}: {shown} holds a '?', which a database URL reads as the start of its "
        f"options; use a file and folder names without '?'{hint}"
    )


def url_for_path(path: Path | str) -> str:
    """The SQLAlchemy URL of a SQLite file; a path holding "?" is refused (exit 2): a URL reads
    what follows it as options, so the ledger would be opened (or created) elsewhere."""
    refuse_query_mark(str(path), "database path")
    # SQLAlchemy reads `%XX` in a URL as an escape: a literal `%` is written `%25`, so that
    # `a%41.db` names that file, not `aA.db`
    return f"sqlite:///{str(Path(path)).replace('%', '%25')}"


def _exists_message(path: Path) -> str:
    """Why a new ledger cannot be made at `path`: something is there already."""
    dangling = fileio.dangling_link_problem(path)
    if dangling is not None:
        return dangling
    with suppress(OSError):
        mode = path.lstat().st_mode
        if not stat.S_ISREG(mode):
            return (
                f"--db: {path} is {fileio.kind_of_file(mode)}; give a new file name for the "
                "new ledger"
            )
    return f"--db: {path} already exists; choose another --db or use the existing one"


def create_private_file(path: Path) -> None:
    """Create an empty file readable only by its owner (SQLite itself would use 0644)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise StorageError(_exists_message(path)) from None
    except OSError as exc:
        raise StorageError(f"cannot create the database {path}: {exc.strerror}") from None
    os.close(fd)


def file_uri(path: Path, *, read_only: bool = False, immutable: bool = False) -> str:
    """A SQLite `file:` URI for `path` (escaped: a name may hold `?`, `#` or `%`)."""
    options = []
    if read_only or immutable:
        options.append("mode=ro")
    if immutable:
        options.append("immutable=1")
    query = f"?{'&'.join(options)}" if options else ""
    return f"file:{quote(str(path.absolute()))}{query}"


def on_read_only_medium(path: Path) -> bool:
    """Whether `path` lies on a file system mounted read-only (nobody can change it there)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def make_engine(
    url: str, *, lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS, read_only: bool = False
) -> Engine:
    """An engine with the pragmas and transaction handling every connection needs.

    `read_only` (a ledger on a read-only mount) opens the file immutable: SQLite then needs no
    -shm beside it, reads work, and any write fails with SQLITE_READONLY (exit 3).
    """
    if is_postgres_url(url):
        return _make_postgres_engine(url, lock_timeout_ms)
    path = sqlite_path(url)
    if read_only and path is not None:
        uri = file_uri(path, immutable=True)
        engine = create_engine(
            url,
            poolclass=_pool_for(url),
            creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
        )
    else:
        engine = create_engine(url, poolclass=_pool_for(url))
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, lock_timeout_ms, wal=path is not None and not read_only)
    return engine


def _pool_for(url: str) -> Any:
    """In-memory databases must share one connection; files use a fresh one per use."""
    from sqlalchemy.pool import StaticPool

    return StaticPool if sqlite_path(url) is None else NullPool


def _configure_sqlite(engine: Engine, lock_timeout_ms: int, *, wal: bool) -> None:
    """Pragmas on connect; `BEGIN IMMEDIATE` for writes, deferred `BEGIN` for reads."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        with schema_text_as_damage():
            cursor.execute(f"PRAGMA busy_timeout = {int(lock_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        if wal and mode == "IMMEDIATE":
            # switched to WAL by the first write, never by a read: a read leaves the file as
            # it was, byte for byte (a VACUUM INTO copy in DELETE mode keeps its header)
            with closing(connection.connection.dbapi_connection.cursor()) as cursor:
                _use_wal(cursor)
        connection.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def schema_text_as_damage() -> Iterator[None]:
    """SQLite's error for a schema it cannot parse quotes the schema's text; a flipped byte there
    makes the message itself no UTF-8, and Python's `sqlite3` raises `UnicodeDecodeError` where
    it would raise the error. Raised here as the damage it is (SQLITE_CORRUPT, the message read
    with U+FFFD for the bad bytes), which `verify` reports as a finding and a command as one
    line, exit 3. Only error messages reach this: an undecodable column value is SQLite's own
    "Could not decode" error."""
    try:
        yield
    except UnicodeDecodeError as exc:
        said = bytes(exc.object).decode("utf-8", errors="replace")
        damage = sqlite3.DatabaseError(said)
        damage.sqlite_errorcode = sqlite3.SQLITE_CORRUPT
        damage.sqlite_errorname = "SQLITE_CORRUPT"
        raise damage from None


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Switch to WAL; a ledger file we may not write keeps its mode (reads work, writes then
    fail with SQLITE_READONLY, which `transaction` reports as exit 3)."""
    try:
        cursor.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError as exc:
        if not str(exc.sqlite_errorname).startswith("SQLITE_READONLY"):
            raise


def create_schema(engine: Engine, *, stamp: bool = False) -> None:
    """Create every table, index and append-only trigger (idempotent); with `stamp`, a new
    ledger's schema is recorded as this release's migration head (`db upgrade` starts there)."""
    if engine.dialect.name == "postgresql":
        _create_postgres_schema(engine, stamp=stamp)
        return
    try:
        SQLModel.metadata.create_all(engine)
        with engine.begin() as connection:
            for statement in (*APPEND_ONLY_TRIGGERS, *CHECKPOINT_TRIGGERS, *NOTIFICATION_TRIGGERS):
                connection.exec_driver_sql(statement)
            if stamp:
                _stamp_head(connection)
    except DatabaseError as exc:  # a full or read-only disk: one line, exit 3
        raise_if_environment(exc, str(engine.url.database), what="the new database")
        raise


_USERS_LEDGERS: "weakref.WeakSet[Engine]" = weakref.WeakSet()
"""Engines on the user's existing ledger (`open_engine` without `create`): a commit there is
kept whatever happens next, so an interrupt or error after it must not ask for a rerun."""


def open_engine(url: str, *, create: bool = False, lock_timeout_ms: int | None = None) -> Engine:
    """Open an existing ledger database (or create a new one when `create`).

    An existing file is first proved to be a ledger without writing to it (see
    `check_ledger_file`): nothing, not even a pragma, touches a file that is not ours.
    """
    engine = _open_engine(url, create=create, lock_timeout_ms=lock_timeout_ms)
    if not create:
        _USERS_LEDGERS.add(engine)
    return engine


def _open_engine(url: str, *, create: bool, lock_timeout_ms: int | None) -> Engine:
    """`open_engine`'s work: the engine of an existing ledger, or of a new one."""
    timeout = DEFAULT_LOCK_TIMEOUT_MS if lock_timeout_ms is None else lock_timeout_ms
    if is_postgres_url(url):
        return _open_postgres(url, create=create, lock_timeout_ms=timeout)
    path = sqlite_path(url)
    if path is None:
        engine = make_engine(url, lock_timeout_ms=timeout)
    elif create:
        if os.path.lexists(path):
            raise StorageError(_exists_message(path))
        fileio.refuse_new_database(path, "--db")
        create_private_file(path)
        engine = make_engine(url, lock_timeout_ms=timeout)
    else:
        check_sidecars(path)  # before the probe of `check_ledger_file` opens the file
        check_ledger_file(path)
        read_only = on_read_only_medium(path)
        if not read_only:  # a killed restore's or init's copy of a ledger does not stay behind
            fileio.remove_stale_temps(path.parent if str(path.parent) else Path("."))
            _writable_sidecars(path)
            read_only = _shm_not_ours_without_wal(path)
        engine = make_engine(url, lock_timeout_ms=timeout, read_only=read_only)
        _check_opens(engine, path)
    if create:
        create_schema(engine, stamp=True)
    return engine


def _writable_sidecars(path: Path) -> None:
    """Give the ledger's -wal and -shm back the ledger's own mode when they are read-only but
    the ledger is not: SQLite gives them the ledger's mode when it makes them, so a read while
    the ledger was read-only (chmod 444) leaves read-only ones, and once the ledger is writable
    again every write would fail with SQLITE_READONLY. Only files of this account change."""
    if not os.access(path, os.W_OK):
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    for sidecar in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            info = sidecar.lstat()
        except OSError:
            continue
        ours = stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()
        if ours and not os.access(sidecar, os.W_OK):
            with suppress(OSError):  # then the message names the file
                sidecar.chmod(mode)


def check_sidecars(path: Path) -> None:
    """Refuse (exit 3) a ledger whose -wal or -shm is not a regular file (a folder, a symbolic
    link, a device): SQLite would fail on it with a message naming neither file, or follow a
    link and write its log wherever it points."""
    for sidecar in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = sidecar.lstat().st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            raise StorageError(
                f"cannot use the ledger {path}: {sidecar} beside it is "
                f"{fileio.kind_of_file(mode)}, not SQLite's own file; move it away (nothing "
                "was written)"
            )


def _shm_not_ours_without_wal(path: Path) -> bool:
    """Whether to open the ledger immutable: its -shm exists and this account may not write
    it (another account's), and there is no -wal, so the file holds every commit. SQLite would
    otherwise make an empty -wal that it cannot remove (it may not write the -shm), left
    behind by every command; a write then fails with SQLITE_READONLY, naming the -shm."""
    shm = Path(f"{path}-shm")
    return shm.exists() and not os.access(shm, os.W_OK) and not os.path.lexists(f"{path}-wal")


SQLITE_MAGIC = b"SQLite format 3\x00"
LEDGER_TABLES = ("ledger_event", "ledger_meta")
"""Tables every sampleloans ledger has from its creation; another application's file lacks
them."""


def check_ledger_file(path: Path) -> None:
    """Refuse (exit 3) a --db that is missing, not a regular file, empty, not SQLite, or
    another application's SQLite file — reading it only, so that such a file is never
    written, not even switched to WAL (which rewrites its header)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise StorageError(
            fileio.dangling_link_problem(path)
            or f"no database at {path}; run 'sampleloans init' or pass --db / SAMPLELOANS_DB"
        ) from None
    except OSError as exc:  # a loop of symbolic links is named as one
        raise StorageError(
            fileio.dangling_link_problem(path)
            or f"--db: cannot open the ledger {path}: {exc.strerror} (check --db / SAMPLELOANS_DB)"
        ) from None
    if not stat.S_ISREG(mode):
        raise StorageError(
            f"--db: {path} is not a regular file; give the ledger database file "
            "(check --db / SAMPLELOANS_DB)"
        )
    fileio.refuse_unnamable_sidecars(path, "--db")
    header = _read_header(path)
    if not header:
        raise StorageError(
            f"--db: {path} is an empty file, not a ledger; create one with 'sampleloans init' "
            "(check --db / SAMPLELOANS_DB)"
        )
    if not header.startswith(SQLITE_MAGIC):
        raise StorageError(
            f"{path} is not a ledger database (SQLite says: file is not a database); "
            "check --db / SAMPLELOANS_DB"
        )
    if not _has_ledger_tables(path, wal_header=header[18:20] == b"\x02\x02"):
        raise StorageError(
            f"--db: {path} is a SQLite database of another application (it has no "
            f"{' or '.join(LEDGER_TABLES)} table); it was not changed; check --db / "
            "SAMPLELOANS_DB"
        )


def not_a_ledger(path: Path) -> str | None:
    """Why the regular file at `path` is plainly no ledger (empty, not SQLite, or another
    application's SQLite file: `restore` takes it for a backup), else None; read only. A file
    SQLite cannot read through is left to `verify`, which names its damage."""
    header = _read_header(path)
    if not header:
        return "is an empty file, not a ledger backup"
    if not header.startswith(SQLITE_MAGIC):
        return "is not a ledger backup (not a SQLite database)"
    try:
        # immutable (no lock, nothing created beside it) unless a writer's -wal or -journal
        # is there, whose committed tables the main file may not hold yet
        busy = any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-journal"))
        rows = _ledger_tables_in(file_uri(path, read_only=True, immutable=not busy))
    except sqlite3.DatabaseError:
        return None  # damaged: the backup's verify says how (exit 1)
    if len(rows) < len(LEDGER_TABLES):
        return (
            "is a SQLite database of another application, not a ledger backup (it has no "
            f"{' or '.join(LEDGER_TABLES)} table)"
        )
    return None


def _read_header(path: Path) -> bytes:
    """The first 100 bytes of a file (SQLite's header), read without changing anything."""
    try:
        with open(path, "rb") as handle:
            return handle.read(100)
    except OSError as exc:
        raise StorageError(f"cannot read the ledger {path}: {exc.strerror}") from None


def _has_ledger_tables(path: Path, *, wal_header: bool, busy: bool | None = None) -> bool:
    """Whether the file's schema has the ledger's tables, read through a read-only connection.

    With no -wal or -journal beside it, nobody has the file open for writing, so it is read
    immutable: no lock, and no -wal/-shm is created beside another application's file.
    A schema SQLite cannot read is damage for `verify` to report when the file is in WAL mode
    (ours always are, so reading it changes nothing); otherwise it is refused.
    """
    if busy is None:
        busy = any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-journal"))
    try:
        rows = _ledger_tables_in(file_uri(path, read_only=True, immutable=not busy))
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorname == "SQLITE_CORRUPT" and wal_header:
            return True
        if exc.sqlite_errorname == "SQLITE_READONLY_ROLLBACK":
            # a hot -journal beside it (a crash, or a stale copy) that a read-only probe may
            # not roll back: the main file alone says whether it is ours; if it is, opening
            # it rolls the journal back as SQLite always does
            return _has_ledger_tables(path, wal_header=wal_header, busy=False)
        mapped = storage_error(exc, path)
        if mapped is not None:
            raise mapped from None
        raise StorageError(
            f"cannot tell whether {path} is a ledger (SQLite says: {exc}); it was not changed"
        ) from None
    return len(rows) == len(LEDGER_TABLES)


def _ledger_tables_in(uri: str) -> list[Any]:
    """The ledger's tables found in the schema of the database at `uri`."""
    with _closing_connection(uri) as probe, schema_text_as_damage():
        return probe.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
            LEDGER_TABLES,
        ).fetchall()


class _RawConnection(sqlite3.Connection):
    """A plain connection to a ledger file whose statements raise a schema that SQLite cannot
    parse as damage, never as `UnicodeDecodeError` (`schema_text_as_damage`)."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        """`sqlite3.Connection.execute`, a damaged schema's undecodable message mapped."""
        with schema_text_as_damage():
            return super().execute(sql, parameters)


def raw_connect(database: str | Path, **options: Any) -> sqlite3.Connection:
    """`sqlite3.connect` for the plain connections that copy, probe or read a ledger file
    outside SQLAlchemy (whose connections `_on_connect` guards the same way)."""
    return sqlite3.connect(database, factory=_RawConnection, **options)


@contextmanager
def _closing_connection(uri: str) -> Iterator[sqlite3.Connection]:
    """A raw SQLite connection to a URI, closed afterwards."""
    connection = raw_connect(uri, uri=True)
    try:
        yield connection
    finally:
        connection.close()


def _check_opens(engine: Engine, path: Path) -> None:
    """Open one connection now, so that a ledger SQLite cannot open (an unwritable folder for
    its -shm, a permission) is an environment error here, not damage reported by `verify`."""
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
    except DatabaseError as exc:
        mapped = storage_error(exc, path, damage=False)
        if mapped is not None:
            raise mapped from None
        # damage (a malformed schema page) is left for `verify` to report


LOCKED_MESSAGE = (
    "the database is locked by another writer past the lock timeout; nothing was written, try "
    "again (or raise SAMPLELOANS_LOCK_TIMEOUT)"
)
FULL_DISK_BYTES = 1 << 20
"""Below this much free space, an I/O error is reported as a full disk."""


def storage_error(
    exc: BaseException, path: Path | str, *, damage: bool = True, what: str = "the ledger"
) -> SampleLoansError | None:
    """The one-line environment error (exit 3) for a SQLite error, or None if it is not one.

    Covers a lock held past the timeout, a read-only file or mount, a full disk (also an
    RLIMIT_FSIZE), I/O errors, a file SQLite cannot open, and (with `damage`) a damaged file.
    """
    orig = getattr(exc, "orig", None) or exc
    if hasattr(orig, "sqlstate"):  # a psycopg error
        return postgres_error(exc, str(path))
    if not isinstance(orig, sqlite3.Error):
        return None
    # the primary code of an extended one: SQLITE_IOERR_WRITE -> SQLITE_IOERR
    code = "_".join(str(getattr(orig, "sqlite_errorname", "")).split("_")[:2])
    if str(orig).startswith(NOT_UTF8_TEXT) and damage:  # Python's, after SQLite read it fine
        return DamagedFile(_damaged_message(Path(path), str(orig), what))
    if code == "SQLITE_ERROR" and str(orig).startswith(SCHEMA_CHANGED_ERRORS) and damage:
        return DamagedFile(_schema_changed_message(Path(path), str(orig), what))
    if code == "SQLITE_ERROR" and str(orig) == SUM_OVERFLOW:
        return EditedTable(
            f"a total of stored masses in {what} {path} is beyond SQLite's integers (no "
            "ledger comes near it: each mass this program records is checked): the ledger's "
            "tables were edited outside sampleloans; run 'sampleloans verify' and restore the "
            "latest verified backup"
        )
    message = _ENVIRONMENT_MESSAGES.get(code)
    if message is None or (code == "SQLITE_CORRUPT" and not damage):
        return None
    kind = DamagedFile if code == "SQLITE_CORRUPT" else StorageError
    return kind(message(Path(path), str(orig), what))


SUM_OVERFLOW = "integer overflow"
"""SQLite's words when sum() of a column passes its largest integer: only masses edited into a
table by hand reach it."""
NOT_UTF8_TEXT = "Could not decode to UTF-8 column "
"""Python's `sqlite3` on a text value that is not UTF-8: the ledger writes only UTF-8, so a
flipped byte (in a table or an index page) made it; damage, as SQLITE_CORRUPT is."""
SCHEMA_CHANGED_ERRORS = ("no such column: ", "no such table: ")
"""SQLite's words for a statement of this release on a table or column the file lacks: its
schema was changed by hand (every revision only adds tables, which `require_table` guards)."""


DATA_CODES = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
"""Codes that describe the file's content (damage `verify` reports), not the environment."""


def raise_if_environment(exc: BaseException, path: Path | str, *, what: str = "the ledger") -> None:
    """Raise the environment error (exit 3) for a full disk, an I/O error, a lock or a
    read-only file, so that `verify` never reports one as a problem of the ledger."""
    orig = getattr(exc, "orig", None) or exc
    code = "_".join(str(getattr(orig, "sqlite_errorname", "")).split("_")[:2])
    mapped = None if code in DATA_CODES else storage_error(exc, path, what=what)
    if mapped is not None and not isinstance(mapped, DamagedFile):  # damage is a finding
        raise mapped from None


def _read_only_message(path: Path, _said: str, what: str) -> str:
    return (
        f"cannot write {what} {path}: {_why_read_only(path)}; nothing was written "
        "(reading commands still work)"
    )


def _full_message(path: Path, _said: str, what: str) -> str:
    return (
        f"the disk holding {what} {path} (or TMPDIR) is full, or a file size limit was "
        "reached; nothing was written; free some space and try again"
    )


def _io_message(path: Path, said: str, what: str) -> str:
    if _free_bytes(path) < FULL_DISK_BYTES:
        return _full_message(path, said, what)
    return (
        f"reading or writing {what} {path} failed (SQLite says: {said}); nothing was "
        "written; check the disk, its free space and any file size limit (ulimit -f), then "
        "try again"
    )


def _cannot_open_message(path: Path, said: str, what: str) -> str:
    return (
        f"cannot open {what} {path} (SQLite says: {said}); the file must be readable and "
        f"its folder writable (SQLite keeps {path.name}-wal and -shm beside it); nothing was "
        "written"
    )


def _not_a_database_message(path: Path, _said: str, what: str) -> str:
    return (
        f"{path} is not a ledger database (SQLite says: file is not a database); check "
        "--db / SAMPLELOANS_DB"
    )


def _schema_changed_message(path: Path, said: str, what: str) -> str:
    return (
        f"the schema of {what} {path} is not this release's (SQLite says: {said}): it was "
        "changed by hand; nothing was written; run 'sampleloans verify' and restore the latest "
        "verified backup"
    )


def _damaged_message(path: Path, said: str, what: str) -> str:
    return (
        f"{what} {path} is damaged (SQLite says: {said}); nothing was written; run "
        "'sampleloans verify' and restore the latest verified backup"
    )


_ENVIRONMENT_MESSAGES: dict[str, Callable[[Path, str, str], str]] = {
    "SQLITE_BUSY": lambda _path, _said, _what: LOCKED_MESSAGE,
    "SQLITE_LOCKED": lambda _path, _said, _what: LOCKED_MESSAGE,
    "SQLITE_READONLY": _read_only_message,
    "SQLITE_FULL": _full_message,
    "SQLITE_IOERR": _io_message,
    "SQLITE_CANTOPEN": _cannot_open_message,
    "SQLITE_PERM": _cannot_open_message,
    "SQLITE_NOMEM": lambda path, _said, what: f"out of memory while using {what} {path}",
    "SQLITE_NOTADB": _not_a_database_message,
    "SQLITE_CORRUPT": _damaged_message,
}
"""Primary SQLite result codes that mean the environment failed, each with its message."""


def _free_bytes(path: Path) -> int:
    """Free space on the file system holding `path` (a large number when unknown)."""
    try:
        return shutil.disk_usage(path.parent if str(path.parent) else ".").free
    except OSError:
        return FULL_DISK_BYTES


def _why_read_only(path: Path) -> str:
    """Why SQLite may not write the ledger, in words (mount, file or folder permission)."""
    if on_read_only_medium(path):
        return "it is on a read-only file system"
    if not os.access(path, os.W_OK):
        return "the file is read-only for this account (or immutable)"
    if not os.access(path.parent, os.W_OK):
        return "its folder is read-only for this account (SQLite needs its -wal and -shm there)"
    for sidecar in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        if sidecar.exists() and not os.access(sidecar, os.W_OK):
            return (
                f"{sidecar} beside it{_owned_by(sidecar)} is read-only for this account; "
                "make it writable"
            )
    return "SQLite opened it read-only"


def _owned_by(path: Path) -> str:
    """`, owned by ACCOUNT,` when another account owns `path` (what to ask them), else ''."""
    import pwd

    try:
        owner = path.stat().st_uid
    except OSError:
        return ""
    if owner == os.geteuid():
        return ""
    try:
        return f", owned by {pwd.getpwuid(owner).pw_name},"
    except KeyError:
        return f", owned by uid {owner},"


@contextmanager
def transaction(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error.

    Services only `flush`; this is the one place that commits.
    """
    bound = _begin_mode(engine, "IMMEDIATE" if write else "DEFERRED")
    session = Session(bound, expire_on_commit=False, autoflush=True)
    try:
        yield session
        if write:
            crashpoints.reached("before_commit")
        commit = COMMITS.peek(session)
        with interrupts.held() if write else nullcontext():  # a Ctrl-C: before, or noted
            if commit is None or commit.rows_left_for_it is None:
                session.commit()
            else:
                _commit_with_pending_writes(session)
            if write:
                crashpoints.reached("in_commit")
                if engine in _USERS_LEDGERS:  # not a scratch replay, nor a new ledger being built
                    interrupts.note_committed()
        if write:
            crashpoints.reached("after_commit")
    except (DatabaseError, sqlite3.DatabaseError) as exc:  # a driver error SQLAlchemy did not wrap
        with suppress(DatabaseError):  # a failed disk may fail the rollback too; SQLite
            session.rollback()  # then rolls back from its journal on the next open
        mapped = storage_error(exc, where(engine))
        if mapped is None:
            raise
        raise mapped from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


_BEGIN_MODES = "_sampleloans_begin_modes"
"""An engine's attribute: its copies with each begin mode as an execution option."""


def _begin_mode(engine: Engine, mode: str) -> Engine:
    """The engine with SQLite's BEGIN mode as an execution option (`sqlite_begin`; it also
    tells `_on_begin` on PostgreSQL a write from a read). Made once per engine and mode: making
    one looks up a logger and copies the options, about 15 µs of every transaction."""
    modes: dict[str, Engine] = engine.__dict__.setdefault(_BEGIN_MODES, {})
    found = modes.get(mode)
    if found is None:
        found = modes[mode] = engine.execution_options(sqlite_begin=mode)
    return found


class Flushable(Protocol):
    """A unit of work with rows to write, left for a transaction's next statement or its
    COMMIT (`ConnectionState.pending_writes`, `WriteCommit.rows_left_for_it`)."""

    def flush(self) -> None:
        """Write the buffered rows."""


S = TypeVar("S")


class PerTransaction(Generic[S]):
    """Typed state that lives as long as one session's transaction: made on first use by
    `of`, dropped when the session's outermost transaction ends (committed, rolled back or
    closed). Each layer keeps its own (`WriteCommit` here, the ledger's `WriteTransaction`,
    the lock reads' `LockReads`), written down as a dataclass, instead of untyped entries
    under string keys in the session's `info` dict. Keyed weakly by the session: every
    Session works, whoever made it."""

    _all: ClassVar[list["PerTransaction[Any]"]] = []  # a few, made at import, never dropped

    def __init__(self, make: Callable[[], S]) -> None:
        self._make = make
        self._of: weakref.WeakKeyDictionary[OrmSession, S] = weakref.WeakKeyDictionary()
        PerTransaction._all.append(self)

    def of(self, session: OrmSession) -> S:
        """The session's state for its current (or next) transaction, made on first use."""
        found = self._of.get(session)
        if found is None:
            found = self._of[session] = self._make()
        return found

    def peek(self, session: OrmSession) -> S | None:
        """The session's state if some was made in this transaction (a read makes none)."""
        return self._of.get(session)

    def forget(self, session: OrmSession) -> None:
        """Drop the session's state (its transaction ended)."""
        self._of.pop(session, None)


@event.listens_for(OrmSession, "after_transaction_end")
def _forget_transaction_state(session: OrmSession, transaction: Any) -> None:
    """The session's outermost transaction ended: its per-transaction state goes with it (a
    SAVEPOINT's end keeps it). One listener on the class, set once for the process."""
    if transaction.parent is None:
        for kept in PerTransaction._all:
            kept.forget(session)


@dataclass
class WriteCommit:
    """What `transaction` must know to commit a session's write transaction."""

    rows_left_for_it: Flushable | None = None
    """A unit whose last rows wait for the COMMIT (PostgreSQL: sent in one pipeline with it,
    one round trip while the writers' lock is held; `Unit.flush_later`): the commit goes
    through `_commit_with_pending_writes`."""


COMMITS: PerTransaction[WriteCommit] = PerTransaction(WriteCommit)
"""Each session's `WriteCommit`, for the transaction it is in."""


@dataclass
class ConnectionState:
    """What this program keeps about one database connection, typed, in one place.

    Kept in SQLAlchemy's `Connection.info` under one key (`connection_state`), not beside it:
    that dict is SQLAlchemy's documented per-connection user dict, it lives as long as the
    pooled database connection (a secured login's facts are asked once per connection), and
    the engine's event hooks below (`_on_begin`, `_on_end`, `_write_pending_first`) are handed
    only the Connection. The fields down to `pending_writes` belong to the current transaction
    and are reset when it ends (`end_transaction`, from `_on_end` on PostgreSQL)."""

    locked_write: bool = False
    """This transaction holds the writers' lock (PostgreSQL, `_begin_write`)."""
    prefetched_head: dict[str, Any] | None = None
    """The guard row (chain head) read right after the writers' lock (`_begin_write`), for the
    transaction's first unit (`Unit.link`), which takes it."""
    prefetched_rows: list[list[tuple[Any, ...]]] | None = None
    """The rows of each statement `read_with_lock` sent with the lock, taken by it."""
    pending_writes: Flushable | None = None
    """A unit whose last rows wait for this transaction's next statement or its COMMIT
    (`_write_pending_first`, `read_together`, `_commit_with_pending_writes`)."""
    secured: bool = False
    """The PostgreSQL ledger is secured for this login (`services/logins.identity`): the unit
    reads the chain head through a function row-level security lets through."""
    events_hidden: bool | None = None
    """Whether row-level security hides events from this login (`services/logins.
    events_hidden`), None until asked: asked once per database connection."""
    unread_cursor: Any = None
    """The psycopg cursor of the statements a pipeline sends without reading their answers
    (`unread_cursor`), kept for the connection's life."""
    writes_to_send: "list[tuple[bytes, list[bytes | None]]] | None" = None
    """The unit's last rows gathered for the COMMIT's libpq pipeline
    (`_commit_with_pending_writes`): each statement's numbered SQL and its values as text; None
    when not gathering."""
    prepared_writes: dict[bytes, bytes] = field(default_factory=dict)
    """Numbered SQL → the name it is prepared under on this connection's server session
    (`_send_writes`), kept while psycopg keeps its own: psycopg deallocates every prepared
    statement of the session (`DEALLOCATE ALL`) at a rollback and after a statement whose
    command is DROP, ALTER, ROLLBACK, DISCARD or DEALLOCATE, so each of those forgets them
    (`forget_prepared_writes`)."""
    prepared_on: Any = None
    """The psycopg connection `prepared_writes` were prepared on (a new one has none)."""
    row_loader: Any = None
    """psycopg's loaders of this connection's types (a `Transformer`), which read the rows of
    the lock's pipeline when it goes by libpq (`_lock_by_libpq`)."""
    row_loader_of: Any = None
    """The psycopg connection `row_loader` was made for."""

    def forget_prepared_writes(self) -> None:
        """The server session may have deallocated them: prepare them again on next use."""
        self.prepared_writes.clear()

    def end_transaction(self) -> None:
        """Forget what belonged to the transaction that ended (the login's facts stay)."""
        self.locked_write = False
        self.prefetched_head = None
        self.prefetched_rows = None
        self.pending_writes = None
        self.writes_to_send = None

    def take_pending_writes(self) -> Flushable | None:
        """The unit whose rows wait for the next statement, if any, no longer waiting."""
        pending, self.pending_writes = self.pending_writes, None
        return pending


_CONNECTION_STATE = "sampleloans_state"
"""The one key of ours in `Connection.info` (see `ConnectionState`)."""


def connection_state(connection: Connection) -> ConnectionState:
    """This program's typed state of a database connection, made on first use."""
    info = connection.info
    found: ConnectionState | None = info.get(_CONNECTION_STATE)
    if found is None:
        found = info[_CONNECTION_STATE] = ConnectionState()
    return found


def unread_cursor(connection: Connection, raw: Any) -> Any:
    """A psycopg cursor for statements whose answers nobody reads (a BEGIN, the writers' lock,
    the unit's INSERTs and UPDATEs, a COMMIT), sent in a pipeline: one per connection, not one
    per statement. A new cursor makes its own adapters' map and looks up each parameter's
    dumper again (~6 µs a statement, 6 statements of every write, most with the lock held);
    in a pipeline an error is raised at the block's end whichever cursor sent the statement."""
    state = connection_state(connection)
    cursor = state.unread_cursor
    if cursor is None or cursor.connection is not raw or cursor.closed:
        cursor = state.unread_cursor = raw.cursor()
    return cursor


def _commit_with_pending_writes(session: Session) -> None:
    """Commit a write transaction whose unit left its last rows for the commit: the session's
    own changes first (the ORM reads their row counts), then those rows and the COMMIT in one
    pipeline (one round trip while the writers' lock is held).

    The transaction `_begin_write` opened (psycopg in autocommit): the rows are gathered as
    text and sent with the COMMIT by libpq's own pipeline (`_send_writes`), below psycopg's
    cursor, whose Python per statement (the query's conversion, the dumpers, the prepared
    statements' cache, a send and a poll each) was ~70 µs a statement while the lock was held.
    Otherwise psycopg's pipeline: the driver's COMMIT goes in it; SQLAlchemy's commit then ends
    the transaction on its side with nothing left for the driver to send. Had SQLAlchemy's
    commit run inside the pipeline, the connection would have gone back to its pool there, and
    the pool's rollback costs a Sync of its own in pipeline mode (one more round trip per write).
    """
    session.flush()  # runs any statement, and so writes the pending rows first, outside it
    connection = session.connection()
    driver: Any = connection.connection.driver_connection  # psycopg's, open here
    state = connection_state(connection)
    if driver.autocommit and driver.info.encoding == "utf-8":
        # the transaction is `_begin_write`'s own BEGIN: its COMMIT is one more statement of
        # the libpq pipeline that sends the rows
        state.writes_to_send = []
        try:
            pending = state.take_pending_writes()
            if pending is not None:
                pending.flush()
            commands, state.writes_to_send = state.writes_to_send, None
            sent = _send_writes(driver, state, commands, commit=True)
        finally:
            state.writes_to_send = None
        _answers_of_writes(driver, state, sent)
        session.commit()
        return
    with pipelined(connection):
        pending = state.take_pending_writes()
        if pending is not None:
            pending.flush()
        if driver.autocommit:
            # psycopg's commit() here adds a Sync of its own: the pipeline's end was then a
            # second round trip after the COMMIT
            unread_cursor(connection, driver).execute("COMMIT")
        else:
            driver.commit()
    session.commit()


SentWrite = tuple[bytes, bytes] | None
"""One answer `_send_writes` awaits: (SQL, the name it was prepared under) for a prepare, None
for a statement or the COMMIT."""


def _send_writes(
    driver: Any,
    state: ConnectionState,
    commands: list[tuple[bytes, list[bytes | None]]],
    *,
    commit: bool,
) -> list[SentWrite]:
    """Send gathered statements (and the COMMIT) in one libpq pipeline ended by a Sync, each
    prepared on first use on this server session; what was sent, one entry per answer to come,
    for `_answers_of_writes`. The values are text, their types the statements' own casts."""
    import psycopg
    from psycopg import generators

    pgconn = driver.pgconn
    sent: list[SentWrite] = []
    named: dict[bytes, bytes] = {}  # prepared in this pipeline (a table's second row)
    if state.prepared_on is not driver:  # (a connection made again: a new server session)
        state.forget_prepared_writes()
        state.prepared_on = driver
    with driver.lock, _as_sqlalchemy_error(psycopg.Error):
        pgconn.enter_pipeline_mode()
        for sql, values in commands:
            name = state.prepared_writes.get(sql) or named.get(sql)
            if name is None:
                name = named[sql] = f"sampleloans_w{next(_PREPARED_NAMES)}".encode()
                pgconn.send_prepare(name, sql)
                sent.append((sql, name))
            pgconn.send_query_prepared(name, values)
            sent.append(None)
        if commit:
            pgconn.send_query_params(b"COMMIT", None)
            sent.append(None)
        pgconn.pipeline_sync()
        driver.wait(generators.send(pgconn))
    return sent


@contextmanager
def _as_sqlalchemy_error(driver_error: type[Exception]) -> Iterator[None]:
    """Raise the driver's errors of the block as SQLAlchemy raises them (`DBAPIError`), which
    `transaction` maps to the user's message (a lost connection: exit 3)."""
    try:
        yield
    except driver_error as exc:
        raise DBAPIError.instance(None, None, exc, driver_error) from exc


_NO_SUCH_PREPARED_STATEMENT = "26000"
"""SQLSTATE invalid_sql_statement_name."""
_DEALLOCATING_COMMANDS = ("DROP", "ALTER", "ROLLBACK", "DISCARD", "DEALLOCATE")
"""Statements after which psycopg deallocates every prepared statement of the session
(psycopg's `PrepareManager._should_discard`)."""


def _deallocated_by_rollback(driver: Any) -> bool:
    """Whether psycopg's rollback, about to run, deallocates every prepared statement of the
    server session (`DEALLOCATE ALL`): only from inside a transaction, and only when psycopg has
    prepared statements of its own (its `PrepareManager.clear`). Where it has none (a writer
    whose every statement goes by libpq), ours stay prepared: forgotten, they would be
    prepared again under new names after each refused write, the old ones left on the server
    session for the connection's life. Where psycopg's cache cannot be seen, assume it does."""
    import psycopg

    if driver.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        return False  # psycopg's rollback sends nothing
    names = getattr(getattr(driver, "_prepared", None), "_names", None)
    return names is None or bool(names)


def _forget_prepared_after(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    """After a statement psycopg deallocates the session's prepared statements for, forget
    `_send_writes`'s (they are prepared again on next use)."""
    if statement.lstrip()[:10].upper().startswith(_DEALLOCATING_COMMANDS):
        connection_state(connection).forget_prepared_writes()


_PREPARED_NAMES = itertools.count()
"""The numbers of `_send_writes`'s prepared statements (unique in the process, so on every
server session it talks to)."""


def _answers_of_writes(driver: Any, state: ConnectionState, sent: list[SentWrite]) -> list[Any]:
    """Read the answers of `_send_writes` up to its Sync, leave libpq's pipeline mode, and
    raise the first error as SQLAlchemy raises a driver's (the server skipped the statements
    after it; the transaction is rolled back by the caller); else each statement's answer (a
    libpq result), in the order sent (a prepare's are not among them)."""
    import psycopg
    from psycopg import generators, pq

    pgconn = driver.pgconn
    failed = None
    answers: list[Any] = []
    with driver.lock, _as_sqlalchemy_error(psycopg.Error):
        try:
            for what in [*sent, None]:
                results: list[Any] = []
                while not results:  # an answer, or the Sync's
                    results = driver.wait(generators.fetch_many(pgconn))
                status = results[-1].status
                if status == pq.ExecStatus.PIPELINE_SYNC:
                    break
                if status == pq.ExecStatus.FATAL_ERROR and failed is None:
                    failed = psycopg.errors.error_from_result(results[-1], driver.info.encoding)
                elif what is not None and status == pq.ExecStatus.COMMAND_OK:
                    state.prepared_writes[what[0]] = what[1]
                if what is None:
                    answers.append(results[-1])
        except BaseException:  # a Ctrl-C while waiting (for the writers' lock, most likely)
            with suppress(psycopg.Error):  # (a connection lost: it is given up anyway)
                _leave_pipeline(driver)
            raise
        pgconn.exit_pipeline_mode()
    if failed is not None:
        if failed.sqlstate == _NO_SUCH_PREPARED_STATEMENT:  # (deallocated by another way)
            state.forget_prepared_writes()
        raise DBAPIError.instance(None, None, failed, psycopg.Error) from failed
    return answers


def _leave_pipeline(driver: Any) -> None:
    """Read what is left of a pipeline's answers, up to its Sync, and leave libpq's pipeline
    mode. A wait interrupted by Ctrl-C: psycopg cancelled the statement it waited for and read
    its answer, the server skips the rest up to the Sync; left in pipeline mode, the connection
    refused the rollback that follows (a traceback before the interrupt's one line)."""
    import psycopg
    from psycopg import generators

    pgconn = driver.pgconn
    while pgconn.pipeline_status:
        try:
            pgconn.exit_pipeline_mode()
        except psycopg.OperationalError:  # answers not read yet (the Sync's among them)
            driver.wait(generators.fetch_many(pgconn))


def _write_pending_first(connection: Any, *_args: Any) -> None:
    """Before any statement of a transaction: write the rows a unit left for later, so every
    read sees them (a session query, a check, the next unit's head, a SAVEPOINT)."""
    state = connection_state(connection)
    if state.writes_to_send:  # gathered for the COMMIT's pipeline: they come first
        commands, state.writes_to_send = state.writes_to_send, []
        _answers_of_writes(
            connection.connection.driver_connection,
            state,
            _send_writes(connection.connection.driver_connection, state, commands, commit=False),
        )
    pending = state.take_pending_writes()
    if pending is not None:
        pending.flush()


def where(engine: Engine) -> str:
    """The ledger an engine opens, fit for a message: its file, or its URL without password."""
    if engine.dialect.name == "postgresql":
        return engine.url.set(drivername="postgresql").render_as_string(hide_password=True)
    return engine.url.database or ":memory:"


def create_ledger(url: str, build: Callable[[Engine], None]) -> None:
    """Create a new ledger at `url` and fill it with `build` (`init`); see `create_ledger_file`.

    On PostgreSQL the tables are created in an existing database that holds no ledger; a failed
    `build` rolls back its transaction and leaves no ledger there (init may be run again).
    """
    path = sqlite_path(url)
    if path is not None:
        create_ledger_file(path, build)
        return
    engine = open_engine(url, create=True)
    try:
        build(engine)
    finally:
        engine.dispose()


def projection_tables() -> list[str]:
    """Names of the tables rebuilt by a replay, in a stable order."""
    return [str(model.__tablename__) for model in models.PROJECTION_TABLES]


def begin_snapshot(connection: Any) -> None:
    """Fix the snapshot every later read of this (read) transaction sees.

    SQLite in WAL: BEGIN alone takes no snapshot; the first read does. PostgreSQL: REPEATABLE
    READ, READ ONLY, set as the transaction's first statement.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        connection.exec_driver_sql("SELECT 1").scalar()
        return
    connection.execute(text("SELECT count(*) FROM main.sqlite_master")).scalar()


def integrity_check(connection: Any) -> list[str]:
    """The storage engine's own consistency check: SQLite's `PRAGMA integrity_check` (empty
    when sound); PostgreSQL checks its pages itself, so there is nothing to add."""
    if connection.dialect.name == "postgresql":
        return []
    rows = connection.execute(text("PRAGMA main.integrity_check")).fetchall()
    found = [str(row[0]) for row in rows]
    if found == ["ok"]:
        return []
    # one finding a line: SQLite puts several in one row ("*** in database main ***\nOn tree
    # page 93 cell 0: …"), which `verify` printed as lines of no finding
    lines = (line.strip() for row in found for line in row.splitlines())
    return [line for line in lines if line and not line.startswith("*** in database ")]


TRIGGER_FIRES = ("O", "A")
"""`pg_trigger.tgenabled` of a trigger that fires in an ordinary session: 'D' is disabled, and
'R' (`ENABLE REPLICA TRIGGER`) fires only under `session_replication_role = replica`."""


def trigger_state_problem(name: str, state: str | None, *, table: str = "") -> str | None:
    """Why the trigger `name` (on `table`, when named) does not fire in an ordinary session
    ('trigger … is missing', '… is disabled', '… fires only in replica mode …'), or None."""
    trigger = f"trigger {name} on {table}" if table else f"trigger {name}"
    if state is None:
        return f"{trigger} is missing"
    if state == "R":
        return (
            f"{trigger} fires only in replica mode (ENABLE REPLICA TRIGGER), never in an "
            "ordinary session"
        )
    return None if state in TRIGGER_FIRES else f"{trigger} is disabled"


def postgres_trigger_problems(connection: Any) -> list[str]:
    """The PostgreSQL defences that are missing, do not fire (`ALTER TABLE … DISABLE TRIGGER`,
    `ENABLE REPLICA TRIGGER`) or are not the ledger's own (another definition under the same
    name, or a trigger function whose body was replaced)."""
    rows = connection.execute(
        text(
            "SELECT t.tgname, t.tgenabled, pg_get_triggerdef(t.oid) FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.relname IN ('ledger_event', 'ledger_meta', "
            "'checkpoint', 'notification_sent')"
        )
    ).all()
    state = {row[0]: row[1] for row in rows}
    found = {row[0]: trigger_text(str(row[2])) for row in rows}
    own_triggers, own_functions = _postgres_defence_definitions()
    problems = []
    for name in _expected_postgres_triggers(connection):
        why = trigger_state_problem(name, state.get(name))
        if why is None and found[name] != own_triggers[name]:
            why = f"trigger {name} is not the ledger's own (it reads: {found[name]})"
        if why is not None:
            problems.append(f"{why}: the ledger was unprotected")
    problems += _defence_function_problems(connection, own_functions)
    problems += _event_key_problems(connection)
    # the DBA's way back (a checkpoint refuses the ledger until then): the same statements
    remedy = _defence_remedy(connection)
    return [f"{problem}; {remedy}" for problem in problems]


EVENT_KEYS = {
    "ledger_event_pkey": ("PRIMARY KEY (seq)", "two events could share a seq"),
    "ledger_event_hash_key": ("UNIQUE (hash)", "two events could share a hash"),
    "hash_is_sha256": ("CHECK ((length((hash)::text) = 64))", "a hash of any length is kept"),
    "seq_positive": ("CHECK ((seq >= 1))", "an event could be numbered 0 or below"),
}
"""The constraints of `ledger_event` (as `pg_get_constraintdef` prints them), each with what
its absence lets through; with `DEFENCE_INDEX`, what the README calls the database's defences
besides its triggers."""
PREV_HASH_UNIQUE = "CREATE UNIQUE INDEX ON ledger_event USING btree (prev_hash)"
"""`DEFENCE_INDEX` as `pg_get_indexdef` prints it, its name and schema left out."""


def _event_constraints(connection: Any) -> set[str]:
    """The definitions of the constraints `ledger_event` has, as PostgreSQL prints them."""
    found = connection.execute(
        text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'ledger_event'::regclass"
        )
    )
    return {str(definition) for definition in found.scalars()}


def _event_key_problems(connection: Any) -> list[str]:
    """The keys of `ledger_event` that are missing (a constraint dropped, the unique index on
    `prev_hash` dropped or made another way), whatever their names."""
    definitions = _event_constraints(connection)
    problems = [
        f"ledger_event has no {definition} constraint ({name}): {lets}"
        for name, (definition, lets) in EVENT_KEYS.items()
        if definition not in definitions
    ]
    if not _has_prev_hash_unique(connection):
        problems.append(
            f"ledger_event has no unique index on prev_hash ({DEFENCE_INDEX}): two events could "
            "claim the same predecessor"
        )
    return problems


def _has_prev_hash_unique(connection: Any) -> bool:
    """Whether `ledger_event` has a unique index on prev_hash alone (`PREV_HASH_UNIQUE`), under
    whatever name."""
    indexes = connection.execute(
        text(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = 'ledger_event'::regclass"
        )
    ).scalars()
    shapes = {re.sub(r"INDEX \S+ ON (public\.)?", "INDEX ON ", str(found)) for found in indexes}
    return PREV_HASH_UNIQUE in shapes


def _expected_postgres_triggers(connection: Any) -> tuple[str, ...]:
    """The chain's triggers this ledger's schema revision has (those of `checkpoint` once the
    table exists, those of `notification_sent` from revision 0013)."""
    expected: tuple[str, ...] = POSTGRES_TRIGGER_NAMES
    if connection.execute(text("SELECT to_regclass('checkpoint') IS NOT NULL")).scalar():
        expected = (*expected, *POSTGRES_CHECKPOINT_TRIGGER_NAMES)
    if notification_triggers_expected(connection):
        expected = (*expected, *POSTGRES_NOTIFICATION_TRIGGER_NAMES)
    return expected


def _defence_remedy(connection: Any) -> str:
    """What installs the chain's triggers and functions again: `db secure` (which also gives
    them back to the NOLOGIN owner) on a secured ledger, `db upgrade` on any other."""
    from sampleloans import pgsecurity  # it builds on this module

    command = "db secure" if pgsecurity.is_secured(connection) else "db upgrade"
    return f"the DBA installs it again with '{command}'"


def reinstall_postgres_defences(connection: Any) -> None:
    """Create the chain's functions, index, triggers and `ledger_event`'s constraints again,
    as `init` made them (each idempotent; a trigger re-created fires again, whatever disabled
    it), for the tables this ledger's revision has: what `db secure` and `db upgrade` run on
    PostgreSQL."""
    expected = set(_expected_postgres_triggers(connection))
    statements = [
        statement
        for statement in postgres_defences()
        if not trigger_text(statement).startswith("CREATE TRIGGER ")
        or trigger_text(statement).split()[2] in expected  # not a table an older revision lacks
    ]
    # a look-alike under a key's own name (a plain index, a CHECK that lets more by) goes
    # first: made again by name, it would be kept (IF NOT EXISTS) or refused as existing
    if not _has_prev_hash_unique(connection):
        statements[:0] = [  # the name may be a constraint's (its index goes with it)
            f"ALTER TABLE ledger_event DROP CONSTRAINT IF EXISTS {DEFENCE_INDEX}",
            f"DROP INDEX IF EXISTS {DEFENCE_INDEX}",
        ]
    present = _event_constraints(connection)
    for name, (definition, _lets) in EVENT_KEYS.items():
        if definition not in present:
            statements += [
                f"ALTER TABLE ledger_event DROP CONSTRAINT IF EXISTS {name}",
                f"ALTER TABLE ledger_event ADD CONSTRAINT {name} {definition}",
            ]
    for statement in statements:
        try:
            connection.execute(text(statement))  # text(): psycopg reads a bare % as a parameter
        except IntegrityError as exc:
            # a key dropped, then events written that break it: no key can be put back over them
            raise StorageError(
                f"the ledger's events break a key the database enforces ({_pg_words(exc)}): "
                "they were changed outside the program while it was missing; nothing was "
                "changed; 'verify' names them, and a backup from before restores the ledger"
            ) from exc


def _pg_words(exc: DBAPIError) -> str:
    """PostgreSQL's own message and detail of a refused statement, on one line."""
    diag = getattr(exc.orig, "diag", None)
    parts = [getattr(diag, "message_primary", None), getattr(diag, "message_detail", None)]
    words = "; ".join(str(part) for part in parts if part) or str(exc.orig)
    return " ".join(words.split())


def _defence_function_problems(connection: Any, own: dict[str, str]) -> list[str]:
    """The chain's trigger functions whose body is not the ledger's own (replaced so that the
    triggers calling them refuse nothing)."""
    problems = []
    for name, source in sorted(own.items()):
        body = connection.execute(
            text("SELECT prosrc FROM pg_proc WHERE oid = to_regprocedure(:name)"),
            {"name": f"{name}()"},
        ).scalar()
        if body is None:
            problems.append(f"function {name}() is missing: the ledger was unprotected")
        elif trigger_text(str(body)) != source:
            problems.append(
                f"function {name}() is not the ledger's own (its body was replaced): the "
                "triggers that call it may let anything through; the ledger was unprotected"
            )
    return problems


def trigger_text(definition: str) -> str:
    """A trigger's or function's definition compared word by word: the layout, the schema
    (`public.`, which `pg_get_triggerdef` names as the search path makes it) and `OR REPLACE`
    aside."""
    words = " ".join(definition.split()).replace(" ON public.", " ON ")
    words = words.replace(" FUNCTION public.", " FUNCTION ")
    return words.replace("CREATE OR REPLACE TRIGGER ", "CREATE TRIGGER ")


def _postgres_defence_definitions() -> tuple[dict[str, str], dict[str, str]]:
    """The definitions `postgres_defences` installs, as `trigger_text` reads them: each
    trigger's by name, and each function's body by name."""
    triggers, functions = {}, {}
    for statement in postgres_defences():
        words = trigger_text(statement)
        if words.startswith("CREATE TRIGGER "):
            triggers[words.split()[2]] = words
        elif words.startswith("CREATE OR REPLACE FUNCTION "):
            name = words.split()[4].removesuffix("()")
            functions[name] = trigger_text(statement.split("$$")[1])
    return triggers, functions


def ordered_rows_query(connection: Any, table: str) -> str:
    """`SELECT *` of one of this database's own tables in primary-key order, byte order for
    text on every engine (PostgreSQL's collation could otherwise sort keys another way)."""
    selected = model_columns(table)  # named: a column added by hand is not compared
    schema = "" if connection.dialect.name == "postgresql" else "main."
    return f"SELECT {selected} FROM {schema}{table} ORDER BY {primary_key_order(connection, table)}"


def primary_key_order(connection: Any, table: str) -> str:
    """The ORDER BY list of a table's primary key in byte order on every engine: a text key
    in PostgreSQL's "C" collation, as SQLite compares text (never the database's own)."""
    columns = SQLModel.metadata.tables[table].primary_key.columns
    if not needs_collate_c(connection.dialect):
        return ", ".join(c.name for c in columns)
    return ", ".join(
        f'{c.name} COLLATE "C"' if isinstance(c.type, String | AutoString) else c.name
        for c in columns
    )


def needs_collate_c(dialect: Any) -> bool:
    """Whether text compared or sorted on this engine needs `COLLATE "C"` to be in byte order:
    PostgreSQL unless its database was found to be in byte order already (`first_connect`);
    a dialect never connected (an offline script) takes the database's own order."""
    return dialect.name == "postgresql" and bool(getattr(dialect, "collate_c", False))


def model_columns(table: str) -> str:
    """The columns the ledger's schema defines for `table`, in order, as a select list."""
    return ", ".join(column.name for column in SQLModel.metadata.tables[table].columns)


def index_names(connection: Any) -> set[str]:
    """The names of the indexes the database holds (in the connection's schema)."""
    if connection.dialect.name == "postgresql":
        query = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    else:
        query = "SELECT name FROM main.sqlite_master WHERE type = 'index'"
    return {str(name) for name in connection.execute(text(query)).scalars()}


DEFENCE_INDEX = "ledger_event_prev_hash_key"
"""The index PostgreSQL's defences add (`postgres_defences`), which no model declares."""


def created_indexes(connection: Any) -> list[tuple[str, str]]:
    """(table, index) of every index made by CREATE INDEX, in order: not those the database
    makes for a primary key or a UNIQUE constraint (a model's index or one added by hand)."""
    if connection.dialect.name == "postgresql":
        query = (
            "SELECT t.relname, i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relnamespace = current_schema()::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
            f"AND i.relname NOT IN ('{DEFENCE_INDEX}') ORDER BY 1, 2"
        )
    else:  # SQLite keeps no SQL for the indexes of its PRIMARY KEY and UNIQUE constraints
        query = (
            "SELECT tbl_name, name FROM main.sqlite_master "
            "WHERE type = 'index' AND sql IS NOT NULL ORDER BY 1, 2"
        )
    return [(str(table), str(name)) for table, name in connection.execute(text(query))]


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
    never tables without a ledger; an existing file is never replaced. The temp file of a
    killed run is removed by the next one (see `fileio.private_temp_file`).
    """
    if os.path.lexists(path):
        raise StorageError(_exists_message(path))
    fileio.refuse_new_database(path, "--db")
    made = fileio.missing_folders(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fileio.remove_empty_folders(made)
        raise StorageError(f"--db: cannot create the folder of {path}: {exc.strerror}") from None
    # a failed init (a full disk) leaves none of the folders it made for the ledger
    with (
        ExitStack() as cleanup,
        fileio.private_temp_file(path.parent, f"{path.name}.creating", "--db") as temp,
    ):
        cleanup.callback(_remove_folders_unless_placed, path, made)
        engine = make_engine(url_for_path(temp.path))
        try:
            with fileio.named_as_typed(temp.path, path, "--db"):
                create_schema(engine, stamp=True)
                build(engine)
            engine.dispose()  # the last connection closing checkpoints and removes the -wal
            fileio.refuse_new_database(path, "--db")  # nothing put beside it meanwhile
            os.link(temp.path, path)  # fails instead of replacing a file that appeared meanwhile
            fileio.placed(f"the ledger {path} was created whole")
        except FileExistsError:
            raise StorageError(_exists_message(path)) from None
        except OSError as exc:  # e.g. a file system without hard links: never a blind rename
            raise StorageError(f"--db: cannot create the database {path}: {exc.strerror}") from None
        finally:
            engine.dispose()


def _remove_folders_unless_placed(path: Path, made: list[Path]) -> None:
    """Remove the folders `create_ledger_file` made for `path` when the ledger is not there
    (it failed); each only if empty."""
    if not os.path.lexists(path):
        fileio.remove_empty_folders(made)


# --- the unit of work's writes: Core statements as the driver's executemany ---------------------


class _Driver:
    """A Core INSERT or UPDATE compiled once for a dialect, run as the driver's own executemany.

    `Connection.execute(statement, rows)` builds and type-processes every row's parameters in
    SQLAlchemy (about 10 µs a row, more than SQLite's own insert); here the statement's SQL is
    compiled once and each row is a tuple (or dict, for a dialect with named parameters) with
    only the columns' own bind processors applied (`UTCDateTime` to text). The SQL is what Core
    would run, so every dialect `db.py` supports runs the same statements.
    """

    def __init__(self, statement: Any, dialect: Any, names: tuple[str, ...]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(names))
        self.sql = compiled.string
        binds = compiled.binds
        order = compiled.positiontup if compiled.positional else list(binds)
        if order is None or set(order) != set(names):
            raise LookupError("the compiled statement binds other parameters than the row's")
        self.names = tuple(order)
        self.positional = bool(compiled.positional)
        processors = {name: binds[name].type.bind_processor(dialect) for name in self.names}
        self.processed = {name: f for name, f in processors.items() if f is not None}

    def run(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        """One executemany of the rows (dicts keyed by bind name; they are not changed)."""
        params: list[Any]
        if self.positional:
            pick = itemgetter(*self.names)
            at = [(self.names.index(name), f) for name, f in self.processed.items()]
            if len(self.names) == 1:
                params = [(pick(row),) for row in rows]
            elif at:
                params = []
                for row in rows:
                    values = list(pick(row))
                    for index, process in at:
                        values[index] = process(values[index])
                    params.append(tuple(values))
            else:
                params = [pick(row) for row in rows]
        else:
            processed = self.processed
            params = (
                [
                    {
                        name: processed[name](value) if name in processed else value
                        for name, value in row.items()
                    }
                    for row in rows
                ]
                if processed
                else rows
            )
        self._execute(connection, params)

    def run_tuples(
        self, connection: Connection, rows: list[tuple[Any, ...]], names: tuple[str, ...]
    ) -> None:
        """One executemany of rows given as tuples of the values of `names` (the statement's
        bound names, in any order; positional)."""
        if names != self.names:  # into the statement's order
            reorder = itemgetter(*(names.index(name) for name in self.names))
            rows = [reorder(row) for row in rows]  # (several names: a tuple each)
        at = [(self.names.index(name), f) for name, f in self.processed.items()]
        params: list[Any] = rows
        if at:
            params = []
            for row in rows:
                values = list(row)
                for index, process in at:
                    values[index] = process(values[index])
                params.append(tuple(values))
        self._execute(connection, params)

    def _execute(self, connection: Connection, params: list[Any]) -> None:
        """Run the statement once per parameter set (or gather it for the COMMIT's pipeline)."""
        raw: Any = connection.connection.driver_connection
        if hasattr(raw, "pgconn"):  # (PostgreSQL only: SQLite's path asks nothing more)
            gathered = connection_state(connection).writes_to_send
            if gathered is not None and self._gather(gathered, params):
                return
        if _in_pipeline(raw):
            # PostgreSQL, inside `pipelined` (which raises any error as SQLAlchemy would): the
            # driver's own cursor; SQLAlchemy's execution path cost a writer ~40 µs a statement
            # while it held the writers' lock (statement events, result set-up for no result)
            cursor = unread_cursor(connection, raw)
            if len(params) == 1:
                cursor.execute(self.sql, params[0])
            else:
                cursor.executemany(self.sql, params)
            return
        connection.exec_driver_sql(self.sql, params)

    def _gather(self, gathered: list[tuple[bytes, list[bytes | None]]], params: list[Any]) -> bool:
        """Add each parameter set (dicts by bind name) to the writes gathered for
        `_send_writes`, as text; False (nothing added) where a value is not one this sends
        as text (it then goes through psycopg, after what was gathered before it)."""
        numbered = _numbered_sql(self.sql)
        if numbered is None:
            return False
        sql, names = numbered
        try:
            rows = [[_text_value(row[name]) for name in names] for row in params]
        except (TypeError, KeyError):
            return False
        gathered.extend((sql, values) for values in rows)
        return True


@functools.lru_cache(maxsize=256)  # the unit's few INSERT and UPDATE texts
def _numbered_sql(sql: str) -> tuple[bytes, tuple[str, ...]] | None:
    """A psycopg `%(name)s` statement as libpq takes it (`$1`, `$2`, … in the order the names
    first appear, `%%` as `%`) and its names in that order; None for any other placeholder."""
    names: list[str] = []

    def number(match: "re.Match[str]") -> str:
        if match.group(0) == "%%":
            return "%"
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    if "%" in re.sub(r"%%|%\((\w+)\)s", "", sql):  # (a `%s`, or a `%(…)s` of another shape)
        return None
    return re.sub(r"%%|%\((\w+)\)s", number, sql).encode(), tuple(names)


def _text_value(value: Any) -> bytes | None:
    """A statement's value as PostgreSQL's text input takes it (its type is the statement's
    cast), as psycopg's dumpers write it: a text (or a text enum: its value, psycopg's `str`
    dumper comes first in its class's order) as UTF-8, a boolean, an integer; TypeError for
    any other type, and for a text with a NUL, which psycopg refuses with its own error."""
    if value is None:
        return None
    if isinstance(value, str):
        if "\x00" in value:
            raise TypeError("a NUL in a text value")
        return str.encode(value)
    kind = type(value)
    if kind is bool:
        return b"true" if value else b"false"
    if kind is int:
        return str(value).encode()
    raise TypeError(f"no text form for {kind.__name__}")


_DRIVERS: "weakref.WeakKeyDictionary[Any, dict[tuple[str, str, tuple[str, ...]], _Driver | None]]"
_DRIVERS = weakref.WeakKeyDictionary()
"""Compiled statements per dialect object: kept with the dialect (an engine's) and dropped with
it, so a scratch engine of each `verify` adds nothing that lives on, and a new engine can never
find another's statements under a reused `id`."""


def _in_pipeline(raw: Any) -> bool:
    """Whether a driver connection is a psycopg one in pipeline mode (`pipelined`)."""
    pgconn = getattr(raw, "pgconn", None)
    return pgconn is not None and bool(pgconn.pipeline_status)


class _DriverRead:
    """A Core SELECT compiled once for a positional dialect and run on the driver's own cursor,
    each value converted by its column's own result processor (what Core applies).

    A replay reads back, one at a time, the rows it forgot (`ledger/unit.py`, `KEEP_ROWS`):
    through `Connection.execute` each read cost more in SQLAlchemy than in SQLite (a tenth of a
    replay of the 1M-event bench ledger). The SQL, the parameters and the conversions are Core's
    own, so the values and their types are the same (`tests/test_sweep_s23verify5_*`).
    """

    def __init__(self, statement: Any, dialect: Any, columns: tuple[str, ...]) -> None:
        compiled = statement.compile(dialect=dialect)
        order = compiled.positiontup
        if not compiled.positional or order is None:
            raise LookupError("a read on the driver needs a positional dialect")
        sql, binds = str(compiled.string), compiled.binds
        names: list[str] = []
        self.bound: dict[str, Any] = {}
        """The values the statement binds itself (`column == value`, `column IN (…)`)."""
        for name in order:
            bind = binds[name]
            if bind.callable is not None:
                raise LookupError("a value Core computes at each execution")
            if not bind.expanding:
                names.append(name)
                if not bind.required:
                    self.bound[name] = bind.value
                continue
            # a fixed list (`status IN (…)` of the statement's own values): Core expands it
            # at each execution; here once, into one place per value
            values = list(bind.value or ()) if not bind.required else []
            if not values or sql.count(f"__[POSTCOMPILE_{name}]") != 1:
                raise LookupError("a list parameter given at execution is expanded by Core")
            sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" for _ in values))
            for at, value in enumerate(values):
                names.append(f"{name} {at}")  # a space: no bound name has one
                self.bound[f"{name} {at}"] = value
        if "POSTCOMPILE" in sql:
            raise LookupError("a list parameter Core expands is left in the statement")
        self.sql = sql
        self.names = tuple(names)
        self.columns = columns
        self.bind_processors = tuple(
            binds[name.split(" ")[0]].type.bind_processor(dialect) for name in names
        )
        selected = list(statement.selected_columns)
        if [column.name for column in selected] != list(columns):
            raise LookupError("the statement selects other columns than the row's")
        self.processors = tuple(
            (at, process)
            for at, column in enumerate(selected)
            if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))
            is not None
        )

    def read_one(self, connection: Connection, params: dict[str, Any]) -> dict[str, Any] | None:
        """The first row the statement selects, by column name; None when there is none."""
        raw = connection.connection.driver_connection
        values = self._values(params)
        found = raw.execute(self.sql, values).fetchone()  # type: ignore[union-attr]  # sqlite3
        if found is None:
            return None
        row = list(found)
        for at, process in self.processors:
            row[at] = process(row[at])
        return dict(zip(self.columns, row, strict=True))

    def read_all(self, connection: Connection, params: dict[str, Any]) -> list[Any]:
        """Every row the statement selects, in its order, each a named tuple of its columns
        (read by attribute, as Core's rows are)."""
        raw = connection.connection.driver_connection
        values = self._values(params)
        found = raw.execute(self.sql, values).fetchall()  # type: ignore[union-attr]  # sqlite3
        if self.processors:
            found = [self._processed(row) for row in found]
        make = self.row_type._make
        return [make(row) for row in found]

    def _values(self, params: dict[str, Any]) -> tuple[Any, ...]:
        """The statement's parameters in their places, each as its column type binds it."""
        given = {**self.bound, **params} if self.bound else params
        return tuple(
            given[name] if process is None else process(given[name])
            for name, process in zip(self.names, self.bind_processors, strict=True)
        )

    def _processed(self, found: Any) -> list[Any]:
        """A driver row with each value converted by its column's result processor."""
        row = list(found)
        for at, process in self.processors:
            row[at] = process(row[at])
        return row

    @functools.cached_property
    def row_type(self) -> Any:
        """The named tuple of the selected columns (`read_all`'s rows)."""
        return collections.namedtuple("StoredRow", self.columns)


_READS: "weakref.WeakKeyDictionary[Any, dict[Any, _DriverRead | None]]"
_READS = weakref.WeakKeyDictionary()
_READ_ALLS: "weakref.WeakKeyDictionary[Any, dict[Any, _DriverRead | None]]"
_READ_ALLS = weakref.WeakKeyDictionary()
"""`read_all`'s compiled statements per dialect, as `_READS` keeps `read_one`'s."""


def read_one(
    connection: Connection, statement: Any, params: dict[str, Any], columns: tuple[str, ...]
) -> dict[str, Any] | None:
    """The first row of a Core SELECT of `columns` (every column of one table), by column name,
    or None: on SQLite's driver (`_DriverRead`, compiled once per statement), else through
    Core."""
    compiled = _READS.setdefault(connection.dialect, {})
    if statement not in compiled:
        try:
            compiled[statement] = _DriverRead(statement, connection.dialect, columns)
        except LookupError:
            compiled[statement] = None
    reader = compiled[statement]
    if reader is None or connection.dialect.name != "sqlite":
        row = connection.execute(statement, params).first()
        return None if row is None else dict(row._mapping)
    return reader.read_one(connection, params)


def read_all(connection: Connection, statement: Any, params: dict[str, Any]) -> list[Any]:
    """Every row of a Core SELECT, in its order, read by attribute: on SQLite's driver
    (`_DriverRead`, compiled once per statement, each value through its column's result
    processor, as Core converts it), else through Core. An import's batch reads a loan step's
    stored rows so (`Unit.rows_where`): Core's execute cost more than SQLite's own work."""
    compiled = _READ_ALLS.setdefault(connection.dialect, {})
    if statement not in compiled:
        names = tuple(column.name for column in statement.selected_columns)
        try:
            made = _DriverRead(statement, connection.dialect, names)
            made.row_type  # noqa: B018  # names that make no named tuple: read through Core
            compiled[statement] = made
        except (LookupError, ValueError):
            compiled[statement] = None
    reader = compiled[statement]
    if reader is None or connection.dialect.name != "sqlite":
        return list(connection.execute(statement, params))
    return reader.read_all(connection, params)


def write_many(
    connection: Connection,
    statement: Any,
    kind: str,
    table: str,
    rows: list[dict[str, Any]] | list[tuple[Any, ...]],
    *,
    same_keys: bool = False,
    names: tuple[str, ...] | None = None,
) -> None:
    """Run a Core INSERT or UPDATE once per row (the unit of work's writes, `ledger/unit.py`):
    through `_Driver` where it compiles to the rows' own parameters, else through Core (a
    statement that adds parameters of its own). `kind` and `table` name the statement for its
    cache; rows whose keys differ from the first's go through Core, unless the caller built
    them with the same keys (`same_keys`: not checked again, row by row). With `names`, each
    row is a tuple of the values of those bound names, in that order (no dict per row)."""
    if names is not None:
        tuples = cast(list[tuple[Any, ...]], rows)
        driver = _driver_for(connection, statement, (kind, table, names))
        if driver is not None and driver.positional:
            driver.run_tuples(connection, tuples, names)
        else:
            by_name = [dict(zip(names, row, strict=True)) for row in tuples]
            write_many(connection, statement, kind, table, by_name, same_keys=True)
        return
    rows = cast(list[dict[str, Any]], rows)
    driver = _driver_for(connection, statement, (kind, table, tuple(rows[0])))
    keys = rows[0].keys()
    if driver is None or (not same_keys and any(row.keys() != keys for row in rows)):
        connection.execute(statement, rows)
    else:
        driver.run(connection, rows)


def _driver_for(
    connection: Connection, statement: Any, key: tuple[str, str, tuple[str, ...]]
) -> "_Driver | None":
    """The compiled statement of `write_many` for a key (kind, table, bound names), or None
    where it binds other parameters than those names."""
    compiled = _DRIVERS.setdefault(connection.dialect, {})
    if key not in compiled:
        try:
            compiled[key] = _Driver(statement, connection.dialect, key[2])
        except LookupError:
            compiled[key] = None
    return compiled[key]


BULK_CACHE_KIB = -65_536
"""SQLite page cache for bulk work (negative = KiB, so 64 MiB): a replay or an import of a large
ledger inserts into indexes far bigger than the default 2 MiB cache. Fixed, whatever the size."""


IMPORT_CACHE_KIB = -262_144
"""SQLite page cache of an import's connection while it imports (256 MiB at most: SQLite takes
pages as it reads them, so a small ledger's import uses no more than before). An import of a
1M-event ledger inserts into indexes with keys in no order (events by hash, the event-subject
index) that outgrow 64 MiB: with it each event read pages again and wrote more out; 256 MiB
keeps them (bench/RESULTS.md, "(13) import"). Set back to `BULK_CACHE_KIB` when the import
ends, so the memory is the import's only."""


@contextmanager
def import_cache(connection: Any) -> Iterator[None]:
    """Give this connection the import's page cache while the block runs, then the bulk
    cache again (SQLite only: PostgreSQL's shared buffers are the server's to size)."""
    if connection.dialect.name == "postgresql":
        yield
        return
    connection.exec_driver_sql(f"PRAGMA cache_size = {IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        if not connection.invalidated:  # a connection lost in the block has no cache to shrink
            connection.exec_driver_sql(f"PRAGMA cache_size = {BULK_CACHE_KIB}")


class StagedFill(NamedTuple):
    """A set-based fill of a SQLite scratch file from staged rows (`staged_fill`)."""

    create: str  # CREATE TEMP TABLE of the staged rows
    table: str  # its name
    fill: str  # INSERT … SELECT from it
    left: str  # the staged rows the fill did not take


def staged_fill(
    connection: Connection,
    statements: StagedFill,
    chunks: Iterable[Iterable[tuple[Any, ...]]],
    batch: int,
) -> Iterator[list[tuple[Any, ...]]]:
    """On a SQLite scratch connection (a replay's): stage the rows of `chunks` in a temporary
    table, run the fill in C, and yield what it left, `batch` rows at a time (the caller writes
    them); the table is dropped at the end. Through the driver: one statement per chunk."""
    raw = connection.connection.driver_connection
    assert raw is not None
    raw.execute(statements.create)
    columns = None
    for chunk in chunks:
        rows = list(chunk)
        if rows:
            columns = columns or ", ".join("?" for _ in rows[0])
            raw.executemany(f"INSERT INTO temp.{statements.table} VALUES ({columns})", rows)
    raw.execute(statements.fill)
    left = raw.execute(statements.left)
    while found := left.fetchmany(batch):
        yield found
    left.close()
    raw.execute(f"DROP TABLE temp.{statements.table}")


def attach(connection: Connection, path: Path, name: str) -> None:
    """Attach another database file to this connection under `name` (for set comparisons)."""
    connection.exec_driver_sql(f"ATTACH DATABASE ? AS {name}", (str(path),))


# --- whole database files: backup and restore (SQLite's backup API) ------------------------------

FileError = sqlite3.Error
"""What the file operations below raise when SQLite refuses (a damaged or locked file)."""
FileConnection = sqlite3.Connection
"""A plain connection to a database file, for copying it whole."""


def file_reader(path: Path, *, read_only: bool = False) -> FileConnection:
    """A plain connection for reading a ledger file: `read_only` opens it `mode=ro` (a backup
    that must not be touched); otherwise a plain one (the live ledger is in WAL mode, which a
    `mode=ro` connection cannot always open), waiting for a writer's lock as commands do."""
    if read_only:
        # with no -wal or -journal beside it nobody writes it: read immutable, so that a
        # WAL-mode copy (a plain `cp` of a ledger) gets no -wal and -shm made beside it
        busy = any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-journal"))
        return raw_connect(file_uri(path, read_only=True, immutable=not busy), uri=True)
    connection = raw_connect(path, isolation_level=None)
    connection.execute(f"PRAGMA busy_timeout = {DEFAULT_LOCK_TIMEOUT_MS}")
    return connection


def copy_source(database: Path) -> FileConnection:
    """A connection to the live ledger for copying it (immutable on a read-only mount, where
    SQLite could not create the -shm a WAL reader needs and nobody can write anyway)."""
    immutable = on_read_only_medium(database)
    connection = raw_connect(
        file_uri(database, immutable=immutable), uri=True, isolation_level=None
    )
    connection.execute(f"PRAGMA busy_timeout = {DEFAULT_LOCK_TIMEOUT_MS}")
    return connection


def copy_database(source: FileConnection, target: Path) -> None:
    """Copy a whole database into the (empty, private) file `target` as one self-contained
    file (rollback-journal mode, so no -wal has to travel with it), flushed to disk."""
    with closing(raw_connect(target, isolation_level=None)) as copy:
        source.backup(copy)  # pages=-1: one step, one consistent snapshot
        copy.execute("PRAGMA journal_mode = DELETE")
    fileio.fsync_file(target)


def file_head(path: Path) -> tuple[int, str]:
    """The last event of a ledger file (0 and empty for an empty ledger)."""
    with closing(raw_connect(file_uri(path, read_only=True), uri=True)) as connection:
        row = connection.execute(
            "SELECT seq, hash FROM ledger_event ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    return (0, "") if row is None else (int(row[0]), str(row[1]))


def load_database(copy_path: Path, database: Path) -> None:
    """Load a whole database file into the live one in one SQLite transaction (readers see
    the old or the new ledger), leaving it in WAL mode with no stale -wal behind."""
    with (
        closing(raw_connect(copy_path, isolation_level=None)) as copy,
        closing(raw_connect(database, isolation_level=None)) as live,
    ):
        live.execute(f"PRAGMA busy_timeout = {DEFAULT_LOCK_TIMEOUT_MS}")
        live.execute("PRAGMA journal_mode = WAL")
        copy.backup(live)
        live.execute("PRAGMA journal_mode = WAL")
        live.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def use_wal_file(path: Path) -> None:
    """Switch a database file to WAL mode (a restored copy about to become the ledger)."""
    with closing(raw_connect(path, isolation_level=None)) as copy:
        copy.execute("PRAGMA journal_mode = WAL")


def memory_engine() -> Engine:
    """A private in-memory database (an "as of" replay is read there, then thrown away)."""
    return make_engine("sqlite://")


_EMPTY_LEDGER: dict[int, sqlite3.Connection] = {}
"""The empty schema in memory, made once per process (keyed by pid: an SQLite handle is
never used across a fork)."""
_EMPTY_LEDGER_LOCK = threading.Lock()


def memory_ledger() -> Engine:
    """A private in-memory database with the ledger's empty schema (an "as of" replay is
    written there, read, then thrown away).

    A copy of an empty schema made once per process (SQLite's backup API): creating the
    tables, indexes and triggers costs ~15 ms of CPU each time, a copy ~0.5 ms, and a report
    or a history can replay several cuts."""
    with _EMPTY_LEDGER_LOCK:
        empty = _EMPTY_LEDGER.get(os.getpid())
        if empty is None:
            made = memory_engine()
            create_schema(made)
            empty = sqlite3.connect(":memory:", check_same_thread=False)
            with made.connect() as connection:
                _driver_connection(connection).backup(empty)
            made.dispose()
            _EMPTY_LEDGER.clear()
            _EMPTY_LEDGER[os.getpid()] = empty
        target = memory_engine()
        with target.connect() as connection:
            empty.backup(_driver_connection(connection))
    return target


def _driver_connection(connection: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under a SQLAlchemy connection."""
    raw = connection.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


def sql_order(values: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    """A sort key that orders stored values as SQLite's ORDER BY does whatever their types
    (NULL, then numbers, then text, then blobs): a tampered row may hold text in an integer
    column, which Python cannot compare with an integer."""
    return tuple(_sql_rank(value) for value in values)


def _sql_rank(value: Any) -> tuple[int, Any]:
    """One value's place in SQLite's order of types, with the value itself."""
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, bytes(value))


_STREAMS = itertools.count(1)


def stream_tuples(
    connection: Connection, query: str, batch: int = 5000
) -> Generator[tuple[Any, ...], None, None]:
    """The rows of a read query as plain tuples, fetched `batch` at a time, in the connection's
    own transaction (its snapshot).

    Through the driver's cursor, not Core's result: a whole-ledger pass (`verify`'s chain and
    its index comparison) spent a third of its time building `Row` objects. PostgreSQL: a
    server-side cursor, so the rows are not all fetched into memory at once.
    """
    for rows in stream_chunks(connection, query, batch):
        yield from rows


def stream_chunks(
    connection: Connection, query: str, batch: int = 5000
) -> Generator[list[tuple[Any, ...]], None, None]:
    """The rows of a read query as the driver fetches them: lists of at most `batch` plain
    tuples (`stream_tuples` without its step per row; `verify`'s index comparison reads 4.5M
    entries at 1M events a list at a time)."""
    raw = connection.connection.driver_connection
    if is_postgres(connection):
        # named: several streams may be open at once on one connection
        name = f"sampleloans_stream_{next(_STREAMS)}"
        cursor = raw.cursor(name=name)  # type: ignore[union-attr]  # psycopg
    else:
        cursor = raw.cursor()  # type: ignore[union-attr]  # sqlite3
    try:
        cursor.execute(query)
        while rows := cursor.fetchmany(batch):
            yield rows
    except sqlite3.DatabaseError as exc:
        # as SQLAlchemy wraps it everywhere else: `verify` takes a damaged page (a flipped
        # byte) as its finding, a command as one line, exit 3, never as a traceback
        raise DBAPIError.instance(query, None, exc, sqlite3.Error) from exc
    finally:
        _close_stream(raw, cursor)


def _close_stream(raw: Any, cursor: Any) -> None:
    """Close a stream's cursor. A stage stopped by SIGTERM (`fileio.Terminated`, raised inside a
    query) has its connection closed by SQLAlchemy first: its cursors are gone with it, and
    closing one again must not replace the termination with a driver error."""
    if getattr(raw, "closed", False):  # psycopg says so
        return
    with suppress(sqlite3.ProgrammingError):  # sqlite3: "Cannot operate on a closed database"
        cursor.close()


def reader_of(session: Session) -> Engine:
    """The session's engine for a second, read-only connection (a deferred transaction: it
    never waits for the write lock the session may hold)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return _begin_mode(engine, "DEFERRED")


SCRATCH_INDEXES = ("ix_event_subject_lookup", "ix_incident_sample_code")
"""The only secondary indexes a replay's own lookups use (the events of a sample after a
corrected one; a sample's open incidents); every other read of the unit is by primary key."""


def create_scratch_schema(engine: Engine) -> None:
    """The tables a replay writes, lean: each with its columns and primary key, a key other than
    one integer as the table itself (SQLite `WITHOUT ROWID`: one b-tree, not a table and a key
    index), and
    only `SCRATCH_INDEXES`: no other index, unique hash or trigger to keep up in a copy that
    is compared and thrown away. Same table and column names, so the unit writes it unchanged."""
    from sqlalchemy import Column, Index, MetaData, Table

    lean = MetaData()
    for table in SQLModel.metadata.sorted_tables:
        keys = [column.name for column in table.primary_key.columns]
        copy = Table(
            table.name,
            lean,
            *(
                Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                for c in table.columns
            ),
            sqlite_with_rowid=len(keys) == 1 and isinstance(table.c[keys[0]].type, Integer),
        )
        for index in table.indexes:
            if index.name in SCRATCH_INDEXES:
                Index(index.name, *(copy.c[column.name] for column in index.columns))
    lean.create_all(engine)


def scratch_engine(path: Path, what: str = "the scratch replay in TMPDIR") -> Engine:
    """A throwaway SQLite file for a replay: no journal and no fsync (it is deleted after);
    an environment error under it (a full disk) is exit 3 naming it as `what`."""
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

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> BaseException | None:
        # a full TMPDIR, a file size limit or an I/O error under the scratch file is the
        # environment's (exit 3) wherever the replay meets it: `verify` used to report it as
        # damage of the ledger ("restore the latest verified backup"), exit 1
        return storage_error(context.original_exception, path, damage=False, what=what)

    return engine


# --- PostgreSQL (issue 14) --------------------------------------------------------------------
# Every dialect difference lives here. Writers serialise on one transaction-scoped advisory lock
# taken as the first statement of every write transaction, in READ COMMITTED: that is what
# `BEGIN IMMEDIATE` does on SQLite (REPEATABLE READ on top would refuse most concurrent writes).
# Reads run in REPEATABLE READ, READ ONLY: one snapshot for the whole command.

POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
WRITER_LOCK_KEY = 0x73616D706C65  # "sample": the one advisory lock every writer takes
LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"  # a statement timeout: for a writer, as long a wait as the lock's


class LockHolder(NamedTuple):
    """The server session that holds the writers' lock: its login and server process id."""

    login: str
    pid: int


def writer_lock_holder(engine: Engine) -> LockHolder | None:
    """The session holding the writers' advisory lock on a PostgreSQL ledger, or None when
    no session holds it any more (pg_locks and the login of pg_stat_activity are readable
    by every login)."""
    import psycopg

    # a bigint advisory key is shown as its high half (classid) and low half (objid)
    high, low = WRITER_LOCK_KEY >> 32, WRITER_LOCK_KEY & 0xFFFFFFFF
    query = (
        "SELECT a.usename, l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s "
        "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database()) ORDER BY l.pid LIMIT 1"
    )
    try:
        with closing(engine.raw_connection()) as connection:
            driver = cast("psycopg.Connection[Any]", connection.driver_connection)
            found = driver.execute(query, (high, low)).fetchone()
    except (DBAPIError, psycopg.Error):
        return None  # the lock's timeout is the answer; who held it is a courtesy
    return None if found is None else LockHolder(str(found[0]), int(found[1]))


def locked_message(holder: LockHolder | None) -> str:
    """LOCKED_MESSAGE, naming the login and server process that hold the lock when known."""
    if holder is None:
        return LOCKED_MESSAGE
    return LOCKED_MESSAGE.replace(
        "past the lock timeout;",
        f"past the lock timeout (the login '{holder.login}', server process {holder.pid}, "
        "holds it; a database administrator can end that session with "
        f"pg_terminate_backend({holder.pid}));",
    )


"""SQLSTATE of a lock wait past `lock_timeout` (recognised by code, never by message text)."""


NOTIFY_LOCK_KEY = 0x6E6F74696679  # "notify": held by one `notify` run for its whole run
NOTIFY_LOCKED = (
    "another 'notify' is sending for this ledger and did not finish within the lock timeout; "
    "nothing was sent by this one: run it again once that one ended (or raise "
    "SAMPLELOANS_LOCK_TIMEOUT)"
)
NOTIFY_LOCK_POLL_S = 0.05


@contextmanager
def notify_lock(engine: Engine, *, timeout_ms: int) -> Iterator[None]:
    """Hold the `notify` lock: one `notify` run at a time per ledger, so that a message found
    unsent is sent by one run only, while the writers' lock is free during the talk to the
    SMTP server (a slow server would otherwise stall every writer). PostgreSQL: a session-level
    advisory lock of its own; SQLite: flock(2) on the ledger's `-notify` file beside it."""
    if is_postgres(engine):
        with _pg_notify_lock(engine):
            yield
        return
    path = sqlite_path(str(engine.url))
    if path is None:  # an in-memory ledger: one process, nothing to share
        yield
        return
    # the real file's name: two --db paths to one ledger (a symlink, `./d.db`) share one lock
    with _file_notify_lock(Path(f"{os.path.realpath(path)}-notify"), timeout_ms):
        yield


@contextmanager
def _pg_notify_lock(engine: Engine) -> Iterator[None]:
    """The advisory lock NOTIFY_LOCK_KEY on a connection of its own, waited for up to the
    engine's `lock_timeout` (exit 3 past it), released at the end (the connection too)."""
    with engine.connect() as connection:
        try:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({NOTIFY_LOCK_KEY})")
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                raise StorageError(NOTIFY_LOCKED) from None
            raise
        connection.commit()  # the lock is the session's: it outlives this transaction
        try:
            yield
        finally:
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({NOTIFY_LOCK_KEY})")
            connection.commit()


@contextmanager
def _file_notify_lock(path: Path, timeout_ms: int) -> Iterator[None]:
    """flock(2) on `path` (made 0600 if missing, never removed: removing a lock file races with
    the next run opening it), waited for up to `timeout_ms`; exit 3 past it."""
    import fcntl
    import time

    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise StorageError(f"{path}: cannot open the notify lock file: {exc.strerror}") from None
    try:
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StorageError(NOTIFY_LOCKED) from None
                time.sleep(NOTIFY_LOCK_POLL_S)
        yield  # the lock goes with the descriptor, closed below (or by the process's end)
    finally:
        os.close(descriptor)


def is_postgres(bind: Any) -> bool:
    """Whether an engine or connection talks to PostgreSQL."""
    return bool(bind.dialect.name == "postgresql")


def deleted_rows_problems(connection: Any, table: str, what: str) -> list[str]:
    """Rows of an append-only table (`checkpoint`, `notification_sent`) deleted by hand, the
    triggers dropped and put back. On SQLite a row's integer id is the largest kept before it
    plus one (a rolled-back insert takes none), so a missing id below the largest is a deleted
    row. PostgreSQL's sequences skip the ids of rolled-back inserts, so a gap says nothing
    there; nor does the deletion of the newest row anywhere."""
    if is_postgres(connection):
        return []
    count, largest = connection.execute(text(f"SELECT count(*), max(id) FROM {table}")).one()
    if not largest or count == largest:
        return []
    ids = {int(row[0]) for row in connection.execute(text(f"SELECT id FROM {table}"))}
    missing = sorted(set(range(1, int(largest) + 1)) - ids)
    shown = ", ".join(str(n) for n in missing[:10]) + (", …" if len(missing) > 10 else "")
    return [
        f"{what} {'row' if len(missing) == 1 else 'rows'} {shown} deleted: the {table} table has "
        "ids "
        f"up to {largest} but holds {counted(count, 'row')}; the table was edited"
    ]


def is_postgres_url(url: str) -> bool:
    """Whether a --db value names a PostgreSQL database rather than a SQLite file."""
    return url.startswith(POSTGRES_SCHEMES)


URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
"""The start of a URL (RFC 3986's scheme, then `//`): no ledger file's path starts so."""


def refuse_foreign_url(given: str) -> None:
    """Refuse (exit 2) a --db that is a URL of a database other than PostgreSQL's (`mysql://`,
    `sqlite:///x.db`, `POSTGRESQL://`): read as a file path it named a file under a folder
    `mysql:` that nothing meant, and `init` created it there; and a file path holding "?"."""
    scheme = URL_SCHEME.match(given)
    if is_postgres_url(given):
        return
    if scheme is None:
        refuse_query_mark(given, "--db", " (check --db / SAMPLELOANS_DB)")
        return
    from sampleloans.units import quote_input

    if scheme[1] == "sqlite":
        hint = "give the SQLite file's path itself, without 'sqlite://'"
    elif f"{scheme[1].lower()}://" in POSTGRES_SCHEMES:  # `POSTGRESQL://`: the spelling only
        hint = f"write the scheme in lower case, {scheme[1].lower()}://"
    else:
        hint = "give a SQLite file's path, or postgresql://USER@HOST/DATABASE"
    # masked before it is cut: `mysql://root:PASSWORD@db/x` is a login too
    raise InvalidInput(
        f"--db: {quote_input(_masked(given))} is a URL ({scheme[1]}://), which sampleloans does "
        f"not open; {hint} (check --db / SAMPLELOANS_DB)"
    )


def driver_url(url: str) -> str:
    """The SQLAlchemy URL with psycopg 3 as the driver (`postgresql+psycopg://`)."""
    for scheme in POSTGRES_SCHEMES:
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


SECRET_URL_PARAMETERS = ("password", "sslpassword")
"""Query parameters of a PostgreSQL URL that hold a secret (libpq reads a password there too)."""


def display_url(url: str) -> str:
    """A database URL fit to print: the password is never shown (nor one in the query)."""
    if not is_postgres_url(url):
        return url
    try:
        parsed = make_url(driver_url(url))
    except ValueError:  # not a URL SQLAlchemy reads (a port that is no number): mask by hand
        return _masked(url)
    return _masked(parsed.set(drivername="postgresql").render_as_string(hide_password=True))


def _masked(url: str) -> str:
    """`url` with the password of its user part and of its query replaced by ***: whatever
    lies between the first `:` after the scheme and the last `@` (a password may hold `/`, `?`
    or an unescaped `@`; hiding too much is better than showing any of it)."""
    scheme = URL_SCHEME.match(url)
    if scheme is not None:
        start, at = scheme.end(), url.rfind("@")
        colon = url.find(":", start, at) if at > start else -1
        if colon != -1:
            url = f"{url[: colon + 1]}***{url[at:]}"
    keys = "|".join(SECRET_URL_PARAMETERS)
    return re.sub(rf"([?&](?:{keys})=)[^&#]*", r"\1***", url, flags=re.IGNORECASE)


def server_url(url: str) -> URL:
    """A PostgreSQL `--db` value as SQLAlchemy's URL with psycopg 3 as the driver; one it
    cannot read (a port that is no number, a broken IPv6 host) is invalid input (exit 2)."""
    unreadable = InvalidInput(
        f"--db (or SAMPLELOANS_DB): {_masked(url)} is not a PostgreSQL URL this program can "
        "read; give postgresql://USER:PASSWORD@HOST:PORT/DATABASE (PORT a number, an @ in an "
        "e-mail user or a password as %40)"
    )
    try:
        parsed = make_url(driver_url(url))
    except ValueError:
        raise unreadable from None
    # SQLAlchemy ends the password at its first `@`: the rest of it became the host, which the
    # driver's refusal then printed (`failed to resolve host 'Secret@db.example'`); and libpq
    # ends every value at a NUL (`%00`), so it would connect elsewhere than the URL says
    if "@" in (parsed.host or "") or "\x00" in unquote(url):
        raise unreadable
    # SQLAlchemy decodes every part of the URL but the host; libpq decodes it too, and its
    # documented form for a unix socket folder is an escaped host (`%2Fvar%2Frun%2Fpostgresql`)
    if parsed.host and "%" in parsed.host:
        parsed = parsed.set(host=unquote(parsed.host))
    return parsed


BYTE_ORDER_DATABASE = (
    "SELECT datlocprovider = 'c' AND datcollate IN ('C', 'POSIX') AND datctype IN ('C', 'POSIX') "
    "FROM pg_database WHERE datname = current_database()"
)
"""Whether the database sorts and lowers text as SQLite does (made `--no-locale`, `LOCALE 'C'`)."""


def _byte_order_database(dbapi_connection: Any) -> bool:
    """Whether the database's own collation is byte order and its `lower()` ASCII's: then a
    text key needs no `COLLATE "C"` (`models.byte_order`), which would keep the planner from
    the indexes, made in the database's collation; any other database gets it."""
    cursor = dbapi_connection.cursor()
    try:
        row = cursor.execute(BYTE_ORDER_DATABASE).fetchone()
    finally:
        cursor.close()
        dbapi_connection.rollback()  # the connection is handed over idle, as it came
    return bool(row and row[0])


def _make_postgres_engine(url: str, lock_timeout_ms: int) -> Engine:
    """A psycopg 3 engine keeping one connection for the process (a login costs a scram
    handshake and a server process), `lock_timeout` from the option."""
    # lock_timeout = 0 means "wait for ever" to PostgreSQL; on SQLite 0 means "do not wait"
    timeout = max(1, int(lock_timeout_ms))
    engine = create_engine(
        server_url(url),
        pool_size=1,
        max_overflow=4,  # verify reads on a second connection while its snapshot stays open
        connect_args={
            "options": f"-c lock_timeout={timeout} -c timezone=UTC",
            "application_name": "sampleloans",
            "connect_timeout": 10,
        },
    )

    @event.listens_for(engine, "first_connect")
    def _on_first_connect(dbapi_connection: Any, _record: Any) -> None:
        engine.dialect.collate_c = not _byte_order_database(dbapi_connection)  # type: ignore[attr-defined]  # our own flag on the engine's dialect (models.byte_order)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        mode = options.get("sqlite_begin")
        if mode == "IMMEDIATE":  # a write: queue for the writers' lock first
            _begin_write(connection, with_head=bool(options.get(HAS_LEDGER_OPTION)))
            return
        raw = connection.connection.driver_connection
        if raw.autocommit:  # left so by the last write (`_begin_write`): psycopg's BEGIN again
            raw.autocommit = False
        if mode == "DEFERRED":  # a read: one snapshot, and nothing can be written
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection: Any) -> None:
        # the head and rows read with the lock are valid in their own transaction only; the
        # pending rows were written by the commit, or rolled back
        connection_state(connection).end_transaction()

    @event.listens_for(engine, "rollback")
    def _on_rollback(connection: Any) -> None:
        # (SQLAlchemy's event comes before the driver's rollback)
        if _deallocated_by_rollback(connection.connection.driver_connection):
            connection_state(connection).forget_prepared_writes()

    @event.listens_for(engine, "rollback_savepoint")
    def _on_savepoint_rollback(connection: Any, *_args: Any) -> None:
        state = connection_state(connection)
        state.pending_writes = None  # (never set: the SAVEPOINT wrote them)
        state.forget_prepared_writes()

    event.listen(engine, "after_cursor_execute", _forget_prepared_after)

    event.listen(engine, "before_execute", _write_pending_first)
    # exec_driver_sql skips before_execute: the cursor-level event writes them for it
    event.listen(engine, "before_cursor_execute", _write_pending_first)

    return engine


HAS_LEDGER_OPTION = "sampleloans_has_ledger"
"""Execution option of an engine whose database is known to hold the ledger's tables."""
GUARD_TABLES_OPTION = "sampleloans_guard_tables"
"""Execution option of a PostgreSQL engine: (has the checkpoint table, has the version table),
read with the ledger's own tables when it was opened, for `guard_sql`."""
SEQ_KEYED_TABLES = (
    "event_subject",
    "shipment",
    "weighing",
    "consumption",
    "extension",
    "inventory",
    "incident",
    "note",
)
"""Tables whose rows are keyed by the seq of the event that made them: none may name an event
after the head (`ledger/guard.py`)."""
_GUARD_HEAD_COLUMNS = (
    "seq",
    "kind",
    "payload",
    "occurred_at",
    "recorded_at",
    "actor",
    "os_user",
    "corrects_seq",
    "reason",
    "prev_hash",
    "hash",
)


def guard_sql(*, checkpoints: bool, revision: bool) -> str:
    """The one-row SELECT every write checks before it appends (`ledger/guard.py`), portable
    SQL: the head event, its predecessor's hash, the ledger id, the largest seq each seq-keyed
    table names and, where the ledger has those tables, the newest kept checkpoint and the
    schema revision. Each part is a primary-key lookup or an index's last key: O(1) rows."""
    head = ", ".join(f"h.{name}" for name in _GUARD_HEAD_COLUMNS)
    extra = [
        "(SELECT p.hash FROM ledger_event p WHERE p.seq = h.seq - 1) AS before_hash",
        "(SELECT m.value FROM ledger_meta m WHERE m.key = 'ledger_id') AS ledger_id",
        *(f"(SELECT max(t.seq) FROM {table} t) AS max_{table}" for table in SEQ_KEYED_TABLES),
    ]
    if checkpoints:
        newest = "FROM checkpoint c ORDER BY c.tree_size DESC, c.id DESC LIMIT 1"
        extra += [
            f"(SELECT c.tree_size {newest}) AS checkpoint_size",
            f"(SELECT c.note {newest}) AS checkpoint_note",
            f"(SELECT e.hash FROM ledger_event e WHERE e.seq = (SELECT c.tree_size {newest})) "
            "AS checkpoint_event_hash",
        ]
    if revision:
        extra.append("(SELECT max(v.version_num) FROM alembic_version v) AS revision")
    return (
        f"SELECT {head}, {', '.join(extra)} FROM (SELECT 1 AS one) o LEFT JOIN "
        "(SELECT * FROM ledger_event ORDER BY seq DESC LIMIT 1) h ON 1 = 1"
    )


def normalised_sql(sql: str) -> str:
    """SQL text with every run of whitespace made one space (how it is laid out is no change)."""
    return " ".join(sql.split())


@functools.cache  # the same few tuples, asked once per write by the guard
def normalised_triggers(statements: tuple[str, ...]) -> dict[str, str]:
    """Name → normalised definition of each trigger statement as SQLite stores it (SQLite
    drops `IF NOT EXISTS` from the stored text)."""
    expected = {}
    for statement in statements:
        stored = normalised_sql(statement.replace(" IF NOT EXISTS ", " ", 1))
        expected[stored.split()[2]] = stored
    return expected


def guard_row(connection: Connection) -> dict[str, Any]:
    """`guard_sql`'s row on this connection, by column name (the tables it may name are looked
    up first on SQLite, in its small catalogue; a PostgreSQL engine knows them from its open)."""
    if connection.dialect.name == "postgresql":
        checkpoints, revision = connection.get_execution_options().get(
            GUARD_TABLES_OPTION, (False, False)
        )
        triggers = None
    else:
        # the catalogue is small: the tables the guard may name and every trigger, read at once
        catalogue = connection.exec_driver_sql(
            "SELECT type, name, sql FROM main.sqlite_master WHERE type = 'trigger' "
            "OR (type = 'table' AND name IN ('checkpoint', 'alembic_version'))"
        ).all()
        found = {str(name) for kind, name, _sql in catalogue if kind == "table"}
        checkpoints, revision = "checkpoint" in found, "alembic_version" in found
        triggers = {
            str(name): normalised_sql(str(sql or ""))
            for kind, name, sql in catalogue
            if kind == "trigger"
        }
    sql = guard_sql(checkpoints=checkpoints, revision=revision)
    row = dict(connection.exec_driver_sql(sql).mappings().one())
    if triggers is not None:  # SQLite: its append-only triggers, checked by the guard
        row["triggers"], row["has_checkpoint_table"] = triggers, checkpoints
    return row


def _head_after_lock(options: Any) -> str:
    """The guard row read in the writers' lock's pipeline: no row where row-level security
    filters the events (the head would be the login's last visible event): the unit then reads
    the head through its own query."""
    checkpoints, revision = options.get(GUARD_TABLES_OPTION, (False, False))
    return _head_after_lock_sql(bool(checkpoints), bool(revision))


@functools.cache  # four texts at most, asked by every write
def _head_after_lock_sql(checkpoints: bool, revision: bool) -> str:
    """`_head_after_lock`'s text for a ledger with (or without) those tables."""
    inner = guard_sql(checkpoints=checkpoints, revision=revision)
    return f"SELECT g.* FROM ({inner}) g WHERE NOT row_security_active('ledger_event')"


NOT_READ = object()
"""`read_with_lock`'s answer when the statements did not go with the lock (see there)."""
LockRead = tuple[Any, dict[str, Any]]
"""A Core SELECT and its parameters, to be read in the lock's own pipeline."""
_READ_WITH_LOCK: ContextVar[tuple[LockRead, ...] | None] = ContextVar(
    "sampleloans_read_with_lock", default=None
)
_LOCK_READS: "weakref.WeakKeyDictionary[Any, dict[Any, str]]" = weakref.WeakKeyDictionary()
"""SQL of the statements read with the lock, compiled once per dialect object."""


def read_with_lock(
    session: Session, reads: tuple[LockRead, ...], *, every_row: bool = False
) -> Any:
    """The first row (or None) of each Core SELECT of `reads` (`every_row`: the list of its
    rows), when they begin a write
    transaction on PostgreSQL: read in the same pipeline as the writers' lock, after the grant,
    so no round trip of their own while the lock is held (the acting person, whom every write
    command reads first, and the rows the command declared it will look up by key).

    NOT_READ where they did not go with the lock (SQLite, or a transaction already begun): the
    caller then runs its queries as usual. The session's own pending rows are written first.
    """
    if session.new or session.dirty or session.deleted:
        return NOT_READ  # the session's autoflush must come first: an ordinary query
    token = _READ_WITH_LOCK.set(reads)
    try:
        connection = session.connection()  # a new write transaction begins here, or not
    finally:
        _READ_WITH_LOCK.reset(token)
    state = connection_state(connection)
    found, state.prefetched_rows = state.prefetched_rows, None
    if found is None:
        return NOT_READ
    if every_row:
        return found
    return [rows[0] if rows else None for rows in found]


def _lock_read_sql(dialect: Any, statement: Any) -> str:
    """The SQL of a statement read with the lock, for this dialect (compiled once)."""
    compiled = _LOCK_READS.setdefault(dialect, {})
    found = compiled.get(statement)
    if found is None:
        found = compiled[statement] = statement.compile(dialect=dialect).string
    return found


def _begin_write(connection: Any, *, with_head: bool) -> None:
    """Start a write transaction in one round trip (psycopg's pipeline mode): BEGIN in READ
    COMMITTED, the writers' advisory lock, and, on a ledger, the chain head read once the lock
    is held, with the statements of `read_with_lock` when some wait.

    Each pipelined statement takes its snapshot when the server starts it, so the head is
    read after the lock is granted (the last writer's event is committed and visible). Every
    statement sent and waited for while the lock is held delays every queued writer.
    """
    import psycopg

    raw = connection.connection.driver_connection
    begin = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"
    if raw.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        # The BEGIN goes in the pipeline too: psycopg's own, sent before a pipeline's first
        # statement, waits for its answer (a round trip and two wake-ups of its own per write).
        # In autocommit psycopg sends none; its commit() and rollback() still end the
        # transaction this BEGIN opens (they ask the server whether one is open), and the next
        # transaction that is not a write turns autocommit off again (`_on_begin`).
        raw.autocommit = True
        begin = "BEGIN ISOLATION LEVEL READ COMMITTED"
    statements = [begin, f"SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})"]
    if with_head:
        statements.append(_head_after_lock(connection.get_execution_options()))
    waiting = _READ_WITH_LOCK.get() or ()
    # compiled before the lock is asked for: the pipeline sends each statement at once
    reads = [
        (_lock_read_sql(connection.dialect, statement), params) for statement, params in waiting
    ]
    state = connection_state(connection)
    commands = None
    if begin.startswith("BEGIN") and raw.info.encoding == "utf-8":
        commands = _lock_commands(statements, reads)
    try:
        if commands is not None:
            head, names, rows = _lock_by_libpq(raw, state, commands, statements, with_head)
        else:
            head, names, rows = _lock_by_pipeline(connection, raw, statements, reads, with_head)
    except (psycopg.Error, DBAPIError) as exc:
        error = exc.orig if isinstance(exc, DBAPIError) else exc
        if getattr(error, "sqlstate", None) in (LOCK_NOT_AVAILABLE, QUERY_CANCELED):
            # who holds the lock is what the user needs to act on: a session left open
            raise StorageError(locked_message(writer_lock_holder(connection.engine))) from None
        if isinstance(exc, DBAPIError):
            raise
        raise DBAPIError.instance(statements[1], None, exc, psycopg.Error) from exc
    state.locked_write = True
    if head is not None:
        state.prefetched_head = dict(zip(names, head, strict=True))
    if waiting:
        state.prefetched_rows = [[tuple(row) for row in found] for found in rows]


LockAnswers = tuple[Any, tuple[str, ...], list[list[Any]]]
"""What `_begin_write` reads with the lock: the guard row (or None) and its column names, and
the rows of each statement of `read_with_lock`."""


def _lock_commands(
    statements: list[str], reads: list[tuple[str, dict[str, Any]]]
) -> list[tuple[bytes, list[bytes | None]]] | None:
    """The lock's pipeline as `_send_writes` takes it (numbered SQL, values as text), or None
    where a read's value has no text form this sends (psycopg's pipeline then reads them)."""
    commands: list[tuple[bytes, list[bytes | None]]] = [(sql.encode(), []) for sql in statements]
    for sql, params in reads:
        numbered = _numbered_sql(sql)
        if numbered is None:
            return None
        text_sql, names = numbered
        try:
            commands.append((text_sql, [_text_value(params[name]) for name in names]))
        except (TypeError, KeyError):
            return None
    return commands


def _lock_by_libpq(
    raw: Any,
    state: ConnectionState,
    commands: list[tuple[bytes, list[bytes | None]]],
    statements: list[str],
    with_head: bool,
) -> LockAnswers:
    """Send the BEGIN, the lock, the head and the reads by libpq's own pipeline (each prepared
    on this server session on first use, as the COMMIT's rows are: `_send_writes`) and load
    their rows as psycopg's cursor would (its loaders, by each column's type). psycopg's cursor
    and pipeline cost a writer ~0.15 ms of CPU a write here, most of it after the lock's grant,
    reading the answers while the other writers wait."""
    from psycopg.adapt import Transformer

    answers = _answers_of_writes(raw, state, _send_writes(raw, state, commands, commit=False))
    loader = state.row_loader
    if loader is None or state.row_loader_of is not raw:
        loader = state.row_loader = Transformer.from_context(raw)
        state.row_loader_of = raw
    found: list[list[Any]] = []
    for answer in answers[2:]:  # (the BEGIN's and the lock's answers have no rows)
        loader.set_pgresult(answer)
        found.append(loader.load_rows(0, answer.ntuples, tuple))
    if not with_head:
        return None, (), found
    head_rows, rows = found[0], found[1:]
    names = _COLUMN_NAMES.get(statements[2])
    if names is None:
        head_answer = answers[2]
        names = _COLUMN_NAMES[statements[2]] = tuple(
            head_answer.fname(n).decode() for n in range(head_answer.nfields)
        )
    return (head_rows[0] if head_rows else None), names, rows


def _lock_by_pipeline(
    connection: Any,
    raw: Any,
    statements: list[str],
    reads: list[tuple[str, dict[str, Any]]],
    with_head: bool,
) -> LockAnswers:
    """The same by psycopg's pipeline (a transaction psycopg began, or a value `_text_value`
    has no text form for)."""
    unread = unread_cursor(connection, raw)  # the BEGIN's and the lock's answers
    _quiet_aborted_pipeline()
    with raw.pipeline():
        for statement in statements[:2]:
            unread.execute(statement)
        head_cursor = raw.execute(statements[2]) if with_head else None
        answers = [raw.execute(sql, params) for sql, params in reads]
    head = head_cursor.fetchone() if head_cursor is not None else None
    names = _column_names(head_cursor, statements[2]) if head_cursor is not None else ()
    return head, names, [answer.fetchall() for answer in answers]


_COLUMN_NAMES: dict[str, tuple[str, ...]] = {}
"""The guard row's column names per SQL text (the same few texts for the life of a process)."""


def _column_names(cursor: Any, sql: str) -> tuple[str, ...]:
    """The names of the columns of `sql`'s answer on `cursor`: looked up once per SQL text.
    psycopg's `description` makes an object per column, ~25 µs for the guard row's 25,
    which a writer spent while it held the writers' lock."""
    found = _COLUMN_NAMES.get(sql)
    if found is None:
        found = _COLUMN_NAMES[sql] = tuple(column.name for column in cursor.description or ())
    return found


class _AbortedPipelineEcho(logging.Filter):
    """Drops psycopg's warning that ending a pipeline failed after a statement in it failed:
    the pipeline is then aborted by that very error, which is raised (and reported in one line);
    the echo would print a second line, naming the pipeline, on stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record but the echo."""
        return not record.getMessage().startswith("error ignored terminating <psycopg.Pipeline")


@functools.cache  # asked by every pipelined block (a write's commit, while it holds the lock)
def _quiet_aborted_pipeline() -> None:
    """Install `_AbortedPipelineEcho` on psycopg's logger, once."""
    logger = logging.getLogger("psycopg")
    if not any(isinstance(f, _AbortedPipelineEcho) for f in logger.filters):
        logger.addFilter(_AbortedPipelineEcho())


@contextmanager
def pipelined(connection: Connection) -> Iterator[None]:
    """Send the statements of the block without waiting for each answer (psycopg's pipeline
    mode on PostgreSQL: one round trip for a flush's INSERTs and UPDATEs; SQLite: as is).

    Only for statements whose results nobody reads inside the block; an error of any of
    them is raised, as SQLAlchemy raises it, when the block ends. Inside another such block
    it adds nothing: a nested pipeline's end is a Sync, a round trip of its own (the unit's
    last rows would wait for it before the COMMIT, while the writers' lock is held), so the
    statements go with the outer block's and their errors come at its end.
    """
    if connection.dialect.name != "postgresql":
        yield
        return
    import psycopg

    raw: Any = connection.connection.driver_connection  # a psycopg connection here
    if (
        raw.pgconn.pipeline_status != psycopg.pq.PipelineStatus.OFF
        or connection_state(connection).writes_to_send is not None
    ):  # (gathered writes go in the COMMIT's own pipeline: `_commit_with_pending_writes`)
        yield
        return
    _quiet_aborted_pipeline()
    try:
        with raw.pipeline():
            yield
    except psycopg.Error as exc:
        raise DBAPIError.instance(None, None, exc, psycopg.Error) from exc


def in_keys(column: Any, keys: set[str], dialect_name: str) -> Any:
    """`column IN keys` for the many keys of a batch's checks. On SQLite the keys go as one
    JSON parameter that `json_each` reads: SQLAlchemy renders an IN list one bound value at a
    time (built, then expanded at each execution), which was a third of the checks of a batch
    touching 1,000 loans; SQLite's plan is the same index search per key (a `LIST SUBQUERY`
    of `json_each`). Elsewhere an IN list (PostgreSQL: rendered once, sent in a pipeline)."""
    if dialect_name != "sqlite":
        return column.in_(sorted(keys))
    import json

    from sqlalchemy import bindparam, func, select

    listed = func.json_each(bindparam(None, json.dumps(sorted(keys)), type_=String))
    return column.in_(select(listed.table_valued("value").c.value))


def read_together(connection: Connection, statements: list[Any]) -> list[list[Any]]:
    """The rows of each Core SELECT of `statements` (independent of one another): on PostgreSQL
    all in one pipeline, one round trip, with the rows a unit left for the next statement
    (`ConnectionState.pending_writes`) written first in it (a write's checks read while it
    holds the writers' lock: each round trip delays every queued writer); elsewhere, or inside
    another pipelined block, one query after another.

    Rows have the statements' column names as attributes, as SQLAlchemy's do.
    """
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name != "postgresql" or _in_pipeline(raw):
        # `all()`: one fetch of every row, not a fetch for each (1,000s in a batch's checks)
        return [list(connection.execute(statement).all()) for statement in statements]
    import psycopg
    from psycopg.rows import namedtuple_row

    # compiled before anything is sent: the expanding IN lists rendered as parameters
    compiled = [
        statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
        for statement in statements
    ]
    _quiet_aborted_pipeline()
    try:
        with raw.pipeline():
            # a unit's rows left for the next statement: every read below sees them
            pending = connection_state(connection).take_pending_writes()
            if pending is not None:
                pending.flush()
            cursors = [raw.cursor(row_factory=namedtuple_row) for _ in compiled]
            for cursor, query in zip(cursors, compiled, strict=True):
                cursor.execute(query.string, query.params)
        return [cursor.fetchall() for cursor in cursors]
    except psycopg.Error as exc:
        raise DBAPIError.instance(None, None, exc, psycopg.Error) from exc


def postgres_defences() -> tuple[str, ...]:
    """The database's own defences on PostgreSQL, against a client that skips the application
    (the genesis rule comes from `ledger/chain.py`, loaded only here: reads never load it)."""
    from sampleloans.ledger.chain import GENESIS_PREFIX

    return (
        # the chain's links are unique: two events can never claim the same predecessor
        f"CREATE UNIQUE INDEX IF NOT EXISTS {DEFENCE_INDEX} ON ledger_event (prev_hash)",
        f"""CREATE OR REPLACE FUNCTION ledger_event_next() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        last_seq bigint;
        last_hash text;
    BEGIN
        SELECT seq, hash INTO last_seq, last_hash FROM ledger_event ORDER BY seq DESC LIMIT 1;
        IF last_seq IS NULL THEN
            last_seq := 0;
            SELECT encode(sha256(convert_to('{GENESIS_PREFIX}' || value, 'UTF8')), 'hex')
              INTO last_hash FROM ledger_meta WHERE key = 'ledger_id';
        END IF;
        IF NEW.seq IS DISTINCT FROM last_seq + 1 THEN
            RAISE EXCEPTION 'ledger events are appended in order: seq % expected, % given',
                last_seq + 1, NEW.seq USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF NEW.prev_hash IS DISTINCT FROM last_hash THEN
            RAISE EXCEPTION 'event % does not link to the previous hash', NEW.seq
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END $$""",
        """CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
    END $$""",
        "CREATE OR REPLACE TRIGGER ledger_event_next BEFORE INSERT ON ledger_event "
        "FOR EACH ROW EXECUTE FUNCTION ledger_event_next()",
        *(
            f"CREATE OR REPLACE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"FOR EACH {level} EXECUTE FUNCTION ledger_refuse_change('{message}')"
            for table, message in (
                ("ledger_event", "ledger events are append-only: record a correction"),
                ("ledger_meta", "ledger metadata is written once"),
                ("checkpoint", "checkpoints are append-only"),
                ("notification_sent", "notifications sent are append-only"),
            )
            for verb, level in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT"))
        ),
    )


POSTGRES_TRIGGER_NAMES = (
    "ledger_event_next",
    *TRIGGER_NAMES,
    "ledger_event_no_truncate",
    "ledger_meta_no_truncate",
)
POSTGRES_CHECKPOINT_TRIGGER_NAMES = (
    "checkpoint_no_update",
    "checkpoint_no_delete",
    "checkpoint_no_truncate",
)
"""Expected once the checkpoint table exists (revision 0004)."""
POSTGRES_NOTIFICATION_TRIGGER_NAMES = (
    "notification_sent_no_update",
    "notification_sent_no_delete",
    "notification_sent_no_truncate",
)
"""Expected from revision 0013 (`NOTIFICATION_TRIGGERS_SINCE`)."""


def notification_triggers_expected(connection: Any) -> bool:
    """Whether this ledger's schema revision has the append-only triggers of
    `notification_sent` (0013 or later; revisions are numbered in order)."""
    if connection.dialect.name == "postgresql":
        present = connection.execute(text("SELECT to_regclass('alembic_version')")).scalar()
    else:
        present = connection.execute(
            text(
                "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            )
        ).scalar()
    if not present:
        return False
    found = connection.execute(text("SELECT max(version_num) FROM alembic_version")).scalar()
    return has_notification_triggers(found)


def has_notification_triggers(revision: object) -> bool:
    """Whether a ledger at `revision` (None: unknown) has the append-only triggers of
    `notification_sent` (revisions are numbered in order)."""
    return revision is not None and str(revision)[:4] >= NOTIFICATION_TRIGGERS_SINCE[:4]


@compiles(Integer, "postgresql")
def _integer_is_bigint(type_: Integer, compiler: Any, **kw: Any) -> str:
    """Every integer column is 64-bit on PostgreSQL, as on SQLite (masses in µg pass 2**31).

    Only in a column's DDL (`type_expression` is the column); a CAST keeps INTEGER, which
    SQLAlchemy's own catalogue queries rely on.
    """
    if kw.get("type_expression") is not None:
        return "BIGINT"
    return str(compiler.visit_INTEGER(type_, **kw))


def _stamp_head(connection: Any) -> None:
    """Record the migration head in the new ledger (Alembic is imported only here)."""
    from sampleloans import migrate

    migrate.stamp_head(connection)


def _create_postgres_schema(engine: Engine, *, stamp: bool) -> None:
    """Tables and defences in one transaction (DDL is transactional on PostgreSQL)."""
    with engine.begin() as connection:
        install_postgres_schema(connection, stamp=stamp)


def install_postgres_schema(connection: Connection, *, stamp: bool) -> None:
    """Create the tables and defences in the caller's transaction (with `stamp`, at this
    release's migration head)."""
    SQLModel.metadata.create_all(connection)
    for statement in postgres_defences():
        connection.execute(text(statement))  # text(): psycopg reads a bare % as a parameter
    if stamp:
        _stamp_head(connection)


SCHEMA_HEAD = "0017_byte_order_indexes"
"""This release's migration head, known without loading Alembic (a test keeps it equal to the
revisions' head)."""


@functools.lru_cache(maxsize=64)  # the guard asks on every write: a stat and four Paths
def is_known_revision(revision: str) -> bool:
    """Whether `revision` is one of this release's migrations (their files are named after
    them), without loading Alembic."""
    if not re.fullmatch(r"[0-9]{4}_[a-z0-9_]{1,60}", revision):
        return False
    return (Path(__file__).parent / "migrations" / "versions" / f"{revision}.py").is_file()


def schema_behind(engine: Engine) -> str | None:
    """The revision a ledger's schema is at when it is not this release's (None when it is);
    a ledger from before migrations has no version table: 'the baseline'. A damaged file
    whose revision cannot be read gives None: the damage is `verify`'s finding, not a note."""
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return "the baseline (a ledger from before migrations)"
            found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DatabaseError as exc:
        raise_if_environment(exc, str(engine.url.database))
        return None
    return None if found == SCHEMA_HEAD else str(found)


def require_table(connection: Connection, table: str, what: str) -> None:
    """Refuse (exit 3) a write that needs a table this ledger's schema does not have yet: the
    ledger predates the revision that adds it, and `db upgrade` brings it in."""
    if not inspect(connection).has_table(table):
        raise StorageError(
            f"{what} needs the {table} table, which this ledger's schema does not have yet: "
            "a curator runs 'sampleloans db upgrade' first; nothing was written"
        )


def ledger_tables_present(connection: Connection) -> list[str]:
    """The ledger's tables that already exist in a PostgreSQL database (sorted)."""
    names = sorted(str(table.name) for table in SQLModel.metadata.sorted_tables)
    return [
        name
        for name in names
        if connection.execute(
            text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name}
        ).scalar()
    ]


def copy_tables(source: Connection, target: Connection, *, batch_rows: int = 5000) -> None:
    """Copy every row of every model table from `source` to `target`, parents first (the
    target's tables exist and are empty; its triggers see events appended in seq order)."""
    tables = SQLModel.metadata.sorted_tables
    # the metadata first: the genesis link of event 1 is checked against the ledger id
    for table in sorted(tables, key=lambda table: table.name != "ledger_meta"):
        order = list(table.primary_key.columns) or list(table.columns)
        rows = source.execute(table.select().order_by(*order))
        while batch := rows.fetchmany(batch_rows):
            target.execute(table.insert(), [dict(row._mapping) for row in batch])
    if is_postgres(target):
        _advance_sequences(target, tables)


def _advance_sequences(target: Connection, tables: Sequence[Table]) -> None:
    """Set each serial column's sequence past the ids copied in: rows inserted with their own
    ids leave it at 1, and the next row `checkpoint` (or `notify`) appends would be refused as
    a duplicate of the first."""
    for table in tables:
        column = table.autoincrement_column
        if column is None:
            continue
        target.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                f"coalesce((SELECT max({column.name}) FROM {table.name}), 0) + 1, false)"
            )
        )


def _postgres_ledger_probe(engine: Engine, where: str) -> tuple[bool, list[bool]]:
    """Whether the database holds a ledger, and whether it has the tables the write guard
    reads (`checkpoint`, `alembic_version`); a server we cannot reach or use: exit 3."""
    try:
        with engine.connect() as connection:
            # one catalogue lookup (to_regclass: NULL for a table that is not there)
            found, *guard_tables = connection.exec_driver_sql(
                "SELECT to_regclass('ledger_event') IS NOT NULL "
                "AND to_regclass('ledger_meta') IS NOT NULL, "
                "to_regclass('checkpoint') IS NOT NULL, to_regclass('alembic_version') IS NOT NULL"
            ).one()
            has_ledger = bool(found) and bool(
                connection.exec_driver_sql("SELECT count(*) FROM ledger_meta").scalar()
            )
    except DatabaseError as exc:
        raise postgres_error(exc, where) or StorageError(
            f"cannot use the database {where}: {_first_line(exc)}"
        ) from None
    return has_ledger, [bool(present) for present in guard_tables]


def holds_no_ledger(url: str, *, lock_timeout_ms: int) -> bool:
    """Whether `url` names a place with no ledger yet, where one may be built: no SQLite file
    (nor a link) at its path, or a PostgreSQL database holding none (unreachable: exit 3)."""
    if not is_postgres_url(url):
        path = sqlite_path(url)
        return path is not None and not os.path.lexists(path)
    engine = _make_postgres_engine(url, lock_timeout_ms)
    try:
        has_ledger, _guard_tables = _postgres_ledger_probe(engine, display_url(url))
    finally:
        engine.dispose()
    return not has_ledger


def _open_postgres(url: str, *, create: bool, lock_timeout_ms: int) -> Engine:
    """A PostgreSQL ledger: `create` refuses a database that already holds one; otherwise
    a database with no ledger is refused (exit 3), and so is a server we cannot reach."""
    engine = _make_postgres_engine(url, lock_timeout_ms)
    where = display_url(url)
    try:
        has_ledger, guard_tables = _postgres_ledger_probe(engine, where)
    except StorageError:
        engine.dispose()
        raise
    if create and has_ledger:
        engine.dispose()
        raise StorageError(
            f"database {where} already holds a ledger; choose another --db or use the existing one"
        )
    if not create and not has_ledger:
        engine.dispose()
        raise StorageError(
            f"no ledger in the database {where}; run 'sampleloans init' or pass --db / "
            "SAMPLELOANS_DB"
        )
    if create:
        try:
            _create_postgres_schema(engine, stamp=True)
        except DatabaseError as exc:
            engine.dispose()
            raise postgres_error(exc, where) or StorageError(
                f"cannot create the ledger's tables in {where}: {_first_line(exc)}"
            ) from None
    if create:  # made at this release's head: every table the write guard reads
        guard_tables = [True, True]
    options = {HAS_LEDGER_OPTION: True, GUARD_TABLES_OPTION: tuple(guard_tables)}
    return engine.execution_options(**options)


INSUFFICIENT_PRIVILEGE = "42501"
"""SQLSTATE of a privilege the server refuses the login (e.g. DDL by a person's login)."""
_POSTGRES_ENVIRONMENT = {
    LOCK_NOT_AVAILABLE: lambda _where, _said: LOCKED_MESSAGE,
    QUERY_CANCELED: lambda _where, _said: LOCKED_MESSAGE,
    "28P01": lambda where, _said: f"the server refused the login to {where}: wrong password",
    "28000": lambda where, said: f"the server refused the login to {where} ({said})",
    "3D000": lambda where, _said: f"the database {where} does not exist; create it first",
    INSUFFICIENT_PRIVILEGE: lambda where, said: (
        f"the server refused this login in {where} ({said}); nothing was written"
    ),
    "53100": lambda where, _said: f"the server's disk is full ({where}); nothing was written",
    "25006": lambda where, _said: f"cannot write {where}: a read-only transaction",
}
"""SQLSTATEs that mean the environment failed (exit 3), each with its message."""


SCHEMA_CHANGED_STATES = ("42703", "42P01")
"""SQLSTATEs undefined_column and undefined_table: a statement of this release on a column or
table the database lacks, i.e. its schema was changed by hand (SQLite: SCHEMA_CHANGED_ERRORS)."""


NOLOGIN_TEXT = "is not permitted to log in"
"""The server's FATAL for a role without LOGIN (a deactivated person). libpq gives no SQLSTATE
for a failure while connecting, so this text (the server's own, untranslated under lc_messages
C or English) is the only signal; any other wording stays an environment error (exit 3)."""


PASSWORD_TEXT = "password authentication failed"
"""The server's FATAL for a wrong password, or a login given none yet (libpq: no SQLSTATE, as
for NOLOGIN_TEXT)."""
NO_PASSWORD_TEXT = "no password supplied"
"""libpq's own refusal when the server asks for a password and none was given."""


def _password_refused(where: str, said: str) -> str:
    """Why the server refused a login's password, and what sets one (a person's login has
    none until the DBA gives it one: 'db secure', 'people add')."""
    from urllib.parse import unquote, urlsplit

    login = unquote(urlsplit(where).username or "USER")
    if NO_PASSWORD_TEXT in said:
        return (
            f"the server refused the login to {where}: it asks {login} for a password and "
            "none was given: put it in the URL (postgresql://USER:PASSWORD@…), or in "
            "PGPASSWORD or ~/.pgpass"
        )
    return (
        f"the server refused the login to {where}: password authentication failed for "
        f"{login}: a wrong password, or none set yet (a person's login has none until the DBA "
        f'sets it: psql\'s \\password "{login}")'
    )


# libpq's refusals of a connection option or its value, found before it connects
# ('invalid connection option "x"', 'invalid sslmode value: "x"', 'invalid integer value
# "x" for connection option "port"', 'invalid port number: "x"')
LIBPQ_BAD_OPTION = re.compile(
    r"(connection is bad: )?invalid (connection option|\S+ value|integer value|port number)"
)


def postgres_error(exc: BaseException, where: str) -> SampleLoansError | None:
    """The one-line error for a PostgreSQL error (exit 3: the environment; exit 4: a
    deactivated person's revoked login), or None.

    Recognised by SQLSTATE; a server that cannot be reached at all has none (libpq's own
    connection failure), and is an environment error too.
    """
    orig = getattr(exc, "orig", None) or exc
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in SCHEMA_CHANGED_STATES:
        return StorageError(
            f"the schema of the ledger {where} is not this release's (PostgreSQL says: "
            f"{_first_line(orig)}): it was changed by hand; nothing was written; run "
            "'sampleloans verify'"
        )
    message = _POSTGRES_ENVIRONMENT.get(sqlstate or "")
    if message is not None:
        return StorageError(message(where, _first_line(orig)))
    if sqlstate is None and LIBPQ_BAD_OPTION.match(str(orig)):
        # libpq refused the URL's own options before reaching any server: a typo in --db
        return InvalidInput(
            f"--db (or SAMPLELOANS_DB): {where}: {_first_line(orig)}; the options after '?' are "
            "libpq's (e.g. sslmode=require|verify-full)"
        )
    if sqlstate is None and type(orig).__name__ == "OperationalError":
        if NOLOGIN_TEXT in str(orig):
            return PermissionDenied(
                f"the server refused the login to {where}: this person's login is revoked "
                "(deactivated); a curator may reactivate them ('people reactivate')"
            )
        if PASSWORD_TEXT in str(orig) or NO_PASSWORD_TEXT in str(orig):
            return StorageError(_password_refused(where, str(orig)))
        return StorageError(f"cannot connect to the database {where}: {_first_line(orig)}")
    return None


def _first_line(exc: BaseException) -> str:
    """The first line of an error's message (PostgreSQL adds DETAIL and CONTEXT lines)."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0][:300]
