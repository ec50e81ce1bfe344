"""Sweep s18 "a newcomer trying each configuration variable with a bad value".

Before: `SAMPLELOANS_LOCK_TIMEOUT=abc` said only "is not a number of seconds", not which numbers
(README: 0 to 3600); `SAMPLELOANS_REPORT_FONT` naming a file that is not a font said
"report font passwd cannot be used: …", naming neither the variable nor the whole path; a
signer file set by `SAMPLELOANS_SIGNER_P12` (or `_KEY`, `_CERT`) that cannot be read was named
`--signer-p12`, an option the user never typed.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_env


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger, read by its curator."""
    return demo_env(tmp_path_factory, "curator@naoc.example")


def test_a_lock_timeout_that_is_no_number_says_which_numbers(demo: dict[str, str]) -> None:
    env = {**demo, "SAMPLELOANS_LOCK_TIMEOUT": "abc"}
    result = CliRunner().invoke(app, ["status", "--loan", "L-2025-OU"], env=env)
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: SAMPLELOANS_LOCK_TIMEOUT: 'abc' is not a number of seconds; "
        "give 0 to 3600 (default 10)\n"
    )


def test_a_report_font_that_is_no_font_names_the_variable_and_the_file(
    demo: dict[str, str], tmp_path: Path
) -> None:
    not_a_font = tmp_path / "notes.ttf"
    not_a_font.write_text("root:x:0:0\n")
    out = tmp_path / "custody.pdf"
    # a fresh process: the font is registered once per process, so an earlier test's would stay
    env = {**os.environ, **demo, "SAMPLELOANS_REPORT_FONT": str(not_a_font)}
    args = ["report", "custody", "--loan", "L-2025-OU", "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "sampleloans", *args], env=env, capture_output=True, text=True
    )
    assert result.returncode == 3
    line = result.stderr
    assert line.startswith(f"Error: SAMPLELOANS_REPORT_FONT: {not_a_font} is not a TrueType font")
    assert line.endswith("set SAMPLELOANS_REPORT_FONT to a .ttf/.ttc with Latin and CJK glyphs\n")
    assert line.count("\n") == 1
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.ttf"]


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"SAMPLELOANS_SIGNER_P12": "missing.p12"}, "--signer-p12 (SAMPLELOANS_SIGNER_P12)"),
        (
            {"SAMPLELOANS_SIGNER_KEY": "missing.pem", "SAMPLELOANS_SIGNER_CERT": "cert.pem"},
            "--signer-key (SAMPLELOANS_SIGNER_KEY)",
        ),
    ],
)
def test_a_signer_file_from_the_environment_is_named_by_its_variable(
    demo: dict[str, str], tmp_path: Path, variables: dict[str, str], named: str
) -> None:
    set_to = {name: str(tmp_path / file) for name, file in variables.items()}
    out = tmp_path / "custody.pdf"
    args = ["report", "custody", "--loan", "L-2025-OU", "--out", str(out), "--sign"]
    result = CliRunner().invoke(app, args, env={**demo, **set_to})
    assert result.exit_code == 2
    missing = next(iter(set_to.values()))
    assert result.stderr == f"Error: {named}: {missing} does not exist\n"
    assert not out.exists()


def test_a_signer_file_typed_is_named_by_its_option_alone(
    demo: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.p12"
    args = ["report", "custody", "--loan", "L-2025-OU", "--out", str(tmp_path / "c.pdf")]
    result = CliRunner().invoke(app, [*args, "--sign", "--signer-p12", str(missing)], env=demo)
    assert result.exit_code == 2
    assert result.stderr == f"Error: --signer-p12: {missing} does not exist\n"
