"""A plain (non-editable) install carries the seed data; ruff keeps the code clean."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.wheel_build import ROOT, build_wheel


def test_wheel_contains_seed_data(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for data_file in (
        "missions.csv",
        "institutions.csv",
        "samples.csv",
        "README.md",
        "demo/samples.csv",
        "demo/people.csv",
    ):
        assert f"sampleloans/data/{data_file}" in names
    assert "sampleloans/cli.py" in names and "sampleloans/models.py" in names
    assert "sampleloans/reports/fonts/wqy-microhei.ttc" in names  # reports need no system font
    assert "sampleloans/reports/fonts/DejaVuSans.ttf" in names  # nor for other scripts
    assert "sampleloans/reports/fonts/NotoNaskhArabic-Regular.ttf" in names  # nor for Urdu
    # every `export --bag` copies the written format and the stand-alone verifier from the package
    assert {"sampleloans/docs/ledger-format.md", "sampleloans/tools/verify_ledger.py"} <= names
    entry_points = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith("entry_points.txt")))
        .decode()
    )
    assert "sampleloans = sampleloans.__main__:main" in entry_points


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run(
        [ruff, "check", "sampleloans", "tests"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout[-3000:]
