"""A word a squeezed column folds never leaves a short last piece on a line of its own:
'pi@brown.examp' over 'le' reads as two values. Where a table could keep its masses and
times whole only that way, its rows are drawn one field per line instead."""

from itertools import pairwise

import pytest
from rich.table import Table
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.commands.render import FOLD_LAST_MIN_CHARS, keeps_words_readable
from tests.conftest import demo_copy

CURATOR = "curator@naoc.example"
NOW = "2026-05-01T10:00:00Z"
READS = [
    ["loans", "list"],
    ["samples", "list"],
    ["overdue"],
    ["people", "list"],
    ["agreements", "list"],
    ["custody", "history", "--loan", "L-2025-OU"],
    ["loans", "show", "L-2025-Osaka"],
]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger, read by the curator on 1 May 2026."""
    folder = tmp_path_factory.mktemp("foldtail") / "demo"
    demo_copy(folder)
    return {
        "SAMPLELOANS_DB": str(folder / "ledger.db"),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": NOW,
        "NO_COLOR": "1",
    }


def _invoke(env: dict[str, str], args: list[str], columns: int) -> str:
    """What a command prints on a terminal `columns` wide; it must succeed."""
    result = CliRunner().invoke(app, args, env={**env, "COLUMNS": str(columns)})
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


def _short_tails(text: str, words: set[str]) -> list[tuple[str, str]]:
    """Each (cell above, cell) of a drawn table where the cell, on a continuation line of the
    same row, is a short last piece of one of `words` (the words of the unsqueezed output)
    whose start ends the cell above."""
    rows = [line.split("│")[1:-1] for line in text.splitlines() if line.count("│") >= 3]
    found = []
    for above, below in pairwise(rows):
        if below[0].strip():
            continue  # a new row, not the rest of the one above
        for upper, lower in zip(above, below, strict=False):
            tail = lower.strip()
            if not upper.strip() or not tail or len(tail) >= FOLD_LAST_MIN_CHARS:
                continue
            if upper.split()[-1] + tail.split()[0] in words:
                found.append((upper.strip(), tail))
    return found


@pytest.mark.parametrize("columns", [80, 100, 120])
@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_no_short_last_piece_of_a_folded_word(
    env: dict[str, str], args: list[str], columns: int
) -> None:
    words = set(_invoke(env, args, 400).split())
    text = _invoke(env, args, columns)
    assert _short_tails(text, words) == [], text


def test_loans_list_at_100_columns_keeps_every_email_whole(env: dict[str, str]) -> None:
    """At 100 columns the curator's loans list cannot show every PI's e-mail whole in a table
    with its masses and due dates: it gives one field per line, each e-mail whole."""
    text = _invoke(env, ["loans", "list"], 100)
    emails = ["pi@brown.example", "anand@open.example", "pi@suparco.example"]
    assert all(f"PI           {email}" in text for email in emails), text
    assert "┏" not in text, text


def test_the_rule_at_service_level() -> None:
    """'pi@brown.example' in a 14-wide column leaves 'le'; in 12 it leaves 'mple' (too short);
    'anand@open.example' in 12 leaves 'xample' (reads)."""

    def table(email: str, width: int) -> Table:
        made = Table()
        made.add_column("PI", width=width)
        made.add_row(email)
        return made

    assert not keeps_words_readable(table("pi@brown.example", 14))
    assert not keeps_words_readable(table("pi@brown.example", 12))
    assert keeps_words_readable(table("anand@open.example", 12))
    assert keeps_words_readable(table("pi@brown.example", 16))  # not folded at all
