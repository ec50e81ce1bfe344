"""Sweep s20 (the 2025 round, as the lender's curator): what a curator met, fixed as a class.

- A missing input file was exit 3 for `restore`, `verify-document`, `--trust-root`, a signer
  file, `--root`, `--passphrase-file` and `export --bag --report`, exit 2 for `import`, `--key`
  and `verify --checkpoint`: now one rule (`fileio.open_input`): a file the user named that
  does not exist or is a folder is exit 2, `Error: OPTION: PATH does not exist`.
- An empty `.jsonl` imported "0 events" (exit 0) while an empty `.csv` was refused; a
  catalogue of only its header imported 0 samples: every file with no record is refused (2).
- A compact ISO 8601 time (`20250330T001000Z`) was refused by every time option and import
  field; complete basic, week and ordinal dates are read, and the error line names the forms.
- A sample could be on two open requests, refused only at the second one's issue: now refused
  at `loans request` (and `import`, also within one batch), naming the other request; nor is a
  requested sample given away or split whole (which stranded the request the same way).
- A mass `3.2mgs` was said to need "digits on both sides of the decimal point": the unit is
  named instead.
- "loan L-1 is return in transit": every state said in a sentence has its words
  (`vocab.STATE_WORDS`).
- A researcher or compliance officer giving a curator's command a bad value was told about the
  value (exit 2) before being refused (exit 4): the role is checked first (`services/gate.py`).
"""

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.services.bulk import BulkRejected, import_records
from sampleloans.services.gate import COMMAND_ROLES
from sampleloans.vocab import STATE_VOCABULARIES, STATE_WORDS, state_words
from tests.cli_steps import ok, refused, signed_ou_agreement
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, ctx_for, fingerprint

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"  # a demo sample in the vault
CATALOGUE_HEADER = (
    "code,mission,origin,material_type,physical_form,mass,purpose_class,storage_location\n"
)


def _invoke(actor: str, *args: str) -> Any:
    return CliRunner().invoke(app, ["--as", actor, *args])


# --- one rule for an input file the user named ---------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("import", "{m}"), "FILE"),
        (("restore", "{m}", "--force"), "FILE"),
        (("restore", "{m}", "--events", "--force"), "FILE"),
        (("verify-document", "{m}"), "FILE"),
        (("checkpoint", "--key", "{m}"), "--key"),
        (("verify", "--since", "{m}"), "--since"),
        (("keys", "signing-cert", "--root", "{d}", "--out", "{o}"), "--root"),
        (("report", "custody", "--sample", CODE, "--out", "{o}/r.pdf", "--sign",
          "--signer-p12", "{m}"), "--signer-p12"),
    ],
)  # fmt: skip
def test_a_missing_input_file_is_exit_2_naming_its_option(
    db_path: Path, tmp_path: Path, args: tuple[str, ...], named: str
) -> None:
    missing, folder, out = tmp_path / "missing.jsonl", tmp_path / "nowhere", tmp_path / "out"
    out.mkdir()
    typed = [a.format(m=missing, d=folder, o=out) for a in args]
    before = fingerprint(db_path)
    result = _invoke(CURATOR, *typed)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: {named}: "), result.stderr
    assert " does not exist" in result.stderr and result.stderr.count("\n") == 1
    assert fingerprint(db_path) == before
    assert list(out.iterdir()) == []


def test_a_folder_given_as_an_input_file_is_exit_2(db_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "history.jsonl"
    folder.mkdir()
    message = refused(CliRunner(), db_path, "import", str(folder), code=2)
    assert message == (
        f"Error: FILE: {folder} is a folder, not a file; give the path of a .csv or .jsonl file\n"
    )


# --- an import of nothing --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("empty.jsonl", "", "holds no event (it is empty or only blank lines)"),
        ("blank.jsonl", "\n  \n\n", "holds no event (it is empty or only blank lines)"),
        ("empty.csv", "", "holds no sample (it is empty or only blank lines)"),
        ("blank.csv", "\n\n", "holds no sample (it is empty or only blank lines)"),
        ("header.csv", CATALOGUE_HEADER, "holds no sample, only its header line"),
    ],
)
def test_a_file_with_no_record_is_refused_in_both_formats(
    db_path: Path, tmp_path: Path, name: str, text: str, says: str
) -> None:
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    message = refused(CliRunner(), db_path, "import", str(source), code=2)
    assert message.startswith(f"Error: {name}: {says}"), message
    assert message.endswith("; nothing was imported\n")


# --- compact ISO 8601 times ----------------------------------------------------------------


def test_a_compact_time_is_read_by_an_option_and_by_an_imported_line(tmp_path: Path) -> None:
    runner = CliRunner(env={"SAMPLELOANS_NOW": "2025-06-01T00:00:00Z"})
    ok(runner, "samples", "move", CODE, "--location", "N2 cabinet Z", "--at", "20250502T001000Z")
    history = tmp_path / "h.jsonl"
    line = {
        "kind": "sample.moved",
        "occurred_at": "2025-W19-1T08:00Z",  # Monday 5 May 2025
        "actor": CURATOR,
        "payload": {"code": CODE, "storage_location": "N2 cabinet Y"},
    }
    history.write_text(json.dumps(line) + "\n", encoding="utf-8")
    ok(runner, "import", str(history))
    shown = json.loads(ok(runner, "custody", "history", "--sample", CODE, "--json"))
    moments = [row["occurred_at"] for row in shown["events"] if row["kind"] == "sample.moved"]
    assert moments == ["2025-05-02T00:10:00Z", "2025-05-05T08:00:00Z"]


def test_a_reduced_time_is_refused_naming_the_accepted_forms(db_path: Path) -> None:
    message = refused(CliRunner(), db_path, "samples", "move", CODE, "--location", "N2 Z",
                      "--at", "2025-03", code=2)  # fmt: skip
    assert message.startswith("Error: --at: '2025-03' is not a date and time; use ISO 8601")
    assert "2025-04-24T10:30:00Z or 20250424T103000Z" in message
    assert "week or ordinal date" in message


# --- one sample on one open request --------------------------------------------------------


def _request(number: str, *codes: str) -> list[str]:
    samples = [arg for code in codes for arg in ("--sample", code)]
    return ["loans", "request", number, "--agreement", "AG-OU", "--pi", OU_PI, *samples,
            "--period", "1 month"]  # fmt: skip


def test_a_sample_on_an_open_request_is_refused_at_the_second_request(db_path: Path) -> None:
    runner = CliRunner()
    signed_ou_agreement(runner)
    ok(runner, *_request("L-A", CODE))
    ok(runner, "loans", "approve", "L-A")
    message = refused(runner, db_path, *_request("L-B", "CE5C0000YJYX090", CODE))
    assert message == (
        f"Error: sample {CODE} is already on loan request L-A (approved, not issued); one "
        "sample is on one open request at a time: leave it out, or withdraw L-A first "
        "('loans withdraw L-A --reason …')\n"
    )
    ok(runner, "loans", "withdraw", "L-A", "--reason", "declined: asked again as L-B")
    ok(runner, *_request("L-B", CODE))


def _requested(number: str, code: str) -> dict[str, Any]:
    return {
        "kind": "loan.requested",
        "actor": CURATOR,
        "payload": {"number": number, "agreement": "AG-OU", "pi": OU_PI, "samples": [code]},
    }


def test_an_import_refuses_a_second_open_request_within_its_batch(
    engine: Engine, db_path: Path, tmp_path: Path
) -> None:
    signed_ou_agreement(CliRunner())
    lines = [json.dumps(_requested(n, CODE)) + "\n" for n in ("L-I1", "L-I2")]
    source = tmp_path / "requests.jsonl"
    source.write_text("".join(lines), encoding="utf-8")
    before = fingerprint(db_path)
    result = _invoke(CURATOR, "import", str(source))
    assert result.exit_code == 1, result.output
    assert f"line 2: sample {CODE} is already on loan request L-I1 (requested" in result.stderr
    assert fingerprint(db_path) == before
    with pytest.raises(BulkRejected) as rejected, db.transaction(engine) as session:
        import_records(session, ctx_for(), lines, fmt="jsonl")
    assert [error.line for error in rejected.value.errors] == [2]


# --- states in words -----------------------------------------------------------------------


def test_every_state_has_words_and_none_is_an_internal_name() -> None:
    for vocabulary in STATE_VOCABULARIES:
        for member in vocabulary:
            assert member in STATE_WORDS, member
            assert "_" not in state_words(member), member
    assert state_words("return_in_transit") == "on its way back to the lender"


def test_a_refusal_names_the_loans_state_in_words(db_path: Path) -> None:
    runner = CliRunner()
    signed_ou_agreement(runner)
    ok(runner, *_request("L-1", CODE))
    ok(runner, "loans", "approve", "L-1")
    ok(runner, "loans", "issue", "L-1")
    ok(runner, "loans", "ship", "L-1", "--container", "box", "--seal", "S-1", "--method",
       "courier")  # fmt: skip
    message = refused(runner, db_path, "loans", "settle", "L-1", "--obligations", "none")
    assert message.startswith("Error: loan L-1 is on its way to the borrower; cannot settle")
    assert "in_transit" not in message


# --- who you are before what you typed -----------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "args", "says"),
    [
        (OU_PI, ("loans", "issue", "L-1", "--at", "garbage"), "may issue loans"),
        (COMPLIANCE, ("samples", "register", "CE5CNEW1", "--mission", "CE-5", "--mass", "5",
                      "--origin", "scoop", "--material", "x", "--form", "powder", "--purpose",
                      "research", "--location", "N2"), "may register samples"),
        (OU_PI, ("people", "add", "x@open.example", "--name", "X", "--institution", "OU",
                 "--role", "curatorr"), "may add people"),
        (COMPLIANCE, ("loans", "consume", "L-1", "--sample", CODE, "--technique", "EPMA",
                      "--mass", "-1 mg", "--destructive"),
         "borrowing institution's researchers may record"),
        (OU_PI, ("checkpoint", "--key", "/nowhere/key"), "may sign a checkpoint"),
        (OU_PI, ("verify", "--since", "/nowhere/checkpoint"), "may verify the whole ledger"),
    ],
)  # fmt: skip
def test_the_role_is_refused_before_the_input_is_read(
    db_path: Path, actor: str, args: tuple[str, ...], says: str
) -> None:
    before = fingerprint(db_path)
    result = _invoke(actor, *args)
    assert result.exit_code == 4, result.output
    assert result.stderr.startswith(f"Error: {actor} is a ") and says in result.stderr
    assert fingerprint(db_path) == before


def test_a_researcher_on_a_lab_command_still_hears_about_the_value() -> None:
    result = _invoke(OU_PI, "loans", "consume", "L-1", "--sample", CODE, "--technique", "EPMA",
                     "--mass", "5 mg", "--destructive", "--at", "garbage")  # fmt: skip
    assert result.exit_code == 2 and result.stderr.startswith("Error: --at: 'garbage'")


def test_every_writing_command_has_its_roles() -> None:
    """The gate knows every command that writes (a new one must say who may run it)."""
    from tests.test_cli_roles import WRITE_COMMANDS

    assert set(WRITE_COMMANDS) <= set(COMMAND_ROLES)


# --- a mass whose unit is misspelt right after the decimals --------------------------------


def test_a_misspelt_unit_after_decimals_is_named_as_the_unit(db_path: Path) -> None:
    """Before: "'3.2mgs' needs digits on both sides of the decimal point" (it has them)."""
    message = refused(CliRunner(), db_path, "samples", "split", CODE, "--child", "-01=3.2mgs",
                      code=2)  # fmt: skip
    assert message == "Error: --child: '3.2mgs' has unknown unit 'mgs'; use ug, µg, mg or g\n"


def test_a_sample_on_an_open_request_is_not_given_away_nor_split_whole(db_path: Path) -> None:
    """Before: both went through and the request was refused only at its issue."""
    runner = CliRunner()
    signed_ou_agreement(runner)
    ok(runner, *_request("L-A", CODE))
    given = refused(runner, db_path, "samples", "transfer", CODE, "--to", "MNHN", "--reference",
                    "gift")  # fmt: skip
    assert given == (
        f"Error: sample {CODE} is on loan request L-A (requested, not issued); withdraw it first "
        "('loans withdraw L-A --reason …') or give another sample\n"
    )
    vault = json.loads(ok(runner, "samples", "show", CODE, "--json"))["vault_ug"]
    split = refused(runner, db_path, "samples", "split", CODE, "--child", f"-01={vault}ug")
    assert split.startswith(f"Error: split of {CODE}: it is on loan request L-A (requested")
    ok(runner, "samples", "split", CODE, "--child", "-01=1ug")  # some of it stays: issuable
