"""Sweep "a newcomer who trusts the documentation": the README's session, typed as written.

The README shows "a real run" from the demo ledger, command by command with what each prints.
Nothing checked it: its clock was given only as a range ("2026-04-28 → 2026-06-15"), so a
reader could not reproduce the days left and days late it shows. The session now sets the clock
with `export SAMPLELOANS_NOW=…` lines, and this test runs every line of it in real processes
and compares every line printed (the head's hash aside: it covers the demo's random ledger id
and the operating-system account, and the README says so).
"""

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
HEAD_HASH = re.compile(r"(head \d+:)[0-9a-f]{64}")
EXIT_LINE = re.compile(r"^\(exit (\d)\)$")


def session_block() -> str:
    """The text block under the README's "A session" heading."""
    found = re.search(r"^## A session\n.*?^```text\n(.*?)^```", README, re.M | re.S)
    assert found is not None, "README: no '## A session' text block"
    return found.group(1)


def session_steps() -> list[tuple[str, list[str]]]:
    """Each `$ ` line of the session with the lines shown under it (blank lines at the end
    dropped)."""
    steps: list[tuple[str, list[str]]] = []
    for line in session_block().splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"README session: output before any command: {line!r}"
            steps[-1][1].append(line)
    for _, shown in steps:
        while shown and not shown[-1].strip():
            shown.pop()
    return steps


def session_env(tmp_path: Path) -> dict[str, str]:
    """A reader's shell: 100 columns, no colour, nobody's settings but the session's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    env.update(COLUMNS="100", NO_COLOR="1", HOME=str(tmp_path), PYTHONIOENCODING="utf-8")
    env.pop("FORCE_COLOR", None)
    return env


def sampleloans(words: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`sampleloans WORDS…` as the installed command would run it."""
    assert words[0] == "sampleloans", words
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", *words[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_session_block_is_found_and_sets_its_clock() -> None:
    """The parse finds every step, and the clock of each is on the page (guards the test
    below)."""
    steps = session_steps()
    commands = [command for command, _ in steps]
    assert len(commands) >= 15
    assert commands[0].startswith("export SAMPLELOANS_NOW=")
    assert commands[-1] == "sampleloans --as compliance@naoc.example verify"
    assert sum(command.startswith("export ") for command in commands) >= 3


def test_the_readme_session_prints_what_the_readme_shows(tmp_path: Path) -> None:
    """From a fresh demo, each command of the session prints exactly the lines the README
    shows under it, with the exit code it shows."""
    env = session_env(tmp_path)
    demo = sampleloans(["sampleloans", "demo", "--dir", str(tmp_path / "d")], env)
    assert demo.returncode == 0, demo.stderr
    env["SAMPLELOANS_DB"] = str(tmp_path / "d" / "ledger.db")

    def run(words: list[str], env: dict[str, str]) -> tuple[int, str]:
        done = sampleloans(words, env)
        return done.returncode, done.stdout + done.stderr

    differences = session_differences(run, env)
    assert differences == [], "\n".join(differences)


def session_differences(
    run: Callable[[list[str], dict[str, str]], tuple[int, str]],
    env: dict[str, str],
    shown_as: Callable[[str], str] = str,
) -> list[str]:
    """Each step of the session whose exit code or printed lines (`run` gives both) differ
    from the README's, its lines read through `shown_as` (the head hash masked in both)."""
    differences = []
    for command, shown in session_steps():
        words = shlex.split(command)
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            env[name] = value
            assert not shown, f"{command}: an export prints nothing"
            continue
        expected_code = 0
        if shown and (code := EXIT_LINE.match(shown[-1])):
            expected_code, shown = int(code.group(1)), shown[:-1]
        returncode, output = run(words, env)
        printed = output.rstrip("\n").splitlines()
        if returncode != expected_code:
            differences.append(f"$ {command}\n  exit {returncode}, README {expected_code}")
        got = [HEAD_HASH.sub(r"\1…", line.rstrip()) for line in printed]
        want = [shown_as(HEAD_HASH.sub(r"\1…", line.rstrip())) for line in shown]
        if got != want:
            differences.append(f"$ {command}\n  printed: {got}\n  README:  {want}")
    return differences


def test_only_the_head_hash_is_left_out_of_the_comparison() -> None:
    """The one masked part of the sample is the head hash `verify` prints in its verdict."""
    lines = [line for _, shown in session_steps() for line in shown]
    masked = [line for line in lines if HEAD_HASH.search(line)]
    assert len(masked) == 1
    # verify's verdict, then (no checkpoint given) the one line saying what it did not prove
    assert masked[0].startswith("verify: OK") and masked[0] == lines[-2]
    assert lines[-1].startswith("not checked: that this is the lender's ledger")
