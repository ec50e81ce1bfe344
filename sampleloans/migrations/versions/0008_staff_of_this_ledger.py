"""Row-level security's staff policy asks that the login be a curator or compliance officer of
this ledger.

On a PostgreSQL ledger secured with `db secure` (nothing else: SQLite, or PostgreSQL without the
login hardening, is unchanged). The group roles are cluster-wide, and the policy `staff_all`
let every member of `sampleloans_curator` or `sampleloans_compliance` read and change every row
of every table: the curator of another ledger on the same server, who is no person of this
one, read all of it with psql (and could UPDATE its projections). The function
`sampleloans_login_is_staff()` (owned by the `NOLOGIN` owner, search path `public, pg_temp`)
says whether `person` records the login as a curator or compliance officer; every staff policy
now uses it.

Frozen (docs/migrations.md rule 4): the SQL below is this revision's own copy of what
`sampleloans/pgsecurity.py` installs. One DO block that does nothing on a ledger without the
hardening, so the offline script (`db upgrade --sql`) is the same for both. Run by the DBA (a
policy is altered by its table's owner).

Revision ID: 0008_staff_of_this_ledger
Revises: 0007_loan_number_case
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_staff_of_this_ledger"
down_revision: str | Sequence[str] | None = "0007_loan_number_case"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SECURED_MARKER = "sampleloans_login_institution"
STAFF_LOGIN = """CREATE OR REPLACE FUNCTION sampleloans_login_is_staff() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT EXISTS (SELECT 1 FROM person WHERE email = session_user::text
                       AND role IN ('curator', 'compliance_officer'))
    $$"""
POLICY = "((SELECT sampleloans_login_is_staff()))"
STATEMENTS = (
    STAFF_LOGIN,
    "ALTER FUNCTION sampleloans_login_is_staff() OWNER TO sampleloans_owner",
    "ALTER FUNCTION sampleloans_login_is_staff() SET search_path = public, pg_temp",
)


def upgrade() -> None:
    """On a secured PostgreSQL ledger, add the function and narrow every staff policy."""
    if op.get_context().dialect.name != "postgresql":
        return
    body = "\n    ".join(f"{statement};" for statement in STATEMENTS)
    op.execute(
        sa.text(
            "DO $do$ DECLARE t text; BEGIN\n"
            f"    IF to_regproc('{SECURED_MARKER}') IS NULL THEN RETURN; END IF;\n"
            f"    {body}\n"
            "    FOR t IN SELECT c.relname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid\n"
            "             WHERE p.polname = 'staff_all' LOOP\n"
            "        EXECUTE format('ALTER POLICY staff_all ON %I USING "
            f"{POLICY} WITH CHECK {POLICY}', t);\n"
            "    END LOOP;\n"
            "END $do$"
        )
    )


def downgrade() -> None:
    """Migrations only go forward (docs/migrations.md)."""
    raise NotImplementedError("sampleloans migrations only go forward")
