"""Sweep "the documents of one loan agree": every document's "Total held" is `status`'s.

With a sample of a loan on its way back, the statement printed a total that included it without
saying so, the inventory report a total that left it out, and `status` the total with the part
on its way back named. From page layout 5 (statement layout 3) the documents print `status`'s
total and name the part on its way back.
"""

from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_env

CURATOR = "curator@naoc.example"
COMPLIANCE = "compliance@naoc.example"
PI = "muenker@uni-koeln.example"
LOAN = "L-2025-UoC"
RETURNED = "CE5C0000YJYX052"  # 30.200 mg held of it; the other sample holds 800.000 mg
NOW = "2026-11-30T12:00:00Z"


def cli(env: dict[str, str], *args: str, code: int = 0) -> Any:
    """Invoke the CLI; check the exit code."""
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result


def words(pdf: Path) -> str:
    """A PDF's text, every run of whitespace one space (a wrapped cell reads as one line)."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(pdf).pages).split())


@pytest.fixture(scope="module")
def returning(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo round, one of the UoC loan's two samples shipped back (not yet received), and a
    signed checkpoint (statements are built on one)."""
    env = {**demo_env(tmp_path_factory, CURATOR, NOW), "COLUMNS": "120"}
    folder = Path(env["SAMPLELOANS_DB"]).parent
    back = ["--container", "N2 box 7", "--seal", "S-0043", "--sample", RETURNED]
    cli(env, "loans", "return", LOAN, *back)
    cli(env, "keys", "generate", "--out", str(folder / "naoc.key"), "--name", "naoc")
    cli(env, "checkpoint", "--key", str(folder / "naoc.key"))
    return env


def test_status_names_the_part_on_its_way_back(returning: dict[str, str]) -> None:
    """What the documents must agree with: the total held and the part on its way back."""
    shown = cli(returning, "status", "--loan", LOAN).stdout
    assert "held 830.200 mg (30.200 mg of it on its way back)" in shown


def test_the_inventory_report_prints_status_total(
    returning: dict[str, str], tmp_path: Path
) -> None:
    """The inventory report's Total held is `status`'s, the part on its way back named; what
    the PI is asked to measure stays what is in their hands."""
    out = tmp_path / "inventory.pdf"
    cli(returning, "--as", COMPLIANCE, "report", "inventory", "--loan", LOAN, "--out", str(out))
    text = words(out)
    assert "Total held 30.200 mg of it on its way back 830.200 mg" in text
    assert "In the PI's hands 800.000 mg" in text
    assert "Total held 800.000 mg" not in text


def test_the_statement_prints_status_total(returning: dict[str, str], tmp_path: Path) -> None:
    """The statement's Total held is `status`'s, and says what of it is on its way back."""
    out = tmp_path / "statements"
    cli(returning, "--as", COMPLIANCE, "report", "statement", "--pi", PI, "--out", str(out))
    (pdf,) = out.glob("*.pdf")
    text = words(pdf)
    assert "Total held 30.200 mg of it on its way back 830.200 mg" in text
    verified = cli(returning, "--as", COMPLIANCE, "verify-document", str(pdf))
    assert "byte-identical to a fresh rendering" in verified.stdout


def test_a_loan_with_nothing_on_its_way_back_prints_one_total(
    returning: dict[str, str], tmp_path: Path
) -> None:
    """No sample travelling: one Total held row, naming nothing on its way back."""
    out = tmp_path / "inventory.pdf"
    loan = ["--loan", "L-2025-Osaka", "--out", str(out)]
    cli(returning, "--as", COMPLIANCE, "report", "inventory", *loan)
    text = words(out)
    assert "Total held 112.400 mg" in text
    assert "on its way back 1" not in text and "In the PI's hands" not in text
