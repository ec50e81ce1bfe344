"""Row-level security's staff policy asks that the login be a curator or compliance officer of
this ledger.

On a PostgreSQL ledger secured with `db secure` (nothing else: SQLite, or PostgreSQL without the
login hardening, is unchanged). The group roles are cluster-wide, and the policy `staff_all`
let every member of `sampleloans_curator` or `sampleloans_compliance` read and change every row
of every table: the curator of another ledger on the same server, who is no person of this
one, read all of it with psql (and could UPDATE its projections). The function
`sampleloans_login_is_staff()` (owned by the `NOLOGIN` owner, search path `public, pg_temp`)
says whether `person` records the login as a curator or compliance officer; every staff policy
now uses it. `sampleloans_set_login` (which gives or revokes a person's login) is refused
unless called by the DBA, a curator this ledger records, or for the caller's own login: before,
the curator of another ledger on the server revoked any person's login here.

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
SET_LOGIN = """CREATE OR REPLACE FUNCTION sampleloans_set_login(email text, person_role text,
                                                        may_login boolean) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        grp text := CASE person_role WHEN 'curator' THEN 'sampleloans_curator'
                    WHEN 'compliance_officer' THEN 'sampleloans_compliance'
                    WHEN 'researcher' THEN 'sampleloans_researcher' END;
        other text;
    BEGIN
        IF grp IS NULL THEN
            RAISE EXCEPTION 'unknown person role %', person_role;
        END IF;
        -- called by the DBA or a curator this ledger records (the groups are cluster-wide: a
        -- curator of another ledger on the server is no one here), or for the caller's own
        -- login (a curator who moved themselves to another role)
        IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user)
           AND NOT EXISTS (SELECT 1 FROM person p WHERE p.email = session_user::text
                           AND (p.role = 'curator' OR p.email = sampleloans_set_login.email)) THEN
            RAISE EXCEPTION 'login % is no curator of this ledger', session_user
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        -- only a registered person, as the ledger records them; never one of our own roles
        -- or an existing login that is no person (the DBA's), so no curator can take one over
        IF NOT EXISTS (SELECT 1 FROM person p WHERE p.email = sampleloans_set_login.email
                       AND p.role = person_role)
           OR email LIKE 'sampleloans\\_%' OR email LIKE 'pg\\_%'
           OR EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = email AND (r.rolsuper OR NOT
                      (pg_has_role(r.oid, 'sampleloans_curator', 'MEMBER')
                       OR pg_has_role(r.oid, 'sampleloans_compliance', 'MEMBER')
                       OR pg_has_role(r.oid, 'sampleloans_researcher', 'MEMBER')))) THEN
            RAISE EXCEPTION 'role % is not a registered person''s login', email
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        -- the login follows the ledger: a deactivated person gets it back only once their
        -- reactivation is recorded (a curator's psql cannot undo a deactivation)
        IF may_login AND NOT EXISTS (SELECT 1 FROM person p
                                     WHERE p.email = sampleloans_set_login.email AND p.active) THEN
            RAISE EXCEPTION 'person % is deactivated in the ledger: record their reactivation '
                            '(people reactivate) first', email
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = email) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', email);
        END IF;
        EXECUTE format('ALTER ROLE %I %s', email,
                       CASE WHEN may_login THEN 'LOGIN' ELSE 'NOLOGIN' END);
        EXECUTE format('GRANT %I TO %I', grp, email);
        -- a changed role leaves the old group (revoking a non-member only warns)
        FOREACH other IN ARRAY ARRAY['sampleloans_curator',
                                     'sampleloans_compliance',
                                     'sampleloans_researcher'] LOOP
            IF other <> grp AND pg_has_role(email, other, 'MEMBER') THEN
                EXECUTE format('REVOKE %I FROM %I', other, email);
            END IF;
        END LOOP;
    END $$"""
POLICY = "((SELECT sampleloans_login_is_staff()))"
STATEMENTS = (
    STAFF_LOGIN,
    SET_LOGIN,
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
