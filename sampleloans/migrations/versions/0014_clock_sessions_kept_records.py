"""An event's `recorded_at` is the server's clock in its stored form, a person's deactivation
ends their open sessions, and the kept records a later revision added get the hardening.

On a PostgreSQL ledger secured with `db secure` (nothing else: SQLite, or PostgreSQL without the
login hardening, is unchanged):

- the actor trigger's function `ledger_event_actor()` reads `recorded_at` only in the form the
  program stores it (`YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, UTC) and never before the last event's:
  before, a login's psql event recorded at the text `now` (which the server reads as the
  transaction's time) or at a time before the head's was kept, and every later write,
  checkpoint and verify failed on it;
- `sampleloans_set_login` ends the open sessions of a login it revokes (`pg_terminate_backend`,
  as the owner, made a member of `pg_signal_backend`): before, a person deactivated while
  connected kept that session, and through it inserted checkpoints and changed the shared
  tables (`institution`, `mission`) that row-level security does not scope;
- the kept records' tables (`checkpoint`, `notification_sent`, made by revisions 0002 and 0004,
  after a ledger secured at the baseline) get what `db secure` gives them: the NOLOGIN owner,
  their grants, row-level security on `notification_sent`; and the ledger's sequences only the
  curators' USAGE (a ledger secured by an earlier release granted every group USAGE).

Frozen (docs/migrations.md rule 4): the SQL below is this revision's own copy of what
`sampleloans/pgsecurity.py` installs. One DO block that does nothing on a ledger without the
hardening, so the offline script (`db upgrade --sql`) is the same for both. Run by the DBA.

Revision ID: 0014_clock_sessions_kept_records
Revises: 0013_notification_append_only
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_clock_sessions_kept_records"
down_revision: str | Sequence[str] | None = "0013_notification_append_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SECURED_MARKER = "sampleloans_login_institution"
STORED_TIME = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{6})?Z$"
EVENT_ACTOR = f"""CREATE OR REPLACE FUNCTION ledger_event_actor() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
    DECLARE
        recorded timestamptz;
        head_recorded text;
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
        -- recorded at the server's clock, read by this very transaction, in the form the
        -- program stores (UTC, 'Z'): never the client's, nor a word the server reads as a time
        -- ('now'), which no later write, checkpoint or verify reads
        IF NEW.recorded_at IS NULL OR NEW.recorded_at !~ '{STORED_TIME}'
           OR NEW.recorded_at ~ '[.]0{{6}}Z$' THEN
            RAISE EXCEPTION 'event recorded_at % is not the server''s clock in the stored form '
                            '(YYYY-MM-DDTHH:MM:SS[.ffffff]Z, UTC)', NEW.recorded_at
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        recorded := NEW.recorded_at::timestamptz;
        IF recorded NOT BETWEEN transaction_timestamp() AND clock_timestamp() THEN
            RAISE EXCEPTION 'event recorded_at % is not the server''s clock', NEW.recorded_at
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        -- never before the event it follows: verify wants recorded_at never to decrease
        SELECT h.recorded_at INTO head_recorded FROM sampleloans_chain_head() h;
        IF head_recorded ~ '{STORED_TIME}' AND recorded < head_recorded::timestamptz THEN
            RAISE EXCEPTION 'event recorded_at % is before %, when the last event was recorded',
                NEW.recorded_at, head_recorded
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END $$"""
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
        -- NOLOGIN refuses new connections only: the sessions the login has open on this
        -- ledger end now (what they had not committed is rolled back; another database's are
        -- its own business); the caller's own session stays. An owner no longer allowed to
        -- end them (verify names it) still revokes the login
        IF NOT may_login AND pg_has_role(current_user, 'pg_signal_backend', 'MEMBER') THEN
            PERFORM pg_terminate_backend(a.pid) FROM pg_stat_activity a
            WHERE a.usename = sampleloans_set_login.email AND a.datname = current_database()
            AND a.pid <> pg_backend_pid();
        END IF;
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
GROUPS = "sampleloans_curator, sampleloans_compliance, sampleloans_researcher"
STAFF = "((SELECT sampleloans_login_is_staff()))"
KEPT_RECORDS = f"""
    GRANT pg_signal_backend TO sampleloans_owner;
    ALTER TABLE checkpoint OWNER TO sampleloans_owner;
    ALTER TABLE notification_sent OWNER TO sampleloans_owner;
    REVOKE ALL ON checkpoint, notification_sent FROM PUBLIC;
    REVOKE INSERT, UPDATE ON checkpoint, notification_sent FROM {GROUPS};
    GRANT SELECT ON checkpoint, notification_sent TO {GROUPS};
    GRANT INSERT ON checkpoint, notification_sent TO sampleloans_curator;
    ALTER TABLE notification_sent ENABLE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS staff_all ON notification_sent;
    CREATE POLICY staff_all ON notification_sent TO sampleloans_curator, sampleloans_compliance
        USING {STAFF} WITH CHECK {STAFF};
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC, {GROUPS};
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO sampleloans_curator"""
"""What `db secure` gives the kept records' tables and the ledger's sequences."""


def upgrade() -> None:
    """On a secured PostgreSQL ledger, replace both functions (owner and search path stay)
    and give the kept records' tables and the sequences their grants."""
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(
        sa.text(
            "DO $do$ BEGIN\n"
            f"    IF to_regproc('{SECURED_MARKER}') IS NULL THEN RETURN; END IF;\n"
            f"    {EVENT_ACTOR};\n"
            f"    {SET_LOGIN};\n"
            f"    {KEPT_RECORDS};\n"
            "END $do$"
        )
    )


def downgrade() -> None:
    """Migrations only go forward (docs/migrations.md)."""
    raise NotImplementedError("sampleloans migrations only go forward")
