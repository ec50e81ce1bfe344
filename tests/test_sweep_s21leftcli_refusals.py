"""Sweep s21 "leftcli": refusals a curator meets at the command line, each a class.

1. A record that is not found is named by the option (or argument) it was typed in, in one
   wording for every kind: `--institution 'UoC': no such institution; see 'sampleloans
   institutions list'`; a researcher gets the same words for "not yours" and "does not exist".
   Before, `institution 'UoC' does not exist; see 'institutions list'`, naming no option.
2. `verify` reads `--anchor`, `--checkpoint` and `--public-key` after the role and before any
   check: a missing file is exit 2 at once (before, after the whole verify had run), and a
   researcher's bad `--anchor` is exit 4 (before, exit 2).
3. `restore FILE` checks the role before the file (before, a researcher's missing FILE was
   exit 2, not the role's exit 4).
4. A signer option typed without `--sign` is refused (before, silently ignored: an unsigned
   PDF); one set in the environment is a standing setting and still ignored.
5. Ctrl-C once the output is in place says it was kept whole (before, "run the command again").
6. `loans list --csv` gives one fact a cell (before, "2026-05-05 08:00 UTC (4 days left)" in
   the due cell and "20.000 mg" as masses).
"""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, demo_copy, fingerprint

NOW = "2026-05-01T10:00:00Z"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger (never written by these tests, except where a copy is made): a copy of
    the one this test process built (`demo_copy`), not a demo run again in a process."""
    return demo_copy(tmp_path_factory.mktemp("leftcli") / "demo")


def run(ledger: Path, actor: str, *args: str, env: dict[str, str] | None = None) -> Result:
    """The CLI in-process as `actor` on `ledger` at NOW."""
    full = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": NOW, "COLUMNS": "120"}
    return CliRunner().invoke(app, ["--as", actor, *args], env={**full, **(env or {})})


def refusal(ledger: Path, actor: str, *args: str, code: int = 2) -> str:
    """The one `Error:` line of a refused command, its exit code checked."""
    result = run(ledger, actor, *args)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    stderr = result.stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    return stderr.removeprefix("Error: ").rstrip("\n")


# --- 1. not found, named by the option as typed ---------------------------------------------

NOT_FOUND = [
    (("loans", "show", "L-X"), "NUMBER 'L-X': no such loan; see 'sampleloans loans list'"),
    (("samples", "show", "X1"), "CODE 'X1': no such sample; see 'sampleloans samples list'"),
    (
        ("loans", "list", "--institution", "Nowhere"),
        "--institution 'Nowhere': no such institution; see 'sampleloans institutions list'",
    ),
    (
        ("custody", "history", "--loan", "L-X"),
        "--loan 'L-X': no such loan; see 'sampleloans loans list'",
    ),
    (
        ("report", "custody", "--loan", "L-X", "--out", "r.pdf"),
        "--loan 'L-X': no such loan; see 'sampleloans loans list'",
    ),
    (
        ("people", "show", "x@y.example"),
        "EMAIL 'x@y.example': no such person; see 'sampleloans people list'",
    ),
    (
        ("agreements", "show", "AG-X"),
        "NUMBER 'AG-X': no such agreement; see 'sampleloans agreements list'",
    ),
    (
        ("institutions", "show", "ou"),
        "SHORT 'ou': no such institution; did you mean OU? (short names are exact)",
    ),
]


@pytest.mark.parametrize(("args", "said"), NOT_FOUND, ids=[" ".join(a[:2]) for a, _ in NOT_FOUND])
def test_a_record_not_found_is_named_by_the_option_it_was_typed_in(
    ledger: Path, tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    os.chdir(tmp_path)
    assert refusal(ledger, COMPLIANCE, *args) == said
    assert list(tmp_path.iterdir()) == []  # no report file left


CURATOR_WRITES = [
    (
        (
            "samples", "register", "CE5C0000YJYX099", "--mission", "CE5", "--mass", "3 mg",
            "--origin", "scoop", "--material", "glass bead", "--form", "rock fragment",
            "--purpose", "research", "--location", "cabinet B",
        ),
        "--mission 'CE5': no such mission; known missions are CE-5 and CE-6",
    ),
    (
        (
            "loans", "request", "L-9", "--agreement", "AG-X", "--pi", OU_PI,
            "--sample", "CE5C0000YJBP005", "--period", "6 months",
        ),
        "--agreement 'AG-X': no such agreement; see 'sampleloans agreements list'",
    ),
    (
        (
            "loans", "request", "L-9", "--agreement", "AG-2025-OU", "--pi", "nobody@open.example",
            "--sample", "CE5C0000YJBP005", "--period", "6 months",
        ),
        "--pi 'nobody@open.example': no such person; see 'sampleloans people list'",
    ),
    (
        (
            "loans", "request", "L-9", "--agreement", "AG-2025-OU", "--pi", OU_PI,
            "--sample", "CE5C0000YJBP005", "--sample", "NOPE", "--period", "6 months",
        ),
        "--sample 'NOPE': no such sample; see 'sampleloans samples list'",
    ),
    (("loans", "issue", "L-X"), "NUMBER 'L-X': no such loan; see 'sampleloans loans list'"),
    (
        ("incidents", "resolve", "999", "--resolution", "found"),
        "SEQ 999: no such incident; see 'sampleloans incidents list'",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "said"), CURATOR_WRITES, ids=[" ".join(a[:2]) for a, _ in CURATOR_WRITES]
)
def test_a_write_naming_a_missing_record_names_its_option_and_writes_nothing(
    ledger: Path, args: tuple[str, ...], said: str
) -> None:
    before = fingerprint(ledger)
    assert refusal(ledger, CURATOR, *args) == said
    assert fingerprint(ledger) == before


@pytest.mark.parametrize(
    ("args", "theirs", "missing"),
    [
        (("loans", "show"), "L-2025-UoC", "L-X"),
        (("loans", "list", "--institution"), "UoC", "Nowhere"),
        (("loans", "list", "--pi"), "muenker@uni-koeln.example", "nobody@nowhere.example"),
        (("samples", "list", "--custodian"), "UoC", "Nowhere"),
    ],
)
def test_a_researcher_hears_the_same_for_not_theirs_and_missing_led_by_the_option(
    ledger: Path, args: tuple[str, ...], theirs: str, missing: str
) -> None:
    not_theirs = refusal(ledger, OU_PI, *args, theirs)
    absent = refusal(ledger, OU_PI, *args, missing)
    assert absent == not_theirs.replace(repr(theirs), repr(missing))
    assert "among the records you may read" in absent and "does not exist" not in absent
    lead = args[-1] if args[-1].startswith("--") else "NUMBER"
    assert absent.startswith(f"{lead} {missing!r}: no such "), absent


def test_import_names_a_missing_record_in_the_same_words(ledger: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ledger.db"
    copy.write_bytes(ledger.read_bytes())
    history = tmp_path / "h.jsonl"
    history.write_text(
        '{"actor": "curator@naoc.example", "kind": "loan.approved", '
        '"occurred_at": "2026-04-30T10:00:00Z", "payload": {"number": "L-NOPE"}}\n',
        encoding="utf-8",
    )
    result = run(copy, CURATOR, "import", str(history))
    assert result.exit_code != 0
    assert "loan 'L-NOPE': no such loan" in result.stderr, result.stderr


# --- 2. and 3. the role first, then what was typed, before any work -------------------------


def test_verify_refuses_a_missing_checkpoint_before_any_check(
    ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "k"
    assert run(ledger, CURATOR, "keys", "generate", "--out", str(key)).exit_code == 0

    def no_work(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("verify ran before its files were read")

    monkeypatch.setattr("sampleloans.services.verify.verify", no_work)
    missing = tmp_path / "missing.txt"
    said = refusal(
        ledger, COMPLIANCE, "verify", "--checkpoint", str(missing), "--public-key", f"{key}.pub"
    )
    assert said == f"--checkpoint: {missing} does not exist"
    said = refusal(
        ledger, COMPLIANCE, "verify", "--checkpoint", f"{key}.pub", "--public-key", str(missing)
    )
    assert said == f"--public-key: {missing} does not exist"
    assert refusal(ledger, COMPLIANCE, "verify", "--anchor", "bad").startswith("--anchor: 'bad'")


@pytest.mark.parametrize(
    "args",
    [
        ("verify", "--anchor", "bad"),
        ("verify", "--checkpoint", "/missing/cp.txt", "--public-key", "/missing/k.pub"),
        ("restore", "/missing/backup.db"),
        ("restore", "--events", "/missing/events.jsonl"),
    ],
)
def test_a_researcher_hears_about_their_role_before_what_they_typed(
    ledger: Path, args: tuple[str, ...]
) -> None:
    said = refusal(ledger, OU_PI, *args, code=4)
    assert said.startswith(f"{OU_PI} is a researcher; only curators"), said


def test_restore_by_a_curator_still_names_a_missing_file(ledger: Path, tmp_path: Path) -> None:
    before = fingerprint(ledger)
    missing = tmp_path / "missing.db"
    said = refusal(ledger, CURATOR, "restore", str(missing))
    assert said == f"FILE: {missing} does not exist; give the file written by 'backup'"
    said = refusal(ledger, CURATOR, "restore", str(ledger))
    assert said.startswith(f"FILE: {ledger} is the ledger database itself")
    assert fingerprint(ledger) == before


# --- 4. signer options without --sign -------------------------------------------------------


@pytest.mark.parametrize(
    "option", ["--signer-p12", "--signer-key", "--signer-cert", "--signer-passphrase-file"]
)
@pytest.mark.parametrize(
    "command",
    [
        ("report", "custody", "--loan", "L-2025-OU", "--out", "r.pdf"),
        ("report", "statement", "--pi", OU_PI, "--out", "st"),
    ],
    ids=["custody", "statement"],
)
def test_a_signer_option_without_sign_is_refused_and_nothing_is_written(
    ledger: Path, tmp_path: Path, option: str, command: tuple[str, ...]
) -> None:
    os.chdir(tmp_path)
    given = tmp_path / "given"
    given.write_bytes(b"x")
    said = refusal(ledger, CURATOR, *command, option, str(given))
    assert said == f"{option}: only with --sign; add --sign to sign, or leave it out"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["given"]


def test_a_signer_set_in_the_environment_is_used_only_with_sign(
    ledger: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.pdf"
    env = {"SAMPLELOANS_SIGNER_P12": str(tmp_path / "lender.p12")}
    result = run(
        ledger, CURATOR, "report", "custody", "--loan", "L-2025-OU", "--out", str(out), env=env
    )
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes().startswith(b"%PDF")


# --- 5. Ctrl-C once the output is in place --------------------------------------------------


@pytest.mark.parametrize(
    ("args", "output"),
    [
        (("export", "--events", "events.jsonl"), "events.jsonl"),
        (("backup", "copy.db"), "copy.db"),
        (("export", "--bag", "bag"), "bag"),
        (("report", "custody", "--loan", "L-2025-OU", "--out", "r.pdf"), "r.pdf"),
    ],
    ids=["export-events", "backup", "export-bag", "report"],
)
def test_ctrl_c_after_the_output_is_in_place_says_it_was_kept(
    ledger: Path, tmp_path: Path, args: tuple[str, ...], output: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    env.update(
        SAMPLELOANS_DB=str(ledger),
        SAMPLELOANS_USER=CURATOR,
        SAMPLELOANS_NOW=NOW,
        SAMPLELOANS_CRASH_AT="after_replace:INT",  # a Ctrl-C right after the rename
    )
    done = subprocess.run(
        [sys.executable, "-m", "sampleloans", *args],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert done.stderr == (
        f"Error: interrupted (Ctrl-C) after its output was in place: {output} was written "
        "whole; nothing to run again\n"
    )
    assert (tmp_path / output).exists()
    if output == "bag":
        again = subprocess.run(
            [sys.executable, "-m", "sampleloans", "verify-bag", "bag"],
            capture_output=True, text=True, env={**env, "SAMPLELOANS_CRASH_AT": ""}, cwd=tmp_path,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr


# --- 6. CSV cells a spreadsheet can use -----------------------------------------------------


def test_loans_list_csv_gives_one_fact_a_cell(ledger: Path) -> None:
    result = run(ledger, COMPLIANCE, "loans", "list", "--csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    by_loan = {row["loan"]: row for row in rows}
    assert [row["loan"] for row in rows] == sorted(by_loan)
    osaka, ou, brown = by_loan["L-2025-Osaka"], by_loan["L-2025-OU"], by_loan["L-2025-Brown"]
    assert osaka["due (UTC)"] == "2026-04-25T08:00:00Z"
    assert (osaka["days left"], osaka["overdue"]) == ("-6", "yes")
    assert (ou["due (UTC)"], ou["days left"], ou["overdue"]) == ("2026-05-05T08:00:00Z", "4", "no")
    assert (ou["issued (µg)"], ou["held (µg)"]) == ("60000", "59500")
    assert (brown["due (UTC)"], brown["days left"], brown["overdue"]) == ("", "", "no")
    for row in rows:  # every mass a whole number of micrograms
        for heading in ("issued (µg)", "held (µg)", "on its way back (µg)"):
            assert row[heading].isdigit(), row


# --- verify-bag of a path that is no folder -------------------------------------------------


def test_verify_bag_names_a_missing_or_file_bag_as_an_input(ledger: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nothing"
    said = refusal(ledger, COMPLIANCE, "verify-bag", str(missing))
    assert said == f"BAG: {missing} does not exist; give the folder written by 'export --bag'"
    said = refusal(ledger, COMPLIANCE, "verify-bag", str(ledger))
    assert (
        said == f"BAG: {ledger} is a file, not a folder; give the folder written by 'export --bag'"
    )


# --- a key already taken is named by the option it was typed in ------------------------------

TAKEN = [
    (
        ("samples", "register", "CE5C0000YJBP005", "--mission", "CE-5", "--mass", "3 mg",
         "--origin", "scoop", "--material", "glass bead", "--form", "rock fragment",
         "--purpose", "research", "--location", "cabinet B"),
        "CODE: sample CE5C0000YJBP005 is already registered; codes are unique and immutable",
    ),
    (
        ("institutions", "add", "ou", "--name", "Open U", "--country", "GB", "--city", "Milton",
         "--kind", "borrower"),
        "SHORT: institution ou differs only in case from institution OU; use OU or choose a "
        "short name that differs in more than case",
    ),
    (
        ("loans", "request", "L-2025-OU", "--agreement", "AG-2025-OU", "--pi", OU_PI,
         "--sample", "CE5C0000YJBP005", "--period", "6 months"),
        "NUMBER: loan L-2025-OU already exists; loan numbers are unique",
    ),
    (
        ("people", "add", "Anand@open.example", "--name", "M. Anand", "--institution", "OU",
         "--role", "researcher"),
        "EMAIL: person anand@open.example already exists; see 'people show'",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("args", "said"), TAKEN, ids=[" ".join(a[:2]) for a, _ in TAKEN])
def test_a_key_already_taken_is_named_by_the_option_it_was_typed_in(
    ledger: Path, args: tuple[str, ...], said: str
) -> None:
    before = fingerprint(ledger)
    assert refusal(ledger, CURATOR, *args, code=1) == said
    assert fingerprint(ledger) == before


# --- both sides of one on/off flag --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ("loans", "consume", "L-2025-OU", "--sample", "CE5C0200YJFM00112", "--technique",
             "EPMA", "--mass", "1 mg", "--destructive", "--non-destructive"),
            "--destructive and --non-destructive: give one of them, not both",
        ),
        (
            ("loans", "receive", "L-2025-OU", "--seal-broken", "--condition", "ok",
             "--seal-intact"),
            "--seal-intact and --seal-broken: give one of them, not both",
        ),
    ],
    ids=["consume", "receive"],
)  # fmt: skip
def test_both_sides_of_an_on_off_flag_are_refused_not_the_last_kept(
    ledger: Path, args: tuple[str, ...], said: str
) -> None:
    before = fingerprint(ledger)
    assert refusal(ledger, CURATOR, *args) == said  # before: recorded the last one given
    assert fingerprint(ledger) == before
