"""An index on `lower(loan.number)`: a new loan number that differs from a recorded one only in
case (`l-2025-uoc` beside `L-2025-UoC`) is refused with one index lookup, not a scan of every
loan (an import of 20,000 loans made that a cost growing with the square of the loans).

Revision ID: 0007_loan_number_case
Revises: 0006_definer_search_path
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_loan_number_case"
down_revision: str | Sequence[str] | None = "0006_definer_search_path"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_loan_number_lower"


def upgrade() -> None:
    """Add the index (an index only: no row is touched), unless a ledger made by this release's
    models already has it (SQLAlchemy does not reflect an expression index on SQLite, so the
    statement itself asks: both engines know IF NOT EXISTS)."""
    op.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON loan (lower(number))")


def downgrade() -> None:
    """Migrations only go forward (docs/migrations.md)."""
    raise NotImplementedError("sampleloans migrations only go forward")
