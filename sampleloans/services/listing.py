"""Lists read as streams: one page of rows, yielded batch by batch, and a cheap total.

A list service builds one query (filters, the reader's scope, an ORDER BY on a unique key so
the order is the same every time), then hands back a `Listing`: `rows` runs the query for the
page asked (`LIMIT`/`OFFSET` in SQL) and yields views as the database returns them, a batch at
a time, so memory stays that of one batch whatever the number of rows; `total()` counts every
row the filters match (one `SELECT count(*)` of the same query), for a "showing 1–50 of N"
footer.
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlmodel import Session

from sampleloans.errors import InvalidInput

T = TypeVar("T")

if TYPE_CHECKING:
    Query = Select[*tuple[Any, ...]]
    """A select of any columns."""
else:
    Query = Select

BATCH_ROWS = 2000
"""Rows fetched from the database at a time."""
MAX_ROWS = 2**63 - 1
"""More rows than any table holds: SQLite's (and PostgreSQL's bigint) largest LIMIT/OFFSET."""


@dataclass(frozen=True)
class Page:
    """Which rows of a list to read: skip `offset`, then at most `limit` (None: every row)."""

    offset: int = 0
    limit: int | None = None

    def check(self) -> "Page":
        """Refuse a negative offset or limit, or one beyond a 64-bit row count (exit 2)."""
        for option, value in (("--offset", self.offset), ("--limit", self.limit)):
            if value is not None and value > MAX_ROWS:
                raise InvalidInput(
                    f"{option}: {value} is more rows than a ledger can hold; give at most "
                    f"{MAX_ROWS}"
                )
        if self.offset < 0:
            raise InvalidInput(f"--offset: {self.offset} is negative; give 0 or more rows to skip")
        if self.limit is not None and self.limit < 0:
            raise InvalidInput(
                f"--limit: {self.limit} is negative; give a number of rows (0 means every row)"
            )
        return self


EVERY_ROW = Page()


@dataclass(frozen=True)
class Listing(Generic[T]):
    """One page of a list as a stream, and how many rows the filters match in all."""

    rows: Iterator[T]
    total: Callable[[], int]


def view_maker(view_type: type[T]) -> Callable[[Sequence[Any]], T]:
    """A function that builds a frozen dataclass view from its field values in field order.

    A frozen dataclass's own `__init__` sets each field through `object.__setattr__`: for a
    view of 26 fields that is most of the cost of a list of 150,000 rows. This fills the new
    instance's dict in one C call instead; it is the same object (equal, hashable, frozen).
    Only for plain views: no `__post_init__`, no `__slots__`, every field set by `__init__`.
    """
    names = tuple(f.name for f in fields(view_type))  # type: ignore[arg-type]  # a dataclass, checked below
    if (
        not is_dataclass(view_type)
        or hasattr(view_type, "__post_init__")
        or "__slots__" in vars(view_type)
        or any(not f.init for f in fields(view_type))
    ):
        raise TypeError(f"{view_type.__name__}: not a plain dataclass view")
    new = object.__new__
    count = len(names)

    def make(values: Sequence[Any]) -> T:
        """A view from one row's values, in field order."""
        if len(values) != count:  # checked here: a strict zip costs more than the rest
            raise ValueError(f"{view_type.__name__}: {len(values)} values for {count} fields")
        view = new(view_type)
        view.__dict__.update(zip(names, values, strict=False))
        return view

    return make


def paged(query: Query, page: Page) -> Query:
    """The query restricted to one page (in SQL)."""
    page.check()
    if page.offset:
        query = query.offset(page.offset)
    if page.limit:  # 0 or None: every row
        query = query.limit(page.limit)
    return query


def batches(session: Session, query: Query) -> Iterator[list[Any]]:
    """The rows of a Core select, `BATCH_ROWS` at a time, as the database returns them.

    Plain columns in Core: no ORM identity map holds them, so a batch dies once it is used.
    Pending changes are flushed first, as `session.exec` would.
    """
    session.flush()
    result = session.connection().execute(query)
    for batch in result.partitions(BATCH_ROWS):
        yield list(batch)


def plain_batches(session: Session, query: Query) -> Iterator[Sequence[tuple[Any, ...]]]:
    """`batches` as plain tuples: the driver's rows, with each column's own result conversion
    (a stored time to a datetime, SQLite's 0/1 to a bool) applied a column at a time.

    For lists of many rows: SQLAlchemy's per-row processing and Row objects cost more than
    the fetch itself (150,000 samples); here only the columns that need a conversion are
    touched, in C (`map` of the type's own processor). On SQLite only, whose driver describes
    no column types (a type's processor then depends on nothing else); elsewhere the rows of
    `batches`, as tuples.
    """
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite":
        for rows in batches(session, query):
            yield [tuple(row) for row in rows]
        return
    session.flush()
    result = session.connection().execute(query)
    conversions = tuple(
        (index, convert)
        for index, column in enumerate(query.selected_columns)
        if (convert := column.type.result_processor(dialect, None)) is not None
    )
    cursor = result.cursor
    while batch := cursor.fetchmany(BATCH_ROWS):
        if not conversions:
            yield batch
            continue
        columns: list[Iterable[Any]] = list(zip(*batch, strict=True))
        for index, convert in conversions:
            columns[index] = map(convert, columns[index])
        yield list(zip(*columns, strict=True))
    # closed once read to the end; a reader that stops early (a closed pipe) leaves it to the
    # connection, as `batches` does: closing it here later could find the database gone
    result.close()


def counter(session: Session, query: Query) -> Callable[[], int]:
    """A function counting the rows of `query` (without its order, offset or limit)."""

    def count() -> int:
        """The number of rows the query matches."""
        inner = query.order_by(None).limit(None).offset(None).subquery()
        session.flush()
        return int(
            session.connection().execute(select(func.count()).select_from(inner)).scalar_one()
        )

    return count
