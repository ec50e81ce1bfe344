"""An index on `lower(loan.number)`: a new loan number that differs from a recorded one only in
case (`l-2025-uoc` beside `L-2025-UoC`) is refused with one index lookup, not a scan of every
loan (an import of 20,000 loans made that a cost growing with the square of the loans).

Revision ID: 0007_loan_number_case
Revises: 0006_definer_search_path
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0007_loan_number_case"
down_revision: str | Sequence[str] | None = "0006_definer_search_path"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_loan_number_lower"


def upgrade() -> None:
    """Add the index (an index only: no row is touched)."""
    # offline (--sql) there is no database to ask: the script creates the index
    if not context.is_offline_mode():
        names = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("loan")}
        if INDEX in names:
            return
    op.create_index(INDEX, "loan", [sa.text("lower(number)")], unique=False)


def downgrade() -> None:
    """Migrations only go forward (docs/migrations.md)."""
    raise NotImplementedError("sampleloans migrations only go forward")
