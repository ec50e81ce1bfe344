"""Sweep s19 "small classes": a mass and its unit stay on one line on a narrow terminal.

`samples show` on a 45-column terminal printed "… + 0 / µg consumed", and `status` on 50
columns "20.000 / mg" in its issued and held columns: rich wraps at any space, the one inside a
mass too. A table too wide for the terminal is now wrapped between words by us, each mass with
its unit one word (commands/render.py); `samples show` and `agreements show` are fitted as the
lists are.
"""

import re

import pytest

from tests.conftest import demo_env, run_at_width

UNIT_ALONE = re.compile(r"│\s*(?:µg|mg|g)\b")
"""A table line whose cell starts with a unit: the number it belongs to is on the line above."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger, read by its curator."""
    return demo_env(tmp_path_factory, "curator@naoc.example")


def _masses_split(text: str) -> list[str]:
    """The lines of `text` where a mass's unit begins a cell (cut from its number)."""
    return [line for line in text.splitlines() if UNIT_ALONE.search(line)]


@pytest.mark.parametrize("columns", range(40, 66))
def test_samples_show_never_cuts_a_mass_from_its_unit(demo: dict[str, str], columns: int) -> None:
    shown = run_at_width(demo, "samples", "show", "CE5C0300YJFM00307", columns=columns).stdout
    assert _masses_split(shown) == [], shown
    assert "20.000 mg on loan" in " ".join(shown.replace("│", " ").split())
    assert max(len(line) for line in shown.splitlines()) <= columns


@pytest.mark.parametrize("columns", range(47, 60))  # 47: every column's longest word
def test_status_keeps_each_mass_whole(demo: dict[str, str], columns: int) -> None:
    shown = run_at_width(demo, "status", "--loan", "L-2025-OU", columns=columns).stdout
    assert _masses_split(shown) == [], shown
    assert "19.500 mg" in shown


@pytest.mark.parametrize("columns", range(40, 60, 3))
def test_agreements_show_keeps_each_mass_whole(demo: dict[str, str], columns: int) -> None:
    shown = run_at_width(demo, "agreements", "show", "AG-2025-OU", columns=columns).stdout
    assert _masses_split(shown) == [], shown


def test_the_mass_pattern_is_format_mass() -> None:
    from sampleloans.commands.render import MASS
    from sampleloans.units import format_mass

    for mass_ug in (0, 7, 999, 1_000, 59_500, 1_000_000, 1_731_000_001):
        assert MASS.fullmatch(format_mass(mass_ug)), format_mass(mass_ug)
    assert not MASS.search("L-2025-OU 5 g1")


def test_a_fitted_cell_keeps_its_style() -> None:
    from rich.table import Table
    from rich.text import Text

    from sampleloans.commands.render import fit_to_width

    table = Table()
    table.add_column("what")
    table.add_column("mass")
    table.add_row("a" * 30, Text("20.000 mg on loan + 0 µg split", style="red"))
    fitted = fit_to_width(table, 30)
    [cell] = list(fitted.columns[1].cells)
    assert isinstance(cell, Text) and cell.spans  # each line keeps the cell's style
    assert {span.style for span in cell.spans} == {"red"}
    assert all(not line.startswith(("mg", "µg")) for line in cell.plain.split("\n"))
