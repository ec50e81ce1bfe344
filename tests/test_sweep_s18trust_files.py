"""Sweep s18 (trust): an auditor checking a bag whose file list was changed, and a lender
whose root key file others may read.

Found: `verify-bag` on a bag with a file added or taken out of its payload said only "Payload-
Oxum validation failed. Expected 8 files and … bytes but found 9 files …", naming no file; and
`keys signing-cert --root` issued a signing certificate with a `root-key.pem` of mode 0644
without a word, where a checkpoint key of that mode is refused.
"""

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.i15_statement_helpers import (
    NOW,
    copy_ledger,
    env_for,
    exported_bag,
    invoke,
    make_demo,
)

KEYS_ENV = {"NO_COLOR": "1", "SAMPLELOANS_NOW": NOW}  # the root is valid when the reports are made


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


@pytest.fixture
def bag(demo: Path, tmp_path: Path) -> dict[str, Any]:
    """A bag of the demo ledger with one kept checkpoint at its head, and the lender's key."""
    return exported_bag(demo, tmp_path)


def verify_bag(folder: Path, pub: Path) -> Any:
    return invoke({"NO_COLOR": "1"}, "verify-bag", str(folder), "--public-key", str(pub))


def _add(data: Path) -> None:
    (data / "checkpoints" / "extra.txt").write_text("an extra file\n")


def _remove(data: Path) -> None:
    (data / "README.txt").unlink()


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        (_add, "data/checkpoints/extra.txt: not in the manifest (a file was added)"),
        (_remove, "data/README.txt: listed in the manifest but missing"),
    ],
)
def test_a_file_added_to_or_taken_from_a_bag_is_named(
    bag: dict[str, Any], change: Any, finding: str
) -> None:
    change(bag["dir"] / "data")
    result = verify_bag(bag["dir"], bag["pub"])
    assert result.exit_code == 1
    assert result.stderr == f"Error: BAG: {bag['dir']} fails validation: {finding}\n"


def test_a_file_swapped_for_another_names_both(bag: dict[str, Any]) -> None:
    shutil.move(bag["dir"] / "data" / "README.txt", bag["dir"] / "data" / "README.md")
    result = verify_bag(bag["dir"], bag["pub"])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "data/README.txt: listed in the manifest but missing (and 1 more finding)" in (
        result.stderr
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "lender"
    made = invoke(KEYS_ENV, "keys", "lender-root", "--out", str(folder), "--name", "L")
    assert made.exit_code == 0, made.stderr
    return folder


def signing_cert(root: Path, out: Path) -> Any:
    return invoke(KEYS_ENV, "keys", "signing-cert", "--root", str(root), "--out", str(out))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_root_key_others_may_read_issues_nothing(root: Path, tmp_path: Path, mode: int) -> None:
    key = root / "root-key.pem"
    key.chmod(mode)
    out = tmp_path / "signer"
    result = invoke(
        {"NO_COLOR": "1"}, "keys", "signing-cert", "--root", str(root), "--out", str(out)
    )
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: --root: {key} is accessible by group or others (mode {mode:04o}); a private key "
        f"must be readable by its owner only: run 'chmod 600 {key}'\n"
    )
    assert not out.exists()  # no folder, no certificate, no key
    assert "PRIVATE" not in result.stdout + result.stderr


def test_a_root_key_of_mode_0600_issues_a_signing_certificate(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "signer"
    result = invoke(
        {"NO_COLOR": "1"}, "keys", "signing-cert", "--root", str(root), "--out", str(out)
    )
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["signing-cert.pem", "signing-key.pem"]


# --- a certificate whose key usage does not allow signing documents ---------------------------


def _custody(env: dict[str, str], out: Path, *sign: str) -> Any:
    return invoke(env, "report", "custody", "--loan", "L-2025-OU", "--out", str(out), *sign)


def test_the_root_certificate_cannot_sign_a_report(demo: Path, root: Path, tmp_path: Path) -> None:
    """Before: `--signer-key root-key.pem --signer-cert root-cert.pem` signed (exit 0), and
    verify-document --trust-root said the signature was valid: a root's key usage is
    Certificate Sign and CRL Sign only."""
    env = env_for(copy_ledger(demo, tmp_path / "ledger.db"))
    out = tmp_path / "custody.pdf"
    key, cert = str(root / "root-key.pem"), str(root / "root-cert.pem")
    result = _custody(env, out, "--sign", "--signer-key", key, "--signer-cert", cert)
    assert result.exit_code == 2, result.stdout
    assert result.stderr == (
        "Error: --signer-cert: the certificate of L may not sign documents: its key usage "
        "allows Certificate Sign, CRL Sign, not Digital Signature or Non Repudiation; give a "
        "document-signing certificate (e.g. one 'keys signing-cert' issues)\n"
    )
    assert not out.exists()


def test_a_report_signed_with_a_root_key_fails_verification(
    demo: Path, root: Path, tmp_path: Path
) -> None:
    """A PDF someone signed with a certificate that may not sign (made here with the signing
    library directly, as anyone can) fails, with and without the ledger."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from sampleloans.reports import signing

    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    env = env_for(ledger)
    plain = tmp_path / "plain.pdf"
    assert _custody(env, plain).exit_code == 0
    root_key = serialization.load_pem_private_key((root / "root-key.pem").read_bytes(), None)
    root_cert = x509.load_pem_x509_certificate((root / "root-cert.pem").read_bytes())
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)  # keys lender-root: ecdsa-p256
    credentials = signing.SigningCredentials(root_key, root_cert, ())
    signed = tmp_path / "signed.pdf"
    when = signing.datetime.fromisoformat(NOW.replace("Z", "+00:00"))
    signed.write_bytes(signing.sign_pdf(plain.read_bytes(), credentials, when))
    trust = ["--trust-root", str(root / "root-cert.pem")]
    expected = (
        "FAIL  certificate: the certificate of L may not sign documents: its key usage allows "
        "Certificate Sign, CRL Sign, not Digital Signature or Non Repudiation"
    )
    nowhere = {**env, "SAMPLELOANS_DB": str(tmp_path / "none.db")}
    for where, args in ((env, trust), (nowhere, trust), (env, [])):
        result = invoke(where, "verify-document", str(signed), *args)
        assert result.exit_code == 1, (args, result.stdout)
        assert expected in result.stdout.splitlines(), result.stdout


def test_a_bag_names_each_key_file_by_the_key_id_every_check_prints(bag: dict[str, Any]) -> None:
    """Before: `naoc.example_ledger-c9eacdfc.pub`, 8 hex digits of another hash, beside
    verify-bag's 'signed by naoc.example/ledger+5070fa2d': it read as a different key."""
    vkey = bag["pub"].read_text().strip()
    name, key_id, _material = vkey.split("+", 2)
    [key_file] = (bag["dir"] / "data" / "keys").glob("*.pub")
    assert key_file.name == f"{name.replace('/', '_')}-{key_id}.pub"
    assert key_file.read_text() == vkey + "\n"
    result = verify_bag(bag["dir"], key_file)
    assert result.exit_code == 0 and f"{name}+{key_id}" in result.stdout
    readme = (bag["dir"] / "data" / "README.txt").read_text()
    assert "sampleloans --db new.db --as CURATOR restore --bag BAG --public-key KEY.pub" in readme


def test_a_signing_certificate_cut_short_by_its_root_says_so(root: Path, tmp_path: Path) -> None:
    """Before: '--valid-for "50 years"' made a certificate ending with the root, ten years on,
    and the line printed said nothing of it (nor of any end date)."""
    longer = invoke(
        KEYS_ENV, "keys", "signing-cert", "--root", str(root), "--out", str(tmp_path / "a"),
        "--valid-for", "50 years",
    )  # fmt: skip
    assert longer.exit_code == 0, longer.stderr
    assert "valid until 2036-06-15 (the root's end: --valid-for '50 years' is longer)" in (
        " ".join(longer.stdout.split())
    )
    shorter = signing_cert(root, tmp_path / "b")
    assert shorter.exit_code == 0, shorter.stderr
    assert "valid until 2028-06-15, SHA-256" in " ".join(shorter.stdout.split())
