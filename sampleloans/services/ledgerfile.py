"""The ledger file a command works on: open it, run one transaction on it, create a new one.

Commands reach the database only through this module (tests/test_architecture.py): they never
build an engine or a session themselves, so how the database is opened stays in `db.py`.

Opening the ledger also ends the command's start (`gcpause.end_startup`): its modules are loaded
by then, and what it reads and writes next is garbage-collected as usual.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from sampleloans import db
from sampleloans.gcpause import end_startup


def is_server_url(given: str) -> bool:
    """Whether `--db` names a PostgreSQL server (`postgresql://…`) rather than a file."""
    return db.is_postgres_url(given)


def ledger_file(given: str) -> Path:
    """The SQLite file a --db value that is not a server URL names; a URL of another kind
    (`mysql://…`, `sqlite:///…`) or a path holding "?" is refused (exit 2), never read as a
    path."""
    db.refuse_foreign_url(given)
    return Path(given)


def display_url(url: str) -> str:
    """A server URL fit to print: its password is never shown."""
    return db.display_url(url)


def refuse_query_mark(given: str, option: str) -> None:
    """Refuse (exit 2) a new ledger's path holding "?", led by `option`: no URL can name it."""
    db.refuse_query_mark(given, option)


def url_for_path(path: Path) -> str:
    """The database URL of a SQLite ledger file."""
    return db.url_for_path(path)


def open_ledger_url(
    url: str, *, create: bool = False, lock_timeout_ms: int | None = None
) -> Engine:
    """The ledger at `url` (a SQLite file's URL or a PostgreSQL server's): see `open_ledger`."""
    engine = db.open_engine(url, create=create, lock_timeout_ms=lock_timeout_ms)
    end_startup()
    return engine


def holds_no_ledger(url: str, *, lock_timeout_ms: int) -> bool:
    """Whether `url` names no ledger yet, where `import` of an events export rebuilds one (as
    `restore --events` does): a SQLite file that does not exist, or a PostgreSQL database with
    no ledger in it (one holding some of its tables is then refused by the restore, exit 3)."""
    return db.holds_no_ledger(url, lock_timeout_ms=lock_timeout_ms)


def engine_for_restore_url(url: str, *, lock_timeout_ms: int) -> Engine:
    """`engine_for_restore` for a ledger named by URL (PostgreSQL refuses restore itself)."""
    end_startup()
    return db.make_engine(url, lock_timeout_ms=lock_timeout_ms)


def create_ledger(url: str, build: Callable[[Engine], None]) -> None:
    """Create a new ledger at `url` (a file or an empty PostgreSQL database) with `build`."""
    end_startup()
    db.create_ledger(url, build)


def open_ledger(path: Path, *, create: bool = False, lock_timeout_ms: int | None = None) -> Engine:
    """The ledger database at `path`: a file that is not a ledger is refused (exit 3) without
    being written; a missing one is created only when `create`."""
    return open_ledger_url(db.url_for_path(path), create=create, lock_timeout_ms=lock_timeout_ms)


def engine_for_restore(path: Path, *, lock_timeout_ms: int) -> Engine:
    """An engine on the file a restore replaces, which may be missing or damaged, so it is not
    proved to be a ledger first (the restore service checks what it replaces)."""
    return engine_for_restore_url(db.url_for_path(path), lock_timeout_ms=lock_timeout_ms)


@contextmanager
def transaction(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """One transaction on the ledger: committed on success, rolled back on any error."""
    if write:  # loaded before the writers' lock is taken, not by the first append inside it
        from sampleloans.ledger import store  # noqa: F401
    with db.transaction(engine, write=write) as session:
        yield session


def create_ledger_file(path: Path, build: Callable[[Engine], None]) -> None:
    """Build a new ledger at `path` with `build`, all or nothing (an existing file is refused)."""
    end_startup()
    db.create_ledger_file(path, build)


SCHEMA_HEAD = db.SCHEMA_HEAD


def schema_behind(engine: Engine) -> str | None:
    """The revision of a ledger whose schema is older than this release's, or None (also for
    a revision this release does not know, or an empty version table: `verify`'s findings,
    which no `db upgrade` mends)."""
    behind = db.schema_behind(engine)
    if behind is None or behind.startswith("the baseline"):
        return behind
    from sampleloans import migrate

    return behind if behind in migrate.known_revisions() else None


def who_upgrades(engine: Engine) -> str:
    """Who runs `db upgrade` on this ledger: on a secured PostgreSQL one the DBA (a curator's
    own login may not alter the tables the NOLOGIN owner owns), elsewhere a curator."""
    from sampleloans import pgsecurity

    if db.is_postgres(engine):
        with engine.connect() as connection:
            if pgsecurity.is_secured(connection):
                return "the DBA (a superuser) runs 'sampleloans db upgrade', --as a curator,"
    return "a curator runs 'sampleloans db upgrade'"
