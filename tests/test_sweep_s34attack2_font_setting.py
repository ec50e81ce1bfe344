"""Stop 34, attack 2: `SAMPLELOANS_REPORT_FONT`, a setting naming a file, set to what is no
font file. A name longer than the system allows printed Python's `OSError: [Errno 36] File name
too long` traceback (`Path.is_file()` raises for it); a folder, a FIFO or a device was called
`no font file at …`. Now each is one line naming the variable and what is there, exit 3 (an
environment setting), no report written. Held: the signer files (`SAMPLELOANS_SIGNER_P12`,
`_KEY`, `--signer-passphrase-file`) as a folder, FIFO, device, loop of links or long name were
already named, exit 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sampleloans.errors import StorageError
from sampleloans.reports import layout
from tests.conftest import demo_env

LONG_NAME = "f" * 300


def test_a_font_name_longer_than_the_system_allows_is_one_line_cli(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    out = tmp_path / "custody.pdf"
    # a fresh process: the font is registered once per process, so an earlier test's would stay
    env = {
        **os.environ,
        **demo_env(tmp_path_factory, "curator@naoc.example"),
        "SAMPLELOANS_REPORT_FONT": LONG_NAME,
    }
    args = ["report", "custody", "--loan", "L-2025-OU", "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "sampleloans", *args], env=env, capture_output=True, text=True
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith(f"Error: SAMPLELOANS_REPORT_FONT: {LONG_NAME}: cannot inspect")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("make", "kind"),
    [(os.mkdir, "a folder"), (os.mkfifo, "a FIFO")],
    ids=["folder", "fifo"],
)
def test_a_font_setting_that_is_no_regular_file_names_what_is_there_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: object, kind: str
) -> None:
    path = tmp_path / "font.ttf"
    make(path)  # type: ignore[operator]  # os.mkdir or os.mkfifo
    monkeypatch.setenv("SAMPLELOANS_REPORT_FONT", str(path))
    with pytest.raises(StorageError) as refused:
        layout.font_path()
    assert str(refused.value) == (
        f"SAMPLELOANS_REPORT_FONT: {path} is {kind}, not a font file; set it to a .ttf/.ttc "
        "with Latin and CJK glyphs"
    )
    monkeypatch.setenv("SAMPLELOANS_REPORT_FONT", str(tmp_path / "none.ttf"))
    with pytest.raises(StorageError, match="no font file at"):
        layout.font_path()
