"""keys generate and restore --events with odd paths and names: `--out .` or `/` is one
`Error:` line (exit 3, a folder) instead of a ValueError; a key name outside ASCII (the
signed-note format allows any name without spaces or '+') is written in UTF-8 and signs and
verifies, instead of a UnicodeEncodeError after the public key file was written; a read error
in an events export is one line (exit 3), not an OSError traceback."""

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, fingerprint


@pytest.mark.parametrize("out", [".", "/"])
def test_keys_generate_into_a_folder_is_refused(
    out: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["keys", "generate", "--out", out])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 3
    assert result.stderr == f"Error: --out: {out} is a directory; give a file name\n"
    assert list(tmp_path.iterdir()) == []


def test_a_key_named_outside_ascii_signs_and_verifies(
    engine: Engine, db_path: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    key, checkpoint = tmp_path / "osaka.key", tmp_path / "cp.txt"
    made = CliRunner().invoke(app, ["keys", "generate", "--out", str(key), "--name", "大阪/ledger"])
    assert made.exit_code == 0, made.stderr
    assert (tmp_path / "osaka.key.pub").read_text(encoding="utf-8").startswith("大阪/ledger+")
    signed = CliRunner().invoke(
        app, ["--as", CURATOR, "checkpoint", "--key", str(key), "--out", str(checkpoint)]
    )
    assert signed.exit_code == 0, signed.stderr
    assert "— 大阪/ledger " in checkpoint.read_text(encoding="utf-8")
    checked = CliRunner().invoke(
        app,
        [
            "--as", CURATOR, "verify", "--checkpoint", str(checkpoint),
            "--public-key", str(tmp_path / "osaka.key.pub"),
        ],
    )  # fmt: skip
    assert checked.exit_code == 0, checked.stdout + checked.stderr


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc")
def test_restore_events_from_a_file_that_cannot_be_read(
    engine: Engine, db_path: Path, cli_env: dict[str, str]
) -> None:
    before = fingerprint(db_path)
    result = CliRunner().invoke(
        app, ["--as", CURATOR, "restore", "/proc/self/mem", "--events", "--force"]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: /proc/self/mem line 1: cannot be read (")
    assert result.stderr.count("\n") == 1
    assert fingerprint(db_path) == before
