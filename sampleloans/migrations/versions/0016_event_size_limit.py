"""An event's own texts are at most 1,048,576 characters together.

On a PostgreSQL ledger secured with `db secure` (nothing else: SQLite, or PostgreSQL without the
login hardening, is unchanged): the actor trigger's function `ledger_event_actor()` refuses an
event whose kind, payload, occurred_at, os_user and reason are longer together (`event of N
characters (its kind, payload, occurred_at, os_user and reason) is longer than the 1,048,576 an
event may hold`). Before, a login's psql event of 100 MB (in its payload, or its OS user or
reason) was kept for good: its own lab event passed every check (its hash is not the
database's to check), every later export of the ledger held a line longer than the 16 MiB that
`import` and `restore --events` read, and `verify` held it in memory several times over. A lab
event's texts are a few hundred characters.

Frozen (docs/migrations.md rule 4): the SQL below is this revision's own copy of what
`sampleloans/pgsecurity.py` installs. One DO block that does nothing on a ledger without the
hardening, so the offline script (`db upgrade --sql`) is the same for both. Run by the DBA.

Revision ID: 0016_event_size_limit
Revises: 0015_loan_item_samples
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_event_size_limit"
down_revision: str | Sequence[str] | None = "0015_loan_item_samples"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SECURED_MARKER = "sampleloans_login_institution"
STORED_TIME = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{6})?Z$"
EVENT_LENGTH = (
    "length(NEW.kind) + length(NEW.payload) + length(NEW.occurred_at) + length(NEW.os_user) "
    "+ coalesce(length(NEW.reason), 0)"
)
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
        -- an event the export of the ledger still carries in one line that restore reads
        IF {EVENT_LENGTH} > 1048576 THEN
            RAISE EXCEPTION 'event of % characters (its kind, payload, occurred_at, os_user and '
                            'reason) is longer than the 1,048,576 an event may hold',
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
    END $$"""


def upgrade() -> None:
    """On a secured PostgreSQL ledger, replace the actor trigger's function (its owner and
    search path stay)."""
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(
        sa.text(
            "DO $do$ BEGIN\n"
            f"    IF to_regproc('{SECURED_MARKER}') IS NULL THEN RETURN; END IF;\n"
            f"    {EVENT_ACTOR};\n"
            "END $do$"
        )
    )


def downgrade() -> None:
    """Migrations only go forward (docs/migrations.md)."""
    raise NotImplementedError("sampleloans migrations only go forward")
