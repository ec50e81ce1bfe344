"""`demo` honours SAMPLELOANS_DB as it honours --db: it writes the demo there (a new file only),
names the variable when it refuses, and a typed --dir wins over the environment."""

from pathlib import Path

from typer.testing import CliRunner

from sampleloans.cli import app


def test_demo_writes_to_the_file_sampleloans_db_names(tmp_path: Path) -> None:
    """The variable sends the demo where --db would; the same file again is refused by name."""
    runner = CliRunner()
    target = tmp_path / "env.db"
    made = runner.invoke(app, ["demo"], env={"SAMPLELOANS_DB": str(target)})
    assert made.exit_code == 0, made.stderr
    assert f"Demo ledger: {target}  " in made.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["env.db"]
    before = target.read_bytes()
    again = runner.invoke(app, ["demo"], env={"SAMPLELOANS_DB": str(target)})
    assert again.exit_code == 3
    assert again.stderr == (
        f"Error: SAMPLELOANS_DB: {target} exists; the demo writes only a new ledger: "
        "give a new file name\n"
    )
    assert target.read_bytes() == before


def test_a_typed_dir_wins_over_sampleloans_db(tmp_path: Path) -> None:
    """--dir on the command line is the one used (here refused: not empty), not the variable."""
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine", encoding="utf-8")
    env = {"SAMPLELOANS_DB": str(tmp_path / "env.db")}
    result = CliRunner().invoke(app, ["demo", "--dir", str(folder)], env=env)
    assert result.exit_code == 3
    assert result.stderr == f"Error: --dir: {folder} is not empty; give a new or empty folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_a_missing_folder_in_sampleloans_db_is_named(tmp_path: Path) -> None:
    """A file in a folder that does not exist: one line naming the variable, nothing made."""
    env = {"SAMPLELOANS_DB": str(tmp_path / "none" / "env.db")}
    result = CliRunner().invoke(app, ["demo"], env=env)
    assert result.exit_code == 3
    missing = tmp_path / "none"
    assert result.stderr == f"Error: SAMPLELOANS_DB: {missing} is not an existing folder\n"
    assert list(tmp_path.iterdir()) == []
