"""A researcher's reports of a loan say what staff's say of a sample that went back.

On a PostgreSQL ledger secured with `db secure` (nothing else: SQLite, or PostgreSQL without the
login hardening, is unchanged). Row-level security shows a researcher a `sample` row only while
the sample is on their loan: once one of their loan's samples was returned to the vault, their
custody report, return report and statement of the loan left that item's description blank, so
the content digest was not staff's and `verify-document` failed both ways (the researcher's of
the curator's report, compliance's of the researcher's). The function
`sampleloans_loan_item_samples(loan)` (owned by the `NOLOGIN` owner, search path `public,
pg_temp`, security definer) returns, for a loan of the login's institution only, each item's
sample's unchanging facts (code, mission, origin, material, form, parent): never where it is
now, its custodian, state or a later loan. The reports read it when the row is hidden.

Frozen (docs/migrations.md rule 4): the SQL below is this revision's own copy of what
`sampleloans/pgsecurity.py` installs. One DO block that does nothing on a ledger without the
hardening, so the offline script (`db upgrade --sql`) is the same for both. Run by the DBA.

Revision ID: 0015_loan_item_samples
Revises: 0014_clock_sessions_kept_records
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_loan_item_samples"
down_revision: str | Sequence[str] | None = "0014_clock_sessions_kept_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SECURED_MARKER = "sampleloans_login_institution"
LOAN_ITEM_SAMPLES = """CREATE OR REPLACE FUNCTION sampleloans_loan_item_samples(loan_no text)
    RETURNS TABLE (code text, mission text, origin text, material_type text,
                   physical_form text, parent_code text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT s.code::text, s.mission::text, s.origin::text, s.material_type::text,
               s.physical_form::text, s.parent_code::text
        FROM loan_item i JOIN sample s ON s.code = i.sample_code
        WHERE i.loan_number = loan_no AND sampleloans_loan_is_mine(loan_no)
        ORDER BY s.code
    $$"""
STATEMENTS = (
    LOAN_ITEM_SAMPLES,
    "ALTER FUNCTION sampleloans_loan_item_samples(text) OWNER TO sampleloans_owner",
    "ALTER FUNCTION sampleloans_loan_item_samples(text) SET search_path = public, pg_temp",
)


def upgrade() -> None:
    """On a secured PostgreSQL ledger, add the function the researchers' reports read."""
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
