"""Sweep "domain rules and mass accounting": `import` applies the commands' rules to values.

A history line hands its values to the same service as the command, but the command parses its
text first (`--term "5 years"`, `--max-mass "1 g"`, `--weighed CODE=4.8mg`): what that parsing
refused must be refused for an imported line too, with nothing written. Before, an agreement
imported with the period "5 years" or "P500Y" was stored, and `agreements show` and
`agreements sign` then crashed on it; a weighing of 9 billion grams went in; an agreement's
maximum of 1,000 tonnes went in, where `--max-mass` refuses more than 10 kg.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.cli_steps import ok, signed_ou_agreement
from tests.conftest import CURATOR, fingerprint

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"  # 4.8 mg in the demo catalogue
BEYOND_10_KG = 10_000_000_001  # µg
AGREEMENT = {
    "number": "AG-X",
    "institution": "IPGP",
    "term": "P5Y",
    "max_total_mass_ug": 1_000_000,
    "allowed_purposes": ["research"],
    "max_loan_period": "P1Y",
}


def refused_import(runner: CliRunner, db_path: Path, tmp_path: Path, *lines: dict) -> str:
    """Importing `lines` exits 2 and writes nothing; returns stderr."""
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", CURATOR, "import", str(history)])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert fingerprint(db_path) == before
    return result.stderr


def created(**payload: object) -> dict:
    """An agreement.created line with some terms replaced."""
    return {"kind": "agreement.created", "actor": CURATOR, "payload": {**AGREEMENT, **payload}}


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("term", "P500Y", "longer than 100 years"),
        ("term", "banana", "not a period"),
        ("max_loan_period", "P0D", "zero"),
        ("max_extension_period", "P1DT2H", "time part"),
        ("inventory_interval", "-P1Y", "negative"),
    ],
)
def test_an_imported_agreement_period_is_read_as_the_command_reads_it(
    runner, db_path, tmp_path, field, value, words
):
    message = refused_import(runner, db_path, tmp_path, created(**{field: value}))
    assert "line 1:" in message and words in message, message
    assert f"line 1: {field}: " in message, message  # the key as the file spells it


def test_an_imported_agreement_period_in_words_is_stored_only_as_the_command_stores_it(
    runner, db_path, tmp_path
):
    message = refused_import(runner, db_path, tmp_path, created(term="5 years"))
    assert "P5Y" in message, message  # the ledger records the canonical form; the line differs
    ok(runner, "agreements", "list")


@pytest.mark.parametrize(
    ("mass_ug", "words"),
    [
        (BEYOND_10_KG, "max_total_mass_ug: 10,000.000001 g is more than 10 kg"),
        (0, "max_total_mass_ug: 0 µg is zero"),
        (-1, "max_total_mass_ug: -1 is out of range"),  # the payload's own type check
    ],
)
def test_an_imported_agreement_maximum_has_the_typed_bounds(
    runner: CliRunner, db_path: Path, tmp_path: Path, mass_ug: int, words: str
) -> None:
    """`--max-mass` refuses more than 10 kg, zero and below; so does an imported line."""
    message = refused_import(runner, db_path, tmp_path, created(max_total_mass_ug=mass_ug))
    assert "line 1:" in message and words in message, message


def test_the_typed_agreement_maximum_beyond_10_kg_is_refused(runner: CliRunner) -> None:
    """The command's own bound, which the import now shares."""
    result = runner.invoke(
        app,
        ["--as", CURATOR, "agreements", "add", "AG-Y", "--institution", "IPGP", "--term",
         "5 years", "--max-mass", "10001 g", "--purpose", "research", "--max-loan-period",
         "1 year"],
    )  # fmt: skip
    assert result.exit_code == 2 and "more than 10 kg" in result.stderr, result.stderr


def test_an_imported_weighing_beyond_10_kg_is_refused(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    signed_ou_agreement(runner)
    pi = "anand@open.example"
    ok(runner, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", pi, "--sample", CODE)
    ok(runner, "loans", "approve", "L-1")
    ok(runner, "loans", "issue", "L-1")
    ok(runner, "loans", "ship", "L-1", "--container", "N2 box", "--seal", "S-1")
    line = {
        "kind": "loan.received",
        "actor": CURATOR,
        "payload": {
            "number": "L-1",
            "seal_intact": True,
            "condition": "pristine",
            "weighed": [[CODE, BEYOND_10_KG]],
        },
    }
    message = refused_import(runner, db_path, tmp_path, line)
    assert "weighed" in message and "more than 10 kg" in message, message


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (
            "loan.consumed",
            {"number": "L-1", "sample": CODE, "technique": "SIMS", "destructive": False},
        ),
        ("loan.split", {"number": "L-1", "parent": CODE, "child": f"{CODE}-G1"}),
    ],
)
def test_an_imported_use_beyond_10_kg_is_invalid_input_as_typed(
    runner, db_path, tmp_path, kind, payload
):
    """`loans consume --mass '10000.000001 g'` is invalid input (exit 2), not a shortfall."""
    signed_ou_agreement(runner)
    pi = "anand@open.example"
    ok(runner, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", pi, "--sample", CODE)
    ok(runner, "loans", "approve", "L-1")
    ok(runner, "loans", "issue", "L-1")
    ok(runner, "loans", "ship", "L-1", "--container", "N2 box", "--seal", "S-1")
    ok(runner, "loans", "receive", "L-1", "--seal-intact", "--condition", "pristine")
    line = {"kind": kind, "actor": CURATOR, "payload": {**payload, "mass_ug": BEYOND_10_KG}}
    message = refused_import(runner, db_path, tmp_path, line)
    assert "more than 10 kg" in message, message


def test_a_receipt_imported_twice_is_refused_as_the_command_refuses_it(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    signed_ou_agreement(runner)
    pi = "anand@open.example"
    ok(runner, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", pi, "--sample", CODE)
    ok(runner, "loans", "approve", "L-1")
    ok(runner, "loans", "issue", "L-1")
    shipped = ok(runner, "loans", "ship", "L-1", "--container", "N2 box", "--seal", "S-1")
    shipment_seq = int(shipped.rsplit("event ", 1)[1].split(")")[0])
    receive = ("loans", "receive", "L-1", "--seal-intact", "--condition", "pristine")
    ok(runner, *receive)
    typed = runner.invoke(app, ["--as", CURATOR, *receive])
    assert typed.exit_code == 1
    line = {
        "kind": "loan.received",
        "actor": CURATOR,
        "payload": {
            "number": "L-1",
            "shipment_seq": shipment_seq,
            "seal_intact": True,
            "condition": "pristine",
        },
    }
    history = tmp_path / "again.jsonl"
    history.write_text(json.dumps(line) + "\n", encoding="utf-8")
    imported = runner.invoke(app, ["--as", CURATOR, "import", str(history)])
    assert imported.exit_code == 1
    assert f"line 1: {typed.stderr.removeprefix('Error: ')}" in imported.stderr, imported.stderr
