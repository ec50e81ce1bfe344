"""Sweep s37 users-b: narrow terminals.

At 80 columns `loans show` of a closed loan folded its field names ("transfer" over "type",
"next" over "inventory": the long settlement line squeezed the names' column), and tables
stacked a short value one word a line: `people list`'s "Brown" over "principal" over
"investigator" over "(demo)", `loans show`'s hand-over "Li Na" over "(demo" over "curator)"
over "(NAOC)". A field's name now stays whole, and a table whose squeezed column would stack a
short value more than three lines high is drawn one record per block instead.
"""

import pytest
from rich.table import Table

from sampleloans.commands.render import SHORT_VALUE_CHARS, STACKED_LINES_MAX, fitted
from tests.conftest import CURATOR, demo_env, run_at_width

FIELDS = (
    "loan", "agreement", "institution", "PI", "purpose", "transfer type", "status", "period",
    "requested", "approved", "issued", "held", "due", "extensions", "next inventory", "recalled",
    "returned", "settled", "closed",
)  # fmt: skip


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger, read by its curator."""
    return demo_env(tmp_path_factory, CURATOR)


@pytest.mark.parametrize("columns", [80, 100])
def test_loans_show_keeps_every_field_name_whole(env: dict[str, str], columns: int) -> None:
    """A closed loan (its settlement line the longest): each field's name on one line, whole,
    its value beside it; no line holds a piece of a name ("type", "inventory") alone."""
    out = run_at_width(env, "loans", "show", "L-2025-IPGP", columns=columns).stdout
    head = out.split("Items")[0].splitlines()
    named = [line for line in head if line[:1] != " "]
    assert [line.split("  ")[0] for line in named] == list(FIELDS)
    assert all(line.startswith(" ") or line.split("  ")[0] in FIELDS for line in head)
    assert any(line.startswith(" ") and "report received" in line for line in head)


def test_people_list_at_80_columns_is_one_record_per_block(env: dict[str, str]) -> None:
    """At 80 columns the names would stack four lines high: one record per block, every
    name whole on its line; at 120 columns the table, as before."""
    out = run_at_width(env, "people", "list", columns=80).stdout
    assert "┏" not in out
    assert "name         Brown principal investigator (demo)" in out
    assert "role         compliance officer" in out
    wide = run_at_width(env, "people", "list", columns=120).stdout
    assert "┏" in wide and "Brown principal investigator (demo)" in wide


def test_loans_show_hand_overs_at_80_columns_read_as_records(env: dict[str, str]) -> None:
    """The hand-overs' names would stack four lines high at 80 columns: one hand-over per
    block, each name whole; at 120 columns still a table."""
    out = run_at_width(env, "loans", "show", "L-2025-UoC", columns=80).stdout
    handovers = out.split("Hand-overs")[1].split("Consumptions")[0]
    assert "┏" not in handovers
    assert "released by        Li Na (demo curator) (NAOC)" in handovers
    assert "received by        Carsten Münker (UoC)" in handovers
    wide = run_at_width(env, "loans", "show", "L-2025-UoC", columns=120).stdout
    assert "┏" in wide.split("Hand-overs")[1].split("Consumptions")[0]


def _table(short: str) -> Table:
    """A table whose second column holds `short` beside a long free text."""
    table = Table(title="t")
    for heading in ("code", "name", "note"):
        table.add_column(heading)
    table.add_row("CE5C0000YJYX052", short, "a long free-text note " * 6)
    return table


def test_a_short_value_stacked_too_high_switches_to_records() -> None:
    """Service level: a short value that would take more than three lines in its squeezed
    column makes the table records; a long free text alone may wrap as it will."""
    short = "Brown principal investigator (demo)"
    assert len(short) <= SHORT_VALUE_CHARS and STACKED_LINES_MAX == 3
    assert not isinstance(fitted(_table(short), 60), Table)
    assert isinstance(fitted(_table("Li Na"), 60), Table)
    assert isinstance(fitted(_table(short), 200), Table)
