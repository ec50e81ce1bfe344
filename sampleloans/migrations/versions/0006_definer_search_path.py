"""No login's temporary table stands in for a ledger table, and a researcher attaches subjects
only to an event of their own.

On a PostgreSQL ledger secured with `db secure` (nothing else: SQLite, or PostgreSQL without the
login hardening, is unchanged):
- every function of the hardening gets the fixed search path `public, pg_temp`. Without it,
  `ledger_event_next()` (which runs as the owner to see the whole chain) read `ledger_event`
  through the caller's search path, where pg_temp comes first: a login's temporary table named
  `ledger_event` gave it a fake chain head, so any seq and previous hash passed the link check;
- the researchers' INSERT policy on `event_subject` requires an event their own transaction just
  appended in their name, naming no other institution's loan. Before, a researcher's login could
  attach subject rows to any event and so read every event through row-level security.

Frozen (docs/migrations.md rule 4): the SQL below is this revision's own copy of what
`sampleloans/pgsecurity.py` installs. One DO block that does nothing on a ledger without the
hardening, so the offline script (`db upgrade --sql`) is the same for both.

Revision ID: 0006_definer_search_path
Revises: 0005_researcher_write_guard
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_definer_search_path"
down_revision: str | Sequence[str] | None = "0005_researcher_write_guard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWNER = "sampleloans_owner"
RESEARCHER = "sampleloans_researcher"
SECURED_MARKER = "sampleloans_login_institution"
NEW_OWN_EVENT = "sampleloans_event_is_new_own"
FUNCTIONS = (
    "ledger_event_next()",
    "ledger_refuse_change()",
    "ledger_event_actor()",
    f"{SECURED_MARKER}()",
    "sampleloans_loan_is_mine(text)",
    "sampleloans_event_is_mine(bigint)",
    f"{NEW_OWN_EVENT}(bigint)",
    "sampleloans_set_login(text, text, boolean)",
    "sampleloans_chain_head()",
    "projection_write_needs_event()",
)
STATEMENTS = (
    f"""CREATE OR REPLACE FUNCTION {NEW_OWN_EVENT}(event_seq bigint) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
        SELECT EXISTS (SELECT 1 FROM ledger_event e WHERE e.seq = event_seq
                       AND e.actor = session_user::text
                       AND e.xmin = pg_current_xact_id()::xid)
    $fn$""",
    # a function an older hardening lacked is skipped ('db secure' installs it)
    *(
        f"IF to_regprocedure('{name}') IS NOT NULL THEN ALTER FUNCTION {name} OWNER TO {OWNER}; "
        f"ALTER FUNCTION {name} SET search_path = public, pg_temp; END IF"
        for name in FUNCTIONS
    ),
    "DROP POLICY IF EXISTS researcher_append ON event_subject",
    f"CREATE POLICY researcher_append ON event_subject FOR INSERT TO {RESEARCHER} "
    f"WITH CHECK ({NEW_OWN_EVENT}(seq) AND "
    "(subject_type <> 'loan' OR sampleloans_loan_is_mine(subject_key)))",
)


def upgrade() -> None:
    """On a secured PostgreSQL ledger, fix every function's search path and narrow the
    researchers' subject policy."""
    if op.get_context().dialect.name != "postgresql":
        return
    body = "\n    ".join(f"{statement};" for statement in STATEMENTS)
    op.execute(
        sa.text(
            "DO $do$ BEGIN\n"
            f"    IF to_regproc('{SECURED_MARKER}') IS NULL THEN RETURN; END IF;\n"
            f"    {body}\nEND $do$"
        )
    )


def downgrade() -> None:
    """Migrations only go forward (docs/migrations.md)."""
    raise NotImplementedError("sampleloans migrations only go forward")
