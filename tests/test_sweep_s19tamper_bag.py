"""Sweep s19, tamper: a bag whose events file was removed, replaced by a folder or by bytes no
export writes, its checksums regenerated (anyone can). `verify-bag` names the events file and
fails the bag, exit 1 ("a changed, added or missing file"), as for any other edit of its content
(was: exit 3 "cannot read", as if the reader's disk had failed, or exit 2 "give a file written
by 'sampleloans export --events'", as if the bag were no bag)."""

import shutil
from pathlib import Path
from typing import Any

import bagit  # type: ignore[import-untyped]  # bagit ships no type hints
import pytest

from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_checkpoint, make_demo


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A bag of the demo ledger with a kept checkpoint, and the lender's key; made once."""
    folder = tmp_path_factory.mktemp("bag")
    ledger = copy_ledger(make_demo(folder / "d"), folder / "ledger.db")
    keys = make_checkpoint(ledger, folder)
    result = invoke(env_for(ledger), "export", "--bag", str(folder / "bag"))
    assert result.exit_code == 0, result.stderr
    return {**keys, "dir": folder / "bag"}


@pytest.fixture
def bag(made: dict[str, Any], tmp_path: Path) -> Path:
    """This test's copy of the bag."""
    return Path(shutil.copytree(made["dir"], tmp_path / "bag"))


def regenerate(folder: Path) -> None:
    """What anyone can do after editing a bag: regenerate its checksums."""
    saved = bagit.Bag(str(folder))
    saved.save(manifests=True)
    saved.validate()


def events(folder: Path) -> Path:
    return folder / "data" / "events.jsonl"


def remove(path: Path) -> None:
    path.unlink()


def to_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def to_bytes(path: Path) -> None:
    path.write_bytes(b"\xff\xfe not text\n")


def to_other_json(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join([lines[0], '{"seq":1}\n', *lines[2:]]), encoding="utf-8")


EDITS = {
    remove: "Error: BAG: data/events.jsonl is missing or not a file, where every export writes "
    "it: the bag was changed after it was made",
    to_folder: "Error: BAG: data/events.jsonl is missing or not a file, where every export "
    "writes it: the bag was changed after it was made",
    to_bytes: "Error: BAG: {events} line 1: not UTF-8 text: the bag's events were changed after "
    "it was made",
    to_other_json: "Error: BAG: {events} line 2: an event needs exactly the keys seq, kind, "
    "payload, occurred_at, recorded_at, actor, os_user, corrects_seq, reason, prev_hash, hash: "
    "the bag's events were changed after it was made",
}


@pytest.mark.parametrize("edit", list(EDITS), ids=lambda edit: edit.__name__)
def test_an_events_file_changed_and_rehashed_fails_the_bag(
    bag: Path, made: dict[str, Any], edit: Any
) -> None:
    """Exit 1 and one `Error: BAG:` line naming the events file, with or without a key."""
    edit(events(bag))
    regenerate(bag)
    for extra in ((), ("--public-key", str(made["pub"]))):
        result = invoke({"COLUMNS": "200", "NO_COLOR": "1"}, "verify-bag", str(bag), *extra)
        assert result.exit_code == 1, (result.stdout, result.stderr)
        assert result.stderr.splitlines() == [EDITS[edit].format(events=events(bag))]
