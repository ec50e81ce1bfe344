"""Sweep s18 (trust): an auditor with docs/trust.md's check_proofs.py and the proofs a
statement or report embeds, given files that are not what they should be; and what
`verify-document` says of the checkpoint a report names.

Found: check_proofs.py ended in a Python traceback (exit 1, read as "a check failed") for a
proofs file that is not JSON, an event whose seq is text, a proof hash that is not hex, a
checkpoint that is no signed note, a missing file; given the private key it said "FAIL public
key: not an Ed25519 note key" (exit 1) where verify_ledger.py says it is a private key (exit 2).
`verify-document` printed the checkpoint as "checkpoint 107:c9e4be159f22…", SIZE:ROOT, beside
"head 107 …" whose hash is another: it read as a second, different head.
"""

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_checkpoint, make_demo

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
OSAKA_PI = "terada@osaka-u.example"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo ledger with a kept checkpoint, a statement to Osaka's PI and a custody report."""
    folder = tmp_path_factory.mktemp("proofs")
    ledger = copy_ledger(make_demo(folder / "d"), folder / "ledger.db")
    keys = make_checkpoint(ledger, folder)
    env = env_for(ledger)
    done = invoke(env, "report", "statement", "--pi", OSAKA_PI, "--out", str(folder / "st"))
    assert done.exit_code == 0, done.stderr
    custody = folder / "custody.pdf"
    done = invoke(env, "report", "custody", "--loan", "L-2025-Osaka", "--out", str(custody))
    assert done.exit_code == 0, done.stderr
    [statement] = (folder / "st").glob("*.pdf")
    proofs = json.loads(PdfReader(statement).attachments["statement-proofs.json"][0])
    return {**keys, "env": env, "proofs": proofs, "custody": custody}


def check_proofs(document: Path, key: Path) -> subprocess.CompletedProcess[str]:
    """docs/trust.md's check_proofs.py, as printed there, beside the shipped verifier."""
    [code] = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "trust.md").read_text(), re.S)
    script = document.parent / "check_proofs.py"
    script.write_text(code)
    args = [sys.executable, str(script), str(document), str(key), str(TOOLS / "verify_ledger.py")]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def edited(proofs: dict[str, Any], change: str) -> Any:
    """The statement's proofs with one thing an attacker or a broken copy changes."""
    document = json.loads(json.dumps(proofs))
    if change == "seq as text":
        document["events"][0]["seq"] = str(document["events"][0]["seq"])
    elif change == "proof not hex":
        document["events"][0]["proof"][0] = "zz"
    elif change == "no signed note":
        document["checkpoint"] = "x"
    elif change == "no events field":
        del document["events"][0]["hash"]
    elif change == "a list":
        document = [document]
    return document


@pytest.mark.parametrize(
    "change", ["seq as text", "proof not hex", "no signed note", "no events field", "a list"]
)
def test_a_malformed_proofs_file_is_one_line_exit_2(
    made: dict[str, Any], tmp_path: Path, change: str
) -> None:
    document = tmp_path / "proofs.json"
    document.write_text(json.dumps(edited(made["proofs"], change)))
    done = check_proofs(document, made["pub"])
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == "" and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"Error: {document}: not embedded proofs (")


def test_a_file_that_is_not_json_is_one_line_exit_2(made: dict[str, Any], tmp_path: Path) -> None:
    document = tmp_path / "proofs.json"
    document.write_text("{\n")
    done = check_proofs(document, made["pub"])
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_the_private_key_is_refused_never_echoed(made: dict[str, Any], tmp_path: Path) -> None:
    document = tmp_path / "proofs.json"
    document.write_text(json.dumps(made["proofs"]))
    done = check_proofs(document, made["key"])
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert (
        done.stderr
        == f"Error: public key: {made['key']} is a private key file; give the .pub file\n"
    )
    # the whole key material: base64 may itself hold "+", so the text after the fourth one
    secret = made["key"].read_text().strip().split("+", 4)[4]
    assert secret not in done.stdout + done.stderr


def test_intact_proofs_pass_and_a_wrong_event_fails(made: dict[str, Any], tmp_path: Path) -> None:
    document = tmp_path / "proofs.json"
    document.write_text(json.dumps(made["proofs"]))
    done = check_proofs(document, made["pub"])
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stdout.endswith(": ok\n")
    changed = json.loads(json.dumps(made["proofs"]))
    changed["events"][0]["seq"] = 10**30  # no such leaf: a failed check, not unreadable input
    document.write_text(json.dumps(changed))
    failed = check_proofs(document, made["pub"])
    assert failed.returncode == 1 and "not included under the signed root" in failed.stdout


def test_verify_document_names_the_checkpoint_by_its_size_and_root(made: dict[str, Any]) -> None:
    note = made["note"].split("\n")
    size, root_hex = note[1], base64.b64decode(note[2]).hex()
    done = invoke(made["env"], "verify-document", str(made["custody"]))
    assert done.exit_code == 0, done.stdout
    assert (
        f"ok    checkpoint of {size} events (root {root_hex[:12]}…) is kept in the ledger and "
        "its signature verifies"
    ) in done.stdout
    assert f"checkpoint {size}:" not in done.stdout


@pytest.mark.parametrize("which", ["source", "--checkpoint", "--public-key"])
def test_the_verifier_names_a_missing_file_in_one_line(
    made: dict[str, Any], tmp_path: Path, which: str
) -> None:
    """Before: "Error: [Errno 2] No such file or directory: 'cp.txt'", Python's own words."""
    missing = tmp_path / "missing.txt"
    given = {"source": str(made["env"]["SAMPLELOANS_DB"]), "--checkpoint": str(made["cp"])}
    given["--public-key"] = str(made["pub"])
    given[which] = str(missing)
    args = [given["source"], "--checkpoint", given["--checkpoint"]]
    args += ["--public-key", given["--public-key"]]
    done = subprocess.run(
        [sys.executable, str(TOOLS / "verify_ledger.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout
    assert done.stderr == f"Error: {missing}: cannot read it (No such file or directory)\n"


def test_an_origin_with_bidi_characters_is_shown_escaped_and_cut(
    made: dict[str, Any], tmp_path: Path
) -> None:
    """Before: the origin of a checkpoint of another ledger was printed as it came, so a
    right-to-left override (U+202E) in it repainted the line, and 5,000 characters ran on."""
    from sampleloans.ledger.checkpoint import Checkpoint, parse_signer_key, sign_checkpoint

    signer = parse_signer_key(made["key"].read_text())
    lines = made["note"].split("\n\n")[0].split("\n")
    forged = tmp_path / "forged.txt"
    for origin in ("sampleloans/ledger/\u202eevil", "sampleloans/ledger/" + "A" * 5000):
        checkpoint = Checkpoint(origin, int(lines[1]), base64.b64decode(lines[2]), tuple(lines[3:]))
        forged.write_text(sign_checkpoint(checkpoint, signer))
        args = ["verify", "--checkpoint", str(forged), "--public-key", str(made["pub"])]
        result = invoke(made["env"], *args)
        assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
        assert "\u202e" not in result.stderr and len(result.stderr) < 400, result.stderr
        assert "it is a checkpoint of 'sampleloans/ledger/" in result.stderr
        out = ["--out", str(tmp_path / "proof.json")]
        proof = invoke(made["env"], "checkpoint", "prove", str(forged), str(made["cp"]), *out)
        assert proof.exit_code == 1 and "\u202e" not in proof.stderr and len(proof.stderr) < 400
        tool = subprocess.run(
            [sys.executable, str(TOOLS / "verify_ledger.py"), made["env"]["SAMPLELOANS_DB"],
             "--checkpoint", str(forged), "--public-key", str(made["pub"])],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert tool.returncode == 1 and "\u202e" not in tool.stdout
        assert max(len(line) for line in tool.stdout.splitlines()) < 200


def test_a_proof_file_naming_an_odd_log_is_shown_escaped(
    made: dict[str, Any], tmp_path: Path
) -> None:
    size = int(made["note"].split("\n")[1])
    proof = tmp_path / "proof.json"
    document = {"format": "sampleloans-consistency", "version": 1, "proof": []}
    document |= {"origin": "\u202e" + "B" * 3000, "old_size": size, "new_size": size}
    proof.write_text(json.dumps(document))
    cp, pub = str(made["cp"]), str(made["pub"])
    result = invoke({}, "checkpoint", "check-consistency", cp, cp, str(proof), "--public-key", pub)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("Error: PROOF is of the log '\\u202eBBB")
    assert "\u202e" not in result.stderr and len(result.stderr) < 400
