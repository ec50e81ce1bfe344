"""A researcher's login writes only what their lab events write, and only with such an event.

On a PostgreSQL ledger secured with `db secure` (nothing else: SQLite, or PostgreSQL without the
login hardening, is unchanged), a researcher's group role loses its table-wide INSERT and
UPDATE on the projections: it may INSERT only into the tables their lab events insert into and
UPDATE only the columns those events change. A deferred constraint trigger,
`projection_write_needs_event`, refuses at commit a researcher's change to one of those tables
in a transaction that did not append the chain's newest event in their name.

Frozen (docs/migrations.md rule 4): the SQL below is this revision's own copy of what
`sampleloans/pgsecurity.py` installs, which a later `db secure` re-installs as that release has it.
The whole upgrade is one DO block that does nothing on a ledger without the hardening, so the
offline script (`db upgrade --sql`) is the same for both.

Revision ID: 0005_researcher_write_guard
Revises: 0004_checkpoint
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_researcher_write_guard"
down_revision: str | Sequence[str] | None = "0004_checkpoint"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESEARCHER = "sampleloans_researcher"
OWNER = "sampleloans_owner"
SECURED_MARKER = "sampleloans_login_institution"
GUARD = "projection_write_needs_event"
# the login is a researcher, and not a superuser (who is a "member" of every role, OWNER's too)
RESEARCHER_LOGIN = (
    f"pg_has_role(session_user, '{RESEARCHER}', 'MEMBER') "
    f"AND NOT pg_has_role(session_user, '{OWNER}', 'MEMBER')"
)
INSERTS = (
    "ledger_event",
    "event_subject",
    "weighing",
    "consumption",
    "sample",
    "loan_item",
    "incident",
    "inventory",
)
UPDATES = {
    "loan": (
        "last_event_at",
        "last_loan_wide_event_at",
        "status",
        "last_inventory_at",
        "next_inventory_due_at",
    ),
    "loan_item": ("state", "held_ug", "consumed_ug", "split_ug", "lost_ug"),
    "sample": (
        "last_event_at",
        "condition",
        "custody_state",
        "custodian",
        "on_loan_ug",
        "consumed_ug",
        "split_ug",
        "lost_ug",
        "frozen",
    ),
    "shipment": ("received_at", "received_by", "seal_intact", "condition_on_receipt"),
}
# the tables the researcher group could write before this revision
WRITABLE_BEFORE = (
    "loan",
    "loan_item",
    "shipment",
    "weighing",
    "consumption",
    "extension",
    "inventory",
    "incident",
    "ledger_event",
    "event_subject",
    "sample",
)
GUARDED = tuple(sorted({*INSERTS, *UPDATES} - {"ledger_event"}))

FUNCTIONS = (
    f"""CREATE OR REPLACE FUNCTION {GUARD}() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
    DECLARE
        head_actor text;
        head_xmin xid;
    BEGIN
        SELECT e.actor, e.xmin INTO head_actor, head_xmin FROM ledger_event e
        ORDER BY e.seq DESC LIMIT 1;
        IF head_xmin IS DISTINCT FROM pg_current_xact_id()::xid
           OR head_actor IS DISTINCT FROM session_user::text THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = format(
                '%s on %s by %s in a transaction that appended no event of theirs: ',
                TG_OP, TG_TABLE_NAME, session_user)
                || 'a researcher changes their loans only by recording an event';
        END IF;
        RETURN NULL;
    END $fn$""",
    f"ALTER FUNCTION {GUARD}() OWNER TO {OWNER}",
)


def _table_statements() -> list[str]:
    """Per table (those a ledger at 0004 has): the researcher's grants, then the guard."""
    out = []
    for table in sorted({*WRITABLE_BEFORE, *GUARDED}):
        lines = [f"REVOKE INSERT, UPDATE ON {table} FROM {RESEARCHER}"]
        if table in INSERTS:
            lines.append(f"GRANT INSERT ON {table} TO {RESEARCHER}")
        if table in UPDATES:
            lines.append(f"GRANT UPDATE ({', '.join(UPDATES[table])}) ON {table} TO {RESEARCHER}")
        if table in GUARDED:
            lines.append(f"DROP TRIGGER IF EXISTS {GUARD} ON {table}")
            lines.append(
                f"CREATE CONSTRAINT TRIGGER {GUARD} AFTER INSERT OR UPDATE ON {table} "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                f"WHEN ({RESEARCHER_LOGIN}) EXECUTE FUNCTION {GUARD}()"
            )
        body = ";\n        ".join(lines)
        out.append(
            f"IF to_regclass('public.{table}') IS NOT NULL THEN\n        {body};\n    END IF;"
        )
    return out


def upgrade() -> None:
    """On a secured PostgreSQL ledger, narrow the researcher's grants and add the guard."""
    if op.get_context().dialect.name != "postgresql":
        return
    statements = "\n    ".join([*(f"{s};" for s in FUNCTIONS), *_table_statements()])
    op.execute(
        sa.text(
            "DO $do$ BEGIN\n"
            f"    IF to_regproc('{SECURED_MARKER}') IS NULL THEN RETURN; END IF;\n"
            f"    {statements}\nEND $do$"
        )
    )


def downgrade() -> None:
    """Migrations only go forward (docs/migrations.md)."""
    raise NotImplementedError("sampleloans migrations only go forward")
