"""A researcher's login indexes their own lab event only under what it is about.

On a PostgreSQL ledger secured with `db secure` (nothing else: SQLite, or PostgreSQL without the
login hardening, is unchanged). The researchers' INSERT policy on `event_subject` asked only that
the event be their own, new in the same transaction, and the subject no other institution's
loan: in psql, a researcher indexed their event under the lender, a curator or another
institution's sample, where it showed in that record's history. `verify` named it, but an index
row is never deleted: the ledger failed `verify` for good. The function
`sampleloans_subject_of_lab_event(seq, subject_type, subject_key)` (owned by the `NOLOGIN`
owner, search path `public, pg_temp`) says whether the subject is what `ledger/apply.py` indexes
the event under: its loan, that loan's institution, agreement and PI, and the samples its
payload names. The policy now requires it.

Frozen (docs/migrations.md rule 4): the SQL below is this revision's own copy of what
`sampleloans/pgsecurity.py` installs. One DO block that does nothing on a ledger without the
hardening, so the offline script (`db upgrade --sql`) is the same for both. Run by the DBA (a
policy is altered by its table's owner).

Revision ID: 0012_subject_of_lab_event
Revises: 0011_active_staff
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_subject_of_lab_event"
down_revision: str | Sequence[str] | None = "0011_active_staff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SECURED_MARKER = "sampleloans_login_institution"
SUBJECT_OF_EVENT = """CREATE OR REPLACE FUNCTION sampleloans_subject_of_lab_event(
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
            WHEN 'incident.reported' THEN 'loan' ELSE 'number' END;
        IF its_loan.number IS NULL THEN
            RETURN false;
        END IF;
        RETURN CASE kind_of_subject
            WHEN 'loan' THEN key_of_subject = its_loan.number
            WHEN 'institution' THEN key_of_subject = its_loan.institution
            WHEN 'agreement' THEN key_of_subject = its_loan.agreement
            WHEN 'person' THEN key_of_subject = its_loan.pi_email
            WHEN 'sample' THEN key_of_subject IN (
                    fields ->> 'sample', fields ->> 'parent', fields ->> 'child')
                OR (jsonb_typeof(fields -> 'weighed') = 'array'
                    AND EXISTS (SELECT 1 FROM jsonb_array_elements(fields -> 'weighed') w
                                WHERE jsonb_typeof(w) = 'array' AND w ->> 0 = key_of_subject))
            ELSE false END;
    END $$"""
STATEMENTS = (
    SUBJECT_OF_EVENT,
    "ALTER FUNCTION sampleloans_subject_of_lab_event(bigint, text, text) "
    "OWNER TO sampleloans_owner",
    "ALTER FUNCTION sampleloans_subject_of_lab_event(bigint, text, text) "
    "SET search_path = public, pg_temp",
    "ALTER POLICY researcher_append ON event_subject WITH CHECK ("
    "sampleloans_event_is_new_own(seq) "
    "AND (subject_type <> 'loan' OR sampleloans_loan_is_mine(subject_key)) "
    "AND sampleloans_subject_of_lab_event(seq, subject_type, subject_key))",
)


def upgrade() -> None:
    """On a secured PostgreSQL ledger, add the function and narrow the researchers' policy."""
    if op.get_context().dialect.name != "postgresql":
        return
    body = "\n    ".join(f"{statement};" for statement in STATEMENTS)
    op.execute(
        sa.text(
            "DO $do$ BEGIN\n"
            f"    IF to_regproc('{SECURED_MARKER}') IS NULL THEN RETURN; END IF;\n"
            f"    {body}\n"
            "END $do$"
        )
    )


def downgrade() -> None:
    """Migrations only go forward (docs/migrations.md)."""
    raise NotImplementedError("sampleloans migrations only go forward")
