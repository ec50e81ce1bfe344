"""A researcher's `restore --bag DIR --public-key bad.pub` was refused for the key file (exit
2) before the role: the command read its --public-key files before the service checked who
acts. Every write that reads a file argument (--key, --public-key, --checkpoint, --since, the
bag, a backup, an import file, --outbox, --out) refuses a person who may not run it (exit 4,
README's exit codes) before it reads a byte of the file, whatever the file: a researcher, a
compliance officer where curators alone may, someone not registered, someone deactivated. These
prove the class through the CLI, and that nothing in the ledger changed."""

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.conftest import COMPLIANCE, CURATOR, DEMO_NOW, OU_PI, demo_copy

DEACTIVATED = "pi@suparco.example"
STRANGER = "nobody@elsewhere.example"


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo ledger with a checkpoint, its bag, a backup, an events export, a researcher
    deactivated, and bad files beside it: a key, a public key, a checkpoint, a catalogue."""
    folder = tmp_path_factory.mktemp("s41odds")
    demo_copy(folder)
    for args in (
        ["keys", "generate", "--out", str(folder / "k.key"), "--name", "naoc.example/ledger"],
        ["checkpoint", "--key", str(folder / "k.key"), "--out", str(folder / "cp.txt")],
        ["export", "--bag", str(folder / "bag"), "--public-key", str(folder / "k.key.pub")],
        ["backup", str(folder / "backup.db")],
        ["export", "--events", str(folder / "events.jsonl")],
        ["people", "deactivate", DEACTIVATED, "--reason", "left the project"],
    ):
        done = _run(folder, CURATOR, *args)
        assert done.exit_code == 0, (args, done.stderr)
    for name in ("bad.pub", "bad.key", "bad.txt", "bad.csv"):
        (folder / name).write_text("not what it should be\n")
    return folder


def _run(folder: Path, who: str, *args: str) -> Result:
    """`sampleloans --as WHO ARGS` on the room's ledger, run in the room's folder."""
    env = {"SAMPLELOANS_DB": str(folder / "ledger.db"), "SAMPLELOANS_NOW": DEMO_NOW}
    return CliRunner().invoke(app, ["--as", who, *args], env={**env, "NO_COLOR": "1"})


def _digest(path: Path) -> str:
    """The ledger file's SHA-256: unchanged by a refusal."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


# every write (or curators'/staff's command) that reads a file argument, given a bad one
CURATORS_ONLY = [
    ("restore", "--bag", "{d}/bag", "--public-key", "{d}/bad.pub", "--force"),
    ("restore", "--bag", "{d}/bag", "--public-key", "{d}/missing.pub", "--force"),
    ("restore", "--bag", "{d}/no-bag", "--public-key", "{d}/k.key.pub", "--force"),
    ("restore", "{d}/bad.txt", "--force"),
    ("restore", "{d}/missing.db", "--force"),
    ("restore", "--events", "{d}/bad.txt", "--force"),
    ("import", "{d}/bad.csv"),
    ("import", "{d}/missing.jsonl"),
    ("checkpoint", "--key", "{d}/bad.key"),
    ("checkpoint", "--key", "{d}/missing.key"),
    ("checkpoint", "--key", "{d}/k.key", "--out", "{d}/no-folder/cp.txt"),
    ("notify", "--outbox", "{d}/no-folder/outbox"),
]
STAFF_ONLY = [
    ("verify", "--checkpoint", "{d}/bad.txt", "--public-key", "{d}/bad.pub"),
    ("verify", "--checkpoint", "{d}/cp.txt", "--public-key", "{d}/missing.pub"),
    ("verify", "--since", "{d}/bad.txt"),
    ("verify", "--since", "{d}/missing.txt"),
    ("export", "--bag", "{d}/new-bag", "--public-key", "{d}/missing.pub"),
    ("export", "--bag", "{d}/new-bag", "--checkpoint", "{d}/bad.txt"),
    ("export", "--events", "{d}/no-folder/events.jsonl"),
    ("backup", "{d}/no-folder/backup.db"),
    ("checkpoint", "prove", "{d}/bad.txt", "{d}/missing.txt", "--out", "{d}/proof.txt"),
]
REFUSED = {
    OU_PI: "is a researcher; only curators",
    COMPLIANCE: "is a compliance officer; only curators may",
    STRANGER: "is not a registered person",
    DEACTIVATED: "is deactivated and may no longer act",
}


def _typed(folder: Path, args: tuple[str, ...]) -> list[str]:
    """The command line with the room's folder put in."""
    return [arg.format(d=folder) for arg in args]


@pytest.mark.parametrize("who", sorted(REFUSED))
@pytest.mark.parametrize("args", CURATORS_ONLY, ids=" ".join)
def test_a_curators_command_refuses_the_person_before_the_file(
    room: Path, who: str, args: tuple[str, ...]
) -> None:
    """Exit 4 naming the person's role (or that they may not act), never the bad file."""
    before = _digest(room / "ledger.db")
    done = _run(room, who, *_typed(room, args))
    assert (done.exit_code, REFUSED[who] in done.stderr) == (4, True), done.stderr
    assert _digest(room / "ledger.db") == before


@pytest.mark.parametrize("who", [OU_PI, STRANGER, DEACTIVATED])
@pytest.mark.parametrize("args", STAFF_ONLY, ids=" ".join)
def test_a_staff_command_refuses_the_person_before_the_file(
    room: Path, who: str, args: tuple[str, ...]
) -> None:
    """The same for what curators and compliance officers may run."""
    staff = "is a researcher; only curators or compliance officers"
    words = staff if who == OU_PI else REFUSED[who]
    done = _run(room, who, *_typed(room, args))
    assert (done.exit_code, words in done.stderr) == (4, True), done.stderr


@pytest.mark.parametrize(
    ("key", "words"),
    [("bad.pub", "--public-key: {d}/bad.pub: public key"), ("missing.pub", "does not exist")],
)
def test_a_curator_still_hears_about_the_bad_key_file(room: Path, key: str, words: str) -> None:
    """The key file is still read and refused (exit 2) for one who may restore, nothing
    restored: the order changed, not the check."""
    before = _digest(room / "ledger.db")
    args = ("restore", "--bag", "{d}/bag", "--public-key", f"{{d}}/{key}", "--force")
    done = _run(room, CURATOR, *_typed(room, args))
    assert (done.exit_code, words.format(d=room) in done.stderr) == (2, True), done.stderr
    assert _digest(room / "ledger.db") == before


def test_a_curator_restores_the_bag_with_the_good_key(room: Path, tmp_path: Path) -> None:
    """The key files, now read by the service, still keep the bag's checkpoint."""
    env = {"SAMPLELOANS_NOW": DEMO_NOW, "NO_COLOR": "1"}
    args = ["--db", str(tmp_path / "rebuilt.db"), "--as", CURATOR, "restore", "--bag"]
    args += [str(room / "bag"), "--public-key", str(room / "k.key.pub")]
    done = CliRunner().invoke(app, args, env=env)
    assert done.exit_code == 0, done.stderr
    assert "Kept 1 checkpoint of the bag:" in done.stdout
