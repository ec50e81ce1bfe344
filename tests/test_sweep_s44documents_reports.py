"""Sweep s44 "every document a compliance officer hands on", on a round's extremes.

A loan of 60 samples: its return report (F-75) drew one mass-balance chart 24 pt a sample, 1,510
pt for 60, taller than a page (736 pt), and reportlab's LayoutError ended `report return` in a
traceback: no report could be printed for a loan of more than 27 samples. Now a loan of more
than `BARS_PER_CHART` samples gets one chart per 25 of them, on one scale, each on a page; a loan
of up to 25 keeps its one chart, byte-identical (no new page layout).

A table cell broke a line at any space, so a mass left its unit ("… CE5C0800YJFM00003-X1
32.000" at a line's end, "mg" on the next) in the custody report's and the statement's event
descriptions; from report layout 21 and statement layout 16 a mass stays with its unit and a
time with its date, as the terminal tables keep them (`tables.whole_figures`); the return
report's chart of a loan of grams counts in grams; the custody report of NAOC names it the
"Curating institution", no longer the "Borrowing institution".

A name in Urdu (SUPARCO is in Pakistan), which the README accepts, printed blank: the report
font has no Arabic glyph, so each letter was its missing glyph, invisible, code 0 in the text.
From report layout 21 and statement layout 16 what the report font lacks is drawn in DejaVu Sans
(shipped beside it), the letters joined and the words in reading order (`reports/scripts.py`).
"""

import csv
import io
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans import db, reports
from sampleloans.cli import app
from sampleloans.dates import from_iso
from sampleloans.ledger.envelope import Context
from sampleloans.readmodels.report import OTHER_SCRIPTS_LAYOUT, PARTY_KIND_LAYOUT
from sampleloans.reports import tables
from sampleloans.reports.returns import BARS_PER_CHART
from sampleloans.reports.scripts import shaped, visual
from sampleloans.services.reporting import build_report, make_request

CURATOR = "li@naoc.example"
PI = "oneill@upc.example"
NOW = "2025-08-01T09:00:00Z"
SAMPLES = 60
SPLIT = "CE5C0800YJFM00003"  # a sample split in the vault, whose split reads as in a real round
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


def custody_in_layout(
    folder: Path, page_layout: int, *, loan: str | None = None, institution: str | None = None
) -> bytes:
    """The custody report of a loan or an institution of `folder`'s round ledger, as an earlier
    release printed it in `page_layout` (service level: no command prints an old one)."""
    engine = db.open_engine(db.url_for_path(folder / "round.db"))
    try:
        with db.transaction(engine, write=False) as session:
            context = Context(actor=CURATOR, os_user="tester", now=from_iso(NOW))
            request = make_request("custody", loan=loan, institution=institution)
            report = build_report(session, context, request, generated_at=from_iso(NOW))
    finally:
        engine.dispose()
    return reports.render(replace(report, layout=page_layout))


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


# A line of a PDF's text that ends on a number and the next that starts with a mass unit, or
# one ending on a date whose next starts with its time: a figure broken over two lines.
BROKEN_FIGURE = re.compile(r"[0-9][0-9,.]*\n(?:µg|mg|g)\b|[0-9]{4}-[0-9]{2}-[0-9]{2}\n[0-9]{2}:")


def make_checkpoint(env: dict[str, str], folder: Path) -> None:
    """A key pair and a checkpoint of the head, kept in the ledger (a statement needs one)."""
    key = folder / "lender.key"
    cli(env, "keys", "generate", "--out", str(key), "--name", "naoc.example/ledger")
    cli(env, "checkpoint", "--key", str(key))


def test_no_table_cell_breaks_a_mass_from_its_unit(tmp_path: Path) -> None:
    """Report layout 21, statement layout 16: a split described in one cell ("… into
    CE5C0800YJFM00003-01 32.000 mg, CE5C0800YJFM00003-X1 32.000 mg"), the issue of 60 samples
    with their masses, wrap between figures, never inside one (layout 20 ended the split's line
    on "32.000" and began the next with "mg")."""
    env = round_ledger(tmp_path)
    cli(env, "samples", "register", SPLIT, "--mission", "CE-5", "--mass", "64 mg",
        "--origin", "scoop", "--material", "basalt clast", "--form", "rock fragment",
        "--purpose", "research", "--location", "NAOC N2 cabinet D")  # fmt: skip
    cli(env, "samples", "split", SPLIT, "--child", "-01=32mg", "--child", "-X1=32mg")
    make_checkpoint(env, tmp_path)
    custody, lineage = tmp_path / "custody.pdf", tmp_path / "lineage.pdf"
    statements = tmp_path / "statements"
    cli(env, "report", "custody", "--loan", "L-BIG", "--out", str(custody))
    cli(env, "report", "custody", "--sample", SPLIT, "--out", str(lineage))
    cli(env, "report", "statement", "--institution", "UPC", "--out", str(statements))
    for pdf in (custody, lineage, *sorted(statements.iterdir())):
        text = "\n".join(page_texts(pdf.read_bytes()))
        assert BROKEN_FIGURE.findall(text) == [], pdf.name
        checked = CliRunner().invoke(app, ["verify-document", str(pdf)], env=env)
        assert checked.exit_code == 0, checked.output


def test_a_figure_wider_than_its_column_still_breaks(tmp_path: Path) -> None:
    """A mass or time kept whole only where it fits a line: one wider than its column breaks at
    its space as before, never between its characters."""
    measure = tables.measurer()
    narrow = measure("1,700.000001")
    assert tables.wrap_lines("1,700.000001 g", narrow, measure) == ["1,700.000001", "g"]
    room = measure("received 2025-01-12 09:")
    assert tables.wrap_lines("received 2025-01-12 09:00 UTC, seal intact", room, measure) == [
        "received",
        "2025-01-12 09:00 UTC,",
        "seal intact",
    ]
    with tables.whole_figures(False):  # the layouts before: a line breaks at any space
        assert tables.wrap_lines("received 2025-01-12 09:00 UTC", room, measure)[0] == (
            "received 2025-01-12"
        )


def test_the_chart_of_a_loan_of_grams_counts_in_grams(tmp_path: Path) -> None:
    """Report layout 21: the chart of a loan of 1,700 g reads "mass in g" under ticks "500",
    "1,000", "1,500" (layout 20: "mass in mg" under "500000", "1000000", "1500000"); a loan of
    milligrams still counts in mg."""
    env = round_ledger(tmp_path, 2)
    cli(env, "samples", "register", "CE5C0800YJFM00002", "--mission", "CE-5",
        "--mass", "1700 g", "--origin", "scoop", "--material", "regolith", "--form", "powder",
        "--purpose", "research", "--location", "NAOC N2 vault")  # fmt: skip
    cli(env, "loans", "request", "L-G", "--agreement", "AG-UPC", "--pi", PI,
        "--sample", "CE5C0800YJFM00002")  # fmt: skip
    cli(env, "loans", "approve", "L-G")
    cli(env, "loans", "issue", "L-G")
    grams, milligrams = tmp_path / "grams.pdf", tmp_path / "milligrams.pdf"
    cli(env, "report", "return", "--loan", "L-G", "--out", str(grams))
    cli(env, "report", "return", "--loan", "L-BIG", "--out", str(milligrams))
    chart_of_grams = " ".join(page_texts(grams.read_bytes())).split("Mass balance")[-1]
    assert "mass in g" in chart_of_grams and "1,500" in chart_of_grams
    assert "mass in mg" not in chart_of_grams and "1500000" not in chart_of_grams
    chart_of_mg = " ".join(page_texts(milligrams.read_bytes())).split("Mass balance")[-1]
    assert "mass in mg" in chart_of_mg


def test_an_institutions_custody_report_names_it_by_its_kind(tmp_path: Path) -> None:
    """Report layout 21: the custody report of NAOC, the curating institution, calls it
    "Curating institution" (layout 20: "Borrowing institution", of every institution); a
    borrower's still reads "Borrowing institution"; a layout-20 file keeps its words and
    verifies byte for byte."""
    env = round_ledger(tmp_path, 1)
    naoc, upc = tmp_path / "naoc.pdf", tmp_path / "upc.pdf"
    cli(env, "report", "custody", "--institution", "NAOC", "--out", str(naoc))
    cli(env, "report", "custody", "--institution", "UPC", "--out", str(upc))
    assert "Curating institution" in page_texts(naoc.read_bytes())[0]
    assert "Borrowing institution" not in page_texts(naoc.read_bytes())[0]
    assert "Borrowing institution" in page_texts(upc.read_bytes())[0]
    older = tmp_path / "naoc-20.pdf"
    older.write_bytes(custody_in_layout(tmp_path, PARTY_KIND_LAYOUT - 1, institution="NAOC"))
    assert "Borrowing institution" in page_texts(older.read_bytes())[0]
    for pdf in (naoc, older):
        checked = CliRunner().invoke(app, ["verify-document", str(pdf)], env=env)
        assert checked.exit_code == 0 and "byte-identical" in checked.output, checked.output


URDU_PI = "khan@sup.example"
URDU_NAME = "محمد عمران خان"
URDU_INSTITUTION = "سپارکو پاکستان خلائی تحقیقاتی کمیشن"


def urdu_ledger(folder: Path) -> dict[str, str]:
    """`round_ledger` with a Pakistani borrower and PI named in Urdu, and a loan L-SUP to them
    of one sample, issued; a checkpoint of it kept."""
    env = round_ledger(folder, 2)
    cli(env, "institutions", "add", "SUP2", "--name", URDU_INSTITUTION, "--country", "Pakistan",
        "--city", "کراچی", "--kind", "borrower")  # fmt: skip
    cli(env, "people", "add", URDU_PI, "--name", URDU_NAME, "--institution", "SUP2",
        "--role", "researcher")  # fmt: skip
    cli(env, "agreements", "add", "AG-SUP2", "--institution", "SUP2", "--term", "5 years",
        "--max-mass", "1 g", "--purpose", "research", "--max-loan-period", "12 months")  # fmt: skip
    cli(env, "agreements", "sign", "AG-SUP2", "--signed-by", "Director")
    write_catalogue(folder / "more.csv", 3)
    lines = (folder / "more.csv").read_text(encoding="utf-8").splitlines()
    (folder / "more.csv").write_text("\n".join([lines[0], lines[3]]) + "\n", encoding="utf-8")
    cli(env, "import", str(folder / "more.csv"))
    cli(env, "loans", "request", "L-SUP", "--agreement", "AG-SUP2", "--pi", URDU_PI,
        "--sample", codes(3)[2])  # fmt: skip
    cli(env, "loans", "approve", "L-SUP")
    cli(env, "loans", "issue", "L-SUP")
    make_checkpoint(env, folder)
    return env


def assert_drawn(name: str, text: str) -> None:
    """`text` ends with the right-to-left `name` as drawn: each word shaped (pypdf gives its
    letters in either order), the words from the right, the last word leftmost."""
    words = name.split()[::-1]  # as drawn left to right
    tail = text.split()[-len(words) :]
    for drawn, word in zip(tail, words, strict=True):
        assert shaped(word) in (drawn, drawn[::-1]), (drawn, word)


def drawn_words(pdf: Path) -> str:
    """A PDF's text with every run of white space (a no-break space too) one space."""
    return " ".join("\n".join(page_texts(pdf.read_bytes())).split())


def test_an_urdu_name_is_drawn_joined_and_in_reading_order(tmp_path: Path) -> None:
    """Report layout 21, statement layout 16: the PI's and the institution's Urdu names are
    drawn (DejaVu Sans), letters joined, words right to left; layout 20 wrote the report font's
    missing glyph for each letter, nothing visible, code 0 in the text."""
    env = urdu_ledger(tmp_path)
    custody, statements = tmp_path / "custody.pdf", tmp_path / "statements"
    cli(env, "report", "custody", "--loan", "L-SUP", "--out", str(custody))
    cli(env, "report", "statement", "--institution", "SUP2", "--out", str(statements))
    (statement,) = statements.iterdir()
    for pdf in (custody, statement):
        text = drawn_words(pdf)
        assert "\x00" not in text, pdf.name
        assert_drawn(URDU_NAME, text[: text.index(f" — {URDU_PI}")])
        assert_drawn(URDU_INSTITUTION, text[: text.index(" — SUP2")])
        checked = CliRunner().invoke(app, ["verify-document", str(pdf)], env=env)
        assert checked.exit_code == 0 and "byte-identical" in checked.output, checked.output


def test_a_layout_20_report_of_an_urdu_name_re_renders_as_printed(tmp_path: Path) -> None:
    """A custody report printed in layout 20 (the name blank) verifies byte for byte still."""
    env = urdu_ledger(tmp_path)
    older = tmp_path / "custody-20.pdf"
    older.write_bytes(custody_in_layout(tmp_path, OTHER_SCRIPTS_LAYOUT - 1, loan="L-SUP"))
    assert "\x00" in "".join(page_texts(older.read_bytes()))  # as layout 20 drew it
    checked = CliRunner().invoke(app, ["verify-document", str(older)], env=env)
    assert checked.exit_code == 0 and "byte-identical" in checked.output, checked.output


def test_shaping_and_order() -> None:
    """Service level (`reports.scripts`): each letter in the form its neighbours give it, a
    lam-alef ligature, right-to-left words reversed, a stop before a Latin word kept after."""
    assert shaped("محمد") == "\ufee3\ufea4\ufee4\ufeaa"  # initial, medial, medial, final
    assert shaped("خان") == "\ufea7\ufe8e\ufee5"  # alef joins only before: noon isolated
    assert shaped("لا") == "\ufefb"  # lam-alef, isolated
    assert visual("a محمد خان, b") == "a \ufee5\ufe8e\ufea7 \ufeaa\ufee4\ufea4\ufee3, b"
    assert visual("Münker 中国") == "Münker 中国"  # no right-to-left word: as it is
