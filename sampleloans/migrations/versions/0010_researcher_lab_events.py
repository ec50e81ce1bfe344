"""A researcher's login appends only their lab events, about their own institution's loans.

On a PostgreSQL ledger secured with `db secure` (nothing else: SQLite, or PostgreSQL without the
login hardening, is unchanged). The researchers' INSERT policy on `ledger_event` checked only
that the event's actor was the login: in psql, a researcher appended any kind of event (a loan
closed, another institution's loan consumed, their own role changed to curator), correctly
hashed and linked to the head. `verify` named it, but an event is never deleted: the ledger
failed `verify` for good. The function `sampleloans_event_is_lab_work(kind, payload)` (owned by
the `NOLOGIN` owner, search path `public, pg_temp`) says whether the event is a receipt of the
lender's shipment, a consumption, a borrower's split, an inventory or an incident report on a
loan lent to the login's institution; the policy now requires it.

Frozen (docs/migrations.md rule 4): the SQL below is this revision's own copy of what
`sampleloans/pgsecurity.py` installs. One DO block that does nothing on a ledger without the
hardening, so the offline script (`db upgrade --sql`) is the same for both. Run by the DBA (a
policy is altered by its table's owner).

Revision ID: 0010_researcher_lab_events
Revises: 0009_case_twin_indexes
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_researcher_lab_events"
down_revision: str | Sequence[str] | None = "0009_case_twin_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SECURED_MARKER = "sampleloans_login_institution"
LAB_EVENT = """CREATE OR REPLACE FUNCTION sampleloans_event_is_lab_work(event_kind text, event_payload text)
    RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        fields jsonb;
    BEGIN
        IF NOT (event_kind IN ('loan.received', 'loan.consumed', 'loan.split', 'loan.inventory', 'incident.reported')) THEN
            RETURN false;
        END IF;
        BEGIN
            fields := event_payload::jsonb;
        EXCEPTION WHEN invalid_text_representation THEN
            RETURN false;
        END;
        IF jsonb_typeof(fields) IS DISTINCT FROM 'object'
           OR NOT sampleloans_loan_is_mine(fields ->> CASE event_kind
                  WHEN 'incident.reported' THEN 'loan'
                  ELSE 'number' END) THEN
            RETURN false;
        END IF;
        -- a borrower receives the lender's shipment; accepting a return is the curator's
        RETURN event_kind <> 'loan.received'
            OR (jsonb_typeof(fields -> 'shipment_seq') = 'number'
                AND EXISTS (SELECT 1 FROM shipment s
                            WHERE s.seq = (fields ->> 'shipment_seq')::numeric
                            AND s.loan_number = fields ->> 'number'
                            AND s.direction = 'outbound'));
    END $$"""  # noqa: E501  (the function's text, byte for byte as db secure installs it)
STATEMENTS = (
    LAB_EVENT,
    "ALTER FUNCTION sampleloans_event_is_lab_work(text, text) OWNER TO sampleloans_owner",
    "ALTER FUNCTION sampleloans_event_is_lab_work(text, text) SET search_path = public, pg_temp",
    "ALTER POLICY researcher_append ON ledger_event WITH CHECK "
    "(actor = session_user::text AND sampleloans_event_is_lab_work(kind, payload))",
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
