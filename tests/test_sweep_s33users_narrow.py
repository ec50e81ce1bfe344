"""Every table command at 60, 80 and 100 columns: a mass with its unit and a time with its date
are never broken across lines. Where a table cannot keep them whole even with its free text
folded, its rows are drawn one field per line instead (`render.as_records`), and so is a long
streamed list whose plain table is wider than the terminal."""

import re
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.commands.render import MASS, TIMESTAMP
from tests.conftest import demo_copy

CURATOR = "curator@naoc.example"
NOW = "2026-05-01T10:00:00Z"
UNBROKEN = re.compile(f"{MASS.pattern}|{TIMESTAMP.pattern}")
READS = [
    ["loans", "list"],
    ["loans", "show", "L-2025-OU"],
    ["loans", "show", "L-2025-IPGP"],
    ["samples", "list"],
    ["samples", "show", "CE5C0000YJYX052"],
    ["overdue"],
    ["balance"],
    ["balance", "--loan", "L-2025-OU"],
    ["balance", "--sample", "CE5C0100YJFM00201"],
    ["status", "--institution", "OU"],
    ["agreements", "list"],
    ["agreements", "show", "AG-2025-OU"],
    ["custody", "history", "--loan", "L-2025-OU"],
    ["custody", "history", "--loan", "L-2025-IPGP", "--as-of", "2025-12-01"],
    ["incidents", "list"],
    ["checkpoint", "list"],
    ["custody", "history", "--sample", "CE5C0200YJFM00112"],
]


def _invoke(env: dict[str, str], args: list[str], columns: int = 400) -> str:
    """What a command prints on a terminal `columns` wide; it must succeed."""
    result = CliRunner().invoke(app, args, env={**env, "COLUMNS": str(columns)})
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger with an incident (a mass lost) and a signed checkpoint, read by the
    curator on 1 May 2026."""
    folder = tmp_path_factory.mktemp("narrow") / "demo"
    demo_copy(folder)
    env = {
        "SAMPLELOANS_DB": str(folder / "ledger.db"),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": NOW,
        "NO_COLOR": "1",
    }
    key = folder / "cp.key"
    for args in (
        [
            *["incidents", "report", "--sample", "CE5C0200YJFM00112", "--kind", "loss"],
            *["--description", "a grain lost from its mount", "--mass-lost", "0.5 mg"],
        ],
        ["keys", "generate", "--out", str(key)],
        ["checkpoint", "--key", str(key)],
    ):
        _invoke(env, args)
    return env


@pytest.mark.parametrize("columns", [60, 80, 100])
@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_no_mass_or_time_is_broken_at_any_width(
    env: dict[str, str], args: list[str], columns: int
) -> None:
    """Every mass and time a wide terminal shows is whole on one line at 60, 80 and 100
    columns, and no line of a table is wider than the terminal."""
    wide = Counter(UNBROKEN.findall(_invoke(env, args)))
    text = _invoke(env, args, columns)
    narrow = Counter(UNBROKEN.findall(text))
    assert wide, args  # the command shows some: the check can fail
    assert narrow == wide, (args, columns, wide - narrow, text)
    drawn = [line for line in text.splitlines() if line[:1] in "┏┃┡│└┌"]
    assert all(len(line) <= columns for line in drawn), text


def test_loans_list_at_80_columns_is_one_field_per_line(env: dict[str, str]) -> None:
    """The sweep's case: 'loans list' needs 77 of 71 characters for its fixed columns at 80; its
    rows come one field per line, each heading spelt out, every loan's mass whole."""
    text = _invoke(env, ["loans", "list"], 80)
    assert "┏" not in text
    assert "issued       300.000 mg" in text
    assert "due (UTC)    — (closed 2025-10-21 10:00)" in text
    assert "PI           glotch@stonybrook.example" in text


def test_a_table_that_fits_stays_a_table(env: dict[str, str]) -> None:
    """At 120 columns the loans list is still drawn as a table (at 100 it could be one only
    by folding 'pi@brown.examp' over 'le': tests/test_sweep_s37main_fold_tail.py)."""
    assert "┏" in _invoke(env, ["loans", "list"], 120)


def test_fitted_falls_back_to_fields_only_when_a_number_would_break() -> None:
    """Service level: `fitted` gives the table itself where every mass fits whole, and the rows
    one field per line, with the full headings and no legend, where one would not."""
    from sampleloans.commands.render import fitted

    def table() -> Table:
        made = Table(title="Loans")
        made.add_column("loan", no_wrap=True)
        made.add_column("consumed", justify="right", no_wrap=True)
        made.add_column("returned", justify="right", no_wrap=True)
        made.add_row("L-2025-SUPARCO", "100.000 mg", "2026-04-30 08:00")
        return made

    assert isinstance(fitted(table(), 60, {"consumed": "cons"}), Table)
    console = Console(width=30, record=True, color_system=None)
    console.print(fitted(table(), 30, {"consumed": "cons"}))
    text = console.export_text()
    assert "consumed  100.000 mg" in text and "returned  2026-04-30 08:00" in text
    assert "cons =" not in text and "┏" not in text


def test_a_long_list_on_a_narrow_terminal_streams_one_field_per_line(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond the rich table's rows, a plain table wider than the terminal would be wrapped by
    the terminal anywhere; it streams one field per line instead. Piped, it stays a table."""
    import sampleloans.commands.listing as listing

    monkeypatch.setattr(listing, "RICH_ROWS", 2)
    narrow = _invoke(env, ["loans", "list"], 60)
    assert "issued       300.000 mg" in narrow and "----" not in narrow
    assert Counter(UNBROKEN.findall(narrow)) == Counter(
        UNBROKEN.findall(_invoke(env, ["loans", "list"]))
    )
    result = CliRunner().invoke(app, ["loans", "list"], env={**env, "COLUMNS": None})
    assert "----" in result.stdout  # a pipe or file: the documented plain table


def test_a_word_folded_into_short_pieces_gives_fields_instead(tmp_path: Path) -> None:
    """A researcher's loan with a sample on its way back, at 80 columns: the table could keep
    its masses whole only by folding the PI's e-mail two letters a line and 'received' over
    'd'; the rows come one field per line instead, every word whole."""
    folder = tmp_path / "demo"
    demo_copy(folder)
    env = {"SAMPLELOANS_DB": str(folder / "ledger.db"), "SAMPLELOANS_NOW": NOW, "NO_COLOR": "1"}
    _invoke(
        {**env, "SAMPLELOANS_USER": CURATOR},
        [
            *["loans", "return", "L-2025-OU", "--sample", "CE5C0300YJFM00307"],
            *["--container", "N2 box 7", "--seal", "S-0043"],
        ],
    )
    text = _invoke({**env, "SAMPLELOANS_USER": "anand@open.example"}, ["loans", "list"], 80)
    assert "┏" not in text, text
    assert "PI           anand@open.example" in text and "status       received" in text


def test_fitted_falls_back_to_fields_when_a_word_would_fold_short() -> None:
    """Service level: a column squeezed below its longest word (and below `FOLD_MIN_CHARS`)
    sends `fitted` to one field per line; one wide enough keeps the table."""
    from sampleloans.commands.render import FOLD_MIN_CHARS, fitted, keeps_words_readable

    def table() -> Table:
        made = Table(title="Loans")
        made.add_column("loan", no_wrap=True)
        made.add_column("PI")
        made.add_column("status")
        made.add_column("held", justify="right", no_wrap=True)
        made.add_row("L-2025-OU", "anand@open.example", "received", "59.500 mg")
        return made

    assert isinstance(fitted(table(), 60), Table)
    squeezed = table()
    squeezed.columns[2].width = len("received") - 1
    assert not keeps_words_readable(squeezed)
    squeezed.columns[2].width = None
    squeezed.columns[1].width = FOLD_MIN_CHARS  # an e-mail folded in pieces this long reads
    assert keeps_words_readable(squeezed)
    console = Console(width=34, record=True, color_system=None)
    console.print(fitted(table(), 34))
    text = console.export_text()
    assert "┏" not in text and "status  received" in text and "PI      anand@open.example" in text
