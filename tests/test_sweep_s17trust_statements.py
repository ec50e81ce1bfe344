"""Sweep s17, trust artefacts: a researcher's statement handed to someone, then altered.

Found: `verify-document` with the ledger accepted an unsigned statement with an update
appended (it compared the fresh rendering as a prefix, as for a signed file), and the public
key check accepted embedded proofs whose events were duplicated or reordered.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader, PdfWriter

from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_checkpoint, make_demo

OSAKA_PI = "terada@osaka-u.example"
STATEMENT = "statement-terada-at-osaka-u.example.pdf"
PROOFS = "statement-proofs.json"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo ledger with a kept checkpoint and an unsigned statement to Osaka's PI."""
    folder = tmp_path_factory.mktemp("statements")
    ledger = copy_ledger(make_demo(folder / "d"), folder / "ledger.db")
    keys = make_checkpoint(ledger, folder)
    env = env_for(ledger)
    done = invoke(env, "report", "statement", "--pi", OSAKA_PI, "--out", str(folder / "st"))
    assert done.exit_code == 0, done.stderr
    return {**keys, "env": env, "statement": folder / "st" / STATEMENT, "folder": folder}


def with_proofs_changed(source: Path, target: Path, change: Any) -> Path:
    """`source` with its embedded proofs changed by `change`, as an update appended to it."""
    proofs = json.loads(PdfReader(source).attachments[PROOFS][0])
    change(proofs["events"])
    writer = PdfWriter(source, incremental=True)
    names: Any = writer.root_object["/Names"]["/EmbeddedFiles"]["/Names"]  # type: ignore[index]  # pypdf types it as PdfObject
    spec = names[names.index(PROOFS) + 1].get_object()
    spec["/EF"]["/F"].get_object().set_data(json.dumps(proofs, sort_keys=True).encode())
    with target.open("wb") as handle:
        writer.write(handle)
    assert target.read_bytes().startswith(source.read_bytes())
    return target


def test_an_update_appended_to_an_unsigned_statement_fails_against_the_ledger(
    made: dict[str, Any], tmp_path: Path
) -> None:
    """Before: 'ok the file is byte-identical to a fresh rendering', exit 0."""
    altered = with_proofs_changed(made["statement"], tmp_path / STATEMENT, lambda e: e.pop(1))
    result = invoke(made["env"], "verify-document", str(altered))
    assert result.exit_code == 1, result.stdout
    assert "FAIL  file: the PDF differs from a fresh rendering" in result.stdout
    assert "byte-identical" not in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    # the statement as written still verifies
    assert invoke(made["env"], "verify-document", str(made["statement"])).exit_code == 0


@pytest.mark.parametrize(
    ("how", "change"),
    [
        ("duplicated", lambda events: events.insert(1, events[1])),
        ("reordered", lambda events: events.insert(0, events.pop(1))),
    ],
)
def test_proofs_with_an_event_duplicated_or_reordered_fail_with_the_key_alone(
    made: dict[str, Any], tmp_path: Path, how: str, change: Any
) -> None:
    """Before: 'ok 7 of 7 events …', 'every event listed is in the ledger', exit 0."""
    altered = with_proofs_changed(made["statement"], tmp_path / STATEMENT, change)
    env = {"SAMPLELOANS_NOW": made["env"]["SAMPLELOANS_NOW"], "NO_COLOR": "1"}
    nowhere = str(made["folder"] / "no-ledger.db")
    result = invoke(env, "--db", nowhere, "verify-document", str(altered),
                    "--public-key", str(made["pub"]))  # fmt: skip
    assert result.exit_code == 1, (how, result.stdout)
    assert "FAIL  events: " in result.stdout and "in ascending seq order" in result.stdout
    assert "every event listed is in the ledger" not in result.stdout
    untouched = invoke(env, "--db", nowhere, "verify-document", str(made["statement"]),
                       "--public-key", str(made["pub"]))  # fmt: skip
    assert untouched.exit_code == 0, untouched.stdout


def test_the_stand_alone_proof_check_refuses_a_duplicated_event(
    made: dict[str, Any], tmp_path: Path
) -> None:
    """docs/trust.md's check_proofs.py, with the proofs a borrower extracted (pdfdetach)."""
    proofs = json.loads(PdfReader(made["statement"]).attachments[PROOFS][0])
    tools = Path(__file__).parents[1] / "tools"
    script = [sys.executable, str(tools / "check_proofs.py")]
    args = [str(made["pub"]), str(tools / "verify_ledger.py")]
    intact = tmp_path / "intact.json"
    intact.write_text(json.dumps(proofs))
    assert subprocess.run([*script, str(intact), *args], capture_output=True).returncode == 0
    proofs["events"].append(proofs["events"][0])
    copied = tmp_path / "copied.json"
    copied.write_text(json.dumps(proofs))
    result = subprocess.run([*script, str(copied), *args], capture_output=True, text=True)
    assert result.returncode == 1, result.stdout
    assert "FAIL events: not each listed once in ascending seq order" in result.stdout


def test_a_signed_statement_changed_after_signing_names_the_signature_not_the_checkpoint(
    made: dict[str, Any], tmp_path: Path
) -> None:
    """Before: the proofs held ('ok 6 of 6 events'), the PDF signature failed, and the last
    line said 'does NOT match the signed checkpoint', which it did."""
    env, folder = made["env"], made["folder"]
    root, signer = folder / "root", folder / "signer"
    assert invoke(env, "keys", "lender-root", "--out", str(root), "--name", "NAOC").exit_code == 0
    issued = invoke(env, "keys", "signing-cert", "--root", str(root), "--out", str(signer))
    assert issued.exit_code == 0, issued.stderr
    done = invoke(env, "report", "statement", "--pi", OSAKA_PI, "--out", str(folder / "signed"),
                  "--sign", "--signer-key", str(signer / "signing-key.pem"),
                  "--signer-cert", str(signer / "signing-cert.pem"))  # fmt: skip
    assert done.exit_code == 0, done.stderr
    altered = with_proofs_changed(
        folder / "signed" / STATEMENT, tmp_path / STATEMENT, lambda events: None
    )
    nowhere = str(folder / "no-ledger.db")
    result = invoke({"SAMPLELOANS_NOW": env["SAMPLELOANS_NOW"], "NO_COLOR": "1"}, "--db",
                    nowhere, "verify-document", str(altered),
                    "--public-key", str(made["pub"]))  # fmt: skip
    assert result.exit_code == 1, result.stdout
    last = result.stdout.splitlines()[-1]
    assert "signed checkpoint" not in last and "PDF signature" in last, last
