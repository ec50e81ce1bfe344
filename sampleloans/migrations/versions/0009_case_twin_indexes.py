"""Indexes on `lower(institution.short_name)` and `lower(agreement.number)`: a new short name or
agreement number that differs from a recorded one only in case is refused with one index
lookup, as a loan number already is (0007), not a scan of the table. On PostgreSQL that scan ran
while the write held the writers' lock, so every queued writer waited for it, longer as the
table grew.

Revision ID: 0009_case_twin_indexes
Revises: 0008_staff_of_this_ledger
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_case_twin_indexes"
down_revision: str | Sequence[str] | None = "0008_staff_of_this_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_institution_short_name_lower": "institution (lower(short_name))",
    "ix_agreement_number_lower": "agreement (lower(number))",
}


def upgrade() -> None:
    """Add the indexes (indexes only: no row is touched), unless a ledger made by this
    release's models already has them (SQLAlchemy does not reflect an expression index on
    SQLite, so the statement itself asks: both engines know IF NOT EXISTS)."""
    for name, target in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


def downgrade() -> None:
    """Migrations only go forward (docs/migrations.md)."""
    raise NotImplementedError("sampleloans migrations only go forward")
