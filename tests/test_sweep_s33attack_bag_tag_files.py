"""Sweep s33, archives: a file added beside a bag's data/ folder.

BagIt lets a tag manifest leave tag files out, so a file put beside `data/` (a forged
`received-complete.txt`, a folder of notes) passed the bagit validation, and `verify-bag` called
the bag valid, exit 0, though `export --bag` never writes one there (its help: "1 when a file was
changed, added or removed"). Now any file or folder there but the BagIt declaration, bag-info
and the manifests is named, exit 1, as an added payload file is.
"""

import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.errors import RuleViolation
from sampleloans.services.bag import verify_bag
from tests.i15_statement_helpers import exported_bag, make_demo


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bag exported from the demo with a checkpoint (made once for the module)."""
    folder = tmp_path_factory.mktemp("tags")
    made: dict[str, Any] = exported_bag(make_demo(folder / "d"), folder)
    return Path(made["dir"])


@pytest.fixture
def copy(bag: Path, tmp_path: Path) -> Path:
    """A copy of the bag to add to."""
    return Path(shutil.copytree(bag, tmp_path / "bag"))


def test_the_bag_as_exported_is_valid(copy: Path) -> None:
    assert verify_bag(copy).events > 0


@pytest.mark.parametrize("added", ["received-complete.txt", "notes/x.txt"])
def test_a_file_beside_data_fails_the_bag(copy: Path, added: str) -> None:
    """Before: 'a valid bag', exit 0."""
    target = copy / added
    target.parent.mkdir(exist_ok=True)
    target.write_text("Received complete and verified by the borrower.\n", "utf-8")
    top = added.split("/")[0]
    with pytest.raises(RuleViolation, match=f"^BAG: {top} is not a file 'export --bag' writes"):
        verify_bag(copy)


def test_verify_bag_names_it_in_one_line(copy: Path) -> None:
    """Through the CLI: one line, exit 1."""
    (copy / "received-complete.txt").write_text("ok\n", "utf-8")
    result = CliRunner().invoke(app, ["verify-bag", str(copy)])
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        "Error: BAG: received-complete.txt is not a file 'export --bag' writes beside data/: it "
        "was added to the bag after it was made\n"
    )
