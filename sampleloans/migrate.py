"""Schema migrations with Alembic: `db upgrade`, its offline `--sql`, and stamping new ledgers.

Alembic is configured in code (no alembic.ini to ship or find): the revisions live in the
package (`sampleloans/migrations/versions`), so an installed wheel can upgrade a ledger.
Rules every revision keeps are in docs/migrations.md.
"""

import io
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from sampleloans.errors import StorageError

SCRIPT_LOCATION = "sampleloans:migrations"
BASELINE = "0001_baseline"
"""The revision of the schema as it was when migrations began (release 0.1)."""


def config(url: str | None = None, connection: Connection | None = None) -> Config:
    """Alembic's configuration for this package's revisions."""
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision this release knows."""
    head = ScriptDirectory.from_config(config()).get_current_head()
    assert head is not None  # the package always ships its baseline
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision a database is stamped with (None: never stamped)."""
    return MigrationContext.configure(connection).get_current_revision()


def stamp_head(connection: Connection) -> None:
    """Record that a schema just created from the models is at this release's head."""
    context = MigrationContext.configure(connection)
    context.stamp(ScriptDirectory.from_config(config()), "head")


@dataclass(frozen=True)
class UpgradeResult:
    """What `db upgrade` did: the revision before (None: a ledger from before migrations,
    taken as the baseline) and after."""

    before: str | None
    after: str
    defences_restored: bool = False


def upgrade(engine: Engine) -> UpgradeResult:
    """Bring a database's schema to this release's head, in one transaction.

    A ledger created before migrations existed has no version table: its schema is the
    baseline's, so it is stamped with the baseline first and upgraded from there. An empty
    database gets every revision from the baseline on.
    """
    # the writers' lock first (BEGIN IMMEDIATE on SQLite): a second upgrade at the same time
    # waits for this one, then finds nothing to do, instead of failing as "locked" at once
    with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
        _refuse_unknown(connection)
        before = current_revision(connection)
        if before is None and inspect(connection).has_table("ledger_event"):
            MigrationContext.configure(connection).stamp(
                ScriptDirectory.from_config(config()), BASELINE
            )
        command.upgrade(config(connection=connection), "head")
        after = current_revision(connection)
        restored = _restore_postgres_defences(connection)
    assert after is not None
    return UpgradeResult(before=before, after=after, defences_restored=restored)


def _restore_postgres_defences(connection: Connection) -> bool:
    """On a PostgreSQL ledger without the login hardening, create the chain's triggers,
    functions and keys again when one is missing, disabled or altered (verify's finding, which stops
    every checkpoint); a secured ledger gets them back from `db secure`, which also hands them
    to the NOLOGIN owner. Whether it did."""
    from sampleloans import db, pgsecurity

    if connection.dialect.name != "postgresql" or pgsecurity.is_secured(connection):
        return False
    if not db.postgres_trigger_problems(connection):
        return False
    db.reinstall_postgres_defences(connection)
    return True


def _refuse_unknown(connection: Connection) -> None:
    """Refuse (exit 3, nothing changed) a ledger whose version table holds a revision this
    release does not know, or several: Alembic would fail on it, and no upgrade leads from it."""
    found = MigrationContext.configure(connection).get_current_heads()
    if len(found) > 1:
        raise StorageError(
            f"the ledger's schema version table holds {len(found)} revisions "
            f"({', '.join(sorted(found))}), where every release writes one: it was edited by "
            "hand (run 'sampleloans verify'); nothing changed"
        )
    if found and found[0] not in known_revisions():
        raise StorageError(
            f"{unknown_revision_message(found[0])} (run 'sampleloans verify'); nothing changed"
        )


def unknown_revision_message(revision: str) -> str:
    """What a version table stamped with a revision this release does not know means."""
    return (
        f"the ledger's schema version table holds {revision!r}, a revision this release does "
        f"not know (its newest is {head_revision()}): a newer release wrote this ledger (use "
        "it), or the table was edited by hand"
    )


def upgrade_sql(url: str, since: str | None = None) -> str:
    """The SQL that upgrades a database of `url`'s kind from `since` (default: an empty
    database) to head, for a DBA to review and run; nothing is connected to."""
    buffer = io.StringIO()
    cfg = config(url)
    cfg.output_buffer = buffer
    command.upgrade(cfg, f"{since}:head" if since else "head", sql=True)
    return buffer.getvalue()


def known_revisions() -> list[str]:
    """Every revision of this release, oldest first."""
    script = ScriptDirectory.from_config(config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]
