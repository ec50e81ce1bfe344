"""A bag's reports are this ledger's: `export --bag --report` and `verify-bag` check the head
each report names against the events (before: a report of another ledger, or not a report at
all, went into the bag and `verify-bag` never opened it)."""

from pathlib import Path

import bagit  # type: ignore[import-untyped]  # bagit ships no type hints
import pytest

from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_checkpoint, make_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


def custody_report(env: dict[str, str], out: Path) -> Path:
    """A custody report of L-2025-OU at the ledger's head."""
    result = invoke(env, "report", "custody", "--loan", "L-2025-OU", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    return out


def changed_copy(demo: Path, folder: Path) -> dict[str, str]:
    """A copy of the demo ledger with one more event: its head is not the demo's."""
    ledger = copy_ledger(demo, folder / "other.db")
    env = env_for(ledger)
    moved = invoke(env, "samples", "move", "CE5C0000YJBP005", "--location", "shelf 9")
    assert moved.exit_code == 0, moved.stderr
    return env


def test_export_refuses_a_report_made_from_another_ledger(demo: Path, tmp_path: Path) -> None:
    foreign = custody_report(changed_copy(demo, tmp_path), tmp_path / "foreign.pdf")
    env = env_for(copy_ledger(demo, tmp_path / "ledger.db"))
    folder = tmp_path / "bag"
    result = invoke(env, "export", "--bag", str(folder), "--report", str(foreign))
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith(f"Error: --report: {foreign} was made at head 108:")
    assert "not this ledger's" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not folder.exists()
    # a file that is no report at all is invalid input, named
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(foreign.read_bytes().replace(b"sampleloans", b"samplexxxxxx"))
    result = invoke(env, "export", "--bag", str(folder), "--report", str(plain))
    assert result.exit_code == 2 and "is not a sampleloans report" in result.stderr
    assert not folder.exists()


def test_verify_bag_fails_a_report_swapped_for_another_ledgers(demo: Path, tmp_path: Path) -> None:
    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    made = make_checkpoint(ledger, tmp_path)
    env = env_for(ledger)
    own = custody_report(env, tmp_path / "custody.pdf")
    folder = tmp_path / "bag"
    assert invoke(env, "export", "--bag", str(folder), "--report", str(own)).exit_code == 0
    checked = invoke(
        {"COLUMNS": "200"}, "verify-bag", str(folder), "--public-key", str(made["pub"])
    )
    assert checked.exit_code == 0, checked.stderr
    assert "ok    report custody.pdf: made at head 107, one of these events" in checked.stdout
    # someone swaps in a report of another ledger and regenerates the checksums
    foreign = custody_report(changed_copy(demo, tmp_path), tmp_path / "foreign.pdf")
    (folder / "data" / "reports" / "custody.pdf").write_bytes(foreign.read_bytes())
    saved = bagit.Bag(str(folder))
    saved.save(manifests=True)
    result = invoke({"COLUMNS": "200"}, "verify-bag", str(folder))
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("Error: BAG: data/reports/custody.pdf was made at head 108:")
    assert "not one of the bag's events" in result.stderr
    assert len(result.stderr.splitlines()) == 1
