"""Issue 15 point 7: `export --bag` writes a BagIt bag that validates with the bagit library and
the stand-alone verifier, and re-imports to the same head; one changed byte fails validation."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import bagit  # type: ignore[import-untyped]  # bagit ships no type hints
import pytest

from tests.conftest import fingerprint
from tests.i15_statement_helpers import (
    copy_ledger,
    env_for,
    invoke,
    make_checkpoint,
    make_demo,
)

OSAKA_PI = "terada@osaka-u.example"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


@pytest.fixture
def ledger(demo: Path, tmp_path: Path) -> dict[str, Any]:
    path = copy_ledger(demo, tmp_path / "ledger.db")
    return {"db": path, **make_checkpoint(path, tmp_path), "dir": tmp_path}


def head_of(ledger: Path) -> str:
    result = invoke(env_for(ledger), "verify", "--print-head")
    assert result.exit_code == 0, result.stdout
    return result.stdout.strip().splitlines()[-1]


def make_bag(ledger: dict[str, Any], *extra: str) -> Path:
    bag = ledger["dir"] / "bag"
    result = invoke(env_for(ledger["db"]), "export", "--bag", str(bag), *extra)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return bag


def signed_statement(ledger: dict[str, Any]) -> Path:
    env = env_for(ledger["db"])
    lender, signer = ledger["dir"] / "lender", ledger["dir"] / "signer"
    assert invoke(env, "keys", "lender-root", "--out", str(lender), "--name", "CNSA").exit_code == 0
    made = invoke(env, "keys", "signing-cert", "--root", str(lender), "--out", str(signer))
    assert made.exit_code == 0, made.stderr
    out = ledger["dir"] / "st"
    out.mkdir()
    result = invoke(env, "report", "statement", "--pi", OSAKA_PI, "--out", str(out), "--sign",
                    "--signer-key", str(signer / "signing-key.pem"),
                    "--signer-cert", str(signer / "signing-cert.pem"))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return out / "statement-terada-at-osaka-u.example.pdf"


def test_bag_holds_everything_and_validates_with_bagit_and_the_verifier(
    ledger: dict[str, Any],
) -> None:
    report = signed_statement(ledger)
    bag_dir = make_bag(ledger, "--report", str(report))
    bag = bagit.Bag(str(bag_dir))
    bag.validate()  # raises on any problem
    assert set(bag.algorithms) == {"sha256", "sha512"}
    files = {str(Path(p)) for p in bag.payload_entries()}
    assert {
        "data/events.jsonl",
        "data/docs/ledger-format.md",
        "data/tools/verify_ledger.py",
        f"data/reports/{report.name}",
        "data/README.txt",
    } <= files
    checkpoints = sorted((bag_dir / "data" / "checkpoints").iterdir())
    keys = sorted((bag_dir / "data" / "keys").iterdir())
    assert [c.read_text() for c in checkpoints] == [ledger["note"]]
    assert [k.read_text().strip() for k in keys] == [ledger["pub"].read_text().strip()]
    assert (bag_dir / "data" / "reports" / report.name).read_bytes() == report.read_bytes()
    assert bag.info["Sampleloans-Head"] == head_of(ledger["db"])
    root = Path(__file__).resolve().parent.parent
    assert (bag_dir / "data/docs/ledger-format.md").read_bytes() == (
        root / "docs" / "ledger-format.md"
    ).read_bytes()
    # the bag's own verifier, run from the bag, on the bag's events, checkpoint and key
    done = subprocess.run(
        [sys.executable, str(bag_dir / "data/tools/verify_ledger.py"),
         str(bag_dir / "data/events.jsonl"), "--checkpoint", str(checkpoints[0]),
         "--public-key", str(keys[0])],
        capture_output=True, text=True, timeout=120, cwd=ledger["dir"],
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    check = invoke({"COLUMNS": "120"}, "verify-bag", str(bag_dir))
    assert check.exit_code == 0, check.stderr
    assert "chain intact" in check.stdout and "matches the events" in check.stdout


def test_the_bags_events_restore_to_the_same_head(ledger: dict[str, Any]) -> None:
    bag_dir = make_bag(ledger)
    fresh = ledger["dir"] / "fresh.db"
    env = {**env_for(fresh)}
    result = invoke(env, "restore", "--events", str(bag_dir / "data" / "events.jsonl"))
    assert result.exit_code == 0, result.stderr
    assert head_of(fresh) == head_of(ledger["db"])


@pytest.mark.parametrize("where", ["data/events.jsonl", "data/tools/verify_ledger.py"])
def test_one_changed_byte_fails_with_one_line(ledger: dict[str, Any], where: str) -> None:
    bag_dir = make_bag(ledger)
    target = bag_dir / where
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    result = invoke({"COLUMNS": "120"}, "verify-bag", str(bag_dir))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: BAG:")
    assert where in result.stderr and "checksum differs" in result.stderr
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(bag_dir)).validate()


def test_a_re_hashed_bag_with_a_forged_event_is_caught_by_the_chain(ledger: dict[str, Any]) -> None:
    """Someone who edits an event and regenerates the manifests passes bagit, not the chain."""
    bag_dir = make_bag(ledger)
    events = bag_dir / "data" / "events.jsonl"
    lines = events.read_text(encoding="utf-8").splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if "sample.registered" in line)
    lines[index] = lines[index].replace("CE-5", "CE-6", 1)
    assert "CE-6" in lines[index]
    events.write_text("".join(lines), encoding="utf-8")
    bag = bagit.Bag(str(bag_dir))
    bag.save(manifests=True)
    bag.validate()
    result = invoke({"COLUMNS": "120"}, "verify-bag", str(bag_dir))
    assert result.exit_code == 1 and "does not hash to its recorded hash" in result.stderr


def test_existing_folder_not_a_bag_and_bad_extras(ledger: dict[str, Any], tmp_path: Path) -> None:
    env = env_for(ledger["db"])
    taken = tmp_path / "taken"
    taken.mkdir()
    before = fingerprint(ledger["db"])
    result = invoke(env, "export", "--bag", str(taken))
    assert result.exit_code == 3 and "exists" in result.stderr
    not_pdf = tmp_path / "report.pdf"
    not_pdf.write_text("hello")
    result = invoke(env, "export", "--bag", str(tmp_path / "b2"), "--report", str(not_pdf))
    assert result.exit_code == 2 and "--report" in result.stderr
    assert not (tmp_path / "b2").exists()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".bag-tmp")]
    result = invoke(
        env, "export", "--events", str(tmp_path / "e.jsonl"), "--bag", str(tmp_path / "b3")
    )
    assert result.exit_code == 2 and "exactly one of" in result.stderr
    assert invoke({}, "verify-bag", str(tmp_path)).exit_code == 2
    assert fingerprint(ledger["db"]) == before


def test_researchers_may_not_export(ledger: dict[str, Any]) -> None:
    result = invoke(
        env_for(ledger["db"], actor=OSAKA_PI), "export", "--bag", str(ledger["dir"] / "b")
    )
    assert result.exit_code == 4
    assert not (ledger["dir"] / "b").exists()
