"""Issue 11, items 7, 9 and 10: CSV out, tables on narrow terminals, words a user reads."""

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner, Result

from sampleloans import db
from sampleloans.cli import app
from sampleloans.commands.render import fit_to_width, table_csv
from sampleloans.ledger.store import Context
from sampleloans.services import loan_views
from tests.conftest import demo_copy

CURATOR = "curator@naoc.example"
NOW = "2026-04-28T10:00:00Z"

# (command, the JSON key holding its rows or None for a bare array) of every --csv command
CSV_COMMANDS: list[list[str]] = [
    ["samples", "list"],
    ["institutions", "list"],
    ["people", "list"],
    ["agreements", "list"],
    ["loans", "list"],
    ["incidents", "list"],
    ["overdue"],
]
CSV_ONLY = {
    "on its way back (µg)",
    "days left",
    "ended (UTC)",  # loans list: the table says it in the due cell, "— (closed …)"
    "description",
    "resolution",
    "frozen",
    "balanced",
}
"""CSV columns a table has no heading of its own for: one fact a cell where the table joins
several in one (`held` with what is on its way back, `kind: description`) or marks it (`=`)."""


def table_headings(csv_header: list[str]) -> list[str]:
    """The table's headings of a CSV header: masses without their unit, no CSV-only column."""
    return [h.removesuffix(" (µg)") for h in csv_header if h not in CSV_ONLY]


BALANCES: list[list[str]] = [
    ["balance", "--sample", "CE5C0100YJFM00201"],
    ["balance", "--loan", "L-2025-OU"],
    ["balance"],
]


def make_demo(folder: Path) -> dict[str, str]:
    """A demo ledger with an open incident, and the environment to read it."""
    runner = CliRunner()
    demo_copy(folder)
    env = {
        "SAMPLELOANS_DB": str(folder / "ledger.db"),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": NOW,
        "COLUMNS": "120",
        "NO_COLOR": "1",
    }
    incident = ["incidents", "report", "--sample", "CE5C0500YJFM00415", "--kind", "damage"]
    assert runner.invoke(app, [*incident, "--description", "vial, cracked"], env=env).exit_code == 0
    return env


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One demo ledger for the read-only tests of this module."""
    return make_demo(tmp_path_factory.mktemp("out") / "demo")


def run(env: dict[str, str], *args: str, columns: int = 120, code: int = 0) -> Result:
    """Invoke the CLI at a terminal width; check the exit code."""
    result = CliRunner().invoke(app, list(args), env={**env, "COLUMNS": str(columns)})
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result


# --- item 7: CSV ------------------------------------------------------------------------------


@pytest.mark.parametrize("args", CSV_COMMANDS, ids=" ".join)
def test_csv_has_the_tables_columns_and_one_line_per_row(
    demo: dict[str, str], args: list[str]
) -> None:
    """RFC 4180 (CRLF), the table's headers, one record per JSON row, one fact a cell."""
    text = run(demo, *args, "--csv").stdout_bytes.decode("utf-8")  # bytes: CRLF as written
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    table = run(demo, *args, columns=250).stdout
    assert all(heading in table for heading in table_headings(header))
    assert len(rows) == len(json.loads(run(demo, *args, "--json").stdout)) > 0
    assert all(len(row) == len(header) for row in rows)
    assert all(row[0] in table for row in rows)


def test_csv_quotes_commas_in_a_cell(demo: dict[str, str]) -> None:
    """A comma inside a cell is quoted, so a spreadsheet keeps it in one cell."""
    (header, row) = list(csv.reader(io.StringIO(run(demo, "incidents", "list", "--csv").stdout)))
    assert row[header.index("description")] == "vial, cracked"
    assert row[header.index("kind")] == "damage"  # the table's "damage: vial, cracked", split


@pytest.mark.parametrize("args", BALANCES, ids=" ".join)
def test_balance_csv_has_the_rows_and_the_total(demo: dict[str, str], args: list[str]) -> None:
    """balance --csv: the table's rows, the total row last; the collection's two tables."""
    text = run(demo, *args, "--csv").stdout_bytes.decode("utf-8")
    blocks = [b for b in text.split("\r\n\r\n") if b]
    data = json.loads(run(demo, *args, "--json").stdout)
    parts = [p for p in (data["item_balance"], data["sample_balance"]) if p is not None]
    assert len(blocks) == len(parts)
    for block, part in zip(blocks, parts, strict=True):
        header, *rows = list(csv.reader(io.StringIO(block)))
        assert header[0] == "sample" and header[-1] == "balanced"  # the table's "="
        assert len(rows) == len(part["rows"]) + 1  # the total row, as in the table


@pytest.mark.parametrize("args", [*CSV_COMMANDS, BALANCES[1]], ids=" ".join)
def test_csv_and_json_together_are_refused(demo: dict[str, str], args: list[str]) -> None:
    """--csv with --json: exit 2, one Error line, nothing on stdout."""
    result = run(demo, *args, "--csv", "--json", code=2)
    assert result.stdout == ""
    assert result.stderr == "Error: --json and --csv: give one of them, not both\n"


def test_table_csv_writes_rfc_4180() -> None:
    """Quotes doubled, CRLF line ends, tables separated by an empty line."""
    table = Table()
    table.add_column("a")
    table.add_column("b, c")
    table.add_row("1", 'say "hi"')
    assert (
        table_csv(table, table)
        == 'a,"b, c"\r\n1,"say ""hi"""\r\n\r\na,"b, c"\r\n1,"say ""hi"""\r\n'
    )


# --- item 9: narrow terminals -----------------------------------------------------------------


def header_words(env: dict[str, str], args: list[str]) -> list[str]:
    """Every word of every column header of a command's table(s), from its CSV (the loan
    list's CSV has columns of its own, one fact a cell: its table's are read from its spec)."""
    if args[:2] == ["loans", "list"]:
        from sampleloans.commands.loans import LOAN_TABLE

        return [word for column in LOAN_TABLE.columns for word in column.heading.split()]
    text = run(env, *args, "--csv").stdout_bytes.decode("utf-8")
    blocks = [block for block in text.split("\r\n\r\n") if block]
    headers = [next(csv.reader(io.StringIO(block))) for block in blocks]
    headings = [heading for header in headers for heading in table_headings(header)]
    return [word for heading in headings for word in heading.split()]


@pytest.mark.parametrize("columns", [80, 100])
@pytest.mark.parametrize("args", [*CSV_COMMANDS, *BALANCES], ids=" ".join)
def test_no_column_is_dropped_or_cut_on_a_narrow_terminal(
    demo: dict[str, str], args: list[str], columns: int
) -> None:
    """At 80 and 100 columns every header is shown (whole words) and no cell is cut with '…'."""
    text = run(demo, *args, columns=columns).stdout
    assert "…" not in text
    # table lines fit; a sentence below a table is soft-wrapped by the terminal
    table_lines = [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]
    assert table_lines and max(len(line) for line in table_lines) <= columns
    missing = [word for word in header_words(demo, args) if word not in text]
    assert missing == []
    if args == ["balance", "--sample", "CE5C0100YJFM00201"]:
        assert "custody" in text and "✓" in text


@pytest.mark.parametrize("columns", [80, 100])
def test_status_and_history_keep_their_columns(demo: dict[str, str], columns: int) -> None:
    """The tables of status and custody history keep every column too."""
    status = run(demo, "status", "--institution", "OU", columns=columns).stdout
    assert all(
        w in status for w in ("sample", "custody", "state", "issued", "held", "✓") if w != "✓"
    )
    history = run(demo, "custody", "history", "--loan", "L-2025-OU", columns=columns).stdout
    assert all(w in history for w in ("seq", "occurred", "event", "actor", "what"))
    assert "…" not in status + history


def test_institution_names_fold_less_with_abbreviated_counts(demo: dict[str, str]) -> None:
    """At 100 columns the count headers are abbreviated with a legend; a name takes <= 3 lines."""
    text = run(demo, "institutions", "list", columns=100).stdout
    assert "ppl = people" in text and "agr = agreements" in text
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "│ CNSA " in line)
    # the next row starts where the first cell is no longer blank
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("│         │"))
    assert end - start <= 3  # "China National Space Administration" on at most 3 lines


def test_fit_to_width_never_leaves_a_column_without_room() -> None:
    """A table far wider than the terminal keeps every header word and every cell whole."""
    table = Table()
    for heading in ("sample", "custody state", "initial", "vault", "on loan", "consumed", "="):
        table.add_column(heading, no_wrap=heading != "custody state")
    table.add_row("CE5C0100YJFM00201-01", "return in transit", *["300.000 mg"] * 4, "✓")
    out = Console(width=60, record=True, color_system=None)
    out.print(fit_to_width(table, 60))
    text = out.export_text()
    assert "…" not in text and "✓" in text and "custody" in text and "transit" in text


# --- item 10: words -------------------------------------------------------------------------


def test_history_table_shows_event_labels_and_json_keeps_kinds(demo: dict[str, str]) -> None:
    """Tables say 'Receipt', not 'loan.received'; JSON keeps the kind."""
    table = run(demo, "custody", "history", "--loan", "L-2025-UoC", columns=250).stdout
    assert "loan.received" not in table and "loan.issued" not in table
    assert "Issue from vault" in table and "by hand:" in table and "hand_carried" not in table
    assert "(research, 1 year)" in table and "P1Y" not in table
    events = json.loads(run(demo, "custody", "history", "--loan", "L-2025-UoC", "--json").stdout)
    assert "loan.received" in [e["kind"] for e in events["events"]]
    assert any("extended by 6 months" in e["description"] for e in events["events"])


def test_a_closed_loan_shows_no_next_inventory(demo: dict[str, str]) -> None:
    """L-2025-IPGP is closed: no next inventory in loans show, table or JSON (the table says
    why: sweep s31)."""
    detail = json.loads(run(demo, "loans", "show", "L-2025-IPGP", "--json").stdout)
    assert detail["status"] == "closed" and detail["next_inventory_due_at"] is None
    table = run(demo, "loans", "show", "L-2025-IPGP").stdout
    line = next(line for line in table.splitlines() if line.startswith("next inventory"))
    assert line.split(None, 2)[2].strip() == "— (none owed: the loan is closed)"


def test_loan_detail_service_has_no_inventory_after_close(demo: dict[str, str]) -> None:
    """The service view itself: a closed loan owes no inventory, an open one does."""
    engine = db.open_engine(db.url_for_path(Path(demo["SAMPLELOANS_DB"])))
    ctx = Context(actor=CURATOR, os_user="tester", now=db_now())
    with db.transaction(engine, write=False) as session:
        closed = loan_views.loan_detail(session, ctx, "L-2025-IPGP")
        held = loan_views.loan_detail(session, ctx, "L-2025-OU")
    engine.dispose()
    assert closed.next_inventory_due_at is None and held.next_inventory_due_at is not None


def db_now() -> Any:
    """The tests' fixed clock as a datetime."""
    from sampleloans.dates import parse_datetime

    return parse_datetime(NOW, "now")


def test_partial_return_says_so_and_consumption_says_it_stays_out(tmp_path: Path) -> None:
    """Accepting one of three samples says it is a partial return; a non-destructive analysis
    says its mass no longer has to come back."""
    env = make_demo(tmp_path / "demo")
    used = run(
        env, "loans", "consume", "L-2025-OU", "--sample", "CE5C0300YJFM00307",
        "--technique", "Raman", "--mass", "0.1 mg", "--non-destructive",
    ).stdout  # fmt: skip
    assert "(non-destructive); it no longer has to come back" in used
    back = ["--sample", "CE5C0300YJFM00307"]
    run(env, "loans", "return", "L-2025-OU", "--container", "box", "--seal", "R-9", *back)
    accepted = run(
        env, "loans", "accept-return", "L-2025-OU", "--seal-intact", "--condition", "unchanged",
        "--weighed", "CE5C0300YJFM00307=19.9mg",
    ).stdout  # fmt: skip
    assert "a partial return: the borrower still holds the other samples" in accepted
    assert "the loan is received" not in accepted
