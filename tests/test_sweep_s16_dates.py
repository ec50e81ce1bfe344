"""Sweep s16, dates: a moment in the future given to a read says what was typed and what now is.

`--at` in the future already said "time: 2025-06-02T08:30:00Z is in the future (now is …)";
`--as-of` and `--generated-at` said only "--as-of: is in the future", without the moment read
(an offset or a date alone is read as UTC, so the user needs to see what it became).
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_env, fingerprint

NOW = "2026-04-28T10:00:00Z"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger, read as the compliance officer at the demo's 'now'."""
    return demo_env(tmp_path_factory, "compliance@naoc.example", NOW)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["custody", "history", "--loan", "L-2025-UoC", "--as-of", "{t}"], "--as-of"),
        (
            ["report", "custody", "--loan", "L-2025-UoC", "--as-of", "{t}", "--out", "{o}"],
            "--as-of",
        ),
        (
            ["report", "custody", "--loan", "L-2025-UoC", "--generated-at", "{t}", "--out", "{o}"],
            "--generated-at",
        ),
        (
            ["report", "return", "--loan", "L-2025-UoC", "--generated-at", "{t}", "--out", "{o}"],
            "--generated-at",
        ),
    ],
)
def test_a_future_moment_is_named_with_now(
    demo: dict[str, str], tmp_path: Path, args: list[str], option: str
) -> None:
    """Twelve hours ahead, typed with a +02:00 offset: one line naming the option, the moment
    in UTC and now; exit 1, time order being a rule as for a write's `--at` (sweep s24); no
    file, the ledger unchanged."""
    out = tmp_path / "r.pdf"
    typed = [a.format(t="2026-04-29T00:00:00+02:00", o=out) for a in args]
    before = fingerprint(Path(demo["SAMPLELOANS_DB"]))
    result = CliRunner().invoke(app, typed, env=demo)
    assert result.exit_code == 1, result.output
    hint = "give a moment up to now" if option == "--as-of" else "a report is dated when it is made"
    assert result.stderr.strip().splitlines() == [
        f"Error: {option}: 2026-04-28T22:00:00Z is in the future (now is {NOW}); {hint}"
    ]
    assert not out.exists()
    assert fingerprint(Path(demo["SAMPLELOANS_DB"])) == before


def test_now_itself_is_not_the_future(demo: dict[str, str], tmp_path: Path) -> None:
    """The same moment as now, written with an offset, is accepted by both options."""
    same = "2026-04-28T12:00:00+02:00"
    result = CliRunner().invoke(
        app, ["custody", "history", "--loan", "L-2025-UoC", "--as-of", same], env=demo
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "r.pdf"
    result = CliRunner().invoke(
        app,
        ["report", "custody", "--loan", "L-2025-UoC", "--generated-at", same, "--out", str(out)],
        env=demo,
    )
    assert result.exit_code == 0, result.output
    assert out.exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["custody", "history", "--loan", "L-2025-UoC", "--since", "2025-06-11T01:00:00+02:00",
             "--until", "2025-06-10"],
            "--since: 2025-06-10T23:00:00Z is after --until 2025-06-10T00:00:00Z",
        ),
        (
            ["loans", "list", "--due-after", "2026-01-01T02:00:00+02:00", "--due-before",
             "2026-01-01"],
            "--due-after: 2026-01-01T00:00:00Z is not before --due-before 2026-01-01T00:00:00Z",
        ),
    ],
)  # fmt: skip
def test_a_backward_range_names_both_moments(
    demo: dict[str, str], args: list[str], expected: str
) -> None:
    """A range that does not move forward: both ends as read, in UTC; exit 2, no rows."""
    result = CliRunner().invoke(app, [*args, "--json"], env=demo)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == f"Error: {expected}; give a range that moves forward\n"
