"""Sweep of issue 15 as an outsider: `verify-document` for someone who holds no ledger.

Found: with no ledger and neither --trust-root nor --public-key, the refusal was "no acting
person" (exit 4), which sends a borrower looking for an account they will never have; a signed
statement checked with --trust-root and no ledger was refused the same way, although the README
promises the signature alone; with a PostgreSQL --db, --trust-root skipped the ledger checks as
if there were no ledger; and with a ledger, a report whose content matched but whose
certificate had expired ended "does NOT match the ledger".
"""

from pathlib import Path
from typing import Any

import pytest

from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_checkpoint, make_demo

OSAKA_PI = "terada@osaka-u.example"
SIGNED_AT = "2026-06-15T09:00:00Z"


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo ledger with a kept checkpoint; a lender root whose signing certificate is valid
    for 3 months; a signed custody report, a signed and an unsigned statement."""
    folder = tmp_path_factory.mktemp("documents")
    ledger = copy_ledger(make_demo(folder / "d"), folder / "ledger.db")
    made = make_checkpoint(ledger, folder)
    env = env_for(ledger, now=SIGNED_AT)
    root, signer = folder / "root", folder / "signer"
    assert invoke(env, "keys", "lender-root", "--out", str(root), "--name", "CNSA").exit_code == 0
    issued = invoke(env, "keys", "signing-cert", "--root", str(root), "--out", str(signer),
                    "--valid-for", "3 months")  # fmt: skip
    assert issued.exit_code == 0, issued.stderr
    sign = ["--sign", "--signer-key", str(signer / "signing-key.pem"),
            "--signer-cert", str(signer / "signing-cert.pem")]  # fmt: skip
    report = folder / "custody.pdf"
    done = invoke(env, "report", "custody", "--loan", "L-2025-OU", "--out", str(report), *sign)
    assert done.exit_code == 0, done.stderr
    for name, extra in (("signed", sign), ("unsigned", [])):
        (folder / name).mkdir()
        done = invoke(env, "report", "statement", "--pi", OSAKA_PI, "--out", str(folder / name),
                      *extra)  # fmt: skip
        assert done.exit_code == 0, done.stderr
    statement = "statement-terada-at-osaka-u.example.pdf"
    return {
        **made,
        "db": ledger,
        "root": root / "root-cert.pem",
        "report": report,
        "signed_statement": folder / "signed" / statement,
        "unsigned_statement": folder / "unsigned" / statement,
        "nowhere": folder / "no-ledger-here.db",
    }


def outsider(signed: dict[str, Any], *args: Any, now: str = SIGNED_AT) -> Any:
    """verify-document by someone with no ledger and no account."""
    env = {"SAMPLELOANS_NOW": now, "COLUMNS": "200"}
    return invoke(env, "--db", str(signed["nowhere"]), "verify-document", *map(str, args))


@pytest.mark.parametrize("document", ["report", "signed_statement"])
def test_no_ledger_and_nothing_to_check_with_says_what_to_give(
    signed: dict[str, Any], document: str
) -> None:
    done = outsider(signed, signed[document])
    assert done.exit_code == 3, (done.stdout, done.stderr)
    assert done.stderr.startswith("Error: no ledger at ") and done.stderr.count("\n") == 1
    assert "--trust-root" in done.stderr and "--public-key" in done.stderr
    assert "acting person" not in done.stderr


def test_a_signed_statement_checks_with_the_trust_root_alone(signed: dict[str, Any]) -> None:
    done = outsider(signed, signed["signed_statement"], "--trust-root", signed["root"])
    assert done.exit_code == 0, (done.stdout, done.stderr)
    assert f"statement to {OSAKA_PI}" in done.stdout
    assert "the signer's certificate chains to the trust root" in done.stdout
    assert "signature valid; the ledger checks were skipped (no ledger at" in done.stdout
    unsigned = outsider(signed, signed["unsigned_statement"], "--trust-root", signed["root"])
    assert unsigned.exit_code == 1 and "FAIL  signature: the file is not signed" in unsigned.stdout
    data = bytearray(signed["signed_statement"].read_bytes())
    data[len(data) // 3] ^= 0x01
    changed = signed["signed_statement"].with_name("changed.pdf")
    changed.write_bytes(bytes(data))
    done = outsider(signed, changed, "--trust-root", signed["root"])
    assert done.exit_code in (1, 2) and "signature NOT valid" in done.stdout + done.stderr


def test_a_statement_signature_only_with_a_ledger_at_hand(signed: dict[str, Any]) -> None:
    env = env_for(signed["db"], now=SIGNED_AT)
    done = invoke(env, "verify-document", str(signed["signed_statement"]), "--trust-root",
                  str(signed["root"]), "--signature-only")  # fmt: skip
    assert done.exit_code == 0, (done.stdout, done.stderr)
    assert "the ledger checks were skipped (--signature-only)" in done.stdout


def test_a_postgresql_ledger_is_a_ledger_for_verify_document(signed: dict[str, Any]) -> None:
    """--trust-root skips the ledger checks only when there is no ledger: a server URL is one
    (here one that does not answer, so the check fails as an environment problem)."""
    env = {"SAMPLELOANS_NOW": SIGNED_AT, "SAMPLELOANS_USER": "compliance@naoc.example"}
    done = invoke(env, "--db", "postgresql://nobody@127.0.0.1:1/ledger", "verify-document",
                  str(signed["report"]), "--trust-root", str(signed["root"]))  # fmt: skip
    assert done.exit_code == 3, (done.stdout, done.stderr)
    assert "the ledger checks were skipped" not in done.stdout
    assert done.stderr.startswith("Error: cannot connect to the database")


def test_an_expired_certificate_on_a_matching_report_is_named_as_the_signature(
    signed: dict[str, Any],
) -> None:
    later = "2026-12-15T09:00:00Z"  # the signing certificate expired in September
    env = env_for(signed["db"], "compliance@naoc.example", now=later)
    done = invoke(env, "verify-document", str(signed["report"]), "--trust-root",
                  str(signed["root"]))  # fmt: skip
    assert done.exit_code == 1
    assert "FAIL  certificate:" in done.stdout and "expired" in done.stdout
    assert "ok    content digest" in done.stdout
    last = done.stdout.strip().splitlines()[-1]
    assert "matches the ledger, but its signature is NOT valid (1 problem)" in last


def test_the_public_key_check_of_a_statement_says_whose_it_is(signed: dict[str, Any]) -> None:
    done = outsider(signed, signed["unsigned_statement"], "--public-key", signed["pub"])
    assert done.exit_code == 0, (done.stdout, done.stderr)
    first = done.stdout.splitlines()[0]
    assert first == f"{signed['unsigned_statement']}: statement to {OSAKA_PI}"


def damage_embedded_file(source: Path, target: Path) -> None:
    """One changed byte inside the embedded JSON's first key (a signed file: after signing)."""
    data = bytearray(source.read_bytes())
    start = data.index(b"/Type /EmbeddedFile")
    at = data.index(b'"checkpoint"', start) + 3
    data[at] ^= 0x01
    target.write_bytes(bytes(data))


@pytest.mark.parametrize("document", ["report", "signed_statement", "unsigned_statement"])
def test_a_changed_byte_in_the_embedded_proof_is_an_altered_file(
    signed: dict[str, Any], document: str, tmp_path: Path
) -> None:
    """It was "not a report" (exit 2); the file is a report of ours that was altered (exit 1,
    as a changed byte anywhere else is)."""
    changed = tmp_path / "changed.pdf"
    damage_embedded_file(signed[document], changed)
    done = outsider(signed, changed, "--public-key", signed["pub"])
    assert done.exit_code == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith("Error: FILE: its ") and done.stderr.count("\n") == 1
    assert "the file was altered" in done.stderr
