"""A table that plainly fits is not measured by rich (a cold `loans show` paid for measuring
every table twice); the bound used instead never says "fits" for a table rich draws wider."""

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from sampleloans.commands.render import _surely_fits

# cell texts as our tables hold them: codes, masses, dates, names, markup, wide characters
_WORDS = st.sampled_from(
    [
        "CE5C0000YJYX052",
        "5.000 mg",
        "µg",
        "2025-04-01 09:26",
        "[bold]held[/]",
        "—",
        "✓",
        "嫦娥五号",
        "IPGP",
        "return in transit",
        ":warning:",
        "a\nb",
        "",
    ]
)


def _in_a_cell(text: str) -> st.SearchStrategy[str | Text]:
    """The text as a plain string (rich markup) or as a Text."""
    choices: list[str | Text] = [text, Text(text)]
    return st.sampled_from(choices)


_CELL = st.builds(" ".join, st.lists(_WORDS, max_size=4)).flatmap(_in_a_cell)


def _measured(table: Table) -> int:
    wide = Console(width=10_000)
    return Measurement.get(wide, wide.options, table).maximum


@settings(max_examples=300, deadline=None)
@given(
    headers=st.lists(_CELL, min_size=1, max_size=6),
    rows=st.integers(0, 4),
    data=st.data(),
    width=st.integers(10, 200),
    padding=st.sampled_from([(0, 1), (0, 0), (0, 2)]),
)
def test_a_table_said_to_fit_is_never_drawn_wider(
    headers: list[str | Text], rows: int, data: st.DataObject, width: int, padding: tuple[int, int]
) -> None:
    """Whenever the bound says a table fits, rich's own measurement agrees."""
    table = Table(padding=padding)
    for header in headers:
        table.add_column(header)
    for _ in range(rows):
        cells: list[str | Text] = data.draw(
            st.lists(_CELL, min_size=len(headers), max_size=len(headers))
        )
        table.add_row(*cells)
    if _surely_fits(table, width):
        assert _measured(table) <= width


def test_a_table_with_a_fixed_or_nested_column_is_left_to_rich() -> None:
    """Fixed widths and nested renderables have no plain-text bound: rich measures them."""
    fixed = Table()
    fixed.add_column("a", width=50)
    fixed.add_row("x")
    assert not _surely_fits(fixed, 200)
    nested = Table()
    nested.add_column("a")
    nested.add_row(Table())
    assert not _surely_fits(nested, 200)
    plain = Table()
    plain.add_column("a")
    plain.add_row("x")
    assert _surely_fits(plain, 200) and not _surely_fits(plain, 4)
