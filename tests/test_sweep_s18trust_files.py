"""Sweep s18 (trust): an auditor checking a bag whose file list was changed, and a lender
whose root key file others may read.

Found: `verify-bag` on a bag with a file added or taken out of its payload said only "Payload-
Oxum validation failed. Expected 8 files and … bytes but found 9 files …", naming no file; and
`keys signing-cert --root` issued a signing certificate with a `root-key.pem` of mode 0644
without a word, where a checkpoint key of that mode is refused.
"""

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_checkpoint, make_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


@pytest.fixture
def bag(demo: Path, tmp_path: Path) -> dict[str, Any]:
    """A bag of the demo ledger with one kept checkpoint at its head, and the lender's key."""
    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    made = make_checkpoint(ledger, tmp_path)
    folder = tmp_path / "bag"
    result = invoke(env_for(ledger), "export", "--bag", str(folder))
    assert result.exit_code == 0, result.stderr
    return {**made, "dir": folder}


def verify_bag(folder: Path, pub: Path) -> Any:
    return invoke({"NO_COLOR": "1"}, "verify-bag", str(folder), "--public-key", str(pub))


def test_a_file_added_to_a_bag_is_named(bag: dict[str, Any]) -> None:
    (bag["dir"] / "data" / "checkpoints" / "extra.txt").write_text("an extra file\n")
    result = verify_bag(bag["dir"], bag["pub"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: BAG: {bag['dir']} fails validation: data/checkpoints/extra.txt: not in the "
        "manifest (a file was added)\n"
    )


def test_a_file_taken_from_a_bag_is_named(bag: dict[str, Any]) -> None:
    (bag["dir"] / "data" / "README.txt").unlink()
    result = verify_bag(bag["dir"], bag["pub"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: BAG: {bag['dir']} fails validation: data/README.txt: listed in the manifest "
        "but missing\n"
    )


def test_a_file_swapped_for_another_names_both(bag: dict[str, Any]) -> None:
    shutil.move(bag["dir"] / "data" / "README.txt", bag["dir"] / "data" / "README.md")
    result = verify_bag(bag["dir"], bag["pub"])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "data/README.txt: listed in the manifest but missing (and 1 more finding(s))" in (
        result.stderr
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "lender"
    made = invoke({"NO_COLOR": "1"}, "keys", "lender-root", "--out", str(folder), "--name", "L")
    assert made.exit_code == 0, made.stderr
    return folder


def signing_cert(root: Path, out: Path) -> Any:
    return invoke({"NO_COLOR": "1"}, "keys", "signing-cert", "--root", str(root), "--out", str(out))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_root_key_others_may_read_issues_nothing(root: Path, tmp_path: Path, mode: int) -> None:
    key = root / "root-key.pem"
    key.chmod(mode)
    out = tmp_path / "signer"
    result = invoke(
        {"NO_COLOR": "1"}, "keys", "signing-cert", "--root", str(root), "--out", str(out)
    )
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: --root: {key} is accessible by group or others (mode {mode:04o}); a private key "
        f"must be readable by its owner only: run 'chmod 600 {key}'\n"
    )
    assert not out.exists()  # no folder, no certificate, no key
    assert "PRIVATE" not in result.stdout + result.stderr


def test_a_root_key_of_mode_0600_issues_a_signing_certificate(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "signer"
    result = invoke(
        {"NO_COLOR": "1"}, "keys", "signing-cert", "--root", str(root), "--out", str(out)
    )
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["signing-cert.pem", "signing-key.pem"]
