"""Sweep s17, trust artefacts: what `verify-bag --public-key` says a bag proves.

Found: a bag whose checkpoints were removed (and its events cut back, its checksums and head
tag regenerated) passed `verify-bag --public-key KEY.pub` with exit 0; and events forged after
the newest checkpoint (the hash chain has no key: anyone can extend it) passed as "a valid bag;
its checkpoints are signed by your key", without a word that no signature covers them.
"""

import json
from pathlib import Path
from typing import Any

import bagit  # type: ignore[import-untyped]  # bagit ships no type hints
import pytest

from sampleloans.ledger.chain import link_hash
from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_checkpoint, make_demo

HEAD_TAG = "Sampleloans-Head"


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


def events_file(folder: Path) -> Path:
    return folder / "data" / "events.jsonl"


def save(folder: Path, head: str) -> None:
    """What anyone can do after editing a bag: set its head tag, regenerate its checksums."""
    saved = bagit.Bag(str(folder))
    saved.info[HEAD_TAG] = head
    saved.save(manifests=True)
    saved.validate()


def verify_bag(folder: Path, *extra: str) -> Any:
    return invoke({"COLUMNS": "200", "NO_COLOR": "1"}, "verify-bag", str(folder), *extra)


def test_a_bag_stripped_of_its_checkpoints_fails_against_the_given_key(
    bag: dict[str, Any],
) -> None:
    lines = events_file(bag["dir"]).read_text().splitlines(keepends=True)
    events_file(bag["dir"]).write_text("".join(lines[:-1]))
    for note in (bag["dir"] / "data" / "checkpoints").glob("*.txt"):
        note.unlink()
    last = json.loads(lines[-2])
    save(bag["dir"], f"{last['seq']}:{last['hash']}")
    result = verify_bag(bag["dir"], "--public-key", str(bag["pub"]))
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("Error: BAG: ") and "no checkpoint" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    # without a key to check with, the bag is only said to prove nothing
    unkeyed = verify_bag(bag["dir"])
    assert unkeyed.exit_code == 0 and "holds no signed checkpoint" in unkeyed.stdout


def test_events_after_the_newest_checkpoint_are_named_as_not_signed(bag: dict[str, Any]) -> None:
    lines = events_file(bag["dir"]).read_text().splitlines(keepends=True)
    last = json.loads(lines[-1])
    forged = []
    for number in (1, 2):
        event = {**last, "seq": last["seq"] + 1, "reason": f"forged {number}"}
        body = {k: v for k, v in event.items() if k not in ("prev_hash", "hash")}
        event["prev_hash"] = last["hash"]
        event["hash"] = link_hash(last["hash"], body)
        forged.append(json.dumps(event, sort_keys=True, separators=(",", ":")) + "\n")
        last = event
    events_file(bag["dir"]).write_text("".join(lines + forged))
    save(bag["dir"], f"{last['seq']}:{last['hash']}")
    result = verify_bag(bag["dir"], "--public-key", str(bag["pub"]))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    size = bag["size"]
    assert f"events {size + 1}–{size + 2} come after the newest checkpoint" in result.stdout
    assert "no signature covers them" in result.stdout
    assert f"events 1–{size} are covered by checkpoints signed by your key" in result.stdout


def test_an_intact_bag_says_every_event_is_covered(bag: dict[str, Any]) -> None:
    result = verify_bag(bag["dir"], "--public-key", str(bag["pub"]))
    assert result.exit_code == 0, result.stderr
    assert f"events 1–{bag['size']} are covered by checkpoints signed by your key" in result.stdout
    assert "no signature covers" not in result.stdout


@pytest.mark.parametrize("name", ["report 100%.pdf", "L-2025%0AOsaka.pdf", "two\nlines.pdf"])
def test_a_report_whose_name_a_bagit_manifest_cannot_hold_is_refused_first(
    demo: Path, tmp_path: Path, name: str
) -> None:
    """Before: a name with '%' ended in exit 3 after bagit's own log lines ('… exists in
    manifest but was not found on filesystem'): bagit writes '%' as it is, and reads '%0A' back
    as a newline (RFC 8493 says both are percent-encoded)."""
    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    env = env_for(ledger)
    report = tmp_path / "custody.pdf"
    made = invoke(env, "report", "custody", "--loan", "L-2025-OU", "--out", str(report))
    assert made.exit_code == 0, made.stderr
    given = tmp_path / name
    report.rename(given)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = invoke(env, "export", "--bag", str(tmp_path / "bag"), "--report", str(given))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("Error: --report: ") and "rename" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no bag, no build folder


@pytest.mark.parametrize(
    ("added", "content"),
    [
        ("checkpoints/newer.note", "forged\n"),  # a checkpoint not named *.txt
        ("keys/lender.key", "PRIVATE+KEY+x+00000000+AA==\n"),  # a key not named *.pub
        ("events-2027.jsonl", "{}\n"),  # a file no export writes
    ],
)
def test_a_file_added_and_re_manifested_is_named_not_skipped(
    bag: dict[str, Any], added: str, content: str
) -> None:
    """Before: verify-bag read only checkpoints/*.txt and keys/*.pub and ignored every other
    file, so an added file passed once the checksums were regenerated."""
    target = bag["dir"] / "data" / added
    target.write_text(content)
    head = bagit.Bag(str(bag["dir"])).info[HEAD_TAG]
    save(bag["dir"], head)
    for extra in ([], ["--public-key", str(bag["pub"])]):
        result = verify_bag(bag["dir"], *extra)
        assert result.exit_code == 1, (result.stdout, result.stderr)
        assert result.stderr.startswith("Error: BAG: ") and added in result.stderr
        assert len(result.stderr.splitlines()) == 1


def test_verify_bag_says_it_did_not_check_the_reports_it_carries(
    demo: Path, tmp_path: Path
) -> None:
    """Before: 'a valid bag' and nothing about data/reports/, whose PDFs it never opens."""
    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    made = make_checkpoint(ledger, tmp_path)
    env = env_for(ledger)
    report = tmp_path / "custody.pdf"
    assert (
        invoke(env, "report", "custody", "--loan", "L-2025-OU", "--out", str(report)).exit_code == 0
    )
    folder = tmp_path / "bag"
    assert invoke(env, "export", "--bag", str(folder), "--report", str(report)).exit_code == 0
    result = verify_bag(folder, "--public-key", str(made["pub"]))
    assert result.exit_code == 0, result.stderr
    assert "ok    report custody.pdf: made at head " in result.stdout
    assert "note  reports/: each names one of these events as its head; its pages and " in (
        result.stdout
    )
    assert "verify-document" in result.stdout
