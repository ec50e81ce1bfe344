"""Sweep s20-round: `keys lender-root` and `keys signing-cert` on the real clock say the period
was cut short only when it was.

Run without SAMPLELOANS_NOW (as a curator trying signed reports out does), `keys lender-root`
printed "valid until 2036-12-01 (the root's end: --valid-for '10 years' is longer)" — a root has
no root above it — and `keys signing-cert` the same for a 2-year certificate under a 10-year
root: a certificate keeps whole seconds, and the end asked for kept the clock's fraction of a
second, so it always looked longer. Now the line says only "valid until DATE" unless the root's
end really cut it (the signing certificate asked to outlive its root still says so).
"""

from pathlib import Path

from typer.testing import CliRunner

from sampleloans.cli import app

REAL_CLOCK: dict[str, str | None] = {"SAMPLELOANS_NOW": None}


def keys(*args: str) -> str:
    """Run `keys …` on the real clock; its output line."""
    result = CliRunner().invoke(app, ["keys", *args], env=REAL_CLOCK)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_a_root_is_never_cut_short(tmp_path: Path) -> None:
    """A lender root: 'valid until DATE', nothing about a root's end."""
    line = keys("lender-root", "--out", str(tmp_path / "root"), "--name", "Lender")
    assert "valid until " in line
    assert "the root's end" not in line


def test_a_signing_certificate_is_cut_only_by_its_root(tmp_path: Path) -> None:
    """2 years under a 10-year root: not cut; 20 years under it: cut, and said so."""
    root = tmp_path / "root"
    keys("lender-root", "--out", str(root), "--name", "Lender")
    fits = keys("signing-cert", "--root", str(root), "--out", str(tmp_path / "a"))
    assert "the root's end" not in fits
    longer = keys(
        "signing-cert", "--root", str(root), "--out", str(tmp_path / "b"), "--valid-for", "20 years"
    )
    assert "(the root's end: --valid-for '20 years' is longer)" in longer
