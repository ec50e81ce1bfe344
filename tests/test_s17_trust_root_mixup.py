"""`verify-document --trust-root` given a key file instead of the lender's root certificate
names the mix-up (exit 2): before, "not a PEM or DER certificate" for the signing key a lender
might send by mistake, or for a public key file."""

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.test_i15_signed_reports import Pki, ledger, make_pki, report, sign_args

__all__ = ["ledger"]  # the signed reports' ledger fixture, used here by name


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The lender's ECDSA P-256 root and signer."""
    return make_pki(tmp_path_factory.mktemp("pki"), "ecdsa-p256")


def test_a_key_given_as_trust_root_is_named_as_a_key(
    ledger: Engine, runner: CliRunner, tmp_path: Path, pki: Pki
) -> None:
    signed = tmp_path / "signed.pdf"
    assert report(runner, signed, *sign_args(pki)).exit_code == 0
    public = tmp_path / "root-public.pem"
    root = x509.load_pem_x509_certificate(pki.root.cert_pem)
    public.write_bytes(
        root.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    no_ledger = {"SAMPLELOANS_DB": str(tmp_path / "none.db")}
    for given, said in (
        (pki.key_pem, "holds a private key, not a certificate"),
        (public, "holds a public key, not a certificate"),
    ):
        result = runner.invoke(
            app, ["verify-document", str(signed), "--trust-root", str(given)], env=no_ledger
        )
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"Error: --trust-root: {said}"), result.stderr
        assert "Traceback" not in result.output
    good = runner.invoke(
        app, ["verify-document", str(signed), "--trust-root", str(pki.root_pem)], env=no_ledger
    )
    assert good.exit_code == 0, good.output
