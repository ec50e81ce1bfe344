"""Sweep "a newcomer who trusts the documentation": the configuration's precedence rules.

The README tells a lender with a real certificate to put `SAMPLELOANS_SIGNER_P12` and
`SAMPLELOANS_SIGNER_PASSPHRASE` in their environment, and says each variable is "the same as"
its option. A lender so configured who signed once with a PEM key and certificate typed on the
command line (the trial pair `keys signing-cert` writes) was refused: "give either a PKCS#12
file or --signer-key and --signer-cert, not both" (they had typed no --signer-p12), and then
"the key is not encrypted; give no passphrase" (they had typed none). What is typed on the
command line now wins over the environment, as for every other option.
"""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_copy

NOW = "2026-06-15T10:00:00Z"


@pytest.fixture(scope="module")
def lender(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A demo ledger, a lender root, and a signing certificate as a PEM pair and as an
    encrypted PKCS#12 file; the environment to use them."""
    folder = tmp_path_factory.mktemp("signing")
    runner = CliRunner()
    demo_copy(folder / "demo")
    env = {
        "SAMPLELOANS_DB": str(folder / "demo" / "ledger.db"),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": NOW,
        "SAMPLELOANS_SIGNER_PASSPHRASE": "p12 secret",
    }
    root = ["keys", "lender-root", "--out", str(folder / "root"), "--name", "CNSA Test"]
    assert runner.invoke(app, root, env=env).exit_code == 0
    cert = ["keys", "signing-cert", "--root", str(folder / "root"), "--out", str(folder / "s")]
    made = runner.invoke(app, [*cert, "--p12"], env=env)
    assert made.exit_code == 0, made.stderr
    return {**env, "folder": str(folder)}


def custody(lender: dict[str, str], *args: str, **env: str) -> Result:
    """`report custody --sign` of L-2025-OU with these options and environment."""
    out = str(Path(lender["folder"]) / "custody.pdf")
    argv = ["report", "custody", "--loan", "L-2025-OU", "--out", out, "--force", "--sign"]
    settings = {k: v for k, v in lender.items() if k != "folder"}
    return CliRunner().invoke(app, [*argv, *args], env={**settings, **env})


def test_a_pem_pair_typed_wins_over_a_pkcs12_file_in_the_environment(
    lender: dict[str, str],
) -> None:
    """SAMPLELOANS_SIGNER_P12 (and its passphrase) in the environment, a clear PEM pair on the
    command line: signed with the pair."""
    folder = Path(lender["folder"])
    pair = ["--signer-key", str(folder / "s/signing-key.pem")]
    pair += ["--signer-cert", str(folder / "s/signing-cert.pem")]
    result = custody(lender, *pair, SAMPLELOANS_SIGNER_P12=str(folder / "s/signing.p12"))
    assert result.exit_code == 0, result.stderr
    assert "signed by CNSA Test" in result.stdout


def test_a_pkcs12_file_typed_wins_over_a_pem_pair_in_the_environment(
    lender: dict[str, str],
) -> None:
    """And the other way round."""
    folder = Path(lender["folder"])
    result = custody(
        lender,
        "--signer-p12",
        str(folder / "s/signing.p12"),
        SAMPLELOANS_SIGNER_KEY=str(folder / "s/signing-key.pem"),
        SAMPLELOANS_SIGNER_CERT=str(folder / "s/signing-cert.pem"),
    )
    assert result.exit_code == 0, result.stderr
    assert "signed by CNSA Test" in result.stdout


def test_both_kinds_typed_are_still_refused(lender: dict[str, str]) -> None:
    """Typed together, a PKCS#12 file and a PEM key are two answers: one line, exit 2."""
    folder = Path(lender["folder"])
    result = custody(lender, "--signer-p12", str(folder / "s/signing.p12"), "--signer-key", "k.pem")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --signer-p12: give either a PKCS#12 file or")


def test_both_kinds_in_the_environment_are_still_refused(lender: dict[str, str]) -> None:
    """Nothing typed, both kinds set: which one was meant is not ours to guess."""
    folder = Path(lender["folder"])
    result = custody(
        lender,
        SAMPLELOANS_SIGNER_P12=str(folder / "s/signing.p12"),
        SAMPLELOANS_SIGNER_KEY=str(folder / "s/signing-key.pem"),
        SAMPLELOANS_SIGNER_CERT=str(folder / "s/signing-cert.pem"),
    )
    assert result.exit_code == 2


def test_a_passphrase_file_for_a_clear_key_is_still_refused(lender: dict[str, str]) -> None:
    """Only the environment's passphrase is left aside for a key in the clear; one given for it
    on the command line is a mistake, said as before."""
    folder = Path(lender["folder"])
    secret = folder / "passphrase"
    secret.write_text("p12 secret\n")
    secret.chmod(0o600)
    pair = ["--signer-key", str(folder / "s/signing-key.pem")]
    pair += ["--signer-cert", str(folder / "s/signing-cert.pem")]
    result = custody(lender, *pair, "--signer-passphrase-file", str(secret))
    assert result.exit_code == 2
    assert "the key is not encrypted; give no passphrase" in result.stderr


README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("seconds", ["3601", "-1"])
def test_the_lock_timeout_range_is_the_readmes(lender: dict[str, str], seconds: str) -> None:
    """The README said only "seconds"; the program takes 0 to 3600 and refuses another value
    with one line, exit 2: both now say the same range."""
    (row,) = [line for line in README.splitlines() if line.startswith("| `SAMPLELOANS_LOCK_")]
    assert "from 0 to 3600" in row and "exit 2" in row
    settings = {k: v for k, v in lender.items() if k != "folder"}
    result = CliRunner().invoke(
        app,
        ["status", "--loan", "L-2025-OU"],
        env={**settings, "SAMPLELOANS_LOCK_TIMEOUT": seconds},
    )
    assert result.exit_code == 2
    assert result.stderr == "Error: SAMPLELOANS_LOCK_TIMEOUT: must be between 0 and 3600 seconds\n"


def test_every_variable_the_code_reads_is_in_the_configuration_table() -> None:
    """Each `SAMPLELOANS_*` name in the package or the tests has a row in the README's
    configuration table (before: `SAMPLELOANS_SEED`, `SAMPLELOANS_WORKERS` and the soak
    counts were named only in a test's docstring)."""
    root = Path(__file__).resolve().parents[1]
    used: set[str] = set()
    for folder in ("sampleloans", "tests"):
        for source in (root / folder).rglob("*.py"):
            used |= set(re.findall(r"SAMPLELOANS_[A-Z0-9_]*[A-Z0-9]", source.read_text("utf-8")))
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `SAMPLELOANS_")]
    documented = {name for row in rows for name in re.findall(r"`(SAMPLELOANS_\w+)`", row)}
    assert {"SAMPLELOANS_DB", "SAMPLELOANS_NOW"} <= used  # the scan finds what it must
    partial = {name for name in used if any(d.startswith(name + "_") for d in documented)}
    assert sorted(used - documented - partial) == []
