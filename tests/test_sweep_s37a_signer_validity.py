"""Sweep s37 (task A, users): a signing certificate not valid now says, to the second, when it is.

Before, a report signed with a certificate made later the same day (on a clock set ahead, or
another computer's) was refused with "valid from 2026-05-03 to 2028-05-03, not at 2026-05-03
08:00 UTC": the same day on both sides, nothing to act on. It now names the certificate's
times to the second and the first one it signs at (`dates.bound_text`), or that it expired and
what to do; at the named time it signs.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR

S = "CE5C0200YJFM00112"
MADE = "2025-04-01T12:00:00Z"  # the certificate's start: three hours after the ledger's events


@pytest.fixture
def signer(tmp_path: Path, cli_env: dict[str, str], engine: object) -> list[str]:
    """A lender root and a signing certificate made at MADE; the report options that sign."""
    at_made = {**cli_env, "SAMPLELOANS_NOW": MADE}
    runner = CliRunner(env=at_made)
    root, cert = tmp_path / "root", tmp_path / "cert"
    made = runner.invoke(app, ["keys", "lender-root", "--out", str(root), "--name", "Lender"])
    assert made.exit_code == 0, made.stderr
    made = runner.invoke(app, ["keys", "signing-cert", "--root", str(root), "--out", str(cert)])
    assert made.exit_code == 0, made.stderr
    return ["--sign", "--signer-key", str(cert / "signing-key.pem"),
            "--signer-cert", str(cert / "signing-cert.pem")]  # fmt: skip


def _report(tmp_path: Path, now: str, signer: list[str]) -> tuple[int, str, bool]:
    out = tmp_path / "custody.pdf"
    argv = ["--as", CURATOR, "report", "custody", "--sample", S, "--out", str(out), *signer]
    result = CliRunner().invoke(app, argv, env={"SAMPLELOANS_NOW": now})
    return result.exit_code, result.stderr, out.exists()


def test_a_certificate_not_yet_valid_names_the_second_it_signs_from(
    tmp_path: Path, signer: list[str]
) -> None:
    code, stderr, written = _report(tmp_path, "2025-04-01T10:00:00Z", signer)
    assert code == 1 and not written
    assert stderr.startswith(
        f"Error: --signer-cert: the certificate of Lender report signing is valid from {MADE} "
        "until "
    ), stderr
    assert stderr.endswith(
        ", not now (2025-04-01T10:00:00Z); no reader would accept the signature: it signs "
        f"from {MADE} on: check this computer's clock (or SAMPLELOANS_NOW)\n"
    ), stderr
    code, stderr, written = _report(tmp_path, MADE, signer)  # the time it names
    assert code == 0 and written, stderr


def test_an_expired_certificate_says_to_issue_a_newer_one(
    tmp_path: Path, signer: list[str]
) -> None:
    code, stderr, written = _report(tmp_path, "2030-01-01T00:00:00Z", signer)
    assert code == 1 and not written
    assert ", not now (2030-01-01T00:00:00Z); " in stderr
    assert stderr.endswith("it has expired: sign with a newer one ('keys signing-cert')\n")
