"""A deactivated curator's or compliance officer's open session is no staff any more.

On a PostgreSQL ledger secured with `db secure` (nothing else: SQLite, or PostgreSQL without the
login hardening, is unchanged). `people deactivate` revokes the person's login, but a session
they opened before outlives it: the actor trigger refused its events, yet the staff policy
(`sampleloans_login_is_staff()`) asked only the person's role, so a dismissed curator's idle psql
session still read every row, changed projections (a loan's obligations, a due date) and, through
`sampleloans_set_login`, revoked other people's logins. Both now ask that the person be active.

Frozen (docs/migrations.md rule 4): the SQL below is this revision's own copy of what
`sampleloans/pgsecurity.py` installs. One DO block that does nothing on a ledger without the
hardening, so the offline script (`db upgrade --sql`) is the same for both. Run by the DBA.

Revision ID: 0011_active_staff
Revises: 0010_researcher_lab_events
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_active_staff"
down_revision: str | Sequence[str] | None = "0010_researcher_lab_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SECURED_MARKER = "sampleloans_login_institution"
STAFF_LOGIN = """CREATE OR REPLACE FUNCTION sampleloans_login_is_staff() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT EXISTS (SELECT 1 FROM person WHERE email = session_user::text
                       AND role IN ('curator', 'compliance_officer') AND active)
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
        -- called by the DBA or an active curator this ledger records (the groups are
        -- cluster-wide: a curator of another ledger on the server is no one here; a session
        -- opened before its curator's deactivation outlives it), or for the caller's own
        -- login (a curator who moved themselves to another role, or deactivated themselves)
        IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user)
           AND NOT EXISTS (SELECT 1 FROM person p WHERE p.email = session_user::text
                           AND ((p.role = 'curator' AND p.active)
                                OR p.email = sampleloans_set_login.email)) THEN
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


def upgrade() -> None:
    """On a secured PostgreSQL ledger, replace both functions (owner and search path stay)."""
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(
        sa.text(
            "DO $do$ BEGIN\n"
            f"    IF to_regproc('{SECURED_MARKER}') IS NULL THEN RETURN; END IF;\n"
            f"    {STAFF_LOGIN};\n"
            f"    {SET_LOGIN};\n"
            "END $do$"
        )
    )


def downgrade() -> None:
    """Migrations only go forward (docs/migrations.md)."""
    raise NotImplementedError("sampleloans migrations only go forward")
