"""Sweep s44 "every document a compliance officer hands on", on a round's extremes.

A loan of 60 samples: its return report (F-75) drew one mass-balance chart 24 pt a sample, 1,510
pt for 60, taller than a page (736 pt), and reportlab's LayoutError ended `report return` in a
traceback: no report could be printed for a loan of more than 27 samples. Now a loan of more
than `BARS_PER_CHART` samples gets one chart per 25 of them, on one scale, each on a page; a loan
of up to 25 keeps its one chart, byte-identical (no new page layout).
"""

import csv
import io
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.reports.returns import BARS_PER_CHART

CURATOR = "li@naoc.example"
PI = "oneill@upc.example"
NOW = "2025-08-01T09:00:00Z"
SAMPLES = 60
# the columns of the shipped catalogue, which `import` takes
CATALOGUE = Path(__file__).resolve().parent.parent / "data" / "samples.csv"


def env_for(ledger: Path) -> dict[str, str]:
    """The CLI environment: the ledger, its curator, a fixed clock."""
    return {
        "SAMPLELOANS_DB": str(ledger),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": NOW,
        "COLUMNS": "120",
        "NO_COLOR": "1",
    }


def cli(env: dict[str, str], *args: str) -> Any:
    """Run the CLI in-process; it must succeed."""
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def codes(count: int) -> list[str]:
    """`count` sample codes of the catalogue `round_ledger` imports, in code order."""
    return [f"CE5C0700YJFM{1000 + i:05d}" for i in range(count)]


def write_catalogue(path: Path, count: int) -> None:
    """A sample catalogue (`import`) of `count` regolith samples of 1, 2, … mg."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CATALOGUE.read_text(encoding="utf-8").splitlines()[0].split(","))
        for index, code in enumerate(codes(count)):
            writer.writerow(
                [code, "CE-5", "scoop", "", "", "regolith", "powder", "research",
                 f"{index + 1} mg", "published", "NAOC N2 cabinet C", "pristine",
                 "illustrative", "illustrative", "all", "test"]
            )  # fmt: skip


def round_ledger(folder: Path, count: int = SAMPLES) -> dict[str, str]:
    """A new ledger (`init`) with a borrower, its PI, a signed agreement and one loan L-BIG of
    `count` samples, issued; the environment to use it."""
    env = env_for(folder / "round.db")
    cli(env, "init", "--curator-email", CURATOR, "--curator-name", "Li Na", "--at", "2025-01-01")
    cli(env, "institutions", "add", "UPC", "--name", "Université Paris Cité & IPGP",
        "--country", "France", "--city", "Paris", "--kind", "borrower")  # fmt: skip
    cli(env, "people", "add", PI, "--name", "Siobhán O'Neill", "--institution", "UPC",
        "--role", "researcher")  # fmt: skip
    cli(env, "agreements", "add", "AG-UPC", "--institution", "UPC", "--term", "5 years",
        "--max-mass", "1800 g", "--purpose", "research",
        "--max-loan-period", "12 months")  # fmt: skip
    cli(env, "agreements", "sign", "AG-UPC", "--signed-by", "Director")
    write_catalogue(folder / "catalogue.csv", count)
    cli(env, "import", str(folder / "catalogue.csv"))
    samples = [arg for code in codes(count) for arg in ("--sample", code)]
    cli(env, "loans", "request", "L-BIG", "--agreement", "AG-UPC", "--pi", PI, *samples)
    cli(env, "loans", "approve", "L-BIG")
    cli(env, "loans", "issue", "L-BIG")
    return env


def page_texts(data: bytes) -> list[str]:
    """Each page's extracted text."""
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def test_the_return_report_of_a_loan_of_60_samples_draws_every_bar(tmp_path: Path) -> None:
    env = round_ledger(tmp_path)
    out = tmp_path / "return.pdf"
    result = cli(env, "report", "return", "--loan", "L-BIG", "--out", str(out))
    assert "Traceback" not in result.output
    pages = page_texts(out.read_bytes())
    charts_at = next(i for i, text in enumerate(pages) if "Mass balance" in text)
    chart_text = "\n".join(pages[charts_at:])
    # one chart per 25 samples, each with its axis, every sample's bar named once
    assert chart_text.count("mass in mg") == -(-SAMPLES // BARS_PER_CHART) == 3
    for code in codes(SAMPLES):
        assert chart_text.count(code) == 1, code
    # the heading stands above the first chart, on its page
    assert pages[charts_at].index("Mass balance") < pages[charts_at].index(codes(1)[0])
    checked = CliRunner().invoke(app, ["verify-document", str(out)], env=env)
    assert checked.exit_code == 0, checked.output


def test_a_loan_of_25_samples_keeps_one_chart(tmp_path: Path) -> None:
    env = round_ledger(tmp_path, BARS_PER_CHART)
    out = tmp_path / "return.pdf"
    cli(env, "report", "return", "--loan", "L-BIG", "--out", str(out))
    assert "\n".join(page_texts(out.read_bytes())).count("mass in mg") == 1
