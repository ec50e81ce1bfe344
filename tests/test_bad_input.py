"""T5: hostile input through the CLI. Every case is refused with one clear line, no traceback,
the database byte-identical and no file written."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.services import setup
from tests import factories
from tests.conftest import CURATOR, ctx_for, fingerprint, run_on

S = "CE5C0200YJFM00112"
SOAK = os.environ.get("SAMPLELOANS_SOAK") == "1"
AS = ["--as", CURATOR]
CONSUME = [*AS, "loans", "consume", "L-1", "--sample", S, "--technique", "SIMS", "--mass"]
SPLIT_CHILD = [*AS, "samples", "split", "CE5C0000YJYX070", "--child"]
INCIDENT_AT = [*AS, "incidents", "report", "--sample", S, "--kind", "damage", "--description"]
RECALL = [*AS, "loans", "recall", "L-1", "--reason", "audit", "--due"]
EXTEND = [*AS, "loans", "extend", "L-1", "--approver", CURATOR, "--reason", "x", "--period"]

DATES = [
    "2025-02-30",
    "03/04/2025",
    "2025-13-01",
    "2025-04-01T25:00",
    "2030-01-01",
    "9999-12-31T23:59:59Z",
    "2025-03-01",  # before the sample's previous event (registered 2025-04-01)
    "0001-01-01",
    "2025-04-01T10:00+25:00",
    "yesterday",
    "NaN",
    "2025-04-01\x00",
    "\x1b[31m2025-04-01",
    "２０２５-04-01",
]
MASSES = [
    "0",
    "0 mg",
    "-1 mg",
    "-0 mg",
    "nan",
    "NaN mg",
    "inf",
    "inf mg",
    "1e309",
    "1e309 mg",
    "1,5 mg",
    "١٢٣ mg",
    "5",
    "21 mg",  # more than the borrower holds (20 mg)
    "1 kg",
    "mg",
    "1 parsec",
    "1_000 mg",
    "0x10 mg",
    "1e-9 mg",
    "",
    " ",
    "1 mg\x00",
    "\x1b[2J1 mg",
]
CODES = [
    "СE5C0200YJFM00112",  # Cyrillic С
    "CE5C0200 YJFM00112",  # a blank inside a code is part of it (blanks around are trimmed)
    "CE5C0200YJFM00112\u2028",  # a line separator at an end is kept, and refused
    "CE5C0200YJFM00112\x00",
    "\x1b[31mCE5C0200YJFM00112\x1b[0m",
    "CE5C0200YJFM0011２",
    "",
    "../etc/passwd",
    "x" * 1_000_000,
]
PERIODS = ["0 months", "-1 month", "P", "forever", "P1000Y", "1.5 months", "P1M\x00", "P7M", ""]
ANCHORS = ["abc", "1:zz", "-1:" + "a" * 64, "1:" + "g" * 64, "\x00", "1:" + "a" * 63]
ENUMS = [
    [*AS, "incidents", "report", "--sample", S, "--kind", "theftt", "--description", "x"],
    [*AS, "incidents", "report", "--sample", S, "--kind", "", "--description", "x"],
    [*AS, "loans", "ship", "L-1", "--container", "box", "--seal", "S", "--method", "teleport"],
    [*AS, "samples", "list", "--state", "evaporated"],
    [*AS, "loans", "list", "--status", "lost-in-space"],
    [*AS, "people", "add", "x@ou.example", "--name", "X", "--institution", "OU", "--role", "god"],
]

CASES: dict[str, list[str]] = {}
for i, text in enumerate(DATES):
    CASES[f"at-{i}"] = [*INCIDENT_AT, "x", "--at", text]
    if text not in ("2030-01-01", "9999-12-31T23:59:59Z", "2025-03-01"):  # valid due dates
        CASES[f"due-{i}"] = [*RECALL, text]
for i, text in enumerate(MASSES):
    CASES[f"consume-mass-{i}"] = [*CONSUME, text]
    CASES[f"split-mass-{i}"] = [*SPLIT_CHILD, f"-01={text}"]
for i, text in enumerate(CODES):
    CASES[f"code-split-{i}"] = [*AS, "samples", "split", text, "--child", "-01=1mg"]
    CASES[f"code-consume-{i}"] = [
        *CONSUME[:5],
        "--sample",
        text,
        "--technique",
        "x",
        "--mass",
        "1mg",
    ]
    CASES[f"loan-number-{i}"] = [*AS, "loans", "approve", text]
for i, text in enumerate(PERIODS):
    CASES[f"period-{i}"] = [*EXTEND, text]
for i, text in enumerate(ANCHORS):
    CASES[f"anchor-{i}"] = [*AS, "verify", "--anchor", text]
for i, argv in enumerate(ENUMS):
    CASES[f"enum-{i}"] = argv
CASES.update(
    {
        "text-nul": [*INCIDENT_AT, "vial\x00cracked"],
        "text-ansi": [*INCIDENT_AT, "\x1b[2J\x1b[31mcracked"],
        "text-1mb": [*INCIDENT_AT, "x" * 1_000_000],
        "actor-unknown": ["--as", "nobody@x.example", "loans", "approve", "L-1"],
        "actor-ansi": ["--as", "\x1b[31mcurator@naoc.example", "loans", "approve", "L-1"],
        "db-relative": ["--db", "../x/ledger.db", *AS, "loans", "list"],
        "db-file": ["--db", "{tmp}/notes.txt", *AS, "loans", "list"],
        "db-dir": ["--db", "{tmp}", *AS, "loans", "list"],
        "db-nul": ["--db", "{tmp}/a\x00b", *AS, "loans", "list"],
        "demo-dir-db": ["demo", "--dir", "{db}"],
        "demo-dir-file": ["demo", "--dir", "{tmp}/notes.txt"],
        "backup-onto-db": [*AS, "backup", "{db}"],
        "backup-onto-dir": [*AS, "backup", "{tmp}"],
        "backup-onto-file": [*AS, "backup", "{tmp}/notes.txt"],
        "report-out-db": [*AS, "report", "custody", "--loan", "L-1", "--out", "{db}"],
        "report-out-dir": [*AS, "report", "custody", "--loan", "L-1", "--out", "{tmp}"],
        "report-out-file": [*AS, "report", "custody", "--loan", "L-1", "--out", "{tmp}/notes.txt"],
        "report-out-missing-dir": [
            *AS,
            "report",
            "custody",
            "--loan",
            "L-1",
            "--out",
            "../q/r.pdf",
        ],
        "report-as-of-bad": [
            *AS,
            "report",
            "custody",
            "--loan",
            "L-1",
            "--out",
            "{tmp}/r.pdf",
            "--as-of",
            "2025-02-30",
        ],
        "weighed-bad": [
            *AS,
            "loans",
            "accept-return",
            "L-1",
            "--seal-intact",
            "--condition",
            "ok",
            "--weighed",
            f"{S}=nan",
        ],
        "split-loss-negative": [*SPLIT_CHILD, "-01=1mg", "--loss", "-1 mg"],
        "mass-lost-too-much": [*INCIDENT_AT, "x", "--mass-lost", "21 mg"],
        "correct-seq-text": [*AS, "custody", "correct", "seven", "--text", "x"],
        "correct-seq-huge": [*AS, "custody", "correct", "99999999999999999999", "--text", "x"],
        "resolve-negative": [*AS, "incidents", "resolve", "-1", "--resolution", "x"],
    }
)
SUBPROCESS_CASES = [
    "at-0",
    "due-1",
    "consume-mass-4",
    "consume-mass-11",
    "code-split-0",
    "period-3",
    "anchor-0",
    "db-dir",
    "demo-dir-db",
    "text-ansi",
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger with a signed OU agreement and a received loan L-1 of 20 mg of S."""
    path = tmp_path_factory.mktemp("bad-input") / "template.db"
    engine = db.open_engine(db.url_for_path(path), create=True)

    run = run_on(engine)

    with db.transaction(engine) as session:
        setup.init_ledger(session, ctx_for(), curator_name="Li Na")
        setup.add_people_rows(session, ctx_for(), setup.read_rows("demo/people.csv"))
        setup.register_sample_rows(session, ctx_for(), setup.read_rows("demo/samples.csv"))
    factories.signed_agreement(run, "OU", destructive=False)
    factories.received_loan(run)
    engine.dispose()
    return path


@pytest.fixture
def ledger(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    work = tmp_path / "work"
    work.mkdir()
    path = work / "ledger.db"
    shutil.copy(template, path)
    (work / "notes.txt").write_text("not a database\n")
    monkeypatch.chdir(work)
    monkeypatch.setenv("SAMPLELOANS_DB", str(path))
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-04-02T09:00:00Z")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.delenv("SAMPLELOANS_USER", raising=False)
    yield path


def listing(root: Path) -> dict[str, int]:
    """Every file under the work folder (and its parent) with its size."""
    found = {}
    for base in (root, root.parent):
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.endswith(("-wal", "-shm")):
                found[str(path)] = path.stat().st_size
    return found


def expand(argv: list[str], path: Path) -> list[str]:
    return [a.replace("{db}", str(path)).replace("{tmp}", str(path.parent)) for a in argv]


def assert_refused(exit_code: int, stdout: str, stderr: str) -> None:
    everything = stdout + stderr
    assert "Traceback" not in everything, everything[:2000]
    assert exit_code != 0, everything[:500]
    assert stderr.startswith("Error: "), stderr[:500]
    assert stderr.count("\n") == 1, stderr[:2000]


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_is_refused_cleanly(name: str, ledger: Path) -> None:
    before, files = fingerprint(ledger), listing(ledger.parent)
    result = CliRunner().invoke(app, expand(CASES[name], ledger))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert_refused(result.exit_code, result.stdout, result.stderr)
    assert fingerprint(ledger) == before
    assert listing(ledger.parent) == files


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_hostile_input_through_a_real_process(name: str, ledger: Path) -> None:
    before, files = fingerprint(ledger), listing(ledger.parent)
    argv = [a.replace("\x00", "\\x00") for a in expand(CASES[name], ledger)]  # argv cannot hold NUL
    done = subprocess.run(
        [sys.executable, "-m", "sampleloans", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert_refused(done.returncode, done.stdout, done.stderr)
    assert fingerprint(ledger) == before
    assert listing(ledger.parent) == files


def test_corpus_size() -> None:
    assert len(CASES) >= 100
    assert set(SUBPROCESS_CASES) <= set(CASES)


WORDS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["L-1", S, "1 mg", "0", "nan", "-1", "--at", "--mass", "P1M", "2025-02-30"]),
)
COMMANDS = [
    ["loans", "consume", "L-1"],
    ["loans", "recall", "L-1"],
    ["loans", "extend", "L-1"],
    ["samples", "split"],
    ["incidents", "report"],
    ["loans", "accept-return", "L-1"],
    ["verify"],
]


@settings(
    max_examples=2000 if SOAK else 150,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(command=st.sampled_from(COMMANDS), words=st.lists(WORDS, max_size=8))
def test_random_arguments_never_crash(
    command: list[str], words: list[str], template: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "ledger.db"
    shutil.copy(template, path)
    before = fingerprint(path)
    env = {"SAMPLELOANS_DB": str(path), "SAMPLELOANS_NOW": "2025-04-02T09:00:00Z"}
    result = CliRunner().invoke(app, [*AS, *command, *words], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code in (0, 1, 2, 3, 4)
    if result.exit_code != 0:
        assert fingerprint(path) == before
