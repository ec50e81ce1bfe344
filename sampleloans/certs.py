"""X.509 certificates for signed reports, made with `cryptography`: a self-signed lender root
and a report-signing certificate it issues, for trying signing out.

An institution that has a real certificate (from its national PKI or a commercial CA) uses that
instead; nothing here is needed then. Keys are returned as PEM bytes and never printed; the
command layer writes them with mode 0600.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from sampleloans.dates import add_period
from sampleloans.errors import InvalidInput
from sampleloans.units import quote_input

# What common PDF readers (Adobe, poppler, pdf.js) validate: RSA 3072 or ECDSA on P-256
KEY_ALGORITHMS = ("rsa", "ecdsa-p256")
RSA_KEY_BITS = 3072
NAME_MAX_CHARS = 64  # the X.520 upper bound of a common name


@dataclass(frozen=True)
class IssuedCertificate:
    """A new certificate and its private key, both PEM; `chain_pem` is the certificate
    followed by its issuers (what a signer embeds)."""

    cert_pem: bytes
    key_pem: bytes
    chain_pem: bytes
    fingerprint_sha256: str


def check_algorithm(algorithm: str, option: str = "--algorithm") -> str:
    """The key algorithm named by a user, or InvalidInput naming the accepted ones."""
    if algorithm not in KEY_ALGORITHMS:
        raise InvalidInput(
            f"{option}: {quote_input(algorithm)} is not one of {', '.join(KEY_ALGORITHMS)}"
        )
    return algorithm


def check_name(name: str, option: str = "--name") -> str:
    """A certificate's common name: 1 to 64 printable characters."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > NAME_MAX_CHARS or not cleaned.isprintable():
        raise InvalidInput(
            f"{option}: {quote_input(name)} must be 1 to {NAME_MAX_CHARS} printable characters"
        )
    return cleaned


def _new_key(algorithm: str) -> CertificateIssuerPrivateKeyTypes:
    """A fresh private key of the given algorithm."""
    if check_algorithm(algorithm) == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    """A private key as unencrypted PKCS#8 PEM (the file holding it is 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def fingerprint(cert: x509.Certificate) -> str:
    """The SHA-256 fingerprint of a certificate, hex, as readers show it."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _name(common_name: str) -> x509.Name:
    """A distinguished name with one common name (and the organisation, the same)."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, common_name),
        ]
    )


def _issued(
    cert: x509.Certificate, key: CertificateIssuerPrivateKeyTypes, chain: bytes
) -> IssuedCertificate:
    """Bundle a certificate, its key and its chain as PEM."""
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    return IssuedCertificate(cert_pem, _key_pem(key), cert_pem + chain, fingerprint(cert))


def lender_root(
    name: str, now: datetime, valid_for: str = "P10Y", algorithm: str = "ecdsa-p256"
) -> IssuedCertificate:
    """A self-signed CA certificate for the lender, valid from `now` for `valid_for` (ISO 8601
    period); it may issue signing certificates but no further CAs."""
    subject = _name(check_name(name))
    key = _new_key(algorithm)
    not_after = add_period(now, valid_for)
    assert isinstance(not_after, datetime)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _issued(cert, key, b"")


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    """Key usage of a CA (certificates and CRLs) or of a document signer (signature and
    non-repudiation, which PDF validators look for)."""
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=not cert_sign,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def load_root(
    cert_pem: bytes, key_pem: bytes
) -> tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes]:
    """A lender root written by `lender_root`: its certificate and key, checked to match."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise InvalidInput("--root: root-cert.pem is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise InvalidInput("--root: root-key.pem is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) or (
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        != cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ):
        raise InvalidInput("--root: root-key.pem is not the key of root-cert.pem")
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise InvalidInput("--root: root-cert.pem is not a CA certificate")
    return cert, key


def signing_certificate(
    root_cert: x509.Certificate,
    root_key: CertificateIssuerPrivateKeyTypes,
    name: str,
    now: datetime,
    valid_for: str = "P2Y",
    algorithm: str = "ecdsa-p256",
) -> IssuedCertificate:
    """A document-signing certificate issued by the lender root, valid from `now` for
    `valid_for` but never beyond the root's own expiry."""
    if not root_cert.not_valid_before_utc <= now < root_cert.not_valid_after_utc:
        raise InvalidInput(
            "--root: the root certificate is valid only from "
            f"{root_cert.not_valid_before_utc:%Y-%m-%d} to {root_cert.not_valid_after_utc:%Y-%m-%d}"
        )
    key = _new_key(algorithm)
    wanted = add_period(now, valid_for)
    assert isinstance(wanted, datetime)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(check_name(name)))
        .issuer_name(root_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(min(wanted, root_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    return _issued(cert, key, root_cert.public_bytes(serialization.Encoding.PEM))


def pkcs12(issued: IssuedCertificate, passphrase: bytes, friendly_name: str) -> bytes:
    """The certificate, its key and chain as one PKCS#12 file encrypted with `passphrase`
    (AES-256, the PKCS#12 profile modern readers and OpenSSL 3 accept)."""
    from cryptography.hazmat.primitives.serialization import pkcs12 as p12

    certs = x509.load_pem_x509_certificates(issued.chain_pem)
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return p12.serialize_key_and_certificates(
        friendly_name.encode(),
        key,
        certs[0],
        certs[1:],
        serialization.BestAvailableEncryption(passphrase),
    )
