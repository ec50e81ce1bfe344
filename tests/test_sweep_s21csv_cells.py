"""Sweep s21-csv: every command's `--csv` is one fact a cell, by one rule (`render.Fact`).

Before, only `loans list --csv` was: `samples list`, `balance`, `agreements list`,
`incidents list` and `overdue` wrote `20.000 mg`, `✓`, `—` and `2026-04-25 08:00` in their
cells, which a spreadsheet can neither sum, sort nor read as a time. The commands are found in
the CLI itself, so a new command with `--csv` is held to the rule without touching this file.
"""

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_with_a_return_in_flight

VAULT_SAMPLE = "CE5C0000YJBP005"
LOAN_SAMPLE = "CE5C0200YJFM00112"  # held on L-2025-OU
FORMULA = "=HYPERLINK(1)"  # an incident's description a spreadsheet would run

EXTRA_RUNS = (("balance", "--loan", "L-2025-OU"), ("balance", "--sample", LOAN_SAMPLE))
"""Other shapes of a command's CSV than its run without options (a loan's items, a lineage)."""

UNIT_AFTER_NUMBER = re.compile(r"\d\s*(?:µg|ug|mg|kg|g|days?|UTC)\b")
DATE_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}")
MARKS = ("—", "✓", "✗")


def _csv_commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command of the CLI that takes `--csv`, as the words that run it, sorted."""
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):  # a sub-app (Typer's group, loaded when asked)
            yield from _csv_commands(command, (*path, name))
        elif any("--csv" in getattr(p, "opts", ()) for p in command.params):
            yield (*path, name)


CSV_COMMANDS = tuple(_csv_commands(typer.main.get_command(app)))


def _invoke(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo with a return in flight, an open incident on a loan (described as a formula)
    and a resolved one on a vault sample (no loan: a `—` in its table)."""
    env = {**demo_with_a_return_in_flight(tmp_path_factory, CURATOR), "COLUMNS": "200"}
    report = ("--as", CURATOR, "incidents", "report", "--kind", "damage")
    _invoke(env, *report, "--sample", LOAN_SAMPLE, "--description", FORMULA, "--mass-lost", "1 mg")
    _invoke(env, *report, "--sample", VAULT_SAMPLE, "--description", "a chip came off")
    listed = _invoke(env, "incidents", "list", "--json")
    vault_incident = next(row for row in _json(listed) if row["sample_code"] == VAULT_SAMPLE)
    _invoke(env, "incidents", "resolve", str(vault_incident["seq"]), "--resolution", "reweighed")
    return env


def _json(text: str) -> list[dict[str, object]]:
    rows = json.loads(text)
    assert isinstance(rows, list)
    return rows


def _tables(text: str) -> list[list[list[str]]]:
    """A CSV's tables (several are parted by one empty line), each its header then its rows."""
    tables: list[list[list[str]]] = [[]]
    for row in csv.reader(io.StringIO(text)):
        if row:
            tables[-1].append(row)
        else:
            tables.append([])
    return [table for table in tables if table]


def _runs() -> list[tuple[str, ...]]:
    return [*CSV_COMMANDS, *EXTRA_RUNS]


def test_the_commands_are_found_in_the_cli() -> None:
    expected = {("loans", "list"), ("samples", "list"), ("balance",), ("overdue",)}
    assert expected <= set(CSV_COMMANDS), CSV_COMMANDS


@pytest.mark.parametrize("args", _runs(), ids=" ".join)
def test_every_csv_is_one_fact_a_cell(env: dict[str, str], args: tuple[str, ...]) -> None:
    tables = _tables(_invoke(env, *args, "--csv"))
    assert tables, args
    for header, *rows in tables:
        assert len(header) == len(set(header)), header
        for row in rows:
            assert len(row) == len(header), (header, row)
            for heading, cell in zip(header, row, strict=True):
                _assert_one_fact(heading, cell)


def _assert_one_fact(heading: str, cell: str) -> None:
    """A cell holds a value a spreadsheet reads: no unit after a number, no mark for a
    reader, a time in ISO 8601 UTC, a mass a whole number of micrograms."""
    assert not UNIT_AFTER_NUMBER.search(cell), (heading, cell)
    # a recorded name may hold a dash ("CAS — Lunar Sample Laboratory"); a mark never does
    assert cell.strip() not in MARKS and not cell.endswith((" ✓", " ✗")), (heading, cell)
    if "(µg)" in heading:
        assert re.fullmatch(r"-?\d+", cell), (heading, cell)
    if ("(UTC)" in heading and cell) or DATE_LIKE.match(cell):
        when = datetime.fromisoformat(cell)  # raises unless ISO 8601
        assert cell.endswith("Z") and when.utcoffset() == timedelta(0), (heading, cell)


def test_a_joined_cell_is_its_facts_and_a_formula_stays_text(env: dict[str, str]) -> None:
    rows = list(csv.DictReader(io.StringIO(_invoke(env, "incidents", "list", "--csv"))))
    on_loan = next(row for row in rows if row["sample"] == LOAN_SAMPLE)
    in_vault = next(row for row in rows if row["sample"] == VAULT_SAMPLE)
    assert (on_loan["kind"], on_loan["description"]) == ("damage", "'" + FORMULA)
    assert (on_loan["mass lost (µg)"], on_loan["status"], on_loan["resolution"]) == (
        "1000",
        "open",
        "",
    )
    assert (in_vault["loan"], in_vault["status"], in_vault["resolution"]) == (
        "",
        "resolved",
        "reweighed",
    )


def test_the_tables_keep_their_words(env: dict[str, str]) -> None:
    table = _invoke(env, "incidents", "list")
    assert "damage: a chip came off" in table and "resolved: reweighed" in table
    assert "1.000 mg" in table and "—" in table
    assert "✓" in _invoke(env, "balance", "--loan", "L-2025-OU")


def test_balance_names_the_mass_on_its_way_back_in_its_own_column(env: dict[str, str]) -> None:
    out = _invoke(env, "balance", "--loan", "L-2025-OU", "--csv")
    rows = {row["sample"]: row for row in csv.DictReader(io.StringIO(out))}
    assert rows["total"]["on its way back (µg)"] == "20000"
    assert rows["total"]["balanced"] == "yes"
    assert rows[LOAN_SAMPLE]["on its way back (µg)"] == "0"


def test_a_frozen_sample_is_its_state_and_a_yes(env: dict[str, str]) -> None:
    table = _invoke(env, "samples", "list", "--limit", "0")
    assert "held (frozen)" in table  # the open incident on LOAN_SAMPLE freezes it
    for args in (("samples", "list"), ("balance", "--loan", "L-2025-OU")):
        out = _invoke(env, *args, "--csv")
        rows = {row.get("code") or row["sample"]: row for row in csv.DictReader(io.StringIO(out))}
        assert (rows[LOAN_SAMPLE]["state"], rows[LOAN_SAMPLE]["frozen"]) == ("held", "yes"), args
        assert rows[VAULT_SAMPLE if args[0] == "samples" else "total"]["frozen"] in ("no", "")
