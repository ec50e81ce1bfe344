"""Issue 10, reports: custody findings that happened, F-75 totals equal to `balance`, the OS
account of each event, and `verify-document`'s one-line refusals."""

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger.envelope import Envelope
from sampleloans.readmodels.report import REPORT_LAYOUT, CustodyBody, ReturnBody, words_in
from sampleloans.services import incidents, loans
from sampleloans.services.reporting import build_report, make_request
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import COMPLIANCE, NOW, OU_PI, Run, StartFrom, ctx_for, run_on
from tests.factories import held_ug, received_loan, signed_agreement

A, B, C = "CE5C0200YJFM00112", "CE5C0300YJFM00307", "CE5C0500YJFM00415"
AS_STAFF = ["--as", COMPLIANCE]
GEN = ["--generated-at", "2025-04-01T09:00:00Z"]


def text_of(path: Path) -> str:
    """Every page's text of a PDF file."""
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def report_cli(runner: CliRunner, out: Path, *args: str, actor: str = COMPLIANCE) -> Result:
    """Run `report ARGS --out OUT` through the CLI."""
    return runner.invoke(app, ["--as", actor, "report", *args, "--out", str(out), *GEN])


def custody_body(
    engine: Engine,
    *,
    loan: str | None = None,
    sample: str | None = None,
    institution: str | None = None,
) -> CustodyBody:
    """The custody report's read model for one scope, as a compliance officer."""
    with db.transaction(engine, write=False) as session:
        request = make_request("custody", loan=loan, sample=sample, institution=institution)
        report = build_report(session, ctx_for(COMPLIANCE), request, generated_at=NOW)
    assert isinstance(report.body, CustodyBody)
    return report.body


def return_body(engine: Engine, number: str) -> ReturnBody:
    """The F-75's read model of one loan."""
    with db.transaction(engine, write=False) as session:
        request = make_request("return", loan=number)
        report = build_report(session, ctx_for(COMPLIANCE), request, generated_at=NOW)
    assert isinstance(report.body, ReturnBody)
    return report.body


def return_part(run: Run, number: str, codes: list[str], seal: str) -> None:
    """Release some held samples for return and accept them back whole."""
    run(loans.release_return, number=number, container="N2 box", seal_number=seal, samples=codes)
    run(
        loans.accept_return,
        number=number,
        seal_intact=True,
        condition="unchanged",
        weighed_ug={code: held_ug(run, number, code) for code in codes},
    )


def partial_returns(run: Run) -> None:
    """Three samples lent to OU; one comes back alone, then the other two together."""
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A, B, C))
    return_part(run, "L-1", [A], "R-1")
    return_part(run, "L-1", [B, C], "R-2")


def every_case(run: Run) -> None:
    """Partial returns, a borrower split and its own return, a recall, a loss, corrections, and
    a returned sample lent again to the same institution."""
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A, B, C))
    run(loans.borrower_split, number="L-1", parent=B, child="-G1", mass_ug=mass("5 mg"))
    run(
        loans.consume,
        number="L-1",
        sample=A,
        technique="SIMS",
        mass_ug=mass("1 mg"),
        destructive=True,
    )
    run(loans.recall_loan, number="L-1", due_at=NOW + timedelta(days=30), reason="audit")
    return_part(run, "L-1", [A], "R-1")
    seal = run(
        loans.release_return,
        number="L-1",
        container="N2 box",
        seal_number="R-2",
        samples=[B + "-G1"],
    )
    run(incidents.record_correction, corrects_seq=seal.seq, text="seal was R-2b")
    run(
        loans.accept_return,
        number="L-1",
        seal_intact=True,
        condition="unchanged",
        weighed_ug={B + "-G1": mass("5 mg")},
    )
    return_part(run, "L-1", [B, C], "R-3")
    received_loan(run, number="L-2", samples=(A,))
    return_part(run, "L-2", [A], "R-4")


@pytest.mark.parametrize("build", [partial_returns, every_case])
@pytest.mark.parametrize(
    "scope",
    [("loan", "L-1"), ("sample", A), ("sample", B), ("sample", C), ("institution", "OU")],
)
def test_custody_report_shows_no_finding_that_did_not_happen(
    engine: Engine,
    run: Run,
    start_from: StartFrom,
    build: Callable[[Run], None],
    scope: tuple[str, str],
) -> None:
    start_from(build)
    body = custody_body(engine, **{scope[0]: scope[1]})
    assert body.findings == ()
    assert {e.flag for e in body.events} <= {"", "correction"}


@pytest.mark.parametrize(
    ("build", "args"),
    [
        (partial_returns, ["--loan", "L-1"]),
        (every_case, ["--sample", B]),
        (partial_returns, ["--institution", "OU"]),
    ],
)
def test_cli_custody_report_after_a_partial_return_has_no_gap(
    engine: Engine,
    run: Run,
    cli_env: dict[str, str],
    runner: CliRunner,
    tmp_path: Path,
    build: Callable[[Run], None],
    args: list[str],
    start_from: StartFrom,
) -> None:
    start_from(build)
    out = tmp_path / "custody.pdf"
    result = report_cli(runner, out, "custody", *args)
    assert result.exit_code == 0, result.stderr
    text = text_of(out)
    assert "Findings: gaps, discrepancies, incidents (0)" in text
    assert "last recorded holder" not in text


def split_and_loss(run: Run) -> None:
    """A borrower's split of B, 300 µg of the split lost, part of A consumed; A returned."""
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A, B))
    run(loans.borrower_split, number="L-1", parent=B, child="-G1", mass_ug=mass("5 mg"))
    run(
        incidents.report_incident,
        sample=B + "-G1",
        incident_kind="loss",
        description="spilled",
        mass_lost_ug=300,
    )
    run(
        loans.consume,
        number="L-1",
        sample=A,
        technique="SIMS",
        mass_ug=mass("1 mg"),
        destructive=True,
    )
    return_part(run, "L-1", [A], "R-1")


def accounting_rows(text: str) -> dict[str, list[int]]:
    """The F-75's mass accounting table as printed: each row's label and its 9 masses (µg);
    a form without a "From split" column (no borrower's split: layout 8) has 0 µg there. A form
    with one is printed in two parts (layout 21), each row's masses read from both."""
    section = text.split("Mass accounting per sample\n", 1)[1]
    split = "From split" in section.split("\nTotal\n", 1)[0]
    count = 9 if split else 8
    rows: dict[str, list[int]] = {}
    label = ""
    for line in section.splitlines():
        if len(rows.get("Total", ())) == count:
            break
        if label and MASS_CELL.fullmatch(line):
            rows.setdefault(label, []).append(mass(line, allow_zero=True))
        elif line not in ("(continuation)", "(on its way back)"):
            # a sample's code or the Total starts a row; any other line is a heading
            label = line if re.fullmatch(r"[A-Z0-9-]+|Total", line) else ""
    return {code: cells if split else [cells[0], 0, *cells[1:]] for code, cells in rows.items()}


MASS_CELL = re.compile(r"[0-9][0-9,]*(?:\.[0-9]+)? (?:µg|mg|g)")


def f75_as_balance(cells: list[int]) -> dict[str, int]:
    """An F-75 row in `balance`'s terms (returned = now + before, held = remaining)."""
    issued, from_split, transferred, consumed, now_ug, before_ug, split, lost, remaining = cells
    return {
        "issued_ug": issued,
        "from_split_ug": from_split,
        "transferred_ug": transferred,
        "consumed_ug": consumed,
        "returned_ug": now_ug + before_ug,
        "split_ug": split,
        "lost_ug": lost,
        "held_ug": remaining,
    }


@pytest.mark.parametrize("build", [split_and_loss, every_case])
def test_f75_agrees_with_balance_line_for_line(
    engine: Engine,
    run: Run,
    cli_env: dict[str, str],
    runner: CliRunner,
    tmp_path: Path,
    build: Callable[[Run], None],
    start_from: StartFrom,
) -> None:
    start_from(build)
    shown = runner.invoke(app, [*AS_STAFF, "balance", "--loan", "L-1", "--json"])
    assert shown.exit_code == 0, shown.stderr
    balance = json.loads(shown.stdout)
    out = tmp_path / "f75.pdf"
    result = report_cli(runner, out, "return", "--loan", "L-1")
    assert result.exit_code == 0, result.stderr
    printed = accounting_rows(text_of(out))
    terms = list(f75_as_balance([0] * 9))
    expected = {i["sample_code"]: {t: i[t] for t in terms} for i in balance["item_balance"]["rows"]}
    expected["Total"] = {t: balance["item_balance"]["total"][t] for t in terms}
    assert {code: f75_as_balance(cells) for code, cells in printed.items()} == expected
    assert list(printed) == [
        *sorted(i["sample_code"] for i in balance["item_balance"]["rows"]),
        "Total",
    ]


def test_f75_read_model_total_counts_the_continuation(engine: Engine, run: Run) -> None:
    split_and_loss(run)
    body = return_body(engine, "L-1")
    assert body.total.lost_ug == 300
    assert body.total.issued_ug == mass("40 mg")  # what the curator issued, once
    assert body.total.remaining_ug == mass("19.7 mg")
    assert [line.split_from for line in body.lines] == ["", "", B]


def test_f75_lists_only_this_loans_incidents(engine: Engine, run: Run) -> None:
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A,))
    envelope = run(
        incidents.report_incident, sample=A, incident_kind="damage", description="chipped"
    )
    run(incidents.resolve_incident, incident_seq=envelope.seq, resolution="cleaned")
    return_part(run, "L-1", [A], "R-1")
    received_loan(run, number="L-2", samples=(A,))
    assert [f.kind for f in return_body(engine, "L-1").findings] == ["incident"]
    assert return_body(engine, "L-2").findings == ()


def test_lineage_report_judges_only_its_own_samples_weighings(engine: Engine, run: Run) -> None:
    signed_agreement(run, "OU")
    run(loans.request_loan, number="L-1", agreement="AG-OU", pi=OU_PI, samples=[A, B])
    run(loans.approve_loan, number="L-1")
    run(loans.issue_loan, number="L-1")
    run(loans.ship_loan, number="L-1", container="N2 box", seal_number="S-1")
    run(
        loans.receive_loan,
        number="L-1",
        seal_intact=True,
        condition="pristine",
        weighed_ug={B: mass("19.5 mg")},
    )
    assert custody_body(engine, sample=A).findings == ()
    found = custody_body(engine, sample=B).findings
    said = [(f.kind, words_in(f.text, REPORT_LAYOUT).split(":")[0]) for f in found]
    assert said == [("weighing", B)]
    assert [f.kind for f in custody_body(engine, loan="L-1").findings] == ["weighing"]


def test_holders_still_find_a_real_gap() -> None:
    from sampleloans.services.reporting.custody import Holders

    holders = Holders()
    holders.place([A, B], "NAOC")
    assert holders.ship(10, [A, B], "NAOC", "OU") == []
    holders.receive(10, [], "OU")
    assert holders.ship(11, [A], "OU", "NAOC") == []
    holders.receive(11, [], "NAOC")
    assert holders.ship(12, [B], "OU", "NAOC") == []  # B stayed at OU: no gap
    assert holders.ship(13, [A], "OU", "NAOC") == [(A, "NAOC")]  # A is back at NAOC: a gap


def real_account() -> str:
    """The operating-system account running these tests, as the CLI records it."""
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def test_custody_history_json_names_each_events_os_account(
    engine: Engine, run: Run, cli_env: dict[str, str], runner: CliRunner
) -> None:
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A,))  # recorded by the services as "tester"
    consumed = runner.invoke(
        app,
        [
            "--as",
            "curator@naoc.example",
            "loans",
            "consume",
            "L-1",
            "--sample",
            A,
            "--technique",
            "SIMS",
            "--mass",
            "1 mg",
            "--destructive",
        ],
    )
    assert consumed.exit_code == 0, consumed.stderr
    shown = runner.invoke(app, [*AS_STAFF, "custody", "history", "--loan", "L-1", "--json"])
    assert shown.exit_code == 0, shown.stderr
    events = json.loads(shown.stdout)["events"]
    accounts = {e["kind"]: e["os_user"] for e in events}
    assert accounts["loan.issued"] == "tester"
    assert accounts["loan.consumed"] == real_account()


def test_custody_report_event_table_names_the_os_account(
    engine: Engine, run: Run, cli_env: dict[str, str], runner: CliRunner, tmp_path: Path
) -> None:
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A,))
    assert {e.os_user for e in custody_body(engine, loan="L-1").events} == {"tester"}
    out = tmp_path / "custody.pdf"
    result = report_cli(runner, out, "custody", "--loan", "L-1")
    assert result.exit_code == 0, result.stderr
    text = text_of(out)
    assert "OS account" in text
    assert text.count("\ntester\n") == len(custody_body(engine, loan="L-1").events)
    checked = runner.invoke(app, [*AS_STAFF, "verify-document", str(out)])
    assert checked.exit_code == 0, checked.stdout
    assert "verified against the ledger" in checked.stdout


# --- verify-document: one line, the documented exit code ------------------------------------


def ou_loan_of_a(run: Run) -> None:
    """A signed OU agreement and a received OU loan L-1 of A."""
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A,))


@pytest.fixture(scope="module")
def rendered_custody(
    seeded_ledger: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """A ledger of `ou_loan_of_a` and its custody report written through the CLI, made once
    per module (the tests below only read the report, and alter copies of it)."""
    folder = tmp_path_factory.mktemp("custody-pdf")
    ledger = folder / "ledger.db"
    shutil.copy2(seeded_ledger, ledger)
    engine = db.open_engine(db.url_for_path(ledger))
    try:
        ou_loan_of_a(run_on(engine))
    finally:
        engine.dispose()  # the last connection folds the write-ahead log into the file
    out = folder / "custody.pdf"
    env = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": GEN[1], "SAMPLELOANS_USER": None}
    result = CliRunner().invoke(
        app, [*AS_STAFF, "report", "custody", "--loan", "L-1", "--out", str(out), *GEN], env=env
    )
    assert result.exit_code == 0, result.stderr
    return ledger, out


@pytest.fixture
def custody_pdf(
    rendered_custody: tuple[Path, Path], cli_env: dict[str, str], db_path: Path
) -> Path:
    """The custody report of an OU loan, with a copy of the ledger it was printed from as this
    test's database."""
    ledger, out = rendered_custody
    shutil.copy2(ledger, db_path)
    return out


def verify_document(runner: CliRunner, path: Path, actor: str = COMPLIANCE) -> Result:
    """Run `verify-document PATH` as `actor`."""
    return runner.invoke(app, ["--as", actor, "verify-document", str(path)])


def assert_one_error_line(result: "Result | Ran", exit_code: int, *phrases: str) -> None:
    """Nothing on stdout, exactly one `Error:` line on stderr, the given exit code."""
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    for phrase in phrases:
        assert phrase in lines[0]


def with_keywords(source: Path, target: Path, keywords: str) -> Path:
    """A copy of a report whose metadata Keywords were replaced."""
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=PdfReader(source))
    writer.add_metadata({"/Keywords": keywords})
    writer.write(target)
    return target


@dataclass
class Ran:
    """A finished real process, shaped like a CliRunner result."""

    exit_code: int
    stdout: str
    stderr: str


def verify_in_a_process(cli_env: dict[str, str], path: Path) -> Ran:
    """`verify-document PATH` in a real process: pytest's log capture is not there to hide
    what the PDF library logs to stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "sampleloans", *AS_STAFF, "verify-document", str(path)],
        env={**os.environ, **cli_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def test_verify_document_on_a_non_pdf_prints_one_line(
    custody_pdf: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    other = tmp_path / "notes.pdf"
    other.write_bytes(b"hello, this is not a PDF\n")
    assert_one_error_line(verify_in_a_process(cli_env, other), 2, "is not a sampleloans report")


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_verify_document_on_a_truncated_report_prints_one_line(
    custody_pdf: Path, cli_env: dict[str, str], tmp_path: Path, keep: float
) -> None:
    data = custody_pdf.read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[: int(len(data) * keep)])
    result = verify_in_a_process(cli_env, cut)
    assert_one_error_line(result, 2, "is not a sampleloans report")


def test_verify_document_refusal_prints_nothing_before_the_error(
    custody_pdf: Path, runner: CliRunner
) -> None:
    # a researcher of another institution: the report's loan reads as missing (exit 2), and
    # nothing of the document's checks is printed first
    result = verify_document(runner, custody_pdf, actor="muenker@uni-koeln.example")
    assert_one_error_line(result, 2, "loan 'L-1': no such loan among the records you may read")


def test_verify_document_calls_a_future_date_an_altered_document(
    custody_pdf: Path, runner: CliRunner, tmp_path: Path
) -> None:
    metadata = PdfReader(custody_pdf).metadata
    assert metadata is not None
    meta = json.loads(str(metadata["/Keywords"]))
    meta["generated_at"] = "2099-01-01T00:00:00Z"
    altered = with_keywords(custody_pdf, tmp_path / "altered.pdf", json.dumps(meta))
    result = verify_document(runner, altered)
    assert_one_error_line(result, 1, "altered", "2099-01-01T00:00:00Z")
    assert "--generated-at" not in result.stderr


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "zzz"),
        ("scope", "shelf:3"),
        ("head", "xyz"),
        ("as_of", "2099-01-01"),
        ("kind", 7),
        ("generated_at", None),
    ],
)
def test_verify_document_calls_impossible_metadata_altered(
    custody_pdf: Path, runner: CliRunner, tmp_path: Path, field: str, value: object
) -> None:
    metadata = PdfReader(custody_pdf).metadata
    assert metadata is not None
    meta = json.loads(str(metadata["/Keywords"]))
    meta[field] = value
    altered = with_keywords(custody_pdf, tmp_path / "altered.pdf", json.dumps(meta))
    result = verify_document(runner, altered)
    assert_one_error_line(result, 1, "altered", field)
    assert "--" not in result.stderr  # names no option


@pytest.mark.parametrize(
    "keywords",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000, "[" * 500],
)
def test_verify_document_on_deeply_nested_metadata_prints_one_line(
    custody_pdf: Path, runner: CliRunner, tmp_path: Path, keywords: str
) -> None:
    nested = with_keywords(custody_pdf, tmp_path / "nested.pdf", keywords)
    assert_one_error_line(verify_document(runner, nested), 2, "is not a sampleloans report")


def deep_pdf(path: Path, depth: int, *, dictionary: bool) -> Path:
    """A minimal PDF whose document information nests `depth` arrays (or dictionaries)."""
    nested = (
        b"<< /A " * depth + b"1" + b" >>" * depth if dictionary else b"[" * depth + b"]" * depth
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [] /Count 0 >>",
        b"<< /Keywords " + nested + b" >>",
    ]
    data = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(data))
        data += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(data)
    data += b"xref\n0 4\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    data += b"trailer\n<< /Size 4 /Root 1 0 R /Info 3 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("depth", [900, 100_000])
@pytest.mark.parametrize("dictionary", [False, True])
def test_verify_document_on_a_deeply_nested_pdf_prints_one_line(
    custody_pdf: Path, cli_env: dict[str, str], tmp_path: Path, depth: int, dictionary: bool
) -> None:
    path = deep_pdf(tmp_path / "deep.pdf", depth, dictionary=dictionary)
    result = verify_in_a_process(cli_env, path)
    assert_one_error_line(result, 2, "is not a sampleloans report")


def test_f75_does_not_close_out_while_a_continuation_is_held(
    engine: Engine, run: Run, cli_env: dict[str, str], runner: CliRunner, tmp_path: Path
) -> None:
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A, B))
    run(loans.borrower_split, number="L-1", parent=B, child="-G1", mass_ug=mass("5 mg"))
    return_part(run, "L-1", [A, B], "R-1")  # the split stays with the borrower
    out = tmp_path / "f75.pdf"
    result = report_cli(runner, out, "return", "--loan", "L-1")
    assert result.exit_code == 0, result.stderr
    text = text_of(out)
    assert "nothing remains accountable" not in text
    assert "The borrower remains accountable for 5.000 mg." in text


def test_history_and_report_show_the_recall_reason_and_recording_time(
    engine: Engine, run: Run, cli_env: dict[str, str], runner: CliRunner
) -> None:
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A,))
    later = NOW + timedelta(days=2)
    run(
        loans.recall_loan,
        number="L-1",
        due_at=later + timedelta(days=10),
        reason="audit of the SIMS lab",
        now=later,
    )
    shown = runner.invoke(app, [*AS_STAFF, "custody", "history", "--loan", "L-1", "--json"])
    assert shown.exit_code == 0, shown.stderr
    recall = next(e for e in json.loads(shown.stdout)["events"] if e["kind"] == "loan.recalled")
    assert recall["reason"] == "audit of the SIMS lab"
    assert recall["recorded_at"] == "2025-04-03T09:00:00Z"
    row = next(e for e in custody_body(engine, loan="L-1").events if e.kind == "loan.recalled")
    assert words_in(row.description, REPORT_LAYOUT).endswith("; reason: audit of the SIMS lab")


def test_lineage_report_names_every_borrower_of_the_lineage(
    engine: Engine, run: Run, cli_env: dict[str, str], runner: CliRunner, tmp_path: Path
) -> None:
    from tests.conftest import UOC_PI

    signed_agreement(run, "OU")
    signed_agreement(run, "UoC")
    received_loan(run, number="L-1", samples=(A,))
    return_part(run, "L-1", [A], "R-1")
    received_loan(run, number="L-2", agreement="AG-UoC", pi=UOC_PI, samples=(A,))
    out = tmp_path / "lineage.pdf"
    result = report_cli(runner, out, "custody", "--sample", A)
    assert result.exit_code == 0, result.stderr
    text = text_of(out)
    assert "Borrowing institution, L-1" in text and "Open University" in text
    assert "Borrowing institution, L-2" in text and "University of Cologne" in text
    roles = [p.role for p in custody_body(engine, sample=A).parties]
    assert "Borrowing institution" not in roles  # no single borrower stands for both loans


def _seq(result: object) -> int:
    """The seq of the event a service call appended."""
    assert isinstance(result, Envelope)
    return result.seq


def test_f75_lists_corrections_of_its_findings_and_of_those_corrections(
    engine: Engine, run: Run
) -> None:
    """A note correcting one of the loan's incidents is a finding, and so is a note correcting
    that note; a note about another loan's incident is not."""
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A,))
    damage = _seq(
        run(incidents.report_incident, sample=A, incident_kind="damage", description="chip")
    )
    first = _seq(run(incidents.record_correction, corrects_seq=damage, text="a crack, not a chip"))
    second = _seq(run(incidents.record_correction, corrects_seq=first, text="hairline crack"))
    run(incidents.resolve_incident, incident_seq=damage, resolution="sealed")
    return_part(run, "L-1", [A], "R-1")
    received_loan(run, number="L-2", samples=(A,))
    other = _seq(
        run(incidents.report_incident, sample=A, incident_kind="damage", description="dent")
    )
    run(incidents.record_correction, corrects_seq=other, text="a scratch")
    findings = return_body(engine, "L-1").findings
    assert [(f.seq, f.kind) for f in findings] == [
        (damage, "incident"),
        (first, "correction"),
        (second, "correction"),
    ]
    assert findings[2].text == f"of event {first}: hairline crack"
    assert [f.kind for f in return_body(engine, "L-2").findings] == ["incident", "correction"]
