"""SQLModel tables: the append-only ledger and the projections that the ledger's events build.

Every table except `ledger_event` and `ledger_meta` is a *projection*: it is written only by
`ledger.apply`, in the same transaction as the event that caused the change, and a replay of
the ledger into an empty schema must rebuild it exactly (`sampleloans verify` checks that).

Masses are integer micrograms (`*_ug`), times are timezone-aware UTC, stored as ISO 8601
text ending in `Z` so that the stored value is exactly what the hash chain covers.
"""

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    String,
    TypeDecorator,
    case,
    event,
    func,
    inspect,
    literal,
    text,
    true,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Field, SQLModel
from sqlmodel.main import SQLModelConfig

from sampleloans.errors import EditedTable
from sampleloans.text import one_line
from sampleloans.vocab import (
    AgreementStatus,
    CustodyState,
    IncidentStatus,
    InstitutionKind,
    ItemSource,
    ItemState,
    LoanStatus,
    Origin,
    PurposeClass,
    RecordSource,
    Role,
    TransferType,
    sql_in,
)


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime stored as ISO 8601 text (`2025-04-24T10:00:00Z`)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> str | None:
        """Store aware datetimes as UTC text; naive ones are a programming error."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; every time inside is aware UTC")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def bind_processor(self, dialect: Any) -> Any:
        """`process_bind_param` through a cache when the text goes to the driver as it is: a
        replay or an import writes the same event time into several rows and columns."""
        if self.impl_instance.bind_processor(dialect) is not None:
            return super().bind_processor(dialect)
        return _text_of_time

    def process_result_value(self, value: str | None, dialect: Any) -> datetime | None:
        """Read stored text back as an aware UTC datetime."""
        return _time_from_text(value)  # Python 3.11 reads the 'Z' as UTC

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        """`process_result_value` itself when the column's text comes back as it is (no
        processor of its own): one call per value instead of two, for lists of many rows."""
        if self.impl_instance.result_processor(dialect, coltype) is not None:
            return super().result_processor(dialect, coltype)
        return _time_from_text


@lru_cache(maxsize=4096)
def _text_of_time(value: datetime | None) -> str | None:
    """`UTCDateTime.process_bind_param`, cached (equal instants have the same text; a naive
    datetime raises, and is never cached)."""
    return UTCDateTime.process_bind_param(_UTC_TEXT, value, None)


def utc_text(value: datetime) -> str:
    """The text an aware time is stored as in a projection column (`UTCDateTime`)."""
    text = _text_of_time(value)
    assert text is not None
    return text


# A stored time is 'YYYY-MM-DDTHH:MM:SSZ', or with '.ffffff' when not whole (`dates.to_iso`):
# its text order is time order between seconds but not inside one ('…:00Z' sorts after
# '…:00.4Z'), so SQL that compares or orders stored times pads both sides to one width.
def time_order_key(stored: Any) -> ColumnElement[Any]:
    """A stored time column padded to six decimals, so that its text order is its time order."""
    stored = type_coerce(stored, String)  # compared with text, not bound as a datetime
    whole = func.substr(stored, 1, 19).concat(literal(".000000Z"))
    return case((func.length(stored) == 20, whole), else_=stored)


class byte_order(FunctionElement[str]):
    """SQL: a text column sorted and compared by its characters' code points, on every engine.

    SQLite compares text by its bytes (UTF-8: code point order) whatever the machine; PostgreSQL
    by the database's collation, which its DBA chose (often `en_US.UTF-8`: `Osaka` before `OU`,
    a `-` ignored) and whose `lower()` follows its language (Turkish: `lower('I')` is `ı`). So
    every listing's order and every case-insensitive lookup of a code goes through this, which
    PostgreSQL reads as `COLLATE "C"`: the same order and the same `lower()` as SQLite."""

    type = String()
    name = "byte_order"
    inherit_cache = True


@compiles(byte_order)
def _byte_order_as_is(element: byte_order, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite (and any engine but PostgreSQL): the column itself, already in byte order."""
    return str(compiler.process(element.clauses, **kw))


@compiles(byte_order, "postgresql")
def _byte_order_postgresql(element: byte_order, compiler: SQLCompiler, **kw: Any) -> str:
    """PostgreSQL: the column in the "C" collation (code point order, ASCII-only case), unless
    the database's own is that already (`db.needs_collate_c`: then its indexes answer)."""
    column = compiler.process(element.clauses, **kw)
    # the flag `db` sets when it first connects; read here, as models may not import db
    return f'{column} COLLATE "C"' if getattr(compiler.dialect, "collate_c", False) else column


def byte_lower(column: Any) -> ColumnElement[str]:
    """SQL: `lower()` of a text column as SQLite makes it on every engine (ASCII letters only:
    never the database language's, such as Turkish `I` to `ı`)."""
    return func.lower(byte_order(column))


BYTE_ORDER_INDEXES: set[str] = set()
"""The names of the indexes `byte_order_index` makes: on PostgreSQL only."""


def byte_order_index(name: str, expression: str) -> Index:
    """A PostgreSQL index on `expression` in the "C" collation: on a database whose own
    collation is not byte order, the SQL `byte_order` and `byte_lower` make is answered by it,
    not by the key and `lower(…)` indexes, made in the database's collation (revision 0017).
    SQLite compares text by its bytes already: there the plain indexes answer."""
    BYTE_ORDER_INDEXES.add(name)
    return Index(name, text(expression)).ddl_if(dialect="postgresql")


def made_on(index: Index, dialect: str) -> bool:
    """Whether the schema has this model index on an engine (`dialect`: its name)."""
    return dialect == "postgresql" or index.name not in BYTE_ORDER_INDEXES


def latest_time(stored: Any) -> ColumnElement[Any]:
    """SQL: the latest value of a stored time column (`max` in time order, not text order),
    read back as a time."""
    return type_coerce(func.max(time_order_key(stored)), UTCDateTime())


def stored_time_order(stored: str) -> str:
    """A stored time's text padded as `time_order_key` pads it in SQL (its text order is its
    time order; text that is no stored time is left as it is)."""
    return stored[:19] + ".000000Z" if len(stored) == 20 else stored


def time_order_text(moment: datetime) -> str:
    """An aware moment spelt as `time_order_key` spells a stored time (UTC, six decimals)."""
    return stored_time_order(utc_text(moment))


def _time_from_text(value: str | None) -> datetime | None:
    """`UTCDateTime.process_result_value`, as a plain function; a stored value that is no
    ISO 8601 time (SQLite keeps any text, or a number, in any column) was edited by hand."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise EditedTable(
            f"a stored time holds {one_line(repr(value))[:60]}, which is no ISO 8601 time: {EDITED}"
        ) from None
    # one written by hand without its 'Z' is read as the UTC every stored time is (as the
    # guard reads the head's, `ledger.guard.head_recorded_at`), never compared naive with aware
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_UTC_TEXT = UTCDateTime()


def _utc(**kwargs: Any) -> Any:
    """A Field holding an aware UTC datetime."""
    return Field(sa_type=UTCDateTime, **kwargs)


EDITED = (
    "the ledger's tables were edited outside sampleloans; nothing was written; run "
    "'sampleloans verify' and restore the latest verified backup"
)
"""The end of the line a read or write says at a table cell no release writes."""


class TableModel(SQLModel):
    """Base of every table: pydantic builds a validator only if one is ever used.

    Table models are constructed without validation and nothing here validates or dumps
    them, so building 17 pydantic schemas at import would only slow every command's start.
    """

    model_config = SQLModelConfig(defer_build=True)


# --- the ledger -------------------------------------------------------------------------------


class LedgerMeta(TableModel, table=True):
    """Facts about the ledger itself, written once at creation (e.g. its genesis value)."""

    __tablename__ = "ledger_meta"

    key: str = Field(primary_key=True)
    value: str


class LedgerEvent(TableModel, table=True):
    """One hash-chained, append-only event; `seq` is gapless and increasing from 1."""

    __tablename__ = "ledger_event"
    __table_args__ = (
        CheckConstraint("seq >= 1", name="seq_positive"),
        CheckConstraint("length(hash) = 64", name="hash_is_sha256"),
        # "the ledger as it stood at T" finds its last event through this (`ledger/replay.py`)
        Index("ix_ledger_event_occurred", "occurred_at"),
    )

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    kind: str = Field(index=True)
    payload: str  # canonical JSON of the event's data
    occurred_at: str  # ISO text exactly as hashed
    recorded_at: str
    actor: str  # the declared acting person (email)
    os_user: str  # the operating-system account that ran the command
    corrects_seq: int | None = Field(default=None)
    reason: str | None = Field(default=None)
    prev_hash: str
    hash: str = Field(unique=True)


class EventSubject(TableModel, table=True):
    """Which records an event concerns, so one record's history is an index lookup."""

    __tablename__ = "event_subject"
    __table_args__ = (Index("ix_event_subject_lookup", "subject_type", "subject_key", "seq"),)

    seq: int = Field(primary_key=True, foreign_key="ledger_event.seq")
    subject_type: str = Field(primary_key=True)  # sample | loan | institution | agreement | person
    subject_key: str = Field(primary_key=True)


# --- reference records --------------------------------------------------------------------------


class Mission(TableModel, table=True):
    """A sample-return mission (CE-5, CE-6)."""

    code: str = Field(primary_key=True)
    name: str
    returned_at: datetime | None = _utc(default=None)
    returned_mass_ug: int | None = None


class Institution(TableModel, table=True):
    """A lender, curator, borrowing institution, or the recipient of a permanent transfer."""

    short_name: str = Field(primary_key=True)
    name: str
    country: str
    city: str
    kind: str = Field(index=True)  # lender | curator | borrower | recipient

    __table_args__ = (
        CheckConstraint(sql_in("kind", InstitutionKind), name="institution_kind"),
        # "a short name differing only in case?" is one lookup (`services/common.refuse_case_twin`)
        Index("ix_institution_short_name_lower", func.lower(text("short_name"))),
        byte_order_index("ix_institution_short_name_lower_c", 'lower(short_name COLLATE "C")'),
    )


class Person(TableModel, table=True):
    """A registered person who can act: curator, compliance officer or researcher.

    A deactivated person (`active` false) stays, with their history, but may no longer act.
    """

    email: str = Field(primary_key=True)
    name: str
    institution: str = Field(foreign_key="institution.short_name", index=True)
    role: str
    # a default in the schema too: a row written without it (raw SQL, an older writer) is active
    active: bool = Field(default=True, sa_column_kwargs={"server_default": true()})

    __table_args__ = (CheckConstraint(sql_in("role", Role), name="person_role"),)


class Agreement(TableModel, table=True):
    """A loan agreement with one institution; its terms are data that the rules read."""

    number: str = Field(primary_key=True)
    institution: str = Field(foreign_key="institution.short_name", index=True)
    status: str = AgreementStatus.PENDING.value
    created_at: datetime = _utc()
    signed_at: datetime | None = _utc(default=None)
    signed_by: str | None = None
    term: str  # ISO period the agreement stays in force after signing, e.g. P5Y
    expires_at: datetime | None = _utc(default=None)
    ended_at: datetime | None = _utc(default=None)
    end_reason: str | None = None
    # terms
    max_total_mass_ug: int
    allowed_purposes: str  # comma-separated purpose classes, sorted
    destructive_use_allowed: bool = False
    onward_transfer_allowed: bool = False
    max_loan_period: str  # ISO period, e.g. P1Y
    max_extensions: int = 0
    max_extension_period: str = "P6M"
    inventory_interval: str = "P1Y"

    __table_args__ = (
        CheckConstraint(sql_in("status", AgreementStatus), name="agreement_status"),
        CheckConstraint("max_total_mass_ug > 0", name="agreement_max_mass_positive"),
        CheckConstraint("max_extensions >= 0", name="agreement_max_extensions"),
        # "a number differing only in case?" is one lookup (`services/common.refuse_case_twin`)
        Index("ix_agreement_number_lower", func.lower(text("number"))),
        byte_order_index("ix_agreement_number_lower_c", 'lower(number COLLATE "C")'),
    )


# --- samples ------------------------------------------------------------------------------------


class Sample(TableModel, table=True):
    """A sample or split; mass columns always satisfy the lineage conservation equation.

    initial_mass_ug = vault_ug + on_loan_ug + split_ug + consumed_ug + lost_ug + transferred_ug

    `transferred_ug` left the collection for good (a gift: `sample.transferred`).
    """

    code: str = Field(primary_key=True)
    mission: str = Field(foreign_key="mission.code", index=True)
    parent_code: str | None = Field(default=None, foreign_key="sample.code", index=True)
    origin: str  # scoop | drill
    depth_top_mm: int | None = None
    depth_bottom_mm: int | None = None
    material_type: str
    physical_form: str
    purpose_class: str  # permanent | backup | research | public_welfare
    storage_location: str
    condition: str
    record: str = RecordSource.ILLUSTRATIVE.value  # where the record comes from
    initial_mass_ug: int
    vault_ug: int = 0
    on_loan_ug: int = 0
    split_ug: int = 0
    consumed_ug: int = 0
    lost_ug: int = 0
    transferred_ug: int = 0
    custodian: str = Field(foreign_key="institution.short_name", index=True)
    custody_state: str = CustodyState.VAULT.value  # a `CustodyState`
    loan_number: str | None = Field(default=None, index=True)
    frozen: bool = False
    registered_at: datetime = _utc()
    last_event_at: datetime = _utc()

    __table_args__ = (
        CheckConstraint("initial_mass_ug > 0", name="sample_initial_positive"),
        CheckConstraint(
            "vault_ug >= 0 AND on_loan_ug >= 0 AND split_ug >= 0 AND consumed_ug >= 0"
            " AND lost_ug >= 0 AND transferred_ug >= 0",
            name="sample_masses_non_negative",
        ),
        CheckConstraint(sql_in("origin", Origin), name="sample_origin"),
        CheckConstraint(sql_in("purpose_class", PurposeClass), name="sample_purpose_class"),
        # `samples list` pages in byte order (`byte_order`): its first page from the index
        byte_order_index("ix_sample_code_c", 'code COLLATE "C"'),
    )


# --- loans --------------------------------------------------------------------------------------


class Loan(TableModel, table=True):
    """A loan of samples under one agreement to one principal investigator."""

    number: str = Field(primary_key=True)
    agreement: str = Field(foreign_key="agreement.number", index=True)
    institution: str = Field(foreign_key="institution.short_name", index=True)
    pi_email: str = Field(foreign_key="person.email", index=True)
    curator: str | None = Field(default=None, foreign_key="institution.short_name")
    purpose_class: str
    transfer_type: str = TransferType.LOAN.value
    status: str = Field(default=LoanStatus.REQUESTED.value, index=True)
    loan_period: str  # ISO period asked for
    requested_at: datetime = _utc()
    approved_at: datetime | None = _utc(default=None)
    approved_by: str | None = None
    issued_at: datetime | None = _utc(default=None)
    due_at: datetime | None = _utc(default=None, index=True)  # derived: issue + period + ext
    extensions_granted: int = 0
    recalled_at: datetime | None = _utc(default=None)
    next_inventory_due_at: datetime | None = _utc(default=None, index=True)
    last_inventory_at: datetime | None = _utc(default=None)
    settled_at: datetime | None = _utc(default=None)
    obligations: str | None = None
    closed_at: datetime | None = _utc(default=None)
    last_event_at: datetime = _utc()  # the latest event of any kind about the loan
    # the latest event about the loan as a whole: its samples' own events may not precede it
    last_loan_wide_event_at: datetime = _utc()

    __table_args__ = (
        CheckConstraint(sql_in("transfer_type", TransferType), name="transfer_type"),
        CheckConstraint(sql_in("status", LoanStatus), name="loan_status"),
        # "a number differing only in case?" is one lookup (`services/common.refuse_case_twin`)
        Index("ix_loan_number_lower", func.lower(text("number"))),
        byte_order_index("ix_loan_number_lower_c", 'lower(number COLLATE "C")'),
        # `loans list` pages in byte order (`byte_order`): its first page from the index
        byte_order_index("ix_loan_number_c", 'number COLLATE "C"'),
    )


class LoanItem(TableModel, table=True):
    """One sample within a loan, with its own mass balance.

    issued_ug = held_ug + consumed_ug + returned_ug + transferred_ug + split_ug + lost_ug
    """

    __tablename__ = "loan_item"

    loan_number: str = Field(primary_key=True, foreign_key="loan.number")
    sample_code: str = Field(primary_key=True, foreign_key="sample.code", index=True)
    source: str = ItemSource.ISSUED.value  # an `ItemSource`
    issued_ug: int = 0
    held_ug: int = 0
    consumed_ug: int = 0
    returned_ug: int = 0
    transferred_ug: int = 0
    split_ug: int = 0
    lost_ug: int = 0
    state: str = ItemState.REQUESTED.value  # an `ItemState`

    __table_args__ = (
        CheckConstraint(
            "issued_ug >= 0 AND held_ug >= 0 AND consumed_ug >= 0 AND returned_ug >= 0"
            " AND transferred_ug >= 0 AND split_ug >= 0 AND lost_ug >= 0",
            name="loan_item_masses_non_negative",
        ),
    )


class Shipment(TableModel, table=True):
    """A hand-over in a sealed container: outbound to the borrower or the return trip."""

    seq: int = Field(primary_key=True, foreign_key="ledger_event.seq")
    loan_number: str = Field(foreign_key="loan.number", index=True)
    direction: str  # outbound | return
    container: str
    seal_number: str
    method: str
    sender: str = Field(foreign_key="institution.short_name")
    receiver: str = Field(foreign_key="institution.short_name")
    released_by: str
    shipped_at: datetime = _utc()
    received_at: datetime | None = _utc(default=None)
    received_by: str | None = None
    seal_intact: bool | None = None
    condition_on_receipt: str | None = None


class Weighing(TableModel, table=True):
    """A mass weighed at a hand-over, beside the mass the ledger expected."""

    seq: int = Field(primary_key=True, foreign_key="ledger_event.seq")
    sample_code: str = Field(primary_key=True, foreign_key="sample.code")
    loan_number: str = Field(foreign_key="loan.number", index=True)
    expected_ug: int
    weighed_ug: int


class Consumption(TableModel, table=True):
    """Mass consumed by one analysis of one loaned sample."""

    seq: int = Field(primary_key=True, foreign_key="ledger_event.seq")
    loan_number: str = Field(foreign_key="loan.number", index=True)
    sample_code: str = Field(foreign_key="sample.code", index=True)
    technique: str
    destructive: bool
    mass_ug: int
    occurred_at: datetime = _utc()


class Extension(TableModel, table=True):
    """A granted extension of a loan's due date."""

    seq: int = Field(primary_key=True, foreign_key="ledger_event.seq")
    loan_number: str = Field(foreign_key="loan.number", index=True)
    period: str
    approver: str
    reason: str
    new_due_at: datetime = _utc()


class Inventory(TableModel, table=True):
    """An annual inventory attestation of what a loan's PI holds."""

    seq: int = Field(primary_key=True, foreign_key="ledger_event.seq")
    loan_number: str = Field(foreign_key="loan.number", index=True)
    attested_by: str
    attested_at: datetime = _utc()
    held_ug: int
    note: str | None = None


class Incident(TableModel, table=True):
    """A loss, theft or damage report; it freezes the sample until resolved, and stays."""

    seq: int = Field(primary_key=True, foreign_key="ledger_event.seq")
    sample_code: str = Field(foreign_key="sample.code", index=True)
    loan_number: str | None = Field(default=None, index=True)
    kind: str  # loss | theft | damage
    description: str
    mass_lost_ug: int = 0
    reported_at: datetime = _utc()
    reported_by: str
    status: str = IncidentStatus.OPEN.value
    resolved_at: datetime | None = _utc(default=None)
    resolution: str | None = None


class Note(TableModel, table=True):
    """A correction or remark that references an earlier event; nothing is edited."""

    seq: int = Field(primary_key=True, foreign_key="ledger_event.seq")
    corrects_seq: int = Field(foreign_key="ledger_event.seq", index=True)
    text: str


PROJECTION_TABLES: tuple[type[SQLModel], ...] = (
    EventSubject,
    Mission,
    Institution,
    Person,
    Agreement,
    Sample,
    Loan,
    LoanItem,
    Shipment,
    Weighing,
    Consumption,
    Extension,
    Inventory,
    Incident,
    Note,
)
"""Tables rebuilt by replaying the ledger; verify compares each of them row by row."""


# --- operational records (not events, not projections) -----------------------------------------


class NotificationSent(TableModel, table=True):
    """One e-mail `notify` delivered: a statement or an overdue notice to one recipient, for
    one checkpoint. Not a custody event (an e-mail changes no custody), so it is kept beside
    the ledger, never in the hash chain; it only keeps a message from being sent twice."""

    __tablename__ = "notification_sent"
    __table_args__ = (
        Index("ux_notification_once", "recipient", "kind", "scope", "checkpoint", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    recipient: str  # e-mail address
    kind: str  # statement | overdue
    scope: str  # pi:EMAIL | institution:SHORT (| institution:SHORT@TIME: a notice sent again)
    checkpoint: str  # SIZE:ROOT of the checkpoint it was built on
    digest: str  # the content digest of the PDF sent
    message_id: str
    sent_at: datetime = _utc()
    sent_by: str  # the curator who ran notify
    via: str  # "smtp HOST:PORT"


class Checkpoint(TableModel, table=True):
    """One signed checkpoint the ledger kept (`sampleloans checkpoint`): a C2SP signed note
    over the first `tree_size` events and the Merkle frontier that extends it. Not an event;
    append-only like the events (triggers refuse UPDATE and DELETE)."""

    __tablename__ = "checkpoint"
    __table_args__ = (CheckConstraint("tree_size >= 0", name="checkpoint_size"),)

    id: int | None = Field(default=None, primary_key=True)
    tree_size: int
    note: str  # the signed note, as written to the checkpoint file
    public_key: str  # the verifier key (C2SP vkey) that signed it
    frontier: str  # JSON list of base64 Merkle frontier hashes
    created_at: str  # ISO text to the whole second


_WHOLE_NUMBER_COLUMNS: dict[str, tuple[str, ...]] = {}
"""Each table's integer columns, by table name (`_whole_number_columns`)."""


def _whole_number_columns(target: Any) -> tuple[str, ...]:
    """The integer columns of a row's table (masses, counts, sequence numbers)."""
    name = target.__tablename__
    found = _WHOLE_NUMBER_COLUMNS.get(name)
    if found is None:
        found = _WHOLE_NUMBER_COLUMNS[name] = tuple(
            column.name
            for column in target.__table__.columns
            if isinstance(column.type, Integer) and not isinstance(column.type, Boolean)
        )
    return found


@event.listens_for(TableModel, "load", propagate=True)
def _refuse_edited_numbers(target: Any, _context: Any) -> None:
    """Stop at a row whose integer column holds text, a REAL or a BLOB: SQLite keeps any value
    in any column (its CHECK `vault_ug >= 0` passes for 'abc'), and sums over such a row would
    end in a TypeError traceback. Only an edit of the file puts one there."""
    values = target.__dict__
    for name in _whole_number_columns(target):
        value = values.get(name)
        if value is not None and type(value) is not int:
            key = "/".join(str(part) for part in inspect(target).identity or ())
            raise EditedTable(
                f"{target.__tablename__} row {one_line(key)[:80]}: {name} holds "
                f"{one_line(repr(value))[:60]}, not a whole number: {EDITED}"
            )
