"""A document never replaces a private key file, `--force` or not: a key lost cannot be made
again (its fingerprint is what others trust), unlike a checkpoint file or a report. A new key
pair asked for with `keys generate --force` still replaces the old one."""

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import COMPLIANCE, CURATOR, demo_env, fingerprint


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """The demo ledger with checkpoint 1 kept, signed by a key in the module's folder."""
    env = demo_env(tmp_path_factory, CURATOR)
    key = tmp_path_factory.mktemp("keys") / "cp.key"
    assert CliRunner().invoke(app, ["keys", "generate", "--out", str(key)]).exit_code == 0
    made = CliRunner().invoke(app, ["checkpoint", "--key", str(key)], env=env)
    assert made.exit_code == 0, made.stderr
    return env, key


def test_checkpoint_show_never_writes_over_the_signing_key(
    kept: tuple[dict[str, str], Path],
) -> None:
    env, key = kept
    before, ledger = key.read_bytes(), Path(env["SAMPLELOANS_DB"])
    ledger_before = fingerprint(ledger)
    refused = CliRunner().invoke(
        app, ["checkpoint", "show", "1", "--out", str(key), "--force"], env=env
    )
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"Error: --out: {key} is a private key file; a document never replaces one: give "
        "another file name\n"
    )
    assert key.read_bytes() == before
    assert fingerprint(ledger) == ledger_before


def test_a_report_never_writes_over_a_pem_private_key(
    kept: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, _ = kept
    pem = tmp_path / "signer.pem"
    secret = ec.generate_private_key(ec.SECP256R1())
    pem.write_bytes(
        secret.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    before = pem.read_bytes()
    args = ["report", "custody", "--loan", "L-2025-OU", "--out", str(pem), "--force"]
    refused = CliRunner().invoke(app, args, env={**env, "SAMPLELOANS_USER": COMPLIANCE})
    assert refused.exit_code == 2
    assert "is a private key file; a document never replaces one" in refused.stderr
    assert pem.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signer.pem"]


def test_a_new_key_pair_still_replaces_the_old_with_force(tmp_path: Path) -> None:
    key = tmp_path / "cp.key"
    assert CliRunner().invoke(app, ["keys", "generate", "--out", str(key)]).exit_code == 0
    old = key.read_bytes()
    again = CliRunner().invoke(app, ["keys", "generate", "--out", str(key), "--force"])
    assert again.exit_code == 0, again.stderr
    assert key.read_bytes() != old
    assert key.read_bytes().startswith(b"PRIVATE+KEY+")
