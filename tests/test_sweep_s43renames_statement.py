"""Sweep s43 renames: statements and `notify` after a rename.

A statement is built on a signed checkpoint: the names it prints (the PI's, their
institution's, the lender's) are the checkpoint's. Before: after `people rename` or
`institutions rename`, `notify` and `report statement` on the newest checkpoint, made before the
rename, greeted the PI by the mistyped name ("Dear Mahesh Anand,", the PDF too) and their
`Note:` named only later events about the statements' loans: nothing said the statements still
printed the name put right, nor that a new checkpoint would. After: the note names the renames
of the names the statements print as well (not another institution's, nor another person's of
the PI's institution), and a checkpoint made after the rename gives the new name everywhere.
"""

from pathlib import Path
from typing import Any

from tests.i15_statement_helpers import checkpointed_copy, env_for, invoke

PI = "anand@open.example"  # OU, the PI of the open loan L-2025-OU
LATER = "2026-06-16T10:00:00Z"


def ok(env: dict[str, str], *args: str) -> Any:
    """Run one command in-process; it must succeed."""
    done = invoke(env, *args)
    assert done.exit_code == 0, done.output
    return done


def renamed_after_a_checkpoint(demo: Path, folder: Path) -> dict[str, Any]:
    """A demo copy checkpointed at 107, then OU's PI (108) and OU (109) renamed, IPGP (110) too."""
    made = checkpointed_copy(demo, folder)
    env = env_for(made["db"], now=LATER)
    ok(env, "people", "rename", PI, "--name", "Mahesh A. Anand", "--reason", "initial")
    ok(env, "institutions", "rename", "OU", "--name", "The Open University (UK)", "--reason", "x")
    ok(env, "institutions", "rename", "IPGP", "--name", "IPG Paris", "--reason", "short")
    return {**made, "env": env}


def greeting(outbox: Path) -> str:
    """The first line of the PI's statement e-mail."""
    body = (outbox / "statement-anand_open.example.eml").read_text(encoding="utf-8")
    (line,) = [line for line in body.splitlines() if line.startswith("Dear ")]
    return line


def test_notify_on_a_checkpoint_before_a_rename_says_so(demo: Path, tmp_path: Path) -> None:
    made = renamed_after_a_checkpoint(demo, tmp_path)
    env = made["env"]
    before = ok(env, "notify", "--outbox", str(tmp_path / "before"), "--institution", "OU")
    assert greeting(tmp_path / "before") == "Dear Mahesh Anand,"  # the checkpoint's
    assert before.stderr.startswith(
        "Note: 2 events (108–109) about OU, anand@open.example came after the checkpoint of "
        "107 events the statements are built on, so they do not show them (an extension, a "
        "recall or a return changes what is owed, a rename or a change of place what is printed)"
    )
    statement = ok(env, "report", "statement", "--pi", PI, "--out", str(tmp_path / "st"))
    assert "2 events (108–109) about OU, anand@open.example" in statement.stderr
    ok(env, "checkpoint", "--key", str(made["key"]))  # of 110 events, after the renames
    after = ok(env, "notify", "--outbox", str(tmp_path / "after"), "--institution", "OU")
    assert greeting(tmp_path / "after") == "Dear Mahesh A. Anand,"
    assert "Note:" not in after.stderr


def test_another_institution_or_person_renamed_is_not_named(demo: Path, tmp_path: Path) -> None:
    made = checkpointed_copy(demo, tmp_path)
    env = env_for(made["db"], now=LATER)
    ok(env, "institutions", "rename", "IPGP", "--name", "IPG Paris", "--reason", "short")
    ok(env, "people", "rename", "glotch@stonybrook.example", "--name", "T. Glotch", "--reason", "x")
    done = ok(env, "report", "statement", "--institution", "OU", "--out", str(tmp_path / "st"))
    assert "Note:" not in done.stderr
    ok(env, "institutions", "rename", "CNSA", "--name", "CNSA (China)", "--reason", "the lender")
    done = ok(env, "report", "statement", "--institution", "OU", "--out", str(tmp_path / "s2"))
    assert "Note: event 110 about CNSA came after" in done.stderr
