"""The two CLI steps the rule sweeps repeat: a command that must succeed, and one that must be
refused with one `Error:` line, its exit code, and the ledger file unchanged."""

from pathlib import Path

from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, fingerprint


def ok(runner: CliRunner, *args: str, actor: str = CURATOR) -> str:
    """Invoke as `actor` and require exit 0; returns stdout."""
    result = runner.invoke(app, ["--as", actor, *args])
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result.stdout


def refused(runner: CliRunner, db_path: Path, *args: str, code: int = 1) -> str:
    """The command exits `code` with one `Error:` line and writes nothing; returns the message."""
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", CURATOR, *args])
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert fingerprint(db_path) == before
    return result.stderr


def signed_ou_agreement(runner: CliRunner) -> None:
    """Agreement AG-OU with the Open University (1 g, research, loans up to 12 months), signed."""
    ok(
        runner, "agreements", "add", "AG-OU", "--institution", "OU", "--term", "5 years",
        "--max-mass", "1 g", "--purpose", "research", "--max-loan-period", "12 months",
    )  # fmt: skip
    ok(runner, "agreements", "sign", "AG-OU", "--signed-by", "LESEC and OU")


def received_ou_loan(runner: CliRunner, sample: str, mass: str) -> None:
    """Loan L-1 of `sample` (`mass`, all of it) under AG-OU, received by the OU's PI."""
    from tests.conftest import OU_PI

    signed_ou_agreement(runner)
    ok(runner, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", sample)
    ok(runner, "loans", "approve", "L-1")
    ok(runner, "loans", "issue", "L-1")
    ok(runner, "loans", "ship", "L-1", "--container", "box", "--seal", "S-1", "--method", "post")
    ok(runner, "loans", "receive", "L-1", "--seal-intact", "--condition", "pristine",
       "--weighed", f"{sample}={mass}", actor=OU_PI)  # fmt: skip


def checkpoint_signed(env: dict[str, str], folder: Path) -> tuple[Path, Path]:
    """A key made in `folder` and a checkpoint of the head of `env`'s ledger signed with it by
    the curator: the key file (its public half beside it, `.pub`) and the checkpoint file."""
    key, note = folder / "cp.key", folder / "cp.txt"
    made = CliRunner().invoke(app, ["keys", "generate", "--out", str(key)], env=env)
    assert made.exit_code == 0, made.stderr
    args = ["--as", CURATOR, "checkpoint", "--key", str(key), "--out", str(note)]
    signed = CliRunner().invoke(app, args, env=env)
    assert signed.exit_code == 0, signed.stderr
    return key, note
