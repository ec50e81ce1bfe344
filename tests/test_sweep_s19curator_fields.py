"""Sweep s19 (the whole round, as a curator): a refusal names the field as it was typed.

The services refuse a value naming the field in words, because the same rule runs for the
command line and for `import`: `samples register --location <130 characters>` said
"Error: storage location: 130 characters; …", `samples move --at 2020-01-01` "Error: time: …",
`samples split --child -A=1ug --child -A=2ug` "Error: children: …", `people add` with a tab in
`--name` "Error: name: …", `institutions add 'T UM'` "Error: short name: …", and a history line
of `import` "line 1: time: …" or "line 2: storage location: …" (the file says `occurred_at`
and `storage_location`). The option (`--location`, `--at`, `--child`, `--name`), the
argument's metavar (`SHORT`, `EMAIL`) and the file's key (`occurred_at`,
`storage_location`) are now named, whatever the service's words: each front end spells them
(`sampleloans/fields.py`).
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.fields import key_of_field, rename_field
from tests.cli_steps import ok, refused
from tests.conftest import CURATOR, fingerprint

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"  # a demo sample in the vault
REGISTER = (
    "samples", "register", "CE5CNEW0001", "--mission", "CE-5", "--mass", "1 mg", "--origin",
    "scoop", "--purpose", "research",
)  # fmt: skip
AGREEMENT = (
    "agreements", "add", "AG-X", "--institution", "OU", "--term", "5 years", "--max-mass", "1 g",
    "--purpose", "research", "--max-loan-period", "12 months",
)  # fmt: skip
LONG = "L" * 130


@pytest.mark.parametrize(
    ("args", "field", "code"),
    [
        (("people", "add", "new@open.example", "--name", "A\tB", "--institution", "OU",
          "--role", "researcher"), "--name", 2),
        (("people", "add", "new@@open.example", "--name", "A B", "--institution", "OU",
          "--role", "researcher"), "EMAIL", 2),
        (("institutions", "add", "T UM", "--name", "Lab", "--country", "UK", "--city", "Leeds",
          "--kind", "borrower"), "SHORT", 2),
        ((*REGISTER, "--material", "soil", "--form", "powder", "--location", LONG),
         "--location", 2),
        ((*REGISTER, "--material", "M" * 90, "--form", "powder", "--location", "N2"),
         "--material", 2),
        ((*REGISTER, "--material", "soil", "--form", "F" * 90, "--location", "N2"), "--form", 2),
        ((*REGISTER, "--material", "soil", "--form", "powder", "--location", "N2",
          "--condition", "C" * 201), "--condition", 2),
        (("samples", "move", CODE, "--location", "N2 cabinet Z", "--at", "2020-01-01"), "--at", 1),
        (("samples", "split", CODE, "--child", "-A=1ug", "--child", "-A=2ug"), "--child", 2),
        ((*AGREEMENT, "--at", "2026-01-01"), "--at", 1),
    ],
)  # fmt: skip
def test_a_refusal_names_the_option_as_typed(
    runner: CliRunner, db_path: Path, args: tuple[str, ...], field: str, code: int
) -> None:
    """One `Error:` line starting with the option or argument typed, its exit code, no write."""
    message = refused(runner, db_path, *args, code=code)
    assert message.startswith(f"Error: {field}: "), message


def history_line(occurred_at: str, code: str, location: str) -> str:
    """A `sample.moved` line of a history file."""
    record = {
        "kind": "sample.moved", "occurred_at": occurred_at, "actor": CURATOR,
        "payload": {"code": code, "storage_location": location},
    }  # fmt: skip
    return json.dumps(record, ensure_ascii=False)


def test_an_imported_line_names_the_key_of_the_file(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    """`occurred_at` for the time order and the future, `storage_location` for its length."""
    history = tmp_path / "moves.jsonl"
    lines = [
        history_line("2020-01-01T00:00:00Z", CODE, "N2 cabinet Z"),
        history_line("2025-03-01T00:00:00Z", CODE, LONG),
        history_line("2026-01-01T00:00:00Z", CODE, "N2 cabinet Y"),
    ]
    history.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", CURATOR, "import", str(history)])
    assert result.exit_code == 2, result.output
    details = result.stderr.splitlines()
    assert details[0].startswith("moves.jsonl line 1: occurred_at: 2020-01-01T00:00:00Z is before")
    assert details[1].startswith("moves.jsonl line 2: storage_location: 130 characters; at most")
    assert details[2].startswith("moves.jsonl line 3: occurred_at: 2026-01-01T00:00:00Z is in the")
    assert details[3].startswith("Error: moves.jsonl: 3 of 3 records refused")
    assert fingerprint(db_path) == before


def test_a_field_a_record_does_not_have_stays_in_words() -> None:
    """Only a key the record holds is named; a message about something else is left as is."""
    keys = {"code", "storage_location"}
    assert rename_field("time: 2020 is before", lambda w: key_of_field(w, keys)) == (
        "time: 2020 is before"
    )
    assert rename_field("storage location: too long", lambda w: key_of_field(w, keys)) == (
        "storage_location: too long"
    )
    assert rename_field("loan L-1: x", lambda w: "--never") == "loan L-1: x"
    assert rename_field("--at: x", lambda w: "--never") == "--at: x"


def test_a_child_given_twice_is_named(runner: CliRunner, db_path: Path) -> None:
    """`samples split` said only "each child code must be different": which one, now."""
    message = refused(
        runner, db_path, "samples", "split", CODE, "--child", "-A=1ug", "--child", "-B=1ug",
        "--child", "-A=2ug", code=2,
    )  # fmt: skip
    assert message == (
        f"Error: --child: {CODE}-A is given twice; each child code must be different\n"
    ), message


def test_an_agreement_signed_or_ended_too_early_says_both_times(
    runner: CliRunner, db_path: Path
) -> None:
    """It said only "cannot be signed before it was drafted": which moments, now (as UTC)."""
    ok(runner, *AGREEMENT, "--at", "2025-03-01T10:00:00+01:00")
    message = refused(
        runner, db_path, "agreements", "sign", "AG-X", "--signed-by", "LESEC", "--at",
        "2025-03-01T08:59:59Z",
    )  # fmt: skip
    assert message == (
        "Error: --at: agreement AG-X cannot be signed before it was drafted: "
        "2025-03-01T08:59:59Z is before 2025-03-01T09:00:00Z; give a time from "
        "2025-03-01T09:00:00Z on\n"
    ), message
    ok(runner, "agreements", "sign", "AG-X", "--signed-by", "LESEC", "--at", "2025-03-02")
    message = refused(
        runner, db_path, "agreements", "terminate", "AG-X", "--reason", "ended", "--at",
        "2025-03-01T12:00:00Z",
    )  # fmt: skip
    assert message == (
        "Error: --at: agreement AG-X cannot end before it was signed: 2025-03-01T12:00:00Z is "
        "before 2025-03-02T00:00:00Z; give a time from 2025-03-02T00:00:00Z on\n"
    ), message


def test_a_purpose_the_agreement_does_not_allow_names_the_option_and_the_word_typed(
    runner: CliRunner, db_path: Path
) -> None:
    """It said "agreement AG-X allows research use, not public_welfare": the stored word, and
    no option; `--purpose` and the word as typed (`public-welfare`), now."""
    ok(runner, *AGREEMENT, "--at", "2025-03-01")
    ok(runner, "agreements", "sign", "AG-X", "--signed-by", "LESEC", "--at", "2025-03-02")
    message = refused(
        runner, db_path, "loans", "request", "L-X", "--agreement", "AG-X", "--pi",
        "anand@open.example", "--sample", CODE, "--purpose", "public welfare",
    )  # fmt: skip
    assert message == (
        "Error: --purpose: agreement AG-X allows research use, not public-welfare\n"
    ), message
