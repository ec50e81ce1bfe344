"""Signing reports from the command line: the `--sign` options every report command takes,
loading the lender's credentials from files, and `verify-document`'s signature check.

The passphrase of a PKCS#12 file or an encrypted PEM key is never an option value (it would
sit in shell history and the process list): it comes from SAMPLELOANS_SIGNER_PASSPHRASE or
from the first line of `--signer-passphrase-file`.
"""

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sampleloans.text import path_shown

if TYPE_CHECKING:
    from cryptography import x509

    from sampleloans.reports.signing import SigningCredentials

PASSPHRASE_ENV = "SAMPLELOANS_SIGNER_PASSPHRASE"
PASSPHRASE_MAX_BYTES = 1024

SignOption = Annotated[
    bool,
    typer.Option(
        "--sign",
        help="Sign the PDF (PAdES) with the lender's certificate: --signer-p12, or "
        "--signer-key with --signer-cert.",
    ),
]
SignerP12Option = Annotated[
    Path | None,
    typer.Option(
        "--signer-p12",
        metavar="FILE",
        envvar="SAMPLELOANS_SIGNER_P12",
        help="PKCS#12 file (.p12/.pfx) with the signing key and certificate chain; passphrase "
        f"from {PASSPHRASE_ENV} or --signer-passphrase-file.",
    ),
]
SignerKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--signer-key",
        metavar="FILE",
        envvar="SAMPLELOANS_SIGNER_KEY",
        help="PEM private key (RSA ≥ 2048 or ECDSA P-256) of the signing certificate.",
    ),
]
SignerCertOption = Annotated[
    Path | None,
    typer.Option(
        "--signer-cert",
        metavar="FILE",
        envvar="SAMPLELOANS_SIGNER_CERT",
        help="PEM file: the signing certificate first, then its issuers.",
    ),
]
PassphraseFileOption = Annotated[
    Path | None,
    typer.Option(
        "--signer-passphrase-file",
        metavar="FILE",
        help=f"File whose first line is the key's passphrase (instead of {PASSPHRASE_ENV}).",
    ),
]


@dataclass(frozen=True)
class SignRequest:
    """The signing options of one report command."""

    sign: bool = False
    p12: Path | None = None
    key: Path | None = None
    cert: Path | None = None
    passphrase_file: Path | None = None
    from_environment: frozenset[str] = frozenset()  # options whose file the environment named
    typed: frozenset[str] = frozenset()  # signer options typed on the command line

    def named(self, option: str) -> str:
        """How an error names a signer file: its option, and the variable that set it when it
        came from the environment (a user who never typed `--signer-p12` looks for that)."""
        variable = SIGNER_VARIABLES.get(option)
        return f"{option} ({variable})" if option in self.from_environment else option


_SIGNER_PARAMETERS = ("signer_p12", "signer_key", "signer_cert")
SIGNER_VARIABLES = {
    "--signer-p12": "SAMPLELOANS_SIGNER_P12",
    "--signer-key": "SAMPLELOANS_SIGNER_KEY",
    "--signer-cert": "SAMPLELOANS_SIGNER_CERT",
}
"""The signer options a variable may set instead (README, "Signed reports")."""


def sign_request(
    ctx: typer.Context,
    sign: bool,
    p12: Path | None,
    key: Path | None,
    cert: Path | None,
    passphrase_file: Path | None,
) -> SignRequest:
    """A command's signing options, where a signer typed on the command line (a PKCS#12 file,
    or a PEM key and certificate) wins over the other kind set in the environment: a lender
    with SAMPLELOANS_SIGNER_P12 in their profile may still sign once with a PEM pair."""
    # by name: typer 0.12 uses click's ParameterSource, later ones a vendored copy of it
    source = {
        name: getattr(ctx.get_parameter_source(name), "name", None) for name in _SIGNER_PARAMETERS
    }
    typed = {name for name, given in source.items() if given == "COMMANDLINE"}
    from_environment = frozenset(
        "--" + name.replace("_", "-") for name, given in source.items() if given == "ENVIRONMENT"
    )
    pem_typed = bool(typed & {"signer_key", "signer_cert"})
    if "signer_p12" in typed and not pem_typed:
        key = key if "signer_key" in typed else None
        cert = cert if "signer_cert" in typed else None
    elif pem_typed and "signer_p12" not in typed:
        p12 = None
    typed_options = frozenset("--" + name.replace("_", "-") for name in typed)
    return SignRequest(sign, p12, key, cert, passphrase_file, from_environment, typed_options)


def signing_inputs(request: SignRequest) -> list[tuple[str, Path]]:
    """The files a signing request reads, each named by its option (never an output)."""
    named = (
        (f"the signing key {request.named('--signer-p12')}", request.p12),
        (f"the signing key {request.named('--signer-key')}", request.key),
        (f"the certificate {request.named('--signer-cert')}", request.cert),
        ("the passphrase file --signer-passphrase-file", request.passphrase_file),
    )
    return [(what, path) for what, path in named if path is not None]


def read_input(path: Path, option: str) -> bytes:
    """An input file's bytes, naming the option (`fileio.read_input_bytes`'s rule)."""
    from sampleloans.fileio import read_input_bytes

    return read_input_bytes(path, option)


def warn_if_exposed(request: SignRequest) -> None:
    """After a signed file is written: warn on stderr when a signing key file is readable by
    group or others. The signature is still made (an institution's key exported from its key
    store may arrive so), but whoever reads it can sign in the lender's name. Checkpoint keys,
    which `keys generate` writes at 0600, are refused instead."""
    import sys

    from sampleloans.fileio import key_exposure

    if not request.sign:
        return
    for option, path in (("--signer-p12", request.p12), ("--signer-key", request.key)):
        exposure = key_exposure(path, request.named(option)) if path is not None else None
        if exposure is not None:
            sys.stderr.write(f"Warning: {exposure}\n")


def passphrase(
    passphrase_file: Path | None, option: str = "--signer-passphrase-file"
) -> bytes | None:
    """The passphrase from the passphrase file's first line, else the environment."""
    from sampleloans.errors import InvalidInput

    if passphrase_file is not None:
        raw = read_input(passphrase_file, option)
        if len(raw) > PASSPHRASE_MAX_BYTES:
            raise InvalidInput(f"{option}: longer than a passphrase (1024 bytes)")
        line = raw.splitlines()[0] if raw else b""
        if not line:
            raise InvalidInput(f"{option}: the first line is empty")
        return line
    value = os.environ.get(PASSPHRASE_ENV)
    if value and any("\ud800" <= c <= "\udfff" for c in value):
        # bytes that are not UTF-8 (kept by Python as lone surrogates) cannot be encoded, and
        # a PKCS#12 reader would turn them into another passphrase than the one meant
        raise InvalidInput(
            f"{PASSPHRASE_ENV}: holds bytes that are not UTF-8 text; set it in UTF-8, or give "
            "the passphrase in a file (--passphrase-file, --signer-passphrase-file)"
        )
    secret = value.encode() if value else None
    if secret is not None and len(secret) > PASSPHRASE_MAX_BYTES:  # the file's limit, too
        raise InvalidInput(f"{PASSPHRASE_ENV}: longer than a passphrase (1024 bytes)")
    return secret


def _refuse_without_sign(request: SignRequest) -> None:
    """A signer option typed without --sign would do nothing: refuse it (exit 2) rather than
    write an unsigned PDF its reader believes signed (the environment's signer files are a
    standing setting, used only with --sign, and are never refused)."""
    from sampleloans.errors import InvalidInput

    typed = [*(o for o in SIGNER_VARIABLES if o in request.typed)]
    if request.passphrase_file is not None:
        typed.append("--signer-passphrase-file")
    if typed:
        raise InvalidInput(f"{typed[0]}: only with --sign; add --sign to sign, or leave it out")


def load_credentials(request: SignRequest, signing_time: datetime) -> "SigningCredentials | None":
    """The signer's credentials when --sign was given (checked before any work), else None."""
    from sampleloans.errors import InvalidInput, RuleViolation
    from sampleloans.reports import signing

    given = [
        name
        for name, value in (
            ("--signer-p12", request.p12),
            ("--signer-key", request.key),
            ("--signer-cert", request.cert),
            ("--signer-passphrase-file", request.passphrase_file),
        )
        if value is not None
    ]
    if not request.sign:
        _refuse_without_sign(request)
        return None  # signer files from the environment apply only to --sign
    if request.p12 is not None and (request.key or request.cert):
        raise InvalidInput(
            "--signer-p12: give either a PKCS#12 file or --signer-key and --signer-cert, not both"
        )
    if request.p12 is not None:
        credentials = signing.load_pkcs12_credentials(
            read_input(request.p12, request.named("--signer-p12")),
            passphrase(request.passphrase_file),
        )
    elif request.key is not None and request.cert is not None:
        key_pem = read_input(request.key, request.named("--signer-key"))
        secret = passphrase(request.passphrase_file)
        if request.passphrase_file is None and b"ENCRYPTED" not in key_pem:
            # the environment's passphrase may be a PKCS#12 file's (a lender's profile); a key
            # in the clear needs none, and only a passphrase file given for it is a mistake
            secret = None
        credentials = signing.load_pem_credentials(
            key_pem, read_input(request.cert, request.named("--signer-cert")), secret
        )
    else:
        missing = "--signer-cert" if "--signer-key" in given else "--signer-key"
        raise InvalidInput(
            f"--sign: give --signer-p12 FILE, or --signer-key FILE with --signer-cert FILE "
            f"({missing} is missing)"
        )
    cert = credentials.cert
    if not cert.not_valid_before_utc <= signing_time < cert.not_valid_after_utc:
        raise RuleViolation(_not_valid_now(credentials, signing_time))
    return credentials


def _not_valid_now(credentials: "SigningCredentials", signing_time: datetime) -> str:
    """Why the signer's certificate cannot sign now, to the second (a certificate made a few
    hours ahead, on a clock set ahead, read "valid from 2026-05-03 …, not at 2026-05-03
    08:00": the same day), and what to do: wait or check the clock, or issue a new one."""
    from sampleloans.dates import bound_text, to_iso

    cert = credentials.cert
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if signing_time < start:
        todo = f"it signs {bound_text(start)}: check this computer's clock (or SAMPLELOANS_NOW)"
    else:
        todo = "it has expired: sign with a newer one ('keys signing-cert')"
    return (
        f"--signer-cert: the certificate of {credentials.signer_name} is valid from "
        f"{to_iso(start)} until {to_iso(end)}, not now "
        f"({to_iso(signing_time.replace(microsecond=0))}); no reader would accept the "
        f"signature: {todo}"
    )


def load_trust_root(path: Path) -> "x509.Certificate":
    """The --trust-root certificate file (PEM or DER)."""
    from sampleloans.reports.signing import load_trust_root as parse

    return parse(read_input(path, "--trust-root"))


def check_document_signature(
    out: Any,
    problems: list[str],
    data: bytes,
    trust_root: "x509.Certificate | None",
    now: datetime,
) -> bool:
    """Check a report's signature (if it has one, or must have one), print what holds, add a
    line per problem; True when the file is signed."""
    from sampleloans.reports.signing import SignatureFailure, check_signature, is_signed

    if not is_signed(data):
        if trust_root is not None:
            problems.append(
                "signature: the file is not signed; --trust-root checks a signed report"
            )
        return False
    try:
        result = check_signature(data, trust_root, now)
    except SignatureFailure as failure:
        problems.append(str(failure))
        return True
    when = f"{result.signing_time:%Y-%m-%d %H:%M} UTC" if result.signing_time else "no time given"
    if result.problems:
        problems.extend(result.problems)
        out.print(f"      signed by {result.signer!r} at {when}", markup=False)
        return True
    out.print(
        f"ok    signed by {result.signer!r} at {when} (certificate sha256 "
        f"{result.fingerprint_sha256[:16]}…); the signature covers the whole file, which was "
        "not modified after signing",
        markup=False,
    )
    if result.trusted:
        out.print("ok    the signer's certificate chains to the trust root", markup=False)
    else:
        out.print(
            "      the signer was not checked against a trust root (no --trust-root)", markup=False
        )
    return True


def print_offline_verdict(
    out: Any,
    file: Path,
    found: Any,
    data: bytes,
    trust_root: Any,
    *,
    unsigned_note: str,
    verdict: str,
) -> None:
    """Print an offline check (a report's or a statement's proofs, checked with the public key
    alone) and the PDF's own signature: `ok` lines, the note when the PDF is unsigned, `FAIL`
    lines; exit 1 on any problem, else the `verdict` line and what it was checked with."""
    from sampleloans.commands.common import now

    for line in found.lines:
        out.print(f"ok    {line}", markup=False)
    problems = list(found.problems)
    if not check_document_signature(out, problems, data, trust_root, now()):
        out.print(f"note  the PDF itself is not signed: {unsigned_note}", markup=False)
    for problem in problems:
        out.print(f"FAIL  {problem}", markup=False)
    if problems:
        # name what failed: the proofs against the signed checkpoint, the PDF signature, or both
        proofs, signature = len(found.problems), len(problems) - len(found.problems)
        failed = [
            *([f"the signed checkpoint's proofs: {proofs}"] if proofs else []),
            *([f"the PDF signature: {signature}"] if signature else []),
        ]
        out.print(
            f"{path_shown(file)}: does NOT check out (problems with {'; with '.join(failed)})",
            markup=False,
        )
        raise typer.Exit(1)
    # name what the verdict rests on: the key alone, or the trust root's chain as well
    rests_on = "the public key and the trust root" if trust_root else "the public key alone"
    out.print(f"{path_shown(file)}: {verdict} (checked with {rests_on}, no ledger)", markup=False)
