"""Sweep s42 review: an events export's header `version` must be the number 1.

`restore --events`, `import` of an export and the stand-alone `tools/verify_ledger.py` compared
the header's version with `!= 1`, which JSON's `true` passes (Python's True == 1): a header no
export writes was read as this format. Now `true` is refused as 2 is: one line, exit 2, nothing
written.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.i15_statement_helpers import env_for, invoke, make_demo

TOOL = Path(__file__).resolve().parents[1] / "tools" / "verify_ledger.py"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's events export, through the CLI."""
    folder = tmp_path_factory.mktemp("export-version")
    out = folder / "events.jsonl"
    done = invoke(env_for(make_demo(folder / "d")), "export", "--events", str(out))
    assert done.exit_code == 0, done.stderr
    return out


def _with_version(export: Path, folder: Path, version: object) -> Path:
    """The export with its header's version replaced."""
    header, rest = export.read_text(encoding="utf-8").split("\n", 1)
    document = json.loads(header)
    document["version"] = version
    edited = folder / "edited.jsonl"
    edited.write_text(json.dumps(document, separators=(",", ":")) + "\n" + rest, encoding="utf-8")
    return edited


@pytest.mark.parametrize("version", [True, 2], ids=["true", "2"])
def test_restore_and_import_refuse_a_header_of_another_version(
    export: Path, tmp_path: Path, version: object
) -> None:
    edited = _with_version(export, tmp_path, version)
    for command in (("restore", "--events"), ("import",)):
        target = tmp_path / f"{command[0]}.db"
        done = invoke(env_for(target), *command, str(edited))
        assert done.exit_code == 2, done.output
        assert "line 1: not a sampleloans events export header" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert not target.exists()  # nothing written


@pytest.mark.parametrize("version", [True, 2], ids=["true", "2"])
def test_the_stand_alone_verifier_refuses_it(export: Path, tmp_path: Path, version: object) -> None:
    done = subprocess.run(
        [sys.executable, str(TOOL), str(_with_version(export, tmp_path, version))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("Error: ") and "unsupported export version" in done.stderr


def test_the_export_as_written_verifies(export: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(TOOL), str(_with_version(export, tmp_path, 1))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
