"""`notification_sent` is append-only: triggers refuse UPDATE and DELETE (and TRUNCATE).

The rows that keep `notify` from sending a message twice had no defence: a row deleted by hand
sent a statement or overdue notice again, a row changed hid what was sent. They get the same
triggers as the kept checkpoints (on PostgreSQL through `ledger_refuse_change`, which the
baseline created); `verify` expects them from this revision on.

Frozen (docs/migrations.md rule 4): the statements below are this revision's own copy of what
`sampleloans/db.py` creates for a new ledger.

Revision ID: 0013_notification_append_only
Revises: 0012_subject_of_lab_event
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_notification_append_only"
down_revision: str | Sequence[str] | None = "0012_subject_of_lab_event"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS notification_sent_no_update BEFORE UPDATE ON notification_sent
       BEGIN SELECT RAISE(ABORT, 'notifications sent are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS notification_sent_no_delete BEFORE DELETE ON notification_sent
       BEGIN SELECT RAISE(ABORT, 'notifications sent are append-only'); END""",
)

POSTGRES_TRIGGERS = tuple(
    f"CREATE OR REPLACE TRIGGER notification_sent_no_{verb.lower()} BEFORE {verb} "
    "ON notification_sent FOR EACH "
    f"{level} EXECUTE FUNCTION ledger_refuse_change('notifications sent are append-only')"
    for verb, level in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT"))
)


def upgrade() -> None:
    """Add the append-only triggers of `notification_sent` (revision 0002 made the table)."""
    triggers = SQLITE_TRIGGERS if op.get_context().dialect.name == "sqlite" else POSTGRES_TRIGGERS
    for statement in triggers:
        op.execute(sa.text(statement))


def downgrade() -> None:
    """Migrations only go forward (docs/migrations.md)."""
    raise NotImplementedError("sampleloans migrations only go forward")
