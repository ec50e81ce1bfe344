"""Sweep s22 (compliance officer, outside auditor): every verification says what it did NOT check.

Found:
- `verify` (full, no `--checkpoint`, no `--anchor`) said "verify: OK" and nothing more on a
  ledger anyone could have rolled back or rewritten with its hashes recomputed (its kept
  checkpoints are checked with keys kept in the same file): an auditor read it as proof that
  the ledger is the lender's, current one.
- `tools/verify_ledger.py LEDGER --public-key KEY.pub` (no `--checkpoint`) said "OK", exit 0:
  the key was read and never used, and the auditor believed a signature had been checked.
  Without a checkpoint it said "OK" alone, never that a recomputed chain passes as well.
- `tools/check_proofs.py` (printed in docs/trust.md) ended in a Python traceback (exit 1, read
  as "a check failed") when an argument was missing, and said only "1 event(s) checked against
  checkpoint 107: ok" — 107 read as a checkpoint's number (`verify --since` says "checkpoint 1
  (size 107)"), no word of which ledger the checkpoint names, nor that a report's pages are
  not covered.
- `checkpoint check-consistency` said "consistent: checkpoint 113 extends checkpoint 107": the
  same sizes read as checkpoint numbers.
"""

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from tests.i15_statement_helpers import checkpointed_copy, copy_ledger, env_for, invoke

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "verify_ledger.py"
NOT_PROVEN = "not checked: that this is the lender's ledger, whole and current"


@pytest.fixture(scope="module")
def made(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A copy of the demo with a kept checkpoint, its key pair, and a custody report and a
    statement whose embedded proofs are extracted as a borrower would."""
    folder = tmp_path_factory.mktemp("s22compliance")
    made = checkpointed_copy(demo, folder)
    env = env_for(made["db"], actor="compliance@naoc.example")
    custody = folder / "custody.pdf"
    done = invoke(env, "report", "custody", "--loan", "L-2025-Osaka", "--out", str(custody))
    assert done.exit_code == 0, done.stderr
    done = invoke(env, "report", "statement", "--institution", "Osaka", "--out", str(folder / "st"))
    assert done.exit_code == 0, done.stderr
    [statement] = (folder / "st").glob("*.pdf")
    for pdf, name in ((custody, "report-checkpoint.json"), (statement, "statement-proofs.json")):
        (folder / name).write_bytes(PdfReader(pdf).attachments[name][0])
    return {**made, "env": env}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """A stand-alone script in its own process, as an auditor runs it."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)


def check_proofs_script(folder: Path) -> Path:
    """docs/trust.md's check_proofs.py, exactly as printed there."""
    [code] = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "trust.md").read_text(), re.S)
    script = folder / "check_proofs.py"
    script.write_text(code)
    return script


# --- sampleloans verify ----------------------------------------------------------------------


def test_a_clean_verify_without_a_witness_says_what_it_did_not_prove(made: dict[str, Any]) -> None:
    done = invoke(made["env"], "verify")
    assert done.exit_code == 0, done.stdout
    lines = done.stdout.splitlines()
    assert lines[0].startswith("verify: OK")
    assert lines[1].startswith(NOT_PROVEN), lines
    assert "--checkpoint CP.txt --public-key KEY.pub" in lines[1]


def test_a_verify_with_a_checkpoint_or_an_anchor_says_what_it_proved_instead(
    made: dict[str, Any],
) -> None:
    head = invoke(made["env"], "verify", "--print-head").stdout.strip()
    for extra in (
        ["--checkpoint", str(made["cp"]), "--public-key", str(made["pub"])],
        ["--anchor", head],
    ):
        done = invoke(made["env"], "verify", *extra)
        assert done.exit_code == 0, done.stdout
        assert "not checked:" not in done.stdout
        assert re.search(r"^(checkpoint|anchor): the ledger extends", done.stdout, re.M)


def test_the_service_names_what_only_a_witness_from_outside_proves() -> None:
    from sampleloans.services.verify import unproven

    assert unproven(anchor_given=False, checkpoint_given=False)[0].startswith(NOT_PROVEN)
    assert unproven(anchor_given=True, checkpoint_given=False) == []
    assert unproven(anchor_given=False, checkpoint_given=True) == []


# --- tools/verify_ledger.py ------------------------------------------------------------------


def test_the_verifier_refuses_a_public_key_without_a_checkpoint(made: dict[str, Any]) -> None:
    """Before: exit 0, "OK": the key was read and never used."""
    done = run(str(TOOL), str(made["db"]), "--public-key", str(made["pub"]))
    assert done.returncode == 2, done.stdout
    assert done.stdout == ""
    assert done.stderr == (
        "Error: --public-key: only with --checkpoint (the key checks the signature of the "
        "checkpoint you give)\n"
    )


def test_the_verifier_without_a_checkpoint_says_the_lender_is_not_shown(
    made: dict[str, Any],
) -> None:
    done = run(str(TOOL), str(made["db"]))
    assert done.returncode == 0, done.stderr
    assert "checked: every event's hash from the genesis of this ledger's id" in done.stdout
    assert "NOT checked: that the lender made these events" in done.stdout
    assert done.stdout.endswith("OK\n")
    signed = run(str(TOOL), str(made["db"]), "--checkpoint", str(made["cp"]),
                 "--public-key", str(made["pub"]))  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    assert "NOT checked" not in signed.stdout and "is signed by" in signed.stdout


# --- docs/trust.md's check_proofs.py --------------------------------------------------------


@pytest.mark.parametrize("given", [0, 1, 2, 4])
def test_check_proofs_with_a_wrong_number_of_arguments_is_its_usage_exit_2(
    made: dict[str, Any], tmp_path: Path, given: int
) -> None:
    """Before: a Python traceback (ValueError: not enough values to unpack), exit 1."""
    script = check_proofs_script(tmp_path)
    args = [str(made["dir"] / "report-checkpoint.json"), str(made["pub"]), str(TOOL), "extra"]
    done = run(str(script), *args[:given])
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert done.stderr == "usage: python3 check_proofs.py PROOFS.json KEY.pub verify_ledger.py\n"


def test_check_proofs_names_a_verifier_it_cannot_load_in_one_line(
    made: dict[str, Any], tmp_path: Path
) -> None:
    script = check_proofs_script(tmp_path)
    missing = tmp_path / "verify_ledger.py"
    done = run(str(script), str(made["dir"] / "report-checkpoint.json"), str(made["pub"]),
               str(missing))  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr == (
        f"Error: {missing}: cannot load the stand-alone verifier (No such file or directory)\n"
    )


def test_check_proofs_says_what_it_checked_of_a_report_and_what_not(
    made: dict[str, Any], tmp_path: Path
) -> None:
    document = made["dir"] / "report-checkpoint.json"
    head = json.loads(document.read_text())["head"]
    done = run(str(check_proofs_script(tmp_path)), str(document), str(made["pub"]), str(TOOL))
    assert done.returncode == 0, done.stdout + done.stderr
    origin = made["note"].split("\n")[0]
    size = made["size"]
    assert f"ledger '{origin}', {size} events" in done.stdout
    assert f"head event {head['seq']}:{head['hash']} is under the root" in done.stdout
    assert "NOT checked: what the report's pages say" in done.stdout
    assert done.stdout.splitlines()[-1] == (
        f"1 event checked against the signed checkpoint of {size} events: ok"
    )
    assert f"checkpoint {size}:" not in done.stdout  # a size is never read as a number


def test_check_proofs_says_what_it_checked_of_a_statement_and_what_not(
    made: dict[str, Any], tmp_path: Path
) -> None:
    document = made["dir"] / "statement-proofs.json"
    count = len(json.loads(document.read_text())["events"])
    done = run(str(check_proofs_script(tmp_path)), str(document), str(made["pub"]), str(TOOL))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"checked: each of the {count} events listed" in done.stdout
    assert "NOT checked: events the statement does not list" in done.stdout
    assert done.stdout.splitlines()[-1] == (
        f"{count} events checked against the signed checkpoint of {made['size']} events: ok"
    )


# --- checkpoint check-consistency ------------------------------------------------------------


def test_check_consistency_names_the_checkpoints_by_old_and_new(
    made: dict[str, Any], tmp_path: Path
) -> None:
    """Before: "consistent: checkpoint 113 extends checkpoint 107", sizes read as ids."""
    # on a copy, a curator records one event and signs the next checkpoint
    env = env_for(copy_ledger(made["db"], tmp_path / "ledger.db"))
    older = tmp_path / "old.txt"
    older.write_text(made["note"])
    added = invoke(env, "institutions", "add", "LabS22", "--name", "Lab S22", "--country",
                   "France", "--city", "Lyon", "--kind", "borrower")  # fmt: skip
    assert added.exit_code == 0, added.stderr
    newer = tmp_path / "new.txt"
    signed = invoke(env, "checkpoint", "--key", str(made["key"]), "--out", str(newer))
    assert signed.exit_code == 0, signed.stderr
    proof = tmp_path / "proof.json"
    proved = invoke(env, "checkpoint", "prove", str(older), str(newer), "--out", str(proof))
    assert proved.exit_code == 0, proved.stderr
    done = invoke({}, "--db", str(tmp_path / "none.db"), "checkpoint", "check-consistency",
                  str(older), str(newer), str(proof), "--public-key", str(made["pub"]))  # fmt: skip
    assert done.exit_code == 0, done.stderr
    size = made["size"]
    assert done.stdout.startswith(
        f"consistent: NEW ({size + 1} events) extends OLD ({size} events) of sampleloans/ledger/"
    )
    assert f"checkpoint {size}" not in done.stdout


def test_verify_json_names_what_it_did_not_check_too(made: dict[str, Any]) -> None:
    """A script reading `verify --json` learns what the verdict does not cover, as a reader
    of the text does (and `verify --since --json` already did)."""
    alone = json.loads(invoke(made["env"], "verify", "--json").stdout)
    assert alone["ok"] is True
    [line] = alone["not_checked"]
    assert line.startswith(NOT_PROVEN)
    args = ["verify", "--json", "--checkpoint", str(made["cp"]), "--public-key", str(made["pub"])]
    witnessed = json.loads(invoke(made["env"], *args).stdout)
    assert witnessed["ok"] is True and witnessed["not_checked"] == []


def test_verify_document_of_a_statement_says_its_checkpoint_is_kept(made: dict[str, Any]) -> None:
    """Before: only "the checkpoint's root is this ledger's root …", although the statement was
    also refused unless the ledger made and keeps that very checkpoint (a re-signed copy)."""
    [statement] = (made["dir"] / "st").glob("*.pdf")
    done = invoke(made["env"], "verify-document", str(statement))
    assert done.exit_code == 0, done.stdout
    assert (
        "ok    the checkpoint is one this ledger made and keeps, and its root is this ledger's "
        f"root over its first {made['size']} events"
    ) in done.stdout


def test_the_verifiers_json_says_when_no_checkpoint_was_given(made: dict[str, Any]) -> None:
    """Before: the key `checkpoint_signature` was simply absent without --checkpoint."""
    done = run(str(TOOL), str(made["db"]), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["checkpoint_signature"] == "no checkpoint"


def test_one_event_after_the_checkpoint_is_named_alone(
    made: dict[str, Any], tmp_path: Path
) -> None:
    """Before: "events 108–108 come after the newest checkpoint …; ask the lender for a
    checkpoint of this size" (verify-bag) and "events 108–108 come after it" (the verifier)."""
    ledger = copy_ledger(made["db"], tmp_path / "ledger.db")
    env = env_for(ledger)
    added = invoke(env, "institutions", "add", "LabS22", "--name", "Lab S22", "--country",
                   "France", "--city", "Lyon", "--kind", "borrower")  # fmt: skip
    assert added.exit_code == 0, added.stderr
    size, after = made["size"], made["size"] + 1
    tool = run(str(TOOL), str(ledger), "--checkpoint", str(made["cp"]),
               "--public-key", str(made["pub"]))  # fmt: skip
    assert tool.returncode == 0, tool.stderr
    assert f"checkpoint: event {after} comes after it: not covered by it" in tool.stdout
    assert "–" not in tool.stdout.split("covers events", 1)[1].split("\n", 1)[1]
    bag = tmp_path / "bag"
    assert invoke(env, "export", "--bag", str(bag)).exit_code == 0
    checked = invoke({}, "verify-bag", str(bag), "--public-key", str(made["pub"]))
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    assert (
        f"note  event {after} comes after the newest checkpoint, of {size} events: no signature "
        f"covers it; ask the lender for a checkpoint of {after} events"
    ) in checked.stdout
