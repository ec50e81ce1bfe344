"""The opt-in login hardening of a PostgreSQL ledger (issue 14, points 4, 5 and 8).

`sampleloans db secure` installs it: tables owned by a role nobody logs in as, one group role
per kind of person, each person a LOGIN role named by their e-mail, the actor of every event
checked against `session_user` by a trigger, and row-level security scoping a researcher's
connection to their own institution's loans. A ledger without it (the demo, parity) works as
before: nothing here runs unless asked.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sampleloans import db
from sampleloans.vocab import RESEARCHER_EVENT_KINDS, Direction, SubjectType

OWNER_ROLE = "sampleloans_owner"
GROUP_ROLES = {
    "curator": "sampleloans_curator",
    "compliance_officer": "sampleloans_compliance",
    "researcher": "sampleloans_researcher",
}
"""The group role of each person role (the ledger's `person.role` values)."""
SECURED_MARKER = "sampleloans_login_institution"
"""A function only the hardening creates: its presence says the ledger is secured."""

READ_ONLY_TABLES = ("ledger_meta", "alembic_version")
APPEND_ONLY_TABLES = ("ledger_event", "event_subject")
KEPT_RECORD_TABLES = ("checkpoint", "notification_sent")
"""Records kept beside the chain (not events): staff append them, nobody changes them."""
SHARED_TABLES = ("ledger_meta", "alembic_version", "mission", "institution", "checkpoint")
"""Tables whose rows are no institution's: the ledger's identity and schema revision, the
missions and institutions (reference data every loan names), and the signed checkpoints
(a tree size and root over the whole chain, which discloses no event)."""
LOAN_SCOPED_TABLES = (
    "loan_item",
    "shipment",
    "weighing",
    "consumption",
    "extension",
    "inventory",
    "incident",
)
"""Tables whose rows belong to one loan (`loan_number`): a researcher sees their own only."""
OWN_INSTITUTION_TABLES = {
    "person": "institution = sampleloans_login_institution() "
    "OR role IN ('curator', 'compliance_officer')",
    "agreement": "institution = sampleloans_login_institution()",
    "sample": "loan_number IS NOT NULL AND sampleloans_loan_is_mine(loan_number)",
    "note": "sampleloans_event_is_mine(seq)",
}
"""What else a researcher sees: their institution's people and the staff (named on their
loans), their agreements, the samples on their loans, the notes about their events."""
STAFF_ONLY_TABLES = ("notification_sent",)
"""Whom the lender e-mailed: staff only (a researcher sees no row)."""
RLS_TABLES = (
    "loan",
    *LOAN_SCOPED_TABLES,
    *APPEND_ONLY_TABLES,
    *OWN_INSTITUTION_TABLES,
    *STAFF_ONLY_TABLES,
)
RESEARCHER_INSERTS = (
    "ledger_event",
    "event_subject",
    "weighing",  # loans receive
    "consumption",  # loans consume
    "sample",  # loans split: the child
    "loan_item",  # loans split: the child's item
    "incident",  # incidents report
    "inventory",  # loans inventory
)
"""The tables a researcher's lab events insert into (`ledger/apply.py`: `_received`,
`_consumed`, `_loan_split`, `_incident`, `_inventory`); never people, institutions, agreements."""
RESEARCHER_UPDATES = {
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
"""The only columns a researcher's lab events change (the same appliers): granted column by
column, so a researcher's login cannot set a loan's due date, obligations or institution, an
item's issued mass, a sample's vault mass, … even in `psql` (tests/test_i14_researcher_writes.py
derives these from the statements each lab command runs)."""
GUARDED_TABLES = tuple(sorted({*RESEARCHER_INSERTS, *RESEARCHER_UPDATES} - {"ledger_event"}))
"""The projection tables a researcher may write, each guarded by the constraint trigger
`projection_write_needs_event`: at commit, a researcher's change to one is refused unless the
same transaction appended the ledger's newest event in their name."""
GUARD_TRIGGER = "projection_write_needs_event"
RESEARCHER_LOGIN = (
    f"pg_has_role(session_user, '{GROUP_ROLES['researcher']}', 'MEMBER') "
    f"AND NOT pg_has_role(session_user, '{OWNER_ROLE}', 'MEMBER')"
)
"""The guard's `WHEN`: the login is a researcher. A superuser is a member of every role, the
owner's too, so the DBA is not one. Built-in calls only (no SQL function to call): it is
evaluated for every row any login writes, and it keeps curators' rows out of the deferred
queue."""
STORED_TIME = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{6})?Z$"
"""A time as `dates.to_iso` stores it (UTC, 'Z', microseconds when not zero), as a POSIX regular
expression: the only `recorded_at` the actor trigger accepts (revision 0014)."""
EVENT_MAX_CHARS = 1024 * 1024
"""The most characters the actor trigger accepts in an event's own texts, together (revision
0016): a lab event's are a few hundred, and an event of this length still fits its export line
(at most 16 MiB, what `import` and `restore --events` read) with every character written as a
6-character escape. Before it, a login's psql event of 100 MB (in its payload, or its OS user
or reason) was kept, and every export of the ledger was one that no restore reads back."""
EVENT_LENGTH = (
    "length(NEW.kind) + length(NEW.payload) + length(NEW.occurred_at) + length(NEW.os_user) "
    "+ coalesce(length(NEW.reason), 0)"
)
"""An event's own texts' length (the seq, hashes, actor and recorded_at are checked as such);
`verify` looks for these words in the actor trigger's body."""
FORBIDDEN_ON_EVENTS = ("UPDATE", "DELETE", "TRUNCATE")
NEW_OWN_EVENT = "sampleloans_event_is_new_own"
EVENT_HASHES = "sampleloans_event_hashes"
SUBJECT_OF_EVENT = "sampleloans_subject_of_lab_event"
SUBJECT_OF_EVENT_FUNCTION = f"""CREATE OR REPLACE FUNCTION {SUBJECT_OF_EVENT}(
        event_seq bigint, kind_of_subject text, key_of_subject text) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        event_kind text;
        fields jsonb;
        its_loan loan%ROWTYPE;
    BEGIN
        -- only an event this transaction appended in the login's name: no oracle on others'
        SELECT e.kind, e.payload::jsonb INTO event_kind, fields FROM ledger_event e
        WHERE e.seq = event_seq AND e.actor = session_user::text
        AND e.xmin = pg_current_xact_id()::xid;
        SELECT * INTO its_loan FROM loan l WHERE l.number = fields ->> CASE event_kind
            WHEN 'incident.reported' THEN '{SubjectType.LOAN}' ELSE 'number' END;
        IF its_loan.number IS NULL THEN
            RETURN false;
        END IF;
        RETURN CASE kind_of_subject
            WHEN '{SubjectType.LOAN}' THEN key_of_subject = its_loan.number
            WHEN '{SubjectType.INSTITUTION}' THEN key_of_subject = its_loan.institution
            WHEN '{SubjectType.AGREEMENT}' THEN key_of_subject = its_loan.agreement
            WHEN '{SubjectType.PERSON}' THEN key_of_subject = its_loan.pi_email
            WHEN '{SubjectType.SAMPLE}' THEN key_of_subject IN (
                    fields ->> 'sample', fields ->> 'parent', fields ->> 'child')
                OR (jsonb_typeof(fields -> 'weighed') = 'array'
                    AND EXISTS (SELECT 1 FROM jsonb_array_elements(fields -> 'weighed') w
                                WHERE jsonb_typeof(w) = 'array' AND w ->> 0 = key_of_subject))
            ELSE false END;
    END $$"""
"""Whether a subject row names what a researcher's lab event is about, as `ledger/apply.py`
indexes it: the loan of its payload, that loan's institution, agreement and PI, and the samples
its payload names (a consumption's or incident's sample, a split's parent and child, a
receipt's weighed samples). Before it, their login attached any other record (the lender, a
person, another institution's sample) to their own new event: the event showed in that record's
history, and only `verify` named it, for good."""
SUBJECT_CHECK = (
    f"{NEW_OWN_EVENT}(seq) AND (subject_type <> 'loan' OR sampleloans_loan_is_mine(subject_key)) "
    f"AND {SUBJECT_OF_EVENT}(seq, subject_type, subject_key)"
)
"""What a researcher's row of `event_subject` must satisfy: it names an event their transaction
just appended in their name, no other institution's loan, and only what that event is about."""
LAB_EVENT = "sampleloans_event_is_lab_work"
LAB_EVENT_FUNCTION = f"""CREATE OR REPLACE FUNCTION {LAB_EVENT}(event_kind text, event_payload text)
    RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        fields jsonb;
    BEGIN
        IF NOT (event_kind IN ({", ".join(f"'{kind}'" for kind in RESEARCHER_EVENT_KINDS)})) THEN
            RETURN false;
        END IF;
        BEGIN
            fields := event_payload::jsonb;
        EXCEPTION WHEN invalid_text_representation THEN
            RETURN false;
        END;
        IF jsonb_typeof(fields) IS DISTINCT FROM 'object'
           OR NOT sampleloans_loan_is_mine(fields ->> CASE event_kind
                  WHEN 'incident.reported' THEN '{SubjectType.LOAN}'
                  ELSE 'number' END) THEN
            RETURN false;
        END IF;
        -- a borrower receives the lender's shipment; accepting a return is the curator's
        RETURN event_kind <> 'loan.received'
            OR (jsonb_typeof(fields -> 'shipment_seq') = 'number'
                AND EXISTS (SELECT 1 FROM shipment s
                            WHERE s.seq = (fields ->> 'shipment_seq')::numeric
                            AND s.loan_number = fields ->> 'number'
                            AND s.direction = '{Direction.OUTBOUND}'));
    END $$"""
"""Whether an event a researcher appends is one of their lab events (`RESEARCHER_EVENT_KINDS`)
about a loan lent to their institution (a receipt: of the lender's shipment): their INSERT
policy on `ledger_event`. Before it, their login appended any kind about any loan (a loan
closed, a role changed), correctly hashed and linked, that only `verify` named, for good."""
EVENT_CHECK = f"actor = session_user::text AND {LAB_EVENT}(kind, payload)"
"""What a researcher's row of `ledger_event` must satisfy: in their name, and lab work."""
SIGNAL_ROLE = "pg_signal_backend"
"""The built-in role whose members may end other (non-superuser) logins' sessions: the owner's,
so that a person's deactivation ends the sessions they have open (revision 0014)."""
SET_LOGIN = "sampleloans_set_login(text, text, boolean)"
FIXED_SEARCH_PATH = "public, pg_temp"
"""The search path of every function of the ledger: a login's temporary table (pg_temp, searched
first unless named) never stands in for a ledger table inside a function the owner runs."""
STAFF_LOGIN_IS = "sampleloans_login_is_staff"
STAFF_LOGIN = f"""CREATE OR REPLACE FUNCTION {STAFF_LOGIN_IS}() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT EXISTS (SELECT 1 FROM person WHERE email = session_user::text
                       AND role IN ('curator', 'compliance_officer') AND active)
    $$"""
"""Whether the login is an active curator or compliance officer of this ledger (the staff
policy's test). Active: deactivation revokes the login, but a session opened before outlives
it, and it read every row, changed projections and revoked others' logins (revision 0011)."""
STAFF_POLICY = f"((SELECT {STAFF_LOGIN_IS}()))"
"""The staff policy's expression: a sub-select, so it is evaluated once per statement."""
LOAN_ITEM_SAMPLES = "sampleloans_loan_item_samples"
LOAN_ITEM_SAMPLES_FUNCTION = f"""CREATE OR REPLACE FUNCTION {LOAN_ITEM_SAMPLES}(loan_no text)
    RETURNS TABLE (code text, mission text, origin text, material_type text,
                   physical_form text, parent_code text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT s.code::text, s.mission::text, s.origin::text, s.material_type::text,
               s.physical_form::text, s.parent_code::text
        FROM loan_item i JOIN sample s ON s.code = i.sample_code
        WHERE i.loan_number = loan_no AND sampleloans_loan_is_mine(loan_no)
        ORDER BY s.code
    $$"""
"""What a report of one of the login's loans says of each item's sample, which never changes
(its code, mission, origin, material, form and the sample it was split from), and nothing else:
row-level security shows a researcher a sample only while it is on their loan, and their
custody report, return report and statement of a loan one of whose samples went back left that
item's description blank, so their digest was not staff's (revision 0015). Never where the
sample is now, its custodian, state or a later loan."""

LEDGER_FUNCTIONS = (
    "ledger_event_next()",
    "ledger_refuse_change()",
    "ledger_event_actor()",
    f"{SECURED_MARKER}()",
    "sampleloans_loan_is_mine(text)",
    "sampleloans_event_is_mine(bigint)",
    f"{NEW_OWN_EVENT}(bigint)",
    "sampleloans_set_login(text, text, boolean)",
    "sampleloans_chain_head()",
    f"{EVENT_HASHES}(bigint, bigint)",
    f"{GUARD_TRIGGER}()",
    f"{STAFF_LOGIN_IS}()",
    f"{LAB_EVENT}(text, text)",
    f"{SUBJECT_OF_EVENT}(bigint, text, text)",
    f"{LOAN_ITEM_SAMPLES}(text)",
)
"""Every function the hardening owns (signatures as ALTER FUNCTION takes them)."""

EVENT_IS_MINE = """CREATE OR REPLACE FUNCTION sampleloans_event_is_mine(event_seq bigint)
    RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
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
    $$"""
"""Which events a researcher's login reads (row-level security on ledger_event, event_subject
and note)."""

_FUNCTIONS = (
    # who is logged in, as the ledger knows them (security definer: person is read as the owner)
    f"""CREATE OR REPLACE FUNCTION {SECURED_MARKER}() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT institution FROM person WHERE email = session_user::text AND active
    $$""",
    # the staff groups are cluster-wide: a group member is staff here only if this ledger
    # records the login as its curator or compliance officer (a curator of another ledger on
    # the same server is no one here)
    STAFF_LOGIN,
    """CREATE OR REPLACE FUNCTION sampleloans_loan_is_mine(loan_no text) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT EXISTS (SELECT 1 FROM loan WHERE number = loan_no
                       AND institution = sampleloans_login_institution())
    $$""",
    # an event is mine when it is about one of my loans, or about my institution or a sample on
    # one of my loans and no other institution's loan (a sample's registration, a split that
    # made it; my institution's people and agreements): what `custody history` shows a
    # researcher on SQLite (services/history.py)
    EVENT_IS_MINE,
    # a researcher appends their lab events only, about their own loans
    LAB_EVENT_FUNCTION,
    # what a researcher's lab event is about: the only subjects they may index it under
    SUBJECT_OF_EVENT_FUNCTION,
    # the unchanging facts of their loans' samples, for a researcher's reports of a loan one
    # of whose samples went back (row-level security hides the sample's row then)
    LOAN_ITEM_SAMPLES_FUNCTION,
    # an event this very transaction appended in the login's name: the only events a
    # researcher may attach subjects to (a subject row for someone else's event would make
    # that event "mine" and show it through row-level security)
    f"""CREATE OR REPLACE FUNCTION {NEW_OWN_EVENT}(event_seq bigint) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT EXISTS (SELECT 1 FROM ledger_event e WHERE e.seq = event_seq
                       AND e.actor = session_user::text
                       AND e.xmin = pg_current_xact_id()::xid)
    $$""",
    # the chain's head for any writer: row-level security hides most events from a
    # researcher, yet their event must link to the last one (its seq, hash and time only)
    """CREATE OR REPLACE FUNCTION sampleloans_chain_head()
    RETURNS TABLE (seq bigint, hash text, recorded_at text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT e.seq, e.hash::text, e.recorded_at::text FROM ledger_event e
        WHERE e.seq = (SELECT max(m.seq) FROM ledger_event m)
    $$""",
    # every event's seq and hash, for a researcher's statement: its inclusion proofs need the
    # whole tree's leaves, which row-level security hides (digests: no event's content)
    f"""CREATE OR REPLACE FUNCTION {EVENT_HASHES}(first_seq bigint, last_seq bigint)
    RETURNS TABLE (seq bigint, hash text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT e.seq, e.hash::text FROM ledger_event e
        WHERE e.seq BETWEEN first_seq AND last_seq ORDER BY e.seq
    $$""",
    # the actor of an event is the login that writes it, never a typed name
    f"""CREATE OR REPLACE FUNCTION ledger_event_actor() RETURNS trigger
    LANGUAGE plpgsql AS $$
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
        -- an event the export of the ledger still carries in one line that restore reads
        IF {EVENT_LENGTH} > {EVENT_MAX_CHARS} THEN
            RAISE EXCEPTION 'event of % characters (its kind, payload, occurred_at, os_user and '
                            'reason) is longer than the {EVENT_MAX_CHARS:,} an event may hold',
                {EVENT_LENGTH}
                USING ERRCODE = 'program_limit_exceeded';
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
    END $$""",
    "CREATE OR REPLACE TRIGGER ledger_event_actor BEFORE INSERT ON ledger_event "
    "FOR EACH ROW EXECUTE FUNCTION ledger_event_actor()",
    # a researcher changes projections only with an event of theirs in the same transaction:
    # checked at commit (a deferred constraint trigger), when every event of it is appended.
    # Writers append under one lock and the chain is linear, so a transaction's events are the
    # newest ones until it commits: its last event is the chain's head, inserted by this very
    # transaction (xmin). Security definer: the owner reads the head through row-level security.
    f"""CREATE OR REPLACE FUNCTION {GUARD_TRIGGER}() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
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
    END $$""",
    # people add / deactivate on a secured ledger: the owner may create roles, a curator not
    f"""CREATE OR REPLACE FUNCTION sampleloans_set_login(email text, person_role text,
                                                        may_login boolean) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        grp text := CASE person_role WHEN 'curator' THEN '{GROUP_ROLES["curator"]}'
                    WHEN 'compliance_officer' THEN '{GROUP_ROLES["compliance_officer"]}'
                    WHEN 'researcher' THEN '{GROUP_ROLES["researcher"]}' END;
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
                      (pg_has_role(r.oid, '{GROUP_ROLES["curator"]}', 'MEMBER')
                       OR pg_has_role(r.oid, '{GROUP_ROLES["compliance_officer"]}', 'MEMBER')
                       OR pg_has_role(r.oid, '{GROUP_ROLES["researcher"]}', 'MEMBER')))) THEN
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
        FOREACH other IN ARRAY ARRAY['{GROUP_ROLES["curator"]}',
                                     '{GROUP_ROLES["compliance_officer"]}',
                                     '{GROUP_ROLES["researcher"]}'] LOOP
            IF other <> grp AND pg_has_role(email, other, 'MEMBER') THEN
                EXECUTE format('REVOKE %I FROM %I', other, email);
            END IF;
        END LOOP;
    END $$""",
)


def _create_roles_sql() -> str:
    """Create the owner and group roles unless the cluster has them (roles are cluster-wide)."""
    names = [OWNER_ROLE, *GROUP_ROLES.values()]
    creates = "\n".join(
        f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') THEN "
        f"CREATE ROLE {name} NOLOGIN; END IF;"
        for name in names
    )
    return f"DO $$ BEGIN\n{creates}\nEND $$"


def _tables(connection: Any) -> list[str]:
    """The ledger's tables in the public schema (every one gets the NOLOGIN owner)."""
    rows = connection.execute(
        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    ).all()
    return [str(row[0]) for row in rows]


def _grants(tables: list[str]) -> list[str]:
    """Each group's privileges: read everything; curators append events and insert and update
    projections, researchers what their lab events write (their loans' and the samples' rows,
    never people or agreements), compliance officers nothing (they record no event); never
    UPDATE, DELETE or TRUNCATE on the events."""
    groups = ", ".join(GROUP_ROLES.values())
    curator = GROUP_ROLES["curator"]
    researcher = GROUP_ROLES["researcher"]
    statements = [f"GRANT USAGE ON SCHEMA public TO {groups}"]
    for table in tables:
        statements.append(f"REVOKE ALL ON {table} FROM PUBLIC")
        # a table-level REVOKE also revokes the column privileges: rerunning starts afresh
        statements.append(f"REVOKE INSERT, UPDATE ON {table} FROM {groups}")
        statements.append(f"GRANT SELECT ON {table} TO {groups}")
        if table in READ_ONLY_TABLES:
            continue
        append_only = table in APPEND_ONLY_TABLES or table in KEPT_RECORD_TABLES
        statements.append(
            f"GRANT {'INSERT' if append_only else 'INSERT, UPDATE'} ON {table} TO {curator}"
        )
        if table in RESEARCHER_INSERTS:
            statements.append(f"GRANT INSERT ON {table} TO {researcher}")
        if table in RESEARCHER_UPDATES:
            columns = ", ".join(RESEARCHER_UPDATES[table])
            statements.append(f"GRANT UPDATE ({columns}) ON {table} TO {researcher}")
    # the ids of checkpoints and notifications sent are drawn by curators' inserts alone: a
    # researcher's or compliance officer's nextval() burnt ids, and last_value told them how
    # many notifications were sent (rows they may not read)
    statements.append(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC, {groups}")
    statements.append(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {curator}")
    # verify compares the policies on temporary copies: staff keep TEMPORARY whatever PUBLIC has
    staff = f"{curator}, {GROUP_ROLES['compliance_officer']}"
    statements.append(
        f"DO $$ BEGIN EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO {staff}', "
        "current_database()); END $$"
    )
    return statements


def _guards(tables: list[str]) -> list[str]:
    """The deferred constraint trigger on every projection table a researcher may write (only
    a researcher's rows are queued: `WHEN` is checked at once, curators' writes pass free)."""
    statements = []
    for table in (t for t in GUARDED_TABLES if t in tables):
        # constraint triggers have no CREATE OR REPLACE
        statements.append(f"DROP TRIGGER IF EXISTS {GUARD_TRIGGER} ON {table}")
        statements.append(
            f"CREATE CONSTRAINT TRIGGER {GUARD_TRIGGER} AFTER INSERT OR UPDATE ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            f"WHEN ({RESEARCHER_LOGIN}) "
            f"EXECUTE FUNCTION {GUARD_TRIGGER}()"
        )
    return statements


def _policies(tables: list[str]) -> list[str]:
    """Row-level security: this ledger's curators and compliance officers see every row,
    researchers only their institution's loans and what belongs to them."""
    statements = []
    for table in (t for t in RLS_TABLES if t in tables):  # a table a later revision adds
        statements.append(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        for name in ("staff_all", "researcher_own", "researcher_read", "researcher_append"):
            statements.append(f"DROP POLICY IF EXISTS {name} ON {table}")
        statements += table_policies(table, table)
    return statements


def table_policies(table: str, target: str) -> list[str]:
    """The CREATE POLICY statements of `table`'s row-level security, placed on `target` (the
    table itself, or a scratch copy of it whose policies verify compares with the table's)."""
    staff = f"{GROUP_ROLES['curator']}, {GROUP_ROLES['compliance_officer']}"
    researcher = GROUP_ROLES["researcher"]
    mine = {
        "loan": f"institution = {SECURED_MARKER}()",
        **{name: "sampleloans_loan_is_mine(loan_number)" for name in LOAN_SCOPED_TABLES},
        **OWN_INSTITUTION_TABLES,
    }
    statements = [
        f"CREATE POLICY staff_all ON {target} TO {staff} "
        f"USING {STAFF_POLICY} WITH CHECK {STAFF_POLICY}"
    ]
    if table in STAFF_ONLY_TABLES:  # no policy for researchers: they see no row
        return statements
    if table in mine:
        return [
            *statements,
            f"CREATE POLICY researcher_own ON {target} TO {researcher} USING ({mine[table]})",
        ]
    # events: read those about my loans; append my own (their subjects follow the event)
    check = EVENT_CHECK if table == "ledger_event" else SUBJECT_CHECK
    return [
        *statements,
        f"CREATE POLICY researcher_read ON {target} FOR SELECT TO {researcher} "
        "USING (sampleloans_event_is_mine(seq))",
        f"CREATE POLICY researcher_append ON {target} FOR INSERT TO {researcher} "
        f"WITH CHECK ({check})",
    ]


def _owners(tables: list[str]) -> list[str]:
    """Hand every table and function to the NOLOGIN owner (nobody logs in as the owner, so no
    login can alter, disable triggers on or drop the tables)."""
    statements = [f"ALTER ROLE {OWNER_ROLE} NOLOGIN CREATEROLE"]
    # `sampleloans_set_login`, run as the owner, ends a revoked login's open sessions
    statements.append(f"GRANT {SIGNAL_ROLE} TO {OWNER_ROLE}")
    statements += [f"ALTER TABLE {table} OWNER TO {OWNER_ROLE}" for table in tables]
    statements += [f"ALTER FUNCTION {name} OWNER TO {OWNER_ROLE}" for name in LEDGER_FUNCTIONS]
    statements += [
        f"ALTER FUNCTION {name} SET search_path = {FIXED_SEARCH_PATH}" for name in LEDGER_FUNCTIONS
    ]
    # the chain check must see the whole chain, whoever appends (RLS hides most of it)
    statements.append("ALTER FUNCTION ledger_event_next() SECURITY DEFINER")
    statements.append(
        "REVOKE ALL ON FUNCTION sampleloans_set_login(text, text, boolean) FROM PUBLIC"
    )
    statements.append(
        f"GRANT EXECUTE ON FUNCTION sampleloans_set_login(text, text, boolean) "
        f"TO {GROUP_ROLES['curator']}"
    )
    return statements


def secure_statements(tables: list[str]) -> list[str]:
    """Every statement of the hardening, in order (idempotent: run again, same result)."""
    return [
        _create_roles_sql(),
        *_FUNCTIONS,
        *_owners(tables),
        *_grants(tables),
        *_guards(tables),
        *_policies(tables),
    ]


def secure(connection: Any) -> list[tuple[str, bool, bool]]:
    """Install the hardening in one transaction; then give every registered person a login
    role (no password: the DBA sets one), NOLOGIN for one the ledger records as deactivated.
    Returns each person's e-mail, whether their role has a password already and whether the
    ledger records them as active."""
    # the chain's own triggers first (one dropped or disabled is verify's finding, and no
    # checkpoint is signed until they fire again); the hardening then hands them to the owner
    db.reinstall_postgres_defences(connection)
    for statement in secure_statements(_tables(connection)):
        connection.execute(text(statement))
    people = connection.execute(
        text('SELECT email, role, active FROM person ORDER BY email COLLATE "C"')
    ).all()
    for email, role, active in people:
        set_login(connection, str(email), str(role), active=bool(active))
    # pg_authid: readable by the superuser who runs it (never by a person's login)
    rows = connection.execute(
        text(
            "SELECT p.email, a.rolpassword IS NOT NULL, p.active FROM person p "
            'JOIN pg_authid a ON a.rolname = p.email ORDER BY p.email COLLATE "C"'
        )
    ).all()
    return [(str(email), bool(has), bool(active)) for email, has, active in rows]


def is_secured(connection: Any) -> bool:
    """Whether the login hardening is installed in this database."""
    found = connection.execute(text(f"SELECT to_regproc('{SECURED_MARKER}') IS NOT NULL"))
    return bool(found.scalar())


def set_login(connection: Any, email: str, role: str, *, active: bool) -> None:
    """Create (or update) a person's LOGIN role and group membership; `active` false revokes
    the login (the role and the history stay)."""
    connection.execute(
        text("SELECT sampleloans_set_login(:email, :role, :active)"),
        {"email": email, "role": role, "active": active},
    )


def login_sql(email: str, *, existed: bool) -> str:
    """What a DBA runs in psql once a person's login role is made in its group (what `people
    add --print-sql` prints): `\\password "<role>"`, which asks for the password (never
    printed, nor put in a statement a log would keep); nothing for a login that already
    existed (a comment says so: it logs in with the password it has)."""
    quoted = '"' + email.replace('"', '""') + '"'
    if existed:
        return (
            f"-- {quoted} already logs in to this server (another ledger's person): it keeps "
            "its password; nothing to run\n"
        )
    return f"\\password {quoted}\n"


@dataclass(frozen=True)
class LoginState:
    """What a command needs to know about its connection, read in one query."""

    secured: bool
    login: str
    superuser: bool
    clock: datetime


def login_state(connection: Any) -> LoginState:
    """Whether the ledger is secured, the login (`session_user`), whether it is a superuser
    (the DBA, not a person), and the server's clock, in one round trip."""
    row = connection.execute(
        text(
            f"SELECT to_regproc('{SECURED_MARKER}') IS NOT NULL, session_user::text, "
            "(SELECT rolsuper FROM pg_roles WHERE rolname = session_user), statement_timestamp()"
        )
    ).one()
    return LoginState(bool(row[0]), str(row[1]), bool(row[2]), row[3].astimezone(UTC))


def defence_problems(connection: Any) -> list[str]:
    """The hardening's defences that are missing, as findings for `verify` (secured only)."""
    if not is_secured(connection):
        return []
    problems = []
    rows = connection.execute(
        text(
            "SELECT relname, relrowsecurity FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
        )
    ).all()
    enabled = {str(row[0]): bool(row[1]) for row in rows}
    for table in RLS_TABLES:
        if not enabled.get(table, True):  # a table this ledger's revision lacks is no finding
            problems.append(f"row-level security is off on {table}: researchers see every row")
    state = connection.execute(
        text(
            "SELECT tgenabled FROM pg_trigger WHERE tgname = 'ledger_event_actor' "
            "AND tgrelid = 'ledger_event'::regclass"
        )
    ).scalar()
    why = db.trigger_state_problem("ledger_event_actor", state)
    if why is not None:
        problems.append(f"{why}: an event's actor is not checked")
    problems += _event_grant_problems(connection)
    problems += _table_grant_problems(connection)
    problems += sequence_grant_problems(connection)
    problems += _guard_problems(connection, enabled)
    problems += _researcher_grant_problems(connection)
    problems += _compliance_write_problems(connection)
    problems += _privileged_people(connection)
    problems += _deactivated_logins(connection)
    problems += _search_path_problems(connection)
    problems += _subject_policy_problems(connection)
    problems += _event_policy_problems(connection)
    problems += _inactive_staff_problems(connection)
    problems += _staff_policy_problems(connection)
    actor = _actor_trigger_problems(connection)
    problems += actor
    sessions = _session_end_problems(connection)
    problems += sessions
    named = (*(["ledger_event_actor()"] if actor else []), *([SET_LOGIN] if sessions else []))
    problems += function_problems(connection, named=named)
    return problems


ACTOR_CHECKS = {
    STORED_TIME: "accepts an event whose recorded_at is not the server's clock in the stored "
    "form (the text 'now', or a time before the last event's), which no later write, "
    "checkpoint or verify reads",
    EVENT_LENGTH: "accepts an event of any length (a login's psql event of 100 MB is kept for "
    "good, and no export of the ledger is read back by restore; at most "
    f"{EVENT_MAX_CHARS:,} characters are needed)",
}
"""Each check of the actor trigger's function by words of its body, and what a function
without it lets through: the clock (a ledger secured before revision 0014) and the event's
length (before revision 0016)."""


def _actor_trigger_problems(connection: Any) -> list[str]:
    """Each check the actor trigger's function lacks (`ACTOR_CHECKS`), saying what to run."""
    source = connection.execute(
        text("SELECT prosrc FROM pg_proc WHERE oid = to_regprocedure('ledger_event_actor()')")
    ).scalar()
    if source is None:  # the triggers' check names it
        return []
    return [
        f"the actor trigger {lets_through}; {_remedy(connection)}"
        for words, lets_through in ACTOR_CHECKS.items()
        if words not in str(source)
    ]


def _remedy(connection: Any) -> str:
    """What installs this release's functions and grants: `db upgrade` on a schema at an older
    revision (revision 0014 brings them), else `db secure` run again."""
    revision = connection.execute(text("SELECT max(version_num) FROM alembic_version")).scalar()
    return "run 'db upgrade'" if revision != db.SCHEMA_HEAD else "run 'db secure' again"


def _session_end_problems(connection: Any) -> list[str]:
    """The owner may not end other logins' sessions: a person's deactivation leaves the
    sessions they have open running (a ledger secured before revision 0014)."""
    may, source = connection.execute(
        text(
            f"SELECT pg_has_role('{OWNER_ROLE}', '{SIGNAL_ROLE}', 'MEMBER'), "
            f"(SELECT prosrc FROM pg_proc WHERE oid = to_regprocedure('{SET_LOGIN}'))"
        )
    ).one()
    if source is not None and "pg_terminate_backend" not in str(source):
        why = f"{SET_LOGIN.split('(')[0]}() revokes a login without ending its open sessions"
    elif not may:
        why = f"{OWNER_ROLE} is not a member of {SIGNAL_ROLE}"
    else:
        return []
    return [
        f"{why}: a person deactivated while connected keeps that session, reading and "
        f"writing the rows every login may; {_remedy(connection)}"
    ]


@dataclass(frozen=True)
class FunctionDefinition:
    """What decides what a function of the ledger does: its body (word by word), language,
    volatility, whether it runs as its owner, its settings (the search path) and its owner."""

    body: str | None
    language: str
    volatility: str
    security_definer: bool
    settings: tuple[str, ...]
    owner: str


VOLATILITY = {"IMMUTABLE": "i", "STABLE": "s", "VOLATILE": "v"}
"""`pg_proc.provolatile` for each word of CREATE FUNCTION (VOLATILE when none is written)."""
VOLATILITY_WORDS = {letter: word for word, letter in VOLATILITY.items()}


def own_functions() -> dict[str, FunctionDefinition]:
    """Every function `db secure` installs (the ones its policies, its guard and actor
    triggers and its commands call), by signature, as `_owners` leaves them."""
    signatures = {name.split("(")[0]: name for name in LEDGER_FUNCTIONS}
    own = {}
    for statement in (s for s in _FUNCTIONS if s.startswith("CREATE OR REPLACE FUNCTION")):
        header, body = statement.split("$$")[:2]
        name = header.split("FUNCTION", 1)[1].split("(", 1)[0].strip()
        language = re.search(r"LANGUAGE (\w+)", header)
        volatility = re.search(r"\b(IMMUTABLE|STABLE|VOLATILE)\b", header)
        own[signatures[name]] = FunctionDefinition(
            db.trigger_text(body),
            language.group(1) if language else "sql",
            VOLATILITY[volatility.group(1) if volatility else "VOLATILE"],
            "SECURITY DEFINER" in header,
            (f"search_path={FIXED_SEARCH_PATH}",),
            OWNER_ROLE,
        )
    # the chain's trigger functions: created with the tables (their bodies are compared with
    # the triggers, `db.postgres_trigger_problems`), handed to the owner here
    for name in ("ledger_event_next()", "ledger_refuse_change()"):
        own[name] = FunctionDefinition(
            None,
            "plpgsql",
            VOLATILITY["VOLATILE"],
            name == "ledger_event_next()",  # it must see the whole chain, whoever appends
            (f"search_path={FIXED_SEARCH_PATH}",),
            OWNER_ROLE,
        )
    return own


def function_problems(connection: Any, named: tuple[str, ...] = ()) -> list[str]:
    """Each function `db secure` installs that is missing or not exactly the ledger's own (its
    body replaced, e.g. `sampleloans_loan_is_mine` made to return true, its language,
    volatility, SECURITY DEFINER, search path or owner changed): the policies and triggers that
    call it are compared by name only, so one replaced function opens them all. `named`: the
    functions whose older body another finding already names (and says what to run)."""
    own = own_functions()
    rows = connection.execute(
        text(
            "SELECT s.name, p.prosrc, l.lanname, p.provolatile, p.prosecdef, "
            "coalesce(p.proconfig, '{}'), pg_get_userbyid(p.proowner) "
            "FROM unnest(CAST(:names AS text[])) AS s(name) "
            "LEFT JOIN pg_proc p ON p.oid = to_regprocedure(s.name) "
            "LEFT JOIN pg_language l ON l.oid = p.prolang ORDER BY 1"
        ),
        {"names": sorted(own)},
    ).all()
    problems = []
    for name, body, language, volatility, definer, settings, owner in rows:
        if body is None and own[str(name)].body is None:  # the triggers' check names it
            continue
        if body is None:
            problems.append(
                f"function {name} is missing: the policies and triggers that call it fail or "
                "refuse nothing; run 'db secure' again"
            )
            continue
        found = FunctionDefinition(
            None if own[str(name)].body is None else db.trigger_text(str(body)),
            str(language),
            str(volatility),
            bool(definer),
            tuple(str(s) for s in settings),
            str(owner),
        )
        differs = _function_differences(found, own[str(name)])
        if str(name) in named:
            differs = [why for why in differs if why != BODY_REPLACED]
        if differs:
            problems.append(
                f"function {name} is not the ledger's own ({', '.join(differs)}): the policies "
                "and triggers that call it may let anything through; run 'db secure' again"
            )
    return problems


BODY_REPLACED = "its body was replaced"


def _function_differences(found: FunctionDefinition, own: FunctionDefinition) -> list[str]:
    """What of a function differs from the ledger's own, in words ('its body was replaced')."""
    words = {
        "body": BODY_REPLACED,
        "language": f"its language is {found.language}",
        "volatility": f"it is {VOLATILITY_WORDS.get(found.volatility, found.volatility)}",
        "security_definer": "it runs as "
        + ("its owner" if found.security_definer else "the caller, not its owner"),
        "settings": f"its settings are {', '.join(found.settings) or 'none'}",
        "owner": f"it is owned by {found.owner}",
    }
    return [why for field, why in words.items() if getattr(found, field) != getattr(own, field)]


def _compliance_write_problems(connection: Any) -> list[str]:
    """The compliance officers' group allowed to INSERT or UPDATE a table: they record no
    event, so their login needs to write nothing (`db secure` grants them SELECT only)."""
    rows = connection.execute(
        text(
            "SELECT c.relname, v.verb FROM pg_class c "
            "CROSS JOIN (VALUES ('INSERT'), ('UPDATE')) AS v(verb) "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' "
            "AND (has_table_privilege(:group, c.oid, v.verb) "
            "OR has_any_column_privilege(:group, c.oid, v.verb)) ORDER BY 1, 2"
        ),
        {"group": GROUP_ROLES["compliance_officer"]},
    ).all()
    return [
        f"{GROUP_ROLES['compliance_officer']} may {verb} {table}: compliance officers record "
        "nothing; revoke it ('db secure' grants them SELECT only)"
        for table, verb in rows
    ]


def _deactivated_logins(connection: Any) -> list[str]:
    """People the ledger records as deactivated whose role may still log in."""
    rows = connection.execute(
        text(
            "SELECT r.rolname FROM person p JOIN pg_roles r ON r.rolname = p.email "
            "WHERE NOT p.active AND r.rolcanlogin ORDER BY 1"
        )
    ).all()
    return [
        f"person {row[0]} is deactivated in the ledger but their role may log in: "
        f'ALTER ROLE "{row[0]}" NOLOGIN (or record their reactivation)'
        for row in rows
    ]


def _search_path_problems(connection: Any) -> list[str]:
    """A function of the ledger's schema that runs as its owner (SECURITY DEFINER) without a
    search path ending in pg_temp: a login's temporary table would stand in for a ledger table
    inside it (e.g. a fake chain head for the link check)."""
    rows = connection.execute(
        text(
            "SELECT p.oid::regprocedure::text, p.proconfig FROM pg_proc p "
            "WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef ORDER BY 1"
        )
    ).all()
    problems = []
    for name, settings in rows:
        paths = [
            str(s)[len("search_path=") :] for s in settings or () if s.startswith("search_path=")
        ]
        schemas = [part.strip().strip('"') for part in paths[0].split(",")] if paths else []
        if not schemas or schemas[-1] != "pg_temp":
            problems.append(
                f"function {name} runs as its owner without a fixed search path ending in "
                f"pg_temp: a login's temporary table can stand in for a ledger table in it; "
                f"run 'db secure' again"
            )
    return problems


def _subject_policy_problems(connection: Any) -> list[str]:
    """The researchers' INSERT policy on `event_subject` lets them attach subjects to events
    that are not theirs (which shows those events to them through row-level security)."""
    check = connection.execute(
        text(
            "SELECT pg_get_expr(polwithcheck, polrelid) FROM pg_policy "
            "WHERE polname = 'researcher_append' AND polrelid = to_regclass('public.event_subject')"
        )
    ).scalar()
    if check is None:  # none: researchers append no subject
        return []
    if NEW_OWN_EVENT not in str(check):
        return [
            "the researchers' INSERT policy on event_subject does not require an event of their "
            "own appended in the same transaction: a researcher's login could make any event "
            "theirs and read it; run 'db secure' again"
        ]
    if SUBJECT_OF_EVENT not in str(check):
        return [
            "the researchers' INSERT policy on event_subject lets them index their own event "
            "under any record (the lender, a person, another institution's sample), where it "
            "shows in that record's history; run 'db upgrade' (or 'db secure' again)"
        ]
    return []


def _event_policy_problems(connection: Any) -> list[str]:
    """The researchers' INSERT policy on `ledger_event` lets them append an event that is not
    lab work on their own loans (a curator's kind, or about another institution's loan)."""
    check = connection.execute(
        text(
            "SELECT pg_get_expr(polwithcheck, polrelid) FROM pg_policy "
            "WHERE polname = 'researcher_append' AND polrelid = to_regclass('public.ledger_event')"
        )
    ).scalar()
    if check is None or LAB_EVENT in str(check):  # none: researchers append no event
        return []
    return [
        "the researchers' INSERT policy on ledger_event lets them append any kind of event about "
        "any loan (a loan closed, a role changed), which stays in the chain for good; "
        "run 'db upgrade'"
    ]


def _inactive_staff_problems(connection: Any) -> list[str]:
    """The staff test that does not ask whether the person is active: a session opened before
    a curator's or compliance officer's deactivation still reads and changes every row."""
    source = connection.execute(
        text("SELECT prosrc FROM pg_proc WHERE oid = to_regproc(:name)"), {"name": STAFF_LOGIN_IS}
    ).scalar()
    if source is None or "AND active" in str(source):  # none: the staff policies name it
        return []
    return [
        f"{STAFF_LOGIN_IS}() does not ask whether the person is active: a session opened before "
        "a curator's or compliance officer's deactivation still reads and changes every row; "
        "run 'db upgrade'"
    ]


def _staff_policy_problems(connection: Any) -> list[str]:
    """A staff policy that lets every member of the cluster-wide staff groups read a table,
    not only this ledger's curators and compliance officers."""
    rows = connection.execute(
        text(
            "SELECT c.relname, pg_get_expr(p.polqual, p.polrelid) FROM pg_policy p "
            "JOIN pg_class c ON c.oid = p.polrelid WHERE p.polname = 'staff_all' ORDER BY 1"
        )
    ).all()
    loose = [str(table) for table, qual in rows if STAFF_LOGIN_IS not in str(qual)]
    if not loose:
        return []
    return [
        f"the staff policy on {', '.join(loose)} lets any member of the staff groups read and "
        "change every row, a curator of another ledger on the same server too; run 'db upgrade'"
    ]


@dataclass(frozen=True)
class PolicyCheck:
    """What verify found of the row-level-security policies, and what it could not check."""

    problems: list[str]
    not_checked: list[str]

    @property
    def checked(self) -> bool:
        """Whether the policies were compared whole (a secured ledger, expressions too)."""
        return self.secured and not self.not_checked

    secured: bool = True


POLICY_ROWS = (
    "SELECT c.relname, p.polname, p.polcmd, p.polpermissive, "
    "ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE r::regrole::text END "
    "FROM unnest(p.polroles) AS r ORDER BY 1), "
    "pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid) "
    "FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid "
    "WHERE c.relnamespace = {schema} AND c.relname = ANY(:tables) ORDER BY 1, 2"
)
"""Every policy on the named tables of a schema, as PostgreSQL prints it (its expressions in
its own normalised form, which is why the ledger's are printed from scratch copies too)."""
SCRATCH_PREFIX = "sampleloans_policy_"
"""The name of a table's scratch copy (temporary, in a transaction rolled back)."""
POLICY_COMMANDS = {"*": "ALL", "r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE"}
"""`pg_policy.polcmd` in the words of CREATE POLICY … FOR."""
Policy = tuple[str, bool, tuple[str, ...], str | None, str | None]
"""A policy as compared: command, permissive, roles, USING and WITH CHECK as printed."""


def policy_check(connection: Any) -> PolicyCheck:
    """Every policy on every row-level-security table against exactly the set `db secure`
    installs (names, commands, roles, permissive or restrictive, USING and WITH CHECK): a
    policy loosened, added (for a group or PUBLIC) or dropped by the owner is a finding."""
    if not is_secured(connection):
        return PolicyCheck([], [], secured=False)
    revision = connection.execute(text("SELECT max(version_num) FROM alembic_version")).scalar()
    if revision != db.SCHEMA_HEAD:  # an older revision's policies are its own
        return PolicyCheck([], [POLICIES_BEHIND])
    tables = [
        str(t)
        for t in connection.execute(
            text(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                "AND relkind = 'r' AND relname = ANY(:tables) ORDER BY 1"
            ),
            {"tables": list(RLS_TABLES)},
        ).scalars()
    ]
    found = _policy_rows(connection, "'public'::regnamespace", tables)
    expected, refused = _reference_policies(connection, tables)
    if expected is None:  # the names, commands and roles are still compared
        found = {key: (*policy[:3], None, None) for key, policy in found.items()}
        expected = _bare_policies(tables)
    problems = [
        problem
        for key in sorted(found.keys() | expected.keys())
        if (problem := _policy_problem(key, found.get(key), expected.get(key))) is not None
    ]
    return PolicyCheck(problems, [] if refused is None else [_expressions_unchecked(*refused)])


POLICIES_BEHIND = (
    "not checked: the row-level-security policies against the ledger's own: the schema is at "
    "an older revision (the DBA runs 'sampleloans db upgrade', which installs this release's)"
)


def _expressions_unchecked(refused: str, sqlstate: str) -> str:
    """What verify says when this login may not make the scratch copies (`refused`: why;
    `sqlstate`: one of SCRATCH_REFUSED), and what does check them."""
    remedy = (
        "verify on the primary server checks them"
        if sqlstate == "25006"  # a standby or read-only session: no login creates one there
        else "the DBA's login checks them, and 'db secure' run again gives the curators and "
        "compliance officers back the TEMPORARY privilege it grants them"
    )
    return (
        "not checked: the USING and WITH CHECK expressions of the row-level-security policies "
        "(their names, commands and roles were): this login may not create the temporary "
        f"tables they are compared on ({refused}); {remedy}"
    )


def _policy_rows(
    connection: Any, schema: str, tables: list[str], prefix: str = ""
) -> dict[tuple[str, str], Policy]:
    """The policies on `tables` (named with `prefix`) of `schema` (a SQL expression for its
    oid), by (table, name)."""
    rows = connection.execute(
        text(POLICY_ROWS.format(schema=schema)), {"tables": [f"{prefix}{t}" for t in tables]}
    ).all()
    return {
        (str(table).removeprefix(prefix), str(name)): (
            POLICY_COMMANDS.get(str(command), str(command)),
            bool(permissive),
            tuple(str(role) for role in roles),
            None if using is None else str(using),
            None if check is None else str(check),
        )
        for table, name, command, permissive, roles, using, check in rows
    }


def _reference_policies(
    connection: Any, tables: list[str]
) -> tuple[dict[tuple[str, str], Policy] | None, tuple[str, str] | None]:
    """The ledger's own policies as this server prints them: made on temporary copies of the
    tables in a second connection (verify's own is read-only) and rolled back, so nothing is
    left behind. (None, (why, SQLSTATE)) when this login may not create them."""
    # not the read-only BEGIN of the engine a read transaction (`verify --since`) came from:
    # on the primary server the copies are made there too, as for a full verify
    with connection.engine.execution_options(sqlite_begin=None).connect() as scratch:
        try:
            with scratch.begin() as work:
                # one round trip: the statements are the ledger's own, with no parameter
                scratch.exec_driver_sql(";\n".join(_scratch_statements(tables)))
                found = _policy_rows(scratch, "pg_my_temp_schema()", tables, SCRATCH_PREFIX)
                work.rollback()
        except DBAPIError as exc:
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate not in SCRATCH_REFUSED:
                raise
            return None, (str(exc.orig).splitlines()[0], str(sqlstate))
    return found, None


def _scratch_statements(tables: list[str]) -> list[str]:
    """A temporary copy of each table (its columns, which the policies name) with the
    ledger's own policies on it."""
    statements = []
    for table in tables:
        copy = f"pg_temp.{SCRATCH_PREFIX}{table}"
        statements.append(f"CREATE TEMPORARY TABLE {copy} (LIKE public.{table})")
        statements += table_policies(table, copy)
    return statements


SCRATCH_REFUSED = ("42501", "25006")
"""Why a login may not make the scratch copies: no TEMPORARY privilege on the database, or a
read-only server (a standby) or session."""


def _bare_policies(tables: list[str]) -> dict[tuple[str, str], Policy]:
    """The ledger's own policies without their expressions (read from the statements)."""
    policies: dict[tuple[str, str], Policy] = {}
    for table in tables:
        for statement in table_policies(table, table):
            words = statement.split()
            command = words[words.index("FOR") + 1] if "FOR" in words[:6] else "ALL"
            roles = statement.split(" TO ", 1)[1].split(" USING ")[0].split(" WITH CHECK ")[0]
            names = tuple(sorted(role.strip() for role in roles.split(",")))
            policies[(table, words[2])] = (command, True, names, None, None)
    return policies


def _policy_problem(
    key: tuple[str, str], found: Policy | None, expected: Policy | None
) -> str | None:
    """One line naming the table and the policy when it is missing, added or not the ledger's
    own; None when it is exactly the ledger's."""
    table, name = key
    if found == expected:
        return None
    if found is None:
        return (
            f"policy {name} on {table} is missing: row-level security there is not the "
            "ledger's; run 'db secure' again"
        )
    if expected is None:
        return (
            f"policy {name} on {table} is not one the ledger installs ({_describe(found)}): the "
            f"logins it names may read or change rows of {table} the ledger's policies hide; "
            f"DROP POLICY {name} ON {table}"
        )
    return (
        f"policy {name} on {table} is not the ledger's own (it reads: {_describe(found)}): "
        f"the logins it names may read or change rows of {table} the ledger's policies hide; "
        "run 'db secure' again"
    )


def _describe(policy: Policy) -> str:
    """A policy in the words of CREATE POLICY (after its name and table)."""
    command, permissive, roles, using, check = policy
    words = [] if permissive else ["AS RESTRICTIVE"]
    words += [f"FOR {command}", f"TO {', '.join(roles)}"]
    words += [] if using is None else [f"USING ({using})"]
    words += [] if check is None else [f"WITH CHECK ({check})"]
    return " ".join(words)


def _guard_problems(connection: Any, tables: dict[str, bool]) -> list[str]:
    """A guarded table whose constraint trigger is missing or disabled."""
    rows = connection.execute(
        text(
            "SELECT c.relname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = :name AND c.relnamespace = 'public'::regnamespace"
        ),
        {"name": GUARD_TRIGGER},
    ).all()
    state = {str(row[0]): str(row[1]) for row in rows}
    problems = []
    for table in (t for t in GUARDED_TABLES if t in tables):
        why = db.trigger_state_problem(GUARD_TRIGGER, state.get(table), table=table)
        if why is not None:
            problems.append(
                f"{why}: a researcher's login may change their loans' rows there without "
                "recording an event"
            )
    return problems


def _researcher_grant_problems(connection: Any) -> list[str]:
    """A privilege a researcher (the group or one login) holds beyond what their lab events
    write: INSERT outside RESEARCHER_INSERTS, UPDATE of a column outside RESEARCHER_UPDATES.

    A login holds more than its group only through a grant naming it or another role it is a
    member of: only such logins are checked one by one (not every researcher of a big ledger).
    """
    rows = connection.execute(
        text(
            "WITH grantees AS ("
            "  SELECT (aclexplode(c.relacl)).grantee AS oid FROM pg_class c "
            "  WHERE c.relnamespace = 'public'::regnamespace AND c.relacl IS NOT NULL "
            "  UNION SELECT (aclexplode(a.attacl)).grantee FROM pg_attribute a "
            "  JOIN pg_class c ON c.oid = a.attrelid "
            "  WHERE c.relnamespace = 'public'::regnamespace AND a.attacl IS NOT NULL), "
            "checked AS ("
            "  SELECT r.oid, r.rolname FROM pg_roles r WHERE NOT r.rolsuper AND ("
            "    r.rolname = :group OR (r.rolcanlogin AND pg_has_role(r.oid, :group, 'MEMBER') "
            "    AND (r.oid IN (SELECT oid FROM grantees) OR EXISTS (SELECT 1 FROM "
            "      pg_auth_members m WHERE m.member = r.oid AND m.roleid <> to_regrole(:group))))))"
            "SELECT r.rolname, c.relname, a.attname, "
            "has_column_privilege(r.oid, c.oid, a.attnum, 'UPDATE'), "
            "has_table_privilege(r.oid, c.oid, 'INSERT') "
            "FROM checked r CROSS JOIN pg_class c "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' ORDER BY 1, 2, 3"
        ),
        {"group": GROUP_ROLES["researcher"]},
    ).all()
    updates: dict[tuple[str, str], list[str]] = {}
    inserts: set[tuple[str, str]] = set()
    for role, table, column, may_update, may_insert in rows:
        if may_update and column not in RESEARCHER_UPDATES.get(table, ()):
            updates.setdefault((str(role), str(table)), []).append(str(column))
        if may_insert and table not in RESEARCHER_INSERTS:
            inserts.add((str(role), str(table)))
    problems = [
        f"{role} may UPDATE {table} ({', '.join(columns)}): a researcher's lab events change "
        f"{_changed_columns(table)}; revoke it ('db secure' grants no more)"
        for (role, table), columns in sorted(updates.items())
    ]
    problems += [
        f"{role} may INSERT into {table}: a researcher's lab events never do; revoke it"
        for role, table in sorted(inserts)
    ]
    return problems


def _changed_columns(table: str) -> str:
    """The columns of `table` a researcher's lab events change, in words ('none of its
    columns' for a table they never update, e.g. `ledger_event`)."""
    columns = RESEARCHER_UPDATES.get(table, ())
    return f"only {', '.join(columns)}" if columns else "none of its columns"


def _table_grant_problems(connection: Any) -> list[str]:
    """Any login (directly or through a group) that may DELETE or TRUNCATE a table other than
    the events (TRUNCATE ignores row-level security; a DELETE removes what no event undid), or
    UPDATE a table kept append-only (`db secure` grants neither).

    Read from the tables' grants (a handful of grantees), then the logins that are members of
    one: not every login against every table (a big ledger has thousands of people)."""
    rows = connection.execute(
        text(
            "WITH granted AS (SELECT DISTINCT c.relname, a.grantee, a.privilege_type AS verb "
            "  FROM pg_class c, LATERAL aclexplode(c.relacl) a "
            "  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' "
            "  AND c.relname <> 'ledger_event' AND a.grantee <> c.relowner "
            "  AND (a.privilege_type IN ('DELETE', 'TRUNCATE') "
            "       OR (a.privilege_type = 'UPDATE' AND c.relname = ANY(:kept)))) "
            "SELECT DISTINCT r.rolname, g.relname, g.verb FROM granted g JOIN pg_roles r "
            "ON r.rolcanlogin AND NOT r.rolsuper "
            "AND (g.grantee = 0 OR pg_has_role(r.oid, g.grantee, 'MEMBER')) ORDER BY 2, 3, 1"
        ),
        {"kept": [*READ_ONLY_TABLES, *APPEND_ONLY_TABLES, *KEPT_RECORD_TABLES]},
    ).all()
    return [
        f"login {role} may {verb} {table}: revoke it (no login deletes, empties or rewrites "
        "the ledger's records)"
        for role, table, verb in rows
    ]


SEQUENCE_GRANT = (GROUP_ROLES["curator"], "USAGE")
"""The one privilege on the ledger's sequences `db secure` grants: curators draw the ids of the
checkpoints and notifications they record; a ledger secured before grants every group USAGE,
which verify names until `db secure` runs again."""


def sequence_grant_problems(connection: Any) -> list[str]:
    """Any role but the owner holding a privilege on a sequence of the ledger other than the
    curators' USAGE: nextval() burns the ids of kept records, setval() changes the next one,
    and last_value counts rows row-level security hides (the notifications sent)."""
    rows = connection.execute(
        text(
            "SELECT DISTINCT c.relname, COALESCE(r.rolname, 'PUBLIC'), a.privilege_type "
            "FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a "
            "LEFT JOIN pg_roles r ON r.oid = a.grantee "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S' "
            "AND a.grantee <> c.relowner ORDER BY 1, 2, 3"
        )
    ).all()
    return [
        f"{grantee} may {verb} sequence {sequence}: only curators draw ids (USAGE); "
        "run 'db secure' again"
        for sequence, grantee, verb in rows
        if (str(grantee), str(verb)) != SEQUENCE_GRANT
    ]


def _event_grant_problems(connection: Any) -> list[str]:
    """Any login role (directly or through a group) that may change or empty the events."""
    problems = []
    for verb in FORBIDDEN_ON_EVENTS:
        rows = connection.execute(
            text(
                "SELECT rolname FROM pg_roles WHERE rolcanlogin AND NOT rolsuper "
                "AND has_table_privilege(oid, 'ledger_event', :verb) ORDER BY rolname"
            ),
            {"verb": verb},
        ).all()
        problems += [
            f"login {row[0]} may {verb} ledger_event: revoke it (events are append-only)"
            for row in rows
        ]
    owner = connection.execute(
        text("SELECT tableowner FROM pg_tables WHERE tablename = 'ledger_event'")
    ).scalar()
    can_login = connection.execute(
        text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :owner"), {"owner": owner}
    ).scalar()
    if can_login:
        problems.append(f"ledger_event is owned by {owner}, a role that can log in")
    return problems


def _privileged_people(connection: Any) -> list[str]:
    """People whose role is a superuser or bypasses row-level security."""
    rows = connection.execute(
        text(
            "SELECT r.rolname, r.rolsuper, r.rolbypassrls FROM person p "
            "JOIN pg_roles r ON r.rolname = p.email WHERE r.rolsuper OR r.rolbypassrls "
            "ORDER BY r.rolname"
        )
    ).all()
    return [
        f"person {row[0]} logs in as a {'superuser' if row[1] else 'role with BYPASSRLS'}: "
        "row-level security and the triggers do not bind them"
        for row in rows
    ]
