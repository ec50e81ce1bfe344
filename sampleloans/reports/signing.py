"""PAdES signatures on report PDFs, with pyHanko: sign, and validate offline against a root.

A report is signed by an incremental update: the unsigned rendering stays a byte-exact prefix
of the signed file, so `verify-document` can still compare it with a fresh rendering. Signing
is deterministic for a given key and signing time when the key is RSA (PKCS#1 v1.5); ECDSA
signatures carry a random nonce, so only the signature value differs between two runs.

pyHanko and cryptography are imported only here (and only by the commands that sign or
validate), so no other command pays for them.
"""

import hashlib
import io
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from sampleloans.errors import InvalidInput, SampleLoansError
from sampleloans.reports.document import libraries_quiet
from sampleloans.text import counted

if TYPE_CHECKING:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.writer import BasePdfFileWriter
    from pyhanko.sign.signers import PdfSigner, Signer
    from pyhanko.sign.signers.pdf_signer import PdfSigningSession
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
    from pyhanko.sign.validation.status import PdfSignatureStatus

SIGNATURE_FIELD = "LenderSignature"
RSA_MIN_BITS = 2048
SIGNED_REVISIONS = 2  # the rendering, then the signature's own update: nothing between


class SignatureFailure(SampleLoansError):
    """A signed report that does not validate: altered, untrusted, expired or not signed."""

    exit_code = 1


@dataclass(frozen=True)
class SigningCredentials:
    """The signer's private key, certificate and issuing chain (cryptography objects)."""

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    @property
    def signer_name(self) -> str:
        """The certificate subject's common name (or the whole subject)."""
        return subject_name(self.cert)


def subject_name(cert: x509.Certificate) -> str:
    """A certificate subject's common name, or its RFC 4514 form when it has none."""
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _public_der(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | object) -> bytes:
    """A public key's SubjectPublicKeyInfo DER, to compare a key with a certificate."""
    assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _checked(
    key: object,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    source: str,
    cert_source: str | None = None,
) -> SigningCredentials:
    """Credentials whose key is RSA ≥ 2048 or ECDSA P-256 and matches the certificate."""
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < RSA_MIN_BITS:
            raise InvalidInput(f"{source}: an RSA key of {key.key_size} bits is too short (≥ 2048)")
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InvalidInput(f"{source}: ECDSA key on {key.curve.name}; only P-256 is accepted")
    else:
        raise InvalidInput(f"{source}: the key is neither RSA nor ECDSA P-256")
    if _public_der(key.public_key()) != _public_der(cert.public_key()):
        raise InvalidInput(f"{source}: the private key is not the key of the certificate")
    usage = usage_problem(cert)
    if usage is not None:
        raise InvalidInput(
            f"{cert_source or source}: {usage}; give a document-signing certificate "
            "(e.g. one 'keys signing-cert' issues)"
        )
    return SigningCredentials(key, cert, tuple(chain))


SIGNING_USAGES = (
    ("digital_signature", "Digital Signature"),
    ("content_commitment", "Non Repudiation"),
)
"""The key usages (RFC 5280 4.2.1.3) that let a certificate's key sign a document."""


def usage_problem(cert: x509.Certificate) -> str | None:
    """Why `cert` may not sign a document, or None: its key usage, when it states one, allows
    neither a digital signature nor non-repudiation (e.g. a root's: certificate and CRL signing
    only). A reader validating the PDF would refuse it; pyHanko's default does not look."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None  # no stated usage: any (RFC 5280 4.2.1.3)
    if any(getattr(usage, name) for name, _words in SIGNING_USAGES):
        return None
    return (
        f"the certificate of {subject_name(cert)} may not sign documents: its key usage allows "
        f"{_usages(usage) or 'nothing'}, not Digital Signature or Non Repudiation"
    )


def _usages(usage: x509.KeyUsage) -> str:
    """The usages a key usage extension allows, in words, in RFC 5280 order."""
    named = (
        ("key_encipherment", "Key Encipherment"),
        ("data_encipherment", "Data Encipherment"),
        ("key_agreement", "Key Agreement"),
        ("key_cert_sign", "Certificate Sign"),
        ("crl_sign", "CRL Sign"),
    )
    return ", ".join(words for name, words in named if getattr(usage, name))


def load_pem_credentials(
    key_pem: bytes,
    cert_pem: bytes,
    passphrase: bytes | None = None,
    *,
    key_source: str = "--signer-key",
    cert_source: str = "--signer-cert",
) -> SigningCredentials:
    """Credentials from a PEM private key (encrypted when `passphrase` is given) and a PEM
    file holding the signer's certificate first, then any issuing certificates."""
    try:
        certs = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise InvalidInput(f"{cert_source}: not a PEM certificate file") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=passphrase)
    except TypeError:  # encrypted without a passphrase, or a passphrase for a clear key
        raise InvalidInput(
            f"{key_source}: the key is "
            + (
                "not encrypted; give no passphrase"
                if passphrase
                else "encrypted; give its "
                "passphrase in SAMPLELOANS_SIGNER_PASSPHRASE or --signer-passphrase-file"
            )
        ) from None
    except ValueError:
        raise InvalidInput(
            f"{key_source}: not a PEM private key, or the passphrase is wrong"
        ) from None
    return _checked(key, certs[0], certs[1:], key_source, cert_source)


def load_pkcs12_credentials(
    data: bytes, passphrase: bytes | None, *, source: str = "--signer-p12"
) -> SigningCredentials:
    """Credentials from a PKCS#12 (.p12/.pfx) file and its passphrase."""
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase)
    except ValueError:
        # with no passphrase at all, "the passphrase is wrong" would send one looking for a typo
        why = (
            "the passphrase is wrong"
            if passphrase
            else "it is encrypted and no passphrase was given"
        )
        raise InvalidInput(
            f"{source}: not a PKCS#12 file, or {why} (give it in "
            "SAMPLELOANS_SIGNER_PASSPHRASE or --signer-passphrase-file)"
        ) from None
    if key is None or cert is None:
        raise InvalidInput(f"{source}: the PKCS#12 file holds no private key with its certificate")
    return _checked(key, cert, extra, source)


def _pyhanko_signer(credentials: SigningCredentials) -> "Signer":
    """pyHanko's in-memory signer over the credentials (asn1crypto objects)."""
    from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]  # asn1crypto has no hints
    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    def der(cert: x509.Certificate) -> asn1_x509.Certificate:
        """The certificate as asn1crypto reads it."""
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    key_der = credentials.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return signers.SimpleSigner(
        signing_cert=der(credentials.cert),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs([der(c) for c in credentials.chain]),
    )


def sign_pdf(
    pdf: bytes,
    credentials: SigningCredentials,
    signing_time: datetime,
    *,
    reason: str | None = None,
    location: str | None = None,
) -> bytes:
    """Sign PDF bytes (PAdES baseline B, SHA-256) and return the signed file.

    The signature is an incremental update appended to `pdf`, which stays a byte-exact prefix
    of the result; it is invisible (readers list it in their signature panel). `signing_time`
    (aware, e.g. the injected "now") is written as the signature's /M and the update's ModDate;
    nothing else reads the clock, so an RSA key gives the same bytes every time.
    `credentials` come from `load_pem_credentials` or `load_pkcs12_credentials`.
    """
    with _pdf_library_quiet():
        writer = _writer_at(pdf, signing_time)
        signer = _signer_at(signing_time, credentials, reason=reason, location=location)
        out = signer.sign_pdf(writer)
    signed = out.getvalue()
    assert signed.startswith(pdf), "pyHanko appends; the rendering stays a prefix"
    return signed


def _writer_at(pdf: bytes, signing_time: datetime) -> "IncrementalPdfFileWriter":
    """An incremental update of `pdf` dated `signing_time`, its /ID derived from the bytes."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    class FixedTimeWriter(IncrementalPdfFileWriter):
        """pyHanko stamps ModDate with the wall clock; we stamp the injected time."""

        def _update_meta(self) -> None:
            super()._update_meta()
            if self._info is not None:
                self._info.get_object()["/ModDate"] = generic.pdf_date(signing_time)

    writer = FixedTimeWriter(io.BytesIO(pdf))
    # the second /ID half must differ from the unsigned file's; derived, not random
    first_id = writer._document_id[0]
    writer._document_id = generic.ArrayObject(
        [first_id, generic.ByteStringObject(hashlib.sha256(pdf).digest()[:16])]
    )
    return writer


def _signer_at(
    signing_time: datetime,
    credentials: SigningCredentials,
    *,
    reason: str | None,
    location: str | None,
) -> "PdfSigner":
    """pyHanko's PAdES signer (SHA-256, invisible field) that signs at `signing_time`."""
    from pyhanko.sign import fields, signers

    class FixedTimeSigner(signers.PdfSigner):
        """pyHanko's PdfSigner with the signing time given, not read from the clock."""

        def init_signing_session(
            self, pdf_out: "BasePdfFileWriter", existing_fields_only: bool = False
        ) -> "PdfSigningSession":
            """pyHanko's signing session, its time set to `signing_time`."""
            session = super().init_signing_session(pdf_out, existing_fields_only)
            session.system_time = signing_time
            return session

    return FixedTimeSigner(
        signers.PdfSignatureMetadata(
            field_name=SIGNATURE_FIELD,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=reason,
            location=location,
            name=credentials.signer_name,
        ),
        signer=_pyhanko_signer(credentials),
    )


def _pdf_library_quiet() -> AbstractContextManager[None]:
    """Keep pyHanko's log lines and warnings off the terminal: our one line says it."""
    return libraries_quiet("pyhanko", "pyhanko_certvalidator")


@dataclass(frozen=True)
class SignatureCheck:
    """What validating a signed report found: who signed, when, and each problem in one line.

    `trusted` is None when no trust root was given (integrity was still checked)."""

    signer: str
    fingerprint_sha256: str
    signing_time: datetime | None
    trusted: bool | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when the signature holds (and chains to the trust root, when one was given)."""
        return not self.problems


def load_trust_root(pem_or_der: bytes, source: str = "--trust-root") -> x509.Certificate:
    """A trust root certificate from PEM or DER bytes."""
    try:
        if b"-----BEGIN" in pem_or_der:
            return x509.load_pem_x509_certificate(pem_or_der)
        return x509.load_der_x509_certificate(pem_or_der)
    except ValueError:
        raise InvalidInput(f"{source}: {_what_it_holds(pem_or_der)}") from None


def _what_it_holds(pem_or_der: bytes) -> str:
    """Why bytes are no certificate, naming the usual mix-up: a key file given for one."""
    if b"PRIVATE KEY-----" in pem_or_der:
        return (
            "holds a private key, not a certificate; give the lender's root certificate "
            "(never share the private key)"
        )
    if b"PUBLIC KEY-----" in pem_or_der or pem_or_der.startswith(b"ssh-ed25519 "):
        return "holds a public key, not a certificate; give the lender's root certificate"
    return "not a PEM or DER certificate"


def is_signed(data: bytes) -> bool:
    """Whether PDF bytes carry a signature dictionary (cheap test before parsing)."""
    return b"/ByteRange" in data and b"/Contents" in data


def signed_extent(data: bytes) -> int | None:
    """How many leading bytes the file's one signature covers (the end of its ByteRange):
    what the signer signed, whatever was appended since; None when the file carries no single
    readable signature."""
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    if not is_signed(data):
        return None
    with _pdf_library_quiet():
        try:
            embedded = PdfFileReader(io.BytesIO(data)).embedded_signatures
        except (PdfError, *_UNREADABLE):
            return None
    if len(embedded) != 1 or len(embedded[0].byte_range) != 4:
        return None
    _, _, start, length = (int(n) for n in embedded[0].byte_range)
    return start + length if 0 < start + length <= len(data) else None


# What pyHanko raises on a malformed file or signature (a damaged CMS blob can surface as a
# TypeError or KeyError deep inside asn1crypto): each means "this signature cannot be read".
_UNREADABLE = (ValueError, TypeError, KeyError, IndexError, AttributeError)


def check_signature(
    data: bytes, trust_root: x509.Certificate | None, now: datetime
) -> SignatureCheck:
    """Validate a signed report offline: its one signature covers the whole file, right after
    the rendering, is intact, and (with `trust_root`) its certificate chains to that root and is
    valid at `now`. No network: no OCSP/CRL fetching; revocation is soft-fail (a certificate
    without revocation information is accepted, one with it is checked only against what the
    file embeds). Raises SignatureFailure when the file has no readable signature."""
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    with _pdf_library_quiet():
        try:
            reader = PdfFileReader(io.BytesIO(data))
        except (PdfError, *_UNREADABLE):
            raise SignatureFailure(
                "signature: the file is not a readable PDF (it was damaged or altered)"
            ) from None
        try:
            embedded = reader.embedded_signatures
        except (PdfError, *_UNREADABLE):
            raise SignatureFailure(
                "signature: the signature cannot be read (its bytes were altered)"
            ) from None
        if not embedded:
            raise SignatureFailure("signature: the file is not signed")
        if len(embedded) > 1:
            raise SignatureFailure(
                f"signature: the file carries {len(embedded)} signatures; a report carries one"
            )
        try:
            status = _validate(embedded[0], trust_root, now)
        except (PdfError, *_UNREADABLE):
            raise SignatureFailure(
                "signature: the signature cannot be read (its bytes were altered)"
            ) from None
        revisions = reader.xrefs.total_revisions
        signed_revision = embedded[0].signed_revision
    return _findings(status, trust_root, now, revisions, signed_revision)


def _validate(
    embedded: "EmbeddedPdfSignature", trust_root: x509.Certificate | None, now: datetime
) -> "PdfSignatureStatus":
    """pyHanko's validation of one embedded signature, offline, at `now`."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    roots = (
        [asn1_x509.Certificate.load(trust_root.public_bytes(serialization.Encoding.DER))]
        if trust_root is not None
        else []
    )
    context = ValidationContext(
        trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail", moment=now
    )
    return validate_pdf_signature(embedded, context)


def _findings(
    status: "PdfSignatureStatus",
    trust_root: x509.Certificate | None,
    now: datetime,
    revisions: int,
    signed_revision: int,
) -> SignatureCheck:
    """Turn pyHanko's status into one line per problem, most telling first."""
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    cert = x509.load_der_x509_certificate(status.signing_cert.dump())
    signer = subject_name(cert)
    problems: list[str] = []
    if not status.intact:
        problems.append(
            "signature: the signed bytes were changed after signing (the digest no longer matches)"
        )
    elif not status.valid:
        problems.append(f"signature: the signature value is not valid for {signer}'s certificate")
    if revisions > signed_revision + 1:
        problems.append(
            f"signature: {_appended(revisions - signed_revision - 1)} after signing; the "
            "signature no longer covers the whole file"
        )
    elif status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        problems.append(
            "signature: bytes were appended after signing; the signature no longer covers the "
            "whole file"
        )
    if signed_revision != SIGNED_REVISIONS - 1:
        problems.append(
            "signature: the file was updated between its rendering and its signature "
            f"(signed revision {signed_revision + 1} of {revisions})"
        )
    when = status.signer_reported_dt
    if when is not None and when > now:
        problems.append(f"signature: signed at {when:%Y-%m-%d %H:%M} UTC, after now")
    usage = usage_problem(cert)
    if usage is not None:  # with or without a trust root: no reader accepts such a signature
        problems.append(f"certificate: {usage}")
    trusted = None if trust_root is None else bool(status.trusted)
    if trust_root is not None and status.intact and status.valid and not status.trusted:
        problems.append(_trust_problem(cert, signer, trust_root, now) + _expired_hint(cert, now))
    return SignatureCheck(
        signer=signer,
        fingerprint_sha256=hashlib.sha256(status.signing_cert.dump()).hexdigest(),
        signing_time=when,
        trusted=trusted,
        problems=tuple(problems),
    )


def _trust_problem(
    cert: x509.Certificate, signer: str, root: x509.Certificate, now: datetime
) -> str:
    """Why a signer's certificate is not trusted, in words."""
    root_name = subject_name(root)
    for what, which in (("signer's certificate", cert), (f"trust root {root_name!r}", root)):
        if now >= which.not_valid_after_utc:
            return (
                f"certificate: the {what} ({subject_name(which)}) expired on "
                f"{which.not_valid_after_utc:%Y-%m-%d}"
            )
        if now < which.not_valid_before_utc:
            return (
                f"certificate: the {what} ({subject_name(which)}) is valid only from "
                f"{which.not_valid_before_utc:%Y-%m-%d}"
            )
    return (
        f"certificate: the signer {signer!r} does not chain to the trust root {root_name!r}: "
        "signed by someone else, or by an issuer you do not trust"
    )


def _expired_hint(cert: x509.Certificate, now: datetime) -> str:
    """What a reader does about a signer's certificate expired since it signed: the check is
    of a certificate valid now (offline, no timestamp proves when it signed), so only a copy
    signed again with a current certificate passes; '' when it has not expired."""
    if now < cert.not_valid_after_utc:
        return ""
    return (
        ": a signature is accepted while its certificate is valid; ask the lender for a copy "
        "of the report signed with a current certificate ('report … --sign')"
    )


def _appended(updates: int) -> str:
    """'1 update was appended' or '2 updates were appended', counted in agreement."""
    verb = "was" if updates == 1 else "were"
    return f"{counted(updates, 'update')} {verb} appended"
