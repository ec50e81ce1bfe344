"""Alembic's environment: run the revisions on the ledger's connection, or print their SQL.

`sampleloans db upgrade` configures Alembic in code (`sampleloans/migrate.py`) and passes the
connection it opened in `config.attributes["connection"]`; `--sql` runs offline from the URL.
"""

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import sampleloans.models  # noqa: F401  (registers every table on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def run_offline() -> None:
    """Print the SQL of the revisions for a DBA to review and run (no connection)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        # the script is run by psql, not a driver: with psycopg's paramstyle (pyformat) every
        # `%` of a statement came out doubled, and PL/pgSQL read RAISE's `%%` as a literal
        # percent sign ("too many parameters specified for RAISE"); `named` leaves it alone
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: Connection) -> None:
    """Run the revisions on the ledger's open connection, in its transaction."""
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online(config.attributes["connection"])
