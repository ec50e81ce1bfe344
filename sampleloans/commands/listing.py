"""How every list command writes its rows: streamed, a page at a time, in one of four formats.

- `--json`: one JSON array, written row by row as the rows come (the same text, sorted keys and
  two-space indent, as a whole document would be);
- `--jsonl`: JSON Lines, one object per line (the same keys), nothing else;
- `--csv`: the table's columns, RFC 4180, streamed;
- a table: a rich table when the rows fit on a page (up to `RICH_ROWS`), else a plain table
  streamed line by line, its column widths taken from the first rows.

`--limit N` / `--offset N` read one page (in SQL). On a terminal a table shows `PAGE_ROWS` rows
unless `--limit` says otherwise (`--limit 0`: every row); piped or redirected output and the
machine formats get every row. Whenever rows are left out a footer says which are shown, of
how many, and how to see more ("showing 1–50 of 150,000; --offset 50 for more"): under the
table, or on stderr for the machine formats, so that stdout stays parseable.
"""

import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from json.encoder import (  # type: ignore[attr-defined]  # c_make_encoder: untyped, may be None
    c_make_encoder,
    encode_basestring,  # the C encoder where there is one
)
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from sampleloans.commands.common import whole_number

if TYPE_CHECKING:
    from sampleloans.services.listing import Page

PAGE_ROWS = 50
"""Rows a table shows on a terminal when no --limit is given."""
RICH_ROWS = 1000
"""The most rows drawn as a rich table; beyond, a plain table is streamed."""

LimitOption = Annotated[
    int | None,
    typer.Option(
        "--limit",
        metavar="N",
        parser=whole_number,
        help=f"At most N rows (0: every row). Default: {PAGE_ROWS} for a table on a terminal, "
        "else every row.",
    ),
]
OffsetOption = Annotated[
    int,
    typer.Option(
        "--offset",
        metavar="N",
        parser=whole_number,
        help="Skip the first N rows (with --limit: the next page).",
    ),
]
JsonlOption = Annotated[
    bool, typer.Option("--jsonl", help="Print JSON Lines: one object per row, the --json keys.")
]


def check_formats(*, as_json: bool = False, as_jsonl: bool = False, as_csv: bool = False) -> None:
    """Refuse two output formats at once (exit 2) before anything is read."""
    given = [
        name for name, on in (("--json", as_json), ("--jsonl", as_jsonl), ("--csv", as_csv)) if on
    ]
    if len(given) > 1:
        several = "not both" if len(given) == 2 else "not several"
        sys.stderr.write(f"Error: {' and '.join(given)}: give one of them, {several}\n")
        raise typer.Exit(2)


def output_format(*, as_json: bool = False, as_jsonl: bool = False, as_csv: bool = False) -> str:
    """`json`, `jsonl`, `csv` or `table`."""
    return "json" if as_json else "jsonl" if as_jsonl else "csv" if as_csv else "table"


def page_for(limit: int | None, offset: int, *, table: bool) -> "Page":
    """The page to read: --limit/--offset as given; a table on a terminal defaults to
    `PAGE_ROWS` rows; `--limit 0` (or no limit elsewhere) means every row."""
    from sampleloans.services.listing import Page

    if limit is None and table and sys.stdout.isatty():
        limit = PAGE_ROWS
    return Page(offset=offset, limit=None if limit == 0 else limit).check()


class Fact(str):
    """A table cell (or heading) in words for a reader, `20.000 mg`, `✓`, `—`, carrying the CSV
    cells of the same facts, one fact a cell: `20000`, `yes`, `` (a heading: `issued (µg)`)."""

    csv: tuple[str, ...]

    def __new__(cls, text: str, *csv: str) -> "Fact":
        """The words `text`, read in CSV as the cells `csv`."""
        made = super().__new__(cls, text)
        made.csv = csv
        return made


def mass_heading(heading: str) -> Fact:
    """A column of masses: its heading in a table, and in CSV with its unit, `issued (µg)`."""
    return Fact(heading, f"{heading} (µg)")


@dataclass(frozen=True)
class Column:
    """One column of a list's table (and CSV)."""

    heading: str
    right: bool = False  # right-justified (masses, counts)
    no_wrap: bool = False


@dataclass(frozen=True)
class TableSpec:
    """How a list looks as a table: title, columns, the cells of a row, and the empty text."""

    title: str
    columns: tuple[Column, ...]
    cells: Callable[[Any], list[Any]]  # str or rich Text, one per column
    empty: str = "No rows match."
    row_style: Callable[[Any], str] = field(default=lambda _row: "")
    abbreviations: dict[str, str] | None = None


def write_rows(
    rows: Iterator[Any],
    *,
    page: "Page",
    total: Callable[[], int],
    to_json: Callable[[Any], Any],
    spec: TableSpec,
    fmt: str,
) -> None:
    """Write a list's rows in the chosen format (`json`, `jsonl`, `csv` or `table`), then the
    footer when the page leaves rows out."""
    from sampleloans.commands.common import quiet_broken_pipe

    with quiet_broken_pipe():
        if fmt == "json":
            shown = write_json_array((to_json(row) for row in rows), sys.stdout)
        elif fmt == "jsonl":
            shown = write_jsonl((to_json(row) for row in rows), sys.stdout)
        elif fmt == "csv":
            shown = write_csv(rows, spec, sys.stdout)
        else:
            shown = write_table(rows, spec, page, total)
        note = footer(page, shown, total)
        if note:
            if fmt == "table":
                sys.stdout.write(note + "\n")
            else:
                sys.stderr.write(note + "\n")


def footer(page: "Page", shown: int, total: Callable[[], int]) -> str:
    """'showing 1–50 of 1,234; --offset 50 for more' when the page leaves rows out, else ''."""
    cut = page.limit is not None and shown >= page.limit
    if not cut and not page.offset:
        return ""
    count = total() if cut or shown == 0 else page.offset + shown
    if shown == 0:
        return f"showing none of {count:,}: --offset {page.offset} is past the last row"
    first, last = page.offset + 1, page.offset + shown
    more = f"; --offset {last} for more" if last < count else ""
    return f"showing {first:,}–{last:,} of {count:,}{more}"


def json_text(value: Any, pad: str = "") -> str:
    """One JSON value as `print_json` writes it (sorted keys, two-space indent), indented."""
    text = _flat_row_text(value) if type(value) is dict else None
    if text is None:
        text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return text.replace("\n", "\n" + pad) if pad else text


def _false_or_true(value: bool) -> str:
    return "true" if value else "false"


def _null(_value: None) -> str:
    return "null"


_SCALAR_TEXT: dict[type, Callable[[Any], str]] = {
    str: encode_basestring,  # the json module's own (C) string encoder, ensure_ascii=False
    int: int.__repr__,
    bool: _false_or_true,
    type(None): _null,
}
"""How `json.dumps` writes a value of each of these exact types."""


def _flat_row_text(row: dict[Any, Any]) -> str | None:
    """`json.dumps(row, indent=2, sort_keys=True, ensure_ascii=False)` for a list's row: a dict
    of str keys whose values are strings, ints, booleans, None or lists of those; None for
    anything else (the caller then asks `json.dumps`).

    Why: with an indent, `json.dumps` runs its pure-Python encoder, most of the time of a
    `--json` list; a row is flat, so its text is put together here from the C encoder's
    pieces. `tests/test_i13_read_speed.py` holds the two equal.
    """
    if not row:
        return None
    scalar = _SCALAR_TEXT
    parts = []
    for key in sorted(row):
        if type(key) is not str:
            return None
        value = row[key]
        write = scalar.get(type(value))
        if write is not None:
            text = write(value)
        elif type(value) is list and all(type(item) in scalar for item in value):
            items = ",\n    ".join(scalar[type(item)](item) for item in value)
            text = "[\n    " + items + "\n  ]" if value else "[]"
        else:
            return None
        parts.append(encode_basestring(key) + ": " + text)
    return "{\n  " + ",\n  ".join(parts) + "\n}"


def json_chunks(value: Any, pad: str = "") -> Iterator[str]:
    """A JSON document as text pieces, an iterator (as a value of a dict, or the whole) written
    as an array item by item: the same text `json.dumps(indent=2, sort_keys=True)` gives for
    the whole."""
    if isinstance(value, Iterator):
        inner = pad + "  "
        count = 0
        for item in value:  # plain JSON values: an iterator's items hold no iterator
            yield ("[\n" if count == 0 else ",\n") + inner + json_text(item, inner)
            count += 1
        yield "[]" if count == 0 else "\n" + pad + "]"
    elif isinstance(value, dict) and any(isinstance(v, Iterator) for v in value.values()):
        inner = pad + "  "
        for index, key in enumerate(sorted(value)):
            yield ("{\n" if index == 0 else ",\n") + inner + json.dumps(key) + ": "
            yield from json_chunks(value[key], inner)
        yield "\n" + pad + "}"
    else:
        yield json_text(value, pad)


def write_json(value: Any, out: TextIO) -> None:
    """A JSON document whose arrays may be iterators, streamed, then a newline."""
    from sampleloans.commands.common import quiet_broken_pipe

    with quiet_broken_pipe():
        for chunk in json_chunks(value):
            out.write(chunk)
        out.write("\n")


class CountedRows(Iterator[Any]):
    """Rows passed through and counted, for the footer of a JSON document holding a page."""

    def __init__(self, rows: Iterable[Any]) -> None:
        self.rows = iter(rows)
        self.count = 0

    def __next__(self) -> Any:
        """The next row, counted."""
        row = next(self.rows)
        self.count += 1
        return row


def write_json_page(
    value: Any, rows: CountedRows, *, page: "Page", total: Callable[[], int]
) -> None:
    """A JSON document whose array of `rows` is one page, then on stderr the footer when the
    page leaves rows out (as for a list's `--json`)."""
    write_json(value, sys.stdout)
    note = footer(page, rows.count, total)
    if note:
        sys.stderr.write(note + "\n")


def write_json_array(items: Iterable[Any], out: TextIO) -> int:
    """A JSON array written item by item; returns the number of items."""
    count = 0
    for item in items:
        out.write(("[\n  " if count == 0 else ",\n  ") + json_text(item, "  "))
        count += 1
    out.write("[]\n" if count == 0 else "\n]\n")
    return count


def write_jsonl(items: Iterable[Any], out: TextIO) -> int:
    """JSON Lines: one compact object per line, sorted keys; returns the number of lines."""
    encode = _line_encoder()
    count = 0
    for item in items:
        out.write(encode(item) + "\n")
        count += 1
    return count


def _line_encoder() -> Callable[[Any], str]:
    """One value as compact JSON text with sorted keys, `default=str`, not ASCII-escaped: the
    text of `json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)`."""
    encoder = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)
    if c_make_encoder is None:  # a Python built without the json module's C accelerator
        return encoder.encode
    # `JSONEncoder.encode` builds this same C encoder anew for every value it encodes (a
    # quarter of a JSON line's cost on a list of 150,000 samples): build it once, with the
    # encoder's own settings; circular references are not checked (views hold none)
    scan = c_make_encoder(
        None,  # markers: no circular-reference check
        encoder.default,
        encode_basestring,  # ensure_ascii=False
        None,  # indent
        encoder.key_separator,
        encoder.item_separator,
        encoder.sort_keys,
        encoder.skipkeys,
        encoder.allow_nan,
    )
    join = "".join

    def encode(value: Any) -> str:
        """One value as compact JSON text."""
        return join(scan(value, 0))

    return encode


def _plain(cell: Any) -> str:
    from sampleloans.commands.render import cell_text

    return cell_text(cell)


def write_csv(rows: Iterable[Any], spec: TableSpec, out: TextIO) -> int:
    """The table's columns as CSV (RFC 4180, CRLF), one fact a cell (`render.Fact`), streamed;
    returns the number of rows."""
    from sampleloans.commands.render import csv_headings, csv_row

    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(text for column in spec.columns for text in csv_headings(column.heading))
    count = 0
    for row in rows:
        writer.writerow(csv_row(spec.cells(row)))
        count += 1
    return count


def write_table(
    rows: Iterator[Any], spec: TableSpec, page: "Page", total: Callable[[], int]
) -> int:
    """A rich table when the rows fit (`RICH_ROWS`), else a plain table streamed; returns the
    number of rows."""
    first = list(islice(rows, RICH_ROWS + 1))
    if not first:
        if not page.offset and spec.empty:
            _console().print(spec.empty)
        return 0
    if len(first) <= RICH_ROWS:
        _rich_table(first, spec, page, total)
        return len(first)
    return _plain_table(first, rows, spec, total)


def _console() -> Any:
    from sampleloans.commands.common import console

    return console()


def _rich_table(rows: list[Any], spec: TableSpec, page: "Page", total: Callable[[], int]) -> None:
    from rich.table import Table

    from sampleloans.commands.common import print_table

    cut = page.limit is not None and len(rows) >= page.limit
    count = total() if cut or page.offset else len(rows)
    table = Table(title=spec.title.format(count=f"{count:,}"))  # as the plain table and footer
    for column in spec.columns:
        table.add_column(
            column.heading, justify="right" if column.right else "left", no_wrap=column.no_wrap
        )
    for row in rows:
        table.add_row(*spec.cells(row), style=spec.row_style(row))
    print_table(table, abbreviations=spec.abbreviations)


def _plain_table(
    first: list[Any], rest: Iterator[Any], spec: TableSpec, total: Callable[[], int]
) -> int:
    """Columns two spaces apart, widths from the first rows (a longer cell later pushes its
    line, never cut), one line per row (a line break in a cell becomes a space)."""
    texts = [[_plain(c).replace("\n", " ") for c in spec.cells(row)] for row in first]
    headings = [column.heading for column in spec.columns]
    widths = [
        max(len(heading), *(len(cells[k]) for cells in texts)) for k, heading in enumerate(headings)
    ]

    def line(cells: list[str]) -> str:
        """One row of cells padded to the column widths, two spaces apart."""
        parts = [
            cell.rjust(width) if column.right else cell.ljust(width)
            for cell, width, column in zip(cells, widths, spec.columns, strict=True)
        ]
        return "  ".join(parts).rstrip() + "\n"

    out = sys.stdout
    out.write(spec.title.format(count=f"{total():,}") + "\n")
    bound = _terminal_width()
    if bound is not None and sum(widths) + 2 * (len(widths) - 1) > bound:
        # a terminal would wrap the lines anywhere, a mass from its unit: one field a line
        return _records(first, rest, spec, bound)
    out.write(line(headings))
    out.write("  ".join("-" * width for width in widths) + "\n")
    for cells in texts:
        out.write(line(cells))
    count = len(first)
    for row in rest:
        out.write(line([_plain(c).replace("\n", " ") for c in spec.cells(row)]))
        count += 1
    return count


def _terminal_width() -> int | None:
    """The width of the terminal the table goes to (`COLUMNS` where set), None for a pipe or
    a file, whose lines nothing wraps."""
    import os

    if not (os.environ.get("COLUMNS") or sys.stdout.isatty()):
        return None
    return int(_console().width)


def _records(first: list[Any], rest: Iterator[Any], spec: TableSpec, width: int) -> int:
    """The rows one field per line, an empty line between rows, streamed."""
    from sampleloans.commands.render import record_text

    headings = [column.heading for column in spec.columns]
    count = 0
    for row in chain(first, rest):
        cells = [_plain(c) for c in spec.cells(row)]
        sys.stdout.write(("\n" if count else "") + record_text(headings, cells, width))
        count += 1
    return count
