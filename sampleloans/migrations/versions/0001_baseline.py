"""Baseline: the ledger's schema as release 0.1 created it (tables, indexes, defences).

Frozen: this file never changes, whatever the models become; a later schema is a later revision
that only adds (docs/migrations.md). Integers are 64-bit on PostgreSQL (masses in µg pass 2**31)
and SQLite's INTEGER (the same 64 bits; `INTEGER PRIMARY KEY` stays the rowid) on SQLite.
The append-only triggers are each engine's own: SQLite's as `init` has always created them,
and PostgreSQL's defences (the next link required, UPDATE/DELETE/TRUNCATE refused).

Revision ID: 0001_baseline
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_baseline"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SQLITE_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS ledger_event_no_update BEFORE UPDATE ON ledger_event
       BEGIN SELECT RAISE(ABORT, 'ledger events are append-only: record a correction'); END""",
    """CREATE TRIGGER IF NOT EXISTS ledger_event_no_delete BEFORE DELETE ON ledger_event
       BEGIN SELECT RAISE(ABORT, 'ledger events are append-only: record a correction'); END""",
    """CREATE TRIGGER IF NOT EXISTS ledger_meta_no_update BEFORE UPDATE ON ledger_meta
       BEGIN SELECT RAISE(ABORT, 'ledger metadata is written once'); END""",
    """CREATE TRIGGER IF NOT EXISTS ledger_meta_no_delete BEFORE DELETE ON ledger_meta
       BEGIN SELECT RAISE(ABORT, 'ledger metadata is written once'); END""",
)

POSTGRES_DEFENCES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS ledger_event_prev_hash_key ON ledger_event (prev_hash)",
    """CREATE OR REPLACE FUNCTION ledger_event_next() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        last_seq bigint;
        last_hash text;
    BEGIN
        SELECT seq, hash INTO last_seq, last_hash FROM ledger_event ORDER BY seq DESC LIMIT 1;
        IF last_seq IS NULL THEN
            last_seq := 0;
            SELECT encode(sha256(convert_to('sampleloans-genesis-v1:' || value, 'UTF8')), 'hex')
              INTO last_hash FROM ledger_meta WHERE key = 'ledger_id';
        END IF;
        IF NEW.seq IS DISTINCT FROM last_seq + 1 THEN
            RAISE EXCEPTION 'ledger events are appended in order: seq % expected, % given',
                last_seq + 1, NEW.seq USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF NEW.prev_hash IS DISTINCT FROM last_hash THEN
            RAISE EXCEPTION 'event % does not link to the previous hash', NEW.seq
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
    END $$""",
    "CREATE OR REPLACE TRIGGER ledger_event_next BEFORE INSERT ON ledger_event "
    "FOR EACH ROW EXECUTE FUNCTION ledger_event_next()",
    *(
        f"CREATE OR REPLACE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"FOR EACH {level} EXECUTE FUNCTION ledger_refuse_change('{message}')"
        for table, message in (
            ("ledger_event", "ledger events are append-only: record a correction"),
            ("ledger_meta", "ledger metadata is written once"),
        )
        for verb, level in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT"))
    ),
)


def upgrade() -> None:
    """Create every table, index and append-only defence of release 0.1."""
    op.create_table(
        "institution",
        sa.Column("short_name", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("country", sa.String(), nullable=False),
        sa.Column("city", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('lender', 'curator', 'borrower', 'recipient')", name="institution_kind"
        ),
        sa.PrimaryKeyConstraint("short_name"),
    )
    op.create_index(op.f("ix_institution_kind"), "institution", ["kind"], unique=False)

    op.create_table(
        "ledger_event",
        sa.Column("seq", BIGINT, autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("payload", sa.String(), nullable=False),
        sa.Column("occurred_at", sa.String(), nullable=False),
        sa.Column("recorded_at", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("os_user", sa.String(), nullable=False),
        sa.Column("corrects_seq", BIGINT, nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("prev_hash", sa.String(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.CheckConstraint("length(hash) = 64", name="hash_is_sha256"),
        sa.CheckConstraint("seq >= 1", name="seq_positive"),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("hash"),
    )
    op.create_index(op.f("ix_ledger_event_kind"), "ledger_event", ["kind"], unique=False)

    op.create_table(
        "ledger_meta",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "mission",
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("returned_at", sa.String(), nullable=True),
        sa.Column("returned_mass_ug", BIGINT, nullable=True),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "agreement",
        sa.Column("number", sa.String(), nullable=False),
        sa.Column("institution", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("signed_at", sa.String(), nullable=True),
        sa.Column("signed_by", sa.String(), nullable=True),
        sa.Column("term", sa.String(), nullable=False),
        sa.Column("expires_at", sa.String(), nullable=True),
        sa.Column("ended_at", sa.String(), nullable=True),
        sa.Column("end_reason", sa.String(), nullable=True),
        sa.Column("max_total_mass_ug", BIGINT, nullable=False),
        sa.Column("allowed_purposes", sa.String(), nullable=False),
        sa.Column("destructive_use_allowed", sa.Boolean(), nullable=False),
        sa.Column("onward_transfer_allowed", sa.Boolean(), nullable=False),
        sa.Column("max_loan_period", sa.String(), nullable=False),
        sa.Column("max_extensions", BIGINT, nullable=False),
        sa.Column("max_extension_period", sa.String(), nullable=False),
        sa.Column("inventory_interval", sa.String(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'signed', 'expired', 'terminated')", name="agreement_status"
        ),
        sa.CheckConstraint("max_extensions >= 0", name="agreement_max_extensions"),
        sa.CheckConstraint("max_total_mass_ug > 0", name="agreement_max_mass_positive"),
        sa.ForeignKeyConstraint(
            ["institution"],
            ["institution.short_name"],
        ),
        sa.PrimaryKeyConstraint("number"),
    )
    op.create_index(op.f("ix_agreement_institution"), "agreement", ["institution"], unique=False)

    op.create_table(
        "event_subject",
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("subject_type", sa.String(), nullable=False),
        sa.Column("subject_key", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["seq"],
            ["ledger_event.seq"],
        ),
        sa.PrimaryKeyConstraint("seq", "subject_type", "subject_key"),
    )
    op.create_index(
        "ix_event_subject_lookup",
        "event_subject",
        ["subject_type", "subject_key", "seq"],
        unique=False,
    )

    op.create_table(
        "note",
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("corrects_seq", BIGINT, nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["corrects_seq"],
            ["ledger_event.seq"],
        ),
        sa.ForeignKeyConstraint(
            ["seq"],
            ["ledger_event.seq"],
        ),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(op.f("ix_note_corrects_seq"), "note", ["corrects_seq"], unique=False)

    op.create_table(
        "person",
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("institution", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.CheckConstraint(
            "role IN ('curator', 'compliance_officer', 'researcher')", name="person_role"
        ),
        sa.ForeignKeyConstraint(
            ["institution"],
            ["institution.short_name"],
        ),
        sa.PrimaryKeyConstraint("email"),
    )
    op.create_index(op.f("ix_person_institution"), "person", ["institution"], unique=False)

    op.create_table(
        "sample",
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("mission", sa.String(), nullable=False),
        sa.Column("parent_code", sa.String(), nullable=True),
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("depth_top_mm", BIGINT, nullable=True),
        sa.Column("depth_bottom_mm", BIGINT, nullable=True),
        sa.Column("material_type", sa.String(), nullable=False),
        sa.Column("physical_form", sa.String(), nullable=False),
        sa.Column("purpose_class", sa.String(), nullable=False),
        sa.Column("storage_location", sa.String(), nullable=False),
        sa.Column("condition", sa.String(), nullable=False),
        sa.Column("record", sa.String(), nullable=False),
        sa.Column("initial_mass_ug", BIGINT, nullable=False),
        sa.Column("vault_ug", BIGINT, nullable=False),
        sa.Column("on_loan_ug", BIGINT, nullable=False),
        sa.Column("split_ug", BIGINT, nullable=False),
        sa.Column("consumed_ug", BIGINT, nullable=False),
        sa.Column("lost_ug", BIGINT, nullable=False),
        sa.Column("transferred_ug", BIGINT, nullable=False),
        sa.Column("custodian", sa.String(), nullable=False),
        sa.Column("custody_state", sa.String(), nullable=False),
        sa.Column("loan_number", sa.String(), nullable=True),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("registered_at", sa.String(), nullable=False),
        sa.Column("last_event_at", sa.String(), nullable=False),
        sa.CheckConstraint("origin IN ('scoop', 'drill')", name="sample_origin"),
        sa.CheckConstraint(
            "purpose_class IN ('permanent', 'backup', 'research', 'public_welfare')",
            name="sample_purpose_class",
        ),
        sa.CheckConstraint("initial_mass_ug > 0", name="sample_initial_positive"),
        sa.CheckConstraint(
            "vault_ug >= 0 AND on_loan_ug >= 0 AND split_ug >= 0 AND consumed_ug >= 0 AND lost_ug >= 0 AND transferred_ug >= 0",  # noqa: E501
            name="sample_masses_non_negative",
        ),
        sa.ForeignKeyConstraint(
            ["custodian"],
            ["institution.short_name"],
        ),
        sa.ForeignKeyConstraint(
            ["mission"],
            ["mission.code"],
        ),
        sa.ForeignKeyConstraint(
            ["parent_code"],
            ["sample.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index(op.f("ix_sample_custodian"), "sample", ["custodian"], unique=False)
    op.create_index(op.f("ix_sample_loan_number"), "sample", ["loan_number"], unique=False)
    op.create_index(op.f("ix_sample_mission"), "sample", ["mission"], unique=False)
    op.create_index(op.f("ix_sample_parent_code"), "sample", ["parent_code"], unique=False)

    op.create_table(
        "incident",
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("sample_code", sa.String(), nullable=False),
        sa.Column("loan_number", sa.String(), nullable=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("mass_lost_ug", BIGINT, nullable=False),
        sa.Column("reported_at", sa.String(), nullable=False),
        sa.Column("reported_by", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("resolved_at", sa.String(), nullable=True),
        sa.Column("resolution", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["sample_code"],
            ["sample.code"],
        ),
        sa.ForeignKeyConstraint(
            ["seq"],
            ["ledger_event.seq"],
        ),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(op.f("ix_incident_loan_number"), "incident", ["loan_number"], unique=False)
    op.create_index(op.f("ix_incident_sample_code"), "incident", ["sample_code"], unique=False)

    op.create_table(
        "loan",
        sa.Column("number", sa.String(), nullable=False),
        sa.Column("agreement", sa.String(), nullable=False),
        sa.Column("institution", sa.String(), nullable=False),
        sa.Column("pi_email", sa.String(), nullable=False),
        sa.Column("curator", sa.String(), nullable=True),
        sa.Column("purpose_class", sa.String(), nullable=False),
        sa.Column("transfer_type", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("loan_period", sa.String(), nullable=False),
        sa.Column("requested_at", sa.String(), nullable=False),
        sa.Column("approved_at", sa.String(), nullable=True),
        sa.Column("approved_by", sa.String(), nullable=True),
        sa.Column("issued_at", sa.String(), nullable=True),
        sa.Column("due_at", sa.String(), nullable=True),
        sa.Column("extensions_granted", BIGINT, nullable=False),
        sa.Column("recalled_at", sa.String(), nullable=True),
        sa.Column("next_inventory_due_at", sa.String(), nullable=True),
        sa.Column("last_inventory_at", sa.String(), nullable=True),
        sa.Column("settled_at", sa.String(), nullable=True),
        sa.Column("obligations", sa.String(), nullable=True),
        sa.Column("closed_at", sa.String(), nullable=True),
        sa.Column("last_event_at", sa.String(), nullable=False),
        sa.Column("last_loan_wide_event_at", sa.String(), nullable=False),
        sa.CheckConstraint(
            "status IN ('requested', 'approved', 'issued', 'in_transit', 'received', 'return_in_transit', 'returned', 'settled', 'closed')",  # noqa: E501
            name="loan_status",
        ),
        sa.CheckConstraint("transfer_type IN ('loan', 'gift', 'exhibition')", name="transfer_type"),
        sa.ForeignKeyConstraint(
            ["agreement"],
            ["agreement.number"],
        ),
        sa.ForeignKeyConstraint(
            ["curator"],
            ["institution.short_name"],
        ),
        sa.ForeignKeyConstraint(
            ["institution"],
            ["institution.short_name"],
        ),
        sa.ForeignKeyConstraint(
            ["pi_email"],
            ["person.email"],
        ),
        sa.PrimaryKeyConstraint("number"),
    )
    op.create_index(op.f("ix_loan_agreement"), "loan", ["agreement"], unique=False)
    op.create_index(op.f("ix_loan_due_at"), "loan", ["due_at"], unique=False)
    op.create_index(op.f("ix_loan_institution"), "loan", ["institution"], unique=False)
    op.create_index(
        op.f("ix_loan_next_inventory_due_at"), "loan", ["next_inventory_due_at"], unique=False
    )
    op.create_index(op.f("ix_loan_pi_email"), "loan", ["pi_email"], unique=False)
    op.create_index(op.f("ix_loan_status"), "loan", ["status"], unique=False)

    op.create_table(
        "consumption",
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("loan_number", sa.String(), nullable=False),
        sa.Column("sample_code", sa.String(), nullable=False),
        sa.Column("technique", sa.String(), nullable=False),
        sa.Column("destructive", sa.Boolean(), nullable=False),
        sa.Column("mass_ug", BIGINT, nullable=False),
        sa.Column("occurred_at", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_number"],
            ["loan.number"],
        ),
        sa.ForeignKeyConstraint(
            ["sample_code"],
            ["sample.code"],
        ),
        sa.ForeignKeyConstraint(
            ["seq"],
            ["ledger_event.seq"],
        ),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(
        op.f("ix_consumption_loan_number"), "consumption", ["loan_number"], unique=False
    )
    op.create_index(
        op.f("ix_consumption_sample_code"), "consumption", ["sample_code"], unique=False
    )

    op.create_table(
        "extension",
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("loan_number", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("approver", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("new_due_at", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_number"],
            ["loan.number"],
        ),
        sa.ForeignKeyConstraint(
            ["seq"],
            ["ledger_event.seq"],
        ),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(op.f("ix_extension_loan_number"), "extension", ["loan_number"], unique=False)

    op.create_table(
        "inventory",
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("loan_number", sa.String(), nullable=False),
        sa.Column("attested_by", sa.String(), nullable=False),
        sa.Column("attested_at", sa.String(), nullable=False),
        sa.Column("held_ug", BIGINT, nullable=False),
        sa.Column("note", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["loan_number"],
            ["loan.number"],
        ),
        sa.ForeignKeyConstraint(
            ["seq"],
            ["ledger_event.seq"],
        ),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(op.f("ix_inventory_loan_number"), "inventory", ["loan_number"], unique=False)

    op.create_table(
        "loan_item",
        sa.Column("loan_number", sa.String(), nullable=False),
        sa.Column("sample_code", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("issued_ug", BIGINT, nullable=False),
        sa.Column("held_ug", BIGINT, nullable=False),
        sa.Column("consumed_ug", BIGINT, nullable=False),
        sa.Column("returned_ug", BIGINT, nullable=False),
        sa.Column("transferred_ug", BIGINT, nullable=False),
        sa.Column("split_ug", BIGINT, nullable=False),
        sa.Column("lost_ug", BIGINT, nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.CheckConstraint(
            "issued_ug >= 0 AND held_ug >= 0 AND consumed_ug >= 0 AND returned_ug >= 0 AND transferred_ug >= 0 AND split_ug >= 0 AND lost_ug >= 0",  # noqa: E501
            name="loan_item_masses_non_negative",
        ),
        sa.ForeignKeyConstraint(
            ["loan_number"],
            ["loan.number"],
        ),
        sa.ForeignKeyConstraint(
            ["sample_code"],
            ["sample.code"],
        ),
        sa.PrimaryKeyConstraint("loan_number", "sample_code"),
    )
    op.create_index(op.f("ix_loan_item_sample_code"), "loan_item", ["sample_code"], unique=False)

    op.create_table(
        "shipment",
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("loan_number", sa.String(), nullable=False),
        sa.Column("direction", sa.String(), nullable=False),
        sa.Column("container", sa.String(), nullable=False),
        sa.Column("seal_number", sa.String(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("sender", sa.String(), nullable=False),
        sa.Column("receiver", sa.String(), nullable=False),
        sa.Column("released_by", sa.String(), nullable=False),
        sa.Column("shipped_at", sa.String(), nullable=False),
        sa.Column("received_at", sa.String(), nullable=True),
        sa.Column("received_by", sa.String(), nullable=True),
        sa.Column("seal_intact", sa.Boolean(), nullable=True),
        sa.Column("condition_on_receipt", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["loan_number"],
            ["loan.number"],
        ),
        sa.ForeignKeyConstraint(
            ["receiver"],
            ["institution.short_name"],
        ),
        sa.ForeignKeyConstraint(
            ["sender"],
            ["institution.short_name"],
        ),
        sa.ForeignKeyConstraint(
            ["seq"],
            ["ledger_event.seq"],
        ),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(op.f("ix_shipment_loan_number"), "shipment", ["loan_number"], unique=False)

    op.create_table(
        "weighing",
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("sample_code", sa.String(), nullable=False),
        sa.Column("loan_number", sa.String(), nullable=False),
        sa.Column("expected_ug", BIGINT, nullable=False),
        sa.Column("weighed_ug", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_number"],
            ["loan.number"],
        ),
        sa.ForeignKeyConstraint(
            ["sample_code"],
            ["sample.code"],
        ),
        sa.ForeignKeyConstraint(
            ["seq"],
            ["ledger_event.seq"],
        ),
        sa.PrimaryKeyConstraint("seq", "sample_code"),
    )
    op.create_index(op.f("ix_weighing_loan_number"), "weighing", ["loan_number"], unique=False)
    defences = SQLITE_TRIGGERS if op.get_context().dialect.name == "sqlite" else POSTGRES_DEFENCES
    for statement in defences:
        op.execute(sa.text(statement))


def downgrade() -> None:
    """Never: below the baseline there is no ledger, and a ledger's events are never dropped."""
    raise NotImplementedError("the baseline is never downgraded: a ledger is never dropped")
