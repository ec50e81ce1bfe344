"""Sweep of issue 15 as an attacker: `verify-bag` checks each checkpoint's signature.

A bag's manifests are plain checksums that anyone can regenerate (`bagit.Bag.save`), so a bag
whose checkpoint was re-signed, edited or stripped of its key used to pass `verify-bag` as "a
valid bag of this ledger". Now each checkpoint must verify with the reader's `--public-key`, or
else with a key the bag carries, and name the events' ledger.
"""

import base64
from pathlib import Path
from typing import Any

import bagit  # type: ignore[import-untyped]  # bagit ships no type hints
import pytest

from sampleloans.ledger.checkpoint import generate_signer, sign_note
from tests.i15_statement_helpers import (
    another_demo,
    copy_ledger,
    env_for,
    invoke,
    make_checkpoint,
    make_demo,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


@pytest.fixture
def bag(demo: Path, tmp_path: Path) -> dict[str, Any]:
    """A bag of the demo ledger with one kept checkpoint, and the lender's key files."""
    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    made = make_checkpoint(ledger, tmp_path)
    folder = tmp_path / "bag"
    result = invoke(env_for(ledger), "export", "--bag", str(folder))
    assert result.exit_code == 0, result.stderr
    [note] = sorted((folder / "data" / "checkpoints").glob("*.txt"))
    return {**made, "dir": folder, "note": note}


def verify_bag(folder: Path, *extra: str) -> Any:
    return invoke({"COLUMNS": "200"}, "verify-bag", str(folder), *extra)


def re_manifest(folder: Path) -> None:
    """What anyone can do after editing a bag: regenerate its checksums; bagit is satisfied."""
    saved = bagit.Bag(str(folder))
    saved.save(manifests=True)
    saved.validate()


def one_error_line(result: Any) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: BAG:")
    assert "Traceback" not in result.stderr
    return str(result.stderr)


def test_an_intact_bag_names_the_key_that_signed_each_checkpoint(bag: dict[str, Any]) -> None:
    own = verify_bag(bag["dir"])
    assert own.exit_code == 0, own.stderr
    key_id = bag["pub"].read_text().split("+")[1]
    assert f"signed by naoc.example/ledger+{key_id}" in own.stdout
    assert "compare each fingerprint above" in own.stdout  # the bag vouches for its own key only
    mine = verify_bag(bag["dir"], "--public-key", str(bag["pub"]))
    assert mine.exit_code == 0, mine.stderr
    assert "signed by your key" in mine.stdout


def test_a_checkpoint_whose_signature_changed_fails_even_re_manifested(
    bag: dict[str, Any],
) -> None:
    text, _, signature_line = bag["note"].read_text().rpartition("\n\n")
    dash_name, _, blob = signature_line.strip().rpartition(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 0x01
    bag["note"].write_text(f"{text}\n\n{dash_name} {base64.b64encode(bytes(raw)).decode()}\n")
    re_manifest(bag["dir"])
    error = one_error_line(verify_bag(bag["dir"]))
    assert bag["note"].name in error and "does not verify" in error


def test_a_checkpoint_with_another_origin_fails_even_re_manifested(bag: dict[str, Any]) -> None:
    note = bag["note"].read_text()
    bag["note"].write_text(note.replace("sampleloans/ledger/", "sampleloans/ledgers/", 1))
    re_manifest(bag["dir"])
    assert bag["note"].name in one_error_line(verify_bag(bag["dir"]))


def test_a_checkpoint_re_signed_by_someone_else_with_their_key_in_the_bag(
    bag: dict[str, Any],
) -> None:
    """The forger swaps in their own key: the bag alone cannot tell, the lender's key can."""
    forger = generate_signer("naoc.example/ledger")
    text = bag["note"].read_text().rpartition("\n\n")[0] + "\n"
    bag["note"].write_text(sign_note(text, forger))
    for key in (bag["dir"] / "data" / "keys").glob("*.pub"):
        key.write_text(forger.verifier().encode() + "\n")
    re_manifest(bag["dir"])
    assert verify_bag(bag["dir"]).exit_code == 0  # self-consistent: the line says so
    error = one_error_line(verify_bag(bag["dir"], "--public-key", str(bag["pub"])))
    assert "not signed by any key checked" in error and bag["note"].name in error


def test_a_bag_without_the_key_of_its_checkpoint_fails(bag: dict[str, Any]) -> None:
    for key in (bag["dir"] / "data" / "keys").glob("*.pub"):
        key.unlink()
    re_manifest(bag["dir"])
    error = one_error_line(verify_bag(bag["dir"]))
    assert "its key is missing" in error


def test_a_key_file_in_the_bag_that_is_no_key_fails(bag: dict[str, Any]) -> None:
    [key] = (bag["dir"] / "data" / "keys").glob("*.pub")
    key.write_text("not a key\n")
    re_manifest(bag["dir"])
    error = one_error_line(verify_bag(bag["dir"]))
    assert key.name in error and "not a public key" in error


def test_a_private_key_given_as_public_key_is_invalid_input(bag: dict[str, Any]) -> None:
    result = verify_bag(bag["dir"], "--public-key", str(bag["key"]))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --public-key") and "private key" in result.stderr
    secret = bag["key"].read_text().strip().split("+", 4)[4]
    assert secret not in result.stdout + result.stderr


def export(ledger: Path, folder: Path, *extra: str) -> Any:
    return invoke(env_for(ledger), "export", "--bag", str(folder), *extra)


def nothing_written(folder: Path) -> bool:
    return not folder.exists() and not [p for p in folder.parent.iterdir() if "bag-tmp" in p.name]


def test_a_private_key_given_as_public_key_is_never_copied_into_a_bag(bag: dict[str, Any]) -> None:
    """`export --bag --public-key` copied any file: a private key given by mistake went into
    the bag meant to be handed out, world-readable once copied."""
    ledger, target = bag["dir"].parent / "ledger.db", bag["dir"].parent / "out"
    result = export(ledger, target, "--public-key", str(bag["key"]))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: --public-key") and "private key" in result.stderr
    assert nothing_written(target)
    secret = bag["key"].read_text().strip().split("+", 4)[4]
    assert secret not in result.stdout + result.stderr


def test_given_checkpoints_are_checked_before_anything_is_written(
    bag: dict[str, Any], tmp_path: Path
) -> None:
    ledger, target = bag["dir"].parent / "ledger.db", bag["dir"].parent / "out"
    not_a_note = tmp_path / "notes.txt"
    not_a_note.write_text("hello\n")
    result = export(ledger, target, "--checkpoint", str(not_a_note))
    assert result.exit_code == 2 and result.stderr.startswith("Error: --checkpoint")
    other = another_demo(tmp_path / "other")  # another ledger (its own id), signed by the lender
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "lender.key").write_bytes(bag["key"].read_bytes())
    (tmp_path / "o" / "lender.key").chmod(0o600)
    (tmp_path / "o" / "lender.key.pub").write_bytes(bag["pub"].read_bytes())
    foreign = make_checkpoint(other, tmp_path / "o")
    result = export(ledger, target, "--checkpoint", str(foreign["cp"]))
    assert result.exit_code == 1 and "not of this ledger" in result.stderr
    stranger = generate_signer("witness.example")
    cosigned = tmp_path / "witnessed.txt"
    text = bag["note"].read_text().rpartition("\n\n")[0] + "\n"
    cosigned.write_text(sign_note(text, stranger))
    result = export(ledger, target, "--checkpoint", str(cosigned))
    assert result.exit_code == 1 and "give its public key with --public-key" in result.stderr
    assert nothing_written(target)
    witness_key = tmp_path / "witness.pub"
    witness_key.write_text(stranger.verifier().encode() + "\n")
    result = export(ledger, target, "--checkpoint", str(cosigned), "--public-key", str(witness_key))
    assert result.exit_code == 0, result.stderr
    assert verify_bag(target).exit_code == 0


def test_a_given_checkpoint_the_ledger_keeps_is_in_the_bag_once(bag: dict[str, Any]) -> None:
    """`export --bag --checkpoint FILE` with the file of a checkpoint the ledger already keeps
    (the one `checkpoint` wrote) copies it once, under its kept name, not a second time."""
    ledger, target = bag["dir"].parent / "ledger.db", bag["dir"].parent / "again"
    result = export(ledger, target, "--checkpoint", str(bag["cp"]))
    assert result.exit_code == 0, result.stderr
    notes = sorted((target / "data" / "checkpoints").glob("*.txt"))
    assert [n.name for n in notes] == [bag["note"].name]
    assert notes[0].read_bytes() == bag["cp"].read_bytes()
    assert verify_bag(target).exit_code == 0
