"""Sweep s42 (two years of one ledger): a signed report checked after its certificate expired.

Found: a report signed in 2025 with a one-year trial certificate, checked with the lender's
root in late 2026, failed with "the signer's certificate (…) expired on 2026-11-01" and no
word of what to do. The check is offline and of a certificate valid now (documented), so the
line now says so and names the step that works: a copy signed with a current certificate
('report … --sign'), which — printed with the same --generated-at — verifies.
"""

from pathlib import Path
from typing import Any

from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_demo

COMPLIANCE = "compliance@naoc.example"
SIGNED_AT = "2026-06-15T09:00:00Z"
GENERATED_AT = "2026-06-15T09:00:00Z"
CHECKED_AT = "2027-12-01T09:00:00Z"  # the one-year certificate ended 2027-06-15


def _keys(folder: Path, now: str, name: str) -> dict[str, str]:
    """A lender root (made once) and a one-year signing certificate issued by it at `now`."""
    env = env_for(folder / "none.db", now=now)
    root = folder / "root"
    if not root.exists():
        made = invoke(env, "keys", "lender-root", "--out", str(root), "--name", "NAOC Root")
        assert made.exit_code == 0, made.output
    out = folder / name
    made = invoke(env, "keys", "signing-cert", "--root", str(root), "--out", str(out),
                  "--valid-for", "1 year")  # fmt: skip
    assert made.exit_code == 0, made.output
    return {"root": str(root / "root-cert.pem"), "key": str(out / "signing-key.pem"),
            "cert": str(out / "signing-cert.pem")}  # fmt: skip


def _signed_report(ledger: Path, keys: dict[str, str], now: str, pdf: Path) -> None:
    """The custody report of L-2025-IPGP, printed at GENERATED_AT and signed at `now`."""
    made = invoke(env_for(ledger, COMPLIANCE, now=now), "report", "custody", "--loan",
                  "L-2025-IPGP", "--out", str(pdf), "--generated-at", GENERATED_AT, "--sign",
                  "--signer-key", keys["key"], "--signer-cert", keys["cert"])  # fmt: skip
    assert made.exit_code == 0, made.output


def _checked(pdf: Path, root: str) -> Any:
    """`verify-document PDF --trust-root ROOT` at CHECKED_AT, with no ledger."""
    env = env_for(pdf.parent / "no-ledger.db", now=CHECKED_AT)
    return invoke(env, "verify-document", str(pdf), "--trust-root", root)


def test_an_expired_signer_names_the_step_and_the_step_works(tmp_path: Path) -> None:
    ledger = copy_ledger(make_demo(tmp_path / "demo"), tmp_path / "ledger.db")
    old = _keys(tmp_path, SIGNED_AT, "signer-2026")
    first = tmp_path / "custody.pdf"
    _signed_report(ledger, old, SIGNED_AT, first)
    refused = _checked(first, old["root"])
    assert refused.exit_code == 1
    fails = [line for line in refused.stdout.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1
    assert "expired on 2027-06-15" in fails[0]
    assert "ask the lender for a copy of the report signed with a current certificate" in fails[0]
    new = _keys(tmp_path, CHECKED_AT, "signer-2027")
    again = tmp_path / "custody-again.pdf"
    _signed_report(ledger, new, CHECKED_AT, again)
    accepted = _checked(again, new["root"])
    assert accepted.exit_code == 0, accepted.output


def test_a_valid_signer_gets_no_such_words(tmp_path: Path) -> None:
    ledger = copy_ledger(make_demo(tmp_path / "demo"), tmp_path / "ledger.db")
    keys = _keys(tmp_path, SIGNED_AT, "signer")
    pdf = tmp_path / "custody.pdf"
    _signed_report(ledger, keys, SIGNED_AT, pdf)
    env = env_for(tmp_path / "no-ledger.db", now="2026-07-01T09:00:00Z")
    checked = invoke(env, "verify-document", str(pdf), "--trust-root", keys["root"])
    assert checked.exit_code == 0, checked.output
    assert "current certificate" not in checked.stdout
