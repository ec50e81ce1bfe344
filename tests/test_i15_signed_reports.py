"""Issue 15 point 4: signed PDF reports (PAdES, pyHanko), lender certificates, and
`verify-document --trust-root` without the ledger; checked with poppler's pdfsig and pyHanko's
own CLI as independent validators."""

import io
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from sampleloans import certs
from sampleloans.cli import app
from sampleloans.reports import signing
from tests.conftest import Run
from tests.factories import rich_history

NOW = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)  # the CLI clock of conftest's cli_env
AS = ["--as", "compliance@naoc.example"]
GEN = ["--generated-at", "2025-04-01T09:00:00Z"]
LENDER = "CNSA Lunar Sample Curation"


@dataclass(frozen=True)
class Pki:
    """A lender root and a signing certificate, as files and as objects."""

    root_pem: Path
    key_pem: Path
    chain_pem: Path
    credentials: signing.SigningCredentials
    root: certs.IssuedCertificate


def make_pki(folder: Path, algorithm: str, name: str = LENDER, start: datetime = NOW) -> Pki:
    """Root and signer issued at `start` - 1 day (signer valid 2 years), written to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    issued_at = start - timedelta(days=1)
    root = certs.lender_root(name, issued_at, algorithm=algorithm)
    root_cert, root_key = certs.load_root(root.cert_pem, root.key_pem)
    signer = certs.signing_certificate(
        root_cert, root_key, f"{name} report signing", issued_at, algorithm=algorithm
    )
    paths = [folder / n for n in ("root-cert.pem", "signing-key.pem", "signing-cert.pem")]
    for path, data in zip(paths, (root.cert_pem, signer.key_pem, signer.chain_pem), strict=True):
        path.write_bytes(data)
    credentials = signing.load_pem_credentials(signer.key_pem, signer.chain_pem)
    return Pki(paths[0], paths[1], paths[2], credentials, root)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The lender's ECDSA P-256 root and signer."""
    return make_pki(tmp_path_factory.mktemp("pki"), "ecdsa-p256")


@pytest.fixture(scope="module")
def rsa_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The lender's RSA root and signer."""
    return make_pki(tmp_path_factory.mktemp("rsa-pki"), "rsa")


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Someone else's root and signer (same names, other keys)."""
    return make_pki(tmp_path_factory.mktemp("stranger"), "ecdsa-p256")


@pytest.fixture
def ledger(engine: Engine, run: Run, cli_env: dict[str, str]) -> Engine:
    """The factories' varied history, with the CLI pointed at it."""
    rich_history(run)
    return engine


def report(runner: CliRunner, out: Path, *extra: str, kind: tuple[str, ...] = ()) -> Result:
    """Run `report custody --loan L-2 --out OUT` (or another kind) with extra options."""
    command = list(kind) or ["custody", "--loan", "L-2"]
    return runner.invoke(app, [*AS, "report", *command, "--out", str(out), *GEN, *extra])


def sign_args(pki: Pki) -> list[str]:
    """The PEM signing options of a report command."""
    return ["--sign", "--signer-key", str(pki.key_pem), "--signer-cert", str(pki.chain_pem)]


def flip(data: bytes, at: int) -> bytes:
    """The same bytes with one bit of one byte changed."""
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def append_update(data: bytes) -> bytes:
    """A real incremental update appended after the signature (a new document title)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    writer.document_meta.title = "changed after signing"
    writer.document_meta.keywords = ["not", "the", "report's", "claim"]
    writer.update_root()  # an update with no changed object would write nothing
    out = io.BytesIO()
    writer.write(out)
    assert len(out.getvalue()) > len(data)
    return out.getvalue()


@pytest.fixture
def unsigned(ledger: Engine, runner: CliRunner, tmp_path: Path) -> bytes:
    """The unsigned custody report of loan L-2."""
    out = tmp_path / "unsigned.pdf"
    assert report(runner, out).exit_code == 0
    return out.read_bytes()


# --- service level ----------------------------------------------------------------------------


def test_sign_pdf_appends_to_the_rendering_and_rsa_signing_is_deterministic(
    unsigned: bytes, rsa_pki: Pki, pki: Pki
) -> None:
    first = signing.sign_pdf(unsigned, rsa_pki.credentials, NOW)
    assert first.startswith(unsigned) and len(first) > len(unsigned)
    assert signing.sign_pdf(unsigned, rsa_pki.credentials, NOW) == first
    later = signing.sign_pdf(unsigned, rsa_pki.credentials, NOW + timedelta(hours=1))
    assert later != first  # the signing time is in the signature
    ecdsa = signing.sign_pdf(unsigned, pki.credentials, NOW)
    assert ecdsa.startswith(unsigned)
    for signed, who in ((first, rsa_pki), (ecdsa, pki)):
        root = signing.load_trust_root(who.root_pem.read_bytes())
        check = signing.check_signature(signed, root, NOW)
        assert check.ok, check.problems
        assert check.trusted is True
        assert check.signer == f"{LENDER} report signing"
        assert check.signing_time == NOW


def _root(pki: Pki) -> x509.Certificate:
    """A PKI's root certificate."""
    return signing.load_trust_root(pki.root_pem.read_bytes())


def test_check_signature_names_each_kind_of_failure(
    unsigned: bytes, pki: Pki, stranger: Pki
) -> None:
    signed = signing.sign_pdf(unsigned, pki.credentials, NOW)
    root = _root(pki)

    def problems(data: bytes, trust: x509.Certificate = root, now: datetime = NOW) -> str:
        try:
            return " | ".join(signing.check_signature(data, trust, now).problems)
        except signing.SignatureFailure as failure:
            return str(failure)

    assert problems(signed) == ""
    assert "changed after signing" in problems(flip(signed, len(unsigned) // 2))
    contents = signed.index(b"/Contents <", len(unsigned)) + len(b"/Contents <") + 20
    assert "signature" in problems(flip(signed, contents))
    assert "appended after signing" in problems(append_update(signed))
    assert "appended after signing" in problems(signed + b"% trailing bytes\n")
    assert "does not chain to the trust root" in problems(signed, _root(stranger))
    assert "expired on" in problems(signed, root, NOW + timedelta(days=800))
    assert "valid only from" in problems(signed, root, NOW - timedelta(days=30))
    by_stranger = signing.sign_pdf(unsigned, stranger.credentials, NOW)
    assert "does not chain to the trust root" in problems(by_stranger)
    assert problems(unsigned) == "signature: the file is not signed"


def test_credentials_refuse_weak_mismatched_or_locked_keys(pki: Pki, rsa_pki: Pki) -> None:
    chain = pki.chain_pem.read_bytes()
    with pytest.raises(signing.InvalidInput, match="not the key of the certificate"):
        signing.load_pem_credentials(rsa_pki.key_pem.read_bytes(), chain)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    p384 = ec.generate_private_key(ec.SECP384R1())
    for key, message in ((small, "too short"), (p384, "only P-256")):
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        with pytest.raises(signing.InvalidInput, match=message):
            signing.load_pem_credentials(pem, chain)
    issued = certs.IssuedCertificate(chain, pki.key_pem.read_bytes(), chain, "")
    p12 = certs.pkcs12(issued, b"right", "signer")
    assert signing.load_pkcs12_credentials(p12, b"right").signer_name == pki.credentials.signer_name
    with pytest.raises(signing.InvalidInput, match="passphrase is wrong"):
        signing.load_pkcs12_credentials(p12, b"wrong")


# --- through the CLI --------------------------------------------------------------------------


def test_keys_commands_write_private_keys_0600_and_never_print_them(
    runner: CliRunner, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    lender, signer = tmp_path / "lender", tmp_path / "signer"
    made = runner.invoke(app, ["keys", "lender-root", "--out", str(lender), "--name", LENDER])
    assert made.exit_code == 0, made.stderr
    env = {"SAMPLELOANS_SIGNER_PASSPHRASE": "correct horse"}
    issued = runner.invoke(
        app, ["keys", "signing-cert", "--root", str(lender), "--out", str(signer), "--p12"], env=env
    )
    assert issued.exit_code == 0, issued.stderr
    files = [*lender.iterdir(), *signer.iterdir()]
    assert sorted(p.name for p in files) == [
        "root-cert.pem",
        "root-key.pem",
        "signing-cert.pem",
        "signing-key.pem",
        "signing.p12",
    ]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    for key in (lender / "root-key.pem", signer / "signing-key.pem"):
        body = key.read_text().splitlines()[1]
        assert body not in made.stdout + made.stderr + issued.stdout + issued.stderr
    credentials = signing.load_pkcs12_credentials(
        (signer / "signing.p12").read_bytes(), b"correct horse"
    )
    assert credentials.signer_name == f"{LENDER} report signing"
    assert (
        credentials.chain[0].subject
        == x509.load_pem_x509_certificate((lender / "root-cert.pem").read_bytes()).subject
    )
    before = {p: p.read_bytes() for p in files}
    again = runner.invoke(app, ["keys", "lender-root", "--out", str(lender), "--name", "Other"])
    assert again.exit_code == 3 and again.stderr.startswith("Error: --out:")
    assert {p: p.read_bytes() for p in files} == before
    no_pass = runner.invoke(
        app, ["keys", "signing-cert", "--root", str(lender), "--out", str(tmp_path / "x"), "--p12"]
    )
    assert no_pass.exit_code == 2 and "SAMPLELOANS_SIGNER_PASSPHRASE" in no_pass.stderr
    bad = runner.invoke(
        app,
        ["keys", "lender-root", "--out", str(tmp_path / "y"), "--name", "X", "--algorithm", "dsa"],
    )
    assert bad.exit_code == 2 and "--algorithm" in bad.stderr and "Traceback" not in bad.output


@pytest.mark.parametrize(
    "kind",
    [
        ("custody", "--loan", "L-2"),
        ("return", "--loan", "L-1"),
        ("overdue", "--institution", "UoC"),
        ("inventory", "--loan", "L-2"),
    ],
)
def test_every_report_kind_signs_and_verifies_with_and_without_the_ledger(
    ledger: Engine, runner: CliRunner, tmp_path: Path, pki: Pki, kind: tuple[str, ...]
) -> None:
    plain, signed = tmp_path / "plain.pdf", tmp_path / "signed.pdf"
    assert report(runner, plain, kind=kind).exit_code == 0
    result = report(runner, signed, *sign_args(pki), kind=kind)
    assert result.exit_code == 0, result.stderr
    assert f"signed by {LENDER} report signing" in result.stdout
    assert signed.read_bytes().startswith(plain.read_bytes())
    assert stat.S_IMODE(signed.stat().st_mode) == 0o600
    trust = ["--trust-root", str(pki.root_pem)]
    full = runner.invoke(app, [*AS, "verify-document", str(signed), *trust])
    assert full.exit_code == 0, full.stdout + full.stderr
    assert "chains to the trust root" in full.stdout
    assert "up to its signature, the file is byte-identical" in full.stdout
    # a borrower: no ledger, no acting person
    alone = runner.invoke(
        app,
        ["verify-document", str(signed), *trust],
        env={"SAMPLELOANS_DB": str(tmp_path / "none.db")},
    )
    assert alone.exit_code == 0, alone.stdout + alone.stderr
    assert "ledger checks were skipped" in alone.stdout


def test_pkcs12_signing_with_the_passphrase_from_a_file(
    ledger: Engine, runner: CliRunner, tmp_path: Path, pki: Pki
) -> None:
    issued = certs.IssuedCertificate(
        pki.chain_pem.read_bytes(), pki.key_pem.read_bytes(), pki.chain_pem.read_bytes(), ""
    )
    p12, secret = tmp_path / "signer.p12", tmp_path / "passphrase"
    p12.write_bytes(certs.pkcs12(issued, b"s3cret", "signer"))
    secret.write_text("s3cret\n")
    out = tmp_path / "signed.pdf"
    ok = report(
        runner, out, "--sign", "--signer-p12", str(p12), "--signer-passphrase-file", str(secret)
    )
    assert ok.exit_code == 0, ok.stderr
    check = signing.check_signature(out.read_bytes(), _root(pki), NOW)
    assert check.ok and check.signer == f"{LENDER} report signing"
    secret.write_text("wrong\n")
    wrong = report(
        runner,
        tmp_path / "w.pdf",
        "--sign",
        "--signer-p12",
        str(p12),
        "--signer-passphrase-file",
        str(secret),
    )
    assert wrong.exit_code == 2 and "passphrase is wrong" in wrong.stderr
    assert not (tmp_path / "w.pdf").exists()


def test_verify_document_refuses_each_tampering_in_one_line(
    ledger: Engine, runner: CliRunner, tmp_path: Path, pki: Pki, stranger: Pki
) -> None:
    signed = tmp_path / "signed.pdf"
    assert report(runner, signed, *sign_args(pki)).exit_code == 0
    data = signed.read_bytes()
    by_stranger = tmp_path / "stranger.pdf"
    assert report(runner, by_stranger, *sign_args(stranger)).exit_code == 0
    cases = {
        "changed": (flip(data, len(data) // 3), "changed after signing"),
        "appended": (append_update(data), "appended after signing"),
        "stranger": (by_stranger.read_bytes(), "does not chain to the trust root"),
    }
    no_ledger = {"SAMPLELOANS_DB": str(tmp_path / "none.db")}
    for name, (bad, message) in cases.items():
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(bad)
        for args, env in (([], no_ledger), (AS, None)):
            result = runner.invoke(
                app,
                [*args, "verify-document", str(path), "--trust-root", str(pki.root_pem)],
                env=env,
            )
            assert result.exit_code == 1, (name, result.output)
            fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
            assert message in fails[0], (name, result.stdout)
            # alone, the signature's one line; with the ledger, its own checks may add theirs
            assert len(fails) == 1 or args, (name, result.stdout)
            assert "Traceback" not in result.output
    expired = runner.invoke(
        app,
        ["verify-document", str(signed), "--trust-root", str(pki.root_pem)],
        env={**no_ledger, "SAMPLELOANS_NOW": "2027-06-01T00:00:00Z"},
    )
    assert expired.exit_code == 1 and "expired on 2027-03-31" in expired.stdout
    plain = tmp_path / "plain.pdf"
    assert report(runner, plain).exit_code == 0
    unsigned = runner.invoke(
        app, ["verify-document", str(plain), "--trust-root", str(pki.root_pem)], env=no_ledger
    )
    assert unsigned.exit_code == 1 and "FAIL  signature: the file is not signed" in unsigned.stdout
    # the ledger's own check still catches a change the signature cannot see: none here, but a
    # signed file whose prefix is not the rendering fails the byte comparison
    trailing = tmp_path / "trailing.pdf"
    trailing.write_bytes(data + b"%\n")
    result = runner.invoke(app, [*AS, "verify-document", str(trailing)])
    assert result.exit_code == 1 and "appended after signing" in result.stdout


def test_bad_signing_options_write_nothing(
    ledger: Engine, runner: CliRunner, tmp_path: Path, pki: Pki
) -> None:
    out = tmp_path / "r.pdf"
    cases = [
        (["--sign"], 2, "--sign: give --signer-p12"),
        (["--sign", "--signer-key", str(pki.key_pem)], 2, "--signer-cert is missing"),
        (
            ["--sign", "--signer-key", str(pki.chain_pem), "--signer-cert", str(pki.chain_pem)],
            2,
            "--signer-key:",
        ),
        (
            ["--sign", "--signer-key", str(tmp_path / "nope"), "--signer-cert", str(pki.chain_pem)],
            2,
            f"--signer-key: {tmp_path / 'nope'} does not exist",
        ),
        (["--signer-passphrase-file", str(pki.key_pem)], 2, "only with --sign"),
        (
            ["--sign", "--signer-p12", str(pki.key_pem), "--signer-key", str(pki.key_pem)],
            2,
            "not both",
        ),
    ]
    for args, code, message in cases:
        result = report(runner, out, *args)
        assert result.exit_code == code, (args, result.output)
        assert result.stderr.startswith("Error: ") and message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and not out.exists()
    late = runner.invoke(
        app,
        [*AS, "report", "custody", "--loan", "L-2", "--out", str(out), *sign_args(pki)],
        env={"SAMPLELOANS_NOW": "2028-01-01T00:00:00Z"},
    )
    assert late.exit_code == 1 and "no reader would accept" in late.stderr and not out.exists()
    only = runner.invoke(app, [*AS, "verify-document", str(out), "--signature-only"])
    assert only.exit_code == 2 and "--trust-root" in only.stderr


# --- independent validators -------------------------------------------------------------------


def _pdfsig() -> str:
    """poppler's pdfsig; skipped (with the reason) when missing, except under CI."""
    found = shutil.which("pdfsig")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdfsig (Debian poppler-utils) is missing under CI; .ci/run installs it")
        pytest.skip("pdfsig not installed (apt-get install poppler-utils)")
    return found


@pytest.mark.parametrize("which", ["ecdsa", "rsa"])
def test_pdfsig_accepts_the_signed_report_and_refuses_a_changed_byte(
    unsigned: bytes, pki: Pki, rsa_pki: Pki, tmp_path: Path, which: str
) -> None:
    pdfsig = _pdfsig()
    who = pki if which == "ecdsa" else rsa_pki
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(signing.sign_pdf(unsigned, who.credentials, NOW))
    good = subprocess.run([pdfsig, str(signed)], capture_output=True, text=True, check=False)
    assert "Signature is Valid." in good.stdout, good.stdout + good.stderr
    assert "Total document signed" in good.stdout
    assert f"Common Name: {LENDER} report signing" in good.stdout
    assert "ETSI.CAdES.detached" in good.stdout  # PAdES
    changed = tmp_path / "changed.pdf"
    changed.write_bytes(flip(signed.read_bytes(), len(unsigned) // 2))
    bad = subprocess.run([pdfsig, str(changed)], capture_output=True, text=True, check=False)
    assert "Signature is Valid." not in bad.stdout


def test_pyhanko_cli_validates_against_the_trust_root(
    unsigned: bytes, pki: Pki, stranger: Pki, tmp_path: Path
) -> None:
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(signing.sign_pdf(unsigned, pki.credentials, NOW))

    def validate(root: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pyhanko", "sign", "validate", "--pretty-print"]
        options = ["--trust", str(root), "--trust-replace", "--validation-time", NOW.isoformat()]
        return subprocess.run(
            [*command, *options, str(signed)], capture_output=True, text=True, check=False
        )

    good = validate(pki.root_pem)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "The signature is judged VALID" in good.stdout
    assert "The signature covers the entire file" in good.stdout
    other = validate(stranger.root_pem)
    assert other.returncode != 0 and "judged VALID" not in other.stdout


def test_encrypted_pem_key_takes_its_passphrase_from_the_environment(
    ledger: Engine, runner: CliRunner, tmp_path: Path, pki: Pki
) -> None:
    key = serialization.load_pem_private_key(pki.key_pem.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    locked = tmp_path / "locked-key.pem"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"open sesame"),
        )
    )
    args = ["--sign", "--signer-key", str(locked), "--signer-cert", str(pki.chain_pem)]
    out = tmp_path / "signed.pdf"
    refused = report(runner, out, *args)
    assert refused.exit_code == 2 and "SAMPLELOANS_SIGNER_PASSPHRASE" in refused.stderr
    assert "open sesame" not in refused.output and not out.exists()
    signed = runner.invoke(
        app,
        [*AS, "report", "custody", "--loan", "L-2", "--out", str(out), *GEN, *args],
        env={"SAMPLELOANS_SIGNER_PASSPHRASE": "open sesame"},
    )
    assert signed.exit_code == 0, signed.stderr
    assert "open sesame" not in signed.output
    assert signing.check_signature(out.read_bytes(), _root(pki), NOW).ok


def test_a_trust_root_that_is_not_a_certificate_is_invalid_input(
    ledger: Engine, runner: CliRunner, tmp_path: Path, pki: Pki
) -> None:
    signed = tmp_path / "signed.pdf"
    assert report(runner, signed, *sign_args(pki)).exit_code == 0
    for bad, code in ((pki.key_pem, 2), (tmp_path / "missing.pem", 2)):
        result = runner.invoke(
            app,
            ["verify-document", str(signed), "--trust-root", str(bad)],
            env={"SAMPLELOANS_DB": str(tmp_path / "none.db")},
        )
        assert result.exit_code == code, result.output
        assert result.stderr.startswith("Error: --trust-root:") and result.stdout == ""


def test_a_borrower_checks_a_signed_report_with_the_root_alone_in_real_processes(
    ledger: Engine, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    def sampleloans(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sampleloans", *args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **env},
        )

    lender, signer, out = tmp_path / "lender", tmp_path / "signer", tmp_path / "custody.pdf"
    assert (
        sampleloans("keys", "lender-root", "--out", str(lender), "--name", LENDER).returncode == 0
    )
    made = sampleloans("keys", "signing-cert", "--root", str(lender), "--out", str(signer))
    assert made.returncode == 0, made.stderr
    signed = sampleloans(
        *AS, "report", "custody", "--loan", "L-2", "--out", str(out), *GEN, "--sign",
        SAMPLELOANS_SIGNER_KEY=str(signer / "signing-key.pem"),
        SAMPLELOANS_SIGNER_CERT=str(signer / "signing-cert.pem"),
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    # the borrower's machine: no SAMPLELOANS_DB, no ledger at the default place, no --as
    borrower = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    borrower["XDG_DATA_HOME"] = str(tmp_path / "borrower-home")
    borrower["SAMPLELOANS_NOW"] = cli_env["SAMPLELOANS_NOW"]  # the certificates' clock
    check = subprocess.run(
        [sys.executable, "-m", "sampleloans", "verify-document", str(out), "--trust-root",
         str(lender / "root-cert.pem")],
        capture_output=True, text=True, check=False, env=borrower,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"signed by '{LENDER} report signing' at 2025-04-01 09:00 UTC" in check.stdout
    assert "not modified after signing" in check.stdout
    assert "ledger checks were skipped (no ledger at" in check.stdout
    out.write_bytes(flip(out.read_bytes(), 2000))
    changed = subprocess.run(
        [sys.executable, "-m", "sampleloans", "verify-document", str(out), "--trust-root",
         str(lender / "root-cert.pem")],
        capture_output=True, text=True, check=False, env=borrower,
    )  # fmt: skip
    assert changed.returncode == 1 and "Traceback" not in changed.stdout + changed.stderr
    assert len([line for line in changed.stdout.splitlines() if line.startswith("FAIL")]) == 1


def test_a_signing_key_others_may_read_is_signed_with_a_warning(
    ledger: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    """A PEM key readable by group or others still signs (an institution's export may arrive
    so) but says, on stderr, how to protect it; a key at 0600 signs silently."""
    exposed = make_pki(tmp_path / "exposed", "ecdsa-p256")
    exposed.key_pem.chmod(0o644)
    result = report(runner, tmp_path / "signed.pdf", *sign_args(exposed))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("Warning: --signer-key: ")
    assert "(mode 0644)" in result.stderr and f"chmod 600 {exposed.key_pem}" in result.stderr
    exposed.key_pem.chmod(0o600)
    quiet = report(runner, tmp_path / "quiet.pdf", *sign_args(exposed))
    assert quiet.exit_code == 0, quiet.stderr
    assert "Warning" not in quiet.stderr
