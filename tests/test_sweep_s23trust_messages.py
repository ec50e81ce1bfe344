"""Sweep s23 (trust: a compliance officer, an outside auditor, an attacker), through the CLI.

- `verify --since` said "the checkpoint's signed root, head and frontier cover them" and wrote
  ranges as `1..107`; it now says in words what it checked and what it did not (`events 1–107`:
  checked by the full verify before the checkpoint was made, not now), that a signature checked
  with the key kept in the ledger proves little, and SQLite's check only on SQLite. JSON keys
  are unchanged; their texts say the same.
- A checkpoint with its signature line twice was accepted; a blank line at its top read as
  "changed after signing". Both are malformed files now (exit 2), naming the lines, in
  `sampleloans` and in the stand-alone `tools/verify_ledger.py`.
- A Ctrl-C right after `checkpoint` committed got the generic "after it committed" line; it now
  names the checkpoint and `checkpoint show N` (or that the file is in place), as does a full
  standard output.
- A newline or tab in a path inside an `Error:` line showed as a space; it shows as `\\n`.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sampleloans import crashpoints
from sampleloans.interrupts import INTERRUPTED_EXIT
from tests.conftest import COMPLIANCE, CURATOR, fingerprint
from tests.i15_statement_helpers import make_demo

NOW = "2026-05-01T10:00:00Z"
ROOT = Path(__file__).resolve().parent.parent


def cli(
    ledger: Path, *args: str, who: str = CURATOR, crash_at: str | None = None
) -> "subprocess.CompletedProcess[str]":
    """The real console entry point on `ledger`, as `who` (interrupted at `crash_at`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    env.update(SAMPLELOANS_DB=str(ledger), SAMPLELOANS_USER=who, SAMPLELOANS_NOW=NOW)
    env["COLUMNS"] = "400"
    if crash_at is not None:
        env[crashpoints.ENV_VAR] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ledger.parent,
        timeout=300,
    )


@pytest.fixture(scope="module")
def signed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the demo ledger, a key and a kept checkpoint of its 107 events in cp.txt,
    made once per file: two cold processes per test (~3 s of CPU) were most of its cost."""
    ledger = make_demo(tmp_path_factory.mktemp("signed") / "made")
    key, cp = ledger.parent / "cp.key", ledger.parent / "cp.txt"
    assert cli(ledger, "keys", "generate", "--out", str(key)).returncode == 0
    made = cli(ledger, "checkpoint", "--key", str(key), "--out", str(cp))
    assert made.returncode == 0, made.stderr
    return ledger.parent


@pytest.fixture
def signed(signed_folder: Path, tmp_path: Path) -> dict[str, Path]:
    """A copy of `signed_folder` this test may change (the key keeps its file mode)."""
    folder = Path(shutil.copytree(signed_folder, tmp_path / "signed"))
    ledger, key, cp = folder / "ledger.db", folder / "cp.key", folder / "cp.txt"
    return {"db": ledger, "key": key, "pub": Path(f"{key}.pub"), "cp": cp}


MOVE = ["samples", "move", "CE5C0000YJBP005", "--location", "Shelf 9"]


# --- 1. verify --since in words -----------------------------------------------------------------


def test_verify_since_says_what_it_did_not_recheck_in_words(signed: dict[str, Path]) -> None:
    """Before: "the bodies and links of events 1..107 (the checkpoint's signed root, head and
    frontier cover them …)", which an auditor reads as "proved"; an event edited in place since
    is not seen by it."""
    cli(signed["db"], *MOVE)
    cli(signed["db"], *MOVE[:3], "--location", "Shelf 10")
    done = cli(signed["db"], "verify", "--since", str(signed["cp"]), who=COMPLIANCE)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("verify --since checkpoint 1 (107 events signed): OK — 2 new")
    assert (
        "  checked: events 108–109, the new events: their numbers, links, hashes, contents "
        "and recording times"
    ) in lines
    assert (
        "  not re-checked (a full 'verify' does): events 1–107, which checkpoint 1 signed: their "
        "contents, hashes and links were checked by the full verify before it was made, not now; "
        "only event 107's hash was compared with the signed one"
    ) in lines
    assert "frontier" not in done.stdout and ".." not in done.stdout
    assert any("with the public key kept beside it in this ledger" in line for line in lines)
    assert (
        "  not re-checked (a full 'verify' does): SQLite's integrity check of the whole file"
        in (lines)
    )


def test_verify_since_json_keeps_its_keys_and_says_the_same(signed: dict[str, Path]) -> None:
    cli(signed["db"], *MOVE)
    args = ["verify", "--since", str(signed["cp"]), "--public-key", str(signed["pub"]), "--json"]
    document = json.loads(cli(signed["db"], *args, who=COMPLIANCE).stdout)
    assert sorted(document) == [
        *("checked", "checkpoint_event_count", "checkpoint_id", "head", "new_event_count"),
        *("not_checked", "ok", "problems"),
    ]
    assert document["not_checked"][0].startswith("events 1–107, which checkpoint 1 signed")
    assert document["checked"][1].startswith("event 108, the one new event: its number")
    assert document["checked"][-1].endswith(", with the public key you gave")


def test_verify_with_a_checkpoint_names_the_events_it_does_not_cover(
    signed: dict[str, Path],
) -> None:
    """Before: "checkpoint: the ledger extends the checkpoint …" and `not_checked: []`, though
    event 108 came after it and nothing signed vouches for it (`verify_ledger.py` said so)."""
    cli(signed["db"], *MOVE)
    args = ["verify", "--checkpoint", str(signed["cp"]), "--public-key", str(signed["pub"])]
    done = cli(signed["db"], *args, who=COMPLIANCE)
    assert done.returncode == 0, done.stdout
    line = (
        "not checked: that event 108, after the checkpoint's last event 107, is the lender's: "
        "nothing signed or held outside the ledger covers it (whoever can write the ledger can "
        "add events whose hashes hold); a newer checkpoint does"
    )
    assert done.stdout.splitlines()[-1] == line
    document = json.loads(cli(signed["db"], *args, "--json", who=COMPLIANCE).stdout)
    assert document["not_checked"] == [line]


# --- 2. malformed checkpoints --------------------------------------------------------------------


@pytest.mark.parametrize("how", ["verify --checkpoint", "verify --since", "verify_ledger.py"])
def test_a_checkpoint_with_a_signature_line_twice_is_malformed(
    signed: dict[str, Path], how: str
) -> None:
    """Before: `verify --checkpoint` said OK, exit 0. c2sp.org/signed-note: a key's name and ID
    identify it, and a signer writes one line for it; a second was added after signing."""
    lines = signed["cp"].read_text(encoding="utf-8").splitlines(keepends=True)
    doubled = signed["db"].parent / "doubled.txt"
    doubled.write_text("".join([*lines, lines[-1]]), encoding="utf-8")
    done = _check(signed, doubled, how)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"lines {len(lines)} and {len(lines) + 1} are both signatures by key " in done.stderr
    assert "a signed note holds one signature per key" in done.stderr


@pytest.mark.parametrize("how", ["verify --checkpoint", "verify --since", "verify_ledger.py"])
def test_a_checkpoint_with_a_blank_first_line_is_not_a_checkpoint(
    signed: dict[str, Path], how: str
) -> None:
    """Before: "the text was changed after signing" (exit 1) from `verify --checkpoint`."""
    blank = signed["db"].parent / "blank.txt"
    blank.write_text("\n" + signed["cp"].read_text(encoding="utf-8"), encoding="utf-8")
    done = _check(signed, blank, how)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "the file is not a checkpoint: line 1 is empty" in done.stderr
    assert "changed after signing" not in done.stderr


def _check(signed: dict[str, Path], note: Path, how: str) -> "subprocess.CompletedProcess[str]":
    """Check `note` against the ledger one of three ways."""
    if how == "verify_ledger.py":
        tool = str(ROOT / "tools" / "verify_ledger.py")
        args = [str(signed["db"]), "--checkpoint", str(note), "--public-key", str(signed["pub"])]
        return subprocess.run(
            [sys.executable, tool, *args], capture_output=True, text=True, timeout=300
        )
    option = how.split()[1]
    extra = ["--public-key", str(signed["pub"])] if option == "--checkpoint" else []
    return cli(signed["db"], "verify", option, str(note), *extra, who=COMPLIANCE)


# --- 3. a Ctrl-C after `checkpoint` committed ---------------------------------------------------


def test_a_ctrl_c_right_after_the_checkpoint_is_kept_names_checkpoint_show(
    signed: dict[str, Path],
) -> None:
    """Before: the generic "check the ledger ('custody history', 'checkpoint list')" line."""
    out = signed["db"].parent / "cp2.txt"
    done = cli(signed["db"], "checkpoint", "--key", str(signed["key"]), "--out", str(out),
               crash_at="after_commit:INT")  # fmt: skip
    assert done.returncode == INTERRUPTED_EXIT, done.stderr
    assert done.stderr.splitlines() == [
        "Error: interrupted (Ctrl-C) after it committed: checkpoint 2 was kept but not written "
        f"to --out (no partial file left): 'sampleloans checkpoint show 2 --out {out}' writes it"
    ]
    assert not out.exists()
    shown = cli(signed["db"], "checkpoint", "show", "2", "--out", str(out))
    assert shown.returncode == 0, shown.stderr


def test_a_ctrl_c_once_the_checkpoint_file_is_in_place_says_so(signed: dict[str, Path]) -> None:
    """Before: "kept but not written to --out (no partial file left)", with the file there.
    (The first file placed is the key's record, KEY.signed; the second is --out.)"""
    out = signed["db"].parent / "cp2.txt"
    done = cli(signed["db"], "checkpoint", "--key", str(signed["key"]), "--out", str(out),
               crash_at="after_replace@2:INT")  # fmt: skip
    assert done.returncode == INTERRUPTED_EXIT, done.stderr
    assert done.stderr.splitlines() == [
        f"Error: interrupted (Ctrl-C) after it committed: checkpoint 2 was kept and written "
        f"whole to {out}; nothing to run again"
    ]
    assert out.read_text(encoding="utf-8").startswith("sampleloans/ledger/")


def test_a_ctrl_c_after_a_printed_checkpoint_is_kept_says_checkpoint_show(
    signed: dict[str, Path],
) -> None:
    done = cli(signed["db"], "checkpoint", "--key", str(signed["key"]), crash_at="after_commit:INT")
    assert done.returncode == INTERRUPTED_EXIT, done.stderr
    assert done.stderr.splitlines() == [
        "Error: interrupted (Ctrl-C) after it committed: checkpoint 2 was kept, whatever was "
        "printed: 'sampleloans checkpoint show 2' prints it (running 'checkpoint' again signs "
        "another)"
    ]


def test_a_ctrl_c_before_the_checkpoint_commits_still_asks_for_the_rerun(
    signed: dict[str, Path],
) -> None:
    before = fingerprint(signed["db"])
    done = cli(signed["db"], "checkpoint", "--key", str(signed["key"]),
               crash_at="before_commit:INT")  # fmt: skip
    assert done.returncode == INTERRUPTED_EXIT
    assert done.stderr.endswith("run the command again\n")
    assert fingerprint(signed["db"]) == before


def test_a_full_standard_output_after_the_checkpoint_is_kept_names_it(
    signed: dict[str, Path],
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    env.update(SAMPLELOANS_DB=str(signed["db"]), SAMPLELOANS_USER=CURATOR, SAMPLELOANS_NOW=NOW)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "sampleloans", "checkpoint", "--key", str(signed["key"])],
            stdout=full, stderr=subprocess.PIPE, text=True, env=env, timeout=300,
        )  # fmt: skip
    assert done.returncode == 3
    assert done.stderr == (
        "Error: cannot write standard output: No space left on device; it committed: checkpoint "
        "2 was kept, whatever was printed: 'sampleloans checkpoint show 2' prints it (running "
        "'checkpoint' again signs another)\n"
    )


# --- 4. a newline in a path ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["verify", "--since", "a\nb.txt"], "a\\nb.txt"),
        (["report", "custody", "--loan", "L-2025-OU", "--out", "x\ny/r.pdf"], "x\\ny/r.pdf"),
        (["export", "--events", "x\ty/e.jsonl"], "x\\ty/e.jsonl"),
        (["loans", "list", "--limit", "1\n2"], "'1\\n2' is not a whole number"),
    ],
)
def test_a_newline_or_tab_in_an_error_line_is_shown_escaped(
    ledger: Path, args: list[str], shown: str
) -> None:
    """Before: `Error: --out: x y/r.pdf: …`, as if the path held a space."""
    done = cli(ledger, *args)
    assert done.returncode in (2, 3), done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and shown in error[0], done.stderr
    assert not (ledger.parent / "x").exists()


@pytest.mark.parametrize("edit", ["doubled", "blank"])
def test_a_bag_whose_checkpoint_was_edited_so_is_refused(
    signed: dict[str, Path], edit: str
) -> None:
    """Before: a bag whose checkpoint carried its signature line twice (manifests regenerated,
    as anyone editing a bag can) passed `verify-bag`: "bag: a valid bag"."""
    import bagit  # type: ignore[import-untyped]  # bagit ships no type hints

    bag = signed["db"].parent / "bag"
    assert cli(signed["db"], "export", "--bag", str(bag)).returncode == 0
    (note,) = (bag / "data" / "checkpoints").iterdir()
    lines = note.read_text(encoding="utf-8").splitlines(keepends=True)
    edited = [*lines, lines[-1]] if edit == "doubled" else ["\n", *lines]
    note.write_text("".join(edited), encoding="utf-8")
    bagit.Bag(str(bag)).save(manifests=True)
    done = cli(signed["db"], "verify-bag", str(bag), "--public-key", str(signed["pub"]))
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith(f"Error: BAG: checkpoints/{note.name}"), done.stderr
    assert "a valid bag" not in done.stdout


# --- a group's own options (`checkpoint --key`) in its help -------------------------------------


def _groups(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """Every group (a command with subcommands) as ('noun', its Click group), the root too."""
    found = [(" ".join(prefix), group)]
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            found += _groups(command, (*prefix, name))
    return found


def test_a_groups_own_options_name_their_kind_in_its_help() -> None:
    """Before: `checkpoint --help` showed `--key <path>` (the s22 walk visits leaf commands
    only, and `checkpoint` signs with its own options)."""
    import re

    import typer
    from typer.testing import CliRunner

    from sampleloans.cli import app

    groups = _groups(typer.main.get_command(app))
    assert "checkpoint" in dict(groups)
    for path, group in groups:
        words = path.split() if path else []
        text = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "100"}).stdout
        assert re.search(r"<[a-zA-Z\[\]., |]+>", text) is None, (path, text)
        for param in group.params:
            if not getattr(param, "is_flag", False) and param.name != "help":
                assert param.metavar, f"{path} {param.opts[0]}: no placeholder"


def test_a_consistency_proof_counts_its_hashes(signed: dict[str, Path]) -> None:
    """Before: "Wrote the consistency proof from size 107 to 108 (6 hashs)"."""
    cli(signed["db"], *MOVE)
    newer, proof = signed["db"].parent / "cp2.txt", signed["db"].parent / "proof.json"
    assert (
        cli(signed["db"], "checkpoint", "--key", str(signed["key"]), "--out", str(newer)).returncode
        == 0
    )
    done = cli(
        signed["db"], "checkpoint", "prove", str(signed["cp"]), str(newer), "--out", str(proof)
    )
    assert done.returncode == 0, done.stderr
    assert " hashes)" in done.stdout and "hashs" not in done.stdout, done.stdout


@pytest.mark.parametrize("command", ["move", "checkpoint"])
def test_a_ctrl_c_between_the_commit_and_its_note_is_held_until_the_note(
    signed: dict[str, Path], command: str
) -> None:
    """A Ctrl-C that landed once the COMMIT had returned but before the run noted it said
    "nothing … was recorded: run the command again", and the rerun recorded the write twice.
    It is held until the note: the line says it committed (`in_commit` is that moment)."""
    args = MOVE if command == "move" else ["checkpoint", "--key", str(signed["key"])]
    done = cli(signed["db"], *args, crash_at="in_commit:INT")
    assert done.returncode == INTERRUPTED_EXIT, done.stdout + done.stderr
    assert done.stderr.startswith("Error: interrupted (Ctrl-C) after it committed: "), done.stderr
    if command == "checkpoint":
        assert "'sampleloans checkpoint show 2' prints it" in done.stderr
    else:
        assert "before running it again" in done.stderr
    check = cli(signed["db"], "verify")
    assert check.returncode == 0, check.stdout
    events = 108 if command == "move" else 107  # the move was recorded; a checkpoint is no event
    assert f"verify: OK — {events} events" in check.stdout, check.stdout
