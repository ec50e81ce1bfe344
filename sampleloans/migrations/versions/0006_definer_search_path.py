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
  attach subject rows to any event and so read every event through row-level security;
- `sampleloans_set_login` refuses a login to a person the ledger records as deactivated: a
  curator calling it in psql could give a deactivated person their login back;
- `sampleloans_event_hashes(first, last)`: every event's seq and hash (digests, no content), so
  a researcher's statement can prove its events in the signed tree;
- the actor trigger refuses an event by a person the ledger records as deactivated (a session
  opened before the deactivation outlived the revoked login and could still append);
- the compliance officers' group loses INSERT and UPDATE on every table (they record no event;
  before, their psql could append events and change projections);
- `sampleloans_event_is_mine`: a researcher also reads the events about their institution or a
  sample on their loans that name no other institution's loan (a sample's registration, the
  split that made it, their agreements and people), as `custody history` shows them on SQLite.

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
    "sampleloans_event_hashes(bigint, bigint)",
    "projection_write_needs_event()",
)
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
"""`people add`/`deactivate`'s login function, now refusing a login to a person the ledger
records as deactivated (before, a curator's psql could give it back without the event)."""
EVENT_HASHES = """CREATE OR REPLACE FUNCTION sampleloans_event_hashes(
    first_seq bigint, last_seq bigint)
    RETURNS TABLE (seq bigint, hash text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
        SELECT e.seq, e.hash::text FROM ledger_event e
        WHERE e.seq BETWEEN first_seq AND last_seq ORDER BY e.seq
    $fn$"""
"""Every event's seq and hash for a researcher's statement (its inclusion proofs need every
leaf of the tree, which row-level security hides from them)."""
EVENT_IS_MINE = """CREATE OR REPLACE FUNCTION sampleloans_event_is_mine(event_seq bigint)
    RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
        SELECT EXISTS (SELECT 1 FROM event_subject s JOIN loan l ON l.number = s.subject_key
                       WHERE s.seq = event_seq AND s.subject_type = 'loan'
                       AND l.institution = sampleloans_login_institution())
            OR ((EXISTS (SELECT 1 FROM event_subject s JOIN sample x ON x.code = s.subject_key
                         JOIN loan l ON l.number = x.loan_number
                         WHERE s.seq = event_seq AND s.subject_type = 'sample'
                         AND l.institution = sampleloans_login_institution())
                 OR EXISTS (SELECT 1 FROM event_subject s
                            WHERE s.seq = event_seq AND s.subject_type = 'institution'
                            AND s.subject_key = sampleloans_login_institution()))
                AND NOT EXISTS (SELECT 1 FROM event_subject s JOIN loan l
                                ON l.number = s.subject_key
                                WHERE s.seq = event_seq AND s.subject_type = 'loan'
                                AND l.institution IS DISTINCT FROM
                                    sampleloans_login_institution()))
    $fn$"""
"""The events a researcher reads: also those about their institution or a sample on their loans
naming no other institution's loan, as `custody history` shows them on SQLite."""
EVENT_ACTOR = """CREATE OR REPLACE FUNCTION ledger_event_actor() RETURNS trigger
    LANGUAGE plpgsql AS $fn$
    BEGIN
        IF NEW.actor IS DISTINCT FROM session_user::text THEN
            RAISE EXCEPTION 'event actor % is not the login %', NEW.actor, session_user
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        -- deactivation revokes the login, which a session opened before it outlives: such a
        -- session appends nothing more (the login's own person row, as its policy shows it)
        IF NOT EXISTS (SELECT 1 FROM person p WHERE p.email = NEW.actor AND p.active) THEN
            RAISE EXCEPTION 'event actor % is not an active person of the ledger', NEW.actor
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        -- recorded at the server's clock, read by this very transaction: never the client's
        IF NEW.recorded_at::timestamptz NOT BETWEEN transaction_timestamp()
                                            AND clock_timestamp() THEN
            RAISE EXCEPTION 'event recorded_at % is not the server''s clock', NEW.recorded_at
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END $fn$"""
"""The actor trigger's function, now also refusing an event by a person the ledger records as
deactivated (a session opened before the deactivation outlives the revoked login)."""
STATEMENTS = (
    SET_LOGIN,
    EVENT_ACTOR,
    EVENT_IS_MINE,
    EVENT_HASHES,
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
    # compliance officers record no event: their group reads only
    "REVOKE INSERT, UPDATE ON ALL TABLES IN SCHEMA public FROM sampleloans_compliance",
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
