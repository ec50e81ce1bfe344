"""Schema migrations as a service: `db upgrade` (curators) and the SQL a DBA reviews.

The migrations themselves live in `sampleloans/migrations/` and run through `migrate.py`;
commands reach them only here (tests/test_architecture.py).
"""

from sqlalchemy import Engine
from sqlalchemy.exc import DatabaseError

from sampleloans import db, migrate
from sampleloans.errors import InvalidInput, StorageError
from sampleloans.ledger.envelope import Context
from sampleloans.services.common import require_role
from sampleloans.units import quote_input

BASELINE = migrate.BASELINE
UpgradeResult = migrate.UpgradeResult


def upgrade_sql(url: str, since: str | None) -> str:
    """The SQL that brings a database of `url`'s kind from `since` (None: empty) to the head."""
    known = migrate.known_revisions()
    if since is not None and since not in known:
        raise InvalidInput(
            f"--from: {quote_input(since)} is not a revision; known: {', '.join(known)}"
        )
    if db.is_postgres_url(url):
        db.server_url(url)  # one the offline script could not read either: exit 2, not a trace
    return migrate.upgrade_sql(db.driver_url(url), since)


def upgrade(engine: Engine, ctx: Context) -> "migrate.UpgradeResult":
    """Bring the ledger's schema to this release's revision, in one transaction (curators)."""
    with db.transaction(engine, write=False) as session:
        require_role(session, ctx, "curator", action="upgrade the schema")
    try:
        return migrate.upgrade(engine)
    except DatabaseError as exc:
        # e.g. a curator's own login on a secured ledger, which may not alter what the owner
        # owns (the DBA runs it): the server's refusal in one line, exit 3; nothing changed
        refusal = db.storage_error(exc, db.where(engine))  # SQLite's or the server's words
        if refusal is None:
            raise
        if getattr(exc.orig, "sqlstate", None) == db.INSUFFICIENT_PRIVILEGE:
            raise StorageError(
                f"{refusal}; on a secured ledger the DBA (a superuser) runs 'db upgrade', "
                "--as a curator"
            ) from None
        raise refusal from None
