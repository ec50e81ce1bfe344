"""Page layout 6 makes full-width tables 12 pt narrower (they end at the right margin): the
columns whose words the demo printed whole in layout 5 still hold them whole."""

import pytest

from sampleloans.reports.custody import (
    EVENT_HEADER,
    FRAMED_EVENT_WIDTHS,
    FRAMED_SIGNATURE_WIDTHS,
    SIGNATURE_CELL,
    SIGNATURE_HEADER,
)
from sampleloans.reports.layout import MARGIN, PAGE, full_width
from sampleloans.reports.tables import CELL_PADDING, measurer

WHOLE = [
    (FRAMED_EVENT_WIDTHS, EVENT_HEADER.index("Time"), "2025-04-24 08:00 UTC"),
    (FRAMED_EVENT_WIDTHS, EVENT_HEADER.index("Event"), "Person added"),
    (FRAMED_EVENT_WIDTHS, EVENT_HEADER.index("Container / seal"), "/ SL-Osaka-01"),
    (FRAMED_EVENT_WIDTHS, EVENT_HEADER.index("Mass"), "999.999 mg"),
    (FRAMED_SIGNATURE_WIDTHS, SIGNATURE_HEADER.index("Hand-over"), "2025-04-24 08:00 UTC"),
    (FRAMED_SIGNATURE_WIDTHS, SIGNATURE_HEADER.index("Released by"), "Li Na (demo curator) (NAOC)"),
    (FRAMED_SIGNATURE_WIDTHS, SIGNATURE_HEADER.index("Received by"), "Li Na (demo curator) (NAOC)"),
    (FRAMED_SIGNATURE_WIDTHS, 3, max(SIGNATURE_CELL.split("\n"), key=len)),
]


def test_a_full_width_table_ends_at_the_right_margin() -> None:
    """The frame starts 6 pt in from the left margin; a table as wide as full_width() ends 6 pt
    in from the right one (before: as wide as the page between its margins, 6 pt past it)."""
    assert MARGIN + 6 + full_width() == pytest.approx(PAGE[0] - MARGIN - 6)


@pytest.mark.parametrize(("widths", "column", "text"), WHOLE)
def test_a_column_of_layout_6_holds_its_widest_demo_word_whole(
    widths: tuple[float, ...], column: int, text: str
) -> None:
    """Each column keeps room for what it printed whole before, and the columns fill the width."""
    assert measurer()(text) <= full_width() * widths[column] - 2 * CELL_PADDING
    assert sum(widths) == pytest.approx(1.0)
