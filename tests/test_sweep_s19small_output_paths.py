"""Sweep s19 "small classes": every output path in a missing folder is refused the same way.

A file output in a missing folder said "--out: directory D does not exist" (`keys generate`,
`report …`, `export --events`), "D does not exist; create the folder first" (`backup`, no option
named), or "--bag: directory D does not exist"; a folder output "cannot create F: D does not
exist"; a path through a file ("--out notes.txt/k") said "cannot inspect it: Not a directory".
Now one rule and one line for all: a file goes into an existing folder, a folder output is made
(0700) in an existing folder; else `Error: OPTION: PATH: cannot write|create it: folder D does
not exist; create it first` (or `D is not a folder`), exit 3, nothing written anywhere.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_env, fingerprint

CURATOR = "curator@naoc.example"


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """The demo ledger with a kept checkpoint, and a folder holding its key, the checkpoint
    file, a lender root and a plain file."""
    env = demo_env(tmp_path_factory, CURATOR)
    folder = tmp_path_factory.mktemp("kit")
    for args in (
        ["keys", "generate", "--out", str(folder / "cp.key")],
        ["checkpoint", "--key", str(folder / "cp.key"), "--out", str(folder / "cp.txt")],
        ["keys", "lender-root", "--out", str(folder / "root"), "--name", "NAOC root"],
    ):
        made = CliRunner().invoke(app, args, env=env)
        assert made.exit_code == 0, made.stderr
    (folder / "notes.txt").write_text("not a folder\n")
    return env, folder


def _commands(kit: Path, target: Path) -> dict[str, tuple[list[str], str, bool]]:
    """Per command: its arguments writing to `target`, the option naming it, and whether it is
    a folder output."""
    cp = str(kit / "cp.txt")
    return {
        "keys generate": (["keys", "generate", "--out", str(target)], "--out", False),
        "checkpoint": (["checkpoint", "--key", str(kit / "cp.key"), "--out", str(target)],
                       "--out", False),
        "checkpoint show": (["checkpoint", "show", "1", "--out", str(target)], "--out", False),
        "checkpoint prove": (["checkpoint", "prove", cp, cp, "--out", str(target)], "--out",
                             False),
        "report custody": (["report", "custody", "--loan", "L-2025-OU", "--out", str(target)],
                           "--out", False),
        "export --events": (["export", "--events", str(target)], "--events", False),
        "backup": (["backup", str(target)], "FILE", False),
        "export --bag": (["export", "--bag", str(target)], "--bag", True),
        "report statement": (["report", "statement", "--institution", "OU", "--out",
                              str(target)], "--out", True),
        "notify --outbox": (["notify", "--outbox", str(target)], "--outbox", True),
        "keys lender-root": (["keys", "lender-root", "--out", str(target), "--name", "X"],
                             "--out", True),
        "keys signing-cert": (["keys", "signing-cert", "--root", str(kit / "root"), "--out",
                               str(target)], "--out", True),
    }  # fmt: skip


COMMANDS = sorted(_commands(Path("k"), Path("t")))


@pytest.mark.parametrize("command", COMMANDS)
def test_an_output_in_a_missing_folder_is_one_line_exit_3(
    kit: tuple[dict[str, str], Path], command: str
) -> None:
    env, folder = kit
    missing = folder / "missing"
    target = missing / "out"
    args, option, new_folder = _commands(folder, target)[command]
    before = fingerprint(Path(env["SAMPLELOANS_DB"]))
    listed = sorted(folder.rglob("*"))
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 3, result.stderr
    verb = "create" if new_folder else "write"
    assert result.stderr == (
        f"Error: {option}: {target}: cannot {verb} it: folder {missing} does not exist; create "
        "it first\n"
    )
    assert sorted(folder.rglob("*")) == listed and not missing.exists()
    assert fingerprint(Path(env["SAMPLELOANS_DB"])) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_an_output_through_a_file_names_it(kit: tuple[dict[str, str], Path], command: str) -> None:
    env, folder = kit
    target = folder / "notes.txt" / "out"
    args, option, new_folder = _commands(folder, target)[command]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 3, result.stderr
    verb = "create" if new_folder else "write"
    assert result.stderr == (
        f"Error: {option}: {target}: cannot {verb} it: {folder / 'notes.txt'} is not a folder\n"
    )
    assert (folder / "notes.txt").read_text() == "not a folder\n"


@pytest.mark.parametrize("command", ["report statement", "keys lender-root", "export --bag"])
def test_a_missing_output_folder_is_made_private(
    kit: tuple[dict[str, str], Path], command: str
) -> None:
    env, folder = kit
    target = folder / f"new-{command.replace(' ', '-')}"
    args, _, _ = _commands(folder, target)[command]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.stderr
    assert target.is_dir() and target.stat().st_mode & 0o777 == 0o700
