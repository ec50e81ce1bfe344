"""Sweep s42 (two years of one ledger): a consistency proof across a key rotation.

Found: after the lender made a new checkpoint key (`keys generate` to a new file), the old
checkpoints are signed by the old key and the new ones by the new key, and `checkpoint
check-consistency` took one `--public-key`: given the old key it refused NEW, given the new
one it refused OLD, each time saying "check that you gave the right public key", and a second
`--public-key` was refused as given twice. So nobody could check that the ledger signed after
a rotation extends the one signed before it. Now `--public-key` is given once per key, each
checkpoint must be signed by one of them, and the verdict names which key signed which.

Found too: `verify-bag --public-key` took one key, so a bag of a ledger whose checkpoints
were signed before and after a rotation could be checked only with the keys it carries (which
anyone who rewrites a bag chooses); `restore --bag` took each key already. Now `verify-bag`
takes each key too, and a checkpoint signed by none of the keys given is refused naming the
key that signed it and how to give the replaced one.
"""

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import COMPLIANCE, CURATOR
from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_demo

VAULT_SAMPLE = "CE5C0000YJBP005"


def _checkpoint(env: dict[str, str], key: Path, out: Path) -> None:
    """`checkpoint --key KEY --out OUT` through the CLI."""
    made = invoke(env, "checkpoint", "--key", str(key), "--out", str(out))
    assert made.exit_code == 0, made.stderr


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A checkpoint by the old key, a later event, the new key, a checkpoint by it, the
    proof between the two and one between two checkpoints of the old key."""
    folder = tmp_path_factory.mktemp("rotation")
    ledger = copy_ledger(make_demo(folder / "demo"), folder / "ledger.db")
    env = env_for(ledger)
    paths = {name: folder / name for name in ("old.key", "new.key", "cp1", "cp2", "cp3")}
    for name, key in (("naoc-2025", paths["old.key"]), ("naoc-2026", paths["new.key"])):
        made = invoke(env, "keys", "generate", "--out", str(key), "--name", name)
        assert made.exit_code == 0, made.stderr
    _checkpoint(env, paths["old.key"], paths["cp1"])
    moved = invoke(env, "samples", "move", VAULT_SAMPLE, "--location", "NAOC N2 cabinet D")
    assert moved.exit_code == 0, moved.stderr
    _checkpoint(env, paths["old.key"], paths["cp2"])
    moved = invoke(env, "samples", "move", VAULT_SAMPLE, "--location", "NAOC N2 cabinet E")
    assert moved.exit_code == 0, moved.stderr
    _checkpoint(env, paths["new.key"], paths["cp3"])  # the rotation: the new key signs
    for old, new in (("cp1", "cp3"), ("cp1", "cp2")):
        proof = folder / f"{old}-{new}.json"
        made = invoke(env, "checkpoint", "prove", str(paths[old]), str(paths[new]),
                      "--out", str(proof))  # fmt: skip
        assert made.exit_code == 0, made.stderr
        paths[f"{old}-{new}"] = proof
    bag = folder / "bag"
    made = invoke(env_for(ledger, COMPLIANCE), "export", "--bag", str(bag))
    assert made.exit_code == 0, made.stderr
    keys = {"old.pub": folder / "old.key.pub", "new.pub": folder / "new.key.pub"}
    return {**paths, **keys, "bag": bag, "dir": folder}


def check(paths: dict[str, Any], old: str, new: str, *keys: str) -> Any:
    """`checkpoint check-consistency OLD NEW PROOF --public-key …` with no ledger."""
    given = [arg for key in keys for arg in ("--public-key", str(paths[key]))]
    args = [str(paths[old]), str(paths[new]), str(paths[f"{old}-{new}"]), *given]
    return invoke({"COLUMNS": "200"}, "checkpoint", "check-consistency", *args)


@pytest.mark.parametrize("order", [("old.pub", "new.pub"), ("new.pub", "old.pub")])
def test_both_keys_check_a_proof_across_the_rotation(
    rotated: dict[str, Any], order: tuple[str, str]
) -> None:
    result = check(rotated, "cp1", "cp3", *order)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("consistent: NEW (")
    assert "OLD signed by naoc-2025+" in result.stdout
    assert ", NEW by naoc-2026+" in result.stdout


@pytest.mark.parametrize(("key", "refused"), [("old.pub", "NEW"), ("new.pub", "OLD")])
def test_one_key_alone_names_the_other_to_give(
    rotated: dict[str, Any], key: str, refused: str
) -> None:
    result = check(rotated, "cp1", "cp3", key)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Error: {refused} checkpoint")
    assert "'--public-key OLD-KEY.pub --public-key NEW-KEY.pub'" in result.stderr


def test_one_key_still_checks_two_checkpoints_it_signed(rotated: dict[str, Any]) -> None:
    result = check(rotated, "cp1", "cp2", "old.pub")
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith("both signed by the key given")


def test_two_keys_neither_of_which_signed_new_is_refused(rotated: dict[str, Any]) -> None:
    result = check(rotated, "cp1", "cp2", "new.pub", "new.pub")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: OLD checkpoint")
    assert "not signed by key naoc-2026+" in result.stderr


def test_a_proof_of_other_sizes_is_still_refused_with_both_keys(rotated: dict[str, Any]) -> None:
    other = {**rotated, "cp1-cp3": rotated["cp1-cp2"]}  # the proof from cp1 to cp2, not cp3
    result = check(other, "cp1", "cp3", "old.pub", "new.pub")
    assert result.exit_code == 1
    assert "PROOF is from size" in result.stderr


def verify_bag(paths: dict[str, Any], *keys: str) -> Any:
    """`verify-bag BAG --public-key …` with no ledger and no acting person."""
    given = [arg for key in keys for arg in ("--public-key", str(paths[key]))]
    return invoke({"COLUMNS": "200"}, "verify-bag", str(paths["bag"]), *given)


def test_verify_bag_takes_the_old_and_the_new_key(rotated: dict[str, Any]) -> None:
    result = verify_bag(rotated, "new.pub", "old.pub")
    assert result.exit_code == 0, result.output
    assert "signed by naoc-2025+" in result.stdout and "signed by naoc-2026+" in result.stdout
    assert result.stdout.rstrip().endswith("are covered by checkpoints signed by your keys")


def test_verify_bag_with_the_new_key_alone_names_the_old_one(rotated: dict[str, Any]) -> None:
    result = verify_bag(rotated, "new.pub")
    assert result.exit_code == 1
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert "it is signed by 'naoc-2025'+" in result.stderr
    assert "'--public-key KEY.pub' once for each" in result.stderr


def test_restore_bag_with_both_keys_keeps_every_checkpoint(rotated: dict[str, Any]) -> None:
    target = rotated["dir"] / "restored.db"
    keys = ["--public-key", str(rotated["old.pub"]), "--public-key", str(rotated["new.pub"])]
    env = {"COLUMNS": "200", "SAMPLELOANS_USER": CURATOR}
    result = invoke(env, "--db", str(target), "restore", "--bag", str(rotated["bag"]), *keys)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("signed by naoc-2025+") == 2
    assert result.stdout.count("signed by naoc-2026+") == 1
