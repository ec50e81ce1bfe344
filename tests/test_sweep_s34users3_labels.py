"""Sweep s34 users3 (1): one name for each event everywhere.

The command line said "mass corrected", the custody report "Corrected", the statement
"Corrected"; "shipped" against "Return shipped", "issued from vault" against "Issue from
vault". One table (`vocab.EVENT_LABELS`, `vocab.HANDOVER_LABELS`) now names every kind for
`custody history` and every PDF (report layout 15, statement layout 14); the older layouts keep
their words, so their files still verify.
"""

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger.envelope import Context
from sampleloans.ledger.events import EVENT_TYPES
from sampleloans.readmodels.report import LABELS_LAYOUT, REPORT_LAYOUT, CustodyBody, words_in
from sampleloans.readmodels.statement import STATEMENT_LAYOUT
from sampleloans.services.reporting import build_report, make_request
from sampleloans.services.statement import build_statements
from sampleloans.vocab import EVENT_LABELS, HANDOVER_LABELS, Direction
from tests.conftest import demo_copy
from tests.i15_statement_helpers import make_checkpoint

CURATOR = "curator@naoc.example"
PI = "anand@open.example"
NOW = "2026-05-01T10:00:00Z"
AT = datetime.fromisoformat(NOW)
LOAN = "L-2025-OU"


def _invoke(env: dict[str, str], user: str, *args: str) -> Any:
    """A command as `user` at 250 columns; it must succeed."""
    result = CliRunner().invoke(
        app, ["--as", user, *args], env={**env, "COLUMNS": "250", "SAMPLELOANS_NOW": NOW}
    )
    assert result.exit_code == 0, (args, result.output)
    return result


def partial_return_scenario(folder: Path) -> dict[str, Any]:
    """The demo on 1 May 2026: one OU sample shipped back, a back-dated analysis (event 109),
    its mass corrected (110), and a signed checkpoint of the head (the brief's reproduction)."""
    demo_copy(folder / "demo")
    path = folder / "demo" / "ledger.db"
    env = {"SAMPLELOANS_DB": str(path), "NO_COLOR": "1"}
    _invoke(env, CURATOR, "loans", "return", LOAN, "--sample", "CE5C0300YJFM00307",
            "--container", "N2 box", "--seal", "SL-OU-R1")  # fmt: skip
    _invoke(env, PI, "loans", "consume", LOAN, "--sample", "CE5C0500YJFM00415",
            "--technique", "ICP-MS", "--mass", "0.3 mg", "--destructive",
            "--at", "2026-04-21T09:00:00Z")  # fmt: skip
    _invoke(env, CURATOR, "custody", "correct", "109", "--mass", "0.25 mg", "--reason", "reweighed")
    return {"env": env, "path": path, **make_checkpoint(path, folder)}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`partial_return_scenario`, built once for the module."""
    return partial_return_scenario(tmp_path_factory.mktemp("labels"))


def _custody_body(path: Path) -> CustodyBody:
    engine = db.open_engine(db.url_for_path(path))
    try:
        with db.transaction(engine, write=False) as session:
            ctx = Context(actor=CURATOR, os_user="tester", now=AT)
            report = build_report(session, ctx, make_request("custody", loan=LOAN), generated_at=AT)
    finally:
        engine.dispose()
    assert isinstance(report.body, CustodyBody)
    return report.body


def _statement_labels(ledger: dict[str, Any]) -> dict[int, str]:
    from sampleloans.commands.statement import checkpoint_ref

    engine = db.open_engine(db.url_for_path(ledger["path"]))
    try:
        with db.transaction(engine, write=False) as session:
            ctx = Context(actor=CURATOR, os_user="tester", now=AT)
            ref = checkpoint_ref(ledger["note"], "checkpoint")
            (statement,) = build_statements(session, ctx, ref, pi=PI, generated_at=AT)
    finally:
        engine.dispose()
    return {e.seq: words_in(e.label, STATEMENT_LAYOUT) for e in statement.body.events}


def _cli_labels(env: dict[str, str]) -> dict[int, str]:
    """`custody history --loan` as a table: each event's label cell by seq."""
    table = _invoke(env, CURATOR, "custody", "history", "--loan", LOAN).stdout
    cells = [line.split("│") for line in table.splitlines() if line.startswith("│")]
    return {int(c[1]): c[3].strip() for c in cells if c[1].strip().isdigit()}


def test_every_kind_has_exactly_one_label() -> None:
    """A shipment's two events one label per direction, every other kind one; no two kinds or
    directions share a label (a reader tells each event by its name)."""
    handovers = {kind for kind, _direction in HANDOVER_LABELS}
    assert set(EVENT_LABELS) | handovers == set(EVENT_TYPES)
    assert not set(EVENT_LABELS) & handovers
    for kind in handovers:
        assert {d for k, d in HANDOVER_LABELS if k == kind} == set(Direction)
    labels = [*EVENT_LABELS.values(), *HANDOVER_LABELS.values()]
    assert len(labels) == len(set(labels))


def test_the_cli_and_the_custody_report_name_each_event_alike(ledger: dict[str, Any]) -> None:
    """Every event of the loan: the label `custody history` prints is the custody report's."""
    body = _custody_body(ledger["path"])
    printed = {row.seq: words_in(row.label, REPORT_LAYOUT) for row in body.events}
    assert _cli_labels(ledger["env"]) == printed
    assert (printed[93], printed[108], printed[110]) == (
        "Issue from vault",
        "Return shipped",
        "Mass corrected",
    )
    assert set(printed.values()) <= {*EVENT_LABELS.values(), *HANDOVER_LABELS.values()}


def test_the_statement_names_each_event_as_the_cli_does(ledger: dict[str, Any]) -> None:
    cli = _cli_labels(ledger["env"])
    labels = _statement_labels(ledger)
    assert labels == {seq: cli[seq] for seq in labels}
    assert labels[110] == "Mass corrected"


def test_the_older_layouts_keep_their_words(ledger: dict[str, Any]) -> None:
    """A file printed by report layout 14 (statement 13) said "Corrected": re-rendered so, it
    still verifies byte for byte."""
    row = next(r for r in _custody_body(ledger["path"]).events if r.seq == 110)
    assert words_in(row.label, LABELS_LAYOUT - 1) == "Corrected"


def test_the_pdfs_print_the_label(ledger: dict[str, Any], tmp_path: Path) -> None:
    """Through the CLI: the custody report and the statement say "Mass corrected"."""
    from pypdf import PdfReader

    custody = tmp_path / "custody.pdf"
    _invoke(ledger["env"], CURATOR, "report", "custody", "--loan", LOAN, "--out", str(custody))
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(custody).pages)
    assert "Mass corrected" in text and "Return shipped" in text
    out = tmp_path / "st"
    _invoke(ledger["env"], CURATOR, "report", "statement", "--pi", PI, "--out", str(out),
            "--checkpoint", str(ledger["cp"]))  # fmt: skip
    (statement,) = out.iterdir()
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(statement).pages)
    assert "Mass corrected" in text and "Corrected CORRECTION" not in text
