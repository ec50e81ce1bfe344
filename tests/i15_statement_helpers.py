"""What the statement, notify and bag tests share: a demo ledger, a signed checkpoint of it."""

import json
import sqlite3
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.ledger.checkpoint import Checkpoint, generate_signer, sign_checkpoint
from sampleloans.ledger.merkle import root_of
from tests.conftest import demo_copy

CURATOR = "curator@naoc.example"
NOW = "2026-06-15T09:00:00Z"
ORIGIN = "naoc.example/ledger"


def make_demo(folder: Path) -> Path:
    """The demo ledger in `folder` (a copy of the one this test process built); its path."""
    demo_copy(folder)
    return folder / "ledger.db"


def another_demo(folder: Path) -> Path:
    """A demo ledger of its own in `folder`, built now: another ledger id than `make_demo`'s
    copies, as another lender's would have; its path."""
    result = CliRunner().invoke(app, ["demo", "--dir", str(folder)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    return folder / "ledger.db"


def institution_history(folder: Path, short: str, name: str) -> Path:
    """A history file (`import`) of one line, `institution.added` for SHORT called NAME."""
    line = {
        "kind": "institution.added",
        "occurred_at": "2026-05-01T00:00:00Z",
        "actor": CURATOR,
        "payload": {
            "short_name": short,
            "name": name,
            "country": "France",
            "city": "Paris",
            "institution_kind": "borrower",
        },
        "reason": None,
        "corrects_seq": None,
    }
    history = folder / "h.jsonl"
    history.write_text(json.dumps(line) + "\n", encoding="utf-8")
    return history


def copy_ledger(source: Path, target: Path) -> Path:
    """A consistent copy of a ledger file (SQLite's backup API)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    target.chmod(0o600)
    return target


def env_for(ledger: Path, actor: str = CURATOR, now: str = NOW) -> dict[str, str]:
    """CLI environment for one ledger, actor and clock."""
    return {
        "SAMPLELOANS_DB": str(ledger),
        "SAMPLELOANS_USER": actor,
        "SAMPLELOANS_NOW": now,
        "COLUMNS": "120",
        "NO_COLOR": "1",
    }


def event_hashes(ledger: Path, up_to: int | None = None) -> list[bytes]:
    """The ledger's event hashes in seq order (raw bytes), read with sqlite3."""
    with sqlite3.connect(ledger) as connection:
        rows = connection.execute("SELECT seq, hash FROM ledger_event ORDER BY seq").fetchall()
    return [bytes.fromhex(h) for seq, h in rows if up_to is None or seq <= up_to]


def make_checkpoint(ledger: Path, folder: Path) -> dict[str, Any]:
    """A key pair (`keys generate`) and a checkpoint of the head (`checkpoint --key`), kept in
    the ledger and written to a file, through the CLI."""
    env = env_for(ledger)
    key, cp = folder / "lender.key", folder / "cp.txt"
    if not key.exists():
        made = invoke(env, "keys", "generate", "--out", str(key), "--name", ORIGIN)
        assert made.exit_code == 0, made.stderr
    made = invoke(env, "checkpoint", "--key", str(key), "--out", str(cp), "--force")
    assert made.exit_code == 0, made.stderr
    note = cp.read_text()
    size = int(note.split("\n")[1])
    return {"key": key, "pub": folder / "lender.key.pub", "cp": cp, "size": size, "note": note}


def write_checkpoint(ledger: Path, folder: Path, *, up_to: int | None = None) -> dict[str, Any]:
    """A key pair and a signed checkpoint of the ledger (its first `up_to` events), as files,
    made with the library (for a checkpoint no `checkpoint` command would make)."""
    signer = generate_signer(ORIGIN)
    hashes = event_hashes(ledger, up_to)
    note = sign_checkpoint(Checkpoint(ORIGIN, len(hashes), root_of(hashes)), signer)
    paths = {"key": folder / "lender.key", "pub": folder / "lender.pub", "cp": folder / "cp.txt"}
    paths["key"].write_text(signer.encode() + "\n")
    paths["key"].chmod(0o600)  # `checkpoint --key` refuses a key others may read
    paths["pub"].write_text(signer.verifier().encode() + "\n")
    paths["cp"].write_text(note)
    return {**paths, "size": len(hashes), "note": note}


def invoke(env: dict[str, str], *args: str) -> Any:
    """Run the CLI in-process."""
    return CliRunner().invoke(app, list(args), env=env)


def checkpointed_copy(demo: Path, folder: Path) -> dict[str, Any]:
    """A copy of the demo ledger in `folder` with a checkpoint of its head kept (and written
    to a file with its key pair): `db`, `dir` and what `make_checkpoint` returns."""
    path = copy_ledger(demo, folder / "ledger.db")
    return {"db": path, **make_checkpoint(path, folder), "dir": folder}


def exported_bag(demo: Path, folder: Path) -> dict[str, Any]:
    """`checkpointed_copy` exported as a bag (`export --bag`), whose folder is `dir`."""
    made = checkpointed_copy(demo, folder)
    bag = folder / "bag"
    result = invoke(env_for(made["db"]), "export", "--bag", str(bag))
    assert result.exit_code == 0, result.stderr
    return {**made, "dir": bag}
