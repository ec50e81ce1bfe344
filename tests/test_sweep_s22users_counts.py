"""Sweep s22 "a curator and a researcher, through the CLI": counts agree with their nouns, and a
loan not yet issued says when it falls due.

A sample's custody report read "Chain of custody (1 events)"; `verify-document --public-key`
of a one-event statement said "1 of 1 events"; a statement to a PI whose loan was only
requested gave its "Return due" as "—", where `status` says "due 12 months after issue", and
`loans show` said "due —". Report layout 10 and statement layout 10 print the new words; a file
printed in layout 9 (`tests/golden/statement-layout9-brown.pdf`, made by main at 47ed1f0) still
verifies byte for byte, in its own words.
"""

import io
import json
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.readmodels.report import COUNTED_EVENTS_LAYOUT, REPORT_LAYOUT
from sampleloans.reports.statement import METADATA_VERSION
from tests.conftest import BROWN_PI, COMPLIANCE, CURATOR, GOLDEN, OU_PI, fingerprint

LONE_SAMPLE = "CE5C0000YJYX048"  # in the vault since its registration: one event
NOW = "2026-06-01T00:00:00Z"
GENERATED = "2026-05-01T00:00:00Z"


def cli(env: dict[str, str], *args: str, code: int = 0) -> str:
    """Invoke the CLI in `env`; check the exit code; everything printed."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "120", **env})
    output = result.stdout + result.stderr
    assert result.exit_code == code, (args, output)
    return output


def words(pdf: Path) -> str:
    """A PDF's text, every run of whitespace one space."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(pdf).pages).split())


def layout_of(pdf: Path) -> object:
    """The layout "v" a PDF's metadata names."""
    info = PdfReader(io.BytesIO(pdf.read_bytes())).metadata
    assert info is not None
    return json.loads(str(info["/Keywords"]))["v"]


def copy_of(name: str, tmp_path: Path) -> dict[str, str]:
    """An environment on a copy of the golden ledger `name`."""
    ledger = Path(shutil.copy(GOLDEN / name, tmp_path / "ledger.db"))
    return {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": NOW}


def test_a_custody_report_of_one_event_says_1_event(tmp_path: Path) -> None:
    """A sample registered and never moved: "Chain of custody (1 event)"."""
    env = copy_of("ledger-0.1.db", tmp_path)
    out = tmp_path / "custody.pdf"
    cli(env, "--as", COMPLIANCE, "report", "custody", "--sample", LONE_SAMPLE, "--out", str(out))
    text = words(out)
    assert "Chain of custody (1 event)" in text
    assert "1 events" not in text
    assert layout_of(out) == REPORT_LAYOUT >= COUNTED_EVENTS_LAYOUT


def test_a_statement_of_a_loan_not_issued_says_when_it_falls_due(tmp_path: Path) -> None:
    """Brown's loan is approved, not issued: its statement, `status` and `loans show` all say
    "1 year after issue"."""
    env = copy_of("ledger-statement-layout3.db", tmp_path)
    folder = tmp_path / "st"
    cli(env, "--as", BROWN_PI, "report", "statement", "--pi", BROWN_PI, "--out", str(folder))
    (pdf,) = folder.iterdir()
    text = words(pdf)
    assert "L-2025-Brown AG-2025-Brown approved 1 year after issue" in text
    assert layout_of(pdf) == METADATA_VERSION >= 10
    assert "due 1 year after issue" in cli(env, "--as", BROWN_PI, "status")
    shown = cli(env, "--as", BROWN_PI, "loans", "show", "L-2025-Brown")
    assert "due             1 year after issue" in shown


@pytest.mark.parametrize(
    ("golden", "ledger", "old_words"),
    [
        (
            "statement-layout9-brown.pdf",
            "ledger-statement-layout3.db",
            "L-2025-Brown AG-2025-Brown approved —",
        ),
    ],
)
def test_a_layout_9_file_still_verifies_in_its_own_words(
    tmp_path: Path, golden: str, ledger: str, old_words: str
) -> None:
    """Printed by the layout-9 code, it re-renders to the same bytes; nothing is written."""
    env = copy_of(ledger, tmp_path)
    assert layout_of(GOLDEN / golden) == 9
    assert old_words in words(GOLDEN / golden)
    before = fingerprint(Path(env["SAMPLELOANS_DB"]))
    output = cli(env, "--as", COMPLIANCE, "verify-document", str(GOLDEN / golden))
    assert "byte-identical to a fresh rendering" in output
    assert fingerprint(Path(env["SAMPLELOANS_DB"])) == before


def test_a_one_event_statement_is_checked_as_1_of_1_event(tmp_path: Path) -> None:
    """A PI whose one loan was just requested: the statement proves one event, and checking
    it with the public key alone says "1 of 1 event"."""
    env = {"SAMPLELOANS_DB": str(tmp_path / "ledger.db"), "SAMPLELOANS_NOW": "2026-04-28T10:00:00Z"}
    cli(env, "init", "--curator-email", CURATOR, "--curator-name", "Li Na")
    as_curator = ("--as", CURATOR)
    cli(env, *as_curator, "people", "add", OU_PI, "--name", "M. Anand", "--institution", "OU",
        "--role", "researcher")  # fmt: skip
    cli(env, *as_curator, "agreements", "add", "AG-OU", "--institution", "OU", "--term",
        "5 years", "--max-mass", "1 g", "--purpose", "research", "--max-loan-period",
        "12 months")  # fmt: skip
    cli(env, *as_curator, "agreements", "sign", "AG-OU", "--signed-by", "NAOC and OU")
    cli(env, *as_curator, "samples", "register", "CE5C0000YJYX090", "--mission", "CE-5",
        "--mass", "3.2 mg", "--origin", "scoop", "--material", "glass bead", "--form",
        "rock fragment", "--purpose", "research", "--location", "NAOC N2 cabinet B")  # fmt: skip
    cli(env, *as_curator, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI,
        "--sample", "CE5C0000YJYX090")  # fmt: skip
    key = tmp_path / "cp.key"
    cli(env, *as_curator, "keys", "generate", "--out", str(key), "--name", "naoc")
    cli(env, *as_curator, "checkpoint", "--key", str(key))
    folder = tmp_path / "st"
    made = cli(env, "--as", OU_PI, "report", "statement", "--pi", OU_PI, "--out", str(folder))
    assert ", 1 event proved in the checkpoint of " in made
    (pdf,) = folder.iterdir()
    assert "12 months after issue" in words(pdf)
    checked = cli(env, "verify-document", str(pdf), "--public-key", f"{key}.pub")
    assert "1 of 1 event: hash recomputed and included in the root" in checked
