"""The `checkpoint` table: signed checkpoints the ledger keeps (not events), append-only.

Until this revision `sampleloans checkpoint` made the table on first use; a ledger that did so
keeps its table and triggers as they are (the same columns and the same append-only triggers).
On PostgreSQL the table gets the same defences as the events: UPDATE, DELETE and TRUNCATE are
refused by triggers (through `ledger_refuse_change`, which the baseline created).

Revision ID: 0004_checkpoint
Revises: 0003_event_occurred_index
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0004_checkpoint"
down_revision: str | Sequence[str] | None = "0003_event_occurred_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SQLITE_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS checkpoint_no_update BEFORE UPDATE ON checkpoint
       BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS checkpoint_no_delete BEFORE DELETE ON checkpoint
       BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END""",
)

POSTGRES_TRIGGERS = tuple(
    f"CREATE OR REPLACE TRIGGER checkpoint_no_{verb.lower()} BEFORE {verb} ON checkpoint "
    f"FOR EACH {level} EXECUTE FUNCTION ledger_refuse_change('checkpoints are append-only')"
    for verb, level in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT"))
)


def upgrade() -> None:
    """Add the `checkpoint` table and its append-only triggers, unless already there."""
    # offline (--sql) there is no database to ask: the script creates the table
    if not context.is_offline_mode() and sa.inspect(op.get_bind()).has_table("checkpoint"):
        return
    op.create_table(
        "checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),  # as the model: a row count
        sa.Column("tree_size", BIGINT, nullable=False),
        sa.Column("note", sa.String(), nullable=False),
        sa.Column("public_key", sa.String(), nullable=False),
        sa.Column("frontier", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.CheckConstraint("tree_size >= 0", name="checkpoint_size"),
        sa.PrimaryKeyConstraint("id"),
    )
    triggers = SQLITE_TRIGGERS if op.get_context().dialect.name == "sqlite" else POSTGRES_TRIGGERS
    for statement in triggers:
        op.execute(sa.text(statement))


def downgrade() -> None:
    """Migrations only go forward (docs/migrations.md)."""
    raise NotImplementedError("sampleloans migrations only go forward")
