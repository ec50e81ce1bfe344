"""Sweep s39 (README audit): `samples transfer` refuses a CODE typed twice, as a repeated
`--sample` is refused (README "Exit codes": a repeat is more often a slip than meant).

Before, `samples transfer CE5X CE5X --to MNHN` merged the two into one sample given away, exit 0,
and an imported `sample.transferred` naming a sample twice in its `items` was taken alike.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_copy, fingerprint

VAULT_SAMPLE = "CE5C0400YJFM00507"
"""A demo sample in the NAOC vault, free to be given away."""


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A fresh copy of the demo ledger (these tests write to it)."""
    return demo_copy(tmp_path / "demo")


def _run(ledger: Path, *args: str) -> tuple[int, str, str]:
    """Run the CLI as the demo curator: exit code, stdout, stderr."""
    env = {"SAMPLELOANS_DB": str(ledger), "NO_COLOR": "1", "COLUMNS": "80", "SAMPLELOANS_NOW": ""}
    result = CliRunner().invoke(app, ["--as", CURATOR, *args], env=env, prog_name="sampleloans")
    return result.exit_code, result.stdout, result.stderr


def test_a_code_typed_twice_is_refused_and_nothing_recorded(ledger: Path) -> None:
    before = fingerprint(ledger)
    args = ("samples", "transfer", VAULT_SAMPLE, VAULT_SAMPLE, "--to", "MNHN", "--reference", "R")
    said = f"Error: CODE: {VAULT_SAMPLE} is given twice; name each sample once\n"
    assert _run(ledger, *args) == (2, "", said)
    assert fingerprint(ledger) == before


def test_the_same_sample_typed_once_is_given(ledger: Path) -> None:
    """The refusal above is the repeat's, not the sample's state."""
    code, out, err = _run(
        ledger, "samples", "transfer", VAULT_SAMPLE, "--to", "MNHN", "--reference", "R"
    )
    assert (code, err) == (0, "")
    assert out.startswith(f"Transferred {VAULT_SAMPLE} (1.500 g) to MNHN for good; event ")


def test_an_imported_transfer_naming_a_sample_twice_is_refused_by_its_key(
    ledger: Path, tmp_path: Path
) -> None:
    when = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    item = [VAULT_SAMPLE, 1_500_000]
    record = {
        "kind": "sample.transferred",
        "occurred_at": when,
        "actor": CURATOR,
        "payload": {"recipient": "MNHN", "reference": "R", "items": [item, item]},
    }
    history = tmp_path / "gift.jsonl"
    history.write_text(json.dumps(record) + "\n", encoding="utf-8")
    before = fingerprint(ledger)
    code, out, err = _run(ledger, "import", str(history))
    assert (code, out) == (2, "")
    assert f"gift.jsonl line 1: items: {VAULT_SAMPLE} is given twice; name each sample once" in err
    assert fingerprint(ledger) == before
