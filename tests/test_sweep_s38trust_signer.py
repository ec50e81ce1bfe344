"""Sweep s38 as the lender's compliance officer signing with the PKCS#12 file that
`keys signing-cert --p12` wrote: with no passphrase given at all, `report … --sign
--signer-p12 FILE` said "not a PKCS#12 file, or the passphrase is wrong", a passphrase nobody
typed; it now says the file is encrypted and none was given (a wrong one still reads "wrong").
"""

from pathlib import Path

from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_demo

NOW = "2026-06-15T09:00:00Z"


def test_a_p12_without_its_passphrase_says_none_was_given(tmp_path: Path) -> None:
    ledger = copy_ledger(make_demo(tmp_path / "d"), tmp_path / "ledger.db")
    env = env_for(ledger, now=NOW)
    pki, signer = tmp_path / "pki", tmp_path / "signer"
    secret = tmp_path / "pass.txt"
    secret.write_text("correct horse\n")
    secret.chmod(0o600)
    assert invoke(env, "keys", "lender-root", "--out", str(pki), "--name", "CNSA").exit_code == 0
    made = invoke(env, "keys", "signing-cert", "--root", str(pki), "--out", str(signer), "--p12",
                  "--passphrase-file", str(secret))  # fmt: skip
    assert made.exit_code == 0, made.stderr
    custody = ["report", "custody", "--loan", "L-2025-OU", "--sign",
               "--signer-p12", str(signer / "signing.p12")]  # fmt: skip
    bare = {k: v for k, v in env.items() if k != "SAMPLELOANS_SIGNER_PASSPHRASE"}
    none = invoke(bare, *custody, "--out", str(tmp_path / "a.pdf"))
    assert none.exit_code == 2, none.stdout
    assert none.stderr == (
        "Error: --signer-p12: not a PKCS#12 file, or it is encrypted and no passphrase was "
        "given (give it in SAMPLELOANS_SIGNER_PASSPHRASE or --signer-passphrase-file)\n"
    )
    assert not (tmp_path / "a.pdf").exists()
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("wrong\n")
    wrong.chmod(0o600)
    typo = invoke(bare, *custody, "--out", str(tmp_path / "b.pdf"),
                  "--signer-passphrase-file", str(wrong))  # fmt: skip
    assert typo.exit_code == 2 and "or the passphrase is wrong (give it in" in typo.stderr
    right = invoke(bare, *custody, "--out", str(tmp_path / "c.pdf"),
                   "--signer-passphrase-file", str(secret))  # fmt: skip
    assert right.exit_code == 0, right.stderr
