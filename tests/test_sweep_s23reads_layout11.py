"""Sweep s23 "reads" (4): report layout 11.

1. The custody and return reports flagged a return past due in their header but not an
   inventory attestation past due, which the inventory report, `status`, `overdue` and the
   statement all flag: layout 11 flags it there too ("Inventory overdue").
2. A mass of 1,000 g or more printed "1731.000 g", no thousands separator: every command and
   layout 11 print "1,731.000 g" (`units.format_mass`).
Files printed in layout 10 (`tests/golden/report-layout10-*.pdf`, made by main at 82866d1) still
verify byte for byte: their words are `Reworded`, rendered in their own layout.
"""

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.readmodels.report import (
    EVERY_REPORT_FLAGS_INVENTORY_LAYOUT,
    GROUPED_MASS_LAYOUT,
    REPORT_LAYOUT,
    Reworded,
    with_grouped_masses,
    words_in,
)
from sampleloans.units import format_mass, masses_grouped
from tests.conftest import COMPLIANCE, CURATOR, GOLDEN, fingerprint
from tests.pdf_reading import layout_of, words

NOW = "2026-05-01T00:00:00Z"  # Osaka's return and inventory were due 2026-04-25 08:00
BIG = "CE5C0000YJYX091"  # a 1500 g sample of `ledger-big-mass-layout10.db`


def run(db: Path, actor: str, *args: str, code: int = 0) -> str:
    """The CLI on `db` at NOW; the exit code checked; stdout."""
    env = {"SAMPLELOANS_DB": str(db), "SAMPLELOANS_NOW": NOW, "COLUMNS": "160"}
    result = CliRunner().invoke(app, ["--as", actor, *args], env=env)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    """A copy of the golden ledger."""
    return Path(shutil.copy(GOLDEN / "ledger-0.1.db", tmp_path / "ledger.db"))


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """A copy of the golden ledger with a 1500 g sample."""
    return Path(shutil.copy(GOLDEN / "ledger-big-mass-layout10.db", tmp_path / "big.db"))


# --- 1. a late inventory in every report's header -------------------------------------------


@pytest.mark.parametrize("kind", ["custody", "return", "inventory"])
def test_every_loan_report_flags_a_late_inventory_as_overdue_lists_it(
    golden: Path, tmp_path: Path, kind: str
) -> None:
    listed = json.loads(run(golden, COMPLIANCE, "overdue", "--institution", "Osaka", "--json"))
    [late] = [row for row in listed if row["what"] == "inventory"]
    out = tmp_path / f"{kind}.pdf"
    run(golden, COMPLIANCE, "report", kind, "--loan", "L-2025-Osaka", "--out", str(out))
    data = out.read_bytes()
    assert layout_of(data) == REPORT_LAYOUT >= EVERY_REPORT_FLAGS_INVENTORY_LAYOUT
    text = words(data)
    assert f"Inventory overdue OVERDUE since 2026-04-25 08:00 UTC, {late['days_late']} days" in text
    assert "Return overdue OVERDUE since 2026-04-25 08:00 UTC" in text
    assert "verified against the ledger" in run(golden, COMPLIANCE, "verify-document", str(out))


def test_a_report_of_a_loan_whose_inventory_is_not_due_flags_none(
    golden: Path, tmp_path: Path
) -> None:
    out = tmp_path / "custody.pdf"
    run(golden, COMPLIANCE, "report", "custody", "--loan", "L-2025-UoC", "--out", str(out))
    assert "Inventory overdue" not in words(out.read_bytes())


@pytest.mark.parametrize("kind", ["custody", "return"])
def test_a_layout_10_report_without_the_flag_still_verifies_byte_for_byte(
    golden: Path, kind: str
) -> None:
    path = GOLDEN / f"report-layout10-{kind}-osaka.pdf"
    data = path.read_bytes()
    assert layout_of(data) == 10
    assert "Inventory overdue" not in words(data) and "Return overdue" in words(data)
    before = fingerprint(golden)
    checked = run(golden, COMPLIANCE, "verify-document", str(path))
    assert "byte-identical to a fresh rendering" in checked
    assert "verified against the ledger" in checked
    assert fingerprint(golden) == before


# --- 2. thousands of grams grouped ------------------------------------------------------------


def test_the_cli_groups_the_thousands_of_grams(big: Path) -> None:
    shown = run(big, CURATOR, "samples", "show", BIG)
    assert "1,500.000 g" in shown and "1500.000 g" not in shown
    listed = run(big, CURATOR, "samples", "list", "--mission", "CE-5", "--csv")
    assert "1500000000" in listed  # CSV: whole micrograms, no separator


def test_a_layout_11_report_groups_them_in_tables_and_words(big: Path, tmp_path: Path) -> None:
    out = tmp_path / "custody.pdf"
    run(big, COMPLIANCE, "report", "custody", "--sample", BIG, "--out", str(out))
    data = out.read_bytes()
    assert layout_of(data) == REPORT_LAYOUT >= GROUPED_MASS_LAYOUT
    text = words(data)
    masses = re.findall(r"[0-9][0-9,]*\.[0-9]+ g", text)
    assert masses and set(masses) == {"1,500.000 g"}, masses
    assert f"{BIG} registered: 1,500.000 g" in text  # an event's words, covered by the digest
    assert "verified against the ledger" in run(big, COMPLIANCE, "verify-document", str(out))


def test_a_layout_10_report_of_1500_g_still_verifies_byte_for_byte(big: Path) -> None:
    path = GOLDEN / "report-layout10-custody-big-mass.pdf"
    data = path.read_bytes()
    assert layout_of(data) == 10
    assert "1500.000 g" in words(data) and "1,500.000 g" not in words(data)
    checked = run(big, COMPLIANCE, "verify-document", str(path))
    assert "byte-identical to a fresh rendering" in checked
    assert "verified against the ledger" in checked


def test_words_with_grouped_masses_keep_each_layouts_own() -> None:
    """Built twice only when a grouped mass shows; earlier rewordings are kept beneath."""
    small = with_grouped_masses(lambda: f"weighed {format_mass(20_000)}")
    assert small == "weighed 20.000 mg"  # nothing to group: a plain string
    grown = with_grouped_masses(lambda: f"weighed {format_mass(1_731_000_000)}")
    assert isinstance(grown, Reworded)
    assert words_in(grown, GROUPED_MASS_LAYOUT) == "weighed 1,731.000 g"
    assert words_in(grown, GROUPED_MASS_LAYOUT - 1) == "weighed 1731.000 g"

    def layered() -> Reworded:
        mass = format_mass(1_731_000_000)
        return Reworded(f"new {mass}", f"old {mass}", 7)

    stacked = with_grouped_masses(layered)
    assert [words_in(stacked, n) for n in (6, 7, 10, 11)] == [
        "old 1731.000 g",
        "new 1731.000 g",
        "new 1731.000 g",
        "new 1,731.000 g",
    ]
    with masses_grouped(False):
        assert format_mass(1_731_000_000) == "1731.000 g"
    assert format_mass(1_731_000_000) == "1,731.000 g"
