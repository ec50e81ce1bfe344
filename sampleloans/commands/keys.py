"""`sampleloans keys …`: keys and certificates.

# --- report signing certificates (issue 15, point 4) ---------------------------------------
`keys lender-root` and `keys signing-cert` make a self-signed lender root and a signing
certificate it issues, to try `report … --sign` out; an institution with a real certificate
uses that instead (README, "Signed reports"). Private keys are written 0600, atomically, and
never printed. No ledger is opened.
"""

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sampleloans.commands.checkpoints import generate as generate_checkpoint_key
from sampleloans.commands.common import console, errors_to_exit_codes, now
from sampleloans.text import path_shown

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

    from sampleloans.certs import IssuedCertificate

app = typer.Typer(help="Keys and certificates.", no_args_is_help=True)
# one `keys` group: the checkpoint signing key (fix-15a) beside the report certificates
app.command("generate")(generate_checkpoint_key)

# --- report signing certificates (issue 15, point 4) -------------------------------------------

ROOT_CERT, ROOT_KEY = "root-cert.pem", "root-key.pem"
SIGNING_CERT, SIGNING_KEY, SIGNING_P12 = "signing-cert.pem", "signing-key.pem", "signing.p12"

AlgorithmOption = Annotated[
    str,
    typer.Option(
        "--algorithm", metavar="ALGORITHM", help="Key algorithm: ecdsa-p256 or rsa (3072 bits)."
    ),
]
OutDirOption = Annotated[
    Path,
    typer.Option(
        "--out", metavar="DIR", help="Folder to write into (created, mode 0700, if missing)."
    ),
]


def _out_dir(folder: Path, names: list[str]) -> list[Path]:
    """The files to write in --out, checked before anything is written: none may exist. A
    missing folder is made with them, whole (`_write_files`)."""
    from sampleloans.errors import StorageError
    from sampleloans.fileio import check_output, check_output_folder

    check_output_folder(folder)
    paths = [folder / name for name in names]
    if not folder.is_dir():
        return paths
    for path in paths:
        if path.is_file():  # never over an existing key, and no --force to ask for it: exit 3
            raise StorageError(
                f"--out: {path} exists; keys and certificates are never replaced: give another "
                "--out folder"
            )
        check_output(path, force=False)  # a folder, a device, a missing parent: exit 3
    return paths


@app.command("lender-root")
def lender_root(
    out: OutDirOption,
    name: Annotated[
        str, typer.Option("--name", metavar="NAME", help="The lender's name (the root's CN).")
    ],
    algorithm: AlgorithmOption = "ecdsa-p256",
    valid_for: Annotated[
        str,
        typer.Option(
            "--valid-for", metavar="PERIOD", help="How long the root is valid, e.g. '10 years'."
        ),
    ] = "10 years",
) -> None:
    """Create a self-signed lender root certificate.

    It is for trying signed reports out.

    Writes root-cert.pem (give it to whoever checks reports: verify-document --trust-root) and
    root-key.pem (private, 0600; it only issues signing certificates).

    \b
    Example: sampleloans keys lender-root --out lender --name "CNSA Lunar Sample Curation"
    """
    from sampleloans import certs
    from sampleloans.units import parse_period

    with errors_to_exit_codes():
        certs.check_algorithm(algorithm)
        certs.check_name(name)
        period = parse_period(valid_for, "--valid-for")
        cert_path, key_path = _out_dir(out, [ROOT_CERT, ROOT_KEY])
        at = now()
        issued = certs.lender_root(name, at, period, algorithm)
        _write_files(out, [(key_path, issued.key_pem), (cert_path, issued.cert_pem)])
    console().print(
        f"Wrote {path_shown(cert_path)} (the trust root to share) and {path_shown(key_path)} "
        "(private, 0600): "
        f"{name.strip()}, {algorithm}, {_validity(issued, at, period, valid_for)}, "
        f"SHA-256 fingerprint {issued.fingerprint_sha256}.",
        markup=False,
    )


@app.command("signing-cert")
def signing_cert(
    root: Annotated[
        Path,
        typer.Option(
            "--root", metavar="DIR", help="Folder of 'keys lender-root' (root-cert/-key.pem)."
        ),
    ],
    out: OutDirOption,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            metavar="NAME",
            help="The signer's name (CN); default the root's name + ' report signing'.",
        ),
    ] = None,
    algorithm: AlgorithmOption = "ecdsa-p256",
    valid_for: Annotated[
        str,
        typer.Option(
            "--valid-for",
            metavar="PERIOD",
            help="How long it is valid, e.g. '2 years' (≤ the root).",
        ),
    ] = "2 years",
    p12: Annotated[
        bool,
        typer.Option(
            "--p12",
            help="Also write signing.p12 (PKCS#12), encrypted with the passphrase in "
            "SAMPLELOANS_SIGNER_PASSPHRASE or --passphrase-file.",
        ),
    ] = False,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(
            "--passphrase-file", metavar="FILE", help="With --p12: a file whose first line is it."
        ),
    ] = None,
) -> None:
    """Create a report-signing certificate issued by a lender root.

    It is for trying signed reports out.

    Writes signing-cert.pem (the certificate, then the root), signing-key.pem (private, 0600)
    and, with --p12, signing.p12; sign with `report … --sign --signer-key … --signer-cert …`.

    \b
    Example: sampleloans keys signing-cert --root lender --out signer
    """
    from sampleloans import certs
    from sampleloans.errors import InvalidInput
    from sampleloans.reports.signing import subject_name
    from sampleloans.units import parse_period

    with errors_to_exit_codes():
        certs.check_algorithm(algorithm)
        period = parse_period(valid_for, "--valid-for")
        if passphrase_file is not None and not p12:
            raise InvalidInput("--passphrase-file: only with --p12")
        secret = _p12_passphrase(passphrase_file) if p12 else None
        root_cert, root_key = _read_root(root)
        signer = certs.check_name(name if name is not None else _default_signer(root_cert))
        names = [SIGNING_CERT, SIGNING_KEY] + ([SIGNING_P12] if p12 else [])
        paths = _out_dir(out, names)
        at = now()
        issued = certs.signing_certificate(root_cert, root_key, signer, at, period, algorithm)
        _write_signing_files(paths, issued, secret, signer)
    console().print(
        f"Wrote {path_shown(', '.join(str(p) for p in paths))} (keys private, 0600): {signer}, "
        f"{algorithm}, "
        f"issued by {subject_name(root_cert)}, "
        f"{_validity(issued, at, period, valid_for)}, "
        f"SHA-256 fingerprint {issued.fingerprint_sha256}.",
        markup=False,
    )


def _validity(issued: "IssuedCertificate", at: datetime, period: str, valid_for: str) -> str:
    """'valid until DATE', saying so when the root's end cut the period asked for short."""
    from cryptography import x509

    from sampleloans.dates import add_period

    until = x509.load_pem_x509_certificate(issued.cert_pem).not_valid_after_utc
    # a certificate keeps whole seconds: the clock's fraction of a second is no cut
    asked = add_period(at, period)
    assert isinstance(asked, datetime)  # a datetime plus a period stays one
    asked = asked.replace(microsecond=0)
    if until < asked:  # never silently: the curator asked for longer
        return f"valid until {until:%Y-%m-%d} (the root's end: --valid-for {valid_for!r} is longer)"
    return f"valid until {until:%Y-%m-%d}"


def _read_root(root: Path) -> tuple["x509.Certificate", "CertificateIssuerPrivateKeyTypes"]:
    """The lender root's certificate and private key from the --root folder; refused (exit 3)
    when group or others may read the key: whoever can could issue signing certificates
    in the lender's name (`keys lender-root` writes it 0600)."""
    from sampleloans import certs
    from sampleloans.commands.signer import read_input
    from sampleloans.fileio import refuse_exposed_key

    cert_pem, key_pem = (
        read_input(root / ROOT_CERT, "--root"),
        read_input(root / ROOT_KEY, "--root"),
    )
    refuse_exposed_key(root / ROOT_KEY, "--root")
    return certs.load_root(cert_pem, key_pem)


def _default_signer(root_cert: "x509.Certificate") -> str:
    """The signer's name when none is given: the root's, then 'report signing'."""
    from sampleloans import certs
    from sampleloans.reports.signing import subject_name

    # a signer named like its issuer would look self-issued to path builders (RFC 5280)
    return f"{subject_name(root_cert)[: certs.NAME_MAX_CHARS - 15]} report signing"


def _write_signing_files(
    paths: list[Path], issued: "IssuedCertificate", secret: bytes | None, signer: str
) -> None:
    """The private key, the certificate chain and, with a passphrase, the PKCS#12 file."""
    from sampleloans import certs

    files = [(paths[1], issued.key_pem), (paths[0], issued.chain_pem)]
    if secret is not None:
        files.append((paths[2], certs.pkcs12(issued, secret, signer)))
    _write_files(paths[0].parent, files)


def _write_files(folder: Path, files: list[tuple[Path, bytes]]) -> None:
    """A key and its certificates into --out, all or none: a kill between the key and the
    certificate used to leave the key alone, and the rerun refused it as existing."""
    from sampleloans.fileio import write_folder_atomic

    write_folder_atomic(folder, [(path.name, data) for path, data in files])


def _p12_passphrase(passphrase_file: Path | None) -> bytes:
    """The PKCS#12 passphrase --p12 needs, from --passphrase-file or the environment."""
    from sampleloans.commands.signer import PASSPHRASE_ENV, passphrase
    from sampleloans.errors import InvalidInput

    secret = passphrase(passphrase_file, "--passphrase-file")
    if not secret:
        raise InvalidInput(f"--p12: set {PASSPHRASE_ENV} or give --passphrase-file")
    return secret
