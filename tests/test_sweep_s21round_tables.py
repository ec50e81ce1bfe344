"""Sweep s21 "the whole round, as each user": a figure reads the same way in every table.

Before: `balance`, `status` and `loans list` set masses flush right, so their digits line up
and a 100.000 mg stands out from a 10.400 mg; `samples list` and `agreements list` set them
flush left (`17.600 mg ` over `250.000 mg`), `loans list` its sample count, `incidents list`
its incident number and `loans show` its event numbers too, while `custody history` sets its
event numbers flush right. Now every column of masses or whole numbers is flush right, in the
table and in the plain table a long list streams.

And a time in a table reads one way: the column's heading says "(UTC)" once and its cells
give the date and time alone, a back-dated entry's "(recorded …)" too. Before, `overdue`,
`checkpoint list` and the hand-overs and consumptions of `loans show` did so, while
`custody history` said UTC in its heading and again in every cell, `loans show`'s shipments
and extensions, `incidents list` and `loans list` said it in every cell, and a hand-over's
cell read "2025-04-02 10:00 (recorded 2025-04-10 09:00 UTC)".
"""

import re
from pathlib import Path
from typing import Any

import pytest

from sampleloans.services import incidents, samples
from tests.conftest import CURATOR as TEST_CURATOR
from tests.conftest import Run, demo_env, run_at_width

CURATOR = "curator@naoc.example"
FIGURE = re.compile(r"(−|-)?\d[\d,]*(\.\d+)?( (µg|mg|g))?")
"""A cell that is only a figure: a count, an event number, a mass with its unit."""
SEPARATORS = "│┃"
BORDERS = "┏┡├└"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger (the 2025 round), read as the curator."""
    return demo_env(tmp_path_factory, CURATOR)


def tables(text: str) -> list[list[list[str]]]:
    """Each box table of a command's output as its lines of raw cells (padding kept), the
    heading line first."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in text.splitlines():
        if line[:1] in SEPARATORS and line[-1:] in SEPARATORS:
            current.append(re.split(f"[{SEPARATORS}]", line)[1:-1])
        elif line[:1] in BORDERS:
            continue  # a rule between the heading and the rows, or the table's top
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


def left_set_figures(text: str) -> list[str]:
    """The headings of columns holding only figures, some of them not flush right."""
    wrong = []
    for table in tables(text):
        heading, rows = table[0], [row for row in table[1:] if len(row) == len(table[0])]
        for k, name in enumerate(heading):
            cells = [row[k] for row in rows if row[k].strip()]
            if not cells or not all(FIGURE.fullmatch(cell.strip()) for cell in cells):
                continue
            # flush right: every cell ends at the same place (its padding, if any, alone after)
            if len({len(cell) - len(cell.rstrip(" ")) for cell in cells}) > 1:
                wrong.append(name.strip())
    return wrong


READS = [
    ("samples", "list"),
    ("loans", "list"),
    ("agreements", "list"),
    ("institutions", "list"),
    ("overdue",),
    ("status", "--institution", "Osaka"),
    ("balance", "--loan", "L-2025-Osaka"),
    ("balance", "--sample", "CE5C0100YJFM00201"),
    ("loans", "show", "L-2025-Osaka"),
    ("loans", "show", "L-2025-IPGP"),
    ("loans", "show", "L-2025-UoC"),
    ("custody", "history", "--institution", "MNHN"),
    ("custody", "history", "--loan", "L-2025-UoC"),
]


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_every_figure_column_is_flush_right(demo: dict[str, str], args: tuple[str, ...]) -> None:
    """Masses, counts and event numbers line up on their last digit, in every read's tables."""
    result: Any = run_at_width(demo, *args, columns=250)
    assert tables(result.stdout), result.stdout  # the check below must have a table to read
    assert left_set_figures(result.stdout) == [], result.stdout


TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")


def time_columns_saying_utc_twice(text: str) -> list[str]:
    """The headings of columns holding times whose heading does not say '(UTC)', or whose
    cells say UTC again."""
    wrong = []
    for table in tables(text):
        heading, rows = table[0], [row for row in table[1:] if len(row) == len(table[0])]
        for k, name in enumerate(heading):
            cells = [row[k] for row in rows]
            if not any(TIME.search(cell) for cell in cells):
                continue
            if not name.strip().endswith("(UTC)") or any("UTC" in cell for cell in cells):
                wrong.append(name.strip())
    return wrong


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_time_says_utc_once_in_its_heading(demo: dict[str, str], args: tuple[str, ...]) -> None:
    """Every table column of times says '(UTC)' in its heading, and its cells never again."""
    result: Any = run_at_width(demo, *args, columns=250)
    assert time_columns_saying_utc_twice(result.stdout) == [], result.stdout


def test_a_backdated_entry_reads_its_recorded_time_like_its_column(demo: dict[str, str]) -> None:
    """A gift entered after the fact: both times in the heading's UTC, one way."""
    result: Any = run_at_width(demo, "custody", "history", "--institution", "MNHN", columns=250)
    assert re.search(r"│ 2023-04-\d\d \d\d:\d\d +│", result.stdout), result.stdout
    assert re.search(r"│ \(recorded 2025-03-04 12:00\) +│", result.stdout), result.stdout


def test_the_check_sees_a_left_set_mass() -> None:
    """The rule above can fail: a mass column set flush left is named."""
    text = "┃ code ┃ mass       ┃\n│ A    │ 17.600 mg  │\n│ B    │ 250.000 mg │\n"
    assert left_set_figures(text) == ["mass"]


def test_incident_numbers_line_up(run: Run, cli_env: dict[str, str]) -> None:
    """incidents list: the incidents of a two-digit and of a three-digit event, numbers flush
    right (the demo has none)."""
    first = run(
        incidents.report_incident,
        sample="CE5C0200YJFM00112",
        incident_kind="damage",
        description="chipped",
    )
    assert first.seq < 100
    for k in range(100 - first.seq):  # moves in the vault, to reach a three-digit event
        run(samples.move_sample, code="CE5C0300YJFM00307", storage_location=f"shelf {k % 2}")
    later = run(
        incidents.report_incident,
        sample="CE5C0500YJFM00415",
        incident_kind="damage",
        description="chipped",
    )
    assert later.seq >= 100
    listed = run_at_width(
        {**cli_env, "SAMPLELOANS_USER": TEST_CURATOR}, "incidents", "list", columns=250
    )
    assert left_set_figures(listed.stdout) == [], listed.stdout
    assert listed.stdout.splitlines()[0] == "Incidents (2)"  # before: "Incidents"


@pytest.mark.parametrize(
    ("args", "title"),
    [
        (("samples", "list", "--mission", "CE-5", "--state", "held"), "Samples (9)"),
        (("loans", "list"), "Loans (7)"),
        (("loans", "list", "--institution", "Osaka"), "Loans (1)"),
        (("agreements", "list"), "Agreements (7)"),
        (("people", "list", "--institution", "OU"), "People (1)"),
    ],
)
def test_a_list_says_how_many_rows_it_has(
    demo: dict[str, str], args: tuple[str, ...], title: str
) -> None:
    """Every `… list` table is titled with its number of rows (before: `loans list` alone,
    of the lists, said "Loans" and no number, and so did `incidents list` and
    `checkpoint list`)."""
    result: Any = run_at_width(demo, *args, columns=250)
    assert result.stdout.splitlines()[0] == title, result.stdout


def test_checkpoint_list_says_how_many(run: Run, cli_env: dict[str, str], tmp_path: Path) -> None:
    """checkpoint list: titled with its number of checkpoints (before: "Checkpoints"), its
    time under "made (UTC)" without UTC again (`run`: the test's ledger, made)."""
    env = {**cli_env, "SAMPLELOANS_USER": TEST_CURATOR}
    key = str(tmp_path / "key")
    run_at_width(env, "keys", "generate", "--out", key, columns=250)
    run_at_width(env, "checkpoint", "--key", key, columns=250)
    listed = run_at_width(env, "checkpoint", "list", columns=250).stdout
    assert listed.splitlines()[0] == "Checkpoints (1)", listed
    assert time_columns_saying_utc_twice(listed) == [], listed
