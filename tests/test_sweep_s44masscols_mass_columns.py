"""Sweep "every microgram printed, on one line": a mass of 1,000 g or more with microgram digits
("1,000.999999 g") was wider than the narrow Mass columns of the custody report (items, chain)
and the return report (mass accounting): the number itself broke, "1,000." at a line's end and
"999999 g" on the next. From report layout 21 every Mass column holds the widest mass the ledger
accepts, "9,999.999999 g", on one line (`tables.masses_fitted`); the return report of a loan
with splits, nine masses beside a sample code, prints its accounting in two tables.
"""

import re
import shlex
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.reports import tables
from sampleloans.reports.layout import full_width
from sampleloans.reports.returns import ACCOUNTING_WIDTHS
from sampleloans.units import MAX_MASS_UG, format_mass
from tests.i15_statement_helpers import env_for

CURATOR = "li@naoc.example"
PI = "anand@open.example"
BIG, MIX, SMALL = "CE5C0200YJFM00001", "CE5C0200YJFM00002", "CE5C0200YJFM00003"
# masses of grams with microgram digits, none a prefix or suffix of another
MASSES = ("1,000.999999 g", "700.000001 g", "500.000001 g", "12.345678 g", "2.345677 g")
REGISTER = (
    "--mission CE-5 --origin scoop --material regolith --form powder --purpose research "
    "--location 'N2 cabinet C' --at 2025-04-02"
)
AGREEMENT = (
    "--institution OU --term '5 years' --max-mass '10000 g' --purpose research "
    "--max-loan-period '12 months' --at 2025-04-10"
)
A_MASS = re.compile(r"[0-9][0-9,]*(?:\.[0-9]+)? (?:µg|mg|g)")


def _ok(env: dict[str, str], who: str, command: str) -> str:
    """Run one command line as typed, by `who`; it must succeed; its stdout."""
    done = CliRunner().invoke(app, ["--as", who, *shlex.split(command)], env=env)
    assert done.exit_code == 0, (command, done.stdout, done.stderr)
    return done.stdout


def _lend(env: dict[str, str], loan: str, agreement: str, samples: str) -> None:
    """Request, approve, issue and ship a loan, and the PI receives it."""
    _ok(env, CURATOR, f"agreements add {agreement} {AGREEMENT}")
    _ok(env, CURATOR, f"agreements sign {agreement} --signed-by CNSA --at 2025-04-24")
    _ok(
        env,
        CURATOR,
        f"loans request {loan} --agreement {agreement} --pi {PI} {samples} --at 2025-04-25",
    )
    _ok(env, CURATOR, f"loans approve {loan} --at 2025-04-26")
    _ok(env, CURATOR, f"loans issue {loan} --at 2025-05-01")
    _ok(env, CURATOR, f"loans ship {loan} --container box --seal SL-{loan} --at 2025-05-02")
    _ok(env, PI, f"loans receive {loan} --seal-intact --condition pristine --at 2025-05-08")


@pytest.fixture(scope="module")
def heavy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A ledger of masses of grams with microgram digits: L-BIG holds 1,000.999999 g, overdue;
    L-MIX had 700.000001 g and 12.345678 g, used 500.000001 g, split 2.345677 g off, came back."""
    folder = tmp_path_factory.mktemp("heavy")
    env = env_for(folder / "lab.db", CURATOR, "2026-12-03T10:00:00Z")
    _ok(env, CURATOR, f"init --curator-email {CURATOR} --curator-name 'Li Na' --at 2025-04-01")
    for code, mass in ((BIG, "1000.999999g"), (MIX, "700.000001g"), (SMALL, "12.345678g")):
        _ok(env, CURATOR, f"samples register {code} --mass {mass} {REGISTER}")
    person = "--name 'Mahesh Anand' --institution OU --role researcher --at 2025-04-02"
    _ok(env, CURATOR, f"people add {PI} {person}")
    _lend(env, "L-BIG", "AG-1", f"--sample {BIG}")
    _lend(env, "L-MIX", "AG-2", f"--sample {MIX} --sample {SMALL}")
    used = f"--sample {MIX} --technique SIMS --mass 500.000001g --non-destructive"
    _ok(env, PI, f"loans consume L-MIX {used} --at 2025-06-01")
    _ok(env, PI, f"loans split L-MIX --sample {SMALL} --child -G1 --mass 2.345677g --at 2025-06-02")
    _ok(env, CURATOR, "loans return L-MIX --container box --seal SL-R --at 2025-06-10")
    weighed = f"--weighed {MIX}=200g --weighed {SMALL}=10.000001g --weighed {SMALL}-G1=2.345677g"
    accept = f"loans accept-return L-MIX --seal-intact --condition unchanged {weighed}"
    _ok(env, CURATOR, f"{accept} --at 2025-06-15")
    _ok(env, CURATOR, f"keys generate --out {folder / 'naoc.key'} --name naoc")
    _ok(env, CURATOR, f"checkpoint --key {folder / 'naoc.key'}")
    return env


def _documents(env: dict[str, str], out: Path) -> list[Path]:
    """The four reports of both loans, of the institution and a sample, and the statement."""
    for loan in ("L-BIG", "L-MIX"):
        for kind in ("custody", "return", "inventory"):
            _ok(env, CURATOR, f"report {kind} --loan {loan} --out {out / f'{kind}-{loan}.pdf'}")
    _ok(env, CURATOR, f"report custody --institution OU --out {out / 'custody-OU.pdf'}")
    _ok(env, CURATOR, f"report custody --sample {SMALL} --out {out / 'custody-sample.pdf'}")
    _ok(env, CURATOR, f"report overdue --institution OU --out {out / 'overdue.pdf'}")
    _ok(env, CURATOR, f"report statement --pi {PI} --out {out / 'statements'}")
    return sorted(out.rglob("*.pdf"))


def _lines(pdf: Path) -> list[str]:
    """The lines of a PDF's text, page after page."""
    return [line for page in PdfReader(pdf).pages for line in page.extract_text().splitlines()]


def _broken(lines: list[str], mass: str) -> Iterator[str]:
    """Each place a line ends on the start of `mass` and the next begins with its rest."""
    for this, following in pairwise(lines):
        for cut in range(1, len(mass)):
            head, rest = mass[:cut].rstrip(), mass[cut:].lstrip()
            starts = this.endswith(head) and not re.search(r"[0-9.,]$", this[: -len(head)])
            if starts and following.startswith(rest):
                yield f"{this!r} / {following!r}"


def test_every_mass_is_printed_whole_on_one_line(heavy: dict[str, str], tmp_path: Path) -> None:
    """Each of the ten documents prints each mass of grams and micrograms it holds on one
    line, never cut between its digits or from its unit; every mass appears somewhere whole."""
    documents = _documents(heavy, tmp_path)
    assert len(documents) == 10
    seen: set[str] = set()
    for pdf in documents:
        lines = _lines(pdf)
        for mass in MASSES:
            assert not list(_broken(lines, mass)), (pdf.name, mass, list(_broken(lines, mass)))
        seen |= {m for line in lines for m in MASSES if m in line}
    assert seen == set(MASSES)


def test_the_accounting_of_a_loan_with_splits_is_two_tables(
    heavy: dict[str, str], tmp_path: Path
) -> None:
    """The return report of L-MIX (a split, so "From split"): the sample code and the nine
    masses in two tables, each row under its sample, the Total in both."""
    target = tmp_path / "return.pdf"
    _ok(heavy, CURATOR, f"report return --loan L-MIX --out {target}")
    text = " ".join(" ".join(_lines(target)).split())
    first = "Sample Issued From split Authorised transfers Consumed Returned now"
    second = "Sample Returned before Split by borrower Lost Remaining accountable"
    assert first in text and second in text, text
    assert text.index(first) < text.index(second)
    assert f"{MIX} 700.000001 g 0 µg 0 µg 500.000001 g 200.000 g" in text
    # its second part: nothing remains accountable, and the Total of each part
    assert f"{MIX} 0 µg 0 µg 0 µg 0 µg {SMALL} 0 µg 2.345677 g 0 µg 0 µg" in text
    assert "Total 712.345679 g 2.345677 g 0 µg 500.000001 g 212.345678 g Sample" in text


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Every data table the documents built: header, rows and widths, as `data_tables` got them."""
    calls: list[tuple[Any, ...]] = []
    built = tables.data_tables

    def recording(header: Any, rows: Any, widths: Any, **options: Any) -> list[Any]:
        """Record the table, then build it as `data_tables` does."""
        listed = [tuple(row) for row in rows]
        calls.append((tuple(header), listed, tuple(widths)))
        return built(header, listed, widths, **options)

    monkeypatch.setattr(tables, "data_tables", recording)
    return calls


def test_every_column_holding_a_mass_holds_the_widest_one(
    heavy: dict[str, str], tmp_path: Path, drawn: list[tuple[Any, ...]]
) -> None:
    """Every column of every table of the documents that holds a mass alone is as wide as the
    widest mass the ledger accepts, "9,999.999999 g" (10 kg is the bound), in the cell font."""
    _documents(heavy, tmp_path)
    widest = tables.widest_mass()
    assert widest == format_mass(MAX_MASS_UG - 1) == "9,999.999999 g"
    room = tables.measurer()(widest)
    checked: set[str] = set()
    for header, rows, widths in drawn:
        for column, width in enumerate(widths):
            if any(A_MASS.fullmatch(str(row[column])) for row in rows):
                inner = width * full_width() - 2 * tables.CELL_PADDING
                assert inner >= room, (header[column], header, widths)
                checked.add(header[column])
    assert {"Mass", "Issued mass", "Held now", "Remaining accountable", "Held"} <= checked


def test_fitted_columns_take_their_room_from_the_donors_alone() -> None:
    """`masses_fitted` widens only the narrow mass columns, takes it from the donors in
    proportion, and keeps the table's width."""
    widths = (0.3, 0.1, 0.2, 0.2, 0.2)
    fitted = tables.masses_fitted(widths, (1, 2), donors=(0, 3))
    assert fitted[1] > 0.1 and fitted[2] == 0.2 and fitted[4] == 0.2
    assert fitted[0] < 0.3 and fitted[3] < 0.2
    assert fitted[0] / fitted[3] == pytest.approx(0.3 / 0.2)
    assert sum(fitted) == pytest.approx(1.0)


def test_a_code_too_long_beside_eight_masses_moves_the_accounting_to_two_parts() -> None:
    """Beside eight masses of "9,999.999999 g" the sample column holds a root code whole but
    not a split child's ("CE5C0100YJFM00201-01", which it would cut): the return report then
    prints its accounting in two parts (`returns._accounting_tables`, checked through the CLI
    by tests/test_sweep_s43views_corrections_agree.py)."""
    fitted = tables.masses_fitted(ACCOUNTING_WIDTHS, range(1, 9), donors=(0,))
    assert tables.words_fit(
        ["CE5C0200YJFM00112", "Total", "CE5C0200YJFM00112 (continuation)"], fitted[0]
    )
    assert not tables.words_fit(["CE5C0100YJFM00201-01"], fitted[0])
    assert tables.words_fit(["CE5C0100YJFM00201-01"], ACCOUNTING_WIDTHS[0])
