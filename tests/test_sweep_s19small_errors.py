"""Sweep s19 "small classes": a refusal names the option as typed; a file that is not what it
should be is bad input (exit 2).

`samples register --depth 30-28` said "depth: …", `--location` "storage location: …", a code in
lower case "code: …", `samples split --child x-01=1mg` "child code: …", `institutions add` with a
too long `--name` "name: …" and `loans request 'a b'` "loan number: …": the service's field, not
what the user typed. Now every command's bad-input line names its option or argument (one
table, sampleloans/fields.py). `restore` of a text file, an empty file or another program's
SQLite file exited 1 (as a backup that fails verify); `verify --since` of a file that is no
checkpoint at all exited 1 too: bad input exits 2, nothing changed.
"""

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_env, fingerprint

LONG = "a" * 5000
REGISTER = [
    "samples", "register", "CE5C0000YJYX099", "--mission", "CE-5", "--mass", "1 mg",
    "--origin", "drill", "--material", "glass", "--form", "bead", "--purpose", "research",
    "--location", "N2 B",
]  # fmt: skip

INSTITUTION = [
    "institutions", "add", "XX", "--name", "X", "--country", "Y", "--city", "Z",
    "--kind", "recipient",
]  # fmt: skip


def replaced(args: list[str], option: str, value: str) -> list[str]:
    """`args` with `option`'s value replaced by `value` (or appended when absent)."""
    if option not in args:
        return [*args, option, value]
    at = args.index(option) + 1
    return [*args[:at], value, *args[at + 1 :]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger, written to by its curator."""
    return demo_env(tmp_path_factory, "curator@naoc.example")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (replaced(REGISTER, "--depth", "30-28"), "--depth"),
        (replaced(replaced(REGISTER, "--origin", "scoop"), "--depth", "28-30"), "--depth"),
        (replaced(REGISTER, "--material", LONG), "--material"),
        (replaced(REGISTER, "--form", LONG), "--form"),
        (replaced(REGISTER, "--location", LONG), "--location"),
        (replaced(REGISTER, "--condition", LONG), "--condition"),
        (["samples", "register", "ce5c0000yjyx099", *REGISTER[3:]], "CODE"),
        (["samples", "move", "CE5C0000YJYX070", "--location", LONG], "--location"),
        (["samples", "split", "CE5C0000YJYX070", "--child", "x-01=1mg"], "--child"),
        (replaced(INSTITUTION, "--name", LONG), "--name"),
        (["institutions", "add", "X" * 90, *INSTITUTION[3:]], "SHORT"),
        (
            [
                "people",
                "add",
                "nobody",
                "--name",
                "N",
                "--institution",
                "OU",
                "--role",
                "researcher",
            ],
            "EMAIL",
        ),
        (
            [
                "loans",
                "request",
                "L X",
                "--agreement",
                "AG-2025-OU",
                "--pi",
                "anand@open.example",
                "--sample",
                "CE5C0000YJBP005",
                "--purpose",
                "research",
                "--transfer-type",
                "loan",
            ],
            "NUMBER",
        ),
        (
            [
                "incidents",
                "report",
                "--sample",
                "CE5C0000YJBP005",
                "--description",
                LONG,
                "--kind",
                "loss",
            ],
            "--description",
        ),
    ],
)
def test_a_refusal_names_the_option_as_typed(
    demo: dict[str, str], args: list[str], named: str
) -> None:
    before = fingerprint(Path(demo["SAMPLELOANS_DB"]))
    result = CliRunner().invoke(app, args, env=demo)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"Error: {named}: "), result.stderr
    assert result.stderr.count("\n") == 1
    assert fingerprint(Path(demo["SAMPLELOANS_DB"])) == before


def test_import_still_names_its_columns(demo: dict[str, str], tmp_path: Path) -> None:
    header = (
        "code,mission,mass,origin,depth_top_cm,depth_bottom_cm,material_type,physical_form,"
        "purpose_class,storage_location,condition,record"
    )
    catalogue = tmp_path / "samples.csv"
    catalogue.write_text(
        f"{header}\nCE5C0000YJYX098,CE-5,1 mg,scoop,,,{LONG},bead,research,N2 B,,\n"
    )
    result = CliRunner().invoke(app, ["import", str(catalogue)], env=demo)
    assert result.exit_code == 2, result.stderr
    assert "line 2: material_type: 5000 characters" in result.stderr


def _not_ledgers(folder: Path) -> dict[str, Path]:
    """A text file, an empty file and another application's SQLite database."""
    text_file, empty, other = folder / "notes.txt", folder / "empty.db", folder / "other.db"
    text_file.write_text("hello\n")
    empty.write_bytes(b"")
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS t (x)")
    return {"not SQLite": text_file, "empty": empty, "another application's": other}


@pytest.mark.parametrize("kind", ["not SQLite", "empty", "another application's"])
def test_restore_of_a_file_that_is_no_backup_is_bad_input(
    demo: dict[str, str], tmp_path: Path, kind: str
) -> None:
    sources = _not_ledgers(tmp_path)
    source = sources[kind]
    ledger = Path(demo["SAMPLELOANS_DB"])
    before = fingerprint(ledger)
    result = CliRunner().invoke(app, ["restore", str(source), "--force"], env=demo)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"Error: FILE: {source} ")
    assert "not a ledger backup" in result.stderr
    assert result.stderr.endswith("give the file written by 'backup'; nothing was restored\n")
    assert fingerprint(ledger) == before
    assert sorted(tmp_path.iterdir()) == sorted(sources.values())  # nothing left beside


def test_restore_of_a_backup_that_fails_verify_is_still_exit_1(
    demo: dict[str, str], tmp_path: Path
) -> None:
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(Path(demo["SAMPLELOANS_DB"]).read_bytes()[:20000])
    result = CliRunner().invoke(app, ["restore", str(truncated), "--force"], env=demo)
    assert result.exit_code == 1, result.stderr


def test_verify_since_a_file_that_is_no_checkpoint_is_bad_input(
    demo: dict[str, str], tmp_path: Path
) -> None:
    junk = tmp_path / "cp.txt"
    junk.write_text("hello\n")
    result = CliRunner().invoke(app, ["verify", "--since", str(junk)], env=demo)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"Error: --since {junk}: signed note: ")
