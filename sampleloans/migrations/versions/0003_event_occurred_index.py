"""An index on `ledger_event.occurred_at`: "as of T" finds its cut with an index range query.

Revision ID: 0003_event_occurred_index
Revises: 0002_notification_sent
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0003_event_occurred_index"
down_revision: str | Sequence[str] | None = "0002_notification_sent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the index (an index only: no event row is touched)."""
    # offline (--sql) there is no database to ask: the script creates the index
    if not context.is_offline_mode():
        names = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("ledger_event")}
        if "ix_ledger_event_occurred" in names:
            return
    op.create_index("ix_ledger_event_occurred", "ledger_event", ["occurred_at"], unique=False)


def downgrade() -> None:
    """Migrations only go forward (docs/migrations.md)."""
    raise NotImplementedError("sampleloans migrations only go forward")
