"""What a PostgreSQL write reads with the writers' lock, and keeps while it holds it.

Every round trip a write makes after the advisory lock's grant delays every queued writer. So a
command declares, before its transaction begins, the rows and queries it will need: the rows
it looks up by key (`read_with_the_lock`), a new code's case twin (`read_twin_with_the_lock`),
named queries (`query_with_the_lock`, e.g. a loan's neighbours: `services/loan_neighbours`) and
what its checks will read (`declare_check_scope`, `declare_loan_check_scope`). They go in the
lock's own pipeline with the acting person (`person_with_institution`, `db.read_with_lock`):
read after the grant, so they see every write committed before, and no wait of their own. A
row found is in the session as if loaded; a row not found is answered "none" without a query;
a row the write loads is kept until the transaction ends (`_keep_loaded`). On SQLite, in an
import's batch or in a transaction already begun, nothing changes: the command reads as usual.
"""

import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, event, func, literal_column, union
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select as sa_select
from sqlalchemy.orm import configure_mappers
from sqlalchemy.orm.attributes import instance_state
from sqlmodel import Session, SQLModel, col, select

from sampleloans import db
from sampleloans.errors import InvalidInput
from sampleloans.ledger.reads import WRITES, get_row, open_batch
from sampleloans.models import (
    Agreement,
    Incident,
    Institution,
    Loan,
    LoanItem,
    Person,
    Sample,
    byte_lower,
)
from sampleloans.vocab import (
    IncidentStatus,
    ItemSource,
)

T = TypeVar("T", bound=SQLModel)


KeyRead = tuple[type[SQLModel], tuple[Any, ...]]
"""A row declared to be read by key: its model and its primary key's values."""
Merged = dict[KeyRead, tuple[Table, str]]
"""Declared key reads answered by a declared case-twin lookup (`_keys_with_their_twin`)."""


@dataclass(frozen=True)
class _LockQuery:
    """A query declared to go with the writers' lock (`query_with_the_lock`)."""

    name: Hashable
    model: type[SQLModel] | None
    statement: Any
    params: dict[str, Any]
    items_of_loan: str | None = None


@dataclass
class LockReads:
    """What a session's write transaction declared to read with the writers' lock, and what
    it got back and keeps while it holds the lock (this module's docstring). Made on first
    use, dropped when the transaction ends (`db.PerTransaction`); reached by `lock_reads_of`.
    The declarations are taken by `person_with_institution`, which sends them."""

    keys: list[KeyRead] = field(default_factory=list)
    """Rows declared to be read by key (`read_with_the_lock`)."""
    twins: list[tuple[Any, str]] = field(default_factory=list)
    """Case-twin lookups declared, as (column, new code) (`read_twin_with_the_lock`)."""
    queries: list[_LockQuery] = field(default_factory=list)
    """Named queries declared (`query_with_the_lock`)."""
    scope: tuple[str, str] | None = None
    """The check scope declared, as (kind "sample" or "loan", its key) (`_declare_scope`)."""
    keep_loaded: bool = False
    """Keep every row the session loads until the transaction ends (a PostgreSQL write that
    took the writers' lock; see `_keep_loaded`)."""
    held: list[object] = field(default_factory=list)
    """The rows kept alive (the session's identity map holds rows weakly)."""
    twin_answers: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(column, code) → the case twin found with the lock, or None (`twin_answer`)."""
    answers: dict[Hashable, list[Any]] | None = None
    """The declared queries' rows by name (`answered_with_the_lock`); None once the session
    wrote rows (they may be stale) or where nothing was read with the lock."""


LOCK_READS: "db.PerTransaction[LockReads]" = db.PerTransaction(LockReads)
"""Each session's `LockReads` (peek at it where a read must not make one)."""


def lock_reads_of(session: Session) -> LockReads:
    """The session's `LockReads` for the transaction it is in (or begins next), made on first
    use."""
    return LOCK_READS.of(session)


@event.listens_for(Session, "loaded_as_persistent")
def _keep_loaded(session: Session, instance: object) -> None:
    """Hold a row a write loads for as long as its transaction: the session's identity map
    holds rows weakly, so a row the command read and let go (an item, a sample) was read
    again by the next lookup or by `apply`, each a wait for the server while the writers'
    lock is held."""
    # not in an import's batch: its unit keeps what it needs, and forgets past a bound
    known = LOCK_READS.peek(session)
    if known is not None and known.keep_loaded and open_batch(session) is None:
        known.held.append(instance)


_PERSON_WITH_INSTITUTION = (
    select(Person, Institution)
    .outerjoin(Institution, col(Institution.short_name) == col(Person.institution))
    .where(col(Person.email) == bindparam("email"))
)  # built once: building a statement costs more than running it
_PEOPLE: Table = Person.__table__  # type: ignore[attr-defined]  # SQLModel sets it
_INSTITUTIONS: Table = Institution.__table__  # type: ignore[attr-defined]  # SQLModel sets it
_PERSON_ROW = (
    sa_select(*_PEOPLE.columns, *_INSTITUTIONS.columns)
    .select_from(
        _PEOPLE.outerjoin(_INSTITUTIONS, _INSTITUTIONS.c.short_name == _PEOPLE.c.institution)
    )
    .where(_PEOPLE.c.email == bindparam("email"))
)
"""The same read through Core, as a row: what goes with the writers' lock."""


def read_with_the_lock(session: Session, model: type[SQLModel], key: Any) -> None:
    """Declare, before the command's write transaction begins, a row the command will look up
    by primary key (`session.get(model, key)`, e.g. "does this short name exist yet?").

    On PostgreSQL the read then goes in the writers' lock's own pipeline with the acting person
    (`db.read_with_lock`): read after the grant, so it sees every write committed before, and
    no round trip of its own while the lock is held. A row found is in the session as if
    loaded; a row not found is answered "none" without a query (`ledger/unit.note_absent`).
    Elsewhere (SQLite, an import's batch, a transaction already begun) nothing changes: the
    command's own lookup reads as usual. Give a key the command has validated (a text key with
    a NUL would fail the lock's pipeline, and is not sent); a key given in another form (or
    None, a validation that refused) is simply read by the command as usual.
    """
    ident = key if isinstance(key, tuple) else (key,)
    if all(map(_sendable, ident)):
        lock_reads_of(session).keys.append((model, ident))


def read_twin_with_the_lock(session: Session, column: Any, code: Any) -> None:
    """Declare, as `read_with_the_lock` does, the case-twin lookup `refuse_case_twin` will make
    for a new code: on PostgreSQL it goes in the lock's pipeline and is answered from there."""
    if isinstance(code, str) and _sendable(code):
        lock_reads_of(session).twins.append((column, code))


def _twin_read(column: Any) -> Any:
    """The Core SELECT of a code differing from another only in case (built once per column)."""
    found = _TWIN_READS.get(column)
    if found is None:
        # no LIMIT: its own bound parameter would not go with the lock; the first row answers
        found = _TWIN_READS[column] = sa_select(column).where(
            byte_lower(column) == bindparam("t_lower"), column != bindparam("t_code")
        )
    return found


def _twin_and_key_read(column: Any) -> Any:
    """The Core SELECT of every whole row whose code (the table's one key column) equals
    another in all but case, the code's own row included: the row by its key and its case
    twin in one statement, not two (built once per column)."""
    found = _TWIN_AND_KEY_READS.get(column)
    if found is None:
        # the key's own row by equality too: whatever the server's lower() makes of it
        found = _TWIN_AND_KEY_READS[column] = sa_select(*column.table.columns).where(
            (byte_lower(column) == bindparam("t_lower")) | (column == bindparam("t_code"))
        )
    return found


def _keys_with_their_twin(declared: list[KeyRead], twins: list[tuple[Any, str]]) -> Merged:
    """The declared key reads a declared case-twin lookup answers too (a new code's "does it
    exist?" and "a case twin?", on the table's one key column): each with that lookup's key."""
    twinned = {(_twin_shape(column)[0], code) for column, code in twins if _key_at(column) >= 0}
    merged: Merged = {}
    for model, ident in declared:
        table: Table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets it
        if len(ident) == 1 and (table, ident[0]) in twinned:
            merged[(model, ident)] = (table, ident[0])
    return merged


_TWIN_SHAPES: dict[Any, tuple[Table, int]] = {}


def _twin_shape(column: Any) -> tuple[Table, int]:
    """A case-twin lookup's column: its table, and where it is among the table's columns if it
    is the table's whole primary key, else -1 (worked out once: a mapped attribute's `table`
    costs ~15 µs, and `==` on columns builds an SQL expression, so names are compared)."""
    found = _TWIN_SHAPES.get(column)
    if found is None:
        table: Table = column.table
        only_key = [key.name for key in table.primary_key.columns] == [column.key]
        at = list(table.columns.keys()).index(column.key) if only_key else -1
        found = _TWIN_SHAPES[column] = (table, at)
    return found


def _key_at(column: Any) -> int:
    """Where a case-twin lookup's column is among its table's columns, if it is the table's
    whole primary key, else -1."""
    return _twin_shape(column)[1]


def _row_of_key(column: Any, rows: list[tuple[Any, ...]], code: str) -> tuple[Any, ...] | None:
    """The row of `_twin_and_key_read(column)`'s answer whose key is exactly `code`, or None."""
    at = _key_at(column)
    return next((row for row in rows if row[at] == code), None)


def _twin_of(column: Any, code: str, rows: list[tuple[Any, ...]], whole_rows: bool) -> Any:
    """A case-twin lookup's answer: the first code that differs from `code` (None: none). The
    rows are codes alone (`_twin_read`), or whole rows with `code`'s own among them
    (`_twin_and_key_read`)."""
    if not whole_rows:
        return rows[0][0] if rows else None
    at = _key_at(column)
    return next((row[at] for row in rows if row[at] != code), None)


def _first(rows: list[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    """The first row of an answer, or None."""
    return rows[0] if rows else None


def _sendable(value: Any) -> bool:
    """Whether a key value can go to the server as a parameter whatever it holds: an integer,
    or text PostgreSQL can store (no NUL, encodable as UTF-8)."""
    if isinstance(value, int):
        return True
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def validated(check: Callable[[], Any]) -> Any:
    """The value of a validation, or None where it refuses: a key for `read_with_the_lock`
    checked before the role is (the command refuses bad input later, in its own order)."""
    try:
        return check()
    except InvalidInput:
        return None


_KEY_READS: dict[type[SQLModel], Any] = {}
_TWIN_READS: dict[Any, Any] = {}
_TWIN_AND_KEY_READS: dict[Any, Any] = {}


def _key_read(model: type[SQLModel]) -> Any:
    """The Core SELECT of one row of a model's table by its whole primary key (built once)."""
    found = _KEY_READS.get(model)
    if found is None:
        table: Table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets it
        found = _KEY_READS[model] = sa_select(*table.columns).where(
            *(column == bindparam(f"k_{column.name}") for column in table.primary_key.columns)
        )
    return found


def person_with_institution(session: Session, email: str) -> Person | None:
    """A person, read together with their institution (one round trip, not two: every write
    command reads both while it holds the writers' lock); an import's batch unit answers from
    memory instead.

    On PostgreSQL, when it begins a write transaction, the read goes in the lock's own
    pipeline (`db.read_with_lock`), with the rows declared by `read_with_the_lock`: run after
    the grant, so a deactivation committed by the writer before is seen, and no round trip of
    their own while the lock is held.
    """
    known = lock_reads_of(session)
    declared, twins, queries, scoped = known.keys, known.twins, known.queries, known.scope
    known.keys, known.twins, known.queries, known.scope = [], [], [], None  # taken: sent once
    if open_batch(session) is not None or session.identity_key(Person, email) in (
        session.identity_map
    ):
        return get_row(session, Person, email)
    merged = _keys_with_their_twin(declared, twins)
    reads = [(_PERSON_ROW, {"email": email}), *_declared_reads(declared, twins, merged)]
    reads.extend((query.statement, query.params) for query in queries)
    found = db.read_with_lock(session, tuple(reads), every_row=True)
    institution: Institution | None
    if found is db.NOT_READ:
        row = session.exec(_PERSON_WITH_INSTITUTION, params={"email": email}).first()
        if db.connection_state(session.connection()).locked_write:  # a CLI write, begun
            known.keep_loaded = True  # before it read
        if row is None:
            return None
        person, institution = row
        held: list[object] = [institution]
    else:
        known.keep_loaded = True  # a PostgreSQL write with the lock: see there
        sent = len(reads) - 1 - len(queries)  # the declared keys' and twins' reads
        held = _adopt_declared(session, declared, twins, merged, found[1 : 1 + sent])
        queried = found[1 + sent :]
        held += _adopt_queried(session, queries, queried)
        if scoped is not None:
            held += _adopt_scope_sample(session, *scoped)
            _hand_over_check_scope(session, *scoped)
        if not found[0]:
            return None
        width = len(_PEOPLE.columns)
        person_row = found[0][0]
        person = _as_loaded(session, Person, _PEOPLE, person_row[:width])
        institution = (
            _as_loaded(session, Institution, _INSTITUTIONS, person_row[width:])
            if person_row[width] is not None
            else None
        )
        held.append(institution)
    # the identity map holds rows weakly: keep the institution for `staff_institution`, and
    # the person for a hand-over's parties (the recorder's own row, `services/handover`)
    known.held.extend([*held, person])
    return person


def _declared_reads(
    declared: list[KeyRead],
    twins: list[tuple[Any, str]],
    merged: Merged,
) -> list[tuple[Any, dict[str, Any]]]:
    """The reads of the declared keys (those `merged` left out), then of the case twins."""
    reads = []
    for model, ident in declared:
        if (model, ident) in merged:
            continue  # its row comes with its case-twin lookup
        table: Table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets it
        names = (f"k_{column.name}" for column in table.primary_key.columns)
        reads.append((_key_read(model), dict(zip(names, ident, strict=True))))
    for column, code in twins:
        whole = (_twin_shape(column)[0], code) in merged.values()
        statement = _twin_and_key_read(column) if whole else _twin_read(column)
        reads.append((statement, {"t_lower": code.lower(), "t_code": code}))
    return reads


def _adopt_declared(
    session: Session,
    declared: list[KeyRead],
    twins: list[tuple[Any, str]],
    merged: Merged,
    answers: list[list[tuple[Any, ...]]],
) -> list[object]:
    """The answers of `_declared_reads`: the case twins kept for `twin_answer`, the rows by key
    in the session as if loaded (returned, to be kept alive)."""
    keyed = iter(answers[: len(answers) - len(twins)])
    twinned = answers[len(answers) - len(twins) :]
    whole_rows = {}
    for (column, code), rows in zip(twins, twinned, strict=True):
        table = _twin_shape(column)[0]
        if (table, code) in merged.values():
            whole_rows[(table, code)] = (column, rows)
    if twins:
        lock_reads_of(session).twin_answers = {
            (str(column), code): _twin_of(
                column, code, rows, (_twin_shape(column)[0], code) in whole_rows
            )
            for (column, code), rows in zip(twins, twinned, strict=True)
        }
    key_rows = [
        _row_of_key(*whole_rows[merged[(model, ident)]], ident[0])
        if (model, ident) in merged
        else _first(next(keyed))
        for model, ident in declared
    ]
    return _adopt_read_with_lock(session, declared, key_rows)


def query_with_the_lock(
    session: Session,
    name: Hashable,
    model: type[SQLModel] | None,
    statement: Any,
    params: dict[str, Any],
    *,
    items_of_loan: str | None = None,
) -> None:
    """Declare, before the command's write transaction begins, a query the command will make
    whose key is not the row's own (the items of a loan, its agreement: `statement`, a Core
    SELECT of whole `model` rows, or of plain values where `model` is None).

    On PostgreSQL it goes in the writers' lock's own pipeline, as `read_with_the_lock`'s
    reads do: its rows are in the session as if loaded, and `answered_with_the_lock(name)`
    gives them until the transaction's first event is appended (the command's own reads come
    before it; after it they may be stale). Elsewhere nothing changes: the answer is None and
    the command runs its own query. `items_of_loan`: the query reads every item of that loan,
    which the event's `apply` then need not read again (`ledger/unit.known_items`).
    """
    if all(map(_sendable, params.values())):  # (see `read_with_the_lock`)
        query = _LockQuery(name, model, statement, params, items_of_loan)
        lock_reads_of(session).queries.append(query)


def answered_with_the_lock(session: Session, name: Hashable) -> list[Any] | None:
    """The rows of a query declared by `query_with_the_lock` and read with the lock (the
    session's rows for a model), or None: the caller then runs its own query."""
    known = LOCK_READS.peek(session)
    answers = None if known is None else known.answers
    return None if answers is None else answers.get(name)


def _adopt_queried(
    session: Session, queries: list[_LockQuery], answers: list[list[tuple[Any, ...]]]
) -> list[object]:
    """The answers of the declared queries: rows of a model in the session as if loaded
    (returned, to be kept alive), kept by name for `answered_with_the_lock`."""
    from sampleloans.ledger.unit import known_items  # the write side: loaded before the lock

    known = lock_reads_of(session)
    if known.answers is None:
        known.answers = {}
    kept = known.answers
    held: list[object] = []
    for query, rows in zip(queries, answers, strict=True):
        if query.model is None:
            kept[query.name] = rows
            continue
        table: Table = query.model.__table__  # type: ignore[attr-defined]  # SQLModel sets it
        loaded = [
            _as_loaded(session, query.model, table, _loaded_values(session, table, row))
            for row in rows
        ]
        kept[query.name] = loaded
        held.extend(loaded)
        if query.items_of_loan is not None:
            code_at = list(table.columns.keys()).index("sample_code")  # rows of loan_item
            known_items(session, query.items_of_loan, {str(row[code_at]) for row in rows})
    return held


@event.listens_for(Session, "after_flush")
def forget_answers(session: Session, *_args: Any) -> None:
    """Drop the declared queries' answers once the session's transaction changed rows (an
    event appended, or the session's own flush): they may be stale."""
    known = LOCK_READS.peek(session)
    if known is not None:
        known.answers = None
    writes = WRITES.peek(session)
    if writes is not None:
        writes.forget_known()


_SCOPE_TABLES: tuple[Table, ...] = (
    Sample.__table__,  # type: ignore[attr-defined]  # SQLModel sets it
    LoanItem.__table__,  # type: ignore[attr-defined]  # SQLModel sets it
    Incident.__table__,  # type: ignore[attr-defined]  # SQLModel sets it
    Loan.__table__,  # type: ignore[attr-defined]  # SQLModel sets it
    Agreement.__table__,  # type: ignore[attr-defined]  # SQLModel sets it
)


def _check_scope_reads() -> dict[str, dict[str, Any]]:
    """What the write path's checks read (`ledger/checks.build_snapshot`) about one sample
    (keyed by its code as `s`), or about one loan (keyed by its number as `n`): the samples
    (on the loan) with their children, their items on any loan, their open incidents; for a
    loan also the loan, and for an issue its agreement and the mass issued under it. Each a
    Core SELECT of whole rows (the mass: a number)."""
    sample_t, item_t, incident_t, loan_t, agreement_t = _SCOPE_TABLES
    is_open = incident_t.c.status == literal_column(f"'{IncidentStatus.OPEN.value}'")
    on_loan = sa_select(item_t.c.sample_code).where(item_t.c.loan_number == bindparam("n"))
    agreement = (
        sa_select(loan_t.c.agreement).where(loan_t.c.number == bindparam("n")).scalar_subquery()
    )
    issued = (
        sa_select(func.coalesce(func.sum(item_t.c.issued_ug), literal_column("0")))
        .select_from(loan_t.join(item_t, item_t.c.loan_number == loan_t.c.number))
        .where(
            loan_t.c.agreement == agreement,
            item_t.c.source == literal_column(f"'{ItemSource.ISSUED.value}'"),
        )
    )
    return {
        "sample": {
            sample_t.name: sa_select(sample_t).where(
                (sample_t.c.code == bindparam("s")) | (sample_t.c.parent_code == bindparam("s"))
            ),
            item_t.name: sa_select(item_t).where(item_t.c.sample_code == bindparam("s")),
            incident_t.name: sa_select(incident_t).where(
                incident_t.c.sample_code == bindparam("s"), is_open
            ),
        },
        "loan": {
            # a UNION: PostgreSQL scans the whole table for `a IN (…) OR b IN (…)`
            sample_t.name: union(
                sa_select(sample_t).where(sample_t.c.code.in_(on_loan)),
                sa_select(sample_t).where(sample_t.c.parent_code.in_(on_loan)),
            ),
            item_t.name: sa_select(item_t).where(item_t.c.sample_code.in_(on_loan)),
            incident_t.name: sa_select(incident_t).where(
                incident_t.c.sample_code.in_(on_loan), is_open
            ),
            loan_t.name: sa_select(loan_t).where(loan_t.c.number == bindparam("n")),
        },
        "agreement": {  # only where the mass issued changes (an issue): it sums every item
            agreement_t.name: sa_select(agreement_t).where(agreement_t.c.number == agreement),
            "issued": issued,
        },
    }


_CHECK_SCOPE_READS = _check_scope_reads()


def declare_check_scope(session: Session, code: Any) -> None:
    """Declare, with `read_with_the_lock`, what the checks of a write that changes only sample
    `code` will read (it, its children, items and open incidents): on PostgreSQL it comes with
    the lock, the checks answer from it and the unit's rows (`ledger/unit.known_check_scope`), and
    the write's rows go with the COMMIT: one round trip after the grant, not two. The sample's
    own row is in the session as `read_with_the_lock(Sample, code)` would put it there."""
    _declare_scope(session, "sample", code)


def declare_loan_check_scope(session: Session, number: Any, *, mass_issued: bool) -> None:
    """As `declare_check_scope`, for a write that changes loan `number` and the samples on it
    (a step of the loan after its request); `mass_issued`: and the mass issued under its
    agreement (an issue)."""
    _declare_scope(session, "loan", number, ("loan", "agreement") if mass_issued else ("loan",))


def _declare_scope(
    session: Session, kind: str, key: Any, parts: tuple[str, ...] | None = None
) -> None:
    """Declare the reads of one check scope (`_check_scope_reads`: the `parts` of it)."""
    if not (isinstance(key, str) and _sendable(key)):
        return
    param = {"sample": "s", "loan": "n"}[kind]
    for part in parts or (kind,):
        for name, statement in _CHECK_SCOPE_READS[part].items():
            query_with_the_lock(session, ("check scope", name, key), None, statement, {param: key})
    lock_reads_of(session).scope = (kind, key)


def _adopt_scope_sample(session: Session, kind: str, code: str) -> list[object]:
    """A sample's check scope (`declare_check_scope`) holds its own row (it and its children):
    that row in the session as if loaded, as `read_with_the_lock(Sample, code)` puts it (or the
    code known absent), with no read of its own while the lock is held. Returned, to be kept."""
    rows = answered_with_the_lock(session, ("check scope", Sample.__tablename__, code))
    if kind != "sample" or rows is None:
        return []
    at = _SAMPLE_CODE_AT
    own = next((row for row in rows if row[at] == code), None)
    return _adopt_read_with_lock(session, [(Sample, (code,))], [own])


_COLUMN_NAMES = {
    table.name: tuple(column.name for column in table.columns) for table in _SCOPE_TABLES
}
"""The check scope's tables' column names, in order (not listed again for every write)."""
_SAMPLE_CODE_AT = list(_SCOPE_TABLES[0].columns.keys()).index("code")


def _hand_over_check_scope(session: Session, kind: str, key: str) -> None:
    """A declared check scope, read with the lock, for the transaction's first unit."""
    from sampleloans.ledger.unit import CheckScope, known_check_scope  # the write side

    rows: dict[str, list[dict[str, Any]]] = {}
    for table in _SCOPE_TABLES:
        answered = answered_with_the_lock(session, ("check scope", table.name, key))
        if answered is None:
            continue  # not declared (or not read with the lock: then none is)
        names = _COLUMN_NAMES[table.name]
        rows[table.name] = [dict(zip(names, row, strict=True)) for row in answered]
    if Sample.__tablename__ not in rows:
        return  # not read with the lock: the checks read the database
    if kind == "sample":
        known_check_scope(session, CheckScope(frozenset({key}), rows))
        return
    loans, agreements = rows["loan"], rows.get("agreement", [])
    issued = answered_with_the_lock(session, ("check scope", "issued", key)) or []
    scope = CheckScope(
        samples=frozenset(
            str(i["sample_code"]) for i in rows["loan_item"] if i["loan_number"] == key
        ),
        rows=rows,
        loans=frozenset(str(loan["number"]) for loan in loans),
        issued_ug={str(a["number"]): int(issued[0][0]) for a in agreements if issued},
    )
    known_check_scope(session, scope)


def _adopt_read_with_lock(
    session: Session,
    declared: list[KeyRead],
    rows: list[tuple[Any, ...] | None],
) -> list[object]:
    """Put the declared rows read with the lock in the session as if loaded (returned, to be
    kept alive); remember the keys with no row as absent (answered without a query)."""
    from sampleloans.ledger.unit import known_absent  # the write side: loaded before the lock

    held: list[object] = []
    for (model, ident), row in zip(declared, rows, strict=True):
        table: Table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets it
        if row is None:
            known_absent(session, (table.name, ident))
        else:
            held.append(_as_loaded(session, model, table, _loaded_values(session, table, row)))
    return held


def _loaded_values(session: Session, table: Table, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row read by the driver itself, with its columns' result processors applied (stored
    times to datetimes), as the ORM would have loaded it."""
    processors = _processors(session.get_bind().dialect, table)
    if not processors:
        return row
    values = list(row)
    for index, process in processors:
        if values[index] is not None:
            values[index] = process(values[index])
    return tuple(values)


_PROCESSORS: "weakref.WeakKeyDictionary[Any, dict[Table, tuple[tuple[int, Any], ...]]]"
_PROCESSORS = weakref.WeakKeyDictionary()
"""Per dialect object and table: where its columns with a result processor are, and the
processor (looked up column by column for every row, that cost ~25 µs a row while the writer
held the writers' lock)."""


def _processors(dialect: Any, table: Table) -> tuple[tuple[int, Any], ...]:
    """The (column index, result processor) pairs of a table's columns that have one."""
    known = _PROCESSORS.setdefault(dialect, {})
    found = known.get(table)
    if found is None:
        pairs = (
            (index, column.type.dialect_impl(dialect).result_processor(dialect, None))
            for index, column in enumerate(table.columns)
        )
        found = known[table] = tuple((i, f) for i, f in pairs if f is not None)
    return found


_SHAPES: dict[Table, tuple[tuple[str, ...], tuple[int, ...], Any]] = {}
"""Per table read with the lock: its column names, where its key's columns are, its mapper."""


def _as_loaded(session: Session, model: type[T], table: Table, values: tuple[Any, ...]) -> T:
    """The session's copy of a row read outside the ORM: the one it holds, or a new one added
    to it as if loaded (every column known, nothing to write).

    Made as the ORM makes a loaded row (the mapper's new instance, its columns set in its
    state), not through the model's constructor: that sets each column through the ORM's
    attribute events, and cost a writer ~0.1 ms per row while it held the writers' lock.
    """
    shape = _SHAPES.get(table)
    if shape is None:
        names = tuple(column.name for column in table.columns)
        at = tuple(names.index(column.name) for column in table.primary_key.columns)
        configure_mappers()  # (as any query does first: its attributes' loaders in place)
        shape = _SHAPES[table] = (names, at, sa_inspect(model))
    names, at, mapper = shape
    identity = mapper.identity_key_from_primary_key([values[i] for i in at])
    held = session.identity_map.get(identity)
    if held is not None:
        return cast(T, held)
    record = cast(T, mapper.class_manager.new_instance())
    record.__dict__.update(zip(names, values, strict=True))
    # put in the identity map as the ORM's own loading does (`orm/loading._instance`): a
    # row, not a change to write; `make_transient_to_detached` and `Session.add` (the save
    # cascade, attach events) cost ~2/3 of a row's ~50 µs while the writers' lock was held
    state = instance_state(record)
    state.key, state.identity_token = identity, identity[2]
    state.session_id = session.hash_key
    session.identity_map.add(state)
    return record


def twin_answer(session: Session, column: Any, code: str) -> tuple[bool, Any]:
    """Whether the case-twin lookup of `code` was answered with the lock, and its answer (the
    twin's code, or None when there is none)."""
    known = LOCK_READS.peek(session)
    answered = {} if known is None else known.twin_answers
    key = (str(column), code)
    return (key in answered), answered.get(key)
