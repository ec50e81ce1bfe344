"""Sweep of issue 15 as an attacker: signing checkpoints and checking consistency proofs.

Found: the key's record of what it signed (KEY.signed) was kept beside the path typed, so the
same key reached through a symbolic link had an empty record and signed a checkpoint of a
rolled-back ledger; a consistency proof file was validated with `assert`, which `python -O`
strips, so any JSON object passed as a proof there; a proof of another log was refused with a
message about sizes.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_checkpoint, make_demo

VAULT_SAMPLE = "CE5C0000YJBP005"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


def add_event(ledger: Path, location: str) -> None:
    moved = invoke(env_for(ledger), "samples", "move", VAULT_SAMPLE, "--location", location)
    assert moved.exit_code == 0, moved.stderr


def test_a_key_reached_through_a_link_remembers_what_it_signed(demo: Path, tmp_path: Path) -> None:
    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    older = copy_ledger(ledger, tmp_path / "older.db")  # the copy an attacker rolls back to
    add_event(ledger, "NAOC N2 cabinet C")
    keys = tmp_path / "keys"
    keys.mkdir()
    signed = make_checkpoint(ledger, keys)  # signs the newer ledger; KEY.signed records it
    link = tmp_path / "same-key"
    link.symlink_to(signed["key"])
    for key in (signed["key"], link):
        refused = invoke(env_for(older), "checkpoint", "--key", str(key))
        assert refused.exit_code == 1, (key, refused.stdout, refused.stderr)
        assert refused.stderr.startswith("Error: ") and refused.stderr.count("\n") == 1
        assert "no longer" in refused.stderr
    assert not (tmp_path / "same-key.signed").exists()
    assert invoke(env_for(ledger), "checkpoint", "--key", str(link)).exit_code == 0


@pytest.fixture(scope="module")
def two_checkpoints(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("proofs")
    ledger = copy_ledger(demo, folder / "ledger.db")
    old = make_checkpoint(ledger, folder)
    (folder / "old.txt").write_text(old["note"])
    add_event(ledger, "NAOC N2 cabinet D")
    new = make_checkpoint(ledger, folder)
    proof = folder / "proof.json"
    env = env_for(ledger)
    made = invoke(env, "checkpoint", "prove", str(folder / "old.txt"), str(new["cp"]),
                  "--out", str(proof))  # fmt: skip
    assert made.exit_code == 0, made.stderr
    return {"dir": folder, "old": folder / "old.txt", "new": new["cp"], "pub": new["pub"],
            "proof": proof}  # fmt: skip


def check(paths: dict[str, Any], proof: Path, *python: str) -> subprocess.CompletedProcess[str]:
    """`checkpoint check-consistency` in a real process (with `python -O` when asked)."""
    return subprocess.run(
        [sys.executable, *python, "-m", "sampleloans", "checkpoint", "check-consistency",
         str(paths["old"]), str(paths["new"]), str(proof), "--public-key", str(paths["pub"])],
        capture_output=True, text=True, timeout=120, env=optimised_env(paths) if python else None,
    )  # fmt: skip


def optimised_env(paths: dict[str, Any]) -> dict[str, str]:
    """The environment of a `python -O` process: its optimised bytecode (.opt-1.pyc, which no
    one else writes) kept in the module's folder, so that the first such process compiles the
    package and its libraries from source and the next ones read what it wrote (where
    PYTHONDONTWRITEBYTECODE is set, each compiled everything again: the four took 24 s, 17 s
    now, beside another run)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(paths["dir"] / "optimised-bytecode")}


@pytest.mark.parametrize("optimised", [(), ("-O",)], ids=["python", "python -O"])
def test_a_file_that_is_no_proof_is_refused_even_under_python_O(
    two_checkpoints: dict[str, Any], optimised: tuple[str, ...]
) -> None:
    good = check(two_checkpoints, two_checkpoints["proof"], *optimised)
    assert good.returncode == 0, good.stderr
    document = json.loads(two_checkpoints["proof"].read_text())
    cases = {
        "format": {**document, "format": "something-else"},
        "bool-size": {**document, "old_size": True},
        "short-node": {**document, "proof": ["AAAA", *document["proof"][1:]]},
    }
    for name, bad in cases.items():
        path = two_checkpoints["dir"] / f"{name}.json"
        path.write_text(json.dumps(bad))
        done = check(two_checkpoints, path, *optimised)
        assert done.returncode == 2, (name, done.stdout, done.stderr)
        assert done.stderr.startswith("Error: PROOF:") and "not a consistency proof" in done.stderr


def test_a_proof_of_another_log_is_named_as_such(two_checkpoints: dict[str, Any]) -> None:
    document = json.loads(two_checkpoints["proof"].read_text())
    path = two_checkpoints["dir"] / "other-log.json"
    path.write_text(json.dumps({**document, "origin": "sampleloans/ledger/another"}))
    done = check(two_checkpoints, path)
    assert done.returncode == 1
    assert "is of the log 'sampleloans/ledger/another'" in done.stderr
    assert done.stderr.count("\n") == 1


def test_checkpoint_list_names_the_key_by_name_and_key_id(two_checkpoints: dict[str, Any]) -> None:
    """The key column cut the key line at 40 characters, through its base64."""
    ledger = two_checkpoints["dir"] / "ledger.db"
    listed = invoke({**env_for(ledger), "COLUMNS": "200"}, "checkpoint", "list")
    assert listed.exit_code == 0, listed.stderr
    name, key_id, material = two_checkpoints["pub"].read_text().strip().split("+", 2)
    rows = [line for line in listed.stdout.splitlines() if f"{name}+{key_id}" in line]
    assert len(rows) == 2
    assert not any(material[:6] in row for row in rows)


def test_a_replaced_key_sets_the_old_keys_record_aside(demo: Path, tmp_path: Path) -> None:
    """After `keys generate --force`, the next checkpoint was refused (exit 2: "damaged or not
    this key's; move it aside"): the record beside the key was the replaced key's."""
    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    signed = make_checkpoint(ledger, tmp_path)
    record = tmp_path / "lender.key.signed"
    old_record = record.read_bytes()
    replaced = invoke(env_for(ledger), "keys", "generate", "--out", str(signed["key"]),
                      "--name", "naoc.example/ledger", "--force")  # fmt: skip
    assert replaced.exit_code == 0, replaced.stderr
    aside = tmp_path / "lender.key.signed.replaced-1"
    assert f"moved to {aside}" in replaced.stdout
    assert aside.read_bytes() == old_record and not record.exists()
    again = invoke(env_for(ledger), "checkpoint", "--key", str(signed["key"]))
    assert again.exit_code == 0, again.stderr
    assert record.exists()
