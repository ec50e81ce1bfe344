"""Indexes in the "C" collation on PostgreSQL: the case-twin lookups of institution short
names, agreement numbers and loan numbers, and the first page of `samples list` and `loans
list`, answered from an index on a database whose collation is not byte order.

On such a database (`en_US.UTF-8`, any ICU locale: what most DBAs create) every listing's
ORDER BY of a text key and every case-twin lookup reads the key `COLLATE "C"`, so that it
sorts and lowers as SQLite does; the key indexes and the `lower(…)` indexes of 0007 and 0009,
made in the database's collation, do not answer that SQL. Before, a case-twin lookup scanned
its table while the write held the writers' lock (every `loans request` on a ledger of 20,000
loans), and the first page of `samples list` sorted every sample. These indexes are on exactly
the expressions that SQL holds.

Made on every PostgreSQL ledger, whatever its collation: a database in byte order (`C`,
`POSIX`) does not need them, but they are small (a key each), cheap to keep up, and a ledger
copied with `pg_dump` into a database of another collation then keeps them; SQLite compares
text by its bytes already, so nothing changes there. Indexes only: no row is touched. Frozen
(docs/migrations.md rule 4): the DDL is written out here. On a PostgreSQL ledger secured with
`db secure`, run by the DBA (an index needs the table's owner).

Revision ID: 0017_byte_order_indexes
Revises: 0016_event_size_limit
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017_byte_order_indexes"
down_revision: str | Sequence[str] | None = "0016_event_size_limit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_institution_short_name_lower_c": 'institution (lower(short_name COLLATE "C"))',
    "ix_agreement_number_lower_c": 'agreement (lower(number COLLATE "C"))',
    "ix_sample_code_c": 'sample (code COLLATE "C")',
    "ix_loan_number_lower_c": 'loan (lower(number COLLATE "C"))',
    "ix_loan_number_c": 'loan (number COLLATE "C")',
}


def upgrade() -> None:
    """On PostgreSQL, add the indexes (indexes only: no row is touched), unless a ledger made
    by this release's models already has them."""
    if op.get_context().dialect.name != "postgresql":
        return
    for name, target in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


def downgrade() -> None:
    """Migrations only go forward (docs/migrations.md)."""
    raise NotImplementedError("sampleloans migrations only go forward")
