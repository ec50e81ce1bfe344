"""`keys lender-root` and `keys signing-cert` never replace a key and have no --force: their
refusal must not tell the user to pass one (found while refactoring `keys signing-cert`)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app


@pytest.mark.parametrize("command", ["lender-root", "signing-cert"])
def test_an_existing_key_file_is_refused_without_advising_an_option_the_command_lacks(
    runner: CliRunner, tmp_path: Path, cli_env: dict[str, str], command: str
) -> None:
    lender, signer = tmp_path / "lender", tmp_path / "signer"
    made = runner.invoke(app, ["keys", "lender-root", "--out", str(lender), "--name", "CNSA"])
    assert made.exit_code == 0, made.stderr
    issued = runner.invoke(
        app, ["keys", "signing-cert", "--root", str(lender), "--out", str(signer)]
    )
    assert issued.exit_code == 0, issued.stderr
    again_args = {
        "lender-root": ["--out", str(lender), "--name", "Other"],
        "signing-cert": ["--root", str(lender), "--out", str(signer)],
    }[command]
    before = {p: p.read_bytes() for p in [*lender.iterdir(), *signer.iterdir()]}

    again = runner.invoke(app, ["keys", command, *again_args])

    assert again.exit_code == 3, again.output
    lines = again.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --out:"), again.stderr
    assert "exists" in lines[0] and "--force" not in lines[0]
    assert "--out" in lines[0].split("exists", 1)[1]  # it says what to do: another --out folder
    # the advice is one the command accepts: --force is not among its options
    forced = runner.invoke(app, ["keys", command, *again_args, "--force"])
    assert forced.exit_code == 2 and "--force: no such option" in forced.output
    assert {p: p.read_bytes() for p in before} == before
