"""The record of e-mails `notify` delivered (not a custody event: kept beside the chain).

A ledger whose `notify` already made the table on first use keeps it as it is.

Revision ID: 0002_notification_sent
Revises: 0001_baseline
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0002_notification_sent"
down_revision: str | Sequence[str] | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the `notification_sent` table and its once-only index, unless already there."""
    # offline (--sql) there is no database to ask: the script creates the table
    if not context.is_offline_mode() and sa.inspect(op.get_bind()).has_table("notification_sent"):
        return
    op.create_table(
        "notification_sent",
        sa.Column("id", sa.Integer(), nullable=False),  # as the model: a row count, not a mass
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("checkpoint", sa.String(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("sent_at", sa.String(), nullable=False),
        sa.Column("sent_by", sa.String(), nullable=False),
        sa.Column("via", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_notification_once",
        "notification_sent",
        ["recipient", "kind", "scope", "checkpoint"],
        unique=True,
    )


def downgrade() -> None:
    """Migrations only go forward (docs/migrations.md)."""
    raise NotImplementedError("sampleloans migrations only go forward")
